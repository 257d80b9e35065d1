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

import nir
import numpy as np

from neuromap.neurons.params import CubaLIFParams, LIFParams

from .errors import GraphError, UnsupportedNodeError
from .graph import DELAYED_KEY, Graph, decode_delayed_edges, infer_shapes, to_numpy
from .neuron import LIFSpec, LISpec, check_nir_fields, has_spec, spec_to_nir
from .shapes import declared_input

CONVENTIONS = ("nir", "snntorch", "norse")
DEFAULT_DT = {"nir": 1e-3, "snntorch": 1e-4, "norse": 1e-3}
_GAIN_RTOL = 1e-5
# snnTorch's reset_mechanism -> neuromap's reset; its delayed zero reset spikes like the immediate one
SNNTORCH_RESETS: dict[str, dict[str, Any]] = {
    "subtract": dict(reset="subtract", reset_delay=True, v_reset=0.0),
    "zero": dict(reset="zero", v_reset=0.0),
    "none": dict(reset="none", v_reset=0.0),
}


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


def _gain_mode(gain: np.ndarray, beta: np.ndarray) -> str:
    if np.allclose(gain, 1.0, rtol=_GAIN_RTOL, atol=0):
        return "one"
    if np.allclose(gain, 1.0 - beta, rtol=_GAIN_RTOL, atol=1e-12):
        return "decay"
    return "scale"


def convert_neuron(node: nir.NIRNode, name: str, shape: tuple[int, ...], convention: str, dt: float,
                   reset: str | None = None):
    """Map a foreign continuous neuron node to ``(neuromap node, input gain or None)``; ``reset``
    (snnTorch only) is the exporter's reset mechanism, which its files do not record."""
    if isinstance(node, nir.LI):
        beta = _decay(_arr(node, "tau", shape), dt, convention, f"node {name!r} tau")
        r = _arr(node, "r", shape)
        gain = (1.0 - beta) * r
        b = _uniform(np.float32(beta), "LI tau")
        return spec_to_nir(LISpec(shape, b, _uniform(gain, "LI gain"), _uniform(_arr(node, "v_leak", shape), "v_leak"),
                                  dt)), None
    if not isinstance(node, (nir.LIF, nir.CubaLIF)):
        raise UnsupportedNodeError(
            f"node {name!r}: {type(node).__name__} has no discrete neuromap equivalent yet (LIF, CubaLIF, LI do)"
        )
    cuba = isinstance(node, nir.CubaLIF)
    beta = _decay(_arr(node, "tau_mem" if cuba else "tau", shape), dt, convention, f"node {name!r} tau")
    r = _arr(node, "r", shape)
    g_v = (1.0 - beta) * r
    alpha = None
    g_i = np.ones(shape)
    if cuba:
        tau_syn = _arr(node, "tau_syn", shape)
        alpha = _decay(tau_syn, dt, convention, f"node {name!r} tau_syn")
        w_in = _arr(node, "w_in", shape)
        g_i = w_in if convention == "norse" else (1.0 - alpha) * w_in
    gain = g_i * g_v
    mode = _gain_mode(gain, beta)
    v_th = _arr(node, "v_threshold", shape)
    v_leak = _uniform(_arr(node, "v_leak", shape), "v_leak")
    if convention == "snntorch":
        reset = SNNTORCH_RESETS[reset or "subtract"]
    else:
        reset = dict(reset="zero", v_reset=_uniform(_arr(node, "v_reset", shape), "v_reset"))
    beta32, vth32 = beta.astype(np.float32), v_th.astype(np.float32)
    b0 = float(beta32.reshape(-1)[0])
    kwargs: dict[str, Any] = dict(dt=dt, integrator="euler", v_th=float(vth32.reshape(-1)[0]), v_leak=v_leak,
                                  decay_input=mode == "decay", threshold_rule=">", **reset)
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
    return spec_to_nir(spec), (gain if mode == "scale" else None)


def _compact(a: np.ndarray) -> np.ndarray:
    """A float32 override array: one value when uniform, else the full per-neuron array."""
    flat = a.reshape(-1)
    return flat[:1].copy() if np.all(flat == flat[0]) else a.copy()


def from_nir(graph: nir.NIRGraph, convention: str = "nir", dt: float | None = None, reset: str | None = None) -> Graph:
    """A neuromap :class:`Graph` from a ``nir.NIRGraph`` written by neuromap or another tool.

    Args:
        graph: the NIR graph (``nir.read`` result or an exporter's in-memory graph; torch tensors are
            converted to NumPy).
        convention: how foreign neuron nodes were discretised: ``"nir"``, ``"snntorch"`` or ``"norse"``.
        dt: the exporter's time step (s); defaults: 1e-3 (nir, norse), 1e-4 (snntorch).
        reset: for ``convention="snntorch"`` only: the model's ``reset_mechanism`` (``"subtract"``,
            ``"zero"`` or ``"none"``), which snnTorch's files do not record. Without it snnTorch's
            default (``"subtract"``) is assumed and a warning says so.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention={convention!r} is not one of {list(CONVENTIONS)}")
    if reset is not None and (convention != "snntorch" or reset not in SNNTORCH_RESETS):
        raise ValueError(f"reset={reset!r}: only snnTorch files need it (their reset is not in the file), as one of "
                         f"{list(SNNTORCH_RESETS)}; NIR and Norse files state their reset (v_reset)")
    if not isinstance(graph, nir.NIRGraph):
        raise GraphError(f"from_nir needs a nir.NIRGraph, got {type(graph).__name__}")
    dt = DEFAULT_DT[convention] if dt is None else float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    nodes, edges = flatten_subgraphs(graph)
    nodes = {k: _numpy_fields(v) for k, v in nodes.items()}
    _fix_batch_axis(nodes, edges)
    metadata = dict(graph.metadata) if isinstance(graph.metadata, dict) else {}
    foreign = [n for n, v in nodes.items() if isinstance(v, (nir.LIF, nir.CubaLIF, nir.LI)) and not has_spec(v)]
    for name, node in nodes.items():
        if isinstance(node, (nir.LIF, nir.CubaLIF, nir.LI)) and has_spec(node):
            check_nir_fields(node, name)  # an edit of the standard fields must not be silently ignored
    if foreign:
        shapes = infer_shapes(nodes, edges)
        spiking = [n for n in foreign if not isinstance(nodes[n], nir.LI)]
        if convention == "snntorch" and reset is None and spiking:
            warnings.warn(f"snnTorch files do not record the reset mechanism; assuming snnTorch's default "
                          f"(subtract, one step late) for {', '.join(spiking)}. If the model used "
                          "reset_mechanism='zero' or 'none', say so (reset=... / --reset)", UserWarning, stacklevel=2)
        for name in foreign:
            new, gain = convert_neuron(nodes[name], name, shapes[name][0], convention, dt, reset)
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
