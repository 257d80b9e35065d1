"""Graphs exported by Norse and snnTorch run in neuromap with the exporter's own spikes.

snnTorch 1.0.0's ``export_to_nir`` fails with nir 1.0.8 (its final ``infer_types()`` sees the batch
axis of the sample data, or a 0-d LIF, as a type mismatch). The graph it builds before that call is
fine: ``nirtorch.extract_nir_graph(net, snntorch.export_nir._extract_snntorch_module, sample,
ignore_submodules_of=[snn.RLeaky, snn.RSynaptic], ignore_dims=[0])`` returns it as a
``nir.NIRGraph(..., type_check=False)``; :func:`snntorch_graph` below does exactly that.
"""

import warnings

import nir
import numpy as np
import pytest
import torch

from neuromap.backends import get
from neuromap.graph import GraphError, from_nir, load
from neuromap.graph.neuron import spec_from_nir
from tests.support import FIXTURES, norse_run

norse = pytest.importorskip("norse.torch")
snn = pytest.importorskip("snntorch")
nirtorch = pytest.importorskip("nirtorch")


def snntorch_graph(net, sample):
    from snntorch.export_nir import _extract_snntorch_module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nirtorch.extract_nir_graph(net, _extract_snntorch_module, sample, model_name="snntorch",
                                          ignore_submodules_of=[snn.RLeaky, snn.RSynaptic], ignore_dims=[0])


def snntorch_run(net, x):
    from snntorch import utils

    utils.reset(net)
    outs = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            o = net(x[t])
            outs.append(o[0] if isinstance(o, tuple) else o)
    return torch.stack(outs)


def test_snntorch_export_to_nir_fails_as_documented():
    from snntorch.export_nir import export_to_nir

    net = torch.nn.Sequential(torch.nn.Linear(8, 5), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="type mismatch"):
            export_to_nir(net, torch.randn(1, 8))


@pytest.mark.parametrize("seed", [0, 1])
def test_snntorch_leaky_synaptic_identical_spikes(seed):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 16), snn.Leaky(beta=0.9, init_hidden=True), torch.nn.Linear(16, 4),
        snn.Synaptic(alpha=0.7, beta=0.8, init_hidden=True, output=True),
    )
    graph = from_nir(snntorch_graph(net, torch.randn(1, 8)), convention="snntorch")
    spec = spec_from_nir(graph.nodes["1"], "1")
    assert spec.params.reset_delay and spec.params.reset == "subtract" and not spec.params.decay_input
    assert spec.beta[0] == np.float32(0.9)
    x = torch.rand(80, 3, 8) * 2
    ref = snntorch_run(net, x)
    run = get("torch").compile(graph).run(x)
    assert ref.sum() > 0
    assert torch.equal(run.output, ref)


def test_snntorch_rleaky_recurrent_identical_spikes():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(8, 16), snn.RLeaky(beta=0.9, linear_features=16, init_hidden=True),
        torch.nn.Linear(16, 4), snn.Leaky(beta=0.8, init_hidden=True, output=True),
    )
    with torch.no_grad():
        net[0].weight.abs_()
        net[2].weight.fill_(0.5)
    graph = from_nir(snntorch_graph(net, torch.randn(1, 8)), convention="snntorch")
    assert graph.is_recurrent() and ("1.lif", "1.w_rec") in graph.delayed_edges()
    x = torch.rand(60, 3, 8) * 10
    ref = snntorch_run(net, x)
    run = get("torch").compile(graph).run(x)
    assert ref.sum() > 0 and run.records["1.lif"].sum() > 0
    assert torch.equal(run.output, ref)
    netlist = graph.lower()
    assert [p.name for p in netlist.projections if p.src == p.dst] == ["1.lif/1.w_rec/1.lif"]


@pytest.mark.parametrize("dt", [1e-3, 5e-4])
def test_norse_export_identical_spikes(dt):
    torch.manual_seed(0)
    net = norse.SequentialState(
        torch.nn.Linear(8, 16), norse.LIFBoxCell(dt=dt), torch.nn.Linear(16, 4), norse.LIFCell(dt=dt)
    )
    graph = from_nir(norse.to_nir(net, torch.randn(1, 8), dt=dt), convention="norse", dt=dt)
    spec = spec_from_nir(graph.nodes["1"], "1")
    assert spec.params.integrator == "euler" and spec.params.decay_input and spec.params.reset == "zero"
    np.testing.assert_allclose(float(spec.beta[0]), 1 - dt / 1e-2, rtol=1e-6)  # Norse's tau_mem = 10 ms
    x = torch.rand(100, 3, 8) * 30
    ref = norse_run(net, x)
    run = get("torch").compile(graph).run(x)
    assert ref.sum() > 0 and run.records["1"].sum() > 0
    assert torch.equal(run.output, ref)


def test_norse_leaky_integrator_readout():
    torch.manual_seed(0)
    net = norse.SequentialState(torch.nn.Linear(5, 6), norse.LIFBoxCell(), torch.nn.Linear(6, 3), norse.LIBoxCell())
    graph = from_nir(norse.to_nir(net, torch.randn(1, 5)), convention="norse")
    x = torch.rand(40, 2, 5) * 30
    ref = norse_run(net, x)
    run = get("torch").compile(graph).run(x)
    torch.testing.assert_close(run.output, ref, rtol=1e-5, atol=1e-5)


def test_norse_file_fixture_runs():
    """A Norse graph written to disk (tests/fixtures/make_fixtures.py) loads in nir.read and in neuromap."""
    path = str(FIXTURES / "norse_lifbox.nir")
    assert isinstance(nir.read(path).nodes["1"], nir.LIF)
    torch.manual_seed(0)
    net = norse.SequentialState(torch.nn.Linear(4, 3), norse.LIFBoxCell(), torch.nn.Linear(3, 2), norse.LIFCell())
    graph = load(path, convention="norse", dt=1e-3)
    x = torch.rand(60, 2, 4) * 40
    assert torch.equal(get("torch").compile(graph).run(x).output, norse_run(net, x))


def test_generic_nir_convention_and_gain_scale():
    """NIR's own definition: Euler at dt, reset to v_reset; a gain that is neither 1 nor 1-beta -> Scale."""
    n = 3
    lif = nir.LIF(tau=np.full(n, 0.01), r=np.full(n, 2.0), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([n])), "lif": lif, "output": nir.Output(np.array([n]))},
                     edges=[("input", "lif"), ("lif", "output")], type_check=False)
    graph = from_nir(g, convention="nir", dt=1e-3)
    assert isinstance(graph.nodes["lif.gain"], nir.Scale)
    np.testing.assert_allclose(graph.nodes["lif.gain"].scale, 0.1 * 2.0)
    x = torch.full((20, 1, n), 1.0)
    out = get("torch").compile(graph).run(x).output
    # v <- 0.9 v + 0.2 x crosses 1 after 7 steps, resets to 0
    v, expect = 0.0, []
    for _ in range(20):
        v = 0.9 * v + 0.2
        expect.append(float(v > 1.0))
        v = 0.0 if v > 1.0 else v
    assert out[:, 0, 0].tolist() == expect


def test_import_errors():
    lif = nir.LIF(tau=np.full(2, 1e-4), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "lif": lif, "output": nir.Output(np.array([2]))},
                     edges=[("input", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(GraphError, match="'lif' tau gives per-step decays outside"):
        from_nir(g, convention="nir", dt=1e-3)
    with pytest.raises(ValueError, match="convention"):
        from_nir(g, convention="brian")
    leak = nir.LIF(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.array([0.0, 1.0]), v_threshold=np.ones(2))
    g2 = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "lif": leak, "output": nir.Output(np.array([2]))},
                      edges=[("input", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(GraphError, match="per-neuron v_leak"):
        from_nir(g2)


def test_neuromap_export_read_back_by_generic_nir_convention():
    """A consumer that ignores neuromap's metadata and integrates NIR's ODE with Euler gets the same spikes."""
    from neuromap.graph import trace
    from neuromap.networks import SpikingMLP

    model = SpikingMLP(6, [10], 3, beta=0.85)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    x = (torch.rand(30, 2, 6) < 0.5).float()
    graph = trace(model, x)
    plain = graph.to_nir()
    for node in plain.nodes.values():
        node.metadata = {}
    foreign = from_nir(plain, convention="nir", dt=1e-3)
    spec = spec_from_nir(foreign.nodes["1"], "1")
    assert spec.params.reset == "zero"  # NIR's reset; the model subtracts -> only compare before any spike
    ref = model(x)
    out = get("torch").compile(foreign).run(x).output
    first = int(torch.nonzero(model[1](model[0](x)).sum((1, 2)))[0])
    assert torch.equal(out[: first + 1], ref[: first + 1])


def test_imported_graphs_run_on_spinnaker2_with_the_exporters_spikes():
    """Issue 16 item 12: imported graphs carry per-neuron thresholds (``array([1.])``); typed
    population parameters keep them apart from the scalar ``v_th`` so SpiNNaker2 runs them."""
    torch.manual_seed(0)
    net = norse.SequentialState(torch.nn.Linear(8, 16), norse.LIFBoxCell(), torch.nn.Linear(16, 4), norse.LIFCell())
    graph = from_nir(norse.to_nir(net, torch.randn(1, 8)), convention="norse")
    assert get("spinnaker2").unsupported(graph) == []
    x = torch.rand(50, 2, 8) * 30
    ref = norse_run(net, x)
    assert ref.sum() > 0 and torch.equal(get("spinnaker2").compile(graph).run(x).output, ref)
    torch.manual_seed(1)
    snet = torch.nn.Sequential(torch.nn.Linear(8, 12), snn.Leaky(beta=0.8, init_hidden=True),
                               torch.nn.Linear(12, 3), snn.Leaky(beta=0.7, init_hidden=True, output=True))
    sgraph = from_nir(snntorch_graph(snet, torch.randn(1, 8)), convention="snntorch")
    xs = torch.rand(40, 2, 8) * 2
    sref = snntorch_run(snet, xs)
    assert sref.sum() > 0 and torch.equal(get("spinnaker2").compile(sgraph).run(xs).output, sref)
