"""``trace(model, example) -> Graph``: record the data flow of one eager forward pass.

torch.fx cannot trace neuromap's models symbolically (their ``forward`` checks the input shape with
Python ``if``s, e.g. :class:`~neuromap.networks.SpikingMLP`), so the tracer runs the model once, in
eval mode, on an input of the example's per-sample shape with time and batch axes ``(3, 2)``, and
records:

* calls of *leaf modules* (the module map :data:`MODULE_MAP`: neuromap neurons, Linear, Conv1d/2d,
  AvgPool1d/2d, Flatten, BatchNorm1d/2d — folded into the preceding Linear/Conv —, Dropout and
  Identity — dropped —) through module hooks; their internals are not recorded;
* zoo modules through handlers that the zoo registers (:func:`.trace_handlers.register_handler`); a handler
  may mark edges as delayed (carrying the previous step's value), which the graph then lists in
  ``metadata["delayed_edges"]``;
* top-level tensor operations through a ``TorchFunctionMode``: ``+`` of two traced tensors (a
  residual add: both edges go into the consumer, NIR sums them), reshapes (``flatten``, ``view``,
  ``reshape``, ``unflatten``: layout changes of the time/batch axes vanish, feature reshapes become
  ``nir.Flatten`` or ``neuromap.Reshape``), multiplication by a Python number (``nir.Scale``) and
  functional dropout. Any other operation on a traced tensor is an error naming it and the module.

Time and batch axes are told apart from feature axes by their sizes (3 and 2, or 6 when merged as
``[T*B, ...]`` like :class:`networks.multistep.MultiStep` does).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from neuromap.neurons import registry
from neuromap.neurons.modules import LI, SpikingNeuron

from .errors import GraphError, UnsupportedNodeError
from .graph import DELAYED_KEY, GRADED_KEY, Graph, complete_delayed_edges
from .neuron import LIFSpec, LISpec, registered_node, spec_to_nir
from .nodes import AvgPool1d, Reshape
from .shapes import padding_values
from .trace_handlers import fold_pending_batchnorms, handler_for, on_tensor_function, scale_rows_metadata, weight_metadata

T0, B0 = 3, 2
PASSTHROUGH = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
_ADD = {"add", "__add__", "__radd__", "__iadd__", "add_"}
_MUL = {"mul", "__mul__", "__rmul__", "__imul__", "mul_"}
_SHAPE = {"flatten", "reshape", "view", "unflatten", "contiguous", "clone", "detach", "squeeze", "unsqueeze"}
_DROPOUT = {"dropout", "dropout1d", "dropout2d", "alpha_dropout", "feature_alpha_dropout"}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


class _Tracer:
    def __init__(self, model: nn.Module, dt: float | None) -> None:
        self.model = model
        self.names = {id(m): n for n, m in model.named_modules()}
        self.prov: dict[int, tuple[torch.Tensor, list[str]]] = {}
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []
        self.depth = 0
        self.stack: list[str] = []
        self.folded: dict[int, torch.Tensor] = {}  # keeps the tensors alive so their ids stay unique
        self.pending_bn: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # standalone BN nodes: scale, shift
        self.delayed: list[tuple[str, str]] = []  # edges a handler marks as carrying the previous step's value
        self.dt = dt

    # --- bookkeeping ------------------------------------------------------------------------------
    def feature(self, t: torch.Tensor, where: str) -> tuple[int, ...]:
        s = tuple(t.shape)
        if s[:2] == (T0, B0):
            return s[2:]
        if s and s[0] == T0 * B0:
            return s[1:]
        raise GraphError(f"trace: {where}: cannot tell the time/batch axes of a tensor of shape {s}")

    def unique(self, base: str) -> str:
        base = base or "layer"
        name, k = base, 1
        while name in self.nodes:
            name, k = f"{base}_{k}", k + 1
        return name

    def sources(self, t: Any, where: str) -> list[str]:
        if not isinstance(t, torch.Tensor):
            raise GraphError(f"trace: {where}: expected a tensor input, got {type(t).__name__}")
        if id(t) in self.folded:
            raise GraphError(f"trace: {where}: uses a tensor whose BatchNorm was folded into its producer")
        if id(t) not in self.prov:
            raise GraphError(f"trace: {where}: its input does not come from the model input (a constant tensor?)")
        return self.prov[id(t)][1]

    def bind(self, t: torch.Tensor, sources: list[str]) -> None:
        self.prov[id(t)] = (t, list(sources))

    def add_node(self, base: str, node: nir.NIRNode, sources: list[str]) -> str:
        name = self.unique(base)
        self.nodes[name] = node
        self.edges += [(s, name) for s in sources]
        return name

    # --- module hooks -----------------------------------------------------------------------------
    def pre_hook(self, module: nn.Module, args: tuple) -> None:
        if self.depth > 0:
            self.depth += 1
            return
        name = self.names.get(id(module), type(module).__name__)
        if _converter(module) is not None or _handler(module) is not None or isinstance(module, PASSTHROUGH):
            self.depth = 1
            return
        containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
        leaf = not list(module.children()) and not isinstance(module, containers)
        if leaf and type(module).__module__.startswith("torch.nn"):
            raise UnsupportedNodeError(
                f"trace: module {name!r} ({type(module).__name__}) is not supported; supported: "
                f"{sorted({c.__name__ for c in MODULE_MAP} | {c.__name__ for c in PASSTHROUGH})}"
            )
        self.stack.append(name)

    def post_hook(self, module: nn.Module, args: tuple, output: Any) -> None:
        if self.depth > 1:
            self.depth -= 1
            return
        if self.depth == 0:
            if self.stack:
                self.stack.pop()
            return
        self.depth = 0
        name = self.names.get(id(module), type(module).__name__)
        out = output[0] if isinstance(output, tuple) else output
        if not args:
            raise GraphError(f"trace: module {name!r} was called without a positional input")
        handler = _handler(module)
        if handler is not None:  # zoo modules: several inputs, several nodes
            self.depth = 1  # operations the handler runs on traced tensors are not part of the model
            try:
                handler(self, module, name or "layer", args, out)
            finally:
                self.depth = 0
            return
        src = self.sources(args[0], f"module {name!r}")
        if any(a is not None for a in args[1:]):
            raise GraphError(f"trace: module {name!r} was called with extra arguments (explicit state is not traced)")
        if isinstance(module, PASSTHROUGH):
            self.bind(out, src)
            return
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self.fold_batchnorm(module, name, args[0], out, src)
            return
        in_shape = self.feature(args[0], f"module {name!r}")
        out_shape = self.feature(out, f"module {name!r}")
        node = _converter(module)(self, module, name, in_shape, out_shape)
        if node is None:  # shape-only (e.g. Flatten that only merges time and batch)
            self.bind(out, src)
            return
        node.metadata.update(weight_metadata(module))
        self.bind(out, [self.add_node(name, node, src)])

    def fold_batchnorm(self, bn: nn.Module, name: str, x: torch.Tensor, out: torch.Tensor, src: list[str]) -> None:
        if len(src) != 1 or not isinstance(self.nodes.get(src[0]), (nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d)):
            raise GraphError(
                f"trace: BatchNorm {name!r} can only be folded into a directly preceding Linear/Conv; its input "
                f"comes from {src}"
            )
        if bn.running_mean is None or bn.running_var is None:
            raise GraphError(f"trace: BatchNorm {name!r} has no running statistics to fold (track_running_stats=False)")
        prev = src[0]
        if sum(1 for a, _ in self.edges if a == prev):
            raise GraphError(f"trace: BatchNorm {name!r}: {prev!r} has other consumers; cannot fold")
        node = self.nodes[prev]
        mean = bn.running_mean.detach().double().cpu().numpy()
        var = bn.running_var.detach().double().cpu().numpy()
        gamma = bn.weight.detach().double().cpu().numpy() if bn.weight is not None else np.ones_like(mean)
        beta = bn.bias.detach().double().cpu().numpy() if bn.bias is not None else np.zeros_like(mean)
        g = gamma / np.sqrt(var + bn.eps)
        w = np.asarray(node.weight, dtype=np.float64)
        if w.shape[0] != g.shape[0]:
            raise GraphError(f"trace: BatchNorm {name!r} has {g.shape[0]} channels, {prev!r} outputs {w.shape[0]}")
        bias = np.asarray(getattr(node, "bias", np.zeros(w.shape[0])), dtype=np.float64)
        dtype = np.asarray(node.weight).dtype
        new_w = (w * g.reshape(-1, *([1] * (w.ndim - 1)))).astype(dtype)
        new_b = ((bias - mean) * g + beta).astype(dtype)
        if isinstance(node, (nir.Affine, nir.Linear)):
            self.nodes[prev] = nir.Affine(weight=new_w, bias=new_b, metadata=scale_rows_metadata(node.metadata, g))
        else:
            node.weight, node.bias = new_w, new_b
            node.metadata = scale_rows_metadata(node.metadata, g)
        self.folded[id(x)] = x
        self.prov.pop(id(x), None)
        self.bind(out, src)

    # --- top-level tensor functions ------------------------------------------------------------------
    def on_function(self, func: Callable, args: tuple, kwargs: dict, out: Any) -> None:
        flat = [b for a in (*args, *kwargs.values()) for b in (a if isinstance(a, (list, tuple)) else (a,))]
        tensors = [a for a in flat if isinstance(a, torch.Tensor)]
        traced = [t for t in tensors if id(t) in self.prov or id(t) in self.folded]
        if not traced or not isinstance(out, torch.Tensor):
            return
        fname = getattr(func, "__name__", str(func))
        where = f"operation {fname!r}" + (f" in module {self.stack[-1]!r}" if self.stack else "")
        if fname in _ADD:
            operands = [a for a in args if a is not None]
            if len(operands) != 2 or kwargs.get("alpha", 1) != 1 or not all(isinstance(a, torch.Tensor) for a in operands):
                raise GraphError(f"trace: {where}: only the sum of two traced tensors is supported (residual add)")
            srcs = self.sources(operands[0], where) + self.sources(operands[1], where)
            if len(set(srcs)) != len(srcs):
                raise GraphError(f"trace: {where}: adds a tensor to itself; use a multiplication by 2")
            self.bind(out, srcs)
            return
        if fname in _DROPOUT:
            self.bind(out, self.sources(args[0], where))
            return
        if fname in _SHAPE:
            self.reshape(args[0], out, where)
            return
        if on_tensor_function(self, fname, args, kwargs, out, where):
            return
        if fname in _MUL:
            consts = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
            if len(traced) != 1 or len(consts) != 1:
                raise GraphError(f"trace: {where}: only multiplication of a traced tensor by a Python number is supported")
            shape = self.feature(out, where)
            src = self.sources(traced[0], where)
            scale = np.full(shape, consts[0], dtype=np.float32)
            self.bind(out, [self.add_node("scale", nir.Scale(scale=scale), src)])
            return
        raise GraphError(
            f"trace: unsupported {where}; supported top-level operations: + (residual add), flatten/reshape/view, "
            f"multiplication by a number, dropout, transpose/permute, mean over a feature axis, cat, relu/tanh/gelu"
        )

    def reshape(self, x: torch.Tensor, out: torch.Tensor, where: str) -> None:
        src = self.sources(x, where)
        fi, fo = self.feature(x, where), self.feature(out, where)
        if fi == fo:
            self.bind(out, src)
            return
        node = _flatten_node(fi, fo)
        base = "flatten" if isinstance(node, nir.Flatten) else "reshape"
        self.bind(out, [self.add_node(base, node, src)])


def _flatten_node(fi: tuple[int, ...], fo: tuple[int, ...]) -> nir.NIRNode:
    """``nir.Flatten`` when ``fo`` merges one contiguous range of ``fi``'s axes, else ``neuromap.Reshape``."""
    for start in range(len(fi)):
        for end in range(start + 1, len(fi)):
            merged = (*fi[:start], int(np.prod(fi[start:end + 1])), *fi[end + 1:])
            if merged == fo:
                return nir.Flatten(input_type={"input": np.asarray(fi)}, start_dim=start, end_dim=end)
    return Reshape(shape=np.asarray(fo))


class _Mode(TorchFunctionMode):
    def __init__(self, tracer: _Tracer) -> None:
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.tracer.depth == 0:
            self.tracer.on_function(func, args, kwargs, out)
        return out


# --- module map: module type -> converter(tracer, module, name, in_shape, out_shape) -> node | None ---
Converter = Callable[[_Tracer, nn.Module, str, tuple, tuple], "nir.NIRNode | None"]


def _linear(tr, m: nn.Linear, name, fi, fo):
    if m.bias is None:
        return nir.Linear(weight=_np(m.weight))
    return nir.Affine(weight=_np(m.weight), bias=_np(m.bias))


def _conv_padding(m, name) -> tuple[int, ...]:
    if m.padding_mode != "zeros":
        raise GraphError(f"trace: conv {name!r} uses padding_mode={m.padding_mode!r}; only zero padding is supported")
    try:
        return padding_values(m.padding, tuple(m.kernel_size), m.dilation)
    except ValueError as exc:
        raise GraphError(f"trace: conv {name!r}: {exc}; not supported") from None


def _conv(tr, m, name, fi, fo):
    bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, dtype=_np(m.weight).dtype)
    pad = _conv_padding(m, name)
    if isinstance(m, nn.Conv1d):
        return nir.Conv1d(input_shape=int(fi[1]), weight=_np(m.weight), stride=int(m.stride[0]), padding=int(pad[0]),
                          dilation=int(m.dilation[0]), groups=int(m.groups), bias=bias)
    return nir.Conv2d(input_shape=np.asarray(fi[1:]), weight=_np(m.weight), stride=np.asarray(m.stride),
                      padding=np.asarray(pad), dilation=np.asarray(m.dilation), groups=int(m.groups), bias=bias)


def _pair(v) -> np.ndarray:
    return np.asarray((v, v) if isinstance(v, int) else tuple(v), dtype=np.int64)


def _avgpool(tr, m, name, fi, fo):
    if m.ceil_mode or not m.count_include_pad or getattr(m, "divisor_override", None) is not None:
        raise GraphError(f"trace: {name!r}: only AvgPool with ceil_mode=False, count_include_pad=True is supported")
    if isinstance(m, nn.AvgPool1d):
        stride = m.stride[0] if m.stride else m.kernel_size[0]
        return AvgPool1d(kernel_size=int(m.kernel_size[0]), stride=int(stride), padding=int(m.padding[0]))
    stride = m.stride if m.stride is not None else m.kernel_size
    return nir.AvgPool2d(kernel_size=_pair(m.kernel_size), stride=_pair(stride), padding=_pair(m.padding))


def _flatten(tr, m, name, fi, fo):
    return None if fi == fo else _flatten_node(fi, fo)


def _f32(v) -> np.ndarray:
    a = v.detach().cpu().numpy().astype(np.float32) if isinstance(v, torch.Tensor) else np.float32(v)
    return np.asarray(a).reshape(-1) if np.ndim(a) == 0 else np.asarray(a)


def _neuron(tr, m: SpikingNeuron, name, fi, fo):
    learned = m.learned_values()
    spec = LIFSpec(tuple(fo), m.params, *(_f32(learned[k]) if k in learned else None for k in ("beta", "v_th", "alpha")))
    if tr.dt is None:
        tr.dt = m.params.dt
    return spec_to_nir(spec)


def _li(tr, m: LI, name, fi, fo):
    beta = float(m.beta.detach().clamp(0.0, 1.0).to(torch.float32))
    return spec_to_nir(LISpec(tuple(fo), beta, 1.0, 0.0, tr.dt if tr.dt is not None else 1e-3))


MODULE_MAP: dict[type, Converter] = {
    nn.Linear: _linear,
    nn.Conv1d: _conv,
    nn.Conv2d: _conv,
    nn.AvgPool1d: _avgpool,
    nn.AvgPool2d: _avgpool,
    nn.Flatten: _flatten,
    nn.BatchNorm1d: lambda *a: None,  # handled by fold_batchnorm
    nn.BatchNorm2d: lambda *a: None,
    SpikingNeuron: _neuron,
    LI: _li,
}


def _handler(module: nn.Module):
    return handler_for(module)


def _registered(tr, m, name, fi, fo):
    """A neuron module of a registry kind without a NIR node (ALIF, ...) -> ``neuromap.Neuron``."""
    if tr.dt is None:
        tr.dt = m.params.dt
    return registered_node(m, tuple(fo))


def _converter(module: nn.Module) -> Converter | None:
    for cls in type(module).__mro__:
        if cls in MODULE_MAP:
            return MODULE_MAP[cls]
    return _registered if registry.for_module(module) is not None else None


def trace(model: nn.Module, example: torch.Tensor | tuple[torch.Tensor, ...], dt: float | None = None) -> Graph:
    """Trace ``model`` into a :class:`Graph`.

    Args:
        model: an ``nn.Module`` mapping time-major ``[T, B, ...]`` input(s) to output(s).
        example: an input tensor (or tuple of tensors) of shape ``[T, B, ...]``; only its per-sample
            shape and dtype are used.
        dt: time step (s) for nodes that do not carry their own (LI readouts); defaults to the
            first spiking layer's ``params.dt`` or 1e-3.

    Raises:
        GraphError / UnsupportedNodeError: an operation or module the graph cannot express, named.
    """
    examples = example if isinstance(example, (tuple, list)) else (example,)
    if not examples or not all(isinstance(e, torch.Tensor) and e.dim() >= 3 for e in examples):
        raise GraphError("trace: example must be a tensor (or tuple of tensors) of shape [T, B, features...]")
    tracer = _Tracer(model, dt)
    xs = []
    for i, e in enumerate(examples):
        x = e[:1, :1].expand(T0, B0, *e.shape[2:]).clone()
        name = "input" if i == 0 else f"input_{i}"
        tracer.nodes[name] = nir.Input(input_type=np.asarray(e.shape[2:], dtype=np.int64))
        tracer.bind(x, [name])
        xs.append(x)
    # neurons first so that LI readouts know dt even when they come first in module order
    if tracer.dt is None:
        tracer.dt = next((m.params.dt for m in model.modules()
                          if isinstance(m, SpikingNeuron) or registry.for_module(m) is not None), None)
    was_training = model.training
    model.eval()
    h1 = nn.modules.module.register_module_forward_pre_hook(tracer.pre_hook)
    h2 = nn.modules.module.register_module_forward_hook(tracer.post_hook)
    try:
        with torch.no_grad(), _Mode(tracer):
            out = model(*xs)
    except (ValueError, RuntimeError, AssertionError) as exc:
        if isinstance(exc, GraphError):
            raise
        given = ", ".join(str(tuple(e.shape)) for e in examples)
        raise GraphError(f"trace: the model rejected the example {given} (per-step features "
                         f"{', '.join(str(tuple(e.shape[2:])) for e in examples)}; it is run with T={T0}, B={B0} "
                         f"while tracing): {type(exc).__name__}: {exc}") from exc
    finally:
        h1.remove()
        h2.remove()
        model.train(was_training)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for i, o in enumerate(outs):
        name = tracer.unique("output" if i == 0 else f"output_{i}")
        src = tracer.sources(o, f"model output {i}")
        shape = tracer.feature(o, f"model output {i}")
        tracer.add_node(name, nir.Output(output_type=np.asarray(shape, dtype=np.int64)), src)
    fold_pending_batchnorms(tracer)
    meta = {"producer": "neuromap.trace", "model": type(model).__name__, "dt": tracer.dt or 1e-3}
    graded = ["input" if i == 0 else f"input_{i}" for i, e in enumerate(examples) if not bool(((e == 0) | (e == 1)).all())]
    if graded:  # hardware streams real-valued inputs differently from spikes (e.g. SpiNNaker2's MAC array)
        meta[GRADED_KEY] = json.dumps(graded)
    if tracer.delayed:  # explicit delays (L2MU); cycles no handler marked keep the inferred rule
        meta[DELAYED_KEY] = sorted(complete_delayed_edges(tracer.nodes, tracer.edges, tracer.delayed))
    return Graph(tracer.nodes, tracer.edges, meta)
