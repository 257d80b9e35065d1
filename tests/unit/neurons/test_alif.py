"""ALIF (Bellec et al. 2018) added through the neuron registry only: it trains, traces, saves and
loads as a ``neuromap.Neuron`` node, runs in backends.torch and on SpiNNaker2 with the module's
spikes, partitions, and the Loihi backends refuse it with the reason."""

import pytest
import torch
from torch import nn

from neuromap import backends
from neuromap.graph import load, save, trace
from neuromap.graph.nodes import Neuron
from neuromap.neurons import ALIF, ALIFParams, registry
from neuromap.neurons.functional import neuron_sequence_reference
from neuromap.neurons.params import LIFParams, params_from_dict
from neuromap.neurons.surrogate import as_surrogate
from neuromap.partition import partition


def make_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    p = ALIFParams.from_decay(0.9, tau_adapt=50e-3, beta_a=0.5)
    return nn.Sequential(nn.Linear(6, 20), ALIF(p, size=20, learn_threshold=True), nn.Linear(20, 3),
                         ALIF(p.replace(beta_a=0.2)))


def test_alif_dynamics_by_hand_and_beta_a_zero_is_lif():
    p = ALIFParams.from_decay(0.5, tau_adapt=10e-3, beta_a=5.0)
    x = torch.tensor([[[1.2]], [[0.0]], [[1.2]], [[1.2]]])
    s, v, st = ALIF(p).simulate(x)
    # t0: h=1.2 > b=1 -> spike, v=0.2, a=1-rho (rho=e^-0.1); t2: h=0.05+1.2=1.25 <= b=1+5 rho(1-rho)=1.43
    # -> silent (a LIF would fire); t3: h=0.625+1.2 > b=1+5 rho^2(1-rho)=1.39 -> spike
    rho = p.rho
    assert s.flatten().tolist() == [1.0, 0.0, 0.0, 1.0]
    torch.testing.assert_close(st.a.flatten(), torch.tensor([rho**3 * (1 - rho) + (1 - rho)]))
    lif = LIFParams.from_decay(0.9)
    xr = torch.rand(30, 2, 5) * 0.5
    ref, _, _ = neuron_sequence_reference(xr, lif, as_surrogate("fast_sigmoid"))
    same = ALIF(ALIFParams.from_decay(0.9, beta_a=0.0)).simulate(xr)[0]
    assert torch.equal(same, ref)
    assert params_from_dict(p.to_dict()) == p
    assert registry.get("alif").state_words(None) == 2


def test_alif_trains_traces_saves_and_runs_identically(tmp_path):
    net = make_net()
    x = torch.rand(25, 8, 6) * 4
    y = torch.randint(0, 3, (8,))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(net(x).sum(0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] and net[1].v_th.grad is not None
    graph = trace(net, x)
    assert isinstance(graph.nodes["1"], Neuron) and graph.nodes["1"].model == "alif"
    save(graph, tmp_path / "alif.nir")
    back = load(tmp_path / "alif.nir")
    assert back.diff(graph) == []
    with torch.no_grad():
        ref = net(x)
    assert ref.sum() > 0
    run = backends.get("torch").compile(back).run(x)
    assert torch.equal(run.output, ref) and torch.equal(run.records["1"], net[1](net[0](x)).detach())
    net_list = back.lower()
    pop = net_list.population("1")
    assert pop.kind == "alif" and pop.params.v_th.shape == (20,)
    mapping = partition(net_list, "spinnaker2")
    assert mapping.n_cores >= 1
    sp2 = backends.get("spinnaker2")
    assert sp2.unsupported(back) == []
    assert torch.equal(sp2.compile(back, mapping=mapping).run(x).output, ref)
    with pytest.raises(Exception, match="kind 'alif', which backend 'spinnaker2' does not implement in s16.15 "
                                        r"numerics; it implements \['cuba', 'cubali', 'egru', 'identity', 'li', "
                                        r"'lif'\]; it runs 'alif' in fp32"):
        sp2.compile(back, numerics="s16.15")


def test_loihi_refuses_alif_naming_the_kind_the_node_the_backend_and_the_kinds_it_has():
    graph = trace(make_net(), torch.rand(5, 1, 6))
    for name in ("loihi", "lava"):
        probs = backends.get(name).unsupported(graph)
        assert any(f"population '1' (node '1') has neuron kind 'alif', which backend '{name}' does not implement "
                   "in fixed_pt numerics; it implements ['cuba', 'cubali', 'li', 'lif']" in p for p in probs), probs
