"""Event-driven synapses (neuromap.synapses): the sparse path equals the dense one, the automatic
choice follows the density, and dense can be forced globally or per layer."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from neuromap import synapses

pytestmark = pytest.mark.usefixtures("cpp_kernels")  # built on first use, not at collection

DENSITIES = (0.0, 0.01, 0.05, 0.3, 1.0)
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def _spikes(shape, p, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).to(dtype)


def _run(layer, x, mode, g=None, input_grad=False):
    layer.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(input_grad)
    with synapses.use(mode):
        y = layer(x)
    assert layer.last_path == mode
    if g is None:
        g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    y.backward(g)
    grads = [p.grad.clone() for p in layer.parameters()]
    return y.detach(), grads, (x.grad.clone() if input_grad else None), g


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", DENSITIES)
@pytest.mark.parametrize("shape,n_out,bias", [((7, 3, 37), 29, True), ((1, 1, 5), 1, False), ((4, 130), 70, True)])
def test_linear_sparse_equals_dense(dtype, p, shape, n_out, bias):
    torch.manual_seed(0)
    layer = synapses.Linear(shape[-1], n_out, bias=bias, dtype=dtype)
    x = _spikes(shape, p, dtype)
    for input_grad in (False, True):
        ys, gs, xs, g = _run(layer, x, "sparse", input_grad=input_grad)
        yd, gd, xd, _ = _run(layer, x, "dense", g, input_grad=input_grad)
        assert ys.shape == yd.shape == (*shape[:-1], n_out)
        torch.testing.assert_close(ys, yd, **TOL[dtype])
        for a, b in zip(gs, gd):
            torch.testing.assert_close(a, b, **TOL[dtype])
        if input_grad:
            torch.testing.assert_close(xs, xd, **TOL[dtype])
    if p in (0.0, 1.0) and not bias:
        assert torch.equal(ys, yd)  # nothing, or every row, summed: no reordering to round differently


def test_linear_non_binary_values():
    torch.manual_seed(0)
    layer = synapses.Linear(50, 33, dtype=torch.float64)
    x = torch.randn(6, 4, 50, dtype=torch.float64) * _spikes((6, 4, 50), 0.2, torch.float64)
    ys, gs, _, g = _run(layer, x, "sparse")
    yd, gd, _, _ = _run(layer, x, "dense", g)
    torch.testing.assert_close(ys, yd, **TOL[torch.float64])
    torch.testing.assert_close(gs[0], gd[0], **TOL[torch.float64])


def test_float64_spikes_identical_after_threshold():
    """A spiking layer downstream sees identical spikes in float64 on either path."""
    from neuromap.networks import SpikingMLP

    torch.manual_seed(0)
    model = SpikingMLP(60, [80], 10).double()
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight *= 4
    x = _spikes((20, 4, 60), 0.1, torch.float64)
    with synapses.use("sparse"):
        a = model(x)
    with synapses.use("dense"):
        b = model(x)
    assert model[0].last_path == model[2].last_path == "dense"
    assert a.sum() > 0 and torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", (0.0, 0.05, 0.5, 1.0))
@pytest.mark.parametrize("conf", [dict(kernel_size=3, padding=1), dict(kernel_size=3, stride=2, padding=1, bias=False),
                                  dict(kernel_size=(1, 2), stride=(1, 2)), dict(kernel_size=5, padding=0)])
def test_conv2d_sparse_equals_dense(dtype, p, conf):
    torch.manual_seed(0)
    layer = synapses.Conv2d(3, 5, dtype=dtype, **conf)
    x = _spikes((4, 3, 9, 11), p, dtype)
    for input_grad in (False, True):
        ys, gs, xs, g = _run(layer, x, "sparse", input_grad=input_grad)
        yd, gd, xd, _ = _run(layer, x, "dense", g, input_grad=input_grad)
        torch.testing.assert_close(ys, yd, **TOL[dtype])
        for a, b in zip(gs, gd):
            torch.testing.assert_close(a, b, **TOL[dtype])
        if input_grad:
            torch.testing.assert_close(xs, xd, **TOL[dtype])


def test_conv2d_unsupported_configs_run_dense():
    layer = synapses.Conv2d(4, 4, 3, groups=2, padding=1)
    with synapses.use("sparse"):
        layer(_spikes((2, 4, 5, 5), 0.1, torch.float32))
    assert layer.last_path == "dense"


def test_automatic_choice_follows_density():
    layer = synapses.Linear(100, 20, crossover=0.2)
    layer(_spikes((5, 2, 100), 0.05, torch.float32))
    assert layer.last_path == "sparse"
    layer(_spikes((5, 2, 100), 0.5, torch.float32))
    assert layer.last_path == "dense"
    layer(torch.zeros(5, 2, 100))
    assert layer.last_path == "sparse"
    layer(torch.ones(5, 2, 100))
    assert layer.last_path == "dense"
    assert synapses.Linear(3, 4).crossover == synapses.LINEAR_CROSSOVER


def test_force_dense_global_and_per_layer(monkeypatch):
    x = _spikes((5, 2, 100), 0.01, torch.float32)
    layer = synapses.Linear(100, 20)
    with synapses.use("dense"):
        layer(x)
    assert layer.last_path == "dense"
    layer(x)
    assert layer.last_path == "sparse"
    monkeypatch.setenv("NEUROMAP_DENSE_SYNAPSES", "1")
    layer(x)
    assert layer.last_path == "dense"
    monkeypatch.delenv("NEUROMAP_DENSE_SYNAPSES")
    synapses.set_mode("dense")
    try:
        layer(x)
        assert layer.last_path == "dense"
    finally:
        synapses.set_mode("auto")
    dense_layer = synapses.Linear(100, 20, mode="dense")
    with synapses.use("sparse"):
        dense_layer(x)
    assert dense_layer.last_path == "dense"
    with pytest.raises(ValueError, match="not one of"):
        synapses.Linear(3, 4, mode="fast")
    with pytest.raises(ValueError, match="not one of"):
        synapses.set_mode("fast")


def test_non_cpu_dtype_falls_back_dense():
    layer = synapses.Linear(10, 4).to(torch.bfloat16)
    with synapses.use("sparse"):
        layer(torch.zeros(3, 10, dtype=torch.bfloat16))
    assert layer.last_path == "dense"


def test_drop_in_for_nn_linear():
    layer = synapses.Linear(8, 3)
    assert isinstance(layer, nn.Linear)
    ref = nn.Linear(8, 3)
    layer.load_state_dict(ref.state_dict())
    assert list(layer.state_dict()) == list(ref.state_dict())
    conv = synapses.Conv2d(2, 3, 3)
    assert isinstance(conv, nn.Conv2d) and list(conv.state_dict()) == list(nn.Conv2d(2, 3, 3).state_dict())


def test_one_crossover_with_and_without_autograd():
    """One threshold with and without autograd: a module and its traced graph (run without
    gradients) must take the same path, or their float sums would differ in the last bits."""
    layer = synapses.Linear(200, 20, crossover={"forward": 0.5, "train": 0.1})
    x = _spikes((4, 5, 200), 0.3, torch.float32)
    with torch.no_grad():
        layer(x)
    assert layer.last_path == "dense"
    layer(x)
    assert layer.last_path == "dense"
    assert synapses.crossover_for(synapses.LINEAR_CROSSOVER) == synapses.LINEAR_CROSSOVER["train"]


# --- SDSA-3's product Q (K^T V) on binary operands ------------------------------------------------------

ATTN_SHAPES = [((2, 3, 5, 12), 3), ((1, 2, 70, 8), 2), ((2, 1, 16, 64), 4), ((1, 1, 1, 1), 1)]  # N > 64; c = 16


def _token_view(shape, p, dtype, seed):
    """Spikes ``[..., N, C]`` laid out channel-major, as the transformers' token views are."""
    *lead, n, c = shape
    return _spikes((*lead, c, n), p, dtype, seed).transpose(-2, -1)


def _attention_run(q, k, v, heads, mode, g=None, needs=(True, True, True)):
    leaves = [t.detach().clone().requires_grad_(r) for t, r in zip((q, k, v), needs)]
    y, path = synapses.attention_path(*(t * 1 for t in leaves), heads, mode=mode)  # non-leaf inputs, as in a model
    assert path == mode
    if g is None:
        g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    y.backward(g)
    return y.detach(), [t.grad for t in leaves], g


def _close_to_rounding(a, b, dtype):
    """Equal up to the rounding of re-ordered real sums, relative to the gradient's scale."""
    rel = 1e-5 if dtype == torch.float32 else 1e-13
    torch.testing.assert_close(a, b, rtol=rel, atol=rel * max(1.0, float(b.abs().max())))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("densities", [(0.0, 0.0, 0.0), (0.05, 0.05, 0.05), (0.3, 0.3, 0.3), (1.0, 1.0, 1.0),
                                       (0.1, 1.0, 0.4), (1.0, 0.0, 0.5)])
@pytest.mark.parametrize("shape,heads", ATTN_SHAPES)
def test_attention_sparse_equals_dense(dtype, densities, shape, heads):
    q, k, v = (_token_view(shape, p, dtype, seed) for seed, p in enumerate(densities))
    ys, gs, g = _attention_run(q, k, v, heads, "sparse")
    yd, gd, _ = _attention_run(q, k, v, heads, "dense", g)
    assert ys.shape == yd.shape == shape
    assert torch.equal(ys, yd)  # integer sums on both paths: bit for bit, in float32 too
    assert torch.equal(ys, torch.round(ys))
    for a, b in zip(gs, gd):
        _close_to_rounding(a, b, dtype)


def test_attention_contiguous_operands_and_partial_gradients():
    """Token-major (contiguous ``[..., N, C]``) operands, and only some of them requiring a gradient."""
    q, k, v = (_spikes((3, 2, 9, 8), 0.3, torch.float64, seed) for seed in range(3))
    for needs in ((False, True, False), (True, False, False), (False, False, True)):
        ys, gs, g = _attention_run(q, k, v, 2, "sparse", needs=needs)
        yd, gd, _ = _attention_run(q, k, v, 2, "dense", g, needs=needs)
        assert torch.equal(ys, yd)
        for a, b, need in zip(gs, gd, needs):
            assert (a is None) == (not need)
            if need:
                _close_to_rounding(a, b, torch.float64)


def test_attention_non_binary_runs_dense_or_raises():
    q, k, v = (_token_view((2, 2, 6, 8), 0.3, torch.float32, seed) for seed in range(3))
    for bad in (q * 2, q * 0.5, q - 1, q.masked_fill(q > 0, float("nan"))):
        assert synapses.attention_path(bad, k, v, 2)[1] == "dense"
        with pytest.raises(ValueError, match="needs binary"):
            synapses.attention_path(bad, k, v, 2, mode="sparse")
    with pytest.raises(ValueError, match="share one shape"):
        synapses.attention(q, k[..., :4], v, 2)
    with pytest.raises(ValueError, match="dividing"):
        synapses.attention(q, k, v, 3)


def test_attention_automatic_choice_and_force_dense(monkeypatch):
    sparse, dense = (_token_view((2, 2, 16, 8), p, torch.float32, 0) for p in (0.05, 0.6))
    assert synapses.attention_path(sparse, sparse, sparse, 2, crossover=0.2)[1] == "sparse"
    assert synapses.attention_path(dense, dense, dense, 2, crossover=0.2)[1] == "dense"
    assert synapses.attention_path(sparse, sparse, dense, 2, crossover=0.2)[1] == "dense"  # mean density 0.23
    with synapses.use("dense"):
        assert synapses.attention_path(sparse, sparse, sparse, 2, mode="sparse")[1] == "dense"
    monkeypatch.setenv("NEUROMAP_DENSE_SYNAPSES", "1")
    assert synapses.attention_path(sparse, sparse, sparse, 2, crossover=0.2)[1] == "dense"
    monkeypatch.delenv("NEUROMAP_DENSE_SYNAPSES")
    assert synapses.attention_path(sparse, sparse, sparse, 2, mode="dense")[1] == "dense"
    assert synapses.attention_path(sparse.double(), sparse.double(), sparse.double(), 2, mode="sparse")[1] == "sparse"
    assert synapses.attention_path(sparse.bfloat16(), sparse.bfloat16(), sparse.bfloat16(), 2, mode="sparse")[1] == "dense"


def test_sdsa3_module_paths_agree():
    """The model's attention: same spikes and output on both paths (float32), the mode per module and global."""
    from neuromap.networks.metaspikformer import SDSA3, MetaSpikeFormer

    attn = SDSA3(16, heads=4)
    q, k, v = (_token_view((3, 2, 10, 16), 0.05, torch.float32, seed) for seed in range(3))
    a, pre_a = attn(q, k, v), attn.attention(q, k, v)
    assert pre_a.sum() > 0
    assert attn.last_path == ("sparse" if synapses.ATTENTION_CROSSOVER["train"] > 0.1 else "dense")
    with synapses.use("dense"):
        b, pre_b = attn(q, k, v), attn.attention(q, k, v)
    assert attn.last_path == "dense" and torch.equal(a, b) and torch.equal(pre_a, pre_b)
    assert SDSA3(16, 4, mode="dense").mode == "dense"
    with pytest.raises(ValueError, match="not one of"):
        SDSA3(16, 4, mode="fast")

    torch.manual_seed(0)
    model = MetaSpikeFormer.tiny().double()
    x = torch.rand(2, 3, 1, 8, 8, dtype=torch.float64) * 3
    state = copy.deepcopy(model.state_dict())  # BNAndPad pads with the running statistics a forward updates
    outs, grads = [], []
    for mode in ("sparse", "dense"):
        model.load_state_dict(state)
        for m in model.modules():
            if isinstance(m, SDSA3):
                m.mode = mode
        model.zero_grad()
        y = model(x)
        y.square().sum().backward()
        assert all(m.last_path == mode for m in model.modules() if isinstance(m, SDSA3))
        outs.append(y.detach())
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert torch.equal(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8 * max(1.0, float(b.abs().max())))
