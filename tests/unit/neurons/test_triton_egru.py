"""The fused EGRU kernels (neuromap.neurons.egru.egru_sequence, run through Triton's interpreter on
the CPU) against the PyTorch cell (networks/egru.py, impl="vectorised").

What is pinned: in float64 the events are identical and the values and every gradient (input,
weights, biases, thresholds, initial state; through y, c, o and the final state) agree within
1e-12 (sigmoid and tanh are computed with exp: last bits differ); in float32 within 1e-5. Every
zoneout mode (none, training mask, evaluation expectation), dropconnect, no bias. Dispatch: ``auto``
takes the kernels when Triton runs (here: ``NEUROMAP_TRITON_INTERPRET=1``), falls back to the loop
with one logged warning when Triton is missing or a kernel fails, and a forced implementation
raises instead. ``NEUROMAP_TEST_DEVICE=cuda`` runs the same tests with the compiled kernels on a GPU
(benchmarks/gpu_check.sh does).
"""

import logging

import pytest
import torch

from neuromap.networks.egru import EGRU, EGRUCell, EGRUState
from neuromap.neurons import egru as egru_fn
from neuromap.neurons import kernels, triton_kernels
from tests.support import DEVICE, IMPL

pytestmark = [pytest.mark.gpu, pytest.mark.triton]


def _model(dtype, zoneout=0.0, dropconnect=0.0, bias=True, seed=0):
    torch.manual_seed(seed)
    m = EGRU(5, [9, 6], thr_mean=0.2, zoneout=zoneout, dropconnect=dropconnect)
    if not bias:
        for layer in m.layers:
            layer.bias_ih = layer.bias_hh = None
    with torch.no_grad():  # larger recurrent weights: events on most steps, some near threshold
        for layer in m.layers:
            layer.weight_hh.mul_(2.0)
    return m.to(dtype=dtype, device=DEVICE)


def _run(m, impl, x, train=True, state=None, seed=1):
    """Forward (same random masks in both runs), a loss on y, c, o and the final state; values and grads."""
    m.train(train)
    torch.manual_seed(seed)
    leaves = {"x": x.detach().clone().requires_grad_()}
    if state is not None:
        leaves.update({f"s{k}{f}": getattr(s, f).detach().clone().requires_grad_() for k, s in enumerate(state)
                       for f in ("c", "y")})
        state = [EGRUState(leaves[f"s{k}c"], leaves[f"s{k}y"]) for k in range(len(m.layers))]
    with kernels.use(impl):
        h, fin = m.forward_with_state(leaves["x"], state)
    w = torch.randn(h.shape, generator=torch.Generator().manual_seed(3)).to(h)
    loss = (h * w).sum() + m.activity_loss(0.1, 0.2, 0.3) + sum((s.c * 0.7 + s.y * 0.3).sum() for s in fin)
    params = dict(m.named_parameters())
    grads = torch.autograd.grad(loss, [*leaves.values(), *params.values()])
    outs = {"h": h} | {f"{k}.{f}": getattr(o, f) for k, o in enumerate(m._last) for f in ("y", "c", "o")}
    outs |= {f"final{k}.{f}": getattr(s, f) for k, s in enumerate(fin) for f in ("c", "y")}
    return {k: t.detach() for k, t in outs.items()}, dict(zip([*leaves, *params], grads))


def _assert_match(ref, got, tol):
    (o1, g1), (o2, g2) = ref, got
    assert o1["0.o"].sum() > 0  # events happened
    for k in o1:
        if k.endswith(".o"):
            assert torch.equal(o1[k], o2[k]), f"events {k} differ"
        else:
            torch.testing.assert_close(o2[k], o1[k], rtol=tol, atol=tol, msg=f"output {k}")
    assert g1["layers.0.threshold"].abs().sum() > 0 and g1["layers.0.weight_hh"].abs().sum() > 0
    for k in g1:
        torch.testing.assert_close(g2[k], g1[k], rtol=tol, atol=tol, msg=f"gradient {k}")


def _input(dtype, T=7, B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, B, 5, generator=g).to(dtype=dtype, device=DEVICE)


@pytest.mark.parametrize(
    "zoneout,dropconnect,train,bias",
    [(0.0, 0.0, True, True), (0.3, 0.2, True, True), (0.3, 0.0, False, True), (0.0, 0.0, True, False)],
    ids=["plain", "zoneout-train-dropconnect", "zoneout-eval", "no-bias"],
)
def test_float64_matches_the_pytorch_cell(zoneout, dropconnect, train, bias):
    m = _model(torch.float64, zoneout, dropconnect, bias)
    x = _input(torch.float64)
    _assert_match(_run(m, "torch", x, train), _run(m, IMPL, x, train), 1e-12)


def test_initial_state_and_float32():
    m = _model(torch.float64)
    x = _input(torch.float64, seed=4)
    g = torch.Generator().manual_seed(5)
    state = [EGRUState((0.3 * torch.rand(3, n, generator=g)).to(x), (0.3 * torch.rand(3, n, generator=g)).to(x))
             for n in (9, 6)]
    ref, got = _run(m, "torch", x, state=state), _run(m, IMPL, x, state=state)
    _assert_match(ref, got, 1e-12)
    assert all(got[1][f"s{k}{f}"].abs().sum() > 0 for k in (0, 1) for f in "cy")  # gradients reach the state
    m32, x32 = m.float(), x.float()
    _assert_match(_run(m32, "torch", x32, state=None), _run(m32, IMPL, x32, state=None), 1e-5)


def test_inference_keeps_nothing_and_matches():
    m = _model(torch.float64, zoneout=0.25).eval()
    x = _input(torch.float64, T=5, B=2)
    with torch.no_grad():
        with kernels.use("torch"):
            ref = m.layers[0].forward_sequence(x)
        with kernels.use(IMPL):
            got = m.layers[0].forward_sequence(x)
    assert got.y.grad_fn is None and torch.equal(ref.o, got.o)
    for a, b in zip(ref, got):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    assert m.layers[0].last_stats["activity"] == pytest.approx(float(ref.o.mean()))


def test_loop_impl_and_unsupported_dtype():
    """``impl="loop"`` is the readable reference and never takes the kernels; a forced Triton call
    on a dtype the kernels lack names it."""
    cell = EGRUCell(4, 3, impl="loop").to(DEVICE)
    x = torch.randn(3, 2, 4, device=DEVICE)
    with kernels.use(IMPL):
        cell.forward_sequence(x)
    cell = EGRUCell(4, 3).to(DEVICE, torch.bfloat16)
    with pytest.raises(ValueError, match="float32 and float64"):
        with kernels.use(IMPL):
            cell.forward_sequence(x.to(torch.bfloat16))


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setenv("NEUROMAP_TRITON_INTERPRET", "1")  # auto treats CPU tensors like CUDA ones
    monkeypatch.setattr(triton_kernels, "_warned", set())
    monkeypatch.setattr(egru_fn, "_failed", [])
    monkeypatch.setattr(egru_fn, "_probed", set())


@pytest.mark.cpu_only
def test_auto_uses_the_kernels_and_falls_back_when_they_fail(fresh, monkeypatch, caplog):
    cell = EGRUCell(4, 5, thr_mean=0.2)
    x = torch.randn(4, 2, 4)
    with kernels.use("auto"):
        assert egru_fn.select_backend(x) == "interpret"  # (runs the one-time probe)
    calls = []
    real = egru_fn.egru_sequence
    monkeypatch.setattr(egru_fn, "egru_sequence", lambda *a: calls.append(1) or real(*a))
    with kernels.use("auto"):
        y_auto = cell(x)
    assert calls == [1]
    with kernels.use("torch"):
        torch.testing.assert_close(cell(x), y_auto, rtol=1e-5, atol=1e-6)

    def broken(*a):
        raise RuntimeError("PTX compile error (test)")

    monkeypatch.setattr(egru_fn, "egru_sequence", broken)
    with pytest.raises(RuntimeError, match="PTX compile error"):  # forced: no fallback
        with kernels.use(IMPL):
            cell(x)
    with caplog.at_level(logging.WARNING, logger="neuromap.neurons"):
        with kernels.use("auto"):
            torch.testing.assert_close(cell(x), y_auto, rtol=1e-5, atol=1e-6)
            cell(x)
    msgs = [r.getMessage() for r in caplog.records if "PTX compile error (test)" in r.getMessage()]
    assert len(msgs) == 1 and "EGRU" in msgs[0]
    assert egru_fn.triton_problem(x, "auto")  # switched off for the rest of the process


@pytest.mark.cpu_only
def test_auto_probe_catches_a_backward_that_cannot_compile(fresh, monkeypatch, caplog):
    """A kernel that fails only in the backward is found by the one-time probe, before a training
    step depends on it; the loop runs instead (logged)."""
    mod = triton_kernels.kernel_module(egru_fn._SOURCE, True)

    class Broken:
        def __getitem__(self, grid):
            raise RuntimeError("backward kernel does not compile (test)")

    monkeypatch.setattr(mod, "egru_step_backward", Broken())
    cell = EGRUCell(4, 5)
    with caplog.at_level(logging.WARNING, logger="neuromap.neurons"):
        with kernels.use("auto"):
            cell(torch.randn(3, 2, 4)).sum().backward()
    assert cell.weight_hh.grad is not None  # the loop's backward ran: the kernel's would have raised
    assert egru_fn.triton_problem(torch.zeros(1), "auto")
    assert any("backward kernel does not compile (test)" in r.getMessage() for r in caplog.records)


@pytest.mark.cpu_only
def test_auto_falls_back_when_triton_is_missing(fresh, monkeypatch, caplog):
    monkeypatch.setattr(triton_kernels, "unavailable", lambda: "triton is not importable (test)")
    cell = EGRUCell(4, 5)
    with caplog.at_level(logging.WARNING, logger="neuromap.neurons"):
        with kernels.use("auto"):
            cell(torch.randn(3, 2, 4))
    assert any("EGRU: triton is not importable (test)" in r.getMessage() for r in caplog.records)


@pytest.mark.cpu_only
def test_torch_compile_runs_the_fused_recurrence_eagerly(fresh):
    """Under torch.compile the fused recurrence is one graph break per layer (``torch.compiler.disable``):
    same values and gradients as eager, and the kernels stay on."""
    import torch._dynamo

    m = EGRU(3, [5], thr_mean=0.2)
    x = torch.randn(4, 2, 3)
    ref = m(x)
    g_ref = torch.autograd.grad(ref.sum(), m.layers[0].weight_hh)[0]
    torch._dynamo.reset()
    y = torch.compile(m, backend="eager")(x)
    g = torch.autograd.grad(y.sum(), m.layers[0].weight_hh)[0]
    torch.testing.assert_close(y, ref, rtol=0, atol=0)
    torch.testing.assert_close(g, g_ref, rtol=0, atol=0)
    assert not egru_fn._failed
    breaks = torch._dynamo.utils.counters.get("graph_break", {})
    assert all("torch.compiler.disable" in k for k in breaks), list(breaks)


@pytest.mark.cpu_only
def test_first_use_under_inference_mode_keeps_the_kernels(fresh):
    """The one-time probe runs a backward; a first call under ``torch.inference_mode`` must not
    mistake that mode for a broken kernel."""
    cell = EGRUCell(4, 5, thr_mean=0.2)
    x = torch.randn(3, 2, 4)
    with kernels.use("auto"), torch.inference_mode():
        y = cell(x)
    assert not egru_fn._failed
    with kernels.use("torch"), torch.no_grad():
        torch.testing.assert_close(y, cell(x), rtol=1e-5, atol=1e-6)
