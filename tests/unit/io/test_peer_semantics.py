"""Peers' neuron semantics as a matrix: each peer's own forward against neuromap's run of the graph
the peer's exporter wrote, in memory (``from_nir``) and through a file on the command line
(``neuromap deploy FILE --backend torch``). Spike trains must be identical; LI readouts agree within 1e-6.

* snnTorch 1.0: Leaky, Synaptic, RLeaky, RSynaptic x reset subtract / zero / none x ``reset_delay``
  True / False, plus learnable per-neuron beta / alpha / threshold. snnTorch's files record neither the
  reset mechanism nor ``reset_delay`` (``--reset`` / ``--reset-delay`` say them).
* Norse 1.1: LIFBoxCell (LIF), LIFCell (CuBa-LIF), LIBoxCell (LI), per-neuron parameters. Norse's
  ``to_nir`` writes ``None`` for its recurrent cells and ``LICell``: that is refused with a message,
  and a ``LIFRecurrentCell`` is checked against a NIR graph built from its parameters with NIR's
  constructors (what its exporter would have to write).
* SpikingJelly 2.0: LIFNode (``decay_input`` True / False), ParametricLIFNode, CUBALIFNode, hard and
  soft reset (its exporter refuses soft resets: a hard-reset twin is exported and ``--reset subtract``
  says it).

Every peer runs with its states passed explicitly, one step at a time, on inputs strong enough that
membranes exceed twice the threshold (where snnTorch's immediate reset differs from neuromap's default).
"""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch

from neuromap.backends import get
from neuromap.cli import main as cli_main
from neuromap.io.nir_import import from_nir
from tests.support import norse_run

snn = pytest.importorskip("snntorch", reason="the peer matrix needs snnTorch (make setup installs it)")
norse = pytest.importorskip("norse.torch", reason="the peer matrix needs Norse (make setup installs it)")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron",
                                reason="the peer matrix needs SpikingJelly (make setup installs it)")
nirtorch = pytest.importorskip("nirtorch", reason="snnTorch's exporter needs nirtorch")

T, B, N_IN, N_HID, N_OUT = 60, 3, 6, 10, 4


# ----------------------------------------------------------------------------------------------- snnTorch
def _snn_layer(cls: str, n: int, reset: str, delay: bool, init_hidden: bool, per_neuron: bool, seed: int,
               output: bool = False):
    g = torch.Generator().manual_seed(seed)
    kw: dict = dict(reset_mechanism=reset, reset_delay=delay, init_hidden=init_hidden, learn_beta=per_neuron,
                    learn_threshold=per_neuron)
    kw["beta"] = torch.rand(n, generator=g) * 0.3 + 0.6 if per_neuron else 0.85
    kw["threshold"] = torch.rand(n, generator=g) * 0.5 + 0.75 if per_neuron else 1.0
    if cls in ("Synaptic", "RSynaptic"):
        kw["alpha"] = torch.rand(n, generator=g) * 0.4 + 0.4 if per_neuron else 0.6
        kw["learn_alpha"] = per_neuron
    if cls in ("RLeaky", "RSynaptic"):
        kw["linear_features"] = n
    if output:
        kw["output"] = True
    return getattr(snn, cls)(**kw)


def _snn_step(layer, cls: str, cur: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
    """One explicit-state step (snnTorch's ``init_hidden=False`` call of each class)."""
    if cls == "Leaky":
        spk, mem = layer(cur, state[0])
        return spk, (mem,)
    if cls == "Synaptic":
        spk, syn, mem = layer(cur, *state)
        return spk, (syn, mem)
    if cls == "RLeaky":
        spk, mem = layer(cur, *state)
        return spk, (spk, mem)
    spk, syn, mem = layer(cur, *state)  # RSynaptic(input, spk, syn, mem)
    return spk, (spk, syn, mem)


def _zeros(cls: str, n: int) -> tuple:
    count = {"Leaky": 1, "Synaptic": 2, "RLeaky": 2, "RSynaptic": 3}[cls]
    return tuple(torch.zeros(B, n) for _ in range(count))


def snntorch_case(cls: str, reset: str, delay: bool, per_neuron: bool = False, seed: int = 0):
    """``(nir graph, x, {"hidden": spikes, "out": spikes})`` of Linear -> cls -> Linear -> Leaky."""
    torch.manual_seed(seed)
    fc1, fc2 = torch.nn.Linear(N_IN, N_HID), torch.nn.Linear(N_HID, N_OUT)
    hid = _snn_layer(cls, N_HID, reset, delay, False, per_neuron, seed + 1)
    out = _snn_layer("Leaky", N_OUT, reset, delay, False, per_neuron, seed + 2)
    # the exporter's twin: the same modules with init_hidden (what export needs); reset_delay is not exported
    twin = torch.nn.Sequential(fc1, _snn_layer(cls, N_HID, reset, True, True, per_neuron, seed + 1), fc2,
                               _snn_layer("Leaky", N_OUT, reset, True, True, per_neuron, seed + 2, output=True))
    twin[1].load_state_dict(hid.state_dict())
    twin[3].load_state_dict(out.state_dict())
    from snntorch.export_nir import _extract_snntorch_module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = nirtorch.extract_nir_graph(twin, _extract_snntorch_module, torch.randn(1, N_IN), model_name="snntorch",
                                           ignore_submodules_of=[snn.RLeaky, snn.RSynaptic], ignore_dims=[0])
    x = torch.rand(T, B, N_IN, generator=torch.Generator().manual_seed(seed + 3)) * 4.0
    s_h, s_o = _zeros(cls, N_HID), _zeros("Leaky", N_OUT)
    hs, os_ = [], []
    with torch.no_grad():
        for t in range(T):
            h, s_h = _snn_step(hid, cls, fc1(x[t]), s_h)
            o, s_o = _snn_step(out, "Leaky", fc2(h), s_o)
            hs.append(h)
            os_.append(o)
    return graph, x, {"hidden": torch.stack(hs), "out": torch.stack(os_)}


SNN_CASES = [(c, r, d, False) for c in ("Leaky", "Synaptic", "RLeaky", "RSynaptic")
             for r in ("subtract", "zero", "none") for d in (True, False)]
SNN_CASES += [(c, r, d, True) for c in ("Leaky", "Synaptic", "RLeaky", "RSynaptic")
              for r, d in (("subtract", True), ("subtract", False), ("zero", True))]


def _hidden_record(run, graph_nodes) -> torch.Tensor:
    name = "1.lif" if "1.lif" in run.records else "1"
    return run.records[name]


def _snn_options(reset: str, delay: bool) -> dict:
    return dict(convention="snntorch", reset=reset, reset_delay=delay)


def _cli_outputs(tmp_path, graph, x, options: dict) -> np.ndarray:
    """Write ``graph`` with ``nir.write`` (as the peers' users do), run it with ``neuromap deploy
    --backend torch`` and return the saved output."""
    model, inp, out = tmp_path / "peer.nir", tmp_path / "x.npy", tmp_path / "run"
    nir.write(str(model), graph, compression=None)  # h5py >= 3.12 refuses gzip on the exporters' scalar fields
    np.save(inp, x.numpy())
    argv = ["deploy", str(model), "--backend", "torch", "--compare", "none", "--input", str(inp), "-o", str(out),
            "--convention", options["convention"]]
    for key, flag in (("reset", "--reset"), ("dt", "--dt")):
        if options.get(key) is not None:
            argv += [flag, str(options[key])]
    if options.get("reset_delay") is not None:
        argv += ["--reset-delay", "true" if options["reset_delay"] else "false"]
    assert cli_main(argv) == 0
    with np.load(out / "outputs.npz") as f:
        return f["output"]


@pytest.mark.parametrize("cls,reset,delay,per_neuron", SNN_CASES,
                         ids=[f"{c}-{r}-delay{int(d)}{'-learned' if p else ''}" for c, r, d, p in SNN_CASES])
def test_snntorch_matrix_identical_spikes(cls, reset, delay, per_neuron, tmp_path):
    graph, x, ref = snntorch_case(cls, reset, delay, per_neuron)
    assert ref["hidden"].sum() > 0 and ref["out"].sum() > 0
    run = get("torch").compile(from_nir(graph, **_snn_options(reset, delay))).run(x)
    assert torch.equal(_hidden_record(run, graph.nodes), ref["hidden"])
    assert torch.equal(run.output, ref["out"])
    if not per_neuron and cls in ("Leaky", "Synaptic"):  # through a file and the CLI as well (every kind once)
        np.testing.assert_array_equal(_cli_outputs(tmp_path, graph, x, _snn_options(reset, delay)), ref["out"].numpy())


@pytest.mark.parametrize("cls", ["Leaky", "RLeaky"])
def test_snntorch_matrix_cli_recurrent(cls, tmp_path):
    graph, x, ref = snntorch_case(cls, "zero", True)
    np.testing.assert_array_equal(_cli_outputs(tmp_path, graph, x, _snn_options("zero", True)), ref["out"].numpy())


def test_snntorch_matrix_inputs_separate_the_reset_variants():
    """The matrix can fail: on its inputs, snnTorch's immediate reset and its RLeaky/Synaptic zero reset
    differ from the variants neuromap used before (immediate subtract from the spike, immediate zero)."""
    for cls, reset, delay, wrong in (("Leaky", "subtract", False, dict(reset="subtract", reset_delay=False)),
                                      ("Synaptic", "zero", True, dict(reset="zero", reset_delay=False))):
        graph, x, ref = snntorch_case(cls, reset, delay)
        g = from_nir(graph, **_snn_options(reset, delay))
        spec_node = g.nodes["1"]
        from neuromap.graph.neuron import spec_from_nir, spec_to_nir

        spec = spec_from_nir(spec_node, "1")
        spec.params = spec.params.replace(reset_signal="spike", **wrong)
        g.nodes["1"] = spec_to_nir(spec)
        from neuromap.graph import Graph

        run = get("torch").compile(Graph(g.nodes, g.edges, g.metadata)).run(x)
        assert not torch.equal(run.records["1"], ref["hidden"]), (cls, reset, delay)


def test_snntorch_rsynaptic_immediate_reset_is_the_delayed_one():
    """snnTorch 1.0's RSynaptic ignores reset_delay=False (its forward resets local variables): the
    peer's own trains equal its reset_delay=True trains, and the import maps it so."""
    _, _, immediate = snntorch_case("RSynaptic", "subtract", False)
    _, _, delayed = snntorch_case("RSynaptic", "subtract", True)
    assert torch.equal(immediate["hidden"], delayed["hidden"])


# ----------------------------------------------------------------------------------------------- Norse
def _norse_cell(kind: str, per_neuron: bool, dt: float):
    """A cell with Norse's defaults, or per-neuron time constants and thresholds (every field per neuron:
    Norse's exporter asserts that all of a node's parameters have one shape)."""
    if not per_neuron:
        return getattr(norse, kind)(dt=dt)
    g = torch.Generator().manual_seed(5)
    per = dict(tau_mem_inv=torch.rand(N_HID, generator=g) * 100 + 50, v_th=torch.rand(N_HID, generator=g) * 0.5 + 0.75,
               v_leak=torch.zeros(N_HID), v_reset=torch.zeros(N_HID))
    if kind == "LIFBoxCell":
        return norse.LIFBoxCell(norse.LIFBoxParameters(**per), dt=dt)
    return norse.LIFCell(norse.LIFParameters(tau_syn_inv=torch.rand(N_HID, generator=g) * 200 + 100, **per), dt=dt)


NORSE_CASES = [("LIFBoxCell", False), ("LIFCell", False), ("LIFBoxCell", True), ("LIFCell", True)]


@pytest.mark.parametrize("kind,per_neuron", NORSE_CASES, ids=[f"{k}{'-per-neuron' if p else ''}" for k, p in NORSE_CASES])
def test_norse_matrix_identical_spikes(kind, per_neuron, tmp_path):
    dt = 1e-3
    torch.manual_seed(1)
    net = norse.SequentialState(torch.nn.Linear(N_IN, N_HID), _norse_cell(kind, per_neuron, dt),
                                torch.nn.Linear(N_HID, N_OUT), norse.LIBoxCell(dt=dt))
    graph = norse.to_nir(net, torch.randn(1, N_IN), dt=dt)
    x = torch.rand(T, B, N_IN, generator=torch.Generator().manual_seed(2)) * 60
    ref = norse_run(net, x)
    run = get("torch").compile(from_nir(graph, convention="norse", dt=dt)).run(x)
    assert run.records["1"].sum() > 0
    torch.testing.assert_close(run.output, ref, rtol=0, atol=1e-6)
    if not per_neuron:
        out = _cli_outputs(tmp_path, graph, x, dict(convention="norse", dt=dt))
        np.testing.assert_allclose(out, ref.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("cell", ["LIFRecurrentCell", "LICell"])
def test_norse_cells_its_exporter_writes_as_none_are_refused_by_name(cell):
    c = norse.LIFRecurrentCell(N_HID, N_HID) if cell == "LIFRecurrentCell" else norse.LICell()
    graph = norse.to_nir(norse.SequentialState(torch.nn.Linear(N_IN, N_HID), c), torch.randn(1, N_IN))
    assert graph.nodes["1"] is None  # Norse 1.1's to_nir
    with pytest.raises(Exception, match="node '1' is NoneType, not a NIR node"):
        from_nir(graph, convention="norse")


def test_norse_recurrent_cell_as_a_nir_graph_of_its_parameters():
    """A LIFRecurrentCell is a CuBa-LIF whose current receives its own previous spikes (Norse's
    ``i += z W_rec^T``): as NIR, Input -> Linear(W_in) -> CubaLIF with Linear(W_rec) back into it."""
    dt = 1e-3
    torch.manual_seed(3)
    cell = norse.LIFRecurrentCell(N_IN, N_HID, dt=dt)
    with torch.no_grad():
        cell.recurrent_weights.mul_(3.0)
    p = cell.p
    tau_mem = np.full(N_HID, dt / float(p.tau_mem_inv))  # Norse's exporter convention: tau = dt / tau_inv
    tau_syn = np.full(N_HID, dt / float(p.tau_syn_inv))
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(np.array([N_IN])),
        "w_in": nir.Linear(weight=cell.input_weights.detach().numpy()),
        "lif": nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=np.ones(N_HID), v_leak=np.full(N_HID, float(p.v_leak)),
                           v_threshold=np.full(N_HID, float(p.v_th)), v_reset=np.full(N_HID, float(p.v_reset)),
                           w_in=np.ones(N_HID)),
        "w_rec": nir.Linear(weight=cell.recurrent_weights.detach().numpy()),
        "output": nir.Output(np.array([N_HID])),
    }, edges=[("input", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    x = (torch.rand(T, B, N_IN, generator=torch.Generator().manual_seed(4)) < 0.3).float()
    ref = norse_run(cell, x)
    run = get("torch").compile(from_nir(graph, convention="norse", dt=dt)).run(x)
    assert ref.sum() > 0
    assert torch.equal(run.output, ref)


# ----------------------------------------------------------------------------------------------- SpikingJelly
def _sj_export(net, dt: float):
    from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_to_nir(net, torch.randn(1, N_IN), dt=dt)


def _sj_node(kind: str, hard: bool, decay_input: bool):
    v_reset = 0.0 if hard else None
    if kind == "LIFNode":
        return sj_neuron.LIFNode(tau=3.0, decay_input=decay_input, v_reset=v_reset)
    if kind == "ParametricLIFNode":
        return sj_neuron.ParametricLIFNode(init_tau=2.5, decay_input=decay_input, v_reset=v_reset)
    return sj_neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75, v_threshold=0.5, v_reset=v_reset)


SJ_CASES = [("LIFNode", True, True), ("LIFNode", True, False), ("LIFNode", False, True), ("LIFNode", False, False),
            ("ParametricLIFNode", True, True), ("ParametricLIFNode", False, True),
            ("CUBALIFNode", True, False), ("CUBALIFNode", False, False)]


@pytest.mark.parametrize("kind,hard,decay_input", SJ_CASES,
                         ids=[f"{k}-{'hard' if h else 'soft'}-decay_input{int(d)}" for k, h, d in SJ_CASES])
def test_spikingjelly_matrix_identical_spikes(kind, hard, decay_input, tmp_path):
    from spikingjelly.activation_based import functional

    dt = 1e-4
    torch.manual_seed(6)
    layers = [torch.nn.Linear(N_IN, N_HID), _sj_node(kind, hard, decay_input), torch.nn.Linear(N_HID, N_OUT),
              _sj_node(kind, hard, decay_input)]
    if decay_input:  # the input gain is 1/tau: drive the output layer harder
        with torch.no_grad():
            layers[2].weight.mul_(4.0).add_(0.3)
    net = torch.nn.Sequential(*layers)
    if hard:
        graph = _sj_export(net, dt)
    else:  # SpikingJelly's exporter refuses soft resets: export a hard-reset twin, say "subtract" on import
        twin = torch.nn.Sequential(layers[0], _sj_node(kind, True, decay_input), layers[2],
                                   _sj_node(kind, True, decay_input))
        twin.load_state_dict(net.state_dict())
        graph = _sj_export(twin, dt)
    x = torch.rand(T, B, N_IN, generator=torch.Generator().manual_seed(7)) * (12.0 if decay_input else 3.0)
    functional.reset_net(net)
    hs, os_ = [], []
    with torch.no_grad():
        for t in range(T):
            h = layers[1](layers[0](x[t]))
            hs.append(h)
            os_.append(layers[3](layers[2](h)))
    ref_h, ref_o = torch.stack(hs), torch.stack(os_)
    options = dict(convention="spikingjelly", dt=dt, reset=None if hard else "subtract")
    g = from_nir(graph, **{k: v for k, v in options.items()})
    run = get("torch").compile(g).run(x)
    hidden = next(k for k in run.records if g.nodes[k].__class__.__name__ in ("LIF", "CubaLIF") and k != "output")
    assert ref_h.sum() > 0 and ref_o.sum() > 0
    assert torch.equal(run.records[hidden], ref_h)
    assert torch.equal(run.output, ref_o)
    if kind == "LIFNode" and decay_input:
        np.testing.assert_array_equal(_cli_outputs(tmp_path, graph, x, options), ref_o.numpy())
