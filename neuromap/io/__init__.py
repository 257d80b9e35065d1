"""File formats other tools write: NIR (:mod:`neuromap.io.nir`, with every peer's conventions in
:mod:`neuromap.io.nir_import`)."""
