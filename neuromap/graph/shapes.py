"""Per-node shape rules: the input shape a node declares and the output shape it produces.

Shapes exclude the time and batch axes (NIR's convention): a dense layer is ``(N,)``, a conv layer
``(C, L)`` or ``(C, H, W)``. ``None`` means "taken from the incoming edge".
"""

from __future__ import annotations

import math

import nir
import numpy as np

from .errors import GraphError
from .nodes import AvgPool1d, Reshape

Shape = tuple[int, ...]


def _t(a) -> Shape:
    return tuple(int(s) for s in np.asarray(a).reshape(-1))


def _pair(v, n: int) -> tuple[int, ...]:
    arr = np.asarray(v).reshape(-1)
    if arr.size == 1:
        return tuple(int(arr[0]) for _ in range(n))
    if arr.size != n:
        raise ValueError(f"expected {n} values, got {arr.tolist()}")
    return tuple(int(x) for x in arr)


def conv_out(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution / pooling along one axis (torch's floor formula)."""
    return math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1)


def padding_values(padding, kernel: Shape, dilation) -> tuple[int, ...]:
    """Numeric padding per spatial axis from a number, a sequence, ``"valid"`` (0) or ``"same"``
    (symmetric; odd effective kernels only, else ``ValueError``). Used for NIR nodes and torch modules."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * n
        dil = _pair(dilation, n)
        total = [dil[i] * (kernel[i] - 1) for i in range(n)]
        if any(t % 2 for t in total):
            raise ValueError("padding='same' with an even effective kernel is asymmetric; use explicit padding")
        return tuple(t // 2 for t in total)
    return _pair(padding, n)


def conv_padding(node: nir.Conv1d | nir.Conv2d, spatial: Shape) -> tuple[int, ...]:
    """Numeric padding per spatial axis of a NIR conv (see :func:`padding_values`)."""
    return padding_values(node.padding, tuple(node.weight.shape[2:2 + len(spatial)]), node.dilation)


def declared_input(node: nir.NIRNode) -> Shape | None:
    """Input shape fixed by the node's own parameters, or None if it comes from the edge."""
    if hasattr(node, "declared_input_shape"):
        return node.declared_input_shape()
    if isinstance(node, nir.Input):
        return _t(node.input_type["input"])
    if isinstance(node, (nir.Affine, nir.Linear)):
        return (int(node.weight.shape[1]),)
    if isinstance(node, nir.Scale):
        return _t(node.scale.shape) if np.ndim(node.scale) else None
    if isinstance(node, nir.Delay):
        return tuple(np.shape(node.delay)) or None
    if isinstance(node, (nir.LIF, nir.CubaLIF, nir.IF)):
        return tuple(np.shape(node.v_threshold)) or None
    if isinstance(node, (nir.LI, nir.CubaLI)):
        return tuple(np.shape(node.v_leak)) or None
    if isinstance(node, nir.I):
        return tuple(np.shape(node.r)) or None
    if isinstance(node, nir.Threshold):
        return tuple(np.shape(node.threshold)) or None
    if isinstance(node, nir.Conv1d) and node.input_shape is not None:
        return (int(node.weight.shape[1]) * int(node.groups), int(np.asarray(node.input_shape).reshape(-1)[0]))
    if isinstance(node, nir.Conv2d) and node.input_shape is not None:
        return (int(node.weight.shape[1]) * int(node.groups), *_pair(node.input_shape, 2))
    if isinstance(node, nir.Flatten):
        t = node.input_type.get("input") if isinstance(node.input_type, dict) else None
        return None if t is None else _t(t)
    return None


def output_shape(node: nir.NIRNode, name: str, in_shape: Shape) -> Shape:
    """Output shape of ``node`` given its input shape; raises :class:`GraphError` naming the node."""
    check_bias(node, name)
    try:
        return _output_shape(node, in_shape)
    except GraphError:
        raise
    except (ValueError, TypeError, IndexError, AssertionError) as exc:
        raise GraphError(f"node {name!r} ({type(node).__name__}): cannot take input of shape {in_shape}: {exc}") from exc


def check_bias(node: nir.NIRNode, name: str) -> None:
    """An Affine's (or convolution's) bias holds one value per output row (channel); a shorter or longer
    one would be broadcast or cut somewhere downstream, silently or with a shape error deep in a backend,
    so it is a :class:`GraphError` naming the node."""
    if not isinstance(node, (nir.Affine, nir.Conv1d, nir.Conv2d)) or getattr(node, "bias", None) is None:
        return
    out = int(np.shape(node.weight)[0]) if np.ndim(node.weight) else 0
    if tuple(np.shape(node.bias)) != (out,):
        raise GraphError(f"node {name!r} ({type(node).__name__}): bias of shape {tuple(np.shape(node.bias))} does not "
                         f"fit weight of shape {tuple(np.shape(node.weight))}: it needs one value per output ({out},)")


def _output_shape(node: nir.NIRNode, s: Shape) -> Shape:
    if hasattr(node, "infer_output"):
        return tuple(int(v) for v in node.infer_output(tuple(s)))
    if isinstance(node, (nir.Affine, nir.Linear)):
        return (int(node.weight.shape[0]),)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        n = 1 if isinstance(node, nir.Conv1d) else 2
        if np.ndim(node.weight) != n + 2:
            raise ValueError(f"its weight must be {n + 2}-D (C_out, C_in/groups, {'L' if n == 1 else 'kh, kw'}), "
                             f"got shape {tuple(np.shape(node.weight))}")
        if len(s) != n + 1:
            raise ValueError(f"expects a ({'C, L' if n == 1 else 'C, H, W'}) input")
        groups = int(node.groups)
        if s[0] != node.weight.shape[1] * groups:
            raise ValueError(f"input has {s[0]} channels, weight expects {node.weight.shape[1] * groups}")
        pad, stride, dil = conv_padding(node, s[1:]), _pair(node.stride, n), _pair(node.dilation, n)
        kernel = node.weight.shape[2:]
        out = tuple(conv_out(s[1 + i], kernel[i], stride[i], pad[i], dil[i]) for i in range(n))
        if any(o < 1 for o in out):
            raise ValueError(f"output would be empty ({out})")
        return (int(node.weight.shape[0]), *out)
    if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        if len(s) != 3:
            raise ValueError("expects a (C, H, W) input")
        k, st, p = _pair(node.kernel_size, 2), _pair(node.stride, 2), _pair(node.padding, 2)
        out = tuple(conv_out(s[1 + i], k[i], st[i], p[i], 1) for i in range(2))
        if any(o < 1 for o in out):
            raise ValueError(f"output would be empty ({out})")
        return (s[0], *out)
    if isinstance(node, AvgPool1d):
        if len(s) != 2:
            raise ValueError("expects a (C, L) input")
        out = conv_out(s[1], node.kernel_size, node.stride, node.padding, 1)
        if out < 1:
            raise ValueError(f"output would be empty ({out})")
        return (s[0], out)
    if isinstance(node, nir.Flatten):
        nd = len(s)
        start = node.start_dim + nd if node.start_dim < 0 else node.start_dim
        end = node.end_dim + nd if node.end_dim < 0 else node.end_dim
        if not (0 <= start <= end < nd):
            raise ValueError(f"start_dim={node.start_dim}, end_dim={node.end_dim} do not fit {nd} axes")
        return (*s[:start], int(np.prod(s[start:end + 1])), *s[end + 1:])
    if isinstance(node, Reshape):
        out = _t(node.shape)
        if int(np.prod(out)) != int(np.prod(s)):
            raise ValueError(f"cannot reshape {int(np.prod(s))} elements to {out}")
        return out
    # Input, Output, Scale, Delay, neurons: elementwise
    return s
