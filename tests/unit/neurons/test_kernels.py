"""The compiled C++ neuron kernel against the pure-PyTorch loop: bit-identical forward results in
float32 and float64, equal gradients, per-channel parameters, and the automatic fallback when the
extension is disabled or could not be built."""

import itertools

import pytest
import torch

from neuromap.networks import SpikingMLP
from neuromap.neurons import CubaLIFParams, LIFParams, Surrogate, kernels, neuron_sequence, neuron_sequence_reference

needs_cpp = pytest.mark.usefixtures("cpp_kernels")  # built on first use, not at collection

CASES = [
    c
    for c in itertools.product(
        [False, True],  # cuba
        ["subtract", "zero", "none"],
        [False, True],  # reset_delay
        [False, True],  # decay_input
        ["fast_sigmoid", "atan", "sigmoid", "triangle", "straight_through"],
    )
    if not (c[2] and c[1] != "subtract")
]


def _run(impl, x, p, sur, learn, dtype):
    leaves = {"x": x.clone().requires_grad_()}
    kw = {}
    if learn:
        kw["beta"] = leaves["beta"] = torch.full((x.shape[-1],), p.beta, dtype=dtype, requires_grad=True)
        kw["v_th"] = leaves["v_th"] = torch.tensor(0.8, dtype=dtype, requires_grad=True)
        if isinstance(p, CubaLIFParams):
            kw["alpha"] = leaves["alpha"] = torch.full((x.shape[-1],), p.alpha, dtype=dtype, requires_grad=True)
    with kernels.use(impl):
        s, v, st = neuron_sequence(leaves["x"], p, sur, return_membrane=True, **kw)
    g = torch.Generator().manual_seed(1)
    w_s, w_v = (torch.randn(s.shape, generator=g, dtype=dtype) for _ in range(2))
    loss = (s * w_s).sum() + (v * w_v).sum()
    grads = torch.autograd.grad(loss + st.v.sum(), list(leaves.values()))
    return s.detach(), v.detach(), st, dict(zip(leaves, grads))


@needs_cpp
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_cpp_forward_bit_identical_and_gradients_equal(case, dtype):
    cuba, reset, delay, decay_input, sur_name = case
    kw = dict(reset=reset, reset_delay=delay, decay_input=decay_input, v_leak=0.05, v_reset=0.1 if reset == "zero" else 0.0)
    p = CubaLIFParams.from_decays(0.8, 0.9, **kw) if cuba else LIFParams.from_decay(0.9, **kw)
    g = torch.Generator().manual_seed(len(CASES) + CASES.index(case))
    x = (torch.randn(40, 5, 33, generator=g, dtype=dtype) * 0.7 + 0.35) / p.input_gain
    sur = Surrogate(sur_name, 3.0)
    for learn in (False, True):
        s1, v1, st1, g1 = _run("cpp", x, p, sur, learn, dtype)
        s2, v2, st2, g2 = _run("torch", x, p, sur, learn, dtype)
        assert s1.sum() > 0
        assert torch.equal(s1, s2) and torch.equal(v1, v2) and torch.equal(st1.v, st2.v)
        if cuba:
            assert torch.equal(st1.i, st2.i)
        tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-11, atol=1e-11)
        for name in g1:
            torch.testing.assert_close(g1[name], g2[name], **tol, msg=f"d/d{name}")


@needs_cpp
def test_cpp_per_channel_parameters_of_a_conv_layer_match_reference():
    """Per-channel beta/v_th of shape (C, 1, 1) broadcast over a [T, B, C, H, W] input."""
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(9, 2, 3, 4, 4, generator=g, dtype=torch.float64) * 1.2).requires_grad_()
    beta = torch.tensor([0.5, 0.8, 0.95], dtype=torch.float64).reshape(3, 1, 1).requires_grad_()
    v_th = torch.tensor([0.6, 0.9, 1.1], dtype=torch.float64).reshape(3, 1, 1).requires_grad_()
    p, sur = LIFParams(), Surrogate("fast_sigmoid", 4.0)
    out = []
    for fn in ("cpp", "reference"):
        if fn == "cpp":
            with kernels.use("cpp"):
                s, v, _ = neuron_sequence(x, p, sur, beta=beta, v_th=v_th, return_membrane=True)
        else:
            s, v, _ = neuron_sequence_reference(x, p, sur, beta=beta, v_th=v_th)
        out.append((s, v, torch.autograd.grad((s * 1.3 + v).sum(), [x, beta, v_th])))
    (s1, v1, g1), (s2, v2, g2) = out
    assert s1.sum() > 0 and torch.equal(s1, s2)
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-12)
    for a, b in zip(g1, g2):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)


@needs_cpp
def test_training_step_of_mlp_identical_across_implementations():
    """One W1-style step (Linear -> LIF -> Linear -> LIF, spike-count cross-entropy): the compiled
    path gives the spikes and loss of the per-step reference bit for bit, gradients to rounding."""
    x = (torch.rand(25, 4, 30, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    y = torch.tensor([0, 1, 2, 1])
    results = {}
    for impl in ("cpp", "torch", "reference"):
        torch.manual_seed(0)
        model = SpikingMLP(30, [64], 3, beta=0.9, surrogate="fast_sigmoid", slope=25)
        for m in model:
            if hasattr(m, "impl"):
                m.impl = "reference" if impl == "reference" else "fused"
        with kernels.use("auto" if impl == "reference" else impl):
            out = model(x)
        loss = torch.nn.functional.cross_entropy(out.sum(0), y)
        loss.backward()
        results[impl] = (out.detach(), loss.detach(), [q.grad for q in model.parameters()])
    for impl in ("torch", "reference"):
        assert torch.equal(results["cpp"][0], results[impl][0])
        assert torch.equal(results["cpp"][1], results[impl][1])
        for a, b in zip(results["cpp"][2], results[impl][2]):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_no_cpp_environment_forces_the_pure_path(monkeypatch):
    monkeypatch.setenv("NEUROMAP_NO_CPP", "1")
    assert kernels.load() is None and kernels.status()["disabled"]
    with pytest.raises(RuntimeError, match="NEUROMAP_NO_CPP"):
        with kernels.use("cpp"):
            pass
    x = torch.rand(6, 2, 3) * 2
    s, _, _ = neuron_sequence(x, LIFParams.from_decay(0.7), Surrogate())
    with kernels.use("torch"):
        s2, _, _ = neuron_sequence(x, LIFParams.from_decay(0.7), Surrogate())
    assert torch.equal(s, s2)


def test_failed_build_falls_back_and_cpp_request_says_why(monkeypatch):
    monkeypatch.delenv("NEUROMAP_NO_CPP", raising=False)
    monkeypatch.setitem(kernels._state, "ops", None)
    monkeypatch.setitem(kernels._state, "error", "CalledProcessError: g++ not found (simulated)")
    x = (torch.rand(8, 2, 5, dtype=torch.float64) * 2).requires_grad_()
    s, _, _ = neuron_sequence(x, CubaLIFParams.from_decays(0.8, 0.9), Surrogate())
    s.sum().backward()
    assert x.grad is not None
    with pytest.raises(RuntimeError, match="g\\+\\+ not found"):
        with kernels.use("cpp"):
            pass
    with pytest.raises(ValueError, match="impl"):
        with kernels.use("fast"):
            pass


@needs_cpp
def test_unsupported_cases_fall_back_under_auto_and_raise_under_cpp():
    x = torch.rand(6, 2, 3, dtype=torch.float16) * 2
    with kernels.use("cpp"), pytest.raises(ValueError, match="dtype"):
        neuron_sequence(x, LIFParams(), Surrogate())
    p = LIFParams(refractory_steps=2)
    xf = torch.rand(6, 2, 3) * 3
    s_auto, _, _ = neuron_sequence(xf, p, Surrogate())
    s_ref, _, _ = neuron_sequence_reference(xf, p, Surrogate())
    assert torch.equal(s_auto, s_ref)


@needs_cpp
def test_inference_keeps_no_graph_and_matches_training_forward():
    x = torch.rand(20, 3, 7) * 2
    p = CubaLIFParams.from_decays(0.8, 0.9, reset_delay=True)
    with torch.no_grad():
        s_inf, v_inf, st_inf = neuron_sequence(x, p, Surrogate(), return_membrane=True)
    assert s_inf.grad_fn is None
    s_tr, v_tr, st_tr = neuron_sequence(x.clone().requires_grad_(), p, Surrogate(), return_membrane=True)
    assert s_tr.grad_fn is not None
    assert torch.equal(s_inf, s_tr) and torch.equal(v_inf, v_tr.detach()) and torch.equal(st_inf.s, st_tr.s.detach())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [
    lambda: LIFParams.from_decay(0.9),
    lambda: CubaLIFParams.from_decays(0.8, 0.9),
    lambda: LIFParams.from_decay(0.9, detach_reset=True),
    lambda: CubaLIFParams.from_decays(0.8, 0.9, detach_reset=True),
])
def test_default_neuron_fast_path_is_bit_identical_with_gradients(make, dtype):
    """The compiled fast path for neuromap's default neuron (subtract reset, '>', beta form) gives the
    same spikes and the same input / initial-state gradients, bit for bit, as the PyTorch loop."""
    if not kernels.status()["available"] and kernels.load() is None:
        pytest.skip("the C++ extension is unavailable here")
    p = make()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(40, 3, 200, generator=g, dtype=dtype) * 0.7 + 0.3
    w = torch.randn(40, 3, 200, generator=g, dtype=dtype)
    res = []
    for impl in ("cpp", "torch"):
        with kernels.use(impl):
            xx = x.clone().requires_grad_()
            s, _, st = neuron_sequence(xx, p, Surrogate("fast_sigmoid", 25))
            ((s * w).sum() + st.v.sum()).backward()
            res.append((s.detach(), xx.grad))
    assert res[0][0].sum() > 0
    assert torch.equal(res[0][0], res[1][0]) and torch.equal(res[0][1], res[1][1])
