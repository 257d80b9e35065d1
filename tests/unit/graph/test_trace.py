"""trace -> Graph -> backends.torch reproduces the module exactly; save/load; unsupported ops."""

import nir
import numpy as np
import pytest
import torch
from torch import nn

import neuromap as nm
from neuromap.backends import get
from neuromap.graph import GraphError, UnsupportedNodeError
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIF, CubaLIF, LIFParams


def _spikes_in(T=25, B=4, n=12, p=0.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n, generator=g) < p).float()


@pytest.mark.parametrize("neuron,readout", [("lif", "spikes"), ("cuba", "spikes"), ("lif", "membrane"),
                                            ("cuba", "membrane")])
def test_spiking_mlp_trace_save_nir_read_run_identical(tmp_path, neuron, readout):
    model = SpikingMLP(12, [32, 16], 5, neuron=neuron, readout=readout, beta=0.85, alpha=0.7)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    x = _spikes_in()
    graph = nm.trace(model, x)
    path = nm.save(graph, tmp_path / "mlp.nir")
    plain = nir.read(str(path))  # a plain NIR tool loads it
    assert {type(n).__name__ for n in plain.nodes.values()} <= {"Input", "Output", "Affine", "LIF", "CubaLIF", "LI"}
    loaded = nm.load(path)
    assert loaded.diff(graph) == []
    run = get("torch").compile(loaded).run(x)
    expected = model(x)
    assert torch.equal(run.output, expected)
    if readout == "spikes":
        assert expected.sum() > 0  # the comparison is not vacuous
    hidden = model[1](model[0](x))
    assert torch.equal(run.records["1"], hidden)
    assert run.backend == "torch" and run.wall_seconds >= 0


def test_learned_per_neuron_parameters_and_exotic_params_round_trip(tmp_path):
    p = LIFParams(tau_mem=5e-3, dt=1e-3, v_th=0.7, v_reset=-0.1, reset="zero", refractory_steps=2,
                  integrator="euler", decay_input=True, threshold_rule=">=")
    lif = LIF(p, size=8, learn_beta=True, learn_threshold=True)
    cuba = CubaLIF(alpha=0.6, beta=0.9, size=4, learn_alpha=True, reset_delay=True)
    model = nn.Sequential(nn.Linear(6, 8), lif, nn.Linear(8, 4, bias=False), cuba)
    with torch.no_grad():
        lif.beta.uniform_(0.2, 0.95)
        lif.v_th.uniform_(0.3, 1.0)
        cuba.alpha.uniform_(0.3, 0.9)
        model[0].weight.mul_(4)
    x = torch.rand(30, 3, 6) * 2
    graph = nm.trace(model, x)
    loaded = nm.load(nm.save(graph, tmp_path / "m.nir"))
    assert loaded.diff(graph) == []
    assert isinstance(loaded.nodes["2"], nir.Linear)
    out = get("torch").compile(loaded).run(x)
    assert torch.equal(out.output, model(x))
    assert torch.equal(out.records["1"], model[1](model[0](x)))
    assert out.records["1"].sum() > 0


class ConvNet(nn.Module):
    """Time-flattened convs (MultiStep style), BatchNorm, residual add, avg pooling, dropout, scale."""

    def __init__(self):
        super().__init__()
        self.c1, self.bn = nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.l1, self.l2 = LIF(beta=0.8, v_th=0.5), LIF(beta=0.8, v_th=0.5)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.pool, self.drop = nn.AvgPool2d(2), nn.Dropout(0.3)
        self.fc, self.l3 = nn.Linear(64, 5), LIF(beta=0.9, v_th=0.5)

    def forward(self, x):
        T, B = x.shape[:2]
        y = self.l1(self.bn(self.c1(x.flatten(0, 1))).reshape(T, B, 4, 8, 8))
        z = self.l2(self.c2(y.flatten(0, 1)).reshape(T, B, 4, 8, 8) + y)
        p = self.pool(z.flatten(0, 1)).reshape(T, B, 4, 4, 4)
        return self.l3(self.fc(self.drop(p.flatten(2))) * 2.0)


def test_conv_residual_batchnorm_pool_trace():
    torch.manual_seed(1)
    net = ConvNet()
    with torch.no_grad():
        net.bn.running_mean.uniform_(-0.2, 0.2)
        net.bn.running_var.uniform_(0.5, 2.0)
        net.c1.weight.mul_(3)
        net.fc.weight.mul_(4)
    net.eval()
    x = (torch.rand(12, 3, 2, 8, 8) < 0.5).float()
    graph = nm.trace(net, x)
    types = {n: type(v).__name__ for n, v in graph.nodes.items()}
    assert "bn" not in types and "drop" not in types  # folded / dropped
    assert types["c1"] == "Conv2d" and types["pool"] == "AvgPool2d" and types["flatten"] == "Flatten"
    assert ("c2", "l2") in graph.edges and ("l1", "l2") in graph.edges  # residual add = two edges
    run = get("torch").compile(graph).run(x)
    ref = net(x)
    # BatchNorm folding changes float rounding of the conv; compare spikes of the hidden layers
    assert ref.sum() > 0
    assert (run.output != ref).float().mean() < 0.01


def test_trace_errors_name_the_op_and_module():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(4, 4), LIF(beta=0.9)

        def forward(self, x):
            return self.lif(torch.sigmoid(self.fc(x)))

    with pytest.raises(GraphError, match="sigmoid"):
        nm.trace(Bad(), torch.rand(3, 2, 4))
    with pytest.raises(UnsupportedNodeError, match="ReLU"):
        nm.trace(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), LIF(beta=0.9)), torch.rand(3, 2, 4))
    with pytest.raises(GraphError, match="BatchNorm"):
        nm.trace(nn.Sequential(nn.Linear(4, 4), LIF(beta=0.9), nn.Flatten(0, 1), nn.BatchNorm1d(4)), torch.rand(3, 2, 4))
    with pytest.raises(GraphError, match="example"):
        nm.trace(SpikingMLP(4, [3], 2), torch.rand(2, 4))


def test_trace_restores_training_mode_and_leaves_weights():
    model = SpikingMLP(4, [3], 2)
    model.train()
    before = [p.clone() for p in model.parameters()]
    nm.trace(model, torch.rand(3, 2, 4))
    assert model.training
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_nir_lif_parameters_are_euler_exact():
    model = SpikingMLP(3, [4], 2, beta=0.8)
    graph = nm.trace(model, torch.rand(2, 1, 3))
    lif = graph.nodes["1"]
    dt = model[1].params.dt
    beta = model[1].params.beta
    # Euler at dt: 1 - dt/tau = beta; input gain (dt/tau) r = 1 (snnTorch's convention)
    np.testing.assert_allclose(1 - dt / lif.tau, beta, rtol=1e-12)
    np.testing.assert_allclose(dt / lif.tau * lif.r, 1.0, rtol=1e-12)
