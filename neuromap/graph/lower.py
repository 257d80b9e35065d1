"""Lowering: ``Graph -> Netlist`` (populations of neurons, projections of synapses).

* Populations: every neuron node (LIF -> ``lif``, CubaLIF -> ``cuba``, LI -> ``li``, other NIR neurons
  -> ``other``), one ``input`` population per graph Input, and an ``identity`` (non-spiking)
  population for an Output fed by synapses with no neuron in between.
* Projections: every path of synaptic nodes from one population to the next. A path with a single
  Affine/Linear is a ``dense`` projection (weight ``[dst.size, src.size]``, flattening is only a
  relabelling of neurons in row-major order); a single Conv is a ``conv`` projection (``ConvGeometry``
  + the kernel; Conv1d as ``H = 1``); a path of reshapes and delays only is ``identity``.
  Everything else is composed into one matrix: pooling is **not** free on neuromorphic hardware, so
  ``AvgPool``/``SumPool`` become synapses — a ``sparse`` projection with one synapse per
  (input, output) pair in each window, weight ``1/(kh kw)`` (average) or 1 (sum); a pool after a conv,
  or a Scale, is multiplied into the composed matrix (``dense`` when an Affine is involved).
* Biases are per target neuron (``[dst.size]``, conv biases repeated over positions); ``nir.Delay``
  nodes on the path add their steps (``graph.metadata["dt"]``) to ``Projection.delay``. When several
  sources are summed into one synaptic node (a spike-level residual ``x + f(x)`` feeding a Linear),
  each source gets its own projection through that node, and the node's bias goes with only the
  first of them (in path order): the target receives it once, as the graph computes it.
* Recurrent connections (a path from a population back to itself) are self-loops.
* Units (:class:`~neuromap.graph.units.Unit`: attention, LMU memory, EGRU, max pooling, activations,
  or any registered extension) are populations of their own: the node gives its population, turns
  each incoming path (composed into one matrix, a port selector excluded) into projections and adds
  its self-loops. A path through a ``TemporalConv1d`` becomes one projection per tap, tap ``j``
  delayed by ``pad_left - j`` steps.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import scipy.sparse as sp

from neuromap.netlist import Netlist, Population, Projection
from neuromap.neurons import registry

from .errors import GraphError
from .extension_nodes import TemporalConv1d
from .matrices import DelayGroup, conv_geometry, delay_steps, op_matrix, size, uniform_delay
from .neuron import has_spec, population_params, registered_params, spec_from_nir
from .nodes import Neuron, Reshape, is_neuron, type_name
from .units import Incoming, is_unit

# The graph arguments are neuromap.graph.Graph objects; the class is not imported here because
# Graph.lower() calls into this module (no import cycle, not even a type-only one).
GraphLike = Any


def _population(graph: GraphLike, name: str) -> Population:
    node = graph.nodes[name]
    shape = graph.shapes[name][1]
    if isinstance(node, nir.Input):
        graded = name in graph.graded_inputs()
        return Population(name, "input", shape, {}, not graded, {"node": name, **({"graded": True} if graded else {})})
    meta = {"node": name, "type": type_name(node)}
    if isinstance(node, Neuron):
        model, params = registered_params(node, name)
        return Population(name, model.kind, shape, params, model.spiking, meta)
    spiking = not isinstance(node, (nir.LI, nir.CubaLI, nir.I))
    params = population_params(spec_from_nir(node, name)) if has_spec(node) else None
    model = registry.by_nir_type(type_name(node))
    kind = model.kind if model is not None else "other"
    return Population(name, kind, shape, params if model is not None else {}, spiking, meta)


def lower(graph: GraphLike) -> Netlist:
    """The :class:`~neuromap.netlist.Netlist` of ``graph`` (see the module docstring for the rules)."""
    net = Netlist(name=str(graph.metadata.get("model", "graph")))
    dt = float(graph.metadata.get("dt", 1e-3))
    pops = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input) or is_neuron(v) or is_unit(v)]
    for n in pops:
        node = graph.nodes[n]
        net.add_population(node.population(n, node.population_shape(*graph.shapes[n])) if is_unit(node)
                           else _population(graph, n))
    paths: list[tuple[str, list[str], str]] = []
    for src in pops:
        stack: list[tuple[str, list[str]]] = [(s, []) for s in graph.successors(src)]
        while stack:
            node, via = stack.pop()
            if node in pops:
                paths.append((src, via, node))
            elif isinstance(graph.nodes[node], nir.Output):
                if any(not isinstance(graph.nodes[v], (nir.Flatten, Reshape, nir.Delay)) for v in via):
                    if node not in net.graph:
                        net.add_population(Population(node, "identity", graph.shapes[node][1], {}, False, {"node": node}))
                    paths.append((src, via, node))
            elif node in via:
                raise GraphError(f"lower: cycle through synaptic nodes at {node!r}")
            else:
                stack += [(s, via + [node]) for s in graph.successors(node)]
    biased: set[tuple] = set()  # (node, rest of the path, dst) whose bias a projection already carries
    reached: set[str] = set()  # units that got an incoming path already (their own bias goes with the first)
    for src, via, dst in sorted(paths, key=lambda p: (p[0], p[2], p[1])):
        name = "/".join([src, *via, dst]) if via else f"{src}->{dst}"
        groups = _delay_groups(graph, via, dt, name)
        for k, grouped in enumerate(groups):
            view = _shared_bias_view(grouped, via, dst, biased)
            tag = f"{name}/d{_path_delay(grouped, via, dt)}" if len(groups) > 1 else name
            for proj in path_projections(view, tag, src, via, dst, dt, first=dst not in reached and k == 0):
                net.add_projection(proj)
        reached.add(dst)
    for n in pops:
        if is_unit(graph.nodes[n]):
            for proj in graph.nodes[n].self_projections(n):
                net.add_projection(proj)
    return net


class _BiasView:
    """``graph`` with some synaptic nodes replaced by bias-free copies (their bias is on another path)."""

    def __init__(self, graph: GraphLike, replaced: dict[str, Any]) -> None:
        self._graph = graph
        self.nodes = {**graph.nodes, **replaced}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._graph, name)


def _delay_groups(graph: GraphLike, via: list[str], dt: float, name: str) -> list[GraphLike]:
    """``[graph]``, or one view per combination of the delay groups of the per-element ``nir.Delay``
    nodes on ``via`` (each replaced by a :class:`~neuromap.graph.matrices.DelayGroup`): hardware
    delays a whole projection, so a path with per-element delays becomes one projection per delay."""
    split, first = [], None
    for i, v in enumerate(via):
        node = graph.nodes[v]
        if isinstance(node, nir.Delay) and uniform_delay(node, v, dt) is None:
            steps = delay_steps(node, v, dt)
            split.append([(v, DelayGroup(scale=(steps == k).astype(np.float64), steps=int(k))) for k in np.unique(steps)])
            first = i if first is None else first
    if not split:
        return [graph]
    biased = [v for v in via[:first] if np.any(np.asarray(getattr(graph.nodes[v], "bias", 0.0)) != 0)]
    if biased:
        raise GraphError(f"lower: path {name!r}: the bias of {biased} passes through a Delay with per-element delays; "
                         "hardware adds a bias at every step, so it cannot be split by delay")
    return [_BiasView(graph, dict(combo)) for combo in itertools.product(*split)]


def _path_delay(graph: GraphLike, via: list[str], dt: float) -> int:
    """Steps of delay along ``via``: uniform ``nir.Delay`` nodes and delay groups."""
    total = 0
    for v in via:
        node = graph.nodes[v]
        if isinstance(node, DelayGroup):
            total += node.steps
        elif isinstance(node, nir.Delay):
            steps = uniform_delay(node, v, dt)
            if steps is None:
                raise GraphError(f"lower: node {v!r} (Delay) has per-element delays; split the path first")
            total += steps
    return total


def _shared_bias_view(graph: GraphLike, via: list[str], dst: str, biased: set[tuple]) -> GraphLike:
    """``graph``, or a view of it in which each node of ``via`` whose bias an earlier path through the
    same rest of the route to ``dst`` already carries has a zero bias (the others join ``biased``)."""
    replaced: dict[str, Any] = {}
    for i, v in enumerate(via):
        node = graph.nodes[v]
        if getattr(node, "bias", None) is None:
            continue
        key = (v, tuple(via[i + 1:]), dst)
        if key in biased:
            stripped = copy.copy(node)
            stripped.bias = np.zeros_like(np.asarray(node.bias))
            replaced[v] = stripped
        else:
            biased.add(key)
    return _BiasView(graph, replaced) if replaced else graph


def _projection(graph: GraphLike, name: str, src: str, via: list[str], dst: str, dt: float) -> Projection:
    delay = _path_delay(graph, via, dt)
    ops = [v for v in via if not isinstance(graph.nodes[v], (nir.Flatten, Reshape, nir.Delay))]
    meta = {"path": list(via), "ops": [type_name(graph.nodes[v]) for v in ops]}
    n_src, n_dst = size(graph.shapes[src][1]), size(graph.shapes[dst][1])
    if not ops:
        return Projection(name, src, dst, "identity", delay=delay, meta={**meta, "size": n_src})
    if len(ops) == 1:
        node, (fi, fo) = graph.nodes[ops[0]], graph.shapes[ops[0]]
        if getattr(node, "metadata", None):  # e.g. the weight grid of a quantised layer (neuromap.quantize)
            meta["node_metadata"] = dict(node.metadata)
        if isinstance(node, (nir.Affine, nir.Linear)):
            bias = np.asarray(node.bias) if isinstance(node, nir.Affine) else None
            return Projection(name, src, dst, "dense", weight=np.asarray(node.weight), bias=bias, delay=delay, meta=meta)
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            geo, w = conv_geometry(node, fi, fo)
            bias = np.repeat(np.asarray(node.bias), size(fo[1:]))
            return Projection(name, src, dst, "conv", weight=w, bias=bias, conv=geo, delay=delay, meta=meta)
    m, b, has_bias = _compose(graph, ops, n_src)
    dense = any(isinstance(graph.nodes[v], (nir.Affine, nir.Linear)) for v in ops)
    proj = Incoming(name, src, dst, m, b if has_bias else None, delay, dense, meta).projection()
    assert proj.weight.shape == (n_dst, n_src)
    return proj


def _compose(graph: GraphLike, ops: list[str], n: int) -> tuple[sp.csr_matrix, np.ndarray, bool]:
    """The synaptic nodes ``ops`` (in path order) as one ``(matrix, bias, has_bias)`` on ``n`` inputs."""
    m, b, has_bias = sp.identity(n, format="csr"), np.zeros(n), False
    for v in ops:
        mat, bias = op_matrix(graph.nodes[v], v, *graph.shapes[v])
        m, b = (mat @ m).tocsr(), mat @ b
        if bias is not None:
            b, has_bias = b + bias, True
    return m, b, has_bias


def _taps(graph: GraphLike, name: str, ops: list[str], conv: str, n_src: int, delay: int) -> list[tuple]:
    """A path through a temporal conv as one ``(matrix, bias, has_bias, delay)`` per tap: tap ``j`` is
    delayed by ``pad_left - j`` steps (a look-ahead tap cannot be lowered)."""
    k = ops.index(conv)
    node = graph.nodes[conv]
    mb, bb, _ = _compose(graph, ops[:k], n_src)
    ma, ba, _ = _compose(graph, ops[k + 1:], node.weight.shape[0])
    w = np.asarray(node.weight, dtype=np.float64)
    taps = []
    for j in range(w.shape[2]):
        lag = node.pad_left - j
        if lag < 0:
            raise GraphError(f"lower: temporal conv {conv!r} looks {-lag} step(s) ahead; hardware cannot")
        bias = ma @ (np.asarray(node.bias, dtype=np.float64) + w.sum(axis=2) @ bb) + ba if lag == 0 else None
        taps.append(((ma @ sp.csr_matrix(w[:, :, j]) @ mb).tocsr(), bias if bias is not None else np.zeros(ma.shape[0]),
                     lag == 0, delay + lag))
    return taps


def path_projections(graph: GraphLike, name: str, src: str, via: list[str], dst: str, dt: float,
                     first: bool = True) -> list[Projection]:
    """The projections of one path ``src -> via... -> dst``: one plain projection (:func:`_projection`),
    or, into a unit or through a temporal conv, the composed path (per tap) handed to the unit."""
    dnode = graph.nodes[dst]
    convs = [v for v in via if isinstance(graph.nodes[v], TemporalConv1d)]
    composes = is_unit(dnode) and dnode.composes_inputs
    snode = graph.nodes[src]
    out_map = snode.output_map(*graph.shapes[src]) if is_unit(snode) else None  # a reducing unit's way out
    if not convs and not composes and out_map is None:
        return [_projection(graph, name, src, via, dst, dt)]
    if len(convs) > 1:
        raise GraphError(f"lower: path {name!r} has several temporal convolutions")
    delay = _path_delay(graph, via, dt)
    ops = [v for v in via if not isinstance(graph.nodes[v], (nir.Flatten, Reshape, nir.Delay))]
    meta: dict = {"path": list(via), "ops": [type_name(graph.nodes[v]) for v in ops]}
    lower_input: Callable = dnode.input_projections if composes else (lambda inc: [inc.projection()])
    if composes:
        n_port, port_meta = dnode.input_port(name, [graph.nodes[v] for v in ops])
        ops, meta = ops[:len(ops) - n_port], {**meta, **port_meta}
    n_src = size(graph.shapes[src][1])
    if convs:
        taps = _taps(graph, name, ops, convs[0], n_src, delay)
    else:
        m, b, hb = _compose(graph, ops, n_src)
        taps = [(m, b, hb, delay)]
    dense = bool(convs) or any(isinstance(graph.nodes[v], (nir.Affine, nir.Linear)) for v in ops)
    if out_map is not None:
        taps = [((m @ out_map[0]).tocsr(), b, hb, d) for m, b, hb, d in taps]
        meta = {**meta, **out_map[1]}
    out: list[Projection] = []
    for t, (m, b, has_bias, d) in enumerate(taps):
        tag, tmeta = (f"{name}/tap{t}", {**meta, "tap": t}) if len(taps) > 1 else (name, meta)
        out += lower_input(Incoming(tag, src, dst, m, b if has_bias else None, d, dense, tmeta, first and t == 0))
    return out
