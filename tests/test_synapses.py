"""Event-driven synapses (neuromap.synapses): the sparse path equals the dense one, the automatic
choice follows the density, and dense can be forced globally or per layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuromap import synapses
from neuromap.neurons import kernels

pytestmark = pytest.mark.skipif(kernels.load() is None, reason=f"LOUD SKIP: compiled kernels unavailable: "
                                f"{kernels.status()['error']}")

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
