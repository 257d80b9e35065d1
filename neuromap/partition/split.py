"""Split populations into slices that fit one core, and count inter-group connectivity on sparse arrays.

Cost model (documented so every number can be traced):

* **Synapse memory** of a target neuron, per incoming projection, is stored row-wise in the cheaper of
  two formats: a *dense row* (``src.size * weight_bits``) or a *sparse row* (``nnz * (weight_bits +
  ceil(log2 src.size))``, each synapse carrying the index of its source neuron). Conv projections store
  their receptive-field window densely (``valid taps * C_in/groups * weight_bits``; synapses are counted
  from the geometry, never from a dense matrix); identity projections one weight per neuron.
* **Neuron state** (only for targets whose neuron state shares one memory pool with synapses,
  ``core.memory_bits``): the neuron registry's words per neuron of the population
  (:meth:`neuromap.neurons.registry.NeuronModel.state_words`: state variables, a refractory
  counter, per-neuron parameters; the same count the SpiNNaker2 program uses) times
  ``numerics.state_bits``.
* **Input axons** of a core: distinct source neurons that have a synapse onto it; **output axons**:
  distinct (source neuron, destination core) pairs leaving it (Loihi's axon tables).
* Crossbar targets: a *core* is a tile of ``rows x cols`` cells; a population slice uses one column
  per neuron and one row per distinct input (conv: ``C_in/groups * kh * kw`` rows, unrolled kernel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import scipy.sparse as sp
import torch

from neuromap.memory import release_free_pages
from neuromap.netlist import GeneratedWeights, Netlist, Population, Projection
from neuromap.neurons import kernels

from .errors import DoesNotFit

DEFAULT_RATE = 0.05  # spikes per neuron per time step, used when no Activity is given


@dataclass(frozen=True)
class Limits:
    """The per-core limits of a target that the partitioner enforces (``None`` = no limit); made by
    the target's kind (:meth:`neuromap.targets.TargetKind.limits`), which ``kind`` names."""

    kind: str
    max_neurons: int | None = None
    synapse_mem_bits: int | None = None
    memory_bits: int | None = None
    max_axons_in: int | None = None
    max_axons_out: int | None = None
    weight_bits: int = 8
    state_bits: int = 32
    rows: int | None = None
    cols: int | None = None
    memory: MemoryModel | None = field(default=None, compare=False)  # None: :class:`SharedMemory`

    def value(self, name: str) -> int | None:
        """The limit called ``name`` (``"core.max_axons_in"``, ``"tile.rows"``, ...)."""
        return getattr(self, name.split(".", 1)[1])


# ------------------------------------------------------------------------------------------ per-neuron costs
def _idx_bits(n: int) -> int:
    return max(1, math.ceil(math.log2(max(n, 2))))


def _conv_taps_per_neuron(proj: Projection) -> np.ndarray:
    """Synapses per output neuron of a conv projection, from geometry and non-zero kernel taps."""
    g = proj.conv
    c_out, h_out, w_out = g.out_shape
    kh, kw = g.kernel
    vy = np.zeros((h_out, kh), dtype=np.int64)
    vx = np.zeros((w_out, kw), dtype=np.int64)
    for a in range(kh):
        pos = np.arange(h_out) * g.stride[0] - g.padding[0] + a * g.dilation[0]
        vy[:, a] = (pos >= 0) & (pos < g.in_shape[1])
    for b in range(kw):
        pos = np.arange(w_out) * g.stride[1] - g.padding[1] + b * g.dilation[1]
        vx[:, b] = (pos >= 0) & (pos < g.in_shape[2])
    if proj.weight is not None:
        nz = (np.asarray(proj.weight) != 0).reshape(c_out, -1, kh, kw).sum(axis=1)  # [C_out, kh, kw]
    else:
        nz = np.full((c_out, kh, kw), g.in_shape[0] // g.groups, dtype=np.int64)
    per = np.einsum("cab,ya,xb->cyx", nz, vy, vx)
    return per.reshape(-1)


def conv_rows(proj: Projection) -> int:
    """Crossbar rows of an unrolled conv kernel: ``C_in/groups * kh * kw``."""
    return proj.conv.fan_in()


def synapses_per_neuron(proj: Projection, dst: Population) -> np.ndarray:
    if proj.kind == "conv":
        return _conv_taps_per_neuron(proj)
    if proj.kind == "identity":
        return np.ones(dst.size, dtype=np.int64)
    return np.asarray(proj.fan_in(), dtype=np.int64)


class MemoryModel(Protocol):
    """How much of a core's memory (``core.memory_bits``) a population takes: what a backend that
    lays out the core's memory itself (the SpiNNaker2 program) gives the partitioner, so that the
    mapping it makes is one the backend can build."""

    def neuron_bits(self, net: Netlist, pop: Population, lim: Limits) -> np.ndarray:
        """Bits per neuron of ``pop`` (state, synapses, buffers: everything that scales with neurons)."""
        ...

    def slice_bits(self, net: Netlist, pop: Population, lim: Limits) -> int:
        """Fixed bits of every slice of ``pop`` on a core (headers, tables, constants)."""
        ...

    def source_bits(self, lim: Limits) -> int:
        """Bits per (source population slice, core) pair that sends to a core (a routing-table entry)."""
        ...


class SharedMemory:
    """The default model (module docstring): synapse rows in the cheaper format plus the registry's
    state words; no per-slice overhead."""

    def neuron_bits(self, net: Netlist, pop: Population, lim: Limits) -> np.ndarray:
        bits = synapse_bits(net, pop, lim.weight_bits)
        return bits + pop.model.state_words(pop.params) * lim.state_bits

    def slice_bits(self, net: Netlist, pop: Population, lim: Limits) -> int:
        return 0

    def source_bits(self, lim: Limits) -> int:
        return 0


def synapse_bits(net: Netlist, pop: Population, weight_bits: int) -> np.ndarray:
    """Synapse-memory bits per neuron of ``pop``: per incoming projection the cheaper row format."""
    bits = np.zeros(pop.size, dtype=np.int64)
    for proj in net.incoming(pop.name):
        if proj.reduces:  # a reduction (max pooling) stores no weights
            continue
        src = net.population(proj.src)
        s = synapses_per_neuron(proj, pop)
        if proj.kind in ("conv", "identity"):
            bits += s * weight_bits
        else:
            bits += np.minimum(src.size * weight_bits, s * (weight_bits + _idx_bits(src.size)))
    return bits


def neuron_costs(net: Netlist, pop: Population, lim: Limits) -> dict[str, np.ndarray]:
    """Per-neuron additive costs of ``pop``: synapses, synapse bits, memory bits (from the limits'
    memory model), and ``slice_bits`` (a 0-d array: the fixed memory of one slice)."""
    syn = np.zeros(pop.size, dtype=np.int64)
    for proj in net.incoming(pop.name):
        syn += synapses_per_neuron(proj, pop)
    model = lim.memory or SharedMemory()
    return {"synapses": syn, "synapse_bits": synapse_bits(net, pop, lim.weight_bits),
            "memory_bits": np.asarray(model.neuron_bits(net, pop, lim), dtype=np.int64),
            "slice_bits": np.asarray(int(model.slice_bits(net, pop, lim)))}


# ------------------------------------------------------------------------------------------ connectivity
def _onehot(groups: np.ndarray, n_groups: int) -> sp.csr_matrix:
    """(n_groups x len(groups)) indicator matrix."""
    n = len(groups)
    return sp.csr_matrix((np.ones(n, dtype=np.int32), (groups.astype(np.int64), np.arange(n))), shape=(n_groups, n))


def _conv_position_matrix(g) -> sp.csr_matrix:
    """(out positions x in positions) receptive-field structure of a conv geometry."""
    _, h_out, w_out = g.out_shape
    _, h_in, w_in = g.in_shape
    kh, kw = g.kernel
    oy, ox = np.meshgrid(np.arange(h_out), np.arange(w_out), indexing="ij")
    rows, cols = [], []
    for a in range(kh):
        iy = oy * g.stride[0] - g.padding[0] + a * g.dilation[0]
        for b in range(kw):
            ix = ox * g.stride[1] - g.padding[1] + b * g.dilation[1]
            ok = (iy >= 0) & (iy < h_in) & (ix >= 0) & (ix < w_in)
            rows.append((oy * w_out + ox)[ok])
            cols.append((iy * w_in + ix)[ok])
    r, c = np.concatenate(rows), np.concatenate(cols)
    m = sp.csr_matrix((np.ones(len(r), dtype=np.int32), (r, c)), shape=(h_out * w_out, h_in * w_in))
    m.sum_duplicates()
    return m


def distinct_sources(net: Netlist, proj: Projection, dst_groups: np.ndarray, n_dst: int, src_groups: np.ndarray,
                     n_src: int) -> sp.csr_matrix:
    """``C[s, d]`` = number of distinct neurons of source group ``s`` with at least one synapse onto
    a neuron of destination group ``d`` (the multicast packets one step of all-firing sources sends).

    ``dst_groups`` / ``src_groups``: group id per neuron of ``proj.dst`` / ``proj.src``. One pass over the
    synapses, O(nnz) without sorting (conv from geometry); generated weights (:class:`GeneratedWeights`)
    are streamed, never held. The compiled kernel (``neuromap.neurons.kernels``) counts in parallel over
    destination groups; without it the same counts come from numpy. Both return the counts column by
    column (12 bytes per nonzero: int32 source group, float64 count), so the memory beyond the result is
    one CSC-to-CSR conversion, never a temporary per synapse or a COO copy."""
    dst, src = net.population(proj.dst), net.population(proj.src)
    if proj.kind == "conv":
        return _conv_distinct(proj, dst_groups, n_dst, src_groups, n_src)
    generated = proj.weight if isinstance(proj.weight, GeneratedWeights) else None
    indptr = indices = None
    if generated is not None:
        pass
    elif proj.kind == "identity" or proj.weight is None:
        k = min(dst.size, src.size)
        indptr = np.r_[np.arange(k + 1), np.full(dst.size - k, k)].astype(np.int64)
        indices = np.arange(k, dtype=np.int64)
    else:
        w = proj.weight.tocsr() if sp.issparse(proj.weight) else sp.csr_matrix(np.asarray(proj.weight) != 0)
        indptr, indices = w.indptr, w.indices
    dst_groups = np.asarray(dst_groups, dtype=np.int64)
    src_groups = np.asarray(src_groups, dtype=np.int64)
    # rows of one group may be scattered: visit them group by group through a stable permutation
    sorted_rows = len(dst_groups) <= 1 or not np.any(np.diff(dst_groups) < 0)
    rows = np.arange(len(dst_groups), dtype=np.int64) if sorted_rows else np.argsort(dst_groups, kind="stable")
    gids, first = np.unique(dst_groups[rows], return_index=True)
    gptr = np.r_[first, len(rows)].astype(np.int64)
    ops = kernels.load()
    counts = _compiled_counts if ops is not None else _numpy_counts
    per_group, idx, val = counts(ops, indptr, indices, generated, rows, gptr, src_groups, n_src, src.size)
    colptr = np.zeros(n_dst + 1, dtype=np.int64)
    colptr[gids + 1] = per_group
    np.cumsum(colptr, out=colptr)
    return sp.csc_matrix((val, idx, colptr), shape=(n_src, n_dst), copy=False).tocsr()


def _compiled_counts(ops, indptr, indices, generated, rows, gptr, src_groups, n_src: int, n_pre: int):
    """``(entries per destination group, source groups, counts)`` from the compiled kernel."""
    t = torch.from_numpy
    empty = torch.empty(0, dtype=torch.int64)
    if generated is None:
        idx = indices if indices.dtype in (np.int32, np.int64) else indices.astype(np.int64)
        out = ops.distinct_source_counts(t(np.asarray(indptr, dtype=np.int64)), t(idx), t(rows), t(gptr),
                                         t(src_groups), n_src, n_pre, 1, 0, 0, 0)
    else:
        g = generated
        out = ops.distinct_source_counts(empty, empty, t(rows), t(gptr), t(src_groups), n_src, n_pre,
                                         g.n_post, g.k, g.seed, g.window)
    return tuple(x.numpy() for x in out)


def _numpy_counts(_ops, indptr, indices, generated, rows, gptr, src_groups, n_src: int, n_pre: int):
    """The same in numpy: a stamp per source neuron marks the first synapse of each in a group."""
    stamp = np.full(n_pre, -1, dtype=np.int64)
    per_group = np.zeros(len(gptr) - 1, dtype=np.int64)
    out_s, out_c = [], []
    for g in range(len(gptr) - 1):
        grp = rows[gptr[g]:gptr[g + 1]]
        if generated is not None:
            cols = generated.rows(grp)[1]
        else:
            # runs of consecutive rows become single index slices
            brk = np.flatnonzero(np.diff(grp) != 1) + 1
            starts, stops = np.r_[grp[0], grp[brk]], np.r_[grp[brk - 1] + 1, grp[-1] + 1]
            cols = np.concatenate([indices[indptr[a]:indptr[b]] for a, b in zip(starts, stops)])
        if len(cols) == 0:
            continue
        pos = np.arange(len(cols))
        stamp[cols] = pos
        uniq = cols[stamp[cols] == pos]  # exactly one position survives per distinct source neuron
        cnt = np.bincount(src_groups[uniq], minlength=n_src)
        nz = np.flatnonzero(cnt)
        per_group[g] = len(nz)
        out_s.append(nz.astype(np.int32))
        out_c.append(cnt[nz].astype(np.float64))
    if not out_s:
        return per_group, np.zeros(0, np.int32), np.zeros(0, np.float64)
    return per_group, np.concatenate(out_s), np.concatenate(out_c)


def _conv_distinct(proj, dst_groups, n_dst, src_groups, n_src) -> sp.csr_matrix:
    g = proj.conv
    c_out, h_out, w_out = g.out_shape
    c_in, h_in, w_in = g.in_shape
    p_out, p_in = h_out * w_out, h_in * w_in
    pos = _conv_position_matrix(g)
    ng = g.groups
    co_g, ci_g = c_out // ng, c_in // ng
    out = sp.csr_matrix((n_src, n_dst), dtype=np.int64)
    dg = dst_groups.reshape(c_out, p_out)
    sg = src_groups.reshape(c_in, p_in)
    for k in range(ng):
        d = dg[k * co_g:(k + 1) * co_g].reshape(-1)  # group of each (c, pos) in this conv group
        dpos = np.tile(np.arange(p_out), co_g)
        a = sp.csr_matrix((np.ones(len(d), dtype=np.int32), (d, dpos)), shape=(n_dst, p_out))
        b = a @ pos  # dst groups x in positions
        b.data[:] = 1
        s = sg[k * ci_g:(k + 1) * ci_g].reshape(-1)
        spos = np.tile(np.arange(p_in), ci_g)
        q = sp.csr_matrix((np.ones(len(s), dtype=np.int32), (spos, s)), shape=(p_in, n_src))  # channels per (pos, group)
        out = out + (b @ q).T
    return out.tocsr()


def group_connectivity(net: Netlist, index: dict[str, int], groups: list[np.ndarray], n_groups: int,
                       src_groups: list[np.ndarray] | None = None, n_src: int | None = None,
                       weights: np.ndarray | None = None) -> sp.csr_matrix:
    """Sum of :func:`distinct_sources` over all projections; rows: source groups, cols: destination groups.
    ``groups[i]``: group id per neuron of population ``i``; ``weights``: optional per-population factor
    (firing rate) applied to each projection's counts by its source population."""
    src_groups = groups if src_groups is None else src_groups
    n_src = n_groups if n_src is None else n_src
    total = None
    for proj in net.projections:
        i, j = index[proj.src], index[proj.dst]
        c = distinct_sources(net, proj, groups[j], n_groups, src_groups[i], n_src).astype(np.float64, copy=False)
        if weights is not None:
            c.data *= float(weights[i])
        total = c if total is None else total + c
        del c  # one projection's counts alive at a time beside the sum
    release_free_pages()  # the counts' temporaries (the kernel's buffers, CSC -> CSR)
    return sp.csr_matrix((n_src, n_groups), dtype=np.float64) if total is None else total.tocsr(copy=False)


# ------------------------------------------------------------------------------------------ slicing
@dataclass
class Atoms:
    """Contiguous neuron ranges (the partitioner's vertices). Arrays of equal length."""

    pop: np.ndarray  # population index
    start: np.ndarray
    stop: np.ndarray
    res: np.ndarray  # [n_atoms, n_res] additive resources
    res_names: list[str]
    limits: np.ndarray  # [n_res]

    def __len__(self) -> int:
        return len(self.pop)

    def groups(self, sizes: list[int], assign: np.ndarray | None = None) -> list[np.ndarray]:
        """Group id per neuron for each population: the atom id (or ``assign[atom]``, e.g. its core)."""
        ids = np.arange(len(self)) if assign is None else np.asarray(assign)
        out = []
        for p, n in enumerate(sizes):
            sel = np.flatnonzero(self.pop == p)
            reps = self.stop[sel] - self.start[sel]
            g = np.repeat(ids[sel], reps)
            if len(g) != n:
                raise AssertionError("atoms do not cover the population")
            out.append(g)
        return out


def _greedy_cuts(costs: list[np.ndarray], caps: list[float], n: int, max_len: int | None) -> np.ndarray:
    """Contiguous greedy slicing: boundaries so every slice's cumulative costs stay within caps."""
    cums = [np.concatenate([[0], np.cumsum(c, dtype=np.float64)]) for c in costs]
    bounds = [0]
    start = 0
    while start < n:
        stop = n if max_len is None else min(n, start + max_len)
        for cum, cap in zip(cums, caps):
            # largest e with cum[e] - cum[start] <= cap
            e = int(np.searchsorted(cum, cum[start] + cap, side="right")) - 1
            stop = min(stop, e)
        if stop <= start:
            raise AssertionError("unreachable: single neuron exceeds a cap (checked before)")
        bounds.append(stop)
        start = stop
    return np.asarray(bounds, dtype=np.int64)


def _suggest(pop: Population, limit: str, need: float, have: float, lim: Limits, target_name: str) -> list[str]:
    out = []
    ratio = need / have
    if "bits" in limit or "memory" in limit:
        wb = lim.weight_bits
        fit_wb = int(wb / ratio)
        if fit_wb >= 1:
            out.append(f"weight bits <= {fit_wb} (now {wb})")
        out.append(f"sparsity: keep <= {100 / ratio:.1f}% of the synapses per neuron")
    if "axons_in" in limit or "rows" in limit or "fan_in" in limit:
        out.append(f"split the fan-in: at most {int(have):,} inputs per neuron, e.g. an intermediate layer, "
                   f"or sparsity keeping <= {100 / ratio:.1f}% of the inputs")
    return out


def _check_neuron_fits(pop: Population, costs: dict[str, np.ndarray], fanin: np.ndarray, lim: Limits,
                       target_name: str) -> None:
    checks = []
    if lim.synapse_mem_bits is not None:
        checks.append(("core.synapse_mem_bits", costs["synapse_bits"], lim.synapse_mem_bits))
    if lim.memory_bits is not None:
        checks.append(("core.memory_bits", costs["memory_bits"] + int(costs["slice_bits"]), lim.memory_bits))
    if lim.max_axons_in is not None:
        checks.append(("core.max_axons_in", fanin, lim.max_axons_in))
    for name, arr, cap in checks:
        if len(arr) and arr.max() > cap:
            need = float(arr.max())
            raise DoesNotFit(pop.name, name, need, float(cap), _suggest(pop, name, need, cap, lim, target_name), target_name)


def split_population(net: Netlist, pop: Population, lim: Limits, target_name: str = "") -> np.ndarray:
    """Boundaries ``[0, b1, ..., size]`` of core-sized slices of ``pop`` (every slice fits one core under
    every additive limit; input-axon limits are checked on the slices afterwards)."""
    n = pop.size
    costs = neuron_costs(net, pop, lim)
    fanin = costs["synapses"]
    _check_neuron_fits(pop, costs, fanin, lim, target_name)
    caps, arrs = [], []
    if lim.synapse_mem_bits is not None:
        arrs.append(costs["synapse_bits"])
        caps.append(lim.synapse_mem_bits)
    if lim.memory_bits is not None:
        arrs.append(costs["memory_bits"])
        caps.append(lim.memory_bits - int(costs["slice_bits"]))
    return _greedy_cuts(arrs, caps, n, lim.max_neurons)


def crossbar_rows(net: Netlist, pop: Population) -> int:
    """Distinct input rows a column of ``pop`` needs (sum over incoming projections)."""
    rows = 0
    for proj in net.incoming(pop.name):
        if proj.reduces:  # a reduction (max pooling) is digital periphery, not crossbar rows
            continue
        src = net.population(proj.src)
        if proj.kind == "conv":
            rows += conv_rows(proj)
        elif proj.kind == "identity":
            rows += 1
        else:
            w = proj.weight
            if isinstance(w, GeneratedWeights):
                cols_used = int((w.col_counts() > 0).sum())
            else:
                cols_used = (np.diff(w.tocsc().indptr) > 0).sum() if sp.issparse(w) else int(
                    (np.asarray(w) != 0).any(axis=0).sum())
            rows += int(min(src.size, cols_used))
    return rows
