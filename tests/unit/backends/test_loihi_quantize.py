"""Float LIF network -> Loihi fixed point: the quantised digits model keeps its accuracy, every
approximation is reported, and what Loihi cannot run is refused with the node's name."""

import numpy as np
import pytest
import torch

from neuromap import backends, data, train
from neuromap.backends.loihi.float_to_fixed import QuantizationError, quantize
from neuromap.netlist import ConvGeometry, Netlist, Population, Projection
from neuromap.networks import SpikingMLP
from neuromap.neurons import CubaLIFParams, LIFParams


def mlp_netlist(model: SpikingMLP, params) -> Netlist:
    nl = Netlist("mlp")
    nl.add_population(Population("in", "input", (model.n_in,)))
    sizes = [*model.hidden, model.n_out]
    prev = "in"
    for k, n in enumerate(sizes):
        name = f"l{k}"
        nl.add_population(Population(name, params.to_dict()["model"] == "CubaLIFParams" and "cuba" or "lif", (n,),
                                     params=params.to_dict()))
        lin = model[2 * k]
        nl.add_projection(Projection(f"fc{k}", prev, name, "dense", weight=lin.weight.detach().numpy(),
                                     bias=lin.bias.detach().numpy()))
        prev = name
    return nl


@pytest.fixture(scope="module")
def trained():
    d = data.digits(encoding="rate", steps=25, seed=0)
    p = LIFParams.from_decay(0.9, reset="zero")
    train.set_seed(0)
    m = SpikingMLP(64, [64], 10, neuron_params=p)
    train.fit(m, d, epochs=15, lr=3e-3, progress=False)
    return d, m, p


def test_quantised_digits_keeps_accuracy_and_reports_errors(trained):
    d, m, p = trained
    net, report = quantize(mlp_netlist(m, p))
    q = report.layers["l0"]
    assert q.dv == round(4096 * 0.1) and q.du == 4095  # beta 0.9; LIF: the current lasts one step
    assert 0 < q.weight_rel_rms_error < 0.03
    assert "w err" in report.table()
    x = d.x_test.transpose(0, 1).numpy() > 0
    depth = 2  # one synaptic delay per layer on Loihi
    xp = np.concatenate([x, np.zeros((depth, *x.shape[1:]), bool)])
    rec = net.run({"in": xp}, record_state=False)
    loihi_acc = (rec.spikes["l1"][depth:].sum(0).argmax(-1) == d.y_test.numpy()).mean()
    float_acc = train.evaluate(m, d)["accuracy"]
    assert float_acc > 0.9
    assert loihi_acc >= float_acc - 0.03
    with torch.no_grad():
        hidden = m[1](m[0](d.x_test.transpose(0, 1))).numpy().astype(bool)
    agreement = (rec.spikes["l0"][1 : 1 + x.shape[0]] == hidden).mean()
    assert agreement > 0.9


def test_cuba_decays_map_to_du_dv():
    p = CubaLIFParams.from_decays(alpha=0.75, beta=0.875, reset="zero")
    nl = Netlist()
    nl.add_population(Population("in", "input", (3,)))
    nl.add_population(Population("c", "cuba", (2,), params=p.to_dict()))
    nl.add_projection(Projection("w", "in", "c", "dense", weight=np.array([[0.5, -0.25, 1.0], [0.1, 0.2, 0.3]])))
    net, rep = quantize(nl)
    assert rep.layers["c"].du == 1023 and rep.layers["c"].dv == 512  # 1 - 1024/4096, 1 - 512/4096
    assert rep.layers["c"].alpha_error == 0 and rep.layers["c"].beta_error < 1e-12
    w = net.connections[0].weights
    assert np.abs(w).max() <= 256 and (w % 2 == 0).all()  # mixed signs: even 8-bit values


def test_refuses_what_loihi_cannot_run():
    nl = Netlist()
    nl.add_population(Population("in", "input", (4,)))
    nl.add_population(Population("sub", "lif", (2,), params=LIFParams(reset="subtract").to_dict()))
    nl.add_projection(Projection("w", "in", "sub", "dense", weight=np.ones((2, 4))))
    with pytest.raises(QuantizationError, match="'sub'.*reset='subtract'"):
        quantize(nl)
    net, rep = quantize(nl, allow_mismatch=True)
    assert "reset='subtract'" in rep.layers["sub"].notes[0]

    conv = Netlist()
    conv.add_population(Population("in", "input", (1, 4, 4)))
    conv.add_population(Population("c", "lif", (2, 4, 4), params=LIFParams(reset="zero").to_dict()))
    geom = ConvGeometry((1, 4, 4), (2, 4, 4), (3, 3), padding=(1, 1))
    conv.add_projection(Projection("k", "in", "c", "conv", weight=np.ones((2, 1, 3, 3)), conv=geom))
    net_c, rep_c = quantize(conv)  # a convolution is unrolled into the equivalent sparse matrix
    w = net_c.connections[0].weights
    assert w.shape == (32, 16) and w.nnz == geom.synapse_count()
    assert rep_c.layers["c"].weight_rel_rms_error == 0.0  # all-ones kernel: exact in 8 bits
    other = Netlist()
    other.add_population(Population("in", "input", (4,)))
    other.add_population(Population("g", "egru", (2,)))
    other.add_projection(Projection("w", "in", "g", "dense", weight=np.ones((2, 4))))
    with pytest.raises(QuantizationError, match=r"'g' \(node 'g'\) has neuron kind 'egru', which backend 'loihi' "
                                                r"does not implement in fixed_pt numerics; it implements "
                                                r"\['cuba', 'cubali', 'li', 'lif'\]"):
        quantize(other)


def _readout_graph(li_gain: float):
    """Input spikes -> Linear -> LI whose NIR gain ``(1 - beta) r`` is ``li_gain`` (the readout alone:
    Loihi gets the same spikes, so only the weights' rounding separates it from torch)."""
    import nir

    from neuromap.io.nir_import import from_nir

    rng = np.random.default_rng(0)
    n_in, n_o, dt, tau = 6, 3, 1e-3, 5e-3
    beta = 1 - dt / tau
    g = nir.NIRGraph.from_list(
        nir.Input(np.array([n_in])), nir.Linear(weight=rng.uniform(-1, 1, (n_o, n_in))),
        nir.LI(tau=np.full(n_o, tau), r=np.full(n_o, li_gain / (1 - beta)), v_leak=np.zeros(n_o)),
        nir.Output(np.array([n_o])))
    return from_nir(g, convention="nir", dt=dt)


def _relative_error(graph, x) -> float:
    ref = backends.get("torch").compile(graph).run(x).output
    out = backends.get("loihi").compile(graph, "loihi2").run(x).output
    return float((out - ref).abs().max() / (ref.max() - ref.min()))


def test_li_readout_keeps_its_input_gain_on_loihi():
    """NIR LI gain 0.1: the Loihi readout equals torch's within quantisation (it was 9.98x torch's
    when the LI gain was dropped)."""
    x = (torch.rand(60, 2, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    graph = _readout_graph(0.1)
    assert _relative_error(graph, x) < 0.02
    out = backends.get("loihi").compile(graph, "loihi2").run(x).output
    ref = backends.get("torch").compile(graph).run(x).output
    ratio = float(out.abs().sum() / ref.abs().sum())
    assert 0.97 < ratio < 1.03


def test_norse_libox_readout_on_loihi_matches_torch():
    norse = pytest.importorskip("norse.torch", reason="needs Norse (make setup installs it)")
    from neuromap.io.nir_import import from_nir

    torch.manual_seed(0)
    net = norse.SequentialState(torch.nn.Linear(5, 3, bias=False), norse.LIBoxCell())
    graph = from_nir(norse.to_nir(net, torch.randn(1, 5)), convention="norse")
    x = (torch.rand(80, 2, 5, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    assert _relative_error(graph, x) < 0.02


def test_li_readout_with_a_leak_voltage_is_refused_on_loihi():
    import nir

    from neuromap.io.nir_import import from_nir

    g = nir.NIRGraph.from_list(nir.Input(np.array([2])), nir.Linear(weight=np.ones((2, 2))),
                               nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.ones(2)), nir.Output(np.array([2])))
    with pytest.raises(Exception, match=r"v_leak=1 \(Loihi leaks to 0\)"):
        backends.get("loihi").compile(from_nir(g, dt=1e-3), "loihi2")
