"""File formats other tools write: NIR (:mod:`neuromap.io.nir`, with every peer's conventions in
:mod:`neuromap.io.nir_import`) and lava-dl's netx HDF5 networks (:mod:`neuromap.io.netx`)."""
