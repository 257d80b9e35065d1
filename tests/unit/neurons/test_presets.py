"""Neuron presets: SpikingJelly and snnTorch conventions on hand-computed traces and against the libraries."""

import math

import pytest
import torch

from neuromap.neurons.presets import snntorch_leaky, snntorch_params, spikingjelly_lif, spikingjelly_params


def _run(lif, xs):
    x = torch.tensor(xs, dtype=torch.float64).reshape(-1, 1, 1)
    out = lif.simulate(x)
    return out.spikes.flatten().tolist(), out.membrane.flatten().tolist()


def test_spikingjelly_hand_trace_hard_reset():
    lif = spikingjelly_lif(tau=2.0, v_th=1.0, v_reset=0.0)
    # H = V + (X - V)/2: X = 1.5 -> H = 0.75, 1.125 (spike, V = 0), 0.75, 1.125 ...
    s, v = _run(lif, [1.5, 1.5, 1.5, 1.5])
    assert s == [0.0, 1.0, 0.0, 1.0]
    assert v == pytest.approx([0.75, 0.0, 0.75, 0.0])
    # tie: X = 2, tau = 2 -> H = 1.0 = V_th exactly: SpikingJelly spikes (>=), snnTorch-style '>' would not
    s, _ = _run(lif, [2.0, 2.0, 2.0])
    assert s == [1.0, 1.0, 1.0]
    strict = spikingjelly_params().replace(threshold_rule=">")
    from neuromap.neurons import LIF

    s2, _ = _run(LIF(strict), [2.0, 2.0, 2.0])
    assert s2[0] == 0.0


def test_spikingjelly_reset_value_and_soft_reset():
    lif = spikingjelly_lif(tau=2.0, v_th=1.0, v_reset=-0.5)
    # V0 = V_reset = -0.5; H = V + (X - (V - V_reset))/tau = -0.5 + X/2
    s, v = _run(lif, [3.2, 0.0])
    assert s == [1.0, 0.0] and v == pytest.approx([-0.5, -0.5])
    soft = spikingjelly_lif(tau=2.0, v_th=1.0, v_reset=None)
    s, v = _run(soft, [3.0, 0.0])  # H = 1.5 -> spike, V = 0.5; H = 0.25
    assert s == [1.0, 0.0] and v == pytest.approx([0.5, 0.25])


@pytest.mark.parametrize("X", [1.01, 1.5, 1.9, 2.0, 3.0])
def test_spikingjelly_constant_input_rate_closed_form(X):
    lif = spikingjelly_lif(tau=2.0)
    s, _ = _run(lif, [X] * 70)
    n_star = max(1, math.ceil(math.log(1 - 1.0 / X) / math.log(0.5) - 1e-12))
    assert sum(s) == 70 // n_star


def test_snntorch_hand_trace_delayed_subtract():
    lif = snntorch_leaky(beta=0.5, threshold=1.0)
    # U = 0.5 U + X - R*1, R = (U_prev > 1): X = 1.2: 1.2 (spk), 0.6+1.2-1 = 0.8, 0.4+1.2 = 1.6 (spk),
    # 0.8+1.2-1 = 1.0 (no spike: strict >), 0.5+1.2 = 1.7
    s, v = _run(lif, [1.2, 1.2, 1.2, 1.2, 1.2])
    assert s == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert v == pytest.approx([1.2, 0.8, 1.6, 1.0, 1.7])
    s, _ = _run(snntorch_leaky(beta=0.5, threshold=1.0), [1.0])
    assert s == [0.0]  # strict '>'


def test_snntorch_zero_and_none_traces():
    s, _ = _run(snntorch_leaky(beta=0.5, reset_mechanism="zero"), [1.2, 1.2, 1.2])
    assert s == [1.0, 1.0, 1.0]  # zero reset: 1.2 each step
    s, v = _run(snntorch_leaky(beta=0.5, reset_mechanism="none"), [1.2, 1.2])
    assert s == [1.0, 1.0] and v == pytest.approx([1.2, 1.8])


def test_preset_surrogates():
    sj, st = spikingjelly_lif(), snntorch_leaky()
    assert (sj.surrogate.name, sj.surrogate.effective_slope) == ("sigmoid", 4.0)
    assert (st.surrogate.name, st.surrogate.effective_slope) == ("atan", 2.0)
    assert float(sj.surrogate.grad(torch.tensor(0.0))) == pytest.approx(1.0)
    assert float(st.surrogate.grad(torch.tensor(0.0))) == pytest.approx(1.0)


def test_preset_bad_arguments():
    with pytest.raises(ValueError, match="tau"):
        spikingjelly_params(tau=0.5)
    with pytest.raises(ValueError, match="beta"):
        snntorch_params(beta=1.0)
    with pytest.raises(ValueError, match="reset_mechanism"):
        snntorch_params(reset_mechanism="hard")


@pytest.mark.parametrize("mechanism", ["subtract", "zero", "none"])
@pytest.mark.parametrize("learn", [False, True])
def test_snntorch_leaky_matches_snntorch(mechanism, learn):
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(3)
    x = (torch.randn(40, 4, 6) * 0.6 + 0.5).requires_grad_()
    ref = snn.Leaky(beta=0.8, threshold=0.7, reset_mechanism=mechanism, learn_beta=learn, learn_threshold=learn)
    mem = ref.init_leaky()
    spk_ref = []
    for t in range(40):
        s, mem = ref(x[t], mem)
        spk_ref.append(s)
    spk_ref = torch.stack(spk_ref)
    ours = snntorch_leaky(beta=0.8, threshold=0.7, reset_mechanism=mechanism, learn_beta=learn, learn_threshold=learn)
    spk = ours(x)
    assert spk_ref.sum() > 0
    assert torch.equal(spk, spk_ref)
    g_ref = torch.autograd.grad(spk_ref.sum(), x)[0]
    g = torch.autograd.grad(spk.sum(), x)[0]
    assert torch.allclose(g, g_ref, atol=1e-5)


@pytest.mark.parametrize("v_reset", [0.0, None])
def test_spikingjelly_lif_matches_spikingjelly(v_reset):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import neuron, surrogate

    torch.manual_seed(4)
    x = (torch.randn(30, 3, 5) * 0.8 + 1.0).requires_grad_()
    ref = neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=v_reset, detach_reset=True, step_mode="m",
                         surrogate_function=surrogate.Sigmoid(alpha=4.0))
    spk_ref = ref(x)
    spk = spikingjelly_lif(tau=2.0, v_th=1.0, v_reset=v_reset)(x)
    assert spk_ref.sum() > 0
    assert torch.equal(spk, spk_ref)
    g_ref = torch.autograd.grad((spk_ref * torch.arange(30.0).reshape(-1, 1, 1)).sum(), x)[0]
    g = torch.autograd.grad((spk * torch.arange(30.0).reshape(-1, 1, 1)).sum(), x)[0]
    assert torch.allclose(g, g_ref, atol=1e-5)
