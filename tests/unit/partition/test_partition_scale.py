"""The partitioner at scale: compiled connectivity counts equal numpy's, generated (never held) synapses
give the same mapping as their materialised CSR, link loads equal a per-flow sum, and the placement's
early stop leaves small problems alone."""

import importlib

import numpy as np
import pytest
import scipy.sparse as sp

from neuromap import targets
from neuromap.netlist import GeneratedWeights, Netlist, Population, Projection
from neuromap.neurons import kernels
from neuromap.partition import partition, split, synthetic
from neuromap.partition.route import link_loads

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


@pytest.mark.parametrize("window", [0, 2000])
def test_a_generated_network_maps_like_its_materialised_csr(window):
    gen = synthetic.generated_recurrent(60_000, 40, seed=1, window=window)
    a = partition(gen, "spinnaker2", "metis")
    b = partition(_materialised(gen), "spinnaker2", "metis")
    assert a.n_cores == b.n_cores and a.slices == b.slices
    assert a.metrics["hop_traffic"] == b.metrics["hop_traffic"] and a.feasible


def test_link_loads_equal_the_sum_over_each_flows_route():
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
    uniform = sp.csr_matrix(np.ones((600, 600)) - np.eye(600))  # all-to-all: no placement is better
    mesh = place_mod.Mesh.for_target(tgt, 600)
    s = mesh.slots()
    X, Y = s["X"].astype(np.int64), s["Y"].astype(np.int64)
    sym = (uniform + uniform.T).tocsr()
    out = place_mod.refine_swaps(sym, X, Y, np.arange(600), len(X), 0, deadline=float("inf"))
    assert len(calls) == 1  # one check, after max(REFINE_CHECK_CORES, n / 32) cores, then it stopped
    assert sorted(out) == sorted(set(out)) and len(out) == 600
