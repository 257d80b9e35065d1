"""The Triton neuron kernels (run through Triton's interpreter on the CPU) against the PyTorch loop.

What is pinned:
* float32: spikes, membrane trace and final state are bit-identical for every option; gradients
  (input, initial state, learnable beta / alpha / v_th) are bit-identical for every surrogate but
  ``sigmoid`` (its ``exp`` may differ from torch's sigmoid in the last bit: equal within 1e-5
  relative there).
* bfloat16 inputs (state integrated in float32): spikes equal the float32 loop run on the same
  values, and every stored tensor is that float32 result rounded once to bfloat16 (parameter
  gradients stay float32 and equal).
* Dispatch: ``auto`` falls back to the PyTorch loop, with one logged warning, when Triton is missing
  or a kernel fails; a forced ``triton`` raises instead.

``NEUROMAP_TEST_DEVICE=cuda`` runs the same tests with the compiled kernels on a GPU against the
PyTorch loop on the GPU (benchmarks/gpu_check.sh does).
"""

import itertools
import logging

import pytest
import torch

from neuromap.neurons import CubaLIFParams, LIFParams, NeuronState, Surrogate, kernels, neuron_sequence, triton_kernels
from tests.support import DEVICE, IMPL

pytestmark = [pytest.mark.gpu, pytest.mark.triton]

SURROGATES = ["fast_sigmoid", "atan", "sigmoid", "triangle", "straight_through"]
RESETS = [("subtract", False), ("zero", False), ("none", False), ("subtract", True)]  # (reset, reset_delay)


def _params(cuba, reset, delay, refractory=0, inclusive=False, decay_input=False, detach=False):
    kw = dict(
        reset=reset,
        reset_delay=delay,
        decay_input=decay_input,
        threshold_rule=">=" if inclusive else ">",
        detach_reset=detach,
        refractory_steps=refractory,
        v_leak=0.0625,  # exact in bfloat16 too: the resting state is then the same in both dtypes
        v_reset=0.125 if reset == "zero" or refractory else 0.0,
    )
    return CubaLIFParams.from_decays(0.8, 0.9, **kw) if cuba else LIFParams.from_decay(0.9, **kw)


def _run(impl, x, p, sur, *, learn=True, state=True, final=True, seed=0, param_dtype=torch.float32):
    """Forward with every input a leaf, backward of a loss touching every output: values and grads."""
    n = x.shape[-1]
    g = torch.Generator().manual_seed(seed)
    leaves = {"x": x.detach().clone().requires_grad_()}
    kw = {}
    if learn:
        dev = dict(dtype=param_dtype, device=x.device)
        kw["beta"] = leaves["beta"] = (0.85 + 0.1 * torch.rand(n, generator=g)).to(**dev).requires_grad_()
        kw["v_th"] = leaves["v_th"] = torch.tensor(0.8, **dev).requires_grad_()
        if isinstance(p, CubaLIFParams):
            kw["alpha"] = leaves["alpha"] = (0.7 + 0.2 * torch.rand(n, generator=g)).to(**dev).requires_grad_()
    st = None
    if state:
        shape, dt = x.shape[1:], dict(dtype=x.dtype, device=x.device)
        v0 = (0.5 * torch.rand(shape, generator=g)).to(**dt).requires_grad_()
        leaves["v0"] = v0
        i0 = s0 = r0 = None
        if isinstance(p, CubaLIFParams):
            i0 = leaves["i0"] = (0.2 * torch.rand(shape, generator=g)).to(**dt).requires_grad_()
        if p.reset_delay:
            s0 = leaves["s0"] = (torch.rand(shape, generator=g) > 0.5).to(**dt).requires_grad_()
        if p.refractory_steps:
            r0 = torch.randint(0, p.refractory_steps + 1, shape, generator=g, dtype=torch.int32).to(x.device)
        st = NeuronState(v0, i0, r0, s0)
    with kernels.use(impl):
        s, v, fin = neuron_sequence(leaves["x"], p, sur, state=st, return_membrane=True, **kw)
    # Loss weights exact in bfloat16, so a bfloat16 run and a float32 run get the same upstream gradients.
    w_s, w_v, w_f = (torch.randn(s.shape, generator=g).to(torch.bfloat16).to(x.dtype).to(x.device) for _ in range(3))
    loss = (s * w_s).sum() + (v * w_v).sum()
    if final:  # else no gradient reaches the final state (autograd passes None for it)
        loss = loss + (fin.v * w_f[0]).sum()
        if fin.i is not None:
            loss = loss + (fin.i * w_f[1]).sum()
        if fin.s is not None:  # the delayed reset's last spikes
            loss = loss + (fin.s * w_f[2]).sum()
    grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    outs = {"spikes": s, "membrane": v, "v_final": fin.v}
    if fin.i is not None:
        outs["i_final"] = fin.i
    if fin.refrac is not None:
        outs["refrac_final"] = fin.refrac
    if fin.s is not None:
        outs["s_final"] = fin.s
    return {k: t.detach() for k, t in outs.items()}, {f"d{k}": gr for k, gr in zip(leaves, grads)}


def _input(p, shape=(7, 2, 5), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return ((torch.randn(shape, generator=g) * 0.7 + 0.35) / p.input_gain).to(dtype).to(DEVICE)


def _assert_match(ref, got, exact_grads: bool):
    (o1, g1), (o2, g2) = ref, got
    assert o1.keys() == o2.keys() and g1.keys() == g2.keys()
    assert o1["spikes"].sum() > 0
    for k in o1:
        assert torch.equal(o1[k], o2[k]), f"forward output {k} differs"
    for k in g1:
        if g1[k] is None:
            assert g2[k] is None, k
            continue
        assert g2[k].dtype == g1[k].dtype, k
        if exact_grads:
            assert torch.equal(g1[k], g2[k]), f"gradient {k} differs: max {(g1[k] - g2[k]).abs().max()}"
        else:
            torch.testing.assert_close(g2[k], g1[k], rtol=1e-5, atol=1e-6, msg=f"gradient {k}")


def _case_id(c):
    return "-".join(str(v) for v in c)


# Every reset variant x LIF/CuBa x refractory; the other switches and the surrogate rotate with the
# case index so each value of each is met several times (the full product is the slow test below).
OPTION_CASES = [
    (cuba, reset, delay, refr, (k >> 0) & 1, (k >> 1) & 1, (k >> 2) & 1, SURROGATES[k % 5])
    for k, (cuba, (reset, delay), refr) in enumerate(itertools.product([False, True], RESETS, [0, 2]))
    if not (delay and refr)  # snnTorch's delayed reset has no refractory period (params reject it)
]


@pytest.mark.parametrize("case", OPTION_CASES, ids=_case_id)
def test_float32_matches_pytorch_loop(case):
    cuba, reset, delay, refr, inclusive, decay_input, detach, sur_name = case
    p = _params(cuba, reset, delay, refr, bool(inclusive), bool(decay_input), bool(detach))
    x = _input(p, seed=len(sur_name) + refr)
    sur = Surrogate(sur_name, 3.0)
    ref = _run("torch", x, p, sur)
    got = _run(IMPL, x, p, sur)
    _assert_match(ref, got, exact_grads=sur_name != "sigmoid")


@pytest.mark.parametrize("sur_name", ["fast_sigmoid", "superspike", "atan", "sigmoid", "triangle", "straight_through"])
@pytest.mark.parametrize("cuba", [False, True])
def test_every_surrogate(sur_name, cuba):
    p = _params(cuba, "subtract", False)
    x = _input(p, seed=3)
    sur = Surrogate(sur_name)
    _assert_match(_run("torch", x, p, sur), _run(IMPL, x, p, sur), exact_grads=sur_name != "sigmoid")


@pytest.mark.parametrize("learn,state", [(False, False), (True, False), (False, True)])
def test_default_neuron_without_learnable_values_or_state(learn, state):
    """The common training case (scalar decays, resting state, no parameter gradients), odd sizes
    that leave the last block partly masked, and inference (no gradient: nothing stored)."""
    for cuba in (False, True):
        p = _params(cuba, "subtract", False)
        x = _input(p, shape=(9, 3, 67), seed=5)
        sur = Surrogate("fast_sigmoid", 10.0)
        kw = dict(learn=learn, state=state, final=state)
        _assert_match(_run("torch", x, p, sur, **kw), _run(IMPL, x, p, sur, **kw), True)
        with torch.no_grad():
            with kernels.use("torch"):
                s1, v1, f1 = neuron_sequence(x, p, sur, return_membrane=True)
            with kernels.use(IMPL):
                s2, v2, f2 = neuron_sequence(x, p, sur, return_membrane=True)
        assert torch.equal(s1, s2) and torch.equal(v1, v2) and torch.equal(f1.v, f2.v)


BF16_CASES = [(False, "subtract", False, 0), (True, "zero", False, 2), (True, "subtract", True, 0)]


@pytest.mark.parametrize("case", BF16_CASES, ids=_case_id)
def test_bfloat16_is_the_float32_result_rounded_once(case):
    """bfloat16 in, float32 state: equal spikes and the float32 loop's values rounded to bfloat16."""
    cuba, reset, delay, refr = case
    p = _params(cuba, reset, delay, refr, decay_input=True)
    x = _input(p, shape=(8, 2, 6), seed=7, dtype=torch.bfloat16)
    sur = Surrogate("atan", 2.0)
    (o32, g32) = _run("torch", x.float(), p, sur, state=False)
    (o16, g16) = _run(IMPL, x, p, sur, state=False)
    assert o16["spikes"].dtype == torch.bfloat16 and o16["spikes"].sum() > 0
    for k in o32:
        want = o32[k] if o32[k].dtype == torch.int32 else o32[k].to(torch.bfloat16)
        assert torch.equal(o16[k], want), k
    assert g16["dx"].dtype == torch.bfloat16
    torch.testing.assert_close(g16["dx"], g32["dx"].to(torch.bfloat16), rtol=0, atol=0)
    for k in ("dbeta", "dv_th", "dalpha"):
        if k in g32:  # parameters stay float32: same values as the float32 run
            assert g16[k].dtype == torch.float32
            torch.testing.assert_close(g16[k], g32[k], rtol=1e-6, atol=1e-6)


def test_forced_triton_on_cpu_raises_and_unsupported_dtype_is_named():
    p = _params(False, "subtract", False)
    x = _input(p)
    with pytest.raises(ValueError, match="CUDA tensors"):
        with kernels.use("triton"):
            neuron_sequence(x.cpu(), p, Surrogate())
    with pytest.raises(ValueError, match="float32 and bfloat16"):
        with kernels.use(IMPL):
            neuron_sequence(x.double(), p, Surrogate())


def test_auto_falls_back_and_logs_when_triton_is_missing(monkeypatch, caplog):
    monkeypatch.setenv("NEUROMAP_TRITON_INTERPRET", "1")  # auto treats these CPU tensors like CUDA ones
    monkeypatch.setattr(triton_kernels, "_warned", set())
    monkeypatch.setattr(triton_kernels, "unavailable", lambda: "triton is not importable (test)")
    p = _params(True, "subtract", False)
    x = _input(p)
    called = []
    monkeypatch.setattr(triton_kernels, "forward", lambda *a, **k: called.append(1))
    with caplog.at_level(logging.WARNING, logger="neuromap.neurons"):
        with kernels.use("auto"):
            s, v, _ = neuron_sequence(x, p, Surrogate(), return_membrane=True)
            neuron_sequence(x, p, Surrogate())
    with kernels.use("torch"):
        s_ref, v_ref, _ = neuron_sequence(x, p, Surrogate(), return_membrane=True)
    assert not called and torch.equal(s, s_ref) and torch.equal(v, v_ref)
    msgs = [r.getMessage() for r in caplog.records if "Triton neuron kernel not used" in r.getMessage()]
    assert len(msgs) == 1 and "triton is not importable (test)" in msgs[0]


def test_auto_uses_the_interpreter_and_falls_back_when_a_kernel_fails(monkeypatch, caplog):
    monkeypatch.setenv("NEUROMAP_TRITON_INTERPRET", "1")
    monkeypatch.setattr(triton_kernels, "_warned", set())
    monkeypatch.setattr(triton_kernels, "_import_error", [])
    p = _params(False, "zero", False)
    x = _input(p)
    calls = []
    real_forward = triton_kernels.forward

    def spy(*a, **k):
        calls.append(1)
        return real_forward(*a, **k)

    monkeypatch.setattr(triton_kernels, "forward", spy)
    with kernels.use("auto"):
        s_auto, _, _ = neuron_sequence(x, p, Surrogate())
    assert calls == [1]  # auto chose the Triton path

    def broken(*a, **k):
        raise RuntimeError("PTX compile error (test)")

    monkeypatch.setattr(triton_kernels, "forward", broken)
    with caplog.at_level(logging.WARNING, logger="neuromap.neurons"):
        with kernels.use("auto"):
            s_fb, _, _ = neuron_sequence(x, p, Surrogate())
    assert torch.equal(s_auto, s_fb)
    assert any("PTX compile error (test)" in r.getMessage() for r in caplog.records)
    assert triton_kernels.unavailable()  # disabled for the rest of the process (restored by monkeypatch)
    with pytest.raises(RuntimeError, match="PTX compile error"):
        with kernels.use(IMPL):
            pass


@pytest.mark.slow
@pytest.mark.parametrize("sur_name", SURROGATES)
def test_full_option_product(sur_name):
    """Every combination of every switch, for each surrogate (about 2 minutes in the interpreter)."""
    sur = Surrogate(sur_name, 3.0)
    for cuba, (reset, delay), refr, inclusive, decay_input, detach in itertools.product(
        [False, True], RESETS, [0, 2], [False, True], [False, True], [False, True]
    ):
        if delay and refr:
            continue
        p = _params(cuba, reset, delay, refr, inclusive, decay_input, detach)
        x = _input(p, shape=(6, 2, 4), seed=refr + 2 * inclusive)
        _assert_match(_run("torch", x, p, sur), _run(IMPL, x, p, sur), exact_grads=sur_name != "sigmoid")
