"""Liquid state machine: connectivity statistics, Dale's law, determinism, the step semantics of
neuromap's neuron core, sparse scale, readout, encodings and bad input."""

import math
import time

import numpy as np
import pytest
import torch

from neuromap.data import moving_bars
from neuromap.networks.lsm import (
    MAASS_C,
    LiquidStateMachine,
    Reservoir,
    column_scan_encode,
    maass_connectivity,
    random_connectivity,
    time_binned_counts,
)
from neuromap.neurons import CubaLIFParams, LIFParams, Surrogate, initial_state, neuron_step


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # step loops of small ops
    yield
    torch.set_num_threads(n)


def test_connection_probability_follows_distance_law():
    grid, lam = (12, 12, 8), 2.0
    con = maass_connectivity(grid, lam=lam, seed=0)
    pre, post, w = con.pre_post()
    pos = con.positions
    inh = con.inhibitory
    assert abs(inh.mean() - 0.2) < 0.01
    # Dale's law: the sign of every outgoing weight is the presynaptic type's
    assert np.all(w[inh[pre]] < 0) and np.all(w[~inh[pre]] > 0)
    assert not np.any(pre == post)
    # empirical P(connect | types, distance) against C exp(-(D/lam)^2), over all ordered pairs
    n = len(pos)
    rng = np.random.default_rng(1)
    a = rng.integers(0, n, 400)
    d_all = np.sqrt(((pos[a][:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    connected = set(zip(pre.tolist(), post.tolist()))
    for key, (ti, tj) in {"EE": (False, False), "EI": (False, True), "IE": (True, False)}.items():
        for d_lo, d_hi in ((0.5, 1.5), (1.5, 2.5)):
            trials = hits = 0
            expected = 0.0
            for row, i in enumerate(a):
                if inh[i] != ti:
                    continue
                js = np.nonzero((inh == tj) & (d_all[row] > d_lo) & (d_all[row] <= d_hi))[0]
                trials += len(js)
                hits += sum((i, j) in connected for j in js)
                expected += (MAASS_C[key] * np.exp(-((d_all[row, js] / lam) ** 2))).sum()
            if trials < 200:
                continue
            sd = math.sqrt(expected * (1 - expected / trials))
            assert abs(hits - expected) < 4 * sd + 1, (key, d_lo, hits, expected)


def test_determinism_and_fixed_weights():
    con1, con2 = maass_connectivity((6, 5, 4), seed=3), maass_connectivity((6, 5, 4), seed=3)
    assert (con1.weights != con2.weights).nnz == 0
    res1 = Reservoir(4, con1, LIFParams(tau_mem=20e-3), input_weight=1.5, seed=2)
    res2 = Reservoir(4, con2, LIFParams(tau_mem=20e-3), input_weight=1.5, seed=2)
    u = (torch.rand(50, 3, 4) < 0.3).float()
    s1, s2 = res1(u), res2(u)
    assert torch.equal(s1, s2) and s1.sum() > 0
    assert all(not p.requires_grad for p in res1.parameters())
    assert res1.w_rec.layout == torch.sparse_csr
    assert res1.w_rec._nnz() == con1.n_synapses


@pytest.mark.parametrize(
    "params",
    [
        CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, decay_input=True, reset="zero"),
        LIFParams(tau_mem=15e-3, reset="subtract", v_leak=0.1, threshold_rule=">="),
        CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, integrator="euler", reset="subtract", refractory_steps=2),
    ],
)
def test_reservoir_step_is_neuron_step_with_recurrent_input(params):
    con = maass_connectivity((10, 5, 4), seed=0)
    res = Reservoir(8, con, params, input_weight=0.7, rec_scale=0.01, bias=0.02, seed=1)
    u = (torch.rand(120, 2, 8, generator=torch.Generator().manual_seed(5)) < 0.15).double()
    ours = res.simulate(u, record_membrane=True, method="csr")
    event = res.simulate(u, record_membrane=True, method="event")
    W = torch.tensor(con.weights.toarray()) * 0.01
    w_in = res._w_in64
    st = initial_state(params, (2, con.n), torch.float64)
    s = torch.zeros(2, con.n, dtype=torch.float64)
    ref = []
    for t in range(u.shape[0]):
        s, st, _ = neuron_step(u[t] @ w_in.t() + s @ W.t() + 0.02, st, params, Surrogate())
        ref.append(s)
    ref = torch.stack(ref)
    assert 0.01 < float(ref.mean()) < 0.95  # real, mixed activity
    assert torch.equal(ours.spikes, ref) and torch.equal(event.spikes, ref)
    assert (ours.membrane - event.membrane).abs().max() < 1e-12


AMPS = {"EE": 1.0, "EI": 2.0, "IE": 0.63, "II": 0.63}  # Maass' amplitudes relative to E->E


def test_separation_and_fading_memory():
    con = maass_connectivity((10, 5, 4), seed=0, amplitudes=AMPS)
    res = Reservoir(8, con, LIFParams(tau_mem=10e-3, reset="zero", refractory_steps=2), input_weight=0.9, rec_scale=0.1)
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(40, 1, 8, generator=g) < 0.3).float()
    b = (torch.rand(40, 1, 8, generator=g) < 0.3).float()
    u = torch.cat([a, a, b], 1)
    s = res(u)
    assert torch.equal(s[:, 0], s[:, 1])  # identical inputs, identical states
    assert float((s[:, 0] - s[:, 2]).abs().sum()) > 0
    # fading memory: after the input stops, activity returns to silence (no runaway)
    tail = res(torch.cat([a, torch.zeros(60, 1, 8)]))
    assert float(tail[:40].mean()) > 0.02 and float(tail[-20:].sum()) == 0


def test_device_conductance_weights():
    base = maass_connectivity((10, 5, 4), seed=0, weights="constant")
    dev = maass_connectivity((10, 5, 4), seed=0, weights="device", device_sigma=0.2)
    assert (base.weights != 0).sum() == (dev.weights != 0).sum() or abs(base.n_synapses - dev.n_synapses) < 5
    pre, post, w = dev.pre_post()
    ee = ~dev.inhibitory[pre] & ~dev.inhibitory[post]
    rel = w[ee] / 30.0
    assert abs(rel.mean() - 1.0) < 0.03 and abs(rel.std() - 0.2) < 0.03  # Gaussian per-device variation
    assert np.all(w[dev.inhibitory[pre]] <= 0)


def test_random_connectivity_statistics():
    con = random_connectivity(2000, 0.02, 0.1, -0.5, seed=0)
    pre, post, w = con.pre_post()
    assert abs(con.n_synapses / (2000 * 1999) - 0.02) < 0.001
    assert not np.any(pre == post)
    assert len(set(zip(pre.tolist(), post.tolist()))) == len(pre)  # no duplicate synapses
    assert np.all(w[con.inhibitory[pre]] == -0.5) and np.all(w[~con.inhibitory[pre]] == 0.1)


def test_poisson_input_rate():
    con = random_connectivity(500, 0.0, 0.0, 0.0, seed=0)
    res = Reservoir(1, con, LIFParams(tau_mem=10e-3, reset="none", v_th=1e9), input_weight=0.0, input_fraction=0.0)
    # with no leak-free dynamics, feed the count straight through: reset none, huge threshold, record membrane
    out = res.simulate(torch.zeros(400, 1, 1), poisson=(100, 20.0, 1.0), record_membrane=True)
    beta = res.params.beta
    x = out.membrane[1:, 0] - beta * out.membrane[:-1, 0]  # per-step Poisson counts
    assert abs(float(x.mean()) - 100 * 20.0 * 1e-3) < 0.05 and abs(float(x.var()) - 2.0) < 0.15


@pytest.mark.slow
def test_large_sparse_reservoir_runs_without_dense_matrix():
    # 100,000 neurons, ~100 synapses each, 1,000 steps (sparse build + event-driven steps)
    t0 = time.perf_counter()
    con = maass_connectivity((100, 100, 10), lam=4.4, seed=0)
    assert 90 < con.n_synapses / con.n < 110
    res = Reservoir(1, con, LIFParams(tau_mem=20e-3, reset="zero", refractory_steps=2), input_weight=0.0,
                    input_fraction=0.0, rec_scale=0.001)
    t1 = time.perf_counter()
    out = res.simulate(torch.zeros(1000, 1, 1), poisson=(10, 20.0, 0.2), seed=0)
    sim = time.perf_counter() - t1
    rate = float(out.spikes.mean())
    assert 0.001 < rate < 0.5  # runs (sparse, event-driven) and is active
    print(f"100k reservoir: build {t1 - t0:.1f} s, 1000 steps {sim:.1f} s, rate {rate:.4f}/step")
    assert time.perf_counter() - t0 < 300


def test_readout_and_encoding():
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = torch.tensor(d.images[:600] / 16.0, dtype=torch.float32)
    u = column_scan_encode(imgs, steps_per_column=5)
    assert u.shape == (40, 600, 8) and set(u.unique().tolist()) <= {0.0, 1.0}
    # column 0 of the digits is nearly empty: almost no spikes in the first 5 steps
    assert float(u[:5].mean()) < float(u[15:25].mean())
    con = maass_connectivity((10, 5, 4), seed=0, amplitudes=AMPS)
    lsm = LiquidStateMachine(Reservoir(8, con, LIFParams(tau_mem=10e-3, reset="zero", refractory_steps=2),
                                       input_weight=0.9, rec_scale=0.05), bins=8)
    y = d.target[:600]
    lsm.fit(u[:, :450], y[:450])
    acc = lsm.score(u[:, 450:], y[450:])
    assert acc > 0.75
    f = time_binned_counts(torch.ones(40, 2, 3), 8)
    assert f.shape == (2, 24) and float(f.sum()) == 240


def test_moving_bars():
    data = moving_bars(n_samples=64, seed=0)
    x, y = next(data.batches("train", 16))
    assert x.shape == (20, 16, 2, 16, 16) and data.n_classes == 8
    clean = moving_bars(n_samples=16, noise=0.0, seed=0)
    xs, ys = clean.split("train")
    # without noise: ON events at the leading edge and OFF events at the trailing edge, equal numbers
    # once the bar has appeared (every pixel turned on is later turned off as the bar moves on)
    assert torch.equal(xs[:, 0, 0].sum((1, 2)), torch.full((len(xs),), 32.0))  # the 2-px bar appears: ON only
    assert float(xs[:, 0, 1].sum()) == 0
    later = xs[:, 1:].sum((1, 2, 3, 4))
    assert float((later > 0).float().mean()) >= 0.9  # and then moves (a fast bar may leave the frame)
    assert set(ys.tolist()) <= set(range(8))


def test_bad_input():
    with pytest.raises(ValueError, match="does not fit the grid"):
        maass_connectivity((10, 5, 4), n_neurons=250)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        maass_connectivity((4, 4, 4), C={"EE": 1.3, "EI": 0.2, "IE": 0.4, "II": 0.1})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        random_connectivity(100, -0.1, 0.1, -0.1)
    with pytest.raises(ValueError, match="Dale"):
        random_connectivity(100, 0.1, -0.1, -0.1)
    res = Reservoir(3, maass_connectivity((3, 3, 3)))
    with pytest.raises(ValueError, match="zero-length"):
        res(torch.zeros(0, 1, 3))
    with pytest.raises(ValueError, match=r"\[T, B, 3\]"):
        res(torch.zeros(5, 1, 4))
    with pytest.raises(ValueError, match="reset_delay"):
        Reservoir(3, maass_connectivity((3, 3, 3)), LIFParams(reset_delay=True))
