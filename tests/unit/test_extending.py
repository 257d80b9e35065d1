"""The README's "Add a target", "Add a backend" and "Add a model" recipes, done: a copied target TOML
with a changed figure is used by the partitioner and a backend by path; a toy netlist backend in
one module registers the neuron kinds it implements (``@implements``), runs through ``deploy`` and
matches ``backends.torch``, and refuses a kind it lacks and a target kind it cannot run; a new unit
node traces, saves, lowers and runs without touching the library."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch import nn

from neuromap import backends, targets
from neuromap.backends import Implementations, RunResult, load_target
from neuromap.deploy import deploy
from neuromap.graph import trace
from neuromap.neurons import ALIF, LIF, ALIFParams, CubaLIF
from neuromap.partition import partition

HARDWARE = targets.folder()


def net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 40), LIF(beta=0.8), nn.Linear(40, 4), ALIF(ALIFParams.from_decay(0.9)))


def test_a_copied_target_toml_with_a_changed_figure_is_used_by_path(tmp_path):
    text = (HARDWARE / "spinnaker2.toml").read_text()
    line = next(x for x in text.splitlines() if x.startswith("memory_bits"))
    mine = tmp_path / "mychip.toml"
    mine.write_text(text.replace('name = "spinnaker2"', 'name = "mychip"').replace(
        line, 'memory_bits = { value = 20000, unit = "bit", source = "test: a smaller PE", confidence = "D" }'))
    tgt = targets.load(mine)
    assert tgt.name == "mychip" and tgt.get("core.memory_bits") == 20000
    x = torch.rand(20, 2, 5) * 3
    graph = trace(net(), x)
    assert partition(graph.lower(), mine).metrics["utilisation"]["core.memory_bits"]["max"] > \
        partition(graph.lower(), "spinnaker2").metrics["utilisation"]["core.memory_bits"]["max"]
    s2 = backends.get("spinnaker2")
    small, full = s2.compile(graph, target=mine), s2.compile(graph)
    assert small.mapping.n_cores > full.mapping.n_cores  # the PE layout of 20 kbit does not hold layer 1
    res = small.run(x)
    assert torch.equal(res.output, backends.get("torch").compile(graph).run(x).output)


# --- "Add a backend": a toy netlist backend in one module ----------------------------------------------
TOY = Implementations("toy")


@TOY.implements("lif", numerics="fp32")
@TOY.implements("alif", numerics="fp32")
def toy_neurons(pop, x: torch.Tensor) -> torch.Tensor:
    """LIF and ALIF populations through their registry step (the toy implements these two kinds only)."""
    return pop.model.sequence(x, pop.params, None)[0]


class ToyBackend:
    """A netlist backend in a page: dense projections, the neuron kinds it registered in TOY."""

    name = "toy"
    default_target = "cpu"
    target_kinds = ("conventional",)
    implementations = TOY

    def unsupported(self, graph) -> list[str]:
        net = graph.lower()
        return TOY.problems(net, "fp32") + [f"projection {p.name!r} ({p.kind}): toy runs dense only"
                                            for p in net.projections if p.kind != "dense"]

    def compile(self, graph, target=None):
        load_target(self, target)
        problems = self.unsupported(graph)
        if problems:
            raise backends.BackendError("toy backend cannot run this graph:\n  " + "\n  ".join(problems))
        return ToyCompiled(graph.lower(), graph.outputs)


class ToyCompiled:
    def __init__(self, netlist, outputs) -> None:
        self.netlist, self.outputs = netlist, outputs

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> RunResult:
        out = {}
        for name in nx.topological_sort(self.netlist.graph):
            pop = self.netlist.population(name)
            if pop.is_input:
                out[name] = x
                continue
            drive = sum(torch.nn.functional.linear(out[p.src], torch.as_tensor(p.weight, dtype=torch.float32),
                                                   None if p.bias is None else torch.as_tensor(p.bias,
                                                                                              dtype=torch.float32))
                        for p in self.netlist.incoming(name))
            out[name] = TOY.get(pop, "fp32")(pop, drive)
        last = list(nx.topological_sort(self.netlist.graph))[-1]
        return RunResult({self.outputs[0]: out[last]}, out, backend="toy")


def test_a_toy_backend_registers_its_kinds_runs_through_deploy_and_refuses_a_kind_it_lacks():
    backends.register("toy", ToyBackend())
    assert "toy" in backends.available()
    x = (torch.rand(20, 2, 5) < 0.5).float()
    model = net()
    graph = trace(model, x)
    toy = backends.get("toy")
    assert isinstance(toy, backends.Backend) and toy.unsupported(graph) == []
    with torch.no_grad():
        ref = model(x)
    dep = deploy(graph, x, backend="toy", compare="torch")
    assert ref.sum() > 0 and torch.equal(dep.result.output, ref) and dep.target == "cpu"
    assert set(dep.agreement.values()) == {1.0} and "cpu" in dep.report.estimates
    torch.manual_seed(0)
    cuba = trace(nn.Sequential(nn.Linear(5, 6), CubaLIF(alpha=0.5, beta=0.8)), x)
    with pytest.raises(backends.BackendError, match=r"population '1' \(node '1'\) has neuron kind 'cuba', which "
                                                    r"backend 'toy' does not implement in fp32 numerics; it "
                                                    r"implements \['alif', 'lif'\]"):
        deploy(cuba, x, backend="toy")
    with pytest.raises(backends.BackendError, match="backend 'toy' cannot run target 'loihi2': it is a digital target"):
        deploy(graph, x, backend="toy", target="loihi2")
    with pytest.raises(backends.BackendError, match="backend 'toy' takes no option allow_mismatch"):
        deploy(graph, x, backend="toy", allow_mismatch=True)


# --- a new extension node in a page: node, tracer handler, lowering (Unit) and torch builder ---------

from dataclasses import dataclass  # noqa: E402

from neuromap.backends.torch import NodeOp, register_builder  # noqa: E402
from neuromap.graph import load, save  # noqa: E402
from neuromap.graph.nodes import NeuromapNode, register_node  # noqa: E402
from neuromap.graph.trace_handlers import register_handler, single_input  # noqa: E402
from neuromap.graph.units import Unit  # noqa: E402


class Clip(nn.Module):
    """``clamp(x, 0, ceiling)``: a graded (non-spiking) unit."""

    def __init__(self, ceiling: float) -> None:
        super().__init__()
        self.ceiling = ceiling

    def forward(self, x):
        return x.clamp(0.0, self.ceiling)


@register_node
@dataclass(eq=False)
class ClipNode(Unit):
    ceiling: float

    def __post_init__(self) -> None:
        self.ceiling = float(self.ceiling)
        self.input_type, self.output_type = {"input": None}, {"output": None}

    def declared_input_shape(self):
        return None

    def infer_output(self, s):
        return tuple(s)


@register_handler(Clip)
def _trace_clip(tr, m, name, args, out):
    tr.bind(out, [tr.add_node(name, ClipNode(m.ceiling), single_input(tr, name, args))])


class _ClipOp(NodeOp):
    def __init__(self, node, name, fi, fo):
        super().__init__(name, fi, fo)
        self.ceiling = node.ceiling

    def forward(self, x, state):
        return x.clamp(0.0, self.ceiling), state


register_builder(ClipNode)(_ClipOp)


def test_a_new_unit_node_traces_saves_lowers_and_runs_without_touching_the_library(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), Clip(0.5), nn.Linear(8, 3), LIF(beta=0.9))
    x = torch.randn(6, 2, 5)
    graph = trace(model, x)
    assert any(isinstance(n, ClipNode) for n in graph.nodes.values())
    save(graph, tmp_path / "clip.nir")
    back = load(tmp_path / "clip.nir")
    with torch.no_grad():
        ref = model(x)
    assert torch.equal(backends.get("torch").compile(back).run(x).output, ref)
    net = back.lower()
    clip = next(p for p in net.populations if p.meta.get("type") == "neuromap.ClipNode")
    assert clip.kind == "other" and clip.size == 8 and not clip.spiking
    assert [p.kind for p in net.projections if p.dst == clip.name] == ["dense"]


def test_two_node_classes_with_one_name_are_refused():
    @dataclass(eq=False)
    class ClipNode(NeuromapNode):  # noqa: F811 - same serialised name, another class
        ceiling: float

    with pytest.raises(ValueError, match="already registered"):
        register_node(ClipNode)
