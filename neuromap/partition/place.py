"""Place cores on the chip mesh (and chips on the board), minimising hop-weighted spike traffic.

Model: each chip is a grid of routers (SpiNNaker2 QPEs, Loihi tiles) with ``cores_per_router``
cores each; chips sit in a near-square grid of chips (the boards' real chip layout is not in the
sources) and their router grids join into one global 2-D mesh, so a hop across a chip edge is one
inter-chip link. Hops between two cores = Manhattan distance of their routers (0 within a router).

Strategies: ``sequential`` (cores in order onto chips, routers and cores in the target's listed
order, as PACMAN's default placer), ``random``, and ``optimised``: recursive bisection of the core
traffic graph (METIS 2-way with target weights) matched to recursive halving of the mesh, then
pairwise swap refinement; the better of that and the sequential placement is kept.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from neuromap import optional
from neuromap.memory import release_free_pages

from .errors import DoesNotFit
from .partition import quiet_c_stdout, symmetric_graph
from .route import flow_blocks

PLACEMENTS = ("optimised", "sequential", "random")


@dataclass
class Mesh:
    """Slots (chip, router x, router y, core-in-router) of a system with ``n_chips`` chips."""

    router_positions: np.ndarray  # [R, 2] within a chip
    grid: tuple[int, int]
    cores_per_router: int
    cores_per_chip: int
    n_chips: int
    chip_grid: tuple[int, int]

    @classmethod
    def for_target(cls, target, n_cores: int) -> Mesh:
        g = target.get
        grid = tuple(int(v) for v in g("chip.router_grid"))
        pos = g("chip.router_positions")
        if pos is None:
            pos = [[x, y] for y in range(grid[1]) for x in range(grid[0])]
        cpr = int(g("chip.cores_per_router"))
        cpc = int(g("chip.usable_cores", g("chip.cores_per_chip")))
        n_chips = max(1, math.ceil(n_cores / cpc))
        max_chips = g("system.max_chips")
        if max_chips is not None and n_chips > max_chips:
            raise DoesNotFit(None, "system.max_chips", n_chips, max_chips,
                             [f"{n_cores:,} cores need {n_chips:,} chips of {cpc} cores; reduce cores by "
                              f"{100 * (1 - max_chips / n_chips):.0f}% (fewer weight bits, sparser weights)"], target.name)
        cg = g("system.chip_grid")
        if cg is not None and cg[0] * cg[1] >= n_chips:
            chip_grid = (int(cg[0]), int(cg[1]))
        else:
            cw = math.ceil(math.sqrt(n_chips))
            chip_grid = (cw, math.ceil(n_chips / cw))
        return cls(np.asarray(pos, dtype=np.int64), grid, cpr, cpc, n_chips, chip_grid)

    def slots(self) -> dict[str, np.ndarray]:
        r = len(self.router_positions)
        per_chip = np.arange(r * self.cores_per_router)[: self.cores_per_chip]
        router = per_chip // self.cores_per_router
        sub = per_chip % self.cores_per_router
        chip = np.repeat(np.arange(self.n_chips), len(per_chip))
        router = np.tile(router, self.n_chips)
        sub = np.tile(sub, self.n_chips)
        rx, ry = self.router_positions[router, 0], self.router_positions[router, 1]
        cx, cy = chip % self.chip_grid[0], chip // self.chip_grid[0]
        return {"chip": chip, "x": rx, "y": ry, "sub": sub,
                "X": cx * self.grid[0] + rx, "Y": cy * self.grid[1] + ry}

    @property
    def global_shape(self) -> tuple[int, int]:
        return self.chip_grid[0] * self.grid[0], self.chip_grid[1] * self.grid[1]


def hop_cost(traffic: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, slot_of: np.ndarray) -> float:
    """Σ traffic[a, b] × hops(a, b) for directed core traffic."""
    return HopCost(traffic, X, Y)(slot_of)


class HopCost:
    """:func:`hop_cost` of one traffic matrix for many placements, evaluated over blocks of flows
    (:func:`~neuromap.partition.route.flow_blocks`), so its temporaries stay a few tens of MB however many
    flows there are."""

    def __init__(self, traffic: sp.spmatrix, X: np.ndarray, Y: np.ndarray) -> None:
        self.traffic = traffic if sp.isspmatrix_csr(traffic) else sp.csr_matrix(traffic)
        self.X, self.Y = np.asarray(X, dtype=np.int32), np.asarray(Y, dtype=np.int32)  # mesh coordinates: small

    def __call__(self, slot_of: np.ndarray) -> float:
        xs, ys = self.X[slot_of], self.Y[slot_of]  # per core, then per flow
        return float(sum(float((val * (np.abs(xs[src] - xs[dst]) + np.abs(ys[src] - ys[dst]))).sum())
                         for src, dst, val in flow_blocks(self.traffic)))


def place(traffic: sp.csr_matrix, mesh: Mesh, strategy: str = "optimised", seed: int = 0,
          time_budget: float = 20.0) -> np.ndarray:
    """Slot index for each core."""
    if strategy not in PLACEMENTS:
        raise ValueError(f"placement {strategy!r} is not one of {list(PLACEMENTS)}")
    n = traffic.shape[0]
    s = mesh.slots()
    n_slots = len(s["X"])
    if n > n_slots:
        raise AssertionError("mesh has fewer slots than cores")
    if strategy == "sequential":
        return np.arange(n)
    if strategy == "random":
        return np.random.default_rng(seed).permutation(n_slots)[:n]
    X, Y = s["X"].astype(np.int64), s["Y"].astype(np.int64)
    release_free_pages()
    sym = symmetric_graph(traffic)
    release_free_pages()
    seq = np.arange(n)
    if sym.nnz == 0:
        return seq
    t0 = time.perf_counter()
    cost = HopCost(traffic, X, Y)
    if not optional.available("pymetis"):  # no METIS bisection: refine the sequential placement only
        return min((refine_swaps(sym, X, Y, seq, n_slots, seed, deadline=t0 + time_budget, cost=cost), seq), key=cost)
    slot_of = _bisection(sym, X, Y, n, seed)
    slot_of = refine_swaps(sym, X, Y, slot_of, n_slots, seed, deadline=t0 + time_budget, cost=cost)
    seq_ref = refine_swaps(sym, X, Y, seq, n_slots, seed, deadline=time.perf_counter() + time_budget / 4, cost=cost)
    return min((slot_of, seq_ref, seq), key=cost)


def _sparsify(g: sp.csr_matrix, k: int = 48) -> sp.csr_matrix:
    """Keep the k heaviest edges of every vertex (symmetrised), to bound bisection cost."""
    deg = np.diff(g.indptr)
    if deg.max(initial=0) <= k:
        return g
    rows, cols, vals = [], [], []
    for i in range(g.shape[0]):
        lo, hi = g.indptr[i], g.indptr[i + 1]
        d = g.data[lo:hi]
        sel = np.argpartition(d, -k)[-k:] if hi - lo > k else np.arange(hi - lo)
        rows.append(np.full(len(sel), i))
        cols.append(g.indices[lo:hi][sel])
        vals.append(d[sel])
    m = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=g.shape)
    return m.maximum(m.T).tocsr()


def _bisection(sym: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, n: int, seed: int) -> np.ndarray:
    import pymetis

    g = _sparsify(sym)
    slot_of = np.full(n, -1, dtype=np.int64)
    n_slots = len(X)
    # use the first n_used slots in a compact region: slots sorted by a space-filling order (chips in order)
    stack = [(np.arange(n), np.arange(n_slots))]
    opts = pymetis.Options(seed=int(seed), ufactor=1)
    while stack:
        cores, slots = stack.pop()
        if len(cores) == 0:
            continue
        xs, ys = X[slots], Y[slots]
        if len(cores) == 1 or (xs.min() == xs.max() and ys.min() == ys.max()):
            # same router (or one core): keep slot order
            order = np.lexsort((slots,))
            slot_of[cores] = slots[order][: len(cores)]
            continue
        if xs.max() - xs.min() >= ys.max() - ys.min():
            key = np.lexsort((ys, xs))
        else:
            key = np.lexsort((xs, ys))
        slots = slots[key]
        # split slots at a router boundary near the middle, so no router is shared by both halves
        coord = (xs if xs.max() - xs.min() >= ys.max() - ys.min() else ys)[key]
        mid = len(slots) // 2
        cut = int(np.searchsorted(coord, coord[mid], side="left"))
        if cut == 0:
            cut = int(np.searchsorted(coord, coord[mid], side="right"))
        s1, s2 = slots[:cut], slots[cut:]
        # keep the cores in the region that holds fewer empty slots relative to its size
        n1 = int(round(len(cores) * len(s1) / len(slots)))
        n1 = min(max(n1, len(cores) - len(s2)), len(s1))
        part = _two_way(g, cores, n1, opts)
        stack.append((cores[part == 0], s1))
        stack.append((cores[part == 1], s2))
    return slot_of


def _two_way(g: sp.csr_matrix, cores: np.ndarray, n1: int, opts) -> np.ndarray:
    import pymetis

    n = len(cores)
    if n1 <= 0:
        return np.ones(n, dtype=np.int64)
    if n1 >= n:
        return np.zeros(n, dtype=np.int64)
    sub = g[cores][:, cores].tocsr()
    if sub.nnz == 0:
        part = np.ones(n, dtype=np.int64)
        part[:n1] = 0
        return part
    w = sub.data
    ew = np.maximum(1, np.rint(w * (1e6 / w.max()))).astype(np.int64)
    adj = pymetis.CSRAdjacency(sub.indptr.astype(np.int64), sub.indices.astype(np.int64))
    with quiet_c_stdout():
        _, p = pymetis.part_graph(2, adjacency=adj, eweights=ew, tpwgts=[n1 / n, 1 - n1 / n], options=opts)
    part = np.asarray(p, dtype=np.int64)
    # fix sizes exactly: move the vertices that gain most
    for _ in range(n):
        k0 = int((part == 0).sum())
        if k0 == n1:
            break
        frm = 0 if k0 > n1 else 1
        c0 = sub @ (part == 0).astype(np.float64)
        c1 = sub @ (part == 1).astype(np.float64)
        gain = (c1 - c0) if frm == 0 else (c0 - c1)
        cand = np.flatnonzero(part == frm)
        m = abs(k0 - n1)
        mv = cand[np.argsort(-gain[cand])[:m]]
        part[mv] = 1 - frm
    return part


#: :func:`refine_swaps` gives up when the first ``max(REFINE_CHECK_CORES, n / 32)`` cores of its first pass
#: lower the cost by less than this fraction: swaps cannot improve near-uniform (all-to-all) traffic, and on
#: thousands of cores a pass costs seconds. Traffic with structure gains far more there and refines as before.
REFINE_MIN_GAIN = 5e-4
REFINE_CHECK_CORES = 128


def refine_swaps(sym: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, slot_of: np.ndarray, n_slots: int, seed: int,
                 deadline: float, max_passes: int = 30, n_cand: int = 24, cost: HopCost | None = None) -> np.ndarray:
    """Pairwise swaps (core<->core or core<->empty slot) that lower Σ traffic × hops, until no gain (or
    too little early in the first pass: :data:`REFINE_MIN_GAIN`). ``cost``: the hop cost of the directed traffic
    (else half that of ``sym``, the same number)."""
    if cost is None:
        half = HopCost(sym, X, Y)

        def cost(so: np.ndarray) -> float:
            return 0.5 * half(so)  # each pair appears twice in sym
    slot_of = slot_of.copy()
    n = len(slot_of)
    occ = np.full(n_slots, -1, dtype=np.int64)
    occ[slot_of] = np.arange(n)
    rng = np.random.default_rng(seed)
    indptr, indices, data = sym.indptr, sym.indices, sym.data
    all_slots = np.arange(n_slots)
    check_at = max(REFINE_CHECK_CORES, n // 32)
    for pass_no in range(max_passes):
        improved = 0.0
        for visited, a in enumerate(rng.permutation(n)):
            if time.perf_counter() > deadline:
                return slot_of
            # the cost now plus what this pass removed: the cost before it
            if pass_no == 0 and visited == check_at and improved < REFINE_MIN_GAIN * (cost(slot_of) + improved):
                return slot_of
            lo, hi = indptr[a], indptr[a + 1]
            if hi == lo:
                continue
            nb, w = indices[lo:hi], data[lo:hi]
            pa = slot_of[a]
            nbx, nby = X[slot_of[nb]], Y[slot_of[nb]]
            if n_slots <= 64:
                cand = all_slots
            else:
                cx = np.median(np.repeat(nbx, 1)) if len(nb) < 3 else _wmedian(nbx, w)
                cy = np.median(np.repeat(nby, 1)) if len(nb) < 3 else _wmedian(nby, w)
                dist = np.abs(X - cx) + np.abs(Y - cy)
                cand = np.argpartition(dist, min(n_cand, n_slots - 1))[:n_cand]
            cand = cand[cand != pa]
            if len(cand) == 0:
                continue
            h_old = np.abs(X[pa] - nbx) + np.abs(Y[pa] - nby)
            h_new = np.abs(X[cand][:, None] - nbx[None]) + np.abs(Y[cand][:, None] - nby[None])
            delta = (h_new - h_old[None]) @ w
            # the displaced core b moves to pa
            for j, p in enumerate(cand):
                b = occ[p]
                if b < 0:
                    continue
                blo, bhi = indptr[b], indptr[b + 1]
                if bhi == blo:
                    continue
                nbb, wb = indices[blo:bhi], data[blo:bhi]
                keep = nbb != a
                nbb, wb_k = nbb[keep], wb[keep]
                sb = slot_of[nbb]
                hb_old = np.abs(X[p] - X[sb]) + np.abs(Y[p] - Y[sb])
                hb_new = np.abs(X[pa] - X[sb]) + np.abs(Y[pa] - Y[sb])
                delta[j] += (hb_new - hb_old) @ wb_k
                # a's term for c=b counted h(p, p)=0 vs h(pa, p); the pair's distance does not change
                wab = wb[~keep].sum()
                delta[j] += wab * (abs(X[pa] - X[p]) + abs(Y[pa] - Y[p]))
            j = int(np.argmin(delta))
            if delta[j] < -1e-12:
                p = cand[j]
                b = occ[p]
                occ[pa], occ[p] = b, a
                slot_of[a] = p
                if b >= 0:
                    slot_of[b] = pa
                improved -= delta[j]
        if improved <= 1e-9:
            break
    return slot_of


def _wmedian(v: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(v)
    c = np.cumsum(w[o])
    return float(v[o][np.searchsorted(c, c[-1] / 2)])


def linear_layout(tiles: np.ndarray, units_per_chip: int | None) -> dict[str, list]:
    """Per core: ``chip``, ``x``, ``y``, ``sub``, ``X``, ``Y``, ``tiles`` for cores (each ``tiles``
    units wide) laid out in order, ``units_per_chip`` to a chip (one chip when None): no mesh model."""
    n_cores = len(tiles)
    idx = np.cumsum(np.r_[0, tiles[:-1]])
    chip_of = (idx // units_per_chip).tolist() if units_per_chip else [0] * n_cores
    return {"chip": chip_of, "x": (idx % units_per_chip if units_per_chip else idx).tolist(), "y": [0] * n_cores,
            "sub": [0] * n_cores, "X": idx.tolist(), "Y": [0] * n_cores, "tiles": tiles.tolist()}
