"""Generated netlists for tests and benchmarks: MLPs, conv nets, an LSM reservoir, huge sparse nets.

All synapse structure is built with vectorised NumPy into dense / CSR arrays (never per-synapse
Python objects), so the 1M-neuron / 100M-synapse net builds in seconds; :func:`generated_recurrent`
holds none at all (:class:`FixedFanIn`: the synapses are generated on the fly from a seed), so a
10M-neuron / 1G-synapse net costs its populations only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from neuromap import counter_rng
from neuromap.netlist import ConvGeometry, GeneratedWeights, Netlist, Population, Projection


def mlp(sizes: list[int], seed: int = 0, name: str = "mlp") -> Netlist:
    """Feed-forward ``sizes[0] -> ... -> sizes[-1]`` with dense weights (input population first)."""
    rng = np.random.default_rng(seed)
    net = Netlist(name)
    prev = net.add_population(Population("in", "input", (sizes[0],)))
    for i, n in enumerate(sizes[1:]):
        pop = net.add_population(Population(f"l{i}", "lif", (n,)))
        w = rng.normal(0, 1 / np.sqrt(prev.size), (n, prev.size)).astype(np.float32)
        net.add_projection(Projection(f"w{i}", prev.name, pop.name, "dense", w))
        prev = pop
    return net


def conv_net(in_shape=(2, 32, 32), channels=(16, 32), n_out: int = 10, seed: int = 0, name: str = "convnet") -> Netlist:
    """Conv(3x3, stride 1, pad 1) -> Conv(3x3, stride 2, pad 1) -> ... -> dense readout."""
    rng = np.random.default_rng(seed)
    net = Netlist(name)
    prev = net.add_population(Population("in", "input", in_shape))
    shape = tuple(in_shape)
    for i, c in enumerate(channels):
        stride = 1 if i == 0 else 2
        h = (shape[1] + 2 - 3) // stride + 1
        w = (shape[2] + 2 - 3) // stride + 1
        out = (c, h, w)
        pop = net.add_population(Population(f"conv{i}", "lif", out))
        geo = ConvGeometry(shape, out, (3, 3), (stride, stride), (1, 1))
        k = rng.normal(0, 0.3, (c, shape[0], 3, 3)).astype(np.float32)
        net.add_projection(Projection(f"k{i}", prev.name, pop.name, "conv", k, conv=geo))
        prev, shape = pop, out
    pop = net.add_population(Population("out", "lif", (n_out,)))
    net.add_projection(Projection("fc", prev.name, "out", "dense",
                                  rng.normal(0, 0.05, (n_out, prev.size)).astype(np.float32)))
    return net


def lsm(shape=(20, 20, 25), frac_exc: float = 0.8, lam: float = 2.0, n_in: int = 100, seed: int = 0,
        name: str = "lsm") -> Netlist:
    """Maass-style liquid: neurons on a 3-D grid, randomly split into excitatory / inhibitory
    populations (as an LSM netlist lists them), connection probability ``C * exp(-(D/lam)^2)``
    with C = 0.3 (EE), 0.2 (EI), 0.4 (IE), 0.1 (II) (Maass et al. 2002), plus a sparse input."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    coords = np.stack(np.unravel_index(np.arange(n), shape), axis=1).astype(np.float64)
    perm = rng.permutation(n)
    n_e = int(round(frac_exc * n))
    idx = {"exc": np.sort(perm[:n_e]), "inh": np.sort(perm[n_e:])}
    # candidate pairs within a ball of radius r (P < 0.4 * 1e-2 beyond): offsets on the grid
    r = lam * np.sqrt(np.log(100))
    ri = int(np.ceil(r))
    offs = np.stack(np.meshgrid(*[np.arange(-ri, ri + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    d2 = (offs ** 2).sum(1)
    sel = (d2 > 0) & (d2 <= r * r)
    offs, d2 = offs[sel], d2[sel]
    cmap = {("exc", "exc"): 0.3, ("exc", "inh"): 0.2, ("inh", "exc"): 0.4, ("inh", "inh"): 0.1}
    net = Netlist(name)
    for k in ("exc", "inh"):
        net.add_population(Population(k, "lif", (len(idx[k]),), meta={"positions": coords[idx[k]]}))
    net.add_population(Population("in", "input", (n_in,)))
    pos_of = np.full(n, -1)
    kind_of = np.zeros(n, dtype=np.int64)
    for j, k in enumerate(("exc", "inh")):
        pos_of[idx[k]] = np.arange(len(idx[k]))
        kind_of[idx[k]] = j
    shape_a = np.asarray(shape)
    src_all = np.repeat(np.arange(n), len(offs))
    tgt_c = coords[src_all].astype(np.int64) + np.tile(offs, (n, 1))
    ok = np.all((tgt_c >= 0) & (tgt_c < shape_a), axis=1)
    src_all = src_all[ok]
    dst_all = np.ravel_multi_index(tgt_c[ok].T, shape)
    dd2 = np.tile(d2, n)[ok]
    for a, ka in enumerate(("exc", "inh")):
        for b, kb in enumerate(("exc", "inh")):
            m = (kind_of[src_all] == a) & (kind_of[dst_all] == b)
            p = cmap[(ka, kb)] * np.exp(-dd2[m] / lam ** 2)
            keep = rng.random(len(p)) < p
            s, d = pos_of[src_all[m][keep]], pos_of[dst_all[m][keep]]
            sign = 1.0 if ka == "exc" else -1.0
            w = sp.csr_matrix((sign * rng.uniform(0.1, 1, len(s)).astype(np.float32), (d, s)),
                              shape=(len(idx[kb]), len(idx[ka])))
            net.add_projection(Projection(f"{ka}->{kb}", ka, kb, "sparse", w))
    # input: each input neuron projects to 30 % of the excitatory neurons in a random plane
    for k in ("exc",):
        m = len(idx[k])
        nnz = int(0.05 * m) * n_in
        rows = rng.integers(0, m, nnz)
        cols = np.repeat(np.arange(n_in), nnz // n_in)
        w = sp.csr_matrix((np.ones(nnz, dtype=np.float32), (rows, cols)), shape=(m, n_in))
        net.add_projection(Projection(f"in->{k}", "in", k, "sparse", w))
    return net


def random_recurrent(n: int = 1_000_000, k: int = 100, seed: int = 0, name: str = "random") -> Netlist:
    """One population of ``n`` LIF neurons, each receiving ``k`` synapses from uniformly random
    sources (CSR built directly: ``indptr = arange * k``; duplicate pairs, ~k^2/2n per row, kept)."""
    rng = np.random.default_rng(seed)
    net = Netlist(name)
    net.add_population(Population("pop", "lif", (n,)))
    indices = rng.integers(0, n, n * k, dtype=np.int32)
    indptr = np.arange(0, n * k + 1, k, dtype=np.int64)
    data = np.ones(n * k, dtype=np.float32)
    w = sp.csr_matrix((data, indices, indptr), shape=(n, n))
    net.add_projection(Projection("rec", "pop", "pop", "sparse", w))
    return net


@dataclass(eq=False)
class FixedFanIn(GeneratedWeights):
    """``k`` synapses onto each of ``n_post`` neurons from ``n_pre`` sources, generated from ``seed``: source
    ``j`` of post neuron ``r`` comes from the counter-based hash of ``(seed, r, j)``
    (:mod:`neuromap.counter_rng`), uniform over the sources (``window = 0``) or uniform within ``window``
    sources centred on ``r``'s relative position ``r * n_pre // n_post`` (wrapping around: a ring with local
    connectivity). Duplicate pairs (about ``k^2 / 2 window`` per row) are kept, as in :func:`random_recurrent`.
    The compiled connectivity counts generate the same sources (``neuromap.partition.split``)."""

    n_post: int
    n_pre: int
    k: int
    seed: int = 0
    window: int = 0

    def __post_init__(self) -> None:
        for name in ("n_post", "n_pre", "k", "window"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < (1 if name in ("n_post", "n_pre") else 0):
                raise ValueError(f"FixedFanIn: {name} must be a whole number >= {1 if name in ('n_post', 'n_pre') else 0},"
                                 f" got {v!r}")
        if self.window > self.n_pre:
            raise ValueError(f"FixedFanIn: window {self.window} exceeds the {self.n_pre} sources")

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.n_post), int(self.n_pre)

    @property
    def nnz(self) -> int:
        return int(self.n_post) * int(self.k)

    def row_counts(self) -> np.ndarray:
        return np.full(self.n_post, self.k, dtype=np.int64)

    def sources(self, post: np.ndarray) -> np.ndarray:
        """The sources ``[len(post), k]`` (int64) of the post neurons ``post``."""
        post = np.asarray(post, dtype=np.int64)
        base = counter_rng.stream_base(post.astype(np.uint64), self.seed)
        j = np.arange(1, self.k + 1, dtype=np.uint64)
        u = counter_rng.unit(counter_rng.mix64(base[:, None] + j[None, :] * counter_rng.GOLDEN))
        if self.window == 0:
            return np.minimum((u * float(self.n_pre)).astype(np.int64), self.n_pre - 1)
        center = post * self.n_pre // self.n_post
        off = (u * float(self.window)).astype(np.int64) - self.window // 2
        return np.mod(center[:, None] + off, self.n_pre)

    def rows(self, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        post = np.asarray(post, dtype=np.int64)
        return np.arange(post.size + 1, dtype=np.int64) * self.k, self.sources(post).reshape(-1)


def generated_recurrent(n: int = 1_000_000, k: int = 100, seed: int = 0, window: int = 0,
                        name: str = "generated") -> Netlist:
    """One population of ``n`` LIF neurons with a recurrent :class:`FixedFanIn` projection of ``k`` synapses
    per neuron (``window = 0``: uniform sources, the connectivity of :func:`random_recurrent`; else local)
    whose synapses are generated on the fly: the netlist holds none of them."""
    net = Netlist(name)
    net.add_population(Population("pop", "lif", (n,)))
    net.add_projection(Projection("rec", "pop", "pop", "sparse", FixedFanIn(n, n, k, seed, window)))
    return net
