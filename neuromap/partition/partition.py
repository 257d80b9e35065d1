"""Assign atoms (contiguous neuron ranges) to cores under capacity, minimising inter-core spike traffic.

Methods: ``metis`` (multi-constraint k-way METIS via pymetis on the atom traffic graph, k = the
sequential baseline's core count, then a capacity repair), and the baselines ``sequential`` (fill
cores in layer order, as SpiNNaker's PACMAN does) and ``random`` (fill cores in a random atom order).
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
import scipy.sparse as sp

from . import route
from .split import group_connectivity

METHODS = ("metis", "sequential", "random")


def _fits(load: np.ndarray, add: np.ndarray, limits: np.ndarray) -> bool:
    return bool(np.all(load + add <= limits))


def next_fit(order: np.ndarray, res: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Fill cores in the given atom order; open a new core when the next atom does not fit."""
    assign = np.empty(len(order), dtype=np.int64)
    if len(order) == 0:
        return assign
    core = 0
    # vectorised runs: cumulative sums over a window, cut where any resource overflows
    r = res[order]
    i = 0
    n = len(order)
    while i < n:
        win = 1024
        while True:
            cum = np.cumsum(r[i:i + win], axis=0)
            over = np.any(cum > limits, axis=1)
            if over.any() or i + win >= n:
                break
            win *= 4
        j = int(np.argmax(over)) if over.any() else min(win, n - i)
        j = max(j, 1)
        assign[order[i:i + j]] = core
        core += 1
        i += j
    return assign


def sequential(res: np.ndarray, limits: np.ndarray) -> np.ndarray:
    return next_fit(np.arange(len(res)), res, limits)


def random_fill(res: np.ndarray, limits: np.ndarray, seed: int = 0) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(len(res))
    return next_fit(order, res, limits)


def symmetric_graph(traffic: sp.spmatrix) -> sp.csr_matrix:
    """Undirected traffic graph ``T + T^T`` without self-loops or zeros (CSR, sorted indices), built in blocks of rows
    into arrays allocated once: beyond the result only a block's temporaries are held (``traffic.T`` is
    never copied whole, scipy's sum of two matrices would allocate for the sum of their nonzeros)."""
    t = sp.csr_matrix(traffic)
    # a block's temporaries: ~100 bytes per flow; each block scans all columns once, so at most 16 blocks
    # (a pass is then linear in the flows: 4 M neurons have 10^8)
    bounds = route.row_blocks(t.indptr, max(1, route.FLOWS_PER_BLOCK // 4, -(-t.nnz // 16)))

    def block(r0: int, r1: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        b = (t[r0:r1] + t[:, r0:r1].T).tocsr()
        b.sort_indices()
        row = np.repeat(np.arange(r1 - r0), np.diff(b.indptr))  # within the block
        return b, row, (b.indices != row + r0) & (b.data != 0)

    counts = np.zeros(t.shape[0] + 1, dtype=np.int64)
    for r0, r1 in zip(bounds[:-1], bounds[1:]):  # pass 1: nonzeros per row
        _, row, keep = block(r0, r1)
        counts[r0 + 1:r1 + 1] = np.bincount(row[keep], minlength=r1 - r0)
    indptr = np.cumsum(counts)
    indices, data = np.empty(indptr[-1], dtype=np.int32), np.empty(indptr[-1], dtype=t.dtype)
    for r0, r1 in zip(bounds[:-1], bounds[1:]):  # pass 2: fill
        b, _, keep = block(r0, r1)
        indices[indptr[r0]:indptr[r1]], data[indptr[r0]:indptr[r1]] = b.indices[keep], b.data[keep]
    return sp.csr_matrix((data, indices, indptr), shape=t.shape)


@contextlib.contextmanager
def quiet_c_stdout():
    """Silence METIS's C-level messages (e.g. "Cannot bisect a graph with 0 vertices!", printed for
    empty sub-problems of a recursive bisection) by pointing file descriptor 1 at /dev/null."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def metis(graph: sp.csr_matrix, res: np.ndarray, limits: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-way multi-constraint METIS partition of the atom graph, then a capacity repair."""
    import pymetis

    n = graph.shape[0]
    if k <= 1 or n <= 1:
        return np.zeros(n, dtype=np.int64)
    k = min(k, n)
    w = graph.data
    scale = 1e6 / w.max() if len(w) else 1.0
    ew = np.maximum(1, np.rint(w * scale)).astype(np.int64)
    keep = res.sum(axis=0) > 0
    vw = np.ceil(res[:, keep] / limits[keep] * 1000).astype(np.int64)
    vw = np.maximum(vw, 0)
    if vw.shape[1] == 0:
        vw = np.ones((n, 1), dtype=np.int64)
    opts = pymetis.Options(seed=int(seed), ufactor=10)
    adj = pymetis.CSRAdjacency(graph.indptr.astype(np.int64), graph.indices.astype(np.int64))
    with quiet_c_stdout():
        _, parts = pymetis.part_graph(k, adjacency=adj, eweights=ew, vweights=vw.reshape(-1), options=opts)
    assign = np.asarray(parts, dtype=np.int64)
    return repair_capacity(assign, res, limits, graph)


def repair_capacity(assign: np.ndarray, res: np.ndarray, limits: np.ndarray, graph: sp.csr_matrix) -> np.ndarray:
    """Move atoms out of over-full cores into the best-connected core with room (a new core if none)."""
    assign = assign.copy()
    k = int(assign.max()) + 1 if len(assign) else 0
    load = np.zeros((k, res.shape[1]))
    np.add.at(load, assign, res)
    over = np.flatnonzero(np.any(load > limits, axis=1))
    if len(over) == 0:
        return _compact(assign)
    for c in over:
        members = np.flatnonzero(assign == c)
        # connection of each member to its own core: weakest leave first
        own = np.asarray(graph[members][:, members].sum(axis=1)).ravel()
        for m in members[np.argsort(own)]:
            if np.all(load[c] <= limits):
                break
            row = graph[m]
            conn = np.bincount(assign[row.indices], weights=row.data, minlength=len(load))
            room = np.all(load + res[m] <= limits, axis=1)
            room[c] = False
            if room.any():
                cand = np.flatnonzero(room)
                best = cand[np.argmax(conn[cand] - 1e-9 * load[cand].sum(axis=1))]
            else:
                best = len(load)
                load = np.vstack([load, np.zeros(res.shape[1])])
            load[c] -= res[m]
            load[best] += res[m]
            assign[m] = best
    return _compact(assign)


def _compact(assign: np.ndarray) -> np.ndarray:
    """Renumber cores 0..k-1 in order of first appearance (stable, keeps layer order for baselines)."""
    _, first = np.unique(assign, return_index=True)
    order = np.argsort(first)
    remap = np.empty(int(assign.max()) + 1, dtype=np.int64)
    remap[np.unique(assign)[order]] = np.arange(len(order))
    return remap[assign]


def split_overfull_cores(assign: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Move the second half (in atom order) of each core in ``bad`` onto a new core."""
    assign = assign.copy()
    nxt = int(assign.max()) + 1
    for c in bad:
        members = np.flatnonzero(assign == c)
        if len(members) < 2:
            continue
        assign[members[len(members) // 2:]] = nxt
        nxt += 1
    return assign


def assign_atoms(run) -> None:
    """Assign the atoms of a partition run (:class:`~neuromap.partition.mapper.Run`) to cores under
    its per-core limits with its method (``run.assign``)."""
    res, limits = run.res, run.limits
    seq = sequential(res, limits)
    if run.method == "sequential":
        run.assign = seq
    elif run.method == "random":
        run.assign = random_fill(res, limits, run.seed)
    elif len(run.a_pop) <= int(seq.max()) + 1:
        # one atom per core: nothing to group (huge nets); the placer does the optimisation
        run.assign = seq
        run.notes.append("metis: atoms are core-sized slices (atom-graph budget), partition = sequential slices")
    else:
        atom_groups = run.atoms.groups(run.sizes)
        t_atoms = group_connectivity(run.netlist, run.index, atom_groups, len(run.a_pop), weights=run.rate_arr)
        run.assign = metis(symmetric_graph(t_atoms), res, limits, int(seq.max()) + 1, run.seed)
        if run.assign.max() > seq.max():
            run.notes.append(f"metis repair needed {run.assign.max() + 1} cores vs {seq.max() + 1} sequential")
