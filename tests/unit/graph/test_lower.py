"""Graph.lower() -> Netlist: populations, dense / conv / sparse (pooling) / identity / recurrent projections."""

import nir
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

import neuromap as nm
from neuromap.graph import Graph
from neuromap.graph.neuron import LIFSpec, spec_to_nir
from neuromap.netlist import Netlist
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIF, LIFParams


def test_mlp_netlist():
    model = SpikingMLP(6, [5, 4], 3, neuron="cuba")
    net = nm.trace(model, torch.rand(2, 1, 6)).lower()
    assert isinstance(net, Netlist)
    assert [(p.name, p.kind, p.size) for p in net.populations] == [("input", "input", 6), ("1", "cuba", 5),
                                                                      ("3", "cuba", 4), ("5", "cuba", 3)]
    proj = {(p.src, p.dst): p for p in net.projections}
    p = proj[("input", "1")]
    assert p.kind == "dense" and np.array_equal(p.weight, model[0].weight.detach().numpy())
    assert np.array_equal(p.bias, model[0].bias.detach().numpy())
    assert p.synapses == 30 and list(p.fan_in()) == [6] * 5 and list(p.fan_out()) == [5] * 6
    assert net.n_neurons == 12 and net.n_synapses == 30 + 20 + 12
    assert net.population("1").params.neuron.tau_syn == model[1].params.tau_syn


def test_conv_pool_projections_match_torch():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.l1 = nn.Conv2d(2, 3, 3, stride=2, padding=1), LIF(beta=0.9)
            self.pool, self.l2 = nn.AvgPool2d(2), LIF(beta=0.9)
            self.c1d, self.l3 = nn.Conv1d(3, 2, 2, dilation=2), LIF(beta=0.9)

        def forward(self, x):
            T, B = x.shape[:2]
            y = self.l1(self.conv(x.flatten(0, 1)).reshape(T, B, 3, 4, 4))
            z = self.l2(self.pool(y.flatten(0, 1)).reshape(T, B, 3, 2, 2))
            return self.l3(self.c1d(z.flatten(0, 1).flatten(2)).reshape(T, B, 2, 2))

    model = Net()
    net = nm.trace(model, torch.rand(2, 1, 2, 8, 8)).lower()
    proj = {(p.src, p.dst): p for p in net.projections}
    conv = proj[("input", "l1")]
    assert conv.kind == "conv" and conv.conv.in_shape == (2, 8, 8) and conv.conv.out_shape == (3, 4, 4)
    x = torch.rand(1, 2, 8, 8)
    from neuromap.graph.matrices import conv_matrix

    dense = conv_matrix(conv.weight.astype(np.float64), conv.conv) @ x.reshape(-1).double().numpy() + conv.bias
    torch.testing.assert_close(torch.from_numpy(dense).float(), model.conv(x).reshape(-1), rtol=1e-5, atol=1e-5)
    assert conv.synapses == conv.conv.synapse_count(conv.weight) == sp.csr_matrix(conv_matrix(conv.weight, conv.conv)).nnz
    pool = proj[("l1", "l2")]
    assert pool.kind == "sparse" and pool.synapses == 48  # one synapse per input in a 2x2 window
    y = torch.rand(1, 3, 4, 4)
    torch.testing.assert_close(torch.from_numpy(pool.weight @ y.reshape(-1).double().numpy()).float(),
                               F.avg_pool2d(y, 2).reshape(-1))
    c1d = proj[("l2", "l3")]
    assert c1d.kind == "conv" and c1d.conv.kernel == (1, 2) and c1d.conv.dilation == (1, 2)


def test_identity_self_loop_delay_and_output_population():
    n = 3
    lif = spec_to_nir(LIFSpec((n,), LIFParams()))
    nodes = {
        "input": nir.Input(np.array([n])), "lif": lif, "rec": nir.Linear(weight=np.eye(n) * 0.5),
        "delay": nir.Delay(delay=np.full(n, 2e-3)), "lif2": spec_to_nir(LIFSpec((n,), LIFParams())),
        "read": nir.Affine(weight=np.ones((2, n)), bias=np.zeros(2)), "output": nir.Output(np.array([2])),
    }
    edges = [("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "delay"), ("delay", "lif2"),
             ("lif2", "read"), ("read", "output")]
    net = Graph(nodes, edges, {"dt": 1e-3}).lower()
    proj = {(p.src, p.dst): p for p in net.projections}
    assert proj[("lif", "lif")].kind == "dense"  # recurrent self-loop
    ident = proj[("lif", "lif2")]
    assert ident.kind == "identity" and ident.delay == 2 and ident.synapses == n
    assert net.population("output").kind == "identity" and not net.population("output").spiking
    assert proj[("lif2", "output")].synapses == 2 * n
