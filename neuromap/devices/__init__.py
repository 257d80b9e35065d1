"""Device models: how one piece of hardware spends time and energy, written once and called by both
the backend that executes on it and the cost model of its target kind (e.g. SpiNNaker2's processing
element, :mod:`.spinnaker2`). A device model reads figures from a target and builds
:class:`neuromap.estimate.Term`\\ s; it imports neither the backends nor the energy reports."""
