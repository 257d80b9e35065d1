"""The extension nodes models are built from: what NIR cannot express, in the style of :mod:`.nodes`.

Each node is a small typed dataclass saved by ``nir.write`` under ``"neuromap.<Class>"`` with the
same HDF5 layout as NIR's own nodes (arrays as datasets, strings as string datasets). Shapes exclude
the time and batch axes; every node knows its declared input shape (or ``None``: from the edge) and
its output shape (:meth:`declared_input_shape`, :meth:`infer_output`), which
:mod:`neuromap.graph.shapes` consults.

Layout ops: :class:`Permute` (a transpose of feature axes), :class:`Place` (write the input into a
zero tensor at an offset: the sum of several ``Place`` s into one node is a concatenation or a
stack, so multi-input ops keep NIR's "edges into a node are summed" rule), :class:`Mean`.
Units: :class:`MaxPool2d`, :class:`Activation`, and :class:`AttentionUnit`, the base of spike-driven
attention nodes (the zoo's SDSA / SDSA-3 nodes subclass it). Synapses: :class:`SparseLinear` (CSR,
never dense), :class:`TemporalConv1d`,
:class:`AxisLinear` (a matrix on the last axis), :class:`Outer` (times a vector, new last axis).

Neurons inside a unit (the attention LIF of SDSA / SDSA3) are stored in the field ``neuron`` as
JSON (``{"params": LIFParams.to_dict(), "beta": [...] | null, "v_th": [...] | null}``): JSON keeps
floats exact, and float32 overrides survive the round trip through float64 text.

Units lower themselves (:class:`~.units.Unit` methods on each class); the synaptic ones give their
matrix through :func:`extension_op_matrix`; torch builders are in :mod:`neuromap.backends.torch`. Nodes of
one model (``neuromap.SDSA``, ``neuromap.EGRU``, ``neuromap.LMUMemory``, ...) live next to the model
in the zoo, registered with :func:`~.nodes.register_node`, with their lowering and torch op; this
package never imports the zoo (a saved graph finds them through the ``neuromap.extensions`` entry point).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from neuromap.netlist import Population

from .errors import GraphError
from .matrices import register_op_matrix
from .nodes import NeuromapNode, as_text, register_node
from .units import Unit

Shape = tuple[int, ...]

ACTIVATIONS = ("relu", "tanh", "gelu")


def _ints(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.int64).reshape(-1)


def float32_array(a: Any, ndim: int | None = None, name: str = "array") -> np.ndarray:
    """``a`` as a float32 array, checked to have ``ndim`` dimensions (ValueError naming ``name``)."""
    arr = np.asarray(a, dtype=np.float32)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    return arr


class ExtensionNode(NeuromapNode):
    """Base for extension nodes in this style: no declared input by default, elementwise output;
    :meth:`set_types` fills NIR's ``input_type`` / ``output_type``."""

    def set_types(self, out: Shape | None = None) -> None:
        self.input_type = {"input": None}
        self.output_type = {"output": None if out is None else np.asarray(out, dtype=np.int64)}

    def declared_input_shape(self) -> Shape | None:
        return None

    def infer_output(self, s: Shape) -> Shape:
        return tuple(s)


def neuron_json(params: dict, beta: np.ndarray | None = None, v_th: np.ndarray | None = None) -> str:
    """The ``neuron`` field of SDSA / SDSA3: LIF parameters and optional float32 per-neuron overrides."""
    def arr(a):
        return None if a is None else [float(x) for x in np.asarray(a, dtype=np.float32).reshape(-1)]

    return json.dumps({"params": params, "beta": arr(beta), "v_th": arr(v_th)}, sort_keys=True)


def parse_neuron(text: str) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
    """``(params dict, beta or None, v_th or None)`` from a ``neuron`` field (raises ValueError)."""
    raw = json.loads(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("params"), dict):
        raise ValueError("neuron must be JSON with a 'params' object")
    over = [None if raw.get(k) is None else np.asarray(raw[k], dtype=np.float32) for k in ("beta", "v_th")]
    return raw["params"], over[0], over[1]


@dataclass(eq=False)
class MaxPool2d(ExtensionNode, Unit):
    """Max pooling of a ``(C, H, W)`` input (padding with -inf, like torch); ``kernel_size``, ``stride``, ``padding``."""

    kernel_size: np.ndarray
    stride: np.ndarray
    padding: np.ndarray

    def __post_init__(self) -> None:
        self.kernel_size, self.stride, self.padding = (_ints(v) for v in (self.kernel_size, self.stride, self.padding))
        for k, v in (("kernel_size", self.kernel_size), ("stride", self.stride), ("padding", self.padding)):
            if v.size != 2:
                raise ValueError(f"MaxPool2d {k} needs two values, got {v.tolist()}")
        if np.any(self.kernel_size < 1) or np.any(self.stride < 1) or np.any(self.padding < 0):
            raise ValueError("MaxPool2d needs kernel_size, stride >= 1 and padding >= 0")
        if np.any(2 * self.padding > self.kernel_size):
            raise ValueError("MaxPool2d padding must be at most half the kernel (torch's rule)")
        self.set_types()

    def infer_output(self, s: Shape) -> Shape:
        if len(s) != 3:
            raise ValueError("expects a (C, H, W) input")
        out = tuple((s[1 + i] + 2 * int(self.padding[i]) - int(self.kernel_size[i])) // int(self.stride[i]) + 1
                    for i in range(2))
        if any(o < 1 for o in out):
            raise ValueError(f"output would be empty ({out})")
        return (s[0], *out)

    def population_shape(self, in_shape: Shape, out_shape: Shape) -> Shape:
        """The values it pools (the input): what feeds it keeps its geometry."""
        return tuple(in_shape)

    def output_map(self, in_shape: Shape, out_shape: Shape) -> tuple[sp.csr_matrix, dict]:
        """Window membership ``[C*Ho*Wo, C*H*W]`` (ones; padding taps excluded), marked ``reduce: max``."""
        c, h, w = in_shape
        _, ho, wo = out_shape
        idx = np.arange(c * h * w).reshape(c, h, w)
        rows, cols = [], []
        out = np.arange(c * ho * wo).reshape(c, ho, wo)
        for a in range(int(self.kernel_size[0])):
            for b in range(int(self.kernel_size[1])):
                iy = np.arange(ho) * int(self.stride[0]) - int(self.padding[0]) + a
                ix = np.arange(wo) * int(self.stride[1]) - int(self.padding[1]) + b
                my, mx = (iy >= 0) & (iy < h), (ix >= 0) & (ix < w)
                sel = np.ix_(np.arange(c), np.flatnonzero(my), np.flatnonzero(mx))
                rows.append(out[sel].reshape(-1))
                cols.append(idx[np.ix_(np.arange(c), iy[my], ix[mx])].reshape(-1))
        r, cl = np.concatenate(rows), np.concatenate(cols)
        return sp.csr_matrix((np.ones(r.size), (r, cl)), shape=(c * ho * wo, c * h * w)), {"reduce": "max"}


@dataclass(eq=False)
class Permute(ExtensionNode):
    """Permute the feature axes: output axis ``i`` is input axis ``perm[i]`` (e.g. tokens ``(C, N) -> (N, C)``)."""

    perm: np.ndarray

    def __post_init__(self) -> None:
        self.perm = _ints(self.perm)
        if sorted(self.perm.tolist()) != list(range(self.perm.size)):
            raise ValueError(f"Permute needs a permutation of 0..n-1, got {self.perm.tolist()}")
        self.set_types()

    def infer_output(self, s: Shape) -> Shape:
        if len(s) != self.perm.size:
            raise ValueError(f"perm {self.perm.tolist()} does not fit {len(s)} axes")
        return tuple(s[int(i)] for i in self.perm)


@dataclass(eq=False)
class Place(ExtensionNode):
    """Write the input into a zero tensor of ``shape`` starting at ``offset`` (per axis).

    Several ``Place`` nodes feeding one node (edges are summed) express a concatenation or a stack
    (the zero padding adds nothing, exactly). The input has ``len(shape)`` axes.
    """

    shape: np.ndarray
    offset: np.ndarray

    def __post_init__(self) -> None:
        self.shape, self.offset = _ints(self.shape), _ints(self.offset)
        if self.shape.size == 0 or self.shape.size != self.offset.size or np.any(self.shape < 1) or np.any(self.offset < 0):
            raise ValueError(f"Place needs a positive shape and a non-negative offset per axis, got "
                             f"{self.shape.tolist()}, {self.offset.tolist()}")
        self.set_types(tuple(self.shape.tolist()))

    def infer_output(self, s: Shape) -> Shape:
        if len(s) != self.shape.size or any(o + n > m for o, n, m in zip(self.offset, s, self.shape)):
            raise ValueError(f"input {s} at offset {self.offset.tolist()} does not fit {self.shape.tolist()}")
        return tuple(int(v) for v in self.shape)

    def slices(self, s: Shape) -> tuple[slice, ...]:
        return tuple(slice(int(o), int(o) + int(n)) for o, n in zip(self.offset, s))


@dataclass(eq=False)
class Mean(ExtensionNode):
    """Mean over one feature axis ``axis`` (removed from the shape, as ``x.mean(axis)``)."""

    axis: int

    def __post_init__(self) -> None:
        self.axis = int(self.axis)
        if self.axis < 0:
            raise ValueError(f"Mean axis must be a non-negative feature axis, got {self.axis}")
        self.set_types()

    def infer_output(self, s: Shape) -> Shape:
        if self.axis >= len(s) or len(s) < 2:
            raise ValueError(f"axis {self.axis} does not fit {len(s)} axes (and one must remain)")
        return tuple(v for i, v in enumerate(s) if i != self.axis)


@dataclass(eq=False)
class Activation(ExtensionNode, Unit):
    """A stateless elementwise non-linearity: ``function`` in ``relu``, ``tanh``, ``gelu`` (exact erf form)."""

    function: str

    def __post_init__(self) -> None:
        self.function = as_text(self.function)
        if self.function not in ACTIVATIONS:
            raise ValueError(f"Activation function={self.function!r} is not one of {list(ACTIVATIONS)}")
        self.set_types()

    def population(self, name: str, shape: Shape) -> Population:
        relu = self.function == "relu"
        return Population(name, "relu" if relu else "other", shape, {} if relu else {"function": self.function},
                          False, self.population_meta(name))


class AttentionUnit(ExtensionNode, Unit):
    """Base of spike-driven attention nodes (the zoo's SDSA, SDSA-3, ...): input ``(3, N, C)`` (q, k, v
    stacked by :class:`Place` ports), output ``(N, C)``, an inner LIF given as the ``neuron`` JSON
    field. A subclass defines the fields ``dim``, ``heads``, ``neuron`` (and its own), calls
    :meth:`check` in ``__post_init__`` and says what it computes: :meth:`mix` (the neuron's input
    from q, k, v) and :meth:`output` (the result from q and the neuron's spikes); ``backends.torch``
    runs every subclass with one op.

    Lowered to a spiking ``other`` population ``(N, C)`` with one projection per port q, k, v
    (``meta["port"]``, from the ``Place`` that ends each incoming path).
    """

    composes_inputs = True

    def population(self, name: str, shape: Shape) -> Population:
        return Population(name, "other", shape, {"heads": self.heads}, True, self.population_meta(name))

    def input_port(self, path: str, ops: list) -> tuple[int, dict]:
        if not ops or not isinstance(ops[-1], Place):
            raise GraphError(f"lower: path {path!r} into attention does not end in a port (Place)")
        return 1, {"port": "qkv"[int(ops[-1].offset[0])]}

    def check(self) -> None:
        self.dim, self.heads, self.neuron = int(self.dim), int(self.heads), as_text(self.neuron)
        if self.dim < 1 or self.heads < 1 or self.dim % self.heads:
            raise ValueError(f"{type(self).__name__} needs heads dividing dim, got dim={self.dim}, heads={self.heads}")
        parse_neuron(self.neuron)
        self.set_types()

    def infer_output(self, s: Shape) -> Shape:
        if len(s) != 3 or s[0] != 3 or s[2] != self.dim:
            raise ValueError(f"expects stacked (3, N, {self.dim}) q, k, v")
        return (s[1], s[2])

    def mix(self, q, k, v):
        """The attention neuron's input from ``q, k, v [T, B, N, C]`` (tensors)."""
        raise TypeError(f"{type(self).__name__} is an AttentionUnit without mix(q, k, v): a subclass must say "
                        "what its neuron receives")

    def output(self, q, spikes):
        """The node's output from ``q`` and the attention neuron's spikes; default: the spikes."""
        return spikes


@dataclass(eq=False)
class AxisLinear(ExtensionNode):
    """``y = x @ weight.T`` over the last feature axis: input ``(*lead, in)``, output ``(*lead, out)``
    (``weight [out, in]``; L2MU's memory map ``S_m A_bar^T`` on ``(memory_size, order)`` spikes).

    ``nir.Linear`` acts on a flat vector; this is the same matrix applied to every row, computed as
    the module does (one ``matmul`` with the transposed weight), so the rounding is the module's.
    """

    weight: np.ndarray

    def __post_init__(self) -> None:
        self.weight = float32_array(self.weight, 2, "weight")
        if min(self.weight.shape) < 1:
            raise ValueError(f"AxisLinear needs a non-empty weight [out, in], got {self.weight.shape}")
        self.set_types()

    def infer_output(self, s: Shape) -> Shape:
        if not s or s[-1] != self.weight.shape[1]:
            raise ValueError(f"last axis must have {self.weight.shape[1]} features")
        return (*s[:-1], int(self.weight.shape[0]))


@dataclass(eq=False)
class Outer(ExtensionNode):
    """``y[..., j] = x[...] * vector[j]``: input ``s``, output ``(*s, len(vector))`` (L2MU's encoder map
    ``S_u (x) B_bar``: each spike times the memory's input vector, one product per element, exact)."""

    vector: np.ndarray

    def __post_init__(self) -> None:
        self.vector = float32_array(self.vector, 1, "vector")
        if self.vector.shape[0] < 1:
            raise ValueError("Outer needs a non-empty vector")
        self.set_types()

    def infer_output(self, s: Shape) -> Shape:
        return (*s, int(self.vector.shape[0]))


@dataclass(eq=False)
class TemporalConv1d(ExtensionNode):
    """A convolution along *time* of ``(C_in,)`` features (LMUFormer's conv embedding):
    ``y_t = bias + sum_j weight[:, :, j] x_{t - pad_left + j}`` with zeros outside the sequence.

    ``pad_left = k - 1, pad_right = 0`` is causal (tap ``j`` is a synaptic delay of ``k-1-j`` steps);
    ``pad_right > 0`` looks ahead (runs in ``backends.torch`` over whole sequences, not on hardware).
    """

    weight: np.ndarray
    bias: np.ndarray
    pad_left: int
    pad_right: int

    def __post_init__(self) -> None:
        self.weight, self.bias = float32_array(self.weight, 3, "weight"), float32_array(self.bias, 1, "bias")
        self.pad_left, self.pad_right = int(self.pad_left), int(self.pad_right)
        if self.bias.shape[0] != self.weight.shape[0] or self.pad_left < 0 or self.pad_right < 0:
            raise ValueError("TemporalConv1d needs bias [C_out] and non-negative padding")
        if self.pad_left + self.pad_right != self.weight.shape[2] - 1:
            raise ValueError("TemporalConv1d padding must add up to kernel - 1 (one output per step)")
        self.set_types((self.weight.shape[0],))

    def declared_input_shape(self) -> Shape:
        return (int(self.weight.shape[1]),)

    def infer_output(self, s: Shape) -> Shape:
        return (int(self.weight.shape[0]),)


@dataclass(eq=False)
class SparseLinear(ExtensionNode):
    """``y = W x`` with ``W [shape[0], shape[1]]`` in CSR form (``indptr``, ``indices``, ``data``), never dense:
    a reservoir's recurrent weights are O(synapses) on disk and in memory."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: np.ndarray

    def __post_init__(self) -> None:
        self.indptr, self.indices, self.shape = _ints(self.indptr), _ints(self.indices), _ints(self.shape)
        self.data = float32_array(self.data, 1, "data")
        if self.shape.size != 2 or self.indptr.size != self.shape[0] + 1 or self.indices.size != self.data.size:
            raise ValueError("SparseLinear needs indptr [rows + 1], indices and data [nnz], shape [rows, cols]")
        if self.indptr[0] != 0 or self.indptr[-1] != self.data.size or np.any(np.diff(self.indptr) < 0):
            raise ValueError("SparseLinear indptr must rise from 0 to nnz")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.shape[1]):
            raise ValueError("SparseLinear column indices out of range")
        self.set_types((int(self.shape[0]),))

    @classmethod
    def from_scipy(cls, m) -> SparseLinear:
        m = m.tocsr()
        m.sort_indices()
        return cls(indptr=m.indptr, indices=m.indices, data=m.data, shape=np.asarray(m.shape))

    def to_scipy(self):
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=tuple(int(v) for v in self.shape))

    @property
    def nnz(self) -> int:
        return int(self.data.size)

    def declared_input_shape(self) -> Shape:
        return (int(self.shape[1]),)

    def infer_output(self, s: Shape) -> Shape:
        return (int(self.shape[0]),)

    def to_dict(self) -> dict[str, Any]:
        ret = super().to_dict()
        if self.nnz == 0:  # HDF5 cannot compress empty datasets; store one explicit zero instead
            ret["indices"], ret["data"] = np.zeros(1, np.int64), np.zeros(1, np.float32)
            ret["indptr"] = np.asarray([0] + [1] * int(self.shape[0]), dtype=np.int64)
        return ret


def _index(shape) -> np.ndarray:
    return np.arange(int(np.prod(shape))).reshape(shape)


@register_op_matrix
def extension_op_matrix(node, fi, fo) -> sp.csr_matrix | None:
    """A layout / synaptic extension node as a sparse ``[out, in]`` matrix, or None."""
    n_in, n_out = int(np.prod(fi)), int(np.prod(fo))
    if isinstance(node, Permute):
        cols = _index(fi).transpose([int(p) for p in node.perm]).reshape(-1)
        return sp.csr_matrix((np.ones(n_out), (np.arange(n_out), cols)), shape=(n_out, n_in))
    if isinstance(node, Place):
        rows = _index(fo)[node.slices(fi)].reshape(-1)
        return sp.csr_matrix((np.ones(n_in), (rows, np.arange(n_in))), shape=(n_out, n_in))
    if isinstance(node, Mean):
        idx = _index(fi)
        rows = np.moveaxis(np.broadcast_to(_index(fo)[(slice(None),) * node.axis + (None,)], fi), 0, 0).reshape(-1)
        return sp.csr_matrix((np.full(n_in, 1.0 / fi[node.axis]), (rows, idx.reshape(-1))), shape=(n_out, n_in))
    if isinstance(node, SparseLinear):
        return node.to_scipy().astype(np.float64)
    if isinstance(node, AxisLinear):  # the same matrix on every row: block diagonal
        lead = n_in // int(fi[-1])
        return sp.kron(sp.identity(lead), sp.csr_matrix(np.asarray(node.weight, dtype=np.float64))).tocsr()
    if isinstance(node, Outer):  # input i -> outputs (i, j) with weight vector[j]
        vec = np.asarray(node.vector, dtype=np.float64).reshape(-1, 1)
        return sp.kron(sp.identity(n_in), sp.csr_matrix(vec)).tocsr()
    return None


for _cls in (MaxPool2d, Permute, Place, Mean, Activation, SparseLinear, AxisLinear, Outer):
    register_node(_cls)
register_node(TemporalConv1d, stateful=True)
