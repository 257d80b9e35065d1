"""Import NIR graphs written by other tools: flatten subgraphs, map continuous neurons to discrete ones.

NIR describes neurons in continuous time (``tau dv/dt = (v_leak - v) + r I``); each exporter
discretises differently, so the mapping to neuromap's discrete LIF (:mod:`neuromap.neurons.params`)
is chosen by ``convention``. Per-step decays are computed in float64 and stored as float32
per-neuron overrides (the values the exporting library multiplies with).

``"nir"`` (default; also neuromap's own export): forward Euler at step ``dt`` (s)::

    beta = 1 - dt/tau        g_v = (dt/tau) r                    (LIF, LI)
    alpha = 1 - dt/tau_syn   g_i = (dt/tau_syn) w_in             (CubaLIF)
    spike when v > v_threshold, then v = v_reset (NIR's definition: reset="zero")

``"snntorch"`` (snnTorch 1.0 ``export_to_nir``; Leaky -> LIF, Synaptic -> CubaLIF): the same Euler
mapping with snnTorch's fixed export ``dt = 1e-4``; snnTorch writes ``tau = dt/(1-beta)``,
``r = tau/dt`` and ``w_in = tau_syn/dt``, so the gains are 1. The reset snnTorch uses is not in
the file: its default, a subtractive reset applied one step late (``reset_delay=True``).

``"norse"`` (Norse 1.1 ``norse.torch.to_nir``; LIFBoxCell -> LIF, LIFCell -> CubaLIF,
LIBoxCell -> LI): Norse writes ``tau_nir = dt / tau_mem_inv`` (the time constant multiplied by
``dt``, not the time constant), and integrates
``v += dt tau_mem_inv (v_leak - v + i)`` with the synaptic current jumping by the input
(``i += x``, no ``dt/tau_syn`` factor) and decaying by ``1 - dt tau_syn_inv``::

    beta = 1 - dt**2 / tau_nir   g_v = (1 - beta) r   alpha = 1 - dt**2 / tau_syn_nir   g_i = w_in
    reset to v_reset (Norse's ``reset_value``), spike when v > v_th

``dt`` is the step the exporter used (Norse's ``to_nir(dt=...)``, default 1e-3). A total input
gain ``g = g_i g_v`` of 1 maps to ``decay_input=False``, of ``1 - beta`` to ``decay_input=True``;
any other gain becomes a ``nir.Scale`` node in front of the neuron. Neuron nodes that already carry
neuromap metadata are kept exactly, whatever the convention, provided their standard NIR fields
still agree with it; a file whose fields were edited by another tool is an error (not silently run
with the old parameters).

Exporters that keep the batch axis of their sample data in the ``Input`` shape (Norse) are fixed up:
a leading 1 is dropped when the rest matches what the first layer takes.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import networkx as nx
import nir
import numpy as np

from neuromap.graph.errors import GraphError, UnsupportedNodeError
from neuromap.graph.graph import DELAYED_KEY, Graph, decode_delayed_edges, infer_shapes, to_numpy
from neuromap.graph.neuron import LIFSpec, LISpec, check_nir_fields, has_spec, spec_to_nir
from neuromap.graph.shapes import declared_input
from neuromap.neurons.params import CubaLIFParams, LIFParams
from neuromap.neurons.presets import SNNTORCH_RESETS, snntorch_reset

CONVENTIONS = ("nir", "snntorch", "norse", "spikingjelly")
DEFAULT_DT = {"nir": 1e-3, "snntorch": 1e-4, "norse": 1e-3, "spikingjelly": 1e-4}
SPIKINGJELLY_RESETS = ("zero", "subtract")  # hard (the file's v_reset) / soft, which its exporter refuses to write
_GAIN_RTOL = 1e-5


def _numpy_fields(node: nir.NIRNode) -> nir.NIRNode:
    for f in dataclasses.fields(node):
        if f.init and f.name not in ("metadata", "input_type"):
            setattr(node, f.name, to_numpy(getattr(node, f.name)))
    if isinstance(node.metadata, dict):
        node.metadata = to_numpy(node.metadata)
    return node


def flatten_subgraphs(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """Inline nested ``NIRGraph`` nodes: ``sub.node`` names; edges into / out of a subgraph (named
    ``sub`` or ``sub.<its Input/Output>``) are rewired through its Input / Output nodes."""
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, list[str]] = {}  # name of a subgraph port -> the inner nodes it feeds
    exit_: dict[str, list[str]] = {}  # name of a subgraph port -> inner nodes that feed it
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            node = _repair_edge_names(node, full)
            sub_nodes, sub_edges = flatten_subgraphs(node, prefix=f"{full}.")
            ins = [n for n, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [n for n, v in node.nodes.items() if isinstance(v, nir.Output)]
            for i in ins:
                targets = [b for a, b in sub_edges if a == f"{full}.{i}"]
                entry[f"{full}.{i}"] = targets
                if len(ins) == 1:
                    entry[full] = targets
            for o in outs:
                sources = [a for a, b in sub_edges if b == f"{full}.{o}"]
                exit_[f"{full}.{o}"] = sources
                if len(outs) == 1:
                    exit_[full] = sources
            ports = {f"{full}.{p}" for p in ins + outs}
            nodes.update({k: v for k, v in sub_nodes.items() if k not in ports})
            edges += [(a, b) for a, b in sub_edges if a not in ports and b not in ports]
        elif not isinstance(node, nir.NIRNode):
            hint = (" (Norse 1.1 exports torch.nn.Flatten as None: replace it with nir.Flatten(input_type=..., "
                    "start_dim=0) in the exported graph before importing)") if node is None else ""
            raise GraphError(f"node {full!r} is {type(node).__name__}, not a NIR node{hint}")
        else:
            nodes[full] = node
    for a, b in graph.edges:
        srcs = exit_.get(f"{prefix}{a}", [f"{prefix}{a}"])
        dsts = entry.get(f"{prefix}{b}", [f"{prefix}{b}"])
        edges += [(s, d) for s in srcs for d in dsts]
    return nodes, list(dict.fromkeys(edges))


def _repair_edge_names(graph: nir.NIRGraph, where: str) -> nir.NIRGraph:
    """A subgraph whose edges name one node that does not exist while exactly one of its nodes has no
    edge (the NIR paper's ``braille_*_subgraph.nir``: edges say ``lif``, the node is ``lif1``): the
    edges are read as meaning that node, with a warning; any other dangling name is an error."""
    named = {n for e in graph.edges for n in e}
    missing = sorted(named - set(graph.nodes))
    if not missing:
        return graph
    unused = [n for n in graph.nodes if n not in named]
    if len(missing) != 1 or len(unused) != 1:
        raise GraphError(f"subgraph {where!r}: edges name {missing}, which are not its nodes ({sorted(graph.nodes)})")
    old, new = missing[0], unused[0]
    warnings.warn(f"subgraph {where!r}: its edges name {old!r}, which is not one of its nodes; the one node without "
                  f"edges, {new!r}, is taken for it (the file's exporter renamed the node)", UserWarning, stacklevel=3)
    edges = [tuple(new if n == old else n for n in e) for e in graph.edges]
    return nir.NIRGraph(nodes=dict(graph.nodes), edges=edges, metadata=graph.metadata, type_check=False)


def _fix_batch_axis(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> None:
    for name, node in list(nodes.items()):
        if not isinstance(node, nir.Input):
            continue
        shape = tuple(int(s) for s in np.asarray(node.input_type["input"]).reshape(-1))
        wants = {declared_input(nodes[b]) for a, b in edges if a == name and b in nodes} - {None}  # dangling: Graph says
        if len(shape) > 1 and shape[0] == 1 and wants == {shape[1:]}:
            nodes[name] = nir.Input(input_type=np.asarray(shape[1:], dtype=np.int64), metadata=node.metadata)


def _arr(node: nir.NIRNode, field: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        return np.broadcast_to(np.asarray(getattr(node, field), dtype=np.float64), shape).copy()
    except ValueError as exc:
        raise GraphError(f"{field} of shape {np.shape(getattr(node, field))} does not fit neurons {shape}") from exc


def _uniform(a: np.ndarray, what: str) -> float:
    if not np.allclose(a, a.reshape(-1)[0], rtol=0, atol=0):
        raise GraphError(f"per-neuron {what} is not supported by neuromap's neurons (values {np.unique(a)[:5]}...)")
    return float(a.reshape(-1)[0])


def _decay(tau: np.ndarray, dt: float, convention: str, what: str) -> np.ndarray:
    with np.errstate(divide="ignore"):
        step = (dt * dt / tau) if convention == "norse" else (dt / tau)
    decay = 1.0 - step
    if np.any(decay <= 0) or np.any(decay > 1):
        raise GraphError(
            f"{what} gives per-step decays outside (0, 1] at dt={dt} s under convention {convention!r} "
            f"(min {decay.min():.4g}); is dt the exporter's time step?"
        )
    return decay


PLAUSIBLE_STEPS = 1e4  # a membrane that decays over more steps than this barely moves in any recording


def implausible(node: nir.NIRNode, name: str, shape: tuple[int, ...], convention: str, dt: float) -> str | None:
    """Why ``node``'s time constant does not fit ``convention`` (a warning), or None: under it the
    membrane decays over more than :data:`PLAUSIBLE_STEPS` steps (it will hardly ever spike) while
    NIR's own reading gives a decay that does fit - the file most likely stores the time constant
    itself (NIR's convention), as ``paper/01_lif/lif_norse.nir`` of the NIR paper does."""
    field = "tau_mem" if isinstance(node, (nir.CubaLIF, nir.CubaLI)) else "tau"
    if convention == "nir" or not hasattr(node, field):
        return None
    tau = _arr(node, field, shape)
    with np.errstate(divide="ignore"):
        chosen = float(np.max(tau / (dt * dt if convention == "norse" else dt)))
        nir_steps = float(np.max(tau / dt))
    if chosen <= PLAUSIBLE_STEPS or not (1.0 <= nir_steps <= PLAUSIBLE_STEPS):
        return None
    return (f"node {name!r}: under convention {convention!r} at dt={dt:g} s its membrane decays over {chosen:.3g} "
            f"steps, so it will hardly ever spike; under NIR's own convention it decays over {nir_steps:.3g} steps. "
            "The file most likely stores the time constant itself (NIR's convention): load it with convention='nir' "
            "(--convention nir)")


def _gain_mode(gain: np.ndarray, beta: np.ndarray) -> str:
    if np.allclose(gain, 1.0, rtol=_GAIN_RTOL, atol=0):
        return "one"
    if np.allclose(gain, 1.0 - beta, rtol=_GAIN_RTOL, atol=1e-12):
        return "decay"
    return "scale"


FOREIGN_NEURONS = (nir.LIF, nir.CubaLIF, nir.IF, nir.Threshold, nir.LI, nir.CubaLI, nir.I)


def _li_value(a: np.ndarray) -> float | np.ndarray:
    """One LI parameter: a float when uniform, else its float32 per-neuron values."""
    flat = a.reshape(-1)
    return float(flat[0]) if np.all(flat == flat[0]) else a.astype(np.float32)


def _decays_and_gain(node: nir.NIRNode, name: str, shape: tuple[int, ...], convention: str, dt: float):
    """``(beta, alpha or None, total input gain)`` per neuron of a LIF / CubaLIF / LI / CubaLI node
    (the gain of the current, ``w_in`` scaled by the convention, times the membrane's ``(1 - beta) r``)."""
    cuba = isinstance(node, (nir.CubaLIF, nir.CubaLI))
    beta = _decay(_arr(node, "tau_mem" if cuba else "tau", shape), dt, convention, f"node {name!r} tau")
    gain = (1.0 - beta) * _arr(node, "r", shape)
    alpha = None
    if cuba:
        alpha = _decay(_arr(node, "tau_syn", shape), dt, convention, f"node {name!r} tau_syn")
        w_in = _arr(node, "w_in", shape)
        gain = gain * (w_in if convention == "norse" else (1.0 - alpha) * w_in)
    return beta, alpha, gain


def _convert_li(node: nir.NIRNode, name: str, shape: tuple[int, ...], convention: str, dt: float):
    """LI / CubaLI / I -> an :class:`LISpec` node (per-neuron values kept; I: ``beta = 1``, gain ``dt r``)."""
    if isinstance(node, nir.I):  # dv/dt = R I, forward Euler
        spec = LISpec(shape, 1.0, _li_value(dt * _arr(node, "r", shape)), 0.0, dt)
        return spec_to_nir(spec, nir.I), None
    beta, alpha, gain = _decays_and_gain(node, name, shape, convention, dt)
    spec = LISpec(shape, _li_value(beta.astype(np.float32)), _li_value(gain), _li_value(_arr(node, "v_leak", shape)),
                  dt, None if alpha is None else _li_value(alpha.astype(np.float32)))
    return spec_to_nir(spec), None


def _threshold_spec(node: nir.Threshold, name: str, shape: tuple[int, ...], dt: float):
    """NIR's Threshold (``z = x > threshold``, stateless) as a LIF without memory (``beta = 0``)."""
    v_th = _arr(node, "threshold", shape).astype(np.float32)
    try:
        # with no memory every reset spikes alike; "zero" is the one Loihi's compartment has
        params = LIFParams.from_decay(0.0, dt=dt, integrator="euler", v_th=float(v_th.reshape(-1)[0]), reset="zero",
                                      threshold_rule=">")
    except ValueError as exc:
        raise GraphError(f"node {name!r}: cannot build discrete neuron parameters: {exc}") from exc
    return spec_to_nir(LIFSpec(shape, params, v_th=_compact(v_th)), nir.Threshold), None


def _spiking_reset(node: nir.NIRNode, name: str, shape: tuple[int, ...], convention: str, reset: str | None,
                   reset_delay: bool | None, recurrent: bool) -> dict[str, Any]:
    if convention == "spikingjelly" and reset == "subtract":  # soft reset: V = H - V_th S
        return dict(reset="subtract", v_reset=0.0)
    if convention != "snntorch":
        return dict(reset="zero", v_reset=_uniform(_arr(node, "v_reset", shape), "v_reset"))
    # snnTorch: Leaky -> LIF, Synaptic -> CubaLIF, RLeaky / RSynaptic -> the same inside a recurrent loop
    cls = ("RSynaptic" if recurrent else "Synaptic") if isinstance(node, nir.CubaLIF) else (
        "RLeaky" if recurrent else "Leaky")
    kwargs = snntorch_reset(reset or "subtract", True if reset_delay is None else reset_delay, cls)
    if kwargs["reset"] == "zero" and not kwargs.get("reset_delay") and np.any(_arr(node, "v_threshold", shape) < 0):
        raise GraphError(f"node {name!r}: snnTorch's immediate zero reset equals neuromap's only for thresholds >= 0")
    return kwargs


def convert_neuron(node: nir.NIRNode, name: str, shape: tuple[int, ...], convention: str, dt: float,
                   reset: str | None = None, reset_delay: bool | None = None, recurrent: bool = False):
    """Map a foreign continuous neuron node to ``(neuromap node, input gain or None)``.

    ``reset`` / ``reset_delay`` (snnTorch only) are the exporter's ``reset_mechanism`` and
    ``reset_delay``, which its files do not record; ``recurrent``: the node lies on a cycle (snnTorch's
    RLeaky / RSynaptic, whose zero reset differs from Leaky's)."""
    if isinstance(node, (nir.LI, nir.CubaLI, nir.I)):
        return _convert_li(node, name, shape, convention, dt)
    if isinstance(node, nir.Threshold):
        return _threshold_spec(node, name, shape, dt)
    if not isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF)):
        raise UnsupportedNodeError(f"node {name!r}: {type(node).__name__} is not a NIR neuron neuromap knows")
    cuba = isinstance(node, nir.CubaLIF)
    if isinstance(node, nir.IF):  # dv/dt = R I: no leak, forward Euler adds dt R x
        beta, alpha, gain = np.ones(shape), None, dt * _arr(node, "r", shape)
    else:
        beta, alpha, gain = _decays_and_gain(node, name, shape, convention, dt)
    mode = _gain_mode(gain, beta)
    v_th = _arr(node, "v_threshold", shape)
    v_leak = 0.0 if isinstance(node, nir.IF) else _uniform(_arr(node, "v_leak", shape), "v_leak")
    kwargs: dict[str, Any] = dict(dt=dt, integrator="euler", v_th=float(v_th.astype(np.float32).reshape(-1)[0]),
                                  v_leak=v_leak, decay_input=mode == "decay" and not isinstance(node, nir.IF),
                                  threshold_rule=">=" if convention == "spikingjelly" else ">",
                                  **_spiking_reset(node, name, shape, convention, reset, reset_delay, recurrent))
    beta32, vth32 = beta.astype(np.float32), v_th.astype(np.float32)
    b0 = float(beta32.reshape(-1)[0])
    try:
        if cuba:
            alpha32 = alpha.astype(np.float32)
            params: LIFParams = CubaLIFParams.from_decays(float(alpha32.reshape(-1)[0]), b0, **kwargs)
        else:
            params = LIFParams.from_decay(b0, **kwargs)
    except ValueError as exc:
        raise GraphError(f"node {name!r}: cannot build discrete neuron parameters: {exc}") from exc
    spec = LIFSpec(
        shape, params, beta=_compact(beta32), v_th=_compact(vth32), alpha=_compact(alpha32) if cuba else None
    )
    keep = nir.IF if isinstance(node, nir.IF) else None
    return spec_to_nir(spec, keep), (gain if mode == "scale" or (keep and mode != "one") else None)


def _compact(a: np.ndarray) -> np.ndarray:
    """A float32 override array: one value when uniform, else the full per-neuron array."""
    flat = a.reshape(-1)
    return flat[:1].copy() if np.all(flat == flat[0]) else a.copy()


def _on_cycle(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> set[str]:
    """Nodes that lie on a cycle (snnTorch's recurrent neurons)."""
    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    return {n for c in nx.strongly_connected_components(g) if len(c) > 1 for n in c} | {a for a, b in edges if a == b}


def from_nir(graph: nir.NIRGraph, convention: str = "nir", dt: float | None = None, reset: str | None = None,
             reset_delay: bool | None = None) -> Graph:
    """A neuromap :class:`Graph` from a ``nir.NIRGraph`` written by neuromap or another tool.

    Args:
        graph: the NIR graph (``nir.read`` result or an exporter's in-memory graph; torch tensors are
            converted to NumPy).
        convention: how foreign neuron nodes were discretised: ``"nir"``, ``"snntorch"``, ``"norse"`` or
            ``"spikingjelly"`` (the NIR mapping with SpikingJelly's ``>=`` threshold).
        dt: the exporter's time step (s); defaults: 1e-3 (nir, norse), 1e-4 (snntorch, spikingjelly).
        reset: for ``convention="snntorch"``: the model's ``reset_mechanism`` (``"subtract"``,
            ``"zero"`` or ``"none"``), which snnTorch's files do not record. Without it snnTorch's
            default (``"subtract"``) is assumed and a warning says so. For ``"spikingjelly"``:
            ``"subtract"`` is a soft reset (SpikingJelly's exporter refuses to write one: export a
            hard-reset twin and say so here), ``"zero"`` (default) the file's hard reset.
        reset_delay: for ``convention="snntorch"`` only: the model's ``reset_delay`` (snnTorch's default
            True); see :func:`neuromap.neurons.presets.snntorch_reset` for what each combination means.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r} is not one of {list(CONVENTIONS)}")
    allowed = {"snntorch": SNNTORCH_RESETS, "spikingjelly": SPIKINGJELLY_RESETS}.get(convention, ())
    if reset is not None and reset not in allowed:
        raise ValueError(f"reset={reset!r}: only snnTorch files (one of {list(SNNTORCH_RESETS)}) and SpikingJelly files "
                         f"(one of {list(SPIKINGJELLY_RESETS)}: hard or soft) need it, their reset is not in the file; "
                         "NIR and Norse files state their reset (v_reset)")
    if reset_delay is not None and convention != "snntorch":
        raise ValueError("reset_delay=...: only snnTorch files need it (snnTorch's reset_delay is not in the file)")
    if not isinstance(graph, nir.NIRGraph):
        raise GraphError(f"from_nir needs a nir.NIRGraph, got {type(graph).__name__}")
    given = [f"convention {convention!r}"] * (convention != "nir") + [f"dt {dt!r} s"] * (dt is not None)
    dt = DEFAULT_DT[convention] if dt is None else float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    nodes, edges = flatten_subgraphs(graph)
    nodes = {k: _numpy_fields(v) for k, v in nodes.items()}
    _fix_batch_axis(nodes, edges)
    metadata = dict(graph.metadata) if isinstance(graph.metadata, dict) else {}
    foreign = [n for n, v in nodes.items() if isinstance(v, FOREIGN_NEURONS) and not has_spec(v)]
    if given and not foreign:
        raise GraphError(f"{' and '.join(given)} (--convention / --dt): no neuron of this file needs them - its "
                         "neurons carry neuromap's own exact parameters, or it has none - so they would be ignored; "
                         "leave them out")
    for name, node in nodes.items():
        if isinstance(node, FOREIGN_NEURONS) and has_spec(node):
            check_nir_fields(node, name)  # an edit of the standard fields must not be silently ignored
    if foreign:
        shapes = infer_shapes(nodes, edges)
        spiking = [n for n in foreign if not isinstance(nodes[n], (nir.LI, nir.CubaLI, nir.I))]
        recurrent = _on_cycle(nodes, edges)
        if convention == "snntorch" and reset is None and spiking:
            warnings.warn(f"snnTorch files do not record the reset mechanism; assuming snnTorch's default "
                          f"(subtract, one step late) for {', '.join(spiking)}. If the model used "
                          "reset_mechanism='zero' or 'none', or reset_delay=False, say so (reset=... / --reset, "
                          "reset_delay=... / --reset-delay)", UserWarning, stacklevel=2)
        for name in foreign:
            why = implausible(nodes[name], name, shapes[name][0], convention, dt)
            if why:
                warnings.warn(why, UserWarning, stacklevel=2)
            new, gain = convert_neuron(nodes[name], name, shapes[name][0], convention, dt, reset, reset_delay,
                                       name in recurrent)
            nodes[name] = new
            if gain is not None:
                scale = f"{name}.gain"
                nodes[scale] = nir.Scale(scale=gain)
                edges = [(a, scale if b == name else b) for a, b in edges] + [(scale, name)]
                if DELAYED_KEY in metadata:  # an explicit delayed edge into the neuron now ends at its gain
                    metadata[DELAYED_KEY] = [(a, scale if b == name else b)
                                             for a, b in decode_delayed_edges(metadata[DELAYED_KEY])]
    if foreign:
        metadata.setdefault("imported_convention", convention)
        metadata.setdefault("dt", dt)
    return Graph(nodes, edges, metadata)
