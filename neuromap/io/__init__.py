"""File formats other tools write: lava-dl's netx HDF5 networks (:mod:`neuromap.io.netx`)."""
