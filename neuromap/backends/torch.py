"""Float reference backend: runs any :class:`~neuromap.graph.Graph` with PyTorch.

Each node type maps to a small ``nn.Module`` builder in :data:`BUILDERS` (adding a node type is one
decorated function). Every op maps ``x [T, B, *in_shape]`` and its state to ``y [T, B, *out_shape]``
and the new state, so the same op serves both schedules:

* feed-forward graphs run node by node over the whole sequence (neurons use the fused
  :func:`~neuromap.neurons.functional.neuron_sequence`, the same code the trained module runs, so
  spikes are bit-identical);
* graphs with delayed edges (:meth:`Graph.delayed_edges`: inferred — an edge that closes a cycle
  out of a neuron — or listed explicitly in ``graph.metadata["delayed_edges"]``) run step by step;
  a delayed edge carries its source's previous-step output (zeros at ``t = 0``), every other edge
  the current step's.

Several edges into one node are summed in edge order (the order of the traced ``a + b``).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import Any

import networkx as nx
import nir
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from neuromap.graph import Graph, GraphError
from neuromap.graph import extension_nodes as ext
from neuromap.graph.matrices import delay_steps
from neuromap.graph.neuron import LIFSpec, LISpec, has_spec, registered_params, spec_from_nir
from neuromap.graph.nodes import AvgPool1d, Neuron, Reshape, is_neuron, type_name
from neuromap.graph.shapes import conv_padding
from neuromap.graph.units import is_unit
from neuromap.neurons import registry
from neuromap.neurons.functional import neuron_sequence
from neuromap.neurons.params import params_from_dict
from neuromap.neurons.registry import SpikingParams
from neuromap.neurons.surrogate import as_surrogate
from neuromap.synapses import conv2d, linear

from .base import ANY_STEP, BackendError, Implementations, RunResult, check_inputs, load_target

NAME = "torch"


class NodeOp(nn.Module):
    """One node: ``forward(x [T, B, ...], state) -> (y [T, B, ...], state)``."""

    def __init__(self, name: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.node_name, self.in_shape, self.out_shape = name, tuple(in_shape), tuple(out_shape)

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Map ``x [T, B, *in_shape]`` and the op's state to ``(y [T, B, *out_shape], state)``."""

    def merged(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])

    def split(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


Builder = Callable[[nir.NIRNode, str, tuple, tuple], NodeOp]
BUILDERS: dict[type, Builder] = {}


def builder(node: nir.NIRNode) -> Builder | None:
    """The builder of ``node``: its class's, else the nearest base class's (e.g. an attention unit's)."""
    return next((BUILDERS[t] for t in type(node).__mro__ if t in BUILDERS), None)


def register_builder(*node_types: type) -> Callable[[Builder], Builder]:
    """Decorator: ``@register_builder(nir.Affine)`` makes the function build ops for that node type
    (and its subclasses that have no builder of their own)."""

    def deco(fn: Builder) -> Builder:
        for t in node_types:
            BUILDERS[t] = fn
        return fn

    return deco


def _t(a: Any) -> torch.Tensor:
    """A float32 copy in torch-allocated (64-byte aligned) memory: some CPU matmul kernels round
    differently for differently aligned operands, and the module's own parameters are torch-allocated."""
    arr = np.asarray(a)
    return torch.from_numpy(arr.astype(np.float32) if arr.dtype != np.float32 else arr).clone()


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
    # .contiguous(): torch's linear takes its fused (flattened addmm) path for contiguous input, and also for
    # strided input when the weight requires grad (a trained module); the FFT memory's output is strided.
    # synapses.linear: event-driven for sparse (spike) input on the CPU, the same kernel the zoo modules run.
    return _Fn(name, fi, fo, lambda op, x: linear(x.contiguous(), op.weight, op.bias), weight=_t(node.weight),
               bias=bias)


@register_builder(nir.Scale)
def _scale(node, name, fi, fo):
    return _Fn(name, fi, fo, lambda op, x: x * op.scale, scale=_t(node.scale))


@register_builder(nir.Flatten, Reshape)
def _reshape(node, name, fi, fo):
    return _Fn(name, fi, fo, lambda op, x: x.reshape(x.shape[0], x.shape[1], *op.out_shape))


@register_builder(nir.Conv1d, nir.Conv2d)
def _conv(node, name, fi, fo):
    conv = F.conv1d if isinstance(node, nir.Conv1d) else conv2d  # synapses.conv2d: event-driven on spikes
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
    """LI / CubaLI / I: the registry's step (per-neuron values broadcast over the neuron shape)."""

    def __init__(self, name, fi, fo, spec: LISpec) -> None:
        super().__init__(name, fi, fo)
        self.params = spec.params()

    def forward(self, x, state):
        return registry.li_sequence(x, self.params, state)


@register_builder(nir.LIF, nir.CubaLIF, nir.LI, nir.IF, nir.I, nir.CubaLI, nir.Threshold)
def _neuron(node, name, fi, fo):
    spec = spec_from_nir(node, name)
    return _LI(name, fi, fo, spec) if isinstance(spec, LISpec) else _Neuron(name, fi, fo, spec)


#: the float reference runs every neuron kind with a registry step (LIF / CuBa / LI through their NIR
#: nodes' builder, every other kind through its ``neuromap.Neuron`` node); units (EGRU, attention) run
#: through the builders their modules register (``register_builder``)
IMPLEMENTATIONS = Implementations("torch")


@IMPLEMENTATIONS.implements(ANY_STEP, numerics="fp32")
class _Registered(NodeOp):
    """A registry neuron kind without a NIR node (``neuromap.Neuron``, e.g. ALIF): its registry step."""

    def __init__(self, name, fi, fo, node: Neuron) -> None:
        super().__init__(name, fi, fo)
        self.model, self.params = registered_params(node, name)

    def forward(self, x, state):
        return self.model.sequence(x, self.params, state)


@register_builder(Neuron)
def _registered(node, name, fi, fo):
    return _Registered(name, fi, fo, node)


class _Delay(NodeOp):
    """``y[t] = x[t - d]`` per element (zeros before the start); the state is the last ``max(d)`` steps."""

    def __init__(self, name, fi, fo, steps: np.ndarray) -> None:
        super().__init__(name, fi, fo)
        self.depth = int(steps.max()) if steps.size else 0
        self.uniform = bool(np.all(steps == self.depth))
        self.register_buffer("lag", torch.from_numpy(np.broadcast_to(steps, fi).reshape(-1).astype(np.int64)))

    def forward(self, x, state):
        if self.depth == 0:
            return x, state
        buf = torch.zeros(self.depth, *x.shape[1:], dtype=x.dtype, device=x.device) if state is None else state
        full = torch.cat([buf, x])
        T = x.shape[0]
        if self.uniform:
            return full[:T], full[T:]
        flat = full.reshape(full.shape[0], x.shape[1], -1)
        t = torch.arange(T, device=x.device).view(T, 1, 1) + self.depth - self.lag.to(x.device).view(1, 1, -1)
        y = flat.gather(0, t.expand(T, x.shape[1], flat.shape[2]))
        return y.reshape(x.shape), full[T:]


def graph_problems(graph: Graph) -> list[str]:
    out = []
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            continue
        if isinstance(node, nir.Delay):
            try:
                delay_steps(node, name, float(graph.metadata.get("dt", 1e-3)))
            except GraphError as exc:
                out.append(str(exc))
            continue
        if builder(node) is None:
            out.append(
                f"node {name!r} ({type_name(node)}): not supported by the torch backend; supported: "
                f"{sorted(t.__name__ for t in BUILDERS)}"
            )
        elif is_neuron(node) and not isinstance(node, Neuron) and not has_spec(node):
            out.append(f"node {name!r} ({type_name(node)}): no discrete neuron parameters; import it with "
                       f"neuromap.graph.from_nir(..., convention='nir'|'snntorch'|'norse', dt=...)")
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
                self.ops[name] = builder(node)(node, name, fi, fo).to(self.device)
        self.preds = {n: graph.predecessors(n) for n in graph.nodes}
        # neurons and units (attention, pooling, ...): every population of the lowered graph but inputs
        # and outputs, so that an activity count (neuromap.energy.collect) finds the sources it needs
        self.recorded = [n for n in self.order if is_neuron(graph.nodes[n]) or is_unit(graph.nodes[n])]
        # a reducing unit's population holds its input (max pooling: the values it pools); record that
        self.record_input = {n for n in self.recorded if is_unit(graph.nodes[n])
                             and graph.nodes[n].population_shape(*graph.shapes[n]) != tuple(graph.shapes[n][1])}

    def _inputs(self, inputs: Any) -> dict[str, torch.Tensor]:
        xs = check_inputs(inputs, {n: self.graph.shapes[n][1] for n in self.graph.inputs})
        return {n: x.to(self.device) for n, x in xs.items()}

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
        records = {n: self._sum(n, values, None) if n in self.record_input else values[n] for n in self.recorded}
        return RunResult(outputs=outputs, records=records, wall_seconds=wall, backend=NAME)

    def _run_steps(self, xs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Step by step; a recurrent population that the compiled loop can run (:meth:`_islands`) runs in one
        call, once the nodes its input comes from have run, and the rest after it."""
        ref = next(iter(xs.values()))
        islands = self._islands() if ref.dtype == torch.float32 and ref.device.type == "cpu" else {}
        done = dict(xs)
        g = self.graph.to_networkx()
        for neuron, (syn, delay) in islands.items():
            g_open = g.copy()
            g_open.remove_node(syn)
            upstream = nx.ancestors(g_open, neuron)
            done.update(self._steps([n for n in self.order if n in upstream and n not in done], done))
            done[neuron] = self._run_island(neuron, syn, delay, done)
        skip = {syn for syn, _ in islands.values()}
        done.update(self._steps([n for n in self.order if n not in done and n not in skip], done))
        return done

    def _steps(self, nodes: list[str], done: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run ``nodes`` step by step; the sequences in ``done`` are their other inputs."""
        if not nodes:
            return {}
        ref = next(iter(done.values()))
        T, B = ref.shape[:2]

        def zeros(n: str) -> torch.Tensor:
            return torch.zeros(1, B, *self.graph.shapes[n][1], dtype=ref.dtype, device=ref.device)

        prev = {n: zeros(n) for n in self.graph.nodes}
        states: dict[str, Any] = {n: None for n in nodes}
        seqs: dict[str, list[torch.Tensor]] = {n: [] for n in nodes}
        for t in range(T):
            cur = {n: x[t:t + 1] for n, x in done.items()}
            for name in nodes:
                cur[name], states[name] = self.ops[name](self._sum(name, cur, prev), states[name])
                seqs[name].append(cur[name])
            prev = cur
        return {n: torch.cat(v) for n, v in seqs.items()}

    def _islands(self) -> dict[str, tuple[str, int]]:
        """LIF / CuBa nodes whose only recurrence is a self-loop through one digital synapse node of their
        own (a traced reservoir: ``SparseLinear``, or a bias-free ``Linear`` this backend computes exactly),
        with scalar parameters: ``{neuron: (synapse node, delay in steps)}``, in topological order. The
        compiled loop (:mod:`neuromap.neurons.recurrent`) runs each in one call."""
        from neuromap.neurons import recurrent

        g = self.graph.to_networkx()
        out = {}
        for n in self.order:
            op = self.ops[n]
            if not isinstance(op, _Neuron) or op.overrides or recurrent.unsupported(op.params, torch.float32, self.device):
                continue
            for s in g.successors(n):
                node = self.graph.nodes[s]
                digital = isinstance(node, ext.SparseLinear) or (type(node) is nir.Linear and isinstance(self.ops[s], _Fn))
                if not digital or set(g.predecessors(s)) != {n} or set(g.successors(s)) != {n} or s in self.graph.outputs:
                    continue
                delay = int((n, s) in self.delayed) + int((s, n) in self.delayed)
                g_open = g.copy()
                g_open.remove_node(s)
                if delay and not any(nx.has_path(g_open, n, p) for p in self.preds[n] if p != s):
                    out[n] = (s, delay)
                    break
        return out

    def _run_island(self, neuron: str, syn: str, delay: int, done: dict[str, torch.Tensor]) -> torch.Tensor:
        """The population ``neuron`` with its self-loop through ``syn`` in one call of the compiled loop; its
        other inputs (summed in edge order, as :meth:`_sum`) are the drive."""
        from neuromap.neurons import initial_state, recurrent

        ref = next(iter(done.values()))
        T, B = ref.shape[:2]
        shape = self.graph.shapes[neuron][1]
        n = int(np.prod(shape))
        drive = None
        for p in self.preds[neuron]:
            if p == syn:
                continue
            v = done[p]
            if (p, neuron) in self.delayed:
                v = torch.cat([torch.zeros_like(v[:1]), v[:-1]])
            drive = v if drive is None else drive + v
        node = self.graph.nodes[syn]
        W = node.to_scipy() if isinstance(node, ext.SparseLinear) else sp.csr_matrix(np.asarray(node.weight, np.float32))
        fan = recurrent.FanOut.from_csr(W, None if delay == 1 else np.full(W.nnz, delay))
        params = self.ops[neuron].params
        drive = None if drive is None else drive.reshape(T, B, n).to(torch.float32).contiguous()
        out = recurrent.run(fan, params, initial_state(params, (B, n)), T, drive)
        return out.raster.to(torch.float32).reshape(T, B, *shape)


class TorchBackend:
    """The float reference backend (``backends.get("torch")``): software on a CPU or GPU, so it runs
    conventional targets (the report's ``cpu`` by default)."""

    name = NAME
    default_target = "cpu"
    target_kinds = ("conventional",)
    implementations = IMPLEMENTATIONS

    def unsupported(self, graph: Graph) -> list[str]:
        return graph_problems(graph)

    def compile(self, graph: Graph, target: Any = None, device: str | torch.device = "cpu") -> TorchCompiled:
        """Prepare ``graph`` on ``device`` (``target``, when given, must be a kind it runs: it prices the run)."""
        if target is not None:
            load_target(self, target)
        if not isinstance(graph, Graph):
            raise TypeError(f"compile() needs a neuromap Graph, got {type(graph).__name__}")
        problems = graph_problems(graph)
        if problems:
            raise BackendError("torch backend cannot run this graph:\n  " + "\n  ".join(problems))
        return TorchCompiled(graph, device)


BACKEND = TorchBackend()


def compile(graph: Graph, target: Any = None, device: str | torch.device = "cpu") -> TorchCompiled:  # noqa: A001
    """Module-level shortcut for ``BACKEND.compile``."""
    return BACKEND.compile(graph, target, device)


# --- the generic extension nodes (neuromap.graph.extension_nodes) ----------------------------------------------
# Each op computes exactly what the traced module computes (same torch calls in the same order).


@register_builder(ext.MaxPool2d)
def _maxpool(node, name, fi, fo):
    k, s, p = (tuple(int(v) for v in a) for a in (node.kernel_size, node.stride, node.padding))
    return _Fn(name, fi, fo, lambda op, x: op.split(F.max_pool2d(op.merged(x), k, s, p), x))


@register_builder(ext.Permute)
def _permute(node, name, fi, fo):
    perm = (0, 1, *(int(p) + 2 for p in node.perm))
    return _Fn(name, fi, fo, lambda op, x: x.permute(*perm))


@register_builder(ext.Place)
def _place(node, name, fi, fo):
    where = (slice(None), slice(None), *node.slices(fi))

    def fn(op, x):
        out = x.new_zeros(x.shape[0], x.shape[1], *op.out_shape)
        out[where] = x
        return out

    return _Fn(name, fi, fo, fn)


@register_builder(ext.Mean)
def _mean(node, name, fi, fo):
    axis = int(node.axis) + 2
    return _Fn(name, fi, fo, lambda op, x: x.mean(axis))


_ACTIVATION_FNS = {"relu": torch.relu, "tanh": torch.tanh, "gelu": F.gelu}


@register_builder(ext.Activation)
def _activation(node, name, fi, fo):
    fn = _ACTIVATION_FNS[node.function]
    return _Fn(name, fi, fo, lambda op, x: fn(x))


@register_builder(ext.AxisLinear)
def _axis_linear(node, name, fi, fo):
    # ``x @ W.T`` with W's transposed view, as L2MU computes ``s_m @ A_bar.T`` (matmul folds the leading axes)
    return _Fn(name, fi, fo, lambda op, x: x @ op.weight.T, weight=_t(node.weight))


@register_builder(ext.Outer)
def _outer(node, name, fi, fo):
    return _Fn(name, fi, fo, lambda op, x: x.unsqueeze(-1) * op.vector, vector=_t(node.vector))


@register_builder(ext.SparseLinear)
def _sparse_linear(node, name, fi, fo):
    csr = node.to_scipy()
    weight = torch.sparse_csr_tensor(torch.from_numpy(csr.indptr.astype(np.int64)),
                                     torch.from_numpy(csr.indices.astype(np.int64)),
                                     torch.from_numpy(csr.data.astype(np.float32)), size=csr.shape, check_invariants=True)

    class _Sparse(NodeOp):
        def forward(self, x, state):
            rows = x.reshape(-1, x.shape[-1]).to(torch.float32)
            y = torch.sparse.mm(weight.to(x.device), rows.t()).t().to(x.dtype)
            return y.reshape(*x.shape[:-1], y.shape[-1]), state

    return _Sparse(name, fi, fo)


class _Attention(NodeOp):
    """Any :class:`~neuromap.graph.extension_nodes.AttentionUnit` on stacked ``(3, N, C)`` input: the node's
    ``mix(q, k, v)`` into its LIF (state kept across calls), then its ``output(q, spikes)``."""

    def __init__(self, name, fi, fo, node) -> None:
        super().__init__(name, fi, fo)
        params, beta, v_th = ext.parse_neuron(node.neuron)
        self.params = params_from_dict(params)
        self.surrogate = as_surrogate("fast_sigmoid", None)
        self.overrides = {k: torch.from_numpy(v) for k, v in (("beta", beta), ("v_th", v_th)) if v is not None}
        # a registered neuron kind other than LIF (e.g. the IE-LIF of neuromap.neurons.ielif) runs its own step
        self.model = registry.for_neuron_params(self.params)
        if self.model is not None:
            self.typed = SpikingParams(self.params, beta=beta, v_th=v_th)
        self.node = node

    def forward(self, x, state):
        q, k, v = x[:, :, 0], x[:, :, 1], x[:, :, 2]
        mixed = self.node.mix(q, k, v)
        if self.model is not None:
            s, state = self.model.sequence(mixed, self.typed, state)
        else:
            s, _, state = neuron_sequence(mixed, self.params, self.surrogate, state, **self.overrides)
        return self.node.output(q, s), state


@register_builder(ext.AttentionUnit)
def _attention(node, name, fi, fo):
    return _Attention(name, fi, fo, node)


class _TemporalConv(NodeOp):
    def __init__(self, name, fi, fo, node) -> None:
        super().__init__(name, fi, fo)
        self.register_buffer("weight", _t(node.weight))
        self.register_buffer("bias", _t(node.bias))
        self.left, self.right = node.pad_left, node.pad_right

    def forward(self, x, state):
        if state is None:  # the whole sequence: the module's own ops
            y = F.pad(x.permute(1, 2, 0), (self.left, self.right))
            y = F.conv1d(y, self.weight, self.bias).permute(2, 0, 1)
            return y, x[x.shape[0] - self.left:] if self.left else None
        if self.right:
            raise BackendError(f"node {self.node_name!r} (TemporalConv1d) looks ahead; it cannot run step by step")
        full = torch.cat([state, x])
        y = F.conv1d(full.permute(1, 2, 0), self.weight, self.bias).permute(2, 0, 1)
        return y, full[full.shape[0] - self.left:]


@register_builder(ext.TemporalConv1d)
def _temporal_conv(node, name, fi, fo):
    return _TemporalConv(name, fi, fo, node)


