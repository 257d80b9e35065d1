"""Partition and place a :class:`~neuromap.netlist.Netlist` onto a hardware target.

    >>> from neuromap.partition import partition
    >>> m = partition(netlist, "spinnaker2", method="metis")     # doctest: +SKIP
    >>> m.metrics["hop_traffic"], m.n_cores                      # doctest: +SKIP

The stages (split, atoms, resources, assign, axons, layout) run in :mod:`.mapper`; what differs
between kinds of hardware is the target kind's strategy (:class:`neuromap.targets.TargetKind`).
Building blocks: :mod:`.split` (slices, per-core limits, connectivity), :mod:`.partition` (METIS,
sequential, random), :mod:`.place` (mesh placement), :mod:`.route` (X-then-Y link loads),
:mod:`.mapping` (the result), :mod:`.errors` (:class:`DoesNotFit`).
"""

from .errors import DoesNotFit
from .mapper import METIS_FALLBACK, partition
from .mapping import Mapping
from .partition import METHODS
from .place import PLACEMENTS
from .split import DEFAULT_RATE, Limits, MemoryModel, SharedMemory

__all__ = ["partition", "Mapping", "DoesNotFit", "METHODS", "PLACEMENTS", "DEFAULT_RATE", "Limits", "MemoryModel",
           "SharedMemory", "METIS_FALLBACK"]
