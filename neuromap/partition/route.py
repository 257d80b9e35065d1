"""Dimension-order (X then Y) routes on the global mesh, per-link load and router-table use.

Loads are unicast-equivalent: each (source core, destination core) flow adds its packets per step
to every link on its X-then-Y path. Multicast trees share links, so real loads are at most these.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: Flows per block of :func:`flow_blocks`: the temporaries of a pass over the flows are a few tens of bytes per
#: flow of one block (a uniformly random network's core traffic matrix is dense: millions of flows).
FLOWS_PER_BLOCK = 1 << 20


def row_blocks(indptr: np.ndarray, flows: int | None = None) -> np.ndarray:
    """Row boundaries ``[0, ..., n_rows]`` of blocks of whole rows of a CSR matrix, about ``flows`` nonzeros
    each (default :data:`FLOWS_PER_BLOCK`)."""
    starts = np.searchsorted(indptr, np.arange(0, indptr[-1], flows or FLOWS_PER_BLOCK), side="right") - 1
    return np.unique(np.r_[0, starts, len(indptr) - 1]).astype(np.int64)


def flow_blocks(traffic: sp.spmatrix, flows: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(source core, destination core, packets per step)`` of the nonzero flows of ``traffic``, in blocks
    of whole rows of about ``flows`` flows (default :data:`FLOWS_PER_BLOCK`; views of the CSR arrays, the
    rows int32)."""
    t = traffic if sp.isspmatrix_csr(traffic) else sp.csr_matrix(traffic)
    bounds = row_blocks(t.indptr, flows)
    for r0, r1 in zip(bounds[:-1], bounds[1:]):
        lo, hi = t.indptr[r0], t.indptr[r1]
        yield (np.repeat(np.arange(r0, r1, dtype=np.int32), np.diff(t.indptr[r0:r1 + 1])), t.indices[lo:hi],
               t.data[lo:hi])


@dataclass
class LinkLoads:
    """Directed link loads (packets per time step) on a ``GX x GY`` mesh.

    ``east[y, x]``: link (x, y) -> (x+1, y); ``west[y, x]``: (x, y) -> (x-1, y);
    ``north[x, y]``: (x, y) -> (x, y+1); ``south[x, y]``: (x, y) -> (x, y-1)."""

    east: np.ndarray
    west: np.ndarray
    north: np.ndarray
    south: np.ndarray
    chip_w: int
    chip_h: int

    def links(self) -> list[tuple[tuple[int, int], tuple[int, int], float, bool]]:
        """All loaded links as ((x0, y0), (x1, y1), load, off_chip)."""
        out = []
        for (arr, dx, dy, xy) in ((self.east, 1, 0, "yx"), (self.west, -1, 0, "yx"),
                                  (self.north, 0, 1, "xy"), (self.south, 0, -1, "xy")):
            for i, j in zip(*np.nonzero(arr)):
                x, y = (j, i) if xy == "yx" else (i, j)
                x1, y1 = x + dx, y + dy
                off = (x // self.chip_w != x1 // self.chip_w) or (y // self.chip_h != y1 // self.chip_h)
                out.append(((int(x), int(y)), (int(x1), int(y1)), float(arr[i, j]), bool(off)))
        return out

    def max_load(self, off_chip: bool | None = None) -> float:
        loads = [ld for _, _, ld, off in self.links() if off_chip is None or off == off_chip]
        return max(loads, default=0.0)


def link_loads(traffic: sp.csr_matrix, X: np.ndarray, Y: np.ndarray, slot_of: np.ndarray, shape: tuple[int, int],
               chip_w: int, chip_h: int) -> LinkLoads:
    gx, gy = shape
    router = (X[slot_of] * gy + Y[slot_of]).astype(np.int32)  # per core
    # aggregate flows between routers first (sparse sums block by block: O(flows + routers), no sort of the flows)
    agg = sp.csr_matrix((gx * gy, gx * gy))
    for src, dst, val in flow_blocks(traffic):
        agg = agg + sp.csr_matrix((val, (router[src], router[dst])), shape=agg.shape)
    agg = agg.tocoo()
    x1, y1, x2, y2, v = agg.row // gy, agg.row % gy, agg.col // gy, agg.col % gy, agg.data
    east = np.zeros((gy, gx + 1))
    west = np.zeros((gy, gx + 2))
    north = np.zeros((gx, gy + 1))
    south = np.zeros((gx, gy + 2))
    m = x2 > x1
    np.add.at(east, (y1[m], x1[m]), v[m])
    np.add.at(east, (y1[m], x2[m]), -v[m])
    m = x2 < x1
    np.add.at(west, (y1[m], x2[m] + 1), v[m])
    np.add.at(west, (y1[m], x1[m] + 1), -v[m])
    m = y2 > y1
    np.add.at(north, (x2[m], y1[m]), v[m])
    np.add.at(north, (x2[m], y2[m]), -v[m])
    m = y2 < y1
    np.add.at(south, (x2[m], y2[m] + 1), v[m])
    np.add.at(south, (x2[m], y1[m] + 1), -v[m])
    east = np.cumsum(east, axis=1)[:, :gx]
    west = np.cumsum(west, axis=1)[:, :gx]
    north = np.cumsum(north, axis=1)[:, :gy]
    south = np.cumsum(south, axis=1)[:, :gy]
    for a in (east, west, north, south):
        a[np.abs(a) < 1e-12] = 0.0
    return LinkLoads(east, west, north, south, chip_w, chip_h)


def router_entries(traffic: sp.csr_matrix, chip_of_core: np.ndarray, chip_grid: tuple[int, int], n_chips: int) -> np.ndarray:
    """Multicast routing entries per chip: one per source core whose X-then-Y chip-level route starts,
    passes or ends on that chip (no key merging, no default routing: an upper bound)."""
    # distinct (source core, destination chip) pairs: sparse sums over blocks of flows, no sort of the flows
    pair = sp.csr_matrix((traffic.shape[0], n_chips), dtype=np.float32)
    for src, dst, _ in flow_blocks(traffic):
        pair = pair + sp.csr_matrix((np.ones(len(src), dtype=np.float32), (src, chip_of_core[dst].astype(np.int32))),
                                    shape=pair.shape)
    pair = pair.tocoo()
    src, dchip = pair.row.astype(np.int64), pair.col.astype(np.int64)
    schip = chip_of_core[src]
    cw = chip_grid[0]
    sx, sy, dx, dy = schip % cw, schip // cw, dchip % cw, dchip // cw
    rows = [np.stack([src, schip])]
    # walk X then Y, one chip hop at a time
    x, y = sx.copy(), sy.copy()
    while True:
        mx = x != dx
        my = (~mx) & (y != dy)
        if not (mx.any() or my.any()):
            break
        x = np.where(mx, x + np.sign(dx - x), x)
        y = np.where(my, y + np.sign(dy - y), y)
        act = mx | my
        rows.append(np.stack([src[act], (y * cw + x)[act]]))
    allp = np.concatenate(rows, axis=1)
    uniq = np.unique(allp[0] * n_chips + allp[1])
    return np.bincount(uniq % n_chips, minlength=n_chips)
