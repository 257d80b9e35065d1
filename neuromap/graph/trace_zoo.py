"""Tracer support for the model zoo: module handlers and tensor functions that map to :mod:`.zoo_nodes`.

Handlers take ``(tracer, module, name, args, output)``, add nodes and bind the output; they are
looked up by class (MRO) in :func:`zoo_handler`. The zoo classes are imported lazily, so the graph
package does not depend on ``neuromap.networks`` until a zoo model is traced.

* ``nn.MaxPool2d`` -> ``neuromap.MaxPool2d``;
* ``SDSA`` / ``SDSA3`` (``forward(q, k, v)``) -> three ``neuromap.Place`` (stacking q, k, v) ->
  ``neuromap.SDSA`` / ``neuromap.SDSA3``;
* ``RepConv`` -> its three convolutions with both BatchNorms folded (BNAndPad's border value is
  exactly what a 1x1 conv with bias produces on zero padding, so conv1 gets ``padding=1``);
* ``LMUMemory`` -> ``neuromap.LMUMemory`` (``mode``: whichever of recurrent / FFT reproduces the
  module's output bit-for-bit on the trace input);
* ``CausalConv1d`` -> ``neuromap.TemporalConv1d``; ``SeqBN`` -> a standalone per-feature ``nir.Affine``
  that :func:`fold_pending_batchnorms` folds into its producer when that one is a Linear / conv with
  no other consumer;
* ``EGRU`` / ``EGRUCell`` -> one ``neuromap.EGRU`` per layer (+ ``LI`` for ``output_trace``);
* ``Reservoir`` -> ``Linear(w_in)`` -> ``LIF`` with a ``neuromap.SparseLinear`` self-loop (CSR).
* ``L2MU`` -> its populations ``lif_u`` / ``lif_m`` / ``lif_h`` (/ ``lif_o``) as LIF / CubaLIF nodes with
  the learned per-neuron beta / threshold (/ alpha), the encoders and weights as ``nir.Linear``,
  ``S_m A_bar^T`` as ``neuromap.AxisLinear`` and ``S_u (x) B_bar`` as ``neuromap.Outer``. Within a step
  spikes flow u -> m -> h (-> o); the edges that read ``S_h[t-1]`` / ``S_m[t-1]`` (into ``e_h``,
  ``e_m``, ``W_h`` and ``A_bar``) are marked delayed (``tracer.delayed``). Edge order into each
  population is the module's order of the sum.

Functions: ``transpose`` / ``permute`` of feature axes (``neuromap.Permute``), ``mean`` over one
feature axis (``neuromap.Mean``), ``cat`` along a feature axis (``neuromap.Place`` per operand) and
``relu`` / ``tanh`` / ``gelu`` (``neuromap.Activation``).
"""

from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from .errors import GraphError
from .zoo_nodes import (
    EGRU,
    Activation,
    AxisLinear,
    LMUMemory,
    MaxPool2d,
    Mean,
    Outer,
    Permute,
    Place,
    SparseLinear,
    TemporalConv1d,
    neuron_json,
)
from .zoo_nodes import SDSA as SDSANode
from .zoo_nodes import SDSA3 as SDSA3Node

_ACT = {"relu": "relu", "relu_": "relu", "tanh": "tanh", "gelu": "gelu"}
_TRANSPOSE = {"transpose", "permute"}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _lead(tr, t: torch.Tensor, where: str) -> int:
    """Number of leading time/batch axes of ``t`` (2 for ``[T, B, ...]``, 1 for ``[T*B, ...]``)."""
    return t.dim() - len(tr.feature(t, where))


def _feature_axis(tr, t: torch.Tensor, dim: int, where: str) -> int:
    lead = _lead(tr, t, where)
    d = dim + t.dim() if dim < 0 else dim
    if d < lead:
        raise GraphError(f"trace: {where}: acts on the time/batch axes (dim {dim}); only feature axes can be traced")
    return d - lead


# --- tensor functions ---------------------------------------------------------------------------------

def on_zoo_function(tr, fname: str, args: tuple, kwargs: dict, out: Any, where: str) -> bool:
    """Handle a top-level tensor function of the zoo; returns False if it is not one of them."""
    if fname in _ACT and len(args) == 1:
        src = tr.sources(args[0], where)
        tr.bind(out, [tr.add_node(_ACT[fname], Activation(function=_ACT[fname]), src)])
        return True
    if fname == "gelu":
        if kwargs.get("approximate", "none") != "none" or len(args) != 1:
            raise GraphError(f"trace: {where}: only the exact (erf) GELU is supported")
        tr.bind(out, [tr.add_node("gelu", Activation(function="gelu"), tr.sources(args[0], where))])
        return True
    if fname in _TRANSPOSE:
        x = args[0]
        src = tr.sources(x, where)
        lead = _lead(tr, x, where)
        if fname == "transpose":
            perm = list(range(x.dim()))
            a, b = (int(d) + x.dim() if int(d) < 0 else int(d) for d in args[1:3])
            perm[a], perm[b] = perm[b], perm[a]
        else:
            dims = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
            perm = [int(d) + x.dim() if int(d) < 0 else int(d) for d in dims]
        if perm[:lead] != list(range(lead)):
            raise GraphError(f"trace: {where}: moves the time/batch axes; only feature axes can be permuted")
        fperm = [p - lead for p in perm[lead:]]
        if fperm == list(range(len(fperm))):
            tr.bind(out, src)
        else:
            tr.bind(out, [tr.add_node("permute", Permute(perm=np.asarray(fperm)), src)])
        return True
    if fname == "mean":
        x = args[0]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        keep = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        if dim is None or isinstance(dim, (list, tuple)) and len(dim) != 1 or keep or kwargs.get("dtype") is not None:
            raise GraphError(f"trace: {where}: only the mean over one feature axis (keepdim=False) is supported")
        axis = _feature_axis(tr, x, int(dim[0] if isinstance(dim, (list, tuple)) else dim), where)
        tr.bind(out, [tr.add_node("mean", Mean(axis=axis), tr.sources(x, where))])
        return True
    if fname == "cat":
        parts = list(args[0])
        dim = int(kwargs.get("dim", args[1] if len(args) > 1 else 0))
        axis = _feature_axis(tr, parts[0], dim, where)
        full = tr.feature(out, where)
        srcs, off = [], 0
        for p in parts:
            shape = tr.feature(p, where)
            offset = [0] * len(full)
            offset[axis] = off
            srcs.append(tr.add_node("cat", Place(shape=np.asarray(full), offset=np.asarray(offset)), tr.sources(p, where)))
            off += shape[axis]
        tr.bind(out, srcs)
        return True
    return False


# --- module handlers ----------------------------------------------------------------------------------

def _neuron_field(lif: nn.Module) -> str:
    learned = lif.learned_values()
    over = {k: _np(learned[k]).astype(np.float32) for k in ("beta", "v_th") if k in learned}
    if "alpha" in learned or hasattr(lif.params, "alpha"):
        raise GraphError("trace: the attention neuron must be a LIF (not CuBa)")
    return neuron_json(lif.params.to_dict(), over.get("beta"), over.get("v_th"))


def _single(tr, name: str, args: tuple) -> list[str]:
    if any(a is not None for a in args[1:]):
        raise GraphError(f"trace: module {name!r} was called with extra arguments (explicit state is not traced)")
    return tr.sources(args[0], f"module {name!r}")


def _maxpool(tr, m: nn.MaxPool2d, name, args, out):
    src = _single(tr, name, args)
    if m.ceil_mode or m.return_indices or np.any(np.asarray(m.dilation) != 1):
        raise GraphError(f"trace: {name!r}: only MaxPool2d with dilation 1, ceil_mode=False is supported")
    pair = lambda v: np.asarray((v, v) if isinstance(v, int) else tuple(v))  # noqa: E731
    stride = m.stride if m.stride is not None else m.kernel_size
    node = MaxPool2d(kernel_size=pair(m.kernel_size), stride=pair(stride), padding=pair(m.padding))
    tr.bind(out, [tr.add_node(name, node, src)])


def _attention(tr, m, name, args, out):
    if len(args) != 3:
        raise GraphError(f"trace: module {name!r} needs (q, k, v)")
    shape = tr.feature(args[0], f"module {name!r}")
    stack = np.asarray((3, *shape))
    srcs = []
    for i, (port, t) in enumerate(zip("qkv", args)):
        if tr.feature(t, f"module {name!r}") != shape:
            raise GraphError(f"trace: module {name!r}: q, k, v must have one shape")
        from .nodes import Reshape

        r = tr.add_node(f"{name}.{port}_expand", Reshape(shape=np.asarray((1, *shape))), tr.sources(t, f"module {name!r}"))
        srcs.append(tr.add_node(f"{name}.{port}", Place(shape=stack, offset=np.asarray((i, 0, 0))), [r]))
    if type(m).__name__ == "SDSA3":
        node = SDSA3Node(dim=m.dim, heads=m.heads, scale=m.scale, neuron=_neuron_field(m.neuron))
    else:
        node = SDSANode(dim=m.dim, heads=m.heads, neuron=_neuron_field(m.neuron))
    tr.bind(out, [tr.add_node(name, node, srcs)])


def bn_scale_shift(bn: nn.Module, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Eval-mode BatchNorm as ``y = g x + c`` per channel, in float64."""
    if bn.running_mean is None or bn.running_var is None:
        raise GraphError(f"trace: BatchNorm {name!r} has no running statistics to fold (track_running_stats=False)")
    mean = bn.running_mean.detach().double().cpu().numpy()
    var = bn.running_var.detach().double().cpu().numpy()
    gamma = bn.weight.detach().double().cpu().numpy() if bn.weight is not None else np.ones_like(mean)
    beta = bn.bias.detach().double().cpu().numpy() if bn.bias is not None else np.zeros_like(mean)
    g = gamma / np.sqrt(var + bn.eps)
    return g, beta - mean * g


def fold_into(weight: np.ndarray, bias: np.ndarray | None, g: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(g * W, g * b + c)`` per output channel, computed in float64 and cast to the weight's dtype."""
    dtype = np.asarray(weight).dtype
    w = np.asarray(weight, dtype=np.float64)
    b = np.zeros(w.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
    return (w * g.reshape(-1, *([1] * (w.ndim - 1)))).astype(dtype), (b * g + c).astype(dtype)


def _repconv(tr, m, name, args, out):
    src = _single(tr, name, args)
    fi = tr.feature(args[0], f"module {name!r}")
    c_in = m.conv1.in_channels
    w1, b1 = fold_into(_np(m.conv1.weight), None, *bn_scale_shift(m.bn_pad.bn, f"{name}.bn_pad.bn"))
    pad = int(m.bn_pad.pad)
    w3, b3 = fold_into(_np(m.conv2.weight), None, *bn_scale_shift(m.bn, f"{name}.bn"))
    h, w = fi[1] + 2 * pad, fi[2] + 2 * pad
    conv = lambda weight, bias, size, padding, groups: nir.Conv2d(  # noqa: E731
        input_shape=np.asarray(size), weight=weight, stride=np.asarray((1, 1)), padding=np.asarray((padding, padding)),
        dilation=np.asarray((1, 1)), groups=groups, bias=bias)
    a = tr.add_node(f"{name}.conv1", conv(w1, b1, fi[1:], pad, 1), src)
    dw = _np(m.dw.weight)
    b = tr.add_node(f"{name}.dw", conv(dw, np.zeros(c_in, dtype=dw.dtype), (h, w), 0, c_in), [a])
    tr.bind(out, [tr.add_node(f"{name}.conv2", conv(w3, b3, (h - 2, w - 2), 0, 1), [b])])


def _lmu_memory(tr, m, name, args, out):
    src = _single(tr, name, args)
    Ab, Bb = (t.detach().float() for t in m.matrices())
    with torch.no_grad():
        modes = [md for md in ("recurrent", "fft") if torch.equal(m.forward(args[0], mode=md), out)]
    if not modes:
        raise GraphError(f"trace: LMU memory {name!r}: its output matches neither the recurrence nor the FFT form")
    node = LMUMemory(A_bar=_np(Ab), B_bar=_np(Bb), channels=m.channels, mode=modes[0])
    tr.bind(out, [tr.add_node(name, node, src)])


def _causal_conv(tr, m, name, args, out):
    src = _single(tr, name, args)
    k = m.kernel
    left, right = (k - 1, 0) if m.causal else (k // 2, k - 1 - k // 2)
    conv = m.conv
    if conv.stride[0] != 1 or conv.dilation[0] != 1 or conv.groups != 1 or conv.padding[0] != 0:
        raise GraphError(f"trace: {name!r}: only stride 1, dilation 1, groups 1 temporal convolutions are supported")
    w = _np(conv.weight)
    bias = _np(conv.bias) if conv.bias is not None else np.zeros(w.shape[0], dtype=w.dtype)
    tr.bind(out, [tr.add_node(name, TemporalConv1d(weight=w, bias=bias, pad_left=left, pad_right=right), src)])


def _seq_bn(tr, m, name, args, out):
    src = _single(tr, name, args)
    g, c = bn_scale_shift(m.bn, name)
    node = nir.Affine(weight=np.diag(g).astype(np.float32), bias=c.astype(np.float32))
    node_name = tr.add_node(name, node, src)
    tr.pending_bn[node_name] = (g, c)
    tr.bind(out, [node_name])


_FOLDABLE = (nir.Affine, nir.Linear, nir.Conv1d, TemporalConv1d)


def fold_pending_batchnorms(tr) -> None:
    """Fold each standalone BN (``SeqBN``) into its producer when that is a single Linear / conv that
    feeds nothing else; the others stay per-feature ``nir.Affine`` nodes."""
    for bn, (g, c) in tr.pending_bn.items():
        preds = [a for a, b in tr.edges if b == bn]
        if len(preds) != 1 or not isinstance(tr.nodes[preds[0]], _FOLDABLE):
            continue
        p = preds[0]
        if [b for a, b in tr.edges if a == p] != [bn]:
            continue
        node = tr.nodes[p]
        bias = getattr(node, "bias", None)
        w, b = fold_into(node.weight, bias, g, c)
        if isinstance(node, (nir.Affine, nir.Linear)):
            tr.nodes[p] = nir.Affine(weight=w, bias=b)
        else:
            node.weight, node.bias = w, b
        del tr.nodes[bn]
        tr.edges = [(p if a == bn else a, b) for a, b in tr.edges if (a, b) != (p, bn)]
        tr.delayed = [(p if a == bn else a, b) for a, b in tr.delayed if (a, b) != (p, bn)]


def _egru_layer(layer, theta_name: str) -> EGRU:
    H = layer.hidden_size
    zeros = np.zeros(3 * H, dtype=np.float32)
    return EGRU(
        weight_ih=_np(layer.weight_ih), weight_hh=_np(layer.weight_hh),
        bias_ih=_np(layer.bias_ih) if layer.bias_ih is not None else zeros,
        bias_hh=_np(layer.bias_hh) if layer.bias_hh is not None else zeros,
        threshold=_np(layer.threshold.detach().clamp(0.0, 1.0)), bias=layer.bias_ih is not None,
        zoneout=layer.zoneout, gamma=layer.gamma, eps=layer.eps, impl=layer.impl,
    )


def _egru(tr, m, name, args, out):
    src = _single(tr, name, args)
    layers = m.layers if hasattr(m, "layers") else [m]
    for k, layer in enumerate(layers):
        src = [tr.add_node(f"{name}.{k}" if hasattr(m, "layers") else name, _egru_layer(layer, name), src)]
    if getattr(m, "output_trace", False):
        raise GraphError(f"trace: EGRU {name!r}: output_trace=True (the 0.9/0.1 low-pass readout) is not traced; "
                         f"trace with output_trace=False")
    tr.bind(out, src)


def _reservoir(tr, m, name, args, out):
    from .neuron import LIFSpec, spec_to_nir

    src = _single(tr, name, args)
    if m.bias:
        raise GraphError(f"trace: reservoir {name!r}: a constant bias is not traced (its einsum + bias rounding); "
                         f"use bias=0")
    w = m.w_rec
    csr = SparseLinear(indptr=_np(w.crow_indices()), indices=_np(w.col_indices()), data=_np(w.values()),
                       shape=np.asarray(w.shape))
    inp = tr.add_node(f"{name}.w_in", nir.Linear(weight=_np(m.w_in)), src)
    lif = tr.add_node(f"{name}.lif", spec_to_nir(LIFSpec((m.n,), m.params)), [inp])
    rec = tr.add_node(f"{name}.w_rec", csr, [lif])
    tr.edges.append((rec, lif))
    if tr.dt is None:
        tr.dt = m.params.dt
    tr.bind(out, [lif])


def _population_node(pop: nn.Module, shape: tuple[int, ...]) -> nir.NIRNode:
    """A neuromap neuron module of ``shape`` (LIF / CubaLIF, learned per-neuron values) as its NIR node."""
    from .neuron import LIFSpec, spec_to_nir

    learned = pop.learned_values()
    over = [_np(learned[k]).astype(np.float32) if k in learned else None for k in ("beta", "v_th", "alpha")]
    over = [None if a is None else (a.reshape(1) if a.ndim == 0 else a) for a in over]
    return spec_to_nir(LIFSpec(tuple(shape), pop.params, *over))


def _l2mu(tr, m, name, args, out):
    from neuromap.neurons.modules import SpikingNeuron

    src = _single(tr, name, args)
    pops = [m.lif_u, m.lif_m, m.lif_h] + ([m.lif_o] if m.W_o is not None else [])
    for key, pop in zip(("lif_u", "lif_m", "lif_h", "lif_o"), pops):
        if not isinstance(pop, SpikingNeuron) or getattr(pop, "impl", "fused") != "fused":
            raise GraphError(f"trace: L2MU {name!r}: population {key} must be a fused neuromap LIF / CubaLIF")
    prefix = tr.names.get(id(m), "")
    M, d = m.memory_size, m.order

    def add(key: str, node: nir.NIRNode) -> str:
        n = tr.unique(f"{prefix}.{key}" if prefix else key)
        tr.nodes[n] = node
        return n

    def lin(key: str) -> str:
        return add(key, nir.Linear(weight=_np(getattr(m, key).weight)))

    def flat(key: str) -> str:
        return add(key, nir.Flatten(input_type={"input": np.asarray((M, d))}, start_dim=0, end_dim=1))

    e_x, e_h, f_em, e_m = lin("e_x"), lin("e_h"), flat("e_m.flatten"), lin("e_m")
    u = add("lif_u", _population_node(m.lif_u, (M,)))
    a_bar = add("A_bar", AxisLinear(weight=_np(m.A_bar)))
    b_bar = add("B_bar", Outer(vector=_np(m.B_bar)))
    mem = add("lif_m", _population_node(m.lif_m, (M, d)))
    w_x, w_h, f_wm, w_m = lin("W_x"), lin("W_h"), flat("W_m.flatten"), lin("W_m")
    h = add("lif_h", _population_node(m.lif_h, (m.hidden,)))
    edges = [(s, e_x) for s in src] + [(h, e_h), (mem, f_em), (f_em, e_m), (e_x, u), (e_h, u), (e_m, u),
                                       (mem, a_bar), (u, b_bar), (a_bar, mem), (b_bar, mem)]
    edges += [(s, w_x) for s in src] + [(h, w_h), (mem, f_wm), (f_wm, w_m), (w_x, h), (w_h, h), (w_m, h)]
    last = h
    if m.W_o is not None:
        w_o = lin("W_o")
        last = add("lif_o", _population_node(m.lif_o, (m.n_out,)))
        edges += [(h, w_o), (w_o, last)]
    tr.edges += edges
    tr.delayed += [(h, e_h), (mem, f_em), (mem, a_bar), (h, w_h)]  # S_h[t-1], S_m[t-1]
    tr.bind(out, [last])


def _handlers() -> dict[type, Any]:
    out: dict[type, Any] = {nn.MaxPool2d: _maxpool}
    try:
        from neuromap.networks import egru, lmu, lsm, metaspikformer, sdt
    except ImportError:  # pragma: no cover - the zoo is part of the package
        return out
    out.update({sdt.SDSA: _attention, metaspikformer.SDSA3: _attention, metaspikformer.RepConv: _repconv,
                lmu.LMUMemory: _lmu_memory, lmu.CausalConv1d: _causal_conv, lmu.SeqBN: _seq_bn,
                egru.EGRU: _egru, egru.EGRUCell: _egru, lsm.Reservoir: _reservoir, lmu.L2MU: _l2mu})
    return out


_HANDLERS: dict[type, Any] | None = None


def zoo_handler(module: nn.Module):
    """The handler for ``module`` (by class, most derived first), or None."""
    global _HANDLERS
    if _HANDLERS is None:
        _HANDLERS = _handlers()
    for cls in type(module).__mro__:
        if cls in _HANDLERS:
            return _HANDLERS[cls]
    return None
