"""The neuromap Graph: NIR nodes plus neuromap extension nodes, validated, with inferred shapes.

    graph = nm.trace(model, example)         # or nm.load("model.nir")
    graph.nodes["0"]                          # nir.Affine, nir.LIF, neuromap.graph.nodes.Reshape, ...
    graph.shapes["1"]                         # (input shape, output shape), no time/batch axes
    netlist = graph.lower()                   # populations + projections (neuromap.netlist.Netlist)

Edges ``(src, dst)`` carry the output of ``src`` into ``dst``; several edges into one node are
summed (NIR's convention). Some edges are *delayed*: they carry ``src``'s output of the previous
time step (zeros at ``t = 0``); :meth:`Graph.delayed_edges` names them.

* Inferred (the default, every graph without the metadata below): every edge that leaves a stateful
  node (neuron, delay, stateful unit) inside a cycle is delayed. Cycles are allowed when every cycle
  passes through a stateful node.
* Explicit: ``graph.metadata["delayed_edges"]`` lists them, for models whose spikes travel within
  the same step inside a cycle (L2MU: encoder u -> memory m -> hidden h in one step, h[t-1] and
  m[t-1] fed back). Stored as a JSON string ``'[["src", "dst"], ...]'`` (sorted; the constructor also
  accepts a list of pairs and normalises it), so it survives ``save`` / ``load`` exactly. Every
  listed pair must be an edge, and every cycle must contain at least one of them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

import networkx as nx
import nir
import numpy as np

from . import extension_nodes  # noqa: F401  (registers the generic extension nodes in EXTENSION_NODES)
from .errors import GraphError, UnsupportedNodeError
from .neuron import has_spec, registered_params, spec_from_nir
from .nodes import EXTENSION_NODES, STANDARD_NODES, Neuron, is_stateful, known_types, type_name
from .shapes import Shape, declared_input, output_shape

# Fields in which +inf is a meaningful value (an integrator that never decays: beta = 1).
_INF_OK = {"tau", "tau_mem", "tau_syn", "r", "w_in"}
DELAYED_KEY = "delayed_edges"  # graph.metadata key of the explicit delayed-edge set
GRADED_KEY = "graded_inputs"  # graph.metadata key: JSON list of inputs that carry real values, not spikes


def encode_delayed_edges(pairs: Any) -> str:
    """The canonical metadata form of a delayed-edge set: a JSON string of sorted ``[src, dst]`` pairs."""
    return json.dumps(sorted([a, b] for a, b in _pairs(pairs)))


def _pairs(value: Any) -> list:
    if isinstance(value, bytes):
        value = value.decode("utf8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU" and value.ndim == 0:
        return _pairs(value.item())
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise GraphError(f"graph metadata {DELAYED_KEY!r} is not valid JSON ({exc})") from exc
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple, set)):
        raise GraphError(f"graph metadata {DELAYED_KEY!r} must be a list of [source, target] pairs, "
                         f"got {type(value).__name__}")
    out = []
    for p in value:
        if not isinstance(p, (list, tuple)) or len(p) != 2 or not all(isinstance(v, (str, bytes)) for v in p):
            raise GraphError(f"graph metadata {DELAYED_KEY!r}: {p!r} is not a [source, target] pair of node names")
        out.append(tuple(v.decode("utf8") if isinstance(v, bytes) else v for v in p))
    return out


def decode_delayed_edges(value: Any) -> set[tuple[str, str]]:
    """The delayed-edge set from its metadata form (JSON string or list of pairs); raises :class:`GraphError`."""
    return {(str(a), str(b)) for a, b in _pairs(value)}


def inferred_delayed_edges(nodes: dict[str, nir.NIRNode], edges: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The default rule: edges out of a stateful node inside a cycle (strongly connected component)."""
    edges = list(edges)
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    comp = {n: i for i, c in enumerate(nx.strongly_connected_components(g)) for n in c}
    return {(a, b) for a, b in edges if comp[a] == comp[b] and is_stateful(nodes[a])}


def complete_delayed_edges(nodes: dict[str, nir.NIRNode], edges: Iterable[tuple[str, str]],
                           explicit: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """``explicit`` plus the inferred delayed edges of every cycle (strongly connected component)
    that contains none of the explicit ones: what a tracer records when only some of a model's
    recurrent parts mark their delays themselves."""
    edges, explicit = list(edges), {(str(a), str(b)) for a, b in explicit}
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    comp = {n: i for i, c in enumerate(nx.strongly_connected_components(g)) for n in c}
    marked = {comp[a] for a, b in explicit if a in comp and b in comp and comp[a] == comp[b]}
    inferred = {(a, b) for a, b in inferred_delayed_edges(nodes, edges) if comp[a] not in marked}
    return explicit | inferred


def to_numpy(value: Any) -> Any:
    """torch tensors / tuples / numpy scalars -> numpy arrays or Python scalars (recursively for dicts)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {str(k): to_numpy(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float, np.integer, np.floating)) for v in value):
        return np.asarray(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def node_fields(node: nir.NIRNode) -> dict[str, Any]:
    """The constructor fields of a node (without metadata and the derived input/output types)."""
    return {
        f.name: getattr(node, f.name)
        for f in dataclasses.fields(node)
        if f.init and f.name not in ("metadata",) and not (f.name == "input_type" and not isinstance(node, nir.Flatten))
    }


def _normalise_node(node: nir.NIRNode) -> None:
    for key, value in node_fields(node).items():
        if key == "input_type":
            continue
        setattr(node, key, to_numpy(value))
    node.metadata = to_numpy(node.metadata) if isinstance(node.metadata, dict) else {}
    _bias_per_output(node)


def _bias_per_output(node: nir.NIRNode) -> None:
    """NIR allows any bias that broadcasts over the outputs (a ``(1, n)`` row, one value for every
    channel): store one value per output (Affine) or output channel (Conv), as every backend takes it."""
    if not isinstance(node, (nir.Affine, nir.Conv1d, nir.Conv2d)) or not isinstance(node.bias, np.ndarray | float | int):
        return
    n = int(np.shape(node.weight)[0])
    bias = np.asarray(node.bias)
    if bias.shape == (n,):
        return
    if bias.size not in (1, n) or (bias.size == n and sum(d > 1 for d in bias.shape) > 1):
        raise GraphError(f"{type(node).__name__} bias of shape {bias.shape} does not broadcast over its {n} outputs")
    node.bias = np.ascontiguousarray(np.broadcast_to(bias.reshape(-1), (n,)))


class Graph:
    """A validated computational graph of NIR / neuromap nodes.

    Args:
        nodes: name -> node (``nir.NIRNode`` of a standard type or a neuromap extension node).
        edges: ``(src, dst)`` pairs.
        metadata: free-form graph metadata (``dt`` in s, producer, ...).

    Raises:
        GraphError: unknown node types, dangling or duplicate edges, NaN weights, shape mismatches,
            cycles with no stateful node — each message names the node or edge.
    """

    def __init__(
        self, nodes: dict[str, nir.NIRNode], edges: Iterable[tuple[str, str]], metadata: dict[str, Any] | None = None
    ) -> None:
        self.nodes: dict[str, nir.NIRNode] = dict(nodes)
        self.edges: list[tuple[str, str]] = []
        for e in edges:
            if not isinstance(e, (tuple, list)) or len(e) != 2:
                raise GraphError(f"edge {e!r} is not a (source, target) pair")
            self.edges.append((str(e[0]), str(e[1])))
        metadata = dict(metadata or {})
        if DELAYED_KEY in metadata:
            metadata[DELAYED_KEY] = encode_delayed_edges(metadata[DELAYED_KEY])
        self.metadata: dict[str, Any] = to_numpy(metadata)
        for name, node in self.nodes.items():
            if isinstance(node, known_types()):
                try:
                    _normalise_node(node)
                except GraphError as exc:
                    raise GraphError(f"node {name!r}: {exc}") from None
        self.shapes: dict[str, tuple[Shape, Shape]] = {}
        self.validate()

    # --- structure ------------------------------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        return [n for n, v in self.nodes.items() if isinstance(v, nir.Input)]

    @property
    def outputs(self) -> list[str]:
        return [n for n, v in self.nodes.items() if isinstance(v, nir.Output)]

    def predecessors(self, name: str) -> list[str]:
        return [a for a, b in self.edges if b == name]

    def successors(self, name: str) -> list[str]:
        return [b for a, b in self.edges if a == name]

    def to_networkx(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        g.add_edges_from(self.edges)
        return g

    def has_explicit_delays(self) -> bool:
        """Whether the delayed edges are listed in ``metadata["delayed_edges"]`` (else inferred)."""
        return DELAYED_KEY in self.metadata

    def delayed_edges(self) -> set[tuple[str, str]]:
        """Edges that carry the previous step's output of their source: the explicit set
        ``metadata["delayed_edges"]`` when present, else the edges that close a cycle out of a stateful node."""
        if self.has_explicit_delays():
            return decode_delayed_edges(self.metadata[DELAYED_KEY])
        return inferred_delayed_edges(self.nodes, self.edges)

    def graded_inputs(self) -> set[str]:
        """Inputs that carry real values rather than 0/1 spikes (``metadata["graded_inputs"]``, a JSON
        list the tracer writes from the example: an input whose example holds other values)."""
        raw = self.metadata.get(GRADED_KEY)
        if raw is None:
            return set()
        raw = raw.item() if isinstance(raw, np.ndarray) and raw.ndim == 0 else raw
        try:
            names = json.loads(raw.decode("utf8") if isinstance(raw, bytes) else str(raw))
        except ValueError as exc:
            raise GraphError(f"graph metadata {GRADED_KEY!r} is not valid JSON ({exc})") from exc
        if not isinstance(names, list) or not all(isinstance(n, str) and n in self.nodes for n in names):
            raise GraphError(f"graph metadata {GRADED_KEY!r} must be a JSON list of input node names, got {raw!r}")
        return set(names)

    def is_recurrent(self) -> bool:
        return not nx.is_directed_acyclic_graph(self.to_networkx())

    def topological_order(self) -> list[str]:
        """Node order in which every node comes after its non-delayed predecessors."""
        g = self.to_networkx()
        g.remove_edges_from(self.delayed_edges())
        return list(nx.lexicographical_topological_sort(g, key=lambda n: list(self.nodes).index(n)))

    # --- validation -----------------------------------------------------------------------------
    def validate(self) -> None:
        """Check the graph and (re)compute :attr:`shapes`; raises :class:`GraphError`."""
        self._check_nodes()
        self._check_edges()
        self._check_cycles()
        self._infer_shapes()

    def _check_nodes(self) -> None:
        if not self.nodes:
            raise GraphError("graph has no nodes")
        for name, node in self.nodes.items():
            if not isinstance(name, str) or not name or "/" in name:
                raise GraphError(f"node name {name!r} must be a non-empty string without '/'")
            if isinstance(node, nir.NIRGraph):
                raise UnsupportedNodeError(f"node {name!r} is a nested NIRGraph; import it with neuromap.graph.from_nir")
            if not isinstance(node, known_types()):
                raise UnsupportedNodeError(
                    f"node {name!r} has unsupported type {type(node).__name__}; supported: "
                    f"{sorted(STANDARD_NODES) + sorted(EXTENSION_NODES)}"
                )
            for key, value in node_fields(node).items():
                if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
                    bad = np.isnan(value) if key in _INF_OK else ~np.isfinite(value)
                    if bad.any():
                        raise GraphError(f"node {name!r} ({type_name(node)}): {key} contains NaN or inf")
                if isinstance(value, np.ndarray) and value.ndim == 0 and key != "input_type":
                    raise GraphError(f"node {name!r} ({type_name(node)}): {key} is a 0-d array; NIR needs shaped arrays")
            if isinstance(node, Neuron):
                registered_params(node, name)  # a known kind with valid parameters
            if has_spec(node):
                spec = spec_from_nir(node, name)
                if tuple(spec.shape) != declared_input(node):
                    raise GraphError(f"node {name!r}: neuron metadata shape {spec.shape} != node shape")

    def _check_edges(self) -> None:
        seen = set()
        for a, b in self.edges:
            for end in (a, b):
                if end not in self.nodes:
                    raise GraphError(f"edge {a!r} -> {b!r}: node {end!r} does not exist (dangling edge)")
            if (a, b) in seen:
                raise GraphError(f"edge {a!r} -> {b!r} appears twice")
            seen.add((a, b))
            if isinstance(self.nodes[b], nir.Input):
                raise GraphError(f"edge {a!r} -> {b!r}: an Input node cannot have incoming edges")
            if isinstance(self.nodes[a], nir.Output):
                raise GraphError(f"edge {a!r} -> {b!r}: an Output node cannot have outgoing edges")
        if not self.inputs:
            raise GraphError("graph has no Input node")
        if not self.outputs:
            raise GraphError("graph has no Output node")
        targets = {b for _, b in self.edges}
        for name, node in self.nodes.items():
            if not isinstance(node, nir.Input) and name not in targets:
                raise GraphError(f"node {name!r} ({type_name(node)}) has no incoming edge")

    def _check_cycles(self) -> None:
        g = self.to_networkx()
        if self.has_explicit_delays():
            delayed = self.delayed_edges()
            known = set(self.edges)
            for a, b in sorted(delayed):
                if (a, b) not in known:
                    raise GraphError(f"delayed edge {a!r} -> {b!r} (graph metadata {DELAYED_KEY!r}) is not an edge "
                                     f"of the graph")
            g.remove_edges_from(delayed)
            why = f"has no delayed edge (graph metadata {DELAYED_KEY!r}) to carry it across time steps"
        else:
            g.remove_edges_from([(a, b) for a, b in self.edges if is_stateful(self.nodes[a])])
            why = "has no stateful node (neuron or delay) to carry it across time steps"
        try:
            cycle = nx.find_cycle(g)
        except nx.NetworkXNoCycle:
            return
        path = " -> ".join([a for a, _ in cycle] + [cycle[0][0]])
        raise GraphError(f"cycle {path} {why}")

    def _infer_shapes(self) -> None:
        self.shapes = infer_shapes(self.nodes, self.edges)
        complete_shapes(self.nodes, self.shapes)

    # --- conversions ----------------------------------------------------------------------------
    def neuromap_nodes(self) -> list[str]:
        """Names of the nodes that only neuromap understands (``neuromap.*`` types)."""
        return [n for n, v in self.nodes.items() if type_name(v).startswith("neuromap.")]

    def to_nir(self, strict: bool = False) -> nir.NIRGraph:
        """This graph as a ``nir.NIRGraph`` (same node objects). ``strict=True`` refuses neuromap nodes
        (for export to tools that only know NIR) with an error that names them."""
        ext = self.neuromap_nodes()
        if strict and ext:
            raise UnsupportedNodeError(
                f"graph has neuromap extension nodes that other NIR tools cannot read: "
                f"{', '.join(f'{n} ({type_name(self.nodes[n])})' for n in ext)}"
            )
        return nir.NIRGraph(nodes=dict(self.nodes), edges=list(self.edges), metadata=dict(self.metadata), type_check=False)

    def lower(self):
        """The netlist (populations and projections) of this graph; see :mod:`neuromap.graph.lower`."""
        from .lower import lower

        return lower(self)

    # --- inspection -----------------------------------------------------------------------------
    def neuron_counts(self) -> dict[str, int]:
        """Neurons per neuron node (LIF, CubaLIF, LI, ...)."""
        from .nodes import is_neuron

        return {n: int(np.prod(self.shapes[n][1])) for n, v in self.nodes.items() if is_neuron(v)}

    def diff(self, other: Graph) -> list[str]:
        """Differences to ``other`` (node types, fields, metadata, edges); empty when identical."""
        out: list[str] = []
        if set(self.nodes) != set(other.nodes):
            out.append(f"node names differ: {sorted(set(self.nodes) ^ set(other.nodes))}")
        if set(self.edges) != set(other.edges):
            out.append(f"edges differ: {sorted(set(self.edges) ^ set(other.edges))}")
        out += [f"graph metadata: {d}" for d in _diff_values(self.metadata, other.metadata, "")]
        for name in set(self.shapes) & set(other.shapes):
            if self.shapes[name] != other.shapes[name]:
                out.append(f"node {name!r}: shapes {self.shapes[name]} != {other.shapes[name]}")
        for name in set(self.nodes) & set(other.nodes):
            a, b = self.nodes[name], other.nodes[name]
            if type_name(a) != type_name(b):
                out.append(f"node {name!r}: type {type_name(a)} != {type_name(b)}")
                continue
            fa = {k: v for k, v in node_fields(a).items()}
            fb = {k: v for k, v in node_fields(b).items()}
            if isinstance(a, nir.Flatten):
                fa["input_type"], fb["input_type"] = a.input_type["input"], b.input_type["input"]
            out += [f"node {name!r}: {d}" for d in _diff_values(fa, fb, "")]
            out += [f"node {name!r} metadata: {d}" for d in _diff_values(a.metadata, b.metadata, "")]
        return out

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes, {len(self.edges)} edges, inputs={self.inputs}, outputs={self.outputs})"


def infer_shapes(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> dict[str, tuple[Shape, Shape]]:
    """``name -> (input shape, output shape)`` by propagating declared shapes along the edges."""
    ins: dict[str, Shape | None] = {n: declared_input(v) for n, v in nodes.items()}
    outs: dict[str, Shape | None] = {n: None for n in nodes}
    changed = True
    while changed:
        changed = False
        for name, node in nodes.items():
            if outs[name] is None and ins[name] is not None:
                outs[name] = output_shape(node, name, ins[name])
                changed = True
        for a, b in edges:
            if outs[a] is None:
                continue
            if ins[b] is None:
                ins[b] = outs[a]
                changed = True
            elif tuple(ins[b]) != tuple(outs[a]):
                raise GraphError(
                    f"edge {a!r} -> {b!r}: shape mismatch: {a!r} outputs {tuple(outs[a])}, "
                    f"{b!r} ({type_name(nodes[b])}) takes {tuple(ins[b])}"
                )
    for name in nodes:
        if ins[name] is None or outs[name] is None:
            raise GraphError(f"cannot infer the shape of node {name!r} ({type_name(nodes[name])})")
    return {n: (tuple(ins[n]), tuple(outs[n])) for n in nodes}


def complete_shapes(nodes: dict[str, nir.NIRNode], shapes: dict[str, tuple[Shape, Shape]]) -> None:
    """Fill shape fields NIR leaves optional (conv ``input_shape``, flatten ``input_type``, I/O types)
    so that every node is self-describing on disk."""
    for name, node in nodes.items():
        s_in, s_out = shapes[name]
        if isinstance(node, nir.Conv1d):
            node.input_shape = int(s_in[1])
        elif isinstance(node, nir.Conv2d):
            node.input_shape = np.asarray(s_in[1:], dtype=np.int64)
        if isinstance(node, (nir.Input, nir.Conv1d, nir.Conv2d, nir.Flatten, nir.Output, nir.SumPool2d, nir.AvgPool2d)):
            node.input_type = {"input": np.asarray(s_in, dtype=np.int64)}
            node.output_type = {"output": np.asarray(s_out, dtype=np.int64)}


def _diff_values(a: Any, b: Any, path: str) -> list[str]:
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)):
            return [f"{path or '.'}: {type(a).__name__} != {type(b).__name__}"]
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: missing on one side")
            else:
                out += _diff_values(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return [f"{path}: {type(a).__name__} != {type(b).__name__}"]
        if a.shape != b.shape or a.dtype != b.dtype:
            return [f"{path}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"]
        if a.dtype.kind in "fc":
            same = np.array_equal(a, b, equal_nan=True)
        else:
            same = np.array_equal(a, b)
        return [] if same else [f"{path}: values differ"]
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return [f"{path}: {type(a).__name__} != {type(b).__name__}"]
    if a != b and not (isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b)):
        return [f"{path}: {a!r} != {b!r}"]
    return []
