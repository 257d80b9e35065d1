"""The partitioner at scale: compiled connectivity counts equal numpy's and hold nothing per synapse,
generated (never held) synapses give the same mapping as their materialised CSR, link loads equal a
per-flow sum, the passes over blocks of flows equal the whole-matrix formulas, and the placement's early
stop leaves small problems alone."""

import importlib
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from neuromap import targets
from neuromap.memory import release_free_pages
from neuromap.netlist import GeneratedWeights, Netlist, Population, Projection
from neuromap.neurons import kernels
from neuromap.partition import partition, route, split, synthetic
from neuromap.partition.partition import symmetric_graph
from neuromap.partition.route import link_loads, router_entries

place_mod = importlib.import_module("neuromap.partition.place")


@pytest.fixture
def numpy_only(monkeypatch):
    """The partitioner without the compiled kernels (as with NEUROMAP_NO_CPP=1)."""
    monkeypatch.setattr(kernels, "load", lambda: None)


def _materialised(net: Netlist) -> Netlist:
    out = Netlist("materialised")
    for p in net.populations:
        out.add_population(Population(p.name, p.kind, p.shape))
    for pr in net.projections:
        w = pr.weight.tocsr() if isinstance(pr.weight, GeneratedWeights) else pr.weight
        out.add_projection(Projection(pr.name, pr.src, pr.dst, pr.kind, w))
    return out


def _counts(net, proj, dst_groups, n_dst, src_groups, n_src):
    return split.distinct_sources(net, proj, dst_groups, n_dst, src_groups, n_src).toarray()


@pytest.mark.parametrize("window", [0, 300])
def test_compiled_counts_equal_numpy_for_held_and_generated_synapses(window, monkeypatch):
    assert kernels.ensure_built()["available"], "the compiled kernels must build in the test environment"
    rng = np.random.default_rng(0)
    gen = synthetic.generated_recurrent(3000, 20, seed=3, window=window)
    nets = [gen, _materialised(gen), synthetic.lsm(shape=(8, 8, 8), seed=1), synthetic.mlp([30, 40, 5])]
    for net in nets:
        for proj in net.projections:
            src, dst = net.population(proj.src), net.population(proj.dst)
            for dst_groups in (np.repeat(np.arange(7), -(-dst.size // 7))[:dst.size], rng.integers(0, 7, dst.size)):
                src_groups = rng.integers(0, 5, src.size)
                got = _counts(net, proj, dst_groups, 7, src_groups, 5)
                with monkeypatch.context() as m:
                    m.setattr(kernels, "load", lambda: None)
                    ref = _counts(net, proj, dst_groups, 7, src_groups, 5)
                assert got.sum() > 0 and np.array_equal(got, ref), proj.name
    # the generated projection's counts are those of its materialised matrix (the kernel generates the same synapses)
    dst_groups, src_groups = np.arange(3000) // 250, rng.integers(0, 9, 3000)
    held = _materialised(gen)
    assert np.array_equal(_counts(gen, gen.projections[0], dst_groups, 12, src_groups, 9),
                          _counts(held, held.projections[0], dst_groups, 12, src_groups, 9))


def test_generated_weights_behave_like_a_sparse_projection_without_being_held():
    w = synthetic.FixedFanIn(1000, 800, 12, seed=5, window=100)
    proj = synthetic.generated_recurrent(1000, 12, seed=5, window=100).projections[0]
    assert proj.weight.shape == (1000, 1000) and proj.synapses == 12_000
    csr = w.tocsr()
    assert csr.shape == (1000, 800) and csr.nnz == 12_000 and np.array_equal(np.diff(csr.indptr), w.row_counts())
    assert np.array_equal(w.col_counts(chunk=128), np.bincount(csr.indices, minlength=800))
    # local connectivity: every source within the window around the post neuron's relative position
    centre = np.arange(1000) * 800 // 1000
    dist = np.abs(((w.sources(np.arange(1000)) - centre[:, None]) + 400) % 800 - 400)
    assert dist.max() <= 50 and np.array_equal(w.sources(np.arange(10, 20)), w.sources(np.arange(1000))[10:20])
    assert np.array_equal(proj.fan_in(), np.full(1000, 12)) and proj.weight_counts() == (10**6, 10**6 - 12_000)
    with pytest.raises(MemoryError, match="raise max_nnz"):
        synthetic.FixedFanIn(10**6, 10**6, 300).tocsr()
    with pytest.raises(ValueError, match="window 900 exceeds"):
        synthetic.FixedFanIn(10, 800, 2, window=900)
    with pytest.raises(ValueError, match="generated weights need kind='sparse'"):
        Projection("p", "a", "b", "dense", w)


@pytest.mark.parametrize("window", [0, 500])
def test_a_generated_network_maps_like_its_materialised_csr(window):
    gen = synthetic.generated_recurrent(3_000, 40, seed=1, window=window)
    # a budget the refinement never reaches: the placements do not depend on the machine's load
    a = partition(gen, "spinnaker2", "metis", time_budget=1e6)
    b = partition(_materialised(gen), "spinnaker2", "metis", time_budget=1e6)
    assert a.n_cores == b.n_cores and a.slices == b.slices
    assert a.metrics["hop_traffic"] == b.metrics["hop_traffic"] and a.feasible


@pytest.mark.parametrize("flows_per_block", [7, 1 << 20])
def test_link_loads_equal_the_sum_over_each_flows_route(flows_per_block, monkeypatch):
    monkeypatch.setattr(route, "FLOWS_PER_BLOCK", flows_per_block)
    rng = np.random.default_rng(2)
    n, gx, gy = 60, 6, 5
    traffic = sp.random(n, n, density=0.2, random_state=3, format="csr") * 10
    X, Y = rng.integers(0, gx, n), rng.integers(0, gy, n)
    slot_of = np.arange(n)
    got = link_loads(traffic, X, Y, slot_of, (gx, gy), 3, 5)
    east, west = np.zeros((gy, gx)), np.zeros((gy, gx))
    north, south = np.zeros((gx, gy)), np.zeros((gx, gy))
    t = traffic.tocoo()
    for a, b, v in zip(t.row, t.col, t.data):  # X then Y, one link at a time
        x, y = X[a], Y[a]
        while x != X[b]:
            (east if X[b] > x else west)[y, x] += v
            x += 1 if X[b] > x else -1
        while y != Y[b]:
            (north if Y[b] > y else south)[x, y] += v
            y += 1 if Y[b] > y else -1
    for name, ref in (("east", east), ("west", west), ("north", north), ("south", south)):
        np.testing.assert_allclose(getattr(got, name), ref, atol=1e-9, err_msg=name)


def test_refinement_gives_up_on_uniform_traffic_and_leaves_small_problems_alone(monkeypatch):
    tgt = targets.load("spinnaker2")
    rng = np.random.default_rng(0)
    small = sp.csr_matrix(rng.random((40, 40)) * (rng.random((40, 40)) < 0.1))
    mesh = place_mod.Mesh.for_target(tgt, 40)
    a = place_mod.place(small, mesh, "optimised", 0, 30.0)
    monkeypatch.setattr(place_mod, "REFINE_MIN_GAIN", 0.0)  # never give up: the plain refinement
    assert np.array_equal(a, place_mod.place(small, mesh, "optimised", 0, 30.0))
    monkeypatch.undo()
    calls = []
    real = place_mod.HopCost.__call__
    monkeypatch.setattr(place_mod.HopCost, "__call__", lambda self, so: calls.append(1) or real(self, so))
    uniform = sp.csr_matrix(np.ones((300, 300)) - np.eye(300))  # all-to-all: no placement is better
    mesh = place_mod.Mesh.for_target(tgt, 300)
    s = mesh.slots()
    X, Y = s["X"].astype(np.int64), s["Y"].astype(np.int64)
    sym = (uniform + uniform.T).tocsr()
    out = place_mod.refine_swaps(sym, X, Y, np.arange(300), len(X), 0, deadline=float("inf"))
    assert len(calls) == 1  # one check, after max(REFINE_CHECK_CORES, n / 32) cores, then it stopped
    assert sorted(out) == sorted(set(out)) and len(out) == 300


def _brute_counts(net, proj, dst_groups, n_dst, src_groups, n_src):
    w = proj.weight.tocsr() if isinstance(proj.weight, GeneratedWeights) else sp.csr_matrix(proj.weight)
    out = np.zeros((n_src, n_dst))
    for d in range(n_dst):
        srcs = np.unique(w[np.flatnonzero(dst_groups == d)].indices)
        np.add.at(out[:, d], src_groups[srcs], 1)
    return out


@pytest.mark.parametrize("compiled", [True, False])
def test_connectivity_counts_equal_a_brute_force_count_with_empty_destination_groups(compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(kernels, "load", lambda: None)
    net = synthetic.generated_recurrent(500, 9, seed=4, window=120)
    proj = net.projections[0]
    rng = np.random.default_rng(1)
    dst_groups = rng.choice([0, 2, 3, 7], 500)  # groups 1, 4, 5, 6 and 8 hold no neuron
    src_groups = rng.integers(0, 6, 500)
    got = split.distinct_sources(net, proj, dst_groups, 9, src_groups, 6)
    assert got.format == "csr" and got.has_sorted_indices and got.dtype == np.float64
    assert np.array_equal(got.toarray(), _brute_counts(net, proj, dst_groups, 9, src_groups, 6))
    assert got[:, [1, 4, 5, 6, 8]].nnz == 0


def test_connectivity_counts_hold_no_array_per_synapse():
    """500,000 generated synapses counted over 10 x 10 groups: the largest Python-side allocation is per
    neuron (8 bytes x 5,000), far below one byte per synapse (the kernel streams the synapses)."""
    assert kernels.ensure_built()["available"], "the compiled kernels must build in the test environment"
    net = synthetic.generated_recurrent(5000, 100, seed=0)
    groups = np.arange(5000) // 500
    split.distinct_sources(net, net.projections[0], groups, 10, groups, 10)  # warm: op lookup, caches
    tracemalloc.start()
    try:
        c = split.distinct_sources(net, net.projections[0], groups, 10, groups, 10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert c.sum() > 0 and peak < 500_000 * 0.5, peak


@pytest.mark.parametrize("flows_per_block", [3, 50, 1 << 20])
def test_block_passes_over_the_flows_equal_the_whole_matrix_formulas(flows_per_block, monkeypatch):
    """symmetric_graph, the hop cost, router entries and off-chip traffic computed block by block equal
    the same quantities computed on the whole matrix at once (exactly, or to rounding for sums)."""
    monkeypatch.setattr(route, "FLOWS_PER_BLOCK", flows_per_block)
    rng = np.random.default_rng(5)
    n = 80
    t = sp.random(n, n, density=0.3, random_state=6, format="csr") * 4
    t.data[::11] = 0.0  # explicit zeros are dropped from the undirected graph
    ref = (t + t.T).tocsr()
    ref.setdiag(0)
    ref.eliminate_zeros()
    ref.sort_indices()
    got = symmetric_graph(t)
    assert np.array_equal(got.indptr, ref.indptr) and np.array_equal(got.indices, ref.indices)
    assert np.array_equal(got.data, ref.data)
    X, Y, slot_of = rng.integers(0, 9, n), rng.integers(0, 7, n), rng.permutation(n)
    c = t.tocoo()
    hops = np.abs(X[slot_of][c.row] - X[slot_of][c.col]) + np.abs(Y[slot_of][c.row] - Y[slot_of][c.col])
    assert place_mod.hop_cost(t, X, Y, slot_of) == pytest.approx(float((c.data * hops).sum()), rel=1e-12)
    chip = rng.integers(0, 6, n)
    entries = {k: set() for k in range(6)}  # chip -> source cores with an entry there
    for a, b in zip(c.row, c.col):  # X then Y over a 3 x 2 grid of chips, one chip at a time
        x, y, dx, dy = chip[a] % 3, chip[a] // 3, chip[b] % 3, chip[b] // 3
        entries[chip[a]].add(a)
        while (x, y) != (dx, dy):
            x, y = (x + np.sign(dx - x), y) if x != dx else (x, y + np.sign(dy - y))
            entries[y * 3 + x].add(a)
    assert np.array_equal(router_entries(t, chip, (3, 2), 6), [len(entries[k]) for k in range(6)])


def test_release_free_pages_says_whether_it_could():
    assert isinstance(release_free_pages(), bool)
