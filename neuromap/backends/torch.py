"""Float reference backend: runs any :class:`~neuromap.graph.Graph` with PyTorch.

Each node type maps to a small ``nn.Module`` builder in :data:`BUILDERS` (adding a node type is one
decorated function). Every op maps ``x [T, B, *in_shape]`` and its state to ``y [T, B, *out_shape]``
and the new state, so the same op serves both schedules:

* feed-forward graphs run node by node over the whole sequence (neurons use the fused
  :func:`~neuromap.neurons.functional.neuron_sequence`, the same code the trained module runs, so
  spikes are bit-identical);
* recurrent graphs run step by step; an edge that closes a cycle out of a neuron carries the
  neuron's previous-step output (zeros at ``t = 0``).

Several edges into one node are summed in edge order (the order of the traced ``a + b``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuromap.graph import Graph
from neuromap.graph.neuron import LIFSpec, LISpec, has_spec, spec_from_nir
from neuromap.graph.nodes import AvgPool1d, Reshape, is_neuron, type_name
from neuromap.graph.shapes import conv_padding
from neuromap.neurons.functional import leaky_integrator, neuron_sequence
from neuromap.neurons.surrogate import as_surrogate

from .base import BackendError, RunResult

NAME = "torch"


class NodeOp(nn.Module):
    """One node: ``forward(x [T, B, ...], state) -> (y [T, B, ...], state)``."""

    def __init__(self, name: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.node_name, self.in_shape, self.out_shape = name, tuple(in_shape), tuple(out_shape)

    def forward(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def merged(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])

    def split(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


Builder = Callable[[nir.NIRNode, str, tuple, tuple], NodeOp]
BUILDERS: dict[type, Builder] = {}


def register_builder(*node_types: type) -> Callable[[Builder], Builder]:
    """Decorator: ``@register_builder(nir.Affine)`` makes the function build ops for that node type."""

    def deco(fn: Builder) -> Builder:
        for t in node_types:
            BUILDERS[t] = fn
        return fn

    return deco


def _t(a: Any) -> torch.Tensor:
    arr = np.asarray(a)
    return torch.from_numpy(arr.astype(np.float32) if arr.dtype != np.float32 else arr.copy())


class _Fn(NodeOp):
    def __init__(self, name, fi, fo, fn: Callable[[NodeOp, torch.Tensor], torch.Tensor], **tensors: torch.Tensor | None):
        super().__init__(name, fi, fo)
        self.fn = fn
        for k, v in tensors.items():
            self.register_buffer(k, v)

    def forward(self, x, state):
        return self.fn(self, x), state


@register_builder(nir.Output)
def _output(node, name, fi, fo):
    return _Fn(name, fi, fo, lambda op, x: x)


@register_builder(nir.Affine, nir.Linear)
def _affine(node, name, fi, fo):
    bias = _t(node.bias) if isinstance(node, nir.Affine) else None
    return _Fn(name, fi, fo, lambda op, x: F.linear(x, op.weight, op.bias), weight=_t(node.weight), bias=bias)


@register_builder(nir.Scale)
def _scale(node, name, fi, fo):
    return _Fn(name, fi, fo, lambda op, x: x * op.scale, scale=_t(node.scale))


@register_builder(nir.Flatten, Reshape)
def _reshape(node, name, fi, fo):
    return _Fn(name, fi, fo, lambda op, x: x.reshape(x.shape[0], x.shape[1], *op.out_shape))


@register_builder(nir.Conv1d, nir.Conv2d)
def _conv(node, name, fi, fo):
    conv = F.conv1d if isinstance(node, nir.Conv1d) else F.conv2d
    n = 1 if isinstance(node, nir.Conv1d) else 2
    pad = conv_padding(node, fi[1:])

    def arg(v):
        a = np.asarray(v).reshape(-1)
        return tuple(int(x) for x in (np.repeat(a, n) if a.size == 1 else a))

    stride, dil, groups = arg(node.stride), arg(node.dilation), int(node.groups)
    bias = None if np.all(np.asarray(node.bias) == 0) else _t(node.bias)

    def fn(op, x):
        return op.split(conv(op.merged(x), op.weight, op.bias, stride, pad, dil, groups), x)

    return _Fn(name, fi, fo, fn, weight=_t(node.weight), bias=bias)


@register_builder(nir.AvgPool2d, nir.SumPool2d, AvgPool1d)
def _pool(node, name, fi, fo):
    if isinstance(node, AvgPool1d):
        k, s, p = node.kernel_size, node.stride, node.padding
        return _Fn(name, fi, fo, lambda op, x: op.split(F.avg_pool1d(op.merged(x), k, s, p), x))

    def pair(v):
        a = np.asarray(v).reshape(-1)
        return tuple(int(x) for x in (np.repeat(a, 2) if a.size == 1 else a))

    k, s, p = pair(node.kernel_size), pair(node.stride), pair(node.padding)
    div = 1 if isinstance(node, nir.SumPool2d) else None
    return _Fn(name, fi, fo, lambda op, x: op.split(F.avg_pool2d(op.merged(x), k, s, p, divisor_override=div), x))


class _Neuron(NodeOp):
    """LIF / CuBa-LIF: the fused recurrence with the exact trained parameters."""

    def __init__(self, name, fi, fo, spec: LIFSpec) -> None:
        super().__init__(name, fi, fo)
        self.params = spec.params
        self.surrogate = as_surrogate("fast_sigmoid", None)  # forward pass only: the surrogate is irrelevant
        self.overrides = {k: torch.from_numpy(np.asarray(getattr(spec, k), dtype=np.float32))
                          for k in ("beta", "v_th", "alpha") if getattr(spec, k) is not None}

    def forward(self, x, state):
        spikes, _, state = neuron_sequence(x, self.params, self.surrogate, state, **self.overrides)
        return spikes, state


class _LI(NodeOp):
    def __init__(self, name, fi, fo, spec: LISpec) -> None:
        super().__init__(name, fi, fo)
        self.spec = spec
        self.beta = torch.tensor(spec.beta, dtype=torch.float32)

    def forward(self, x, state):
        s = self.spec
        if s.v_leak == 0.0:
            v = leaky_integrator(x, self.beta, state, s.gain)
            return v, v[-1]
        v = torch.full_like(x[0], s.v_leak) if state is None else state
        out = []
        for t in range(x.shape[0]):
            v = self.beta * v + (1.0 - self.beta) * s.v_leak + s.gain * x[t]
            out.append(v)
        return torch.stack(out), v


@register_builder(nir.LIF, nir.CubaLIF, nir.LI)
def _neuron(node, name, fi, fo):
    spec = spec_from_nir(node, name)
    return _LI(name, fi, fo, spec) if isinstance(spec, LISpec) else _Neuron(name, fi, fo, spec)


class _Delay(NodeOp):
    def __init__(self, name, fi, fo, steps: int) -> None:
        super().__init__(name, fi, fo)
        self.steps = steps

    def forward(self, x, state):
        if self.steps == 0:
            return x, state
        buf = torch.zeros(self.steps, *x.shape[1:], dtype=x.dtype, device=x.device) if state is None else state
        full = torch.cat([buf, x])
        return full[: x.shape[0]], full[x.shape[0]:]


def delay_steps(node: nir.Delay, name: str, dt: float) -> int:
    """A ``nir.Delay`` (seconds) as a whole number of steps of ``dt``; uniform delays only."""
    d = np.asarray(node.delay, dtype=np.float64).reshape(-1)
    steps = np.rint(d / dt)
    if not np.all(d == d[0]) or not np.allclose(steps * dt, d, rtol=1e-6, atol=1e-12) or steps[0] < 0:
        raise BackendError(f"node {name!r} (Delay): delays must be one non-negative multiple of dt={dt} s")
    return int(steps[0])


def _problems(graph: Graph) -> list[str]:
    out = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            continue
        if isinstance(node, nir.Delay):
            try:
                delay_steps(node, name, float(graph.metadata.get("dt", 1e-3)))
            except BackendError as exc:
                out.append(str(exc))
            continue
        if type(node) not in BUILDERS:
            out.append(
                f"node {name!r} ({type_name(node)}): not supported by the torch backend; supported: "
                f"{sorted(t.__name__ for t in BUILDERS)}"
            )
        elif is_neuron(node) and not has_spec(node):
            out.append(f"node {name!r} ({type_name(node)}): no discrete neuron parameters; import it with "
                       f"Graph.from_nir(..., convention='nir'|'snntorch'|'norse', dt=...)")
    return out


class TorchCompiled:
    """A graph ready to run in float on CPU/GPU."""

    def __init__(self, graph: Graph, device: str | torch.device = "cpu") -> None:
        self.graph = graph
        self.device = torch.device(device)
        self.order = [n for n in graph.topological_order() if not isinstance(graph.nodes[n], nir.Input)]
        self.delayed = graph.delayed_edges()
        self.recurrent = bool(self.delayed)
        dt = float(graph.metadata.get("dt", 1e-3))
        self.ops: dict[str, NodeOp] = {}
        for name in self.order:
            node = graph.nodes[name]
            fi, fo = graph.shapes[name]
            if isinstance(node, nir.Delay):
                self.ops[name] = _Delay(name, fi, fo, delay_steps(node, name, dt))
            else:
                self.ops[name] = BUILDERS[type(node)](node, name, fi, fo).to(self.device)
        self.preds = {n: graph.predecessors(n) for n in graph.nodes}
        self.recorded = [n for n in self.order if is_neuron(graph.nodes[n])]

    def _inputs(self, inputs: Any) -> dict[str, torch.Tensor]:
        names = self.graph.inputs
        if isinstance(inputs, torch.Tensor) or isinstance(inputs, np.ndarray):
            if len(names) != 1:
                raise ValueError(f"graph has inputs {names}; pass a dict name -> tensor")
            inputs = {names[0]: inputs}
        if not isinstance(inputs, dict) or set(inputs) != set(names):
            raise ValueError(f"inputs must be a tensor or a dict with exactly the keys {names}")
        out = {}
        for name, x in inputs.items():
            x = torch.as_tensor(x).to(self.device)
            if not x.is_floating_point():
                x = x.float()
            want = self.graph.shapes[name][1]
            if x.dim() != 2 + len(want) or tuple(x.shape[2:]) != want:
                raise ValueError(f"input {name!r} must have shape [T, B, {', '.join(map(str, want))}], got {tuple(x.shape)}")
            out[name] = x
        return out

    def _sum(self, name: str, values: dict[str, torch.Tensor], prev: dict[str, torch.Tensor] | None) -> torch.Tensor:
        total = None
        for p in self.preds[name]:
            if prev is not None and (p, name) in self.delayed:
                v = prev[p]
            else:
                v = values[p]
            total = v if total is None else total + v
        return total

    @torch.no_grad()
    def run(self, inputs: Any) -> RunResult:
        xs = self._inputs(inputs)
        start = time.perf_counter()
        if not self.recurrent:
            values = dict(xs)
            for name in self.order:
                values[name], _ = self.ops[name](self._sum(name, values, None), None)
        else:
            values = self._run_steps(xs)
        wall = time.perf_counter() - start
        outputs = {n: values[n] for n in self.graph.outputs}
        records = {n: values[n] for n in self.recorded}
        return RunResult(outputs=outputs, records=records, wall_seconds=wall, backend=NAME)

    def _run_steps(self, xs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        T, B = next(iter(xs.values())).shape[:2]
        ref = next(iter(xs.values()))
        prev = {n: torch.zeros(1, B, *self.graph.shapes[n][1], dtype=ref.dtype, device=ref.device) for n in self.graph.nodes}
        states: dict[str, Any] = {n: None for n in self.order}
        seqs: dict[str, list[torch.Tensor]] = {n: [] for n in self.graph.nodes}
        for t in range(T):
            cur = {n: x[t:t + 1] for n, x in xs.items()}
            for name in self.order:
                cur[name], states[name] = self.ops[name](self._sum(name, cur, prev), states[name])
            for n, v in cur.items():
                seqs[n].append(v)
            prev = cur
        return {n: torch.cat(v) for n, v in seqs.items() if v}


class TorchBackend:
    """The float reference backend (``backends.get("torch")``)."""

    name = NAME

    def unsupported(self, graph: Graph) -> list[str]:
        return _problems(graph)

    def compile(self, graph: Graph, target: Any = None, device: str | torch.device = "cpu") -> TorchCompiled:
        if not isinstance(graph, Graph):
            raise TypeError(f"compile() needs a neuromap Graph, got {type(graph).__name__}")
        problems = _problems(graph)
        if problems:
            raise BackendError("torch backend cannot run this graph:\n  " + "\n  ".join(problems))
        return TorchCompiled(graph, device)


BACKEND = TorchBackend()


def compile(graph: Graph, target: Any = None, device: str | torch.device = "cpu") -> TorchCompiled:  # noqa: A001
    """Module-level shortcut for ``BACKEND.compile``."""
    return BACKEND.compile(graph, target, device)
