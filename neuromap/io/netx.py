"""lava-dl's netx networks (``*.net``, HDF5): :func:`load_netx` reads one into a neuromap
:class:`~neuromap.graph.Graph`, :func:`save_netx` writes a Graph back.

The format is what lava-dl's reader (``lava.lib.dl.netx.hdf5.Network``, ``netx/utils.py``) and
SLAYER's exporters (``slayer/block/base.py``) agree on: a group ``layer`` with one group per block,
``"0"``, ``"1"``, ... in order, and an optional ``simulation`` group (``Ts``, ``tSample``). A block
has a ``type`` (``input``, ``conv``, ``dense``, ``flatten``, ...), its ``shape`` (C, H, W for
images), its synapse (``weight``: integers of Loihi's 8-bit weights; ``bias``; conv geometry in
H, W order) and a ``neuron`` group:

* ``CUBA`` / ``LOIHI``: Loihi's current-based LIF with ``iDecay`` (``du = iDecay - 1``), ``vDecay``
  (``dv``), ``vThMant`` (threshold mantissa, spike when ``v > vThMant << 6``); lava-dl gives the
  bias as ``bias_mant`` with ``bias_exp = 6``. An input block's neuron is driven by its bias: lava-dl
  sets ``bias_mant`` to the (transformed) image and never feeds ``a_in``.
* ``SDNN``: sigma-delta neurons (:mod:`neuromap.neurons.sigma_delta`): the input block is the delta
  encoder, other blocks ``SigmaDelta`` with ReLU (threshold ``vThMant``, bias), and a block with
  ``sigma_output`` is a sigma decoder only (the network's real-valued output).

The graph's values are the file's integers in float units, so every backend runs the same network
and the Loihi backends recover the integers exactly (the neuron nodes say so in their metadata):

* CUBA: weights = the integers, threshold = ``vThMant``, ``alpha = 1 - iDecay/4096``,
  ``beta = 1 - vDecay/4096`` (potentials in units of ``2**6`` Loihi units), bias ``b (1 - alpha)``
  (Loihi adds the bias to ``v``; neuromap's float CuBa adds it to the current, whose steady state this
  is; exact for ``iDecay = 4096``, every PilotNet layer). The input block's neuron has ``alpha = 0``
  (its current is never driven) and reads the graph input as its bias.
* SDNN: weights = integers / 64 (SLAYER's weight scale), bias = ``b``, threshold = ``vThMant``
  (activations in units of ``2**(spike_exp + state_exp)`` Loihi units; the graph does not depend on
  ``spike_exp``).

What the graph does not say (fields lava-dl's reader ignores - ``refDelay``, ``wgtExp``, ``tauRho``,
``scaleRho``, ``theta``, ``gradedSpike`` -, the input transform ``weight`` / ``bias``, the dtypes and
shapes of the datasets) travels in the nodes' ``metadata["netx"]`` (a JSON string) and
``graph.metadata["netx"]``, so ``save_netx(load_netx(f))`` writes ``f``'s datasets again, value for
value and dtype for dtype. A block type or field this module does not know is refused, naming the
layer and the field; so are blocks lava-dl's own reader cannot run (``pool``, ``average``, ...).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np

from neuromap.atomic import atomic_path
from neuromap.errors import InputError

KIND = "netx"
CUBA_TYPES = ("CUBA", "LOIHI")
# Fields the loader reads, per block type (the neuron group separately); a field outside these is refused.
BLOCK_FIELDS = {
    "input": {"type", "shape", "neuron", "weight", "bias"},
    "conv": {"type", "shape", "neuron", "weight", "bias", "inChannels", "outChannels", "kernelSize", "stride",
             "padding", "dilation", "groups"},
    "dense": {"type", "shape", "neuron", "weight", "bias", "inFeatures", "outFeatures", "delay"},
    "flatten": {"type", "shape"},
}
# Fields lava-dl's reader ignores (SLAYER's training parameters): kept for the round trip, not used.
CUBA_IGNORED = {"refDelay", "wgtExp", "tauRho", "scaleRho", "theta", "gradedSpike"}
NEURON_FIELDS = {"CUBA": {"type", "iDecay", "vDecay", "vThMant", "messageBits"} | CUBA_IGNORED,
                 "SDNN": {"type", "vThMant", "activation", "sigma_output", "messageBits"}}
# Blocks lava-dl writes but its own reader refuses (NotImplementedError in netx/hdf5.py).
UNRUNNABLE = ("pool", "convT", "unpool", "average", "concat", "dense_rec", "dense_comp")
NETX_SHIFT = 6  # lava-dl: bias_exp = 6 for CUBA; weights of sigma-delta blocks carry SLAYER's 2**6 scale


class NetxError(InputError):
    """A netx file neuromap cannot read or a graph it cannot write as netx (names the layer and field)."""


# ------------------------------------------------------------------------------------------ reading
def _dataset(ds: h5py.Dataset) -> tuple[Any, list]:
    """``(value, [dtype, shape])`` of one dataset; strings as ``str``."""
    v = ds[()]
    layout = [ds.dtype.str if ds.dtype.kind != "O" else "O", list(ds.shape)]
    if isinstance(v, bytes):
        return v.decode("ascii"), layout
    if isinstance(v, np.ndarray) and v.dtype.kind == "S":
        return [x.decode("ascii") for x in v.reshape(-1)], layout
    return v, layout


def _read_group(g: h5py.Group, prefix: str = "") -> tuple[dict[str, Any], dict[str, list]]:
    values: dict[str, Any] = {}
    layout: dict[str, list] = {}
    for k in g:
        item = g[k]
        if isinstance(item, h5py.Group):
            sub_v, sub_l = _read_group(item, f"{prefix}{k}/")
            values.update(sub_v)
            layout.update(sub_l)
        else:
            values[prefix + k], layout[prefix + k] = _dataset(item)
    return values, layout


def read_layers(path: str | os.PathLike) -> tuple[list[tuple[dict, dict]], dict[str, Any]]:
    """The blocks of a netx file in order, each ``(values, layout)`` keyed by dataset path
    (``"weight"``, ``"neuron/vThMant"``), and the ``simulation`` group; raises :class:`NetxError`."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            extra = sorted(set(f) - {"layer", "simulation"})
            if "layer" not in f or extra:
                why = f"unknown top-level groups {extra}" if extra else "no 'layer' group"
                raise NetxError(f"{path}: not a netx network ({why})")
            keys = sorted(f["layer"], key=lambda k: int(k) if k.isdigit() else -1)
            if keys != [str(i) for i in range(len(keys))]:
                raise NetxError(f"{path}: the 'layer' group must hold groups '0', '1', ... in order, got {keys}")
            layers = [_read_group(f["layer"][k]) for k in keys]
            sim = _read_group(f["simulation"]) if "simulation" in f else ({}, {})
    except NetxError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise NetxError(f"{path}: cannot read it as a netx HDF5 file ({type(exc).__name__}: {exc})") from exc
    return layers, {"values": sim[0], "layout": sim[1]}


def _scalar(values: dict, key: str, where: str) -> float:
    v = np.asarray(values[key]).reshape(-1)
    if v.size != 1:
        raise NetxError(f"{where}: field {key!r} must be one number, got shape {np.shape(values[key])}")
    return float(v[0])


def _int_field(values: dict, key: str, where: str, lo: int, hi: int) -> int:
    v = _scalar(values, key, where)
    if v != int(v) or not lo <= v <= hi:
        raise NetxError(f"{where}: field {key!r} = {v:g} must be an integer in [{lo}, {hi}]")
    return int(v)


def _block_type(values: dict, where: str) -> str:
    t = values.get("type")
    t = t[0] if isinstance(t, list) and len(t) == 1 else t
    if not isinstance(t, str):
        raise NetxError(f"{where}: no block 'type'")
    return t


def _check_fields(values: dict, kind: str, where: str) -> tuple[str | None, dict]:
    """Refuse unknown fields; return ``(neuron type, neuron fields)``."""
    if kind in UNRUNNABLE:
        raise NetxError(f"{where}: block type {kind!r} is not supported (lava-dl's own netx reader refuses it too; "
                        f"supported: {sorted(BLOCK_FIELDS)})")
    if kind not in BLOCK_FIELDS:
        raise NetxError(f"{where}: unknown block type {kind!r}; supported: {sorted(BLOCK_FIELDS)}")
    neuron = {k.split("/", 1)[1]: v for k, v in values.items() if k.startswith("neuron/")}
    for k in values:
        top = k.split("/", 1)[0]
        if top not in BLOCK_FIELDS[kind]:
            raise NetxError(f"{where} ({kind}): unknown field {k!r}; known: {sorted(BLOCK_FIELDS[kind])}")
    if not neuron:
        return None, {}
    ntype = neuron.get("type")
    family = "CUBA" if ntype in CUBA_TYPES else ntype
    if family not in NEURON_FIELDS:
        raise NetxError(f"{where}: unknown neuron type {ntype!r}; supported: {list(CUBA_TYPES) + ['SDNN']}")
    for k in neuron:
        if k not in NEURON_FIELDS[family]:
            raise NetxError(f"{where}: unknown {ntype} neuron field 'neuron/{k}'; known: {sorted(NEURON_FIELDS[family])}")
    return family, neuron


def _integers(values: dict, key: str, where: str) -> np.ndarray:
    """``weight`` / ``bias`` as lava-dl reads them (``astype(int)``: towards zero, warned when it cuts)."""
    a = np.asarray(values[key], dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise NetxError(f"{where}: field {key!r} holds NaN or inf")
    cut = np.trunc(a)
    if np.any(cut != a):
        warnings.warn(f"{where}: field {key!r} holds non-integers; lava-dl reads them with astype(int) (towards "
                      "zero), and so does neuromap", stacklevel=3)
    return cut


# ------------------------------------------------------------------------------------------ netx -> graph
class _Builder:
    """Accumulates nodes and edges block by block."""

    def __init__(self) -> None:
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []
        self.last: str | None = None  # the node whose output feeds the next block
        self.shape: tuple[int, ...] | None = None  # its output shape (C, H, W) or (N,)
        self.family: str | None = None
        self.flatten_record = ""  # the pending flatten block's round-trip record

    def add(self, name: str, node: nir.NIRNode) -> None:
        self.nodes[name] = node
        if self.last is not None:
            self.edges.append((self.last, name))
        self.last = name


def _record(index: int, kind: str, values: dict, layout: dict, used: set[str]) -> str:
    """The block's round-trip record: its layout and the values the graph does not hold."""
    kept = {k: (v.tolist() if isinstance(v, np.ndarray) else (v.item() if isinstance(v, np.generic) else v))
            for k, v in values.items() if k not in used}
    return json.dumps({"index": index, "type": kind, "layout": layout, "kept": kept})


def _cuba_neuron(neuron: dict, shape: tuple[int, ...], where: str, record: str, is_input: bool) -> nir.CubaLIF:
    from neuromap.graph.neuron import LIFSpec, spec_to_nir
    from neuromap.neurons.params import CubaLIFParams

    i_decay = _int_field(neuron, "iDecay", where, 1, 4096)  # du = iDecay - 1 must be a 12-bit decay
    v_decay = _int_field(neuron, "vDecay", where, 0, 4096)
    vth = _int_field(neuron, "vThMant", where, 0, 2**17 - 1)
    if int(neuron.get("messageBits", 0) or 0):
        raise NetxError(f"{where}: CUBA neurons with messageBits > 0 (graded LIF spikes) are not supported")
    for k in ("refDelay", "gradedSpike"):
        if k in neuron and bool(neuron[k]) != (k == "refDelay"):
            warnings.warn(f"{where}: neuron/{k} = {neuron[k]} is ignored by lava-dl's netx reader (Lava's LIF has "
                          "no refractory period and sends binary spikes), and by neuromap", stacklevel=3)
    alpha = 0.0 if is_input else 1.0 - i_decay / 4096
    beta = 1.0 - v_decay / 4096
    params = CubaLIFParams(tau_mem=1e-3, tau_syn=1e-3, dt=1e-3, v_th=float(vth), reset="zero", integrator="euler")
    spec = LIFSpec(shape, params, beta=np.array([beta], np.float32), alpha=np.array([alpha], np.float32))
    node = spec_to_nir(spec)
    node.metadata[KIND] = record
    return node


def _sdnn_neuron(neuron: dict, shape: tuple[int, ...], where: str, record: str, is_input: bool):
    from neuromap.graph.nodes import Neuron
    from neuromap.neurons.sigma_delta import SigmaDeltaParams

    act = str(neuron.get("activation", "relu"))
    if act != "relu":
        raise NetxError(f"{where}: SDNN activation {act!r} is not supported (lava-dl's SigmaDelta runs relu)")
    vth = _int_field(neuron, "vThMant", where, 0, 2**23)
    params = SigmaDeltaParams(vth=float(vth), activation="identity" if is_input else "relu")
    return Neuron(model="sigma_delta", params=json.dumps(params.to_dict()), shape=np.asarray(shape, np.int64),
                  metadata={KIND: record})


def _neuron(b: _Builder, family: str, neuron: dict, shape: tuple, where: str, record: str, is_input: bool):
    if b.family is not None and family != b.family:
        raise NetxError(f"{where}: mixes {family} with {b.family} neurons; lava-dl's networks use one kind")
    b.family = family
    make = _cuba_neuron if family == "CUBA" else _sdnn_neuron
    return make(neuron, shape, where, record, is_input)


def _input(b: _Builder, i: int, values: dict, layout: dict, family: str | None, neuron: dict, where: str) -> None:
    shape = tuple(int(s) for s in np.asarray(values["shape"]).reshape(-1))
    b.add("input", nir.Input(input_type={"input": np.asarray(shape, np.int64)}))
    b.shape = shape
    if family is None:  # only the input's shape: the next block reads the input directly
        b.nodes["input"].metadata[KIND] = _record(i, "input", values, layout, set())
        return
    record = _record(i, "input", values, layout, {f"neuron/{k}" for k in ("iDecay", "vDecay", "vThMant")})
    b.add(f"layer{i}", _neuron(b, family, neuron, shape, where, record, is_input=True))


def _weights(values: dict, where: str, family: str | None) -> np.ndarray:
    w = _integers(values, "weight", where)
    return w / 2**NETX_SHIFT if family == "SDNN" else w


def _conv(b: _Builder, i: int, values: dict, layout: dict, family: str | None, neuron: dict, where: str) -> None:
    shape = tuple(int(s) for s in np.asarray(values["shape"]).reshape(-1))
    w = _weights(values, where, family)
    if w.ndim == 5 and w.shape[-1] == 1:  # SLAYER's 3-D conv kernels: a trailing time axis of one
        w = w[..., 0]
    if w.ndim != 4:
        raise NetxError(f"{where}: conv weight must be [out, in, kH, kW], got shape {w.shape}")
    bias = _integers(values, "bias", where).reshape(-1) if "bias" in values else np.zeros(w.shape[0])

    def pair(key: str, default: int) -> np.ndarray:
        v = np.asarray(values.get(key, default), dtype=np.int64).reshape(-1)
        return np.repeat(v, 2) if v.size == 1 else v

    conv = nir.Conv2d(input_shape=None, weight=w, stride=pair("stride", 1), padding=pair("padding", 0),
                      dilation=pair("dilation", 1), groups=int(np.asarray(values.get("groups", 1))), bias=bias)
    if family is None:
        raise NetxError(f"{where}: a conv block needs a neuron group")
    used = {"weight", "bias", "stride", "padding", "dilation", "groups", "inChannels", "outChannels", "kernelSize"}
    record = _record(i, "conv", values, layout, used | {f"neuron/{k}" for k in ("iDecay", "vDecay", "vThMant")})
    b.add(f"layer{i}_conv", conv)
    neuron_node = _neuron(b, family, neuron, shape, where, record, is_input=False)
    if family == "CUBA":  # the float CuBa's bias enters the current: its steady state is Loihi's bias
        conv.bias = bias * float(1.0 - np.asarray(neuron_node.metadata["neuromap"]["alpha"])[0])
    b.add(f"layer{i}", neuron_node)
    b.shape = shape


def _dense(b: _Builder, i: int, values: dict, layout: dict, family: str | None, neuron: dict, where: str,
           flatten: str | None) -> None:
    n_out = int(np.prod(np.asarray(values["shape"])))
    w = _weights(values, where, family)
    w = w.reshape(n_out, -1)
    if flatten is not None:
        b.add(flatten, nir.Flatten(input_type={"input": np.asarray(b.shape, np.int64)}, start_dim=0,
                                   end_dim=len(b.shape) - 1))
    if w.shape[1] != int(np.prod(b.shape)):
        raise NetxError(f"{where}: dense weight takes {w.shape[1]} inputs, the previous block gives {b.shape}")
    if "delay" in values:
        d = np.asarray(values["delay"])
        if np.any(d != 0):
            raise NetxError(f"{where}: field 'delay' holds synaptic delays; neuromap's netx reader runs only "
                            "networks without them (all zero)")
    bias = _integers(values, "bias", where).reshape(-1) if "bias" in values else None
    sigma_output = bool(neuron.get("sigma_output", False))
    if family is None:
        raise NetxError(f"{where}: a dense block without a neuron group gets lava-dl's default neuron (iDecay 0: "
                        "du = -1, outside Loihi's 12-bit decay); give the block a neuron group")
    used = {"weight", "bias", "inFeatures", "outFeatures"}
    record = _record(i, "dense", values, layout, used | {f"neuron/{k}" for k in ("iDecay", "vDecay", "vThMant")})
    syn = nir.Affine(weight=w, bias=np.zeros(n_out) if bias is None else bias)
    b.add(f"layer{i}_dense", syn)
    if sigma_output:  # a sigma decoder only: the graph's output is the synapses' sum
        if bias is not None and np.any(bias):
            raise NetxError(f"{where}: a sigma_output block adds no bias in lava-dl (Sigma has none); field 'bias'")
        syn.metadata[KIND] = _record(i, "dense", values, layout, used)  # its neuron fields are not in the graph
        b.shape = (n_out,)
        return
    neuron_node = _neuron(b, family, neuron, (n_out,), where, record, is_input=False)
    if family == "CUBA" and bias is not None:
        syn.bias = bias * float(1.0 - np.asarray(neuron_node.metadata["neuromap"]["alpha"])[0])
    b.add(f"layer{i}", neuron_node)
    b.shape = (n_out,)


def load_netx(path: str | os.PathLike):
    """The :class:`~neuromap.graph.Graph` of a lava-dl netx file (see the module docstring).

    Raises :class:`NetxError` (an :class:`~neuromap.errors.InputError`) naming the layer and the field
    for anything it does not know or cannot express; the file is opened read-only."""
    from neuromap.graph import Graph
    from neuromap.graph.errors import GraphError

    path = Path(path)
    if not path.is_file():
        raise NetxError(f"{path}: no such file")
    layers, sim = read_layers(path)
    if not layers:
        raise NetxError(f"{path}: the network has no blocks")
    b = _Builder()
    flatten: str | None = None
    for i, (values, layout) in enumerate(layers):
        where = f"{path.name}: layer {i}"
        block = _block_type(values, where)
        family, neuron = _check_fields(values, block, where)
        if i == 0 and block == "dense":  # no input block (SLAYER's MLPs): the weights give the input size
            n_in = int(np.asarray(values["weight"]).size // int(np.prod(np.asarray(values["shape"]))))
            b.add("input", nir.Input(input_type={"input": np.asarray([n_in], np.int64)}))
            b.shape = (n_in,)
        elif i == 0 and block != "input":
            raise NetxError(f"{where}: the first block must be 'input' or 'dense' (got {block!r}): neuromap needs the "
                            "input shape")
        if block == "input":
            if i:
                raise NetxError(f"{where}: an 'input' block after the first")
            _input(b, i, values, layout, family, neuron, where)
        elif block == "flatten":
            flatten = f"layer{i}"
            b.flatten_record = _record(i, "flatten", values, layout, set())
        elif block == "conv":
            _conv(b, i, values, layout, family, neuron, where)
        else:
            _dense(b, i, values, layout, family, neuron, where, flatten)
            if flatten is not None:
                b.nodes[flatten].metadata[KIND] = b.flatten_record
            flatten = None
    if flatten is not None:
        raise NetxError(f"{path.name}: the last block is a flatten with nothing after it")
    b.add("output", nir.Output(output_type={"output": np.asarray(b.shape, np.int64)}))
    meta = {"model": path.stem, "dt": 1e-3, "source_format": KIND,
            KIND: json.dumps({"simulation": {k: np.asarray(v).tolist() for k, v in sim["values"].items()},
                              "simulation_layout": sim["layout"], "family": b.family})}
    if "layer0" in b.nodes:  # the input layer's neurons read integers (bias mantissas / a_in), not spikes
        meta["graded_inputs"] = json.dumps(["input"])
    try:
        return Graph(b.nodes, b.edges, meta)
    except GraphError as exc:
        raise NetxError(f"{path.name}: {exc}") from exc


# ------------------------------------------------------------------------------------------ graph -> netx
def _meta_record(node) -> dict | None:
    raw = (getattr(node, "metadata", None) or {}).get(KIND)
    if raw is None:
        return None
    return json.loads(raw.decode("utf8") if isinstance(raw, bytes) else str(raw))


def _as_int(value: np.ndarray, what: str, name: str, lo: float = -np.inf, hi: float = np.inf) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64)
    r = np.rint(a)
    if np.any(np.abs(r - a) > 1e-9 * np.maximum(1, np.abs(a))) or np.any(r < lo) or np.any(r > hi):
        raise NetxError(f"node {name!r}: {what} must be integers in [{lo:g}, {hi:g}] to be written as netx (Loihi's "
                        f"integers), got values in [{a.min():g}, {a.max():g}]; only graphs on Loihi's integer grid "
                        "(e.g. read from a netx file) can be written")
    return r


def _neuron_fields(graph, name: str) -> tuple[str, dict, float]:
    """``(family, neuron fields, alpha)`` of a neuron node (refusing what netx cannot say)."""
    from neuromap.graph.neuron import has_spec, registered_params, spec_from_nir
    from neuromap.neurons.sigma_delta import SigmaDeltaParams

    node = graph.nodes[name]
    if isinstance(node, nir.CubaLIF) and has_spec(node):
        spec = spec_from_nir(node, name)
        p = spec.params
        bad = [f"{k}={getattr(p, k)!r}" for k, want in (("reset", "zero"), ("threshold_rule", ">"), ("v_leak", 0.0),
               ("v_reset", 0.0), ("refractory_steps", 0), ("reset_delay", False), ("decay_input", False))
               if getattr(p, k) != want]
        if bad:
            raise NetxError(f"node {name!r}: Loihi's CUBA neuron cannot express {', '.join(bad)}")
        alpha, beta = spec.values("alpha").reshape(-1), spec.values("beta").reshape(-1)
        vth = spec.values("v_th").reshape(-1)
        if np.ptp(alpha) or np.ptp(beta) or np.ptp(vth):
            raise NetxError(f"node {name!r}: netx holds one iDecay / vDecay / vThMant per block, not per neuron")
        fields = {"type": "CUBA", "iDecay": int(_as_int(4096 * (1 - alpha[0]), "4096 (1 - alpha)", name, 1, 4096)),
                  "vDecay": int(_as_int(4096 * (1 - beta[0]), "4096 (1 - beta)", name, 0, 4096)),
                  "vThMant": int(_as_int(vth[0], "v_th", name, 0, 2**17 - 1))}
        return "CUBA", fields, float(alpha[0])
    from neuromap.graph.nodes import Neuron

    if isinstance(node, Neuron):
        model, p = registered_params(node, name)
        if isinstance(p, SigmaDeltaParams):
            if p.cum_error:
                raise NetxError(f"node {name!r}: netx has no cum_error field (lava-dl builds cum_error=False)")
            return "SDNN", {"type": "SDNN", "activation": "relu",
                            "vThMant": int(_as_int(p.vth, "vth", name, 0, 2**23))}, 0.0
    raise NetxError(f"node {name!r} ({type(node).__name__}): netx holds CUBA (nir.CubaLIF with neuromap's discrete "
                    "parameters) and sigma-delta neurons only")


def _chain(graph) -> list[str]:
    """The graph's nodes from its input to its output, refusing anything but one chain."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise NetxError(f"a netx network has one input and one output; the graph has {graph.inputs} / {graph.outputs}")
    order, n = [], graph.inputs[0]
    while True:
        order.append(n)
        nxt = graph.successors(n)
        if not nxt:
            return order
        if len(nxt) != 1 or len(graph.predecessors(nxt[0])) != 1:
            raise NetxError(f"node {n!r}: a netx network is a chain of blocks; it branches or merges here ({nxt})")
        n = nxt[0]


class _Writer:
    """Collects one block's datasets with their layout (the recorded one, else SLAYER's)."""

    def __init__(self, record: dict | None) -> None:
        self.layout = (record or {}).get("layout", {})
        self.data: dict[str, np.ndarray] = {}
        for k, v in (record or {}).get("kept", {}).items():
            self.put(k, v)

    def put(self, key: str, value: Any, default_dtype: str | None = None) -> None:
        dtype, shape = self.layout.get(key, [default_dtype, None])
        if isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], str)):
            self.data[key] = value
            return
        a = np.asarray(value, dtype=None if dtype in (None, "O") else np.dtype(dtype))
        self.data[key] = a.reshape(shape) if shape is not None else a

    def default(self, key: str, value: Any, default_dtype: str | None = None) -> None:
        """:meth:`put` unless the block's record kept its own value (a ``shape`` of [100, 1, 1], ``LOIHI``)."""
        if key not in self.data:
            self.put(key, value, default_dtype)

    def write(self, g: h5py.Group) -> None:
        for key in sorted(self.data):
            value = self.data[key]
            dtype, shape = self.layout.get(key, [None, None])
            if isinstance(value, list):  # the block type: SLAYER writes an S10 array of one
                g.create_dataset(key, (len(value),), "S10", [v.encode("ascii") for v in value])
            elif isinstance(value, str):
                if dtype not in (None, "O"):
                    g.create_dataset(key, data=np.bytes_(value), dtype=np.dtype(dtype))
                else:
                    g.create_dataset(key, data=value, dtype=h5py.string_dtype("utf-8"))
            else:
                g.create_dataset(key, data=value)


def _block(graph, names: list[str], index: int) -> tuple[str, list[str]]:
    """The block starting at ``names[index]``: its type and the nodes it covers."""
    node = graph.nodes[names[index]]
    if isinstance(node, nir.Flatten):
        return "flatten", [names[index]]
    if isinstance(node, nir.Conv2d):
        kind = "conv"
    elif isinstance(node, (nir.Affine, nir.Linear)):
        kind = "dense"
    else:
        raise NetxError(f"node {names[index]!r} ({type(node).__name__}): netx blocks are conv, dense and flatten")
    after = names[index + 1] if index + 1 < len(names) else None
    if after is None or isinstance(graph.nodes[after], nir.Output):
        return kind, [names[index]]  # a sigma output: synapses only
    return kind, [names[index], after]


def _synapse(w: _Writer, graph, name: str, family: str, alpha: float, kind: str) -> None:
    node = graph.nodes[name]
    scale = 2**NETX_SHIFT if family == "SDNN" else 1
    weight = _as_int(np.asarray(node.weight, np.float64) * scale, "weights", name, -256, 255)
    bias = np.asarray(getattr(node, "bias", np.zeros(weight.shape[0])), np.float64)
    fi, fo = graph.shapes[name]
    w.put("weight", weight, "<f4")
    if kind == "conv":
        w.default("shape", np.asarray(fo, np.int64))
        for key in ("stride", "padding", "dilation"):
            w.put(key, np.asarray(getattr(node, key), np.int64).reshape(-1) * np.ones(2, np.int64))
        w.put("groups", np.int64(node.groups))
        w.put("inChannels", np.int64(fi[0]))
        w.put("outChannels", np.int64(fo[0]))
        w.put("kernelSize", np.asarray(weight.shape[2:], np.int64))
    else:
        w.default("shape", np.asarray(fo, np.int64).reshape(-1))
        w.put("inFeatures", np.int64(weight.shape[1]))
        w.put("outFeatures", np.int64(weight.shape[0]))
    if np.any(bias) or "bias" in w.layout:
        w.put("bias", _as_int(bias / (1 - alpha) if family == "CUBA" else bias, "bias", name), "<f4")


def save_netx(graph, path: str | os.PathLike) -> Path:
    """Write ``graph`` as a lava-dl netx file, atomically; returns the path.

    The graph must be a chain Input -> [input neuron] -> (Conv2d | [Flatten] Affine -> neuron)* -> Output
    of CUBA (``nir.CubaLIF`` with Loihi's reset to zero and strict threshold) or sigma-delta neurons, on
    Loihi's integer grid (see the module docstring); anything else raises :class:`NetxError` naming the
    node. A graph read by :func:`load_netx` is written back dataset for dataset."""
    names = _chain(graph)
    gmeta = graph.metadata.get(KIND)
    gmeta = json.loads(gmeta) if gmeta is not None else {}
    blocks: list[_Writer] = []
    first = graph.nodes[names[0]]
    rec = _meta_record(first)
    family = None
    i = 1
    if len(names) > 2 and not isinstance(graph.nodes[names[1]], (nir.Conv2d, nir.Affine, nir.Linear, nir.Flatten)):
        family, fields, _ = _neuron_fields(graph, names[1])
        rec = _meta_record(graph.nodes[names[1]])
        w = _Writer(rec)
        if family == "SDNN":
            fields.pop("activation")
            fields["activation"] = (rec or {}).get("kept", {}).get("neuron/activation", "relu")
        for k, v in fields.items():
            w.default(f"neuron/{k}", v, "<i8") if k == "type" else w.put(f"neuron/{k}", v, "<i8")
        i = 2
    else:
        w = _Writer(rec)
    w.put("type", ["input"])
    w.default("shape", np.asarray(graph.shapes[names[0]][1], np.int64))
    if i == 2 or rec is not None:
        blocks.append(w)
    while i < len(names) - 1:
        kind, covered = _block(graph, names, i)
        syn_rec = _meta_record(graph.nodes[covered[-1]]) if kind != "flatten" else _meta_record(graph.nodes[covered[0]])
        w = _Writer(syn_rec)
        w.put("type", [kind])
        if kind == "flatten":
            w.default("shape", np.asarray(graph.shapes[covered[0]][1], np.int64))
        else:
            if len(covered) == 2:
                fam, fields, alpha = _neuron_fields(graph, covered[1])
            else:  # a sigma output
                fam, alpha = family or "SDNN", 0.0
                fields = {"type": "SDNN", "sigma_output": True}
                if fam != "SDNN":
                    raise NetxError(f"node {covered[0]!r}: synapses straight into the output are a sigma-delta "
                                    "network's sigma output; this network's neurons are CUBA")
            if family is not None and fam != family:
                raise NetxError(f"node {covered[-1]!r}: mixes {fam} with {family} neurons")
            family = fam
            for k, v in fields.items():
                w.default(f"neuron/{k}", v, "<i8") if k == "type" else w.put(f"neuron/{k}", v, "<i8")
            _synapse(w, graph, covered[0], fam, alpha, kind)
        blocks.append(w)
        i += len(covered)
    with atomic_path(Path(path)) as tmp, h5py.File(tmp, "w") as f:
        layers = f.create_group("layer")
        for k, w in enumerate(blocks):
            w.write(layers.create_group(str(k)))
        if gmeta.get("simulation"):
            sim = _Writer({"layout": gmeta.get("simulation_layout", {}), "kept": gmeta["simulation"]})
            sim.write(f.create_group("simulation"))
    return Path(path)
