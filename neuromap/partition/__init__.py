"""Partition and place a :class:`~neuromap.netlist.Netlist` onto a hardware target.

    >>> from neuromap.partition import partition
    >>> m = partition(netlist, "spinnaker2", method="metis")     # doctest: +SKIP
    >>> m.metrics["hop_traffic"], m.n_cores                      # doctest: +SKIP

Pipeline: split every population into core-sized slices (:mod:`.split`), cut them into finer *atoms*
(contiguous neuron ranges, down to single neurons for small networks), assign atoms to cores
(:mod:`.partition`: ``metis`` / ``sequential`` / ``random``), check the exact per-core axon limits
and split cores that break them, place cores on the mesh (:mod:`.place`), route X-then-Y
(:mod:`.route`) and collect metrics in a :class:`Mapping`. :func:`_partition_once` runs these as
stages (split, atoms, resources, assign, axons, place/route) over one :class:`_Run`; what differs
between target kinds (digital cores, crossbar tiles, one conventional device) is one strategy per
kind in :data:`STRATEGIES`.

Traffic model: a spike of a neuron is one packet per *destination core* holding at least one of its
targets (multicast), times its firing rate (spikes / neuron / step) from ``activity`` when given,
else :data:`DEFAULT_RATE`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from neuromap import optional
from neuromap.netlist import Netlist

from . import partition as _part
from .errors import DoesNotFit
from .mapping import Mapping
from .partition import METHODS
from .place import PLACEMENTS, Mesh, hop_cost, place
from .route import link_loads, router_entries
from .split import (
    DEFAULT_RATE,
    Atoms,
    Limits,
    MemoryModel,
    SharedMemory,
    crossbar_rows,
    group_connectivity,
    neuron_costs,
    split_population,
)

__all__ = ["partition", "Mapping", "DoesNotFit", "METHODS", "PLACEMENTS", "DEFAULT_RATE", "Limits", "MemoryModel",
           "SharedMemory", "METIS_FALLBACK"]

_log = logging.getLogger(__name__)
#: What ``method="metis"`` does when pymetis is not installed.
METIS_FALLBACK = ("pymetis is not installed, so method 'metis' ran as 'sequential' (layer-order fill) with "
                  "'optimised' placement by swap refinement only, no METIS bisection; for METIS: "
                  + optional.install_hint("pymetis"))

MAX_ATOMS = 50_000
MAX_ATOM_EDGES = 3_000_000


def _rates(activity: Any, pops) -> tuple[dict[str, float], dict[str, str]]:
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


def _layer_order(net: Netlist) -> list[str]:
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


def _slice_axons(net, pops, index, bounds, lim) -> list[np.ndarray]:
    """Split slices whose distinct input sources exceed ``max_axons_in`` (halving until they fit)."""
    for _ in range(32):
        groups, off = [], 0
        for b in bounds:
            groups.append(np.repeat(np.arange(len(b) - 1) + off, np.diff(b)))
            off += len(b) - 1
        conn = group_connectivity(net, index, groups, off)
        ax_in = np.asarray(conn.sum(axis=0)).ravel()
        bad = ax_in > lim.max_axons_in
        if not bad.any():
            return bounds
        new, off = [], 0
        for p, b in enumerate(bounds):
            nb = [int(b[0])]
            for s in range(len(b) - 1):
                lo, hi = int(b[s]), int(b[s + 1])
                if bad[off + s]:
                    if hi - lo == 1:
                        raise DoesNotFit(pops[p].name, "core.max_axons_in", float(ax_in[off + s]), lim.max_axons_in,
                                         [f"fan-in <= {lim.max_axons_in:,} distinct sources per neuron"])
                    nb.append((lo + hi) // 2)
                nb.append(hi)
            new.append(np.asarray(nb, dtype=np.int64))
            off += len(b) - 1
        bounds = new
    return bounds


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
    t0 = time.perf_counter()
    kw = dict(activity=activity, seed=seed, placement=placement, weight_bits=weight_bits, time_budget=time_budget,
              memory=memory)
    if method == "metis" and not optional.available("pymetis"):
        _log.warning(METIS_FALLBACK)
        m = _partition_once(netlist, target, "sequential", atoms_per_core=atoms_per_core,
                            **{**kw, "placement": placement or "optimised"})
        m.notes.append(METIS_FALLBACK)
        return m
    if method != "metis":
        return _partition_once(netlist, target, method, atoms_per_core=atoms_per_core, **kw)
    a = _partition_once(netlist, target, "metis", atoms_per_core=atoms_per_core, **kw)
    if a.metrics["atoms"] <= a.metrics["cores"] or a.target_kind == "conventional":
        a.metrics["metis_choice"] = "slices"
        return a
    b = _partition_once(netlist, target, "metis", atoms_per_core=1, **kw)

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
class _Run:
    """What one partition run carries from stage to stage (see :func:`_partition_once`)."""

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
    bounds: list = field(default_factory=list)  # per population: slice boundaries (core-sized)
    wide_tiles: np.ndarray | None = None  # crossbar: tiles a slice of each population spans
    pop_rows: list = field(default_factory=list)  # crossbar: rows (distinct inputs) per population
    cost: list = field(default_factory=list)  # digital: per-neuron costs per population
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
    mem: Any = None  # digital with a memory model's overheads: memory bits per core

    @property
    def atoms(self) -> Atoms:
        return Atoms(self.a_pop, self.a_start, self.a_stop, self.res, self.res_names, self.limits)


# ------------------------------------------------------------------------------ stage 1: split (per target kind)
def _split_conventional(run: _Run) -> None:
    run.bounds = [np.array([0, n], dtype=np.int64) for n in run.sizes]


def _split_crossbar(run: _Run) -> None:
    lim = run.lim
    for p in run.pops:
        r = crossbar_rows(run.netlist, p)
        run.pop_rows.append(r)
        run.wide_tiles[run.index[p.name]] = max(1, math.ceil(r / lim.rows))
        run.bounds.append(np.unique(np.r_[np.arange(0, p.size, lim.cols), p.size]).astype(np.int64))
    run.notes.append("crossbar: a core is a tile; a slice uses one column per neuron and one row per distinct input; "
                     "slices with more inputs than rows span ceil(rows/tile rows) tiles (partial sums)")


def _split_digital(run: _Run) -> None:
    run.bounds = [split_population(run.netlist, p, run.lim, run.tgt.name) for p in run.pops]
    if run.lim.max_axons_in is not None:
        run.bounds = _slice_axons(run.netlist, run.pops, run.index, run.bounds, run.lim)


# ------------------------------------------------------------------------------ stage 2: atoms and their resources
def _make_atoms(run: _Run, atoms_per_core: int | None) -> None:
    """Cut the core-sized slices into atoms (finer only for METIS, within the atom-graph budget)."""
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
    if run.method != "metis" or run.lim.kind == "conventional":
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


def _resources_crossbar(run: _Run) -> None:
    lim, a_pop = run.lim, run.a_pop
    rows = np.array([min(run.pop_rows[p], lim.rows) if run.wide_tiles[p] == 1 else lim.rows for p in a_pop])
    # populations without inputs (spike sources) drive rows of other tiles and use no columns
    colsz = np.where(np.asarray(run.pop_rows)[a_pop] > 0, run.a_stop - run.a_start, 0)
    run.res_names = ["tile.rows", "tile.cols"]
    run.res = np.stack([rows, colsz], axis=1).astype(np.float64)
    run.limits = np.array([lim.rows, lim.cols], dtype=np.float64)


def _resources_conventional(run: _Run) -> None:
    run.res_names, run.res, run.limits = [], np.zeros((len(run.a_pop), 0)), np.zeros(0)


def _resources_digital(run: _Run) -> None:
    run.cost = [neuron_costs(run.netlist, p, run.lim) for p in run.pops]
    run.res_names, run.limits, run.res = _digital_res(run.lim, run.cost, run.a_pop, run.a_start, run.a_stop)


# ------------------------------------------------------------------------------ stage 3: assign atoms to cores
def _assign(run: _Run) -> None:
    if run.lim.kind == "conventional":
        run.assign = np.zeros(len(run.a_pop), dtype=np.int64)
        return
    res, limits = run.res, run.limits
    seq = _part.sequential(res, limits)
    if run.method == "sequential":
        run.assign = seq
    elif run.method == "random":
        run.assign = _part.random_fill(res, limits, run.seed)
    elif len(run.a_pop) <= int(seq.max()) + 1:
        # one atom per core: nothing to group (huge nets); the placer does the optimisation
        run.assign = seq
        run.notes.append("metis: atoms are core-sized slices (atom-graph budget), partition = sequential slices")
    else:
        atom_groups = run.atoms.groups(run.sizes)
        t_atoms = group_connectivity(run.netlist, run.index, atom_groups, len(run.a_pop), weights=run.rate_arr)
        run.assign = _part.metis(_part.symmetric_graph(t_atoms), res, limits, int(seq.max()) + 1, run.seed)
        if run.assign.max() > seq.max():
            run.notes.append(f"metis repair needed {run.assign.max() + 1} cores vs {seq.max() + 1} sequential")


# ------------------------------------------------------------------------------ stage 4: axons (exact connectivity)
def _axons(run: _Run) -> None:
    """Exact per-core connectivity; cores over an axon limit are split until none is (16 rounds)."""
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
        if lim.kind == "digital" and lim.max_axons_in is not None:
            bad |= run.ax_in > lim.max_axons_in
        if lim.kind == "digital" and lim.max_axons_out is not None:
            bad |= run.ax_out > lim.max_axons_out
        run.mem = core_memory_bits(run, n_cores, conn)
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
            atom_groups = run.atoms.groups(sizes)
    run.traffic = (onehot @ sp.diags(run.rate_arr[run.a_pop]) @ conn).tocsr()  # cores x cores, packets / step


def core_memory_bits(run: _Run, n_cores: int, conn: sp.csr_matrix) -> np.ndarray | None:
    """Memory bits per core: its atoms' neuron bits, one slice overhead per population it holds and
    one routing entry per (source population, source core) sending to it (``conn``: source atoms x
    cores); None when the memory model has neither overhead or the target no memory limit."""
    if run.lim.kind != "digital" or "core.memory_bits" not in run.res_names:
        return None
    model = run.lim.memory or SharedMemory()
    slice_bits = np.array([int(c["slice_bits"]) for c in run.cost], dtype=np.float64)
    per_source = float(model.source_bits(run.lim))
    if not slice_bits.any() and not per_source:
        return None
    mem = np.bincount(run.assign, weights=run.res[:, run.res_names.index("core.memory_bits")], minlength=n_cores)
    pairs, pair_of_atom = np.unique(run.assign * len(run.pops) + run.a_pop, return_inverse=True)
    mem += np.bincount(pairs // len(run.pops), weights=slice_bits[pairs % len(run.pops)], minlength=n_cores)
    if per_source:
        hot = sp.csr_matrix((np.ones(len(run.a_pop)), (pair_of_atom, np.arange(len(run.a_pop)))),
                            shape=(len(pairs), len(run.a_pop)))
        sends = ((hot @ (conn > 0).astype(np.float64)) > 0).astype(np.float64)  # (pop, core) pair -> cores
        mem += per_source * np.asarray(sends.sum(axis=0)).ravel()
    return mem


def _halve_single_atom_cores(run: _Run, single: np.ndarray) -> None:
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
    run.res_names, run.limits, run.res = _digital_res(lim, run.cost, run.a_pop, run.a_start, run.a_stop)


# ------------------------------------------------------------------------------ stage 5: place and route (per kind)
def _place_digital(run: _Run, placement: str, time_budget: float, tiles: np.ndarray, metrics: dict,
                   violations: list[str]):
    tgt, traffic = run.tgt, run.traffic
    mesh = Mesh.for_target(tgt, traffic.shape[0])
    slot_of = place(traffic, mesh, placement, run.seed, time_budget)
    s = mesh.slots()
    X, Y = s["X"].astype(np.int64), s["Y"].astype(np.int64)
    cores = {k: s[k][slot_of].tolist() for k in ("chip", "x", "y", "sub", "X", "Y")}
    cores["tiles"] = tiles.tolist()
    all_links = link_loads(traffic, X, Y, slot_of, mesh.global_shape, mesh.grid[0], mesh.grid[1]).links()
    links = sorted(all_links, key=lambda lk: -lk[2])[:64]
    metrics.update(chips=len(set(cores["chip"])), hop_traffic=hop_cost(traffic, X, Y, slot_of),
                   max_link_load=max((lk[2] for lk in all_links), default=0.0),
                   max_offchip_link_load=max((lk[2] for lk in all_links if lk[3]), default=0.0),
                   offchip_traffic=float(_offchip(traffic, np.asarray(cores["chip"]))))
    if tgt.get("chip.router_entries") is not None:
        ent = router_entries(traffic, np.asarray(cores["chip"]), mesh.chip_grid, mesh.n_chips)
        metrics["router_entries_max"] = int(ent.max(initial=0))
        metrics["router_entries_limit"] = int(tgt.get("chip.router_entries"))
        if ent.max(initial=0) > tgt.get("chip.router_entries"):
            violations.append(f"chip.router_entries: {int(ent.max())} > {tgt.get('chip.router_entries')}")
    mesh_info = {"grid": list(mesh.grid), "chip_grid": list(mesh.chip_grid), "n_chips": mesh.n_chips,
                 "cores_per_router": mesh.cores_per_router, "router_positions": mesh.router_positions.tolist()}
    run.notes.append("mesh: chips in a near-square grid joined into one 2-D mesh; X-then-Y routes; link loads are "
                     "unicast-equivalent (multicast trees share links, so real loads are at most these)")
    return cores, links, mesh_info


def _place_linear(run: _Run, placement: str, time_budget: float, tiles: np.ndarray, metrics: dict,
                  violations: list[str]):
    """Crossbar tiles and conventional devices: tiles in order, no mesh model."""
    lim, n_cores = run.lim, run.traffic.shape[0]
    n_tiles = int(tiles.sum())
    tpc = run.tgt.get("tile.tiles_per_chip")
    chips = 1 if lim.kind == "conventional" else (math.ceil(n_tiles / tpc) if tpc else None)
    idx = np.cumsum(np.r_[0, tiles[:-1]])
    chip_of = (idx // tpc).tolist() if tpc else [0] * n_cores
    cores = {"chip": chip_of, "x": (idx % tpc if tpc else idx).tolist(), "y": [0] * n_cores, "sub": [0] * n_cores,
             "X": idx.tolist(), "Y": [0] * n_cores, "tiles": tiles.tolist()}
    metrics.update(chips=chips, hop_traffic=None, max_link_load=None, max_offchip_link_load=None)
    if lim.kind == "crossbar":
        cells = float((np.asarray(run.pop_rows)[run.a_pop] * (run.a_stop - run.a_start)).sum())
        metrics.update(tiles=n_tiles, array_utilisation=cells / (n_tiles * lim.rows * lim.cols))
        if not tpc:
            run.notes.append("crossbar: tiles per chip not in the sources; chips not counted, no mesh model")
    else:
        run.notes.append("conventional target: the whole network runs on one device")
    return cores, [], None


# One strategy per target kind: how to split, which per-core resources, how to lay cores out.
STRATEGIES: dict[str, tuple[Callable, Callable, Callable]] = {
    "digital": (_split_digital, _resources_digital, _place_digital),
    "crossbar": (_split_crossbar, _resources_crossbar, _place_linear),
    "conventional": (_split_conventional, _resources_conventional, _place_linear),
}


# ------------------------------------------------------------------------------ stage 6: usage, feasibility, slices
def _usage(run: _Run) -> tuple[dict[str, list], dict[str, float | None], np.ndarray]:
    n_cores = run.traffic.shape[0]
    usage: dict[str, list] = {}
    limits_out: dict[str, float | None] = {}
    for j, name in enumerate(run.res_names):
        usage[name] = np.bincount(run.assign, weights=run.res[:, j], minlength=n_cores).tolist()
        limits_out[name] = float(run.limits[j])
    if run.mem is not None:
        usage["core.memory_bits"] = run.mem.tolist()
    if run.lim.kind == "digital":
        usage["core.max_axons_in"] = run.ax_in.tolist()
        limits_out["core.max_axons_in"] = run.lim.max_axons_in
        usage["core.max_axons_out"] = run.ax_out.tolist()
        limits_out["core.max_axons_out"] = run.lim.max_axons_out
    tiles = np.ones(n_cores, dtype=np.int64)
    if run.lim.kind == "crossbar":
        np.maximum.at(tiles, run.assign, run.wide_tiles[run.a_pop])
    return usage, limits_out, tiles


def _utilisation(usage: dict[str, list], limits_out: dict[str, float | None], violations: list[str]) -> dict:
    util = {}
    for name, vals in usage.items():
        limv = limits_out.get(name)
        if limv:
            u = np.asarray(vals, dtype=float) / float(limv)
            util[name] = {"max": float(u.max(initial=0)), "mean": float(u.mean()) if len(u) else 0.0}
            if u.max(initial=0) > 1 + 1e-9:
                violations.append(f"{name}: max {max(vals):,.0f} > {limv:,.0f}")
    return util


def _merged_slices(run: _Run) -> list[dict]:
    """Runs of consecutive atoms of one population on one core, as ``{pop, start, stop, core}``."""
    slices: list[dict] = []
    for i in range(len(run.a_pop)):
        p, lo, hi, c = int(run.a_pop[i]), int(run.a_start[i]), int(run.a_stop[i]), int(run.assign[i])
        if slices and slices[-1]["pop"] == run.pops[p].name and slices[-1]["stop"] == lo and slices[-1]["core"] == c:
            slices[-1]["stop"] = hi
        else:
            slices.append({"pop": run.pops[p].name, "start": lo, "stop": hi, "core": c})
    return slices


def _partition_once(netlist: Netlist, target: Any, method: str = "metis", activity: Any = None, seed: int = 0, *,
                    placement: str | None = None, weight_bits: int | None = None, atoms_per_core: int | None = None,
                    time_budget: float = 10.0, memory: MemoryModel | None = None) -> Mapping:
    """One partition + placement run (see :func:`partition`): split, atoms, assign, axons, place/route."""
    from neuromap import hardware

    t_start = time.perf_counter()
    tgt = hardware.load(target)
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {list(METHODS)}")
    placement = placement or {"metis": "optimised", "sequential": "sequential", "random": "random"}[method]
    if placement not in PLACEMENTS:
        raise ValueError(f"placement {placement!r} is not one of {list(PLACEMENTS)}")
    if not isinstance(netlist, Netlist):
        raise TypeError(f"expected a neuromap Netlist, got {type(netlist).__name__}")
    order = _layer_order(netlist)
    if not order:
        raise ValueError("empty netlist: it has no populations to partition")
    pops = [netlist.population(n) for n in order]
    rates, rate_source = _rates(activity, pops)
    lim = dataclasses.replace(Limits.from_target(tgt, weight_bits), memory=memory)
    notes = [f"firing rate {DEFAULT_RATE} spikes/neuron/step where no activity is given",
             "traffic = rate x distinct destination cores per source neuron (multicast packets per step)"]
    run = _Run(netlist, tgt, lim, method, seed, pops, {p.name: i for i, p in enumerate(pops)}, [p.size for p in pops],
               np.array([rates[p.name] for p in pops]), notes, wide_tiles=np.ones(len(pops), dtype=np.int64))
    split, resources, layout = STRATEGIES[lim.kind]
    split(run)
    _make_atoms(run, atoms_per_core)
    resources(run)
    _assign(run)
    _axons(run)
    usage, limits_out, tiles = _usage(run)
    n_cores = run.traffic.shape[0]
    total = float(run.traffic.sum())
    metrics: dict[str, Any] = {"cores": n_cores, "atoms": len(run.a_pop), "neurons": int(sum(run.sizes)),
                               "synapses": int(netlist.n_synapses), "traffic_total": total,
                               "cut_traffic": total - float(run.traffic.diagonal().sum())}
    violations: list[str] = []
    cores, links, mesh_info = layout(run, placement, time_budget, tiles, metrics, violations)
    metrics["utilisation"] = _utilisation(usage, limits_out, violations)
    metrics["violations"] = violations
    metrics["feasible"] = not violations
    metrics["time_s"] = time.perf_counter() - t_start
    return Mapping(tgt.name, tgt.kind, method, placement if lim.kind == "digital" else "none", DEFAULT_RATE, rates,
                   rate_source, _merged_slices(run), cores, usage, limits_out, metrics, links, mesh_info, notes)


def _offchip(traffic: sp.csr_matrix, chip_of_core: np.ndarray) -> float:
    t = traffic.tocoo()
    return float(t.data[chip_of_core[t.row] != chip_of_core[t.col]].sum())


def _digital_res(lim: Limits, cost: list[dict[str, np.ndarray]], a_pop, a_start, a_stop):
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
