"""Target kinds: one :class:`TargetKind` per kind of hardware, registered by name.

A kind holds everything that differs between kinds of hardware, so that the loader, the
partitioner, the cost models and the report dispatch through this registry and name no kind:

* its TOML schema: :attr:`TargetKind.figures` (every figure a target of the kind may hold, with its
  unit and range, which are required) and :meth:`TargetKind.check` (structural checks across
  figures);
* its partition limits and strategy: :meth:`~TargetKind.limits`, :meth:`~TargetKind.split`,
  :meth:`~TargetKind.resources`, :meth:`~TargetKind.assign`, :meth:`~TargetKind.place` (stages run
  by :func:`neuromap.partition.mapper.partition_once`);
* its cost model: :meth:`~TargetKind.estimate` (every number a count times a cited figure, a
  :class:`neuromap.estimate.Term`);
* its report lines: :meth:`~TargetKind.cores_or_tiles`, :meth:`~TargetKind.report_lines`.

The base class implements the simplest complete strategy (populations split by the additive
per-core limits of :meth:`limits`, cores in a row, no mesh), so a new kind needs a module with a
subclass giving ``name``, ``figures``, ``limits`` and ``estimate``, one ``register_kind`` call, and a
TOML with ``kind = "<name>"`` (``tests/unit/targets/test_target_kinds.py`` adds one).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from neuromap.partition.partition import assign_atoms
from neuromap.partition.place import linear_layout
from neuromap.partition.split import Limits, neuron_costs, split_population

from .schema import FigureSpec, Target, TargetError, fail


class TargetKind:
    """One kind of hardware (see the module docstring). Subclasses override what differs."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: ``"section.figure" -> FigureSpec``: every figure a target of this kind may hold
    figures: ClassVar[Mapping[str, FigureSpec]] = {}
    #: key figures shown by ``neuromap targets``
    summary_keys: ClassVar[tuple[str, ...]] = ()
    #: whether the partitioner cuts slices into finer atoms for METIS (False: one device, or no gain)
    fine_atoms: ClassVar[bool] = True
    #: whether a report maps the netlist onto the target before it prices it (the cost model reads
    #: the mapping: per-core loads, tiles, hops)
    partitions: ClassVar[bool] = True
    #: whether the cost model prices reductions (max pooling); if not, the estimate says so
    prices_reductions: ClassVar[bool] = False

    # --- schema ------------------------------------------------------------------------------
    def spec(self, path: str, key: str) -> FigureSpec:
        """The spec of figure ``key``; an unknown name is refused with the closest known ones."""
        spec = self.figures.get(key)
        if spec is None:  # the same figure in another section first (a misplaced line), then close spellings
            field = key.split(".", 1)[-1]
            close = [k for k in self.figures if k.split(".", 1)[-1] == field]
            close = close or difflib.get_close_matches(key, list(self.figures), n=2, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else \
                f"known sections: {sorted({k.split('.')[0] for k in self.figures})}"
            raise fail(path, key, f"not a figure of a {self.name} target ({hint}; "
                                  f"`neuromap targets --kind {self.name}` lists them)")
        return spec

    def check(self, target: Target) -> None:
        """Structural checks across figures (raise :class:`TargetError` via ``schema.fail``)."""

    def summary(self, target: Target) -> dict[str, Any]:
        """``{figure: Figure}`` of the key figures present in ``target``."""
        return {k: f for k in self.summary_keys if (f := target.figure(k)) is not None}

    # --- partition strategy ------------------------------------------------------------------
    def limits(self, target: Target, weight_bits: int | None = None) -> Limits:
        """The per-core limits the partitioner enforces."""
        raise TargetError(f"target {target.name!r} is of kind {self.name!r}, which has no core model to "
                          "partition for")

    def split(self, run) -> None:
        """Stage 1: ``run.bounds``, core-sized slices of every population (by the additive limits)."""
        run.bounds = [split_population(run.netlist, p, run.lim, run.tgt.name) for p in run.pops]

    def resources(self, run) -> None:
        """Stage 2: per-atom additive resources (``run.res``, ``run.res_names``, ``run.limits``);
        called again after cores were split."""
        if not run.cost:
            run.cost = [neuron_costs(run.netlist, p, run.lim) for p in run.pops]
        run.res_names, run.limits, run.res = additive_resources(run.lim, run.cost, run.a_pop, run.a_start,
                                                                run.a_stop)

    def assign(self, run) -> None:
        """Stage 3: atoms to cores (``run.assign``) by the run's method."""
        assign_atoms(run)

    def core_memory(self, run, n_cores: int, conn) -> np.ndarray | None:
        """Memory bits per core including per-slice / per-source overheads, or None (no overheads)."""
        return None

    def add_usage(self, run, usage: dict[str, list], limits: dict[str, float | None]) -> None:
        """Per-core use of limits that are not additive resources (e.g. axons), added in place."""

    def place(self, run, placement: str, time_budget: float, metrics: dict, violations: list[str]):
        """Stage 5: lay the cores out; returns ``(cores, busiest links, mesh or None)`` and fills
        ``metrics`` (chips, hop traffic, link loads) and ``violations``. Default: cores in a row."""
        metrics.update(chips=1, hop_traffic=None, max_link_load=None, max_offchip_link_load=None)
        run.notes.append(f"{self.name} target: cores in a row, no mesh model")
        return linear_layout(np.ones(run.traffic.shape[0], dtype=np.int64), None), [], None

    # --- cost model and report ---------------------------------------------------------------
    def estimate(self, netlist, activity, target: Target, mapping, counters: dict | None, options):
        """Energy and latency of ``activity`` on ``target`` (:class:`neuromap.estimate.Estimate`)."""
        raise NotImplementedError(f"target kind {self.name!r} has no cost model")

    def cores_or_tiles(self, est) -> Any:
        """What the report's "cores | tiles" column shows for an estimate of this kind."""
        return est.resources.get("cores")

    def report_lines(self, name: str, est) -> list[str]:
        """Extra lines a report prints under its table for an estimate of this kind."""
        return []


def additive_resources(lim: Limits, cost: list[dict[str, np.ndarray]], a_pop, a_start, a_stop):
    """Additive per-atom resources (neurons, synapse bits, memory bits) and their per-core limits."""
    names, cols, lims = [], [], []
    if lim.max_neurons is not None:
        names.append("core.max_neurons")
        cols.append((a_stop - a_start).astype(np.float64))
        lims.append(lim.max_neurons)
    for key, limv, arr in (("core.synapse_mem_bits", lim.synapse_mem_bits, "synapse_bits"),
                           ("core.memory_bits", lim.memory_bits, "memory_bits")):
        if limv is None:
            continue
        col = np.zeros(len(a_pop))
        for p in range(len(cost)):
            sel = np.flatnonzero(a_pop == p)
            cum = np.concatenate([[0], np.cumsum(cost[p][arr], dtype=np.float64)])
            col[sel] = cum[a_stop[sel]] - cum[a_start[sel]]
        names.append(key)
        cols.append(col)
        lims.append(limv)
    return names, np.asarray(lims, dtype=np.float64), np.stack(cols, axis=1)


_KINDS: dict[str, TargetKind] = {}


def register_kind(kind: TargetKind) -> TargetKind:
    """Make ``kind`` available to targets with ``kind = "<kind.name>"`` (a second kind with the
    same name is refused)."""
    if not kind.name:
        raise ValueError(f"{type(kind).__name__}: a target kind needs a name")
    old = _KINDS.get(kind.name)
    if old is not None and type(old) is not type(kind):
        raise ValueError(f"target kind {kind.name!r} is already registered ({type(old).__name__})")
    _KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> TargetKind:
    """The registered kind ``name`` (:class:`TargetError` naming the known kinds otherwise). A kind
    not registered yet is looked for in the installed packages' ``neuromap.extensions`` entry points
    (imported once), so a package that ships a kind works from the command line too."""
    if name not in _KINDS:
        from neuromap.graph.nodes import load_plugins

        load_plugins()
    try:
        return _KINDS[name]
    except KeyError:
        raise TargetError(f"target kind {name!r} is not one of {kinds()}") from None


def kind_of(target: Target) -> TargetKind:
    """The kind of a loaded target."""
    return get_kind(target.kind)


def kinds() -> list[str]:
    """Names of the registered kinds."""
    return sorted(_KINDS)
