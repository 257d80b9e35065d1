"""Compile a :class:`~neuromap.netlist.Netlist` + :class:`~neuromap.partition.Mapping` into per-PE programs.

A PE program is the slice(s) of neurons a PE holds, the synapse rows of their incoming projections
(dense, CSR or a MAC-array block), its routing keys and its SRAM budget (:mod:`.memory`). For the
simulation the PEs holding one population form a *PE group*: their rows are evaluated together
(one batched matmul per projection), and per-PE counters come from the neuron -> PE assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from neuromap.graph.matrices import conv_matrix
from neuromap.netlist import Netlist, Projection

from ..base import BackendError
from . import memory as mem_mod
from . import numerics as numerics_mod
from .memory import PEMemory
from .neurons import IMPLEMENTATIONS


@dataclass
class ProjPlan:
    """One projection as the PEs run it."""

    name: str
    src: str
    dst: str
    kind: str  # dense | sparse | identity (conv is converted to sparse rows)
    weight: Any  # np.ndarray [dst, src] (dense), sp.csr_matrix (sparse), None (identity)
    bias: np.ndarray | None
    delay: int
    prev: bool  # reads the source's previous-step output (closes a cycle)
    engine: str  # "event" (synaptic rows, event-driven) or "mla" (MAC array, dense block per step)
    synapses_to_core: sp.csr_matrix  # [n_src, n_cores] synapse counts
    meta: dict = field(default_factory=dict)


@dataclass
class PEProgram:
    """What one PE holds."""

    core: int
    chip: int
    X: int
    Y: int
    slices: list[tuple[str, int, int]]
    memory: PEMemory
    routing_keys: int
    sources: int  # source slices sending to this PE (master population table entries)

    @property
    def n_neurons(self) -> int:
        return sum(b - a for _, a, b in self.slices)


@dataclass
class Program:
    netlist: Netlist
    mapping: Any
    target: Any
    numerics: str
    order: list[str]
    projections: list[ProjPlan]
    core_of: dict[str, np.ndarray]
    pes: list[PEProgram]
    dest_cores: dict[str, sp.csr_matrix]  # per source population: [n_src, n_cores] 0/1 (multicast destinations)
    spilled_row_bytes: dict[str, sp.csr_matrix]  # per projection: [n_src, n_cores] bytes fetched from DRAM per event
    schedule: str = "scc"
    notes: list[str] = field(default_factory=list)

    @property
    def n_cores(self) -> int:
        return len(self.pes)


def netlist_problems(net: Netlist, numerics: str = "fp32") -> list[str]:
    """Why the SpiNNaker2 model cannot run ``net`` in ``numerics``: neuron kinds it does not
    implement (:data:`.neurons.IMPLEMENTATIONS`), invalid projections."""
    out = IMPLEMENTATIONS.problems(net, numerics)
    for pr in net.projections:
        if pr.kind == "conv" and pr.conv.groups < 1:
            out.append(f"projection {pr.name!r}: invalid conv groups")
    return out


def _core_of(mapping, net: Netlist) -> dict[str, np.ndarray]:
    out = {}
    for p in net.populations:
        try:
            c = mapping.core_of(p.name)
        except KeyError:
            raise BackendError(f"mapping has no slices for population {p.name!r}: it was made for another netlist") from None
        if len(c) != p.size or (c < 0).any():
            raise BackendError(f"mapping covers {int((c >= 0).sum())} of the {p.size} neurons of {p.name!r}: "
                               "it was made for another netlist")
        out[p.name] = c
    return out


def _onehot(core: np.ndarray, n_cores: int) -> sp.csr_matrix:
    n = len(core)
    return sp.csr_matrix((np.ones(n), (np.arange(n), core)), shape=(n, n_cores))


def _matrix(proj: Projection, n_src: int, n_dst: int) -> sp.csr_matrix:
    if proj.kind == "identity":
        k = min(n_src, n_dst)
        return sp.csr_matrix((np.ones(k), (np.arange(k), np.arange(k))), shape=(n_dst, n_src))
    if proj.kind == "conv":
        return conv_matrix(np.asarray(proj.weight, dtype=np.float64), proj.conv)
    if sp.issparse(proj.weight):
        return proj.weight.tocsr()
    return sp.csr_matrix(np.asarray(proj.weight))


def order_and_prev(net: Netlist, delayed_paths: set[str] | None) -> tuple[list[str], set[str]]:
    """Population order and the projections that read the previous step (self-loops, cycle-closing)."""
    prev = {p.name for p in net.projections if p.src == p.dst}
    if delayed_paths is not None:
        prev |= delayed_paths
    g = nx.DiGraph()
    g.add_nodes_from(net.graph.nodes)
    g.add_edges_from((p.src, p.dst) for p in net.projections if p.name not in prev)
    names = list(net.graph.nodes)
    while not nx.is_directed_acyclic_graph(g):  # netlists built by hand: break cycles at back edges
        cyc = nx.find_cycle(g)
        u, v = max(cyc, key=lambda e: names.index(e[0]) - names.index(e[1]))
        for p in net.projections:
            if p.src == u and p.dst == v:
                prev.add(p.name)
        g.remove_edge(u, v)
    return list(nx.lexicographical_topological_sort(g, key=names.index)), prev


def build(net: Netlist, mapping, target, numerics: str, *, delayed_paths: set[str] | None = None,
          allow_dram: bool = False, code_bytes: int = 0, spike_queue: int = mem_mod.SPIKE_QUEUE,
          schedule: str = "scc") -> Program:
    """Per-PE programs for ``net`` on ``mapping`` (raises ``DoesNotFit`` when a PE's SRAM overflows)."""
    n_cores = int(mapping.n_cores)
    core_of = _core_of(mapping, net)
    order, prev = order_and_prev(net, delayed_paths)
    wbytes = numerics_mod.weight_bytes(numerics)
    sram = int(target.get("core.sram_bytes") or (target.get("core.memory_bits") // 8))
    parts = [dict(code=int(code_bytes), neuron_state=0, synapse_rows=0, bias=0, routing=0, buffers=0)
             for _ in range(n_cores)]
    rows_by_proj: list[dict[str, int]] = [{} for _ in range(n_cores)]
    row_bytes_mats: dict[str, sp.csr_matrix] = {}
    plans: list[ProjPlan] = []
    dest: dict[str, sp.csr_matrix] = {}
    pops = {p.name: p for p in net.populations}
    max_delay = {p.name: 0 for p in net.populations}
    for proj in net.projections:
        src, dst = pops[proj.src], pops[proj.dst]
        m = _matrix(proj, src.size, dst.size)
        nz = m.copy()
        nz.data = (nz.data != 0).astype(np.float64)
        nz.eliminate_zeros()
        dst_hot = _onehot(core_of[dst.name], n_cores)
        syn_core = (nz.T @ dst_hot).tocsr()  # [n_src, n_cores] synapses from source j onto core c
        d = syn_core.copy()
        d.data[:] = 1.0
        dest[src.name] = d if src.name not in dest else ((dest[src.name] + d) > 0).astype(np.float64).tocsr()
        engine = mem_mod.engine(proj, src)
        # bytes of the synapse rows of each (source neuron, core)
        local = np.bincount(core_of[dst.name], minlength=n_cores).astype(np.int64)  # neurons of dst per core
        if engine == "mla":
            per_core = np.where(syn_core.sum(axis=0).A1 > 0, local * src.size * wbytes, 0)
            rb = None
        else:
            coo = syn_core.tocoo()
            dense_row = local[coo.col] * wbytes
            csr_row = coo.data.astype(np.int64) * (wbytes + mem_mod.INDEX_BYTES)
            b = mem_mod.ROW_HEADER + np.minimum(dense_row, csr_row)
            rb = sp.csr_matrix((b.astype(np.float64), (coo.row, coo.col)), shape=syn_core.shape)
            per_core = np.bincount(coo.col, weights=b, minlength=n_cores).astype(np.int64)
        for c in np.flatnonzero(per_core):
            parts[c]["synapse_rows"] += int(per_core[c])
            rows_by_proj[c][proj.name] = int(per_core[c])
        if rb is not None:
            row_bytes_mats[proj.name] = rb
        if proj.bias is not None:
            parts_bias = local * mem_mod.WORD
            for c in np.flatnonzero(parts_bias):
                parts[c]["bias"] += int(parts_bias[c])
        max_delay[dst.name] = max(max_delay[dst.name], proj.delay)
        weight = None
        if proj.kind == "dense":
            weight = np.asarray(proj.weight)
        elif proj.kind in ("sparse", "conv"):
            weight = m
        plans.append(ProjPlan(proj.name, proj.src, proj.dst, "dense" if proj.kind == "dense" else
                              ("identity" if proj.kind == "identity" else "sparse"), weight,
                              None if proj.bias is None else np.asarray(proj.bias), int(proj.delay),
                              proj.name in prev, engine, syn_core, dict(proj.meta)))
    # neuron state, routing, buffers
    sources = np.zeros(n_cores, dtype=np.int64)
    keys = np.zeros(n_cores, dtype=np.int64)
    for p in net.populations:
        cores = core_of[p.name]
        per_core = np.bincount(cores, minlength=n_cores).astype(np.int64)
        nvars = p.model.state_words(p.params)  # the registry's count, as the partitioner's
        n_slices = np.bincount(np.unique(cores), minlength=n_cores)
        for c in np.flatnonzero(per_core):
            if p.is_input:  # the value the host writes each step
                parts[c]["neuron_state"] += int(per_core[c] * nvars * mem_mod.WORD)
            else:
                parts[c]["neuron_state"] += int(per_core[c] * nvars * mem_mod.WORD + mem_mod.SLICE_CONSTANTS * n_slices[c])
                parts[c]["buffers"] += int(per_core[c] * (max_delay[p.name] + 1) * mem_mod.WORD)
        if p.name in dest:
            # one routing key per source slice (PE), one table entry per (source PE, destination PE) pair
            pairs = (_onehot(cores, n_cores).T @ dest[p.name]).tocsr()
            pairs.data[:] = 1
            keys += (np.asarray(pairs.sum(axis=1)).ravel() > 0).astype(np.int64)
            sources += np.asarray(pairs.sum(axis=0)).ravel().astype(np.int64)
    pes = []
    cores = mapping.cores
    slices_of: list[list] = [[] for _ in range(n_cores)]
    for s in mapping.slices:
        slices_of[s["core"]].append((s["pop"], int(s["start"]), int(s["stop"])))
    for c in range(n_cores):
        parts[c]["routing"] = int(sources[c] * mem_mod.MPT_ENTRY + keys[c] * mem_mod.KEY_BYTES)
        has_input = any(not pops[n].is_input for n, _, _ in slices_of[c])
        parts[c]["buffers"] += int(spike_queue * mem_mod.WORD) if has_input else 0
        if not has_input:  # a spike source PE (host-fed input) holds no code for neurons
            parts[c]["code"] = int(code_bytes) if slices_of[c] else 0
        memo = PEMemory(c, parts[c], sram, rows_by_proj[c])
        who = slices_of[c][0][0] if slices_of[c] else None
        mem_mod.fit(memo, allow_dram, who, target.name)
        pes.append(PEProgram(c, int(cores["chip"][c]), int(cores["X"][c]), int(cores["Y"][c]), slices_of[c], memo,
                             int(keys[c]), int(sources[c])))
    spilled: dict[str, sp.csr_matrix] = {}
    for pe in pes:
        for name in pe.memory.spilled:
            rb = row_bytes_mats.get(name)
            if rb is None:  # MAC-array block in DRAM: fetched once per step (counted in the simulator)
                continue
            keep = sp.diags((np.arange(n_cores) == pe.core).astype(np.float64))
            spilled[name] = (rb @ keep) if name not in spilled else spilled[name] + rb @ keep
    notes = []
    if any(pe.memory.spilled for pe in pes):
        notes.append(f"{sum(bool(pe.memory.spilled) for pe in pes)} PEs spill synapse rows to DRAM")
    return Program(net, mapping, target, numerics, order, plans, core_of, pes, dest,
                   {k: v.tocsr() for k, v in spilled.items()}, schedule, notes)
