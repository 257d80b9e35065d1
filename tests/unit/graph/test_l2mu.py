"""L2MU -> trace (explicit delayed edges) -> save/load -> backends.torch (identical spikes) -> lower / info."""

import json

import nir
import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap.backends import get
from neuromap.graph import GraphError
from neuromap.graph.extension_nodes import AxisLinear, Outer
from neuromap.graph.graph import Graph
from neuromap.networks.lmu import L2MU

POPS = ("lif_u", "lif_m", "lif_h", "lif_o")
DELAYED = {("lif_h", "e_h"), ("lif_h", "W_h"), ("lif_m", "e_m.flatten"), ("lif_m", "A_bar")}


def _model(neuron: str, n_out: int | None, seed: int = 0) -> L2MU:
    torch.manual_seed(seed)
    model = L2MU(4, order=5, theta=8.0, memory_size=3, hidden=6, n_out=n_out, neuron=neuron).eval()
    with torch.no_grad():
        model.e_m.weight.normal_(0.0, 0.5)  # the default zero init would hide the S_m[t-1] -> u path
        if model.W_o is not None:
            model.W_o.weight.mul_(4.0)  # so that the readout spikes too
        for pop in (model.lif_u, model.lif_m, model.lif_h, model.lif_o):
            if pop is not None:  # distinct learned per-neuron values, as after training
                pop.beta.uniform_(0.7, 0.95)
                pop.v_th.uniform_(0.6, 1.2)
                if getattr(pop, "alpha", None) is not None:
                    pop.alpha.uniform_(0.6, 0.9)
    return model


def _module_spikes(model: L2MU, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The module's output and every population's spikes ``[T, B, ...]`` (hooks on its per-step calls)."""
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for key in POPS:
        pop = getattr(model, key)
        if pop is not None:
            seen[key] = []
            hooks.append(pop.register_forward_hook(lambda m, a, out, key=key: seen[key].append(out[0])))
    try:
        with torch.no_grad():
            ref = model(x)
    finally:
        for h in hooks:
            h.remove()
    return ref, {k: torch.cat(v) for k, v in seen.items()}


@pytest.mark.parametrize("neuron", ["lif", "cuba"])
@pytest.mark.parametrize("n_out", [None, 3])
def test_l2mu_exact_roundtrip_and_lower(tmp_path, neuron, n_out):
    model = _model(neuron, n_out)
    x = torch.randn(25, 2, 4) * 2
    graph = nm.trace(model, x)
    assert graph.has_explicit_delays() and graph.delayed_edges() == DELAYED
    kinds = {n: type(v) for n, v in graph.nodes.items()}
    cls = nir.LIF if neuron == "lif" else nir.CubaLIF
    assert all(kinds[p] is cls for p in POPS[:3]) and kinds["A_bar"] is AxisLinear and kinds["B_bar"] is Outer
    assert ("lif_o" in kinds) == (n_out is not None)
    # within a step u -> m -> h: those edges read the current step
    assert ("lif_u", "B_bar") not in DELAYED and ("lif_m", "W_m.flatten") in graph.edges
    assert graph.topological_order().index("lif_u") < graph.topological_order().index("lif_m") < \
        graph.topological_order().index("lif_h")

    path = nm.save(graph, tmp_path / "l2mu.nir")
    loaded = nm.load(path)
    assert loaded.diff(graph) == []
    assert json.loads(loaded.metadata["delayed_edges"]) == sorted([a, b] for a, b in DELAYED)

    run = get("torch").compile(loaded).run(x)
    ref, spikes = _module_spikes(model, x)
    assert torch.equal(run.output, ref)
    assert set(run.records) == set(spikes)
    for key, s in spikes.items():
        assert torch.equal(run.records[key], s), key
        assert s.sum() > 0, f"{key} never spikes: the test would not show much"

    net = loaded.lower()
    sizes = {p.name: p.size for p in net.populations}
    assert sizes["lif_u"] == 3 and sizes["lif_m"] == 15 and sizes["lif_h"] == 6
    pairs = {(p.src, p.dst) for p in net.projections}
    assert {("input", "lif_u"), ("input", "lif_h"), ("lif_h", "lif_u"), ("lif_m", "lif_u"), ("lif_u", "lif_m"),
            ("lif_m", "lif_m"), ("lif_m", "lif_h"), ("lif_h", "lif_h")} <= pairs
    loop_m = next(p for p in net.projections if p.src == p.dst == "lif_m")
    dense = loop_m.weight.toarray() if hasattr(loop_m.weight, "toarray") else np.asarray(loop_m.weight)
    assert np.array_equal(dense, np.kron(np.eye(3), model.A_bar.double().numpy()))
    enc = next(p for p in net.projections if (p.src, p.dst) == ("lif_u", "lif_m"))
    dense = enc.weight.toarray() if hasattr(enc.weight, "toarray") else np.asarray(enc.weight)
    assert np.array_equal(dense, np.kron(np.eye(3), model.B_bar.double().numpy()[:, None]))


def test_l2mu_needs_its_explicit_delays(tmp_path):
    """With the old rule (every edge out of a neuron in a cycle is delayed) the spikes differ."""
    model = _model("lif", None)
    x = torch.randn(25, 2, 4) * 2
    graph = nm.trace(model, x)
    meta = {k: v for k, v in graph.metadata.items() if k != "delayed_edges"}
    inferred = Graph(graph.nodes, graph.edges, meta)
    assert not inferred.has_explicit_delays() and ("lif_u", "B_bar") in inferred.delayed_edges()
    ref, _ = _module_spikes(model, x)
    assert torch.equal(get("torch").compile(graph).run(x).output, ref)
    assert not torch.equal(get("torch").compile(inferred).run(x).output, ref)


def test_l2mu_trained_values_travel(tmp_path):
    model = _model("cuba", 2)
    graph = nm.load(nm.save(nm.trace(model, torch.zeros(2, 1, 4)), tmp_path / "m.nir"))
    meta = graph.nodes["lif_m"].metadata["neuromap"]
    assert np.array_equal(meta["v_th"], model.lif_m.v_th.detach().numpy())
    assert np.array_equal(meta["alpha"], model.lif_m.alpha.detach().clamp(0, 1).numpy())
    assert json.loads(meta["params"])["reset_delay"] is True


def test_cycle_without_explicit_delay_is_rejected():
    graph = nm.trace(_model("lif", None), torch.zeros(2, 1, 4))
    meta = dict(graph.metadata)
    meta["delayed_edges"] = sorted(DELAYED - {("lif_h", "W_h")})
    with pytest.raises(GraphError, match=r"cycle lif_h -> W_h -> lif_h has no delayed edge"):
        Graph(graph.nodes, graph.edges, meta)
    meta["delayed_edges"] = sorted(DELAYED | {("lif_h", "nowhere")})
    with pytest.raises(GraphError, match=r"delayed edge 'lif_h' -> 'nowhere' .* is not an edge"):
        Graph(graph.nodes, graph.edges, meta)
    meta["delayed_edges"] = "[[1, 2"
    with pytest.raises(GraphError, match="not valid JSON"):
        Graph(graph.nodes, graph.edges, meta)


def test_explicit_delays_on_a_small_graph():
    """A delayed edge out of a stateless node, and a cycle through a neuron whose own edge is not delayed."""
    lif = nm.trace(torch.nn.Sequential(torch.nn.Linear(2, 2)), torch.zeros(2, 1, 2))  # just for a Linear node
    fc = lif.nodes["0"]
    from neuromap.graph.neuron import LIFSpec, spec_to_nir
    from neuromap.neurons import LIFParams

    nodes = {"input": nir.Input(input_type=np.asarray([2])), "fc": fc, "lif": spec_to_nir(LIFSpec((2,), LIFParams())),
             "loop": nir.Linear(weight=np.eye(2)), "output": nir.Output(output_type=np.asarray([2]))}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "loop"), ("loop", "fc"), ("lif", "output")]
    inferred = Graph(nodes, edges)
    assert inferred.delayed_edges() == {("lif", "loop")} and "delayed_edges" not in inferred.metadata
    explicit = Graph(nodes, edges, {"delayed_edges": [("loop", "fc")]})
    assert explicit.delayed_edges() == {("loop", "fc")}
    assert explicit.metadata["delayed_edges"] == '[["loop", "fc"]]'
    assert explicit.topological_order() == ["input", "fc", "lif", "loop", "output"]
    x = torch.rand(6, 1, 2) * 3
    a = get("torch").compile(inferred).run(x)
    b = get("torch").compile(explicit).run(x)
    assert torch.equal(a.output, b.output)  # one step of delay either way, in the same place in the loop
    with pytest.raises(GraphError, match="cycle .* has no delayed edge"):
        Graph(nodes, edges, {"delayed_edges": []})


def test_cli_info_on_l2mu(tmp_path, capsys):
    from neuromap import cli

    path = nm.save(nm.trace(_model("cuba", 3), torch.zeros(2, 1, 4)), tmp_path / "l2mu.nir")
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(recurrent)" in out and "neuromap.AxisLinear" in out and "torch: yes" in out
