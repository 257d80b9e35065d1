"""Map a netlist onto a target: the stages every target kind goes through, over one :class:`Run`.

Split every population into core-sized slices, cut them into finer *atoms* (contiguous neuron
ranges, down to single neurons for small networks), assign atoms to cores (:mod:`.partition`:
``metis`` / ``sequential`` / ``random``), check the exact per-core axon and memory limits and split
cores that break them, lay the cores out (a mesh, tiles in a row, one device) and collect metrics
in a :class:`~.mapping.Mapping`. What differs between target kinds (how to split, which per-core
resources, how to lay cores out) is the kind's partition strategy, found through the target-kind
registry (:class:`neuromap.targets.TargetKind`); nothing here names a kind.

Traffic model: a spike of a neuron is one packet per *destination core* holding at least one of its
targets (multicast), times its firing rate (spikes / neuron / step) from ``activity`` when given,
else :data:`~.split.DEFAULT_RATE`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from neuromap import optional
from neuromap.memory import release_free_pages
from neuromap.netlist import Netlist

from . import partition as _part
from .errors import DoesNotFit
from .mapping import Mapping
from .partition import METHODS
from .place import PLACEMENTS
from .split import DEFAULT_RATE, Atoms, Limits, MemoryModel, group_connectivity

_log = logging.getLogger(__name__)
#: What ``method="metis"`` does when pymetis is not installed.
METIS_FALLBACK = ("pymetis is not installed, so method 'metis' ran as 'sequential' (layer-order fill) with "
                  "'optimised' placement by swap refinement only, no METIS bisection; for METIS: "
                  + optional.install_hint("pymetis"))

MAX_ATOMS = 50_000
MAX_ATOM_EDGES = 3_000_000


def rates_of(activity: Any, pops) -> tuple[dict[str, float], dict[str, str]]:
    """Firing rate per population (spikes / neuron / step) and where it came from (activity or default)."""
    given: dict[str, float] = {}
    if activity is not None:
        if hasattr(activity, "rates") and callable(activity.rates):
            given = dict(activity.rates())
        elif isinstance(activity, dict):
            given = dict(activity)
        else:
            raise TypeError("activity must be a dict {population: rate} or an object with a rates() method")
        names = {p.name for p in pops}
        unknown = sorted(set(given) - names)
        if unknown:
            raise ValueError(f"activity names unknown populations {unknown}; populations: {sorted(names)}")
        for k, v in given.items():
            if not (isinstance(v, int | float | np.floating) and math.isfinite(v) and v >= 0):
                raise ValueError(f"activity rate for {k!r} must be a finite number >= 0, got {v!r}")
    rates = {p.name: float(given.get(p.name, DEFAULT_RATE)) for p in pops}
    source = {p.name: ("activity" if p.name in given else "default") for p in pops}
    return rates, source


def layer_order(net: Netlist) -> list[str]:
    """Populations in topological order (recurrent groups in insertion order)."""
    g = nx.DiGraph()
    g.add_nodes_from(net.graph.nodes)
    g.add_edges_from((u, v) for u, v in net.graph.edges() if u != v)
    try:
        return list(nx.lexicographical_topological_sort(g, key=list(net.graph.nodes).index))
    except nx.NetworkXUnfeasible:
        # recurrent between populations: order by BFS from the sources, then the rest in insertion order
        order: list[str] = []
        for comp in nx.topological_sort(nx.condensation(g)):
            members = nx.condensation(g).nodes[comp]["members"]
            order += [n for n in net.graph.nodes if n in members]
        return order


def partition(netlist: Netlist, target: Any, method: str = "metis", activity: Any = None, seed: int = 0, *,
              placement: str | None = None, weight_bits: int | None = None, atoms_per_core: int | None = None,
              time_budget: float = 10.0, memory: MemoryModel | None = None) -> Mapping:
    """Map ``netlist`` onto ``target`` (a name, a TOML path or a loaded ``Target``).

    Args:
        method: ``metis`` (default), ``sequential`` (PACMAN-like layer-order fill) or ``random``.
            ``metis`` partitions the atom graph with METIS and also places the layer-order slices with
            the same optimised placer, and keeps whichever gives less hop-weighted traffic (then fewer
            cores): METIS's edge cut does not model multicast, so on dense feed-forward layers the
            layer-order slices can be the better grouping. ``Mapping.metrics["metis_choice"]`` says
            which won.
        activity: ``{population: mean spikes per neuron per step}`` or an object with ``rates()``;
            populations it does not name use :data:`DEFAULT_RATE`.
            Without pymetis (the ``metis`` extra) it falls back to :data:`METIS_FALLBACK`, logged as a
            warning and kept in ``Mapping.notes``.
        placement: ``optimised`` / ``sequential`` / ``random``; default: ``optimised`` for metis,
            ``sequential`` for sequential, ``random`` for random.
        weight_bits: override the target's weight width (for "what fits" studies).
        atoms_per_core: partition granularity (atoms per core-sized slice); default: as fine as the
            atom graph allows (single neurons for networks up to ~50k neurons).
        time_budget: seconds allowed for placement refinement.
        memory: how a population uses a core's ``core.memory_bits`` (per neuron and per slice), given
            by a backend that lays out the core memory itself (the SpiNNaker2 program's
            :class:`~neuromap.backends.spinnaker2.memory.PEMemoryModel`); default
            :class:`~neuromap.partition.split.SharedMemory`.
    Raises:
        DoesNotFit: a population or the whole network exceeds a limit (the message says what fits).
    """
    from neuromap import targets

    t0 = time.perf_counter()
    tgt = targets.load(target)
    kw = dict(activity=activity, seed=seed, placement=placement, weight_bits=weight_bits, time_budget=time_budget,
              memory=memory)
    if method == "metis" and not optional.available("pymetis"):
        _log.warning(METIS_FALLBACK)
        m = partition_once(netlist, tgt, "sequential", atoms_per_core=atoms_per_core,
                           **{**kw, "placement": placement or "optimised"})
        m.notes.append(METIS_FALLBACK)
        return m
    if method != "metis":
        return partition_once(netlist, tgt, method, atoms_per_core=atoms_per_core, **kw)
    a = partition_once(netlist, tgt, "metis", atoms_per_core=atoms_per_core, **kw)
    if a.metrics["atoms"] <= a.metrics["cores"] or not targets.kind_of(tgt).fine_atoms:
        a.metrics["metis_choice"] = "slices"
        return a
    b = partition_once(netlist, tgt, "metis", atoms_per_core=1, **kw)

    def key(m: Mapping):
        h = m.metrics["hop_traffic"]
        return (not m.feasible, m.metrics["cut_traffic"] if h is None else h, m.n_cores)

    best = min((a, b), key=key)
    best.metrics["metis_choice"] = "metis-atoms" if best is a else "layer-slices"
    best.metrics["time_s"] = time.perf_counter() - t0
    best.notes.append("metis: best of METIS on fine atoms and layer-order slices, both with optimised placement "
                      f"(hop traffic {a.metrics['hop_traffic']} vs {b.metrics['hop_traffic']})")
    return best


@dataclass
class Run:
    """What one partition run carries from stage to stage (see :func:`partition_once`); a target
    kind's strategy fills the fields it needs."""

    netlist: Netlist
    tgt: Any
    lim: Limits
    method: str
    seed: int
    pops: list
    index: dict[str, int]
    sizes: list[int]
    rate_arr: np.ndarray
    notes: list[str]
    rates: dict[str, float] = field(default_factory=dict)  # per population: spikes / neuron / step
    rate_source: dict[str, str] = field(default_factory=dict)  # "activity" or "default"
    bounds: list = field(default_factory=list)  # per population: slice boundaries (core-sized)
    wide_tiles: np.ndarray | None = None  # tiles a slice of each population spans (1 where a core is one unit)
    pop_rows: list = field(default_factory=list)  # crossbar-like kinds: rows (distinct inputs) per population
    cost: list = field(default_factory=list)  # per-neuron costs per population (kinds with additive limits)
    a_pop: Any = None  # atoms: population index, start, stop
    a_start: Any = None
    a_stop: Any = None
    res: Any = None  # per-atom additive resources, their names and per-core limits
    res_names: list = field(default_factory=list)
    limits: Any = None
    assign: Any = None  # atom -> core
    ax_in: Any = None
    ax_out: Any = None
    traffic: Any = None  # [cores, cores] packets per step
    graded_traffic: Any = None  # the share of ``traffic`` that is graded spikes (a payload each)
    mem: Any = None  # memory bits per core with a memory model's overheads (None: no overheads)

    @property
    def atoms(self) -> Atoms:
        return Atoms(self.a_pop, self.a_start, self.a_stop, self.res, self.res_names, self.limits)


def make_atoms(run: Run, atoms_per_core: int | None, fine: bool) -> None:
    """Cut the core-sized slices into atoms (finer only for METIS on a kind with ``fine`` atoms,
    within the atom-graph budget)."""
    bounds, sizes = run.bounds, run.sizes
    n_syn = max(1, run.netlist.n_synapses)
    fout = 2 * n_syn / max(1, sum(sizes))  # partners per neuron: fan-in + fan-out
    g = atoms_per_core
    if g is None:
        g = 1
        max_len = max(int(np.diff(b).max()) for b in bounds)
        for cand in (max_len, 256, 64, 16, 4, 2, 1):
            n_atoms = sum(int(np.minimum(np.diff(b), cand).sum()) for b in bounds)
            atom_size = sum(sizes) / max(1, n_atoms)
            if n_atoms <= MAX_ATOMS and n_atoms * min(n_atoms, atom_size * fout + 1) <= MAX_ATOM_EDGES:
                g = cand
                break
    if run.method != "metis" or not fine:
        g = 1  # baselines take core-sized slices (PACMAN-like); finer atoms only serve METIS
    a_pop, a_start, a_stop = [], [], []
    for p, b in enumerate(bounds):
        for lo, hi in zip(b[:-1], b[1:]):
            step = max(1, math.ceil((hi - lo) / g))
            s = np.arange(lo, hi, step)
            a_pop.append(np.full(len(s), p))
            a_start.append(s)
            a_stop.append(np.minimum(s + step, hi))
    run.a_pop, run.a_start, run.a_stop = np.concatenate(a_pop), np.concatenate(a_start), np.concatenate(a_stop)


def check_axons(run: Run, kind) -> None:
    """Exact per-core connectivity; cores over an axon or memory limit are split until none is
    (16 rounds). ``kind`` gives the memory with overheads (:meth:`TargetKind.core_memory`) and
    recomputes the atoms' resources after a split."""
    lim, sizes = run.lim, run.sizes
    atom_groups = run.atoms.groups(sizes)
    for _ in range(16):
        n_cores = int(run.assign.max()) + 1
        core_groups = run.atoms.groups(sizes, run.assign)
        conn = group_connectivity(run.netlist, run.index, core_groups, n_cores, src_groups=atom_groups,
                                  n_src=len(run.a_pop))
        onehot = sp.csr_matrix((np.ones(len(run.a_pop)), (run.assign, np.arange(len(run.a_pop)))),
                               shape=(n_cores, len(run.a_pop)))
        run.ax_in = np.asarray(conn.sum(axis=0)).ravel()
        run.ax_out = np.asarray((onehot @ conn).sum(axis=1)).ravel()
        bad = np.zeros(n_cores, dtype=bool)
        if lim.max_axons_in is not None:
            bad |= run.ax_in > lim.max_axons_in
        if lim.max_axons_out is not None:
            bad |= run.ax_out > lim.max_axons_out
        run.mem = kind.core_memory(run, n_cores, conn)
        if run.mem is not None:  # slice overheads and routing entries on top of the neurons' bits
            bad |= run.mem > lim.memory_bits
        if not bad.any():
            break
        # cores with several atoms: move half of them to a new core; a single atom is cut in half
        multi = np.bincount(run.assign, minlength=n_cores) > 1
        run.assign = _part.split_overfull_cores(run.assign, np.flatnonzero(bad & multi))
        single = np.flatnonzero(bad & ~multi)
        if len(single):
            _halve_single_atom_cores(run, single)
            kind.resources(run)
            atom_groups = run.atoms.groups(sizes)
    run.traffic = (onehot @ sp.diags(run.rate_arr[run.a_pop]) @ conn).tocsr()  # cores x cores, packets / step
    graded = np.array([p.model.graded for p in run.pops], dtype=np.float64)  # the registry's flag
    if graded.any():  # a second cores x cores matrix only where some population sends graded spikes
        run.graded_traffic = (onehot @ sp.diags(run.rate_arr[run.a_pop] * graded[run.a_pop]) @ conn).tocsr()
    release_free_pages()


def _halve_single_atom_cores(run: Run, single: np.ndarray) -> None:
    lim = run.lim
    nxt = int(run.assign.max()) + 1
    new_p, new_lo, new_hi, new_c = [], [], [], []
    for c in single:
        i = int(np.flatnonzero(run.assign == c)[0])
        lo, hi = int(run.a_start[i]), int(run.a_stop[i])
        if hi - lo < 2:
            lname = "core.max_axons_out" if run.ax_out[c] > (lim.max_axons_out or np.inf) else "core.max_axons_in"
            need = run.ax_out[c] if lname.endswith("out") else run.ax_in[c]
            if run.mem is not None and run.mem[c] > lim.memory_bits:
                lname, need = "core.memory_bits", run.mem[c]
            raise DoesNotFit(run.pops[run.a_pop[i]].name, lname, float(need), float(lim.value(lname)),
                             ["fewer destination cores per neuron (more neurons per core, smaller fan-out)"],
                             run.tgt.name)
        mid = (lo + hi) // 2
        run.a_stop[i] = mid
        new_p.append(run.a_pop[i])
        new_lo.append(mid)
        new_hi.append(hi)
        new_c.append(nxt)
        nxt += 1
    a_pop = np.r_[run.a_pop, new_p].astype(np.int64)
    a_start = np.r_[run.a_start, new_lo].astype(np.int64)
    a_stop = np.r_[run.a_stop, new_hi].astype(np.int64)
    assign = np.r_[run.assign, new_c].astype(np.int64)
    o = np.lexsort((a_start, a_pop))
    run.a_pop, run.a_start, run.a_stop, run.assign = a_pop[o], a_start[o], a_stop[o], assign[o]


def usage_of(run: Run) -> tuple[dict[str, list], dict[str, float | None]]:
    """Per-core use of every enforced limit (additive resources, memory with overheads, axons) and
    the limit."""
    n_cores = run.traffic.shape[0]
    usage: dict[str, list] = {}
    limits_out: dict[str, float | None] = {}
    for j, name in enumerate(run.res_names):
        usage[name] = np.bincount(run.assign, weights=run.res[:, j], minlength=n_cores).tolist()
        limits_out[name] = float(run.limits[j])
    if run.mem is not None:
        usage["core.memory_bits"] = run.mem.tolist()
    return usage, limits_out


def utilisation(usage: dict[str, list], limits_out: dict[str, float | None], violations: list[str]) -> dict:
    """Max and mean use of each limit (fractions); over-full limits are appended to ``violations``."""
    util = {}
    for name, vals in usage.items():
        limv = limits_out.get(name)
        if limv:
            u = np.asarray(vals, dtype=float) / float(limv)
            util[name] = {"max": float(u.max(initial=0)), "mean": float(u.mean()) if len(u) else 0.0}
            if u.max(initial=0) > 1 + 1e-9:
                violations.append(f"{name}: max {max(vals):,.0f} > {limv:,.0f}")
    return util


def merged_slices(run: Run) -> list[dict]:
    """Runs of consecutive atoms of one population on one core, as ``{pop, start, stop, core}``."""
    slices: list[dict] = []
    for i in range(len(run.a_pop)):
        p, lo, hi, c = int(run.a_pop[i]), int(run.a_start[i]), int(run.a_stop[i]), int(run.assign[i])
        if slices and slices[-1]["pop"] == run.pops[p].name and slices[-1]["stop"] == lo and slices[-1]["core"] == c:
            slices[-1]["stop"] = hi
        else:
            slices.append({"pop": run.pops[p].name, "start": lo, "stop": hi, "core": c})
    return slices


def _new_run(netlist: Netlist, tgt: Any, lim: Limits, method: str, activity: Any, seed: int) -> Run:
    if not isinstance(netlist, Netlist):
        raise TypeError(f"expected a neuromap Netlist, got {type(netlist).__name__}")
    order = layer_order(netlist)
    if not order:
        raise ValueError("empty netlist: it has no populations to partition")
    pops = [netlist.population(n) for n in order]
    rates, source = rates_of(activity, pops)
    notes = [f"firing rate {DEFAULT_RATE} spikes/neuron/step where no activity is given",
             "traffic = rate x distinct destination cores per source neuron (multicast packets per step)"]
    return Run(netlist, tgt, lim, method, seed, pops, {p.name: i for i, p in enumerate(pops)}, [p.size for p in pops],
               np.array([rates[p.name] for p in pops]), notes, rates, source,
               wide_tiles=np.ones(len(pops), dtype=np.int64))


def partition_once(netlist: Netlist, target: Any, method: str = "metis", activity: Any = None, seed: int = 0, *,
                   placement: str | None = None, weight_bits: int | None = None, atoms_per_core: int | None = None,
                   time_budget: float = 10.0, memory: MemoryModel | None = None) -> Mapping:
    """One partition + placement run (see :func:`partition`): the target kind's split, atoms, its
    resources, assign, axons, its layout."""
    from neuromap import targets

    t_start = time.perf_counter()
    tgt = targets.load(target)
    kind = targets.kind_of(tgt)
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {list(METHODS)}")
    placement = placement or {"metis": "optimised", "sequential": "sequential", "random": "random"}[method]
    if placement not in PLACEMENTS:
        raise ValueError(f"placement {placement!r} is not one of {list(PLACEMENTS)}")
    lim = dataclasses.replace(kind.limits(tgt, weight_bits), memory=memory)
    run = _new_run(netlist, tgt, lim, method, activity, seed)
    kind.split(run)
    make_atoms(run, atoms_per_core, kind.fine_atoms)
    kind.resources(run)
    kind.assign(run)
    check_axons(run, kind)
    usage, limits_out = usage_of(run)
    kind.add_usage(run, usage, limits_out)
    n_cores = run.traffic.shape[0]
    total = float(run.traffic.sum())
    graded = 0.0 if run.graded_traffic is None else float(run.graded_traffic.sum())
    metrics: dict[str, Any] = {"cores": n_cores, "atoms": len(run.a_pop), "neurons": int(sum(run.sizes)),
                               "synapses": int(netlist.n_synapses), "traffic_total": total,
                               "cut_traffic": total - float(run.traffic.diagonal().sum()),
                               "graded_traffic_total": graded}
    violations: list[str] = []
    cores, links, mesh_info = kind.place(run, placement, time_budget, metrics, violations)
    metrics["utilisation"] = utilisation(usage, limits_out, violations)
    metrics["violations"] = violations
    metrics["feasible"] = not violations
    metrics["time_s"] = time.perf_counter() - t_start
    return Mapping(tgt.name, tgt.kind, method, placement if mesh_info is not None else "none", DEFAULT_RATE,
                   run.rates, run.rate_source, merged_slices(run), cores, usage, limits_out, metrics, links, mesh_info,
                   run.notes)
