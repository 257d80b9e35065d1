"""Synaptic nodes as matrices, written once for the lowering and every backend that needs them.

* :func:`conv_geometry`: a Conv1d / Conv2d / pooling node as 2-D :class:`ConvGeometry` plus its kernel
  ``[C_out, C_in/groups, kh, kw]`` (1-D as ``H = 1``; average pooling is a grouped conv of ``1/(kh kw)``);
* :func:`conv_matrix`: a convolution as a sparse ``[out, in]`` matrix (zero padding);
* :func:`op_matrix`: any synaptic node as ``(matrix, bias)``; extension nodes register theirs with
  :func:`register_op_matrix` (the zoo's layout and synapse nodes do);
* :func:`delay_steps`: a ``nir.Delay`` in whole time steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import nir
import numpy as np
import scipy.sparse as sp

from neuromap.netlist import ConvGeometry

from .errors import GraphError
from .nodes import AvgPool1d, type_name
from .shapes import conv_padding

# Extension nodes' matrices: ``fn(node, in_shape, out_shape) -> csr [out, in] or None`` (not mine).
OP_MATRICES: list[Callable] = []


def register_op_matrix(fn: Callable) -> Callable:
    """Decorator: ``fn(node, in_shape, out_shape)`` returns the matrix of the extension nodes it knows."""
    if fn not in OP_MATRICES:
        OP_MATRICES.append(fn)
    return fn


def size(shape) -> int:
    return int(np.prod(shape))


def vec(v, n: int) -> tuple[int, ...]:
    a = np.asarray(v).reshape(-1)
    return tuple(int(x) for x in (np.repeat(a, n) if a.size == 1 else a))


def conv_matrix(weight: np.ndarray, geo: ConvGeometry) -> sp.csr_matrix:
    """A 2-D convolution as a sparse ``[C_out*H_out*W_out, C_in*H_in*W_in]`` matrix (zero padding)."""
    co, cig, kh, kw = weight.shape
    c_in, h_in, w_in = geo.in_shape
    _, h_out, w_out = geo.out_shape
    g = geo.groups
    ch_out = np.arange(co)[:, None, None, None]
    ci = (ch_out // (co // g)) * cig + np.arange(cig)[None, :, None, None]
    oh = np.arange(h_out)[None, None, :, None]
    ow = np.arange(w_out)[None, None, None, :]
    rows, cols, vals = [], [], []
    for a in range(kh):
        for b in range(kw):
            ih = oh * geo.stride[0] - geo.padding[0] + a * geo.dilation[0]
            iw = ow * geo.stride[1] - geo.padding[1] + b * geo.dilation[1]
            shape = (co, cig, h_out, w_out)
            valid = np.broadcast_to((ih >= 0) & (ih < h_in) & (iw >= 0) & (iw < w_in), shape)
            r = np.broadcast_to(ch_out * h_out * w_out + oh * w_out + ow, shape)
            c = np.broadcast_to(ci * h_in * w_in + ih * w_in + iw, shape)
            v = np.broadcast_to(weight[:, :, a, b][:, :, None, None], shape)
            rows.append(r[valid])
            cols.append(c[valid])
            vals.append(v[valid])
    m = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(co * h_out * w_out, c_in * h_in * w_in))
    return m.tocsr()


def conv_geometry(node, fi, fo) -> tuple[ConvGeometry, np.ndarray]:
    """Conv / pool node -> (2-D geometry, kernel ``[C_out, C_in/groups, kh, kw]``)."""
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        n = 1 if isinstance(node, nir.Conv1d) else 2
        pad, stride, dil = conv_padding(node, fi[1:]), vec(node.stride, n), vec(node.dilation, n)
        w = np.asarray(node.weight)
        if n == 1:
            return ConvGeometry((fi[0], 1, fi[1]), (fo[0], 1, fo[1]), (1, w.shape[2]), (1, stride[0]), (0, pad[0]),
                                (1, dil[0]), int(node.groups)), w[:, :, None, :]
        return ConvGeometry(tuple(fi), tuple(fo), tuple(w.shape[2:]), stride, pad, dil, int(node.groups)), w
    if isinstance(node, AvgPool1d):
        k, s, p = (1, node.kernel_size), (1, node.stride), (0, node.padding)
        fi3, fo3 = (fi[0], 1, fi[1]), (fo[0], 1, fo[1])
        avg = True
    else:
        k, s, p = vec(node.kernel_size, 2), vec(node.stride, 2), vec(node.padding, 2)
        fi3, fo3 = tuple(fi), tuple(fo)
        avg = isinstance(node, nir.AvgPool2d)
    c = fi3[0]
    w = np.full((c, 1, k[0], k[1]), 1.0 / (k[0] * k[1]) if avg else 1.0)
    return ConvGeometry(fi3, fo3, tuple(k), tuple(s), tuple(p), (1, 1), c), w


def op_matrix(node, name: str, fi, fo) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """One synaptic node as ``(matrix [out, in], bias [out] or None)``: standard NIR nodes here,
    extension nodes through the functions registered with :func:`register_op_matrix`."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        b = np.asarray(node.bias, dtype=np.float64) if isinstance(node, nir.Affine) else None
        return sp.csr_matrix(np.asarray(node.weight, dtype=np.float64)), b
    if isinstance(node, (nir.Conv1d, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d, AvgPool1d)):
        geo, w = conv_geometry(node, fi, fo)
        bias = None
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            bias = np.repeat(np.asarray(node.bias, dtype=np.float64), size(fo[1:]))
        return conv_matrix(np.asarray(w, dtype=np.float64), geo), bias
    if isinstance(node, nir.Scale):
        return sp.diags(np.broadcast_to(np.asarray(node.scale, dtype=np.float64), fi).reshape(-1)).tocsr(), None
    for extension in OP_MATRICES:
        m = extension(node, fi, fo)
        if m is not None:
            return m, None
    raise GraphError(f"lower: node {name!r} ({type_name(node)}) cannot be part of a projection")


def delay_steps(node: nir.Delay, name: str, dt: float) -> np.ndarray:
    """A ``nir.Delay`` (seconds, one per element) as whole time steps of ``dt``: int64, the node's
    shape. Delays must be non-negative multiples of ``dt`` (NIR's delays are continuous; a delay
    between steps has no discrete equivalent and is refused, not rounded)."""
    d = np.asarray(node.delay, dtype=np.float64)
    steps = np.rint(d / dt)
    bad = (d < 0) | ~np.isclose(steps * dt, d, rtol=1e-6, atol=1e-12)
    if np.any(bad):
        i = np.unravel_index(int(np.argmax(bad)), d.shape) if d.ndim else ()
        raise GraphError(f"node {name!r} (Delay): delays must be non-negative multiples of dt={dt} s; "
                         f"element {tuple(int(j) for j in i)} is {d[i]:.6g} s ({d[i] / dt:.4g} steps)")
    return steps.astype(np.int64)


def uniform_delay(node: nir.Delay, name: str, dt: float) -> int | None:
    """The delay in steps when every element has the same one, else None (see :func:`delay_steps`)."""
    steps = delay_steps(node, name, dt).reshape(-1)
    return int(steps[0]) if steps.size and np.all(steps == steps[0]) else None


@dataclass(eq=False)
class DelayGroup(nir.Scale):
    """The elements of a per-element ``nir.Delay`` that share one delay: a 0/1 mask (a ``Scale``, so
    that it composes into the path's matrix) and their delay in steps. The lowering splits a path
    through such a Delay into one projection per group."""

    steps: int = 0
