"""LMU family: A/B tables, ZOH == scipy, FFT == recurrence, delay decoding, causality, bad input, learning."""

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import torch

from neuromap.networks.lmu import (
    L2MU,
    LMU,
    LMUClassifier,
    LMUFormer,
    LMUMemory,
    causal_fft_conv,
    discretize,
    legendre_decoder,
    lmu_matrices,
)


def test_lmu_tables_small_orders():
    A, B = lmu_matrices(1, 1.0)
    assert A.tolist() == [[-1.0]] and B.tolist() == [1.0]
    A, B = lmu_matrices(2, 1.0)
    assert A.tolist() == [[-1.0, -1.0], [3.0, -3.0]] and B.tolist() == [1.0, -3.0]
    A, B = lmu_matrices(3, 2.0)
    expected = np.array([[-1, -1, -1], [3, -3, -3], [-5, 5, -5]]) / 2.0
    np.testing.assert_array_equal(A.numpy(), expected)
    np.testing.assert_array_equal(B.numpy(), np.array([1, -3, 5]) / 2.0)
    A, _ = lmu_matrices(4, 1.0)
    assert A[3].tolist() == [7.0, -7.0, 7.0, -7.0]


@pytest.mark.parametrize("order,theta", [(1, 3.0), (6, 100.0), (12, 64.0), (24, 200.0)])
def test_zoh_equals_scipy_expm_and_cont2discrete(order, theta):
    A, B = lmu_matrices(order, theta)
    Ab, Bb = discretize(A, B, "zoh")
    M = np.zeros((order + 1, order + 1))
    M[:order, :order], M[:order, order] = A.numpy(), B.numpy()
    E = scipy.linalg.expm(M)
    np.testing.assert_allclose(Ab.numpy(), E[:order, :order], atol=1e-10, rtol=1e-10)
    np.testing.assert_allclose(Bb.numpy(), E[:order, order], atol=1e-10, rtol=1e-10)
    Ad, Bd, *_ = scipy.signal.cont2discrete((A.numpy(), B.numpy().reshape(-1, 1), np.eye(order), 0), 1.0, "zoh")
    np.testing.assert_allclose(Ab.numpy(), Ad, atol=1e-10)
    np.testing.assert_allclose(Bb.numpy(), Bd[:, 0], atol=1e-10)
    assert np.abs(np.linalg.eigvals(Ab.numpy())).max() < 1.0  # stable
    Ae, Be = discretize(A, B, "euler")
    np.testing.assert_allclose(Ae.numpy(), np.eye(order) + A.numpy())


def test_fft_equals_recurrence_float64_and_float32():
    u64 = torch.randn(50, 3, 2, dtype=torch.float64)
    mem = LMUMemory(8, 20.0, channels=2).double()
    np.testing.assert_allclose(mem(u64, mode="fft").numpy(), mem(u64, mode="recurrent").numpy(), atol=1e-12)
    mem32 = LMUMemory(8, 20.0, channels=2)
    u32 = u64.float()
    assert torch.allclose(mem32(u32, mode="fft"), mem32(u32, mode="recurrent"), atol=1e-5)
    # the convolution helper against a direct sum
    H = torch.randn(50, 4, dtype=torch.float64)
    direct = torch.stack([sum(H[k] * u64[t - k, ..., None] for k in range(t + 1)) for t in range(50)])
    np.testing.assert_allclose(causal_fft_conv(u64, H).numpy(), direct.numpy(), atol=1e-12)


def _bandlimited(n, fc, seed):
    rng = np.random.default_rng(seed)
    b, a = scipy.signal.butter(4, fc / 0.5)
    u = scipy.signal.lfilter(b, a, rng.standard_normal(n + 400))[400:]
    return u / u.std()


@pytest.mark.parametrize("r,fc", [(0.0, 0.01), (0.25, 0.02), (0.5, 0.02), (1.0, 0.02)])
def test_memory_reconstructs_delayed_bandlimited_input(r, fc):
    """Shifted-Legendre decode of u(k + 1 - r*theta) (half-step alignment of ZOH): NRMSE <= 1 %.
    (The newest end r = 0 is the hardest point of a Legendre fit: 1.1 % at f_c = 0.02, so f_c = 0.01 there.)"""
    theta, order, n = 64, 32, 3000
    u = _bandlimited(n, fc, seed=1)
    mem = LMUMemory(order, float(theta)).double()
    m = mem(torch.tensor(u).reshape(-1, 1, 1), mode="fft")[:, 0, 0, :]  # [n, d]
    dec = legendre_decoder(order, r)[0]
    y = (m @ dec).numpy()
    # ZOH holds u_j on [j, j+1) and m_k describes the window ending at time k + 1, so the point
    # k + 1 - r*theta (r > 0) falls on the jump between u_{k-r*theta} and u_{k-r*theta+1}: the smooth
    # Legendre reconstruction gives their mean. At r = 0 (the window's newest end) it is u_k.
    delay = max(r * theta - 0.5, 0.0)
    t = np.arange(n)
    target = np.interp(t - delay, t, u)
    sl = slice(2 * theta, n)
    nrmse = np.sqrt(np.mean((y[sl] - target[sl]) ** 2)) / np.std(target[sl])
    assert nrmse <= 0.01, nrmse


def test_memory_cannot_hold_fast_inputs():
    """d = 8, theta = 64 cannot represent f_c = 0.05 (regression guard for the decode test)."""
    u = _bandlimited(2000, 0.05, seed=2)
    mem = LMUMemory(8, 64.0).double()
    y = (mem(torch.tensor(u).reshape(-1, 1, 1))[:, 0, 0, :] @ legendre_decoder(8, 1.0)[0]).numpy()
    target = 0.5 * (np.roll(u, 64) + np.roll(u, 63))
    nrmse = np.sqrt(np.mean((y[200:] - target[200:]) ** 2)) / np.std(target[200:])
    assert nrmse > 0.3


def test_trainable_theta_gradient_matches_finite_difference():
    u = torch.randn(30, 2, 1, dtype=torch.float64)
    mem = LMUMemory(6, 10.0, trainable_theta=True).double()
    loss = mem(u).pow(2).sum()
    loss.backward()
    g = float(mem.log_theta.grad)
    eps = 1e-6
    with torch.no_grad():
        base = float(mem.log_theta)
        mem.log_theta.fill_(base + eps)
        lp = float(mem(u).pow(2).sum())
        mem.log_theta.fill_(base - eps)
        lm = float(mem(u).pow(2).sum())
    assert g == pytest.approx((lp - lm) / (2 * eps), rel=1e-5)


def _causal(model, x, **kw):
    model.eval()
    with torch.no_grad():
        y = model(x, **kw)
        for t in (0, x.shape[0] // 2, x.shape[0] - 2):
            x2 = x.clone()
            x2[t + 1 :] = torch.randn_like(x2[t + 1 :]) * 3
            y2 = model(x2, **kw)
            assert torch.allclose(y[: t + 1], y2[: t + 1], atol=1e-5), t
            assert not torch.allclose(y, y2)


def test_lmu_layers_fft_equals_recurrent_and_causal():
    x = torch.randn(16, 4, 3)
    clf = LMUClassifier(3, 5, hidden=8, order=6, theta=16.0, readout="sequence")
    assert torch.allclose(clf(x, mode="fft"), clf(x, mode="recurrent"), atol=1e-5)
    _causal(clf, x)
    rec = LMU(3, 8, 6, 16.0, hidden_to_memory=True, memory_to_memory=True, hidden_recurrent=True)
    nn_init = torch.nn.init
    nn_init.normal_(rec.e_h.weight, std=0.3)
    nn_init.normal_(rec.e_m.weight, std=0.3)
    assert not rec.parallel
    _causal(rec, x)


@pytest.mark.parametrize("spiking", [True, False])
def test_lmuformer_fft_equals_recurrent_and_causal(spiking):
    torch.manual_seed(0)
    model = LMUFormer(8, 10, dim=16, theta=8.0, spiking=spiking)
    x = torch.rand(8, 5, 8)
    model.train()
    model(x)  # move BN statistics away from their init
    model.eval()
    with torch.no_grad():
        a, b = model(x, mode="fft"), model(x, mode="recurrent")
    assert torch.allclose(a, b, atol=1e-4)
    _causal(model, x)
    if spiking:  # every spiking-LMU neuron emits 0/1 spikes
        out = model.blocks[0].cell.lif_h.simulate(torch.randn(8, 2, 16)).spikes
        assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_l2mu_hand_checks_and_causality():
    torch.manual_seed(0)
    net = L2MU(n_in=3, order=4, theta=6.0, memory_size=5, hidden=7, n_out=2)
    x = torch.rand(12, 4, 3) * 3
    _causal(net, x)
    # huge thresholds: no population ever fires, outputs are identically zero
    with torch.no_grad():
        for lif in (net.lif_u, net.lif_m, net.lif_h, net.lif_o):
            lif.v_th.fill_(1e9)
    assert net(x).abs().sum() == 0
    # beta = 1, threshold 0+: the encoder population relays any positive current as a spike each step
    relay = L2MU(n_in=1, order=2, theta=4.0, memory_size=1, hidden=1)
    with torch.no_grad():
        relay.e_x.weight.fill_(1.0)
        relay.lif_u.beta.fill_(1.0)
        relay.lif_u.v_th.fill_(1e-6)
        relay.lif_m.v_th.fill_(1e9)
        relay.lif_h.v_th.fill_(1e9)
    s_u = []
    relay.lif_u.register_forward_hook(lambda m, i, o: s_u.append(o[0][0]))
    relay(torch.full((5, 1, 1), 0.5))
    assert torch.stack(s_u).flatten().tolist() == [1.0] * 5


def test_l2mu_matches_snntorch_populations():
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(1)
    net = L2MU(n_in=3, order=3, theta=5.0, memory_size=4, hidden=6, n_out=2, learn=False)
    x = torch.rand(10, 2, 3) * 2
    pops = [snn.Leaky(beta=0.9, threshold=1.0, reset_mechanism="subtract") for _ in range(4)]
    mems = [p.init_leaky() for p in pops]
    s_h, s_m, outs = torch.zeros(2, 6), torch.zeros(2, 4, 3), []
    with torch.no_grad():
        for t in range(10):
            s_u, mems[0] = pops[0](net.e_x(x[t]) + net.e_h(s_h) + net.e_m(s_m.flatten(1)), mems[0])
            s_m, mems[1] = pops[1](s_m @ net.A_bar.T + s_u.unsqueeze(-1) * net.B_bar, mems[1])
            s_h, mems[2] = pops[2](net.W_x(x[t]) + net.W_h(s_h) + net.W_m(s_m.flatten(1)), mems[2])
            s_o, mems[3] = pops[3](net.W_o(s_h), mems[3])
            outs.append(s_o)
        ours = net(x)
    ref = torch.stack(outs)
    assert ref.sum() > 0
    assert torch.equal(ours, ref)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="order d"):
        LMUMemory(0, 10.0)
    with pytest.raises(ValueError, match="theta"):
        LMUMemory(4, 0.0)
    with pytest.raises(ValueError, match="theta"):
        LMUFormer(8, 10, theta=-1.0)
    mem = LMUMemory(4, 10.0, channels=2, max_len=20)
    with pytest.raises(ValueError, match="max_len=20"):
        mem(torch.zeros(21, 1, 2))
    with pytest.raises(ValueError, match="rank"):
        mem(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="dimension 2"):
        mem(torch.zeros(5, 1, 3))
    model = LMUFormer(8, 10, dim=16, theta=8.0)
    with pytest.raises(ValueError, match="max_len=8"):
        model(torch.zeros(9, 2, 8))
    with pytest.raises(ValueError, match="mode"):
        mem(torch.zeros(5, 1, 2), mode="conv")


def test_shifted_legendre_equals_scipy():
    from scipy.special import eval_sh_legendre

    r = np.linspace(0, 1, 11)
    ours = legendre_decoder(12, torch.tensor(r)).numpy()
    for i in range(12):
        np.testing.assert_allclose(ours[:, i], eval_sh_legendre(i, r), atol=1e-9)
