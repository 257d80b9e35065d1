"""Tracer extension points: the module-handler registry, its public helpers, and the tensor functions
that map to :mod:`.extension_nodes`.

Handlers take ``(tracer, module, name, args, output)``, add nodes and bind the output; a module
class gets one with ``@register_handler(Cls)`` (looked up by class, most derived first, in
:func:`handler_for`). The model zoo (``neuromap.networks``) registers its handlers next to its
models, so this package never imports the zoo: a zoo class exists only once its module ran, and
with it its handler. Here: ``nn.MaxPool2d`` -> ``neuromap.MaxPool2d``; helpers for handlers
(:func:`single_input`, :func:`attention_inputs`, :func:`neuron_field`, :func:`population_node`,
:func:`bn_scale_shift`, :func:`fold_into`, :func:`add_pending_batchnorm`); and
:func:`fold_pending_batchnorms`, which folds each standalone BN into its producer when that one is a
Linear / conv with no other consumer.

Functions: ``transpose`` / ``permute`` of feature axes (``neuromap.Permute``), ``mean`` over one
feature axis (``neuromap.Mean``), ``cat`` along a feature axis (``neuromap.Place`` per operand) and
``relu`` / ``tanh`` / ``gelu`` (``neuromap.Activation``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from .errors import GraphError
from .extension_nodes import Activation, MaxPool2d, Mean, Permute, Place, TemporalConv1d, neuron_json
from .neuron import LIFSpec, spec_to_nir
from .nodes import Reshape

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

def on_tensor_function(tr, fname: str, args: tuple, kwargs: dict, out: Any, where: str) -> bool:
    """Handle a top-level tensor function that maps to an extension node; returns False if it is not one of them."""
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


# --- module handlers: the registry ------------------------------------------------------------------

Handler = Callable[..., None]
# Module class -> handler ``fn(tracer, module, name, args, output)``; zoo modules add theirs with
# :func:`register_handler` next to the model (the graph package never imports the zoo).
HANDLERS: dict[type, Handler] = {}


def register_handler(*module_types: type) -> Callable[[Handler], Handler]:
    """Decorator: ``@register_handler(MyModule)`` makes the function trace that module class (and its
    subclasses, unless one has its own); the function adds nodes and binds the module's output."""
    if not module_types:
        raise TypeError("register_handler needs at least one module class")

    def deco(fn: Handler) -> Handler:
        for t in module_types:
            HANDLERS[t] = fn
        return fn

    return deco


def handler_for(module: nn.Module) -> Handler | None:
    """The handler for ``module`` (by class, most derived first), or None."""
    for cls in type(module).__mro__:
        if cls in HANDLERS:
            return HANDLERS[cls]
    return None


# --- public helpers for handlers ----------------------------------------------------------------------

def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A detached CPU copy of ``t`` as a NumPy array (same dtype)."""
    return _np(t)


def single_input(tr, name: str, args: tuple) -> list[str]:
    """The sources of a module called with one traced tensor (explicit state arguments are refused)."""
    if any(a is not None for a in args[1:]):
        raise GraphError(f"trace: module {name!r} was called with extra arguments (explicit state is not traced)")
    return tr.sources(args[0], f"module {name!r}")


def neuron_field(lif: nn.Module) -> str:
    """The ``neuron`` JSON field of an attention node: a LIF's parameters and learned beta / v_th."""
    learned = lif.learned_values()
    over = {k: _np(learned[k]).astype(np.float32) for k in ("beta", "v_th") if k in learned}
    if "alpha" in learned or hasattr(lif.params, "alpha"):
        raise GraphError("trace: the attention neuron must be a LIF (not CuBa)")
    return neuron_json(lif.params.to_dict(), over.get("beta"), over.get("v_th"))


def attention_inputs(tr, name: str, args: tuple) -> list[str]:
    """The q, k, v operands of an attention module as three ``neuromap.Place`` nodes stacking them
    into ``[3, *shape]`` (port ``i`` at offset ``(i, 0, 0)``)."""
    if len(args) != 3:
        raise GraphError(f"trace: module {name!r} needs (q, k, v)")
    shape = tr.feature(args[0], f"module {name!r}")
    stack = np.asarray((3, *shape))
    srcs = []
    for i, (port, t) in enumerate(zip("qkv", args)):
        if tr.feature(t, f"module {name!r}") != shape:
            raise GraphError(f"trace: module {name!r}: q, k, v must have one shape")
        r = tr.add_node(f"{name}.{port}_expand", Reshape(shape=np.asarray((1, *shape))), tr.sources(t, f"module {name!r}"))
        srcs.append(tr.add_node(f"{name}.{port}", Place(shape=stack, offset=np.asarray((i, 0, 0))), [r]))
    return srcs


def population_node(pop: nn.Module, shape: tuple[int, ...]) -> nir.NIRNode:
    """A neuromap neuron module of ``shape`` (LIF / CubaLIF, learned per-neuron values) as its NIR node."""
    learned = pop.learned_values()
    over = [_np(learned[k]).astype(np.float32) if k in learned else None for k in ("beta", "v_th", "alpha")]
    over = [None if a is None else (a.reshape(1) if a.ndim == 0 else a) for a in over]
    return spec_to_nir(LIFSpec(tuple(shape), pop.params, *over))


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


def weight_metadata(module: nn.Module) -> dict[str, Any]:
    """What the parametrizations of ``module.weight`` record for the graph (each one's
    ``graph_metadata()``; :mod:`neuromap.quantize` records the bit width and integer grid), or {}."""
    plist = getattr(getattr(module, "parametrizations", None), "weight", None)
    out: dict[str, Any] = {}
    for p in plist or ():
        fn = getattr(p, "graph_metadata", None)
        if callable(fn):
            out.update(fn())
    return out


# A per-output-row scale recorded in a synaptic node's metadata (neuromap.quantize's weight grid):
# folding a BatchNorm multiplies row c of the weight by g[c], and so this scale.
ROW_SCALE_KEY = "weight_scale"


def scale_rows_metadata(metadata: dict[str, Any] | None, g: np.ndarray) -> dict[str, Any]:
    """A copy of a node's metadata after its weight rows were multiplied by ``g``."""
    md = dict(metadata or {})
    if ROW_SCALE_KEY in md:
        md[ROW_SCALE_KEY] = np.asarray(md[ROW_SCALE_KEY], dtype=np.float64) * np.asarray(g, dtype=np.float64)
    return md


def add_pending_batchnorm(tr, name: str, bn: nn.Module, src: list[str]) -> str:
    """A standalone eval-mode BatchNorm as a per-feature ``nir.Affine`` that
    :func:`fold_pending_batchnorms` later folds into its producer where it can."""
    g, c = bn_scale_shift(bn, name)
    node = nir.Affine(weight=np.diag(g).astype(np.float32), bias=c.astype(np.float32))
    node_name = tr.add_node(name, node, src)
    tr.pending_bn[node_name] = (g, c)
    return node_name


# --- graph-level handlers -----------------------------------------------------------------------------

@register_handler(nn.MaxPool2d)
def _maxpool(tr, m: nn.MaxPool2d, name, args, out):
    src = single_input(tr, name, args)
    if m.ceil_mode or m.return_indices or np.any(np.asarray(m.dilation) != 1):
        raise GraphError(f"trace: {name!r}: only MaxPool2d with dilation 1, ceil_mode=False is supported")
    pair = lambda v: np.asarray((v, v) if isinstance(v, int) else tuple(v))  # noqa: E731
    stride = m.stride if m.stride is not None else m.kernel_size
    node = MaxPool2d(kernel_size=pair(m.kernel_size), stride=pair(stride), padding=pair(m.padding))
    tr.bind(out, [tr.add_node(name, node, src)])


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
            tr.nodes[p] = nir.Affine(weight=w, bias=b, metadata=scale_rows_metadata(node.metadata, g))
        else:
            node.weight, node.bias = w, b
            node.metadata = scale_rows_metadata(node.metadata, g)
        del tr.nodes[bn]
        tr.edges = [(p if a == bn else a, b) for a, b in tr.edges if (a, b) != (p, bn)]
        tr.delayed = [(p if a == bn else a, b) for a, b in tr.delayed if (a, b) != (p, bn)]
