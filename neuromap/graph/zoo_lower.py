"""Lowering of the zoo's extension nodes (:mod:`.zoo_nodes`) to populations and projections.

* Units become populations: ``SDSA`` / ``SDSA3`` -> ``other`` (spiking; shape ``(N, C)``, one
  projection per input port q, k, v with ``meta["port"]``), ``LMUMemory`` -> ``other`` non-spiking
  ``(channels, order)`` with a dense self-loop ``kron(I, A_bar)`` (``meta["role"] = "recurrent"``)
  and ``B_bar`` multiplied into every incoming projection (a self-loop reads the previous step, as
  every recurrent projection of a netlist; its ``delay`` adds steps on top, here 0); ``EGRU`` -> ``egru`` (graded events,
  params ``theta``, ``zoneout``) with one projection per gate and role (``meta = {"gate": z|r|g,
  "role": input|recurrent}``, recurrent ones self-loops); ``MaxPool2d`` / ``Activation`` ->
  non-spiking ``other`` / ``relu`` populations.
* Synaptic ops: ``Permute``, ``Place``, ``Mean``, ``SparseLinear``, ``AxisLinear`` (block diagonal
  ``kron(I, weight)``) and ``Outer`` (``kron(I, vector)``) are sparse matrices composed
  into the path's matrix (a reservoir's ``SparseLinear`` self-loop stays a CSR ``sparse``
  projection); a ``TemporalConv1d`` becomes one projection per tap, tap ``j`` delayed by
  ``pad_left - j`` steps (a look-ahead tap cannot be lowered).
"""

from __future__ import annotations

from collections.abc import Callable

import nir
import numpy as np
import scipy.sparse as sp

from neuromap.netlist import Population, Projection
from neuromap.neurons.registry import EGRUParams

from .errors import GraphError
from .nodes import Reshape, type_name
from .synapses import delay_steps, op_matrix, register_op_matrix
from .zoo_nodes import (
    EGRU,
    SDSA,
    SDSA3,
    UNIT_TYPES,
    Activation,
    AxisLinear,
    LMUMemory,
    Mean,
    Outer,
    Permute,
    Place,
    SparseLinear,
    TemporalConv1d,
)


def is_unit(node) -> bool:
    return isinstance(node, UNIT_TYPES)


def unit_population(graph, name: str) -> Population:
    node = graph.nodes[name]
    shape = graph.shapes[name][1]
    meta = {"node": name, "type": type_name(node)}
    if isinstance(node, (SDSA, SDSA3)):
        return Population(name, "other", shape, {"heads": node.heads}, True, meta)
    if isinstance(node, LMUMemory):
        return Population(name, "other", shape, {"order": node.order, "channels": node.channels, "mode": node.mode},
                          False, {**meta, "lmu_memory": True})
    if isinstance(node, EGRU):
        return Population(name, "egru", shape, EGRUParams(np.asarray(node.threshold), float(node.zoneout)), False,
                          {**meta, "graded_events": True})
    if isinstance(node, Activation):
        relu = node.function == "relu"
        return Population(name, "relu" if relu else "other", shape, {} if relu else {"function": node.function},
                          False, meta)
    return Population(name, "other", shape, {}, False, meta)  # MaxPool2d


def _index(shape) -> np.ndarray:
    return np.arange(int(np.prod(shape))).reshape(shape)


@register_op_matrix
def zoo_op_matrix(node, fi, fo) -> sp.csr_matrix | None:
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


def _compose(graph, ops: list[str], n: int, op_matrix) -> tuple[sp.csr_matrix, np.ndarray, bool]:
    m, b, has_bias = sp.identity(n, format="csr"), np.zeros(n), False
    for v in ops:
        mat, bias = op_matrix(graph.nodes[v], v, *graph.shapes[v])
        m, b = (mat @ m).tocsr(), mat @ b
        if bias is not None:
            b, has_bias = b + bias, True
    return m, b, has_bias


def _self_loops(graph, name: str) -> list[Projection]:
    node = graph.nodes[name]
    if isinstance(node, LMUMemory):
        w = np.kron(np.eye(node.channels), np.asarray(node.A_bar, dtype=np.float64))
        return [Projection(f"{name}->{name}/A_bar", name, name, "dense", weight=w,
                           meta={"role": "recurrent", "lmu": "A_bar"})]
    if isinstance(node, EGRU):
        return [Projection(f"{name}->{name}/recurrent/{g}", name, name, "dense", weight=w,
                           bias=b if node.bias else None, meta={"gate": g, "role": "recurrent"})
                for g, w, b in zip("zrg", np.split(node.weight_hh, 3), np.split(node.bias_hh, 3))]
    return []


def unit_projections(graph, name: str, src: str, via: list[str] | None, dst: str, dt: float,
                     base: Callable) -> list[Projection]:
    """The projections of one path (``via is None``: the self-loops of unit ``src``)."""
    if via is None:
        return _self_loops(graph, src)
    dnode = graph.nodes[dst]
    convs = [v for v in via if isinstance(graph.nodes[v], TemporalConv1d)]
    special = isinstance(dnode, (SDSA, SDSA3, LMUMemory, EGRU))
    if not convs and not special:
        return [base(graph, name, src, via, dst, dt)]
    if len(convs) > 1:
        raise GraphError(f"lower: path {name!r} has several temporal convolutions")
    delay = sum(delay_steps(graph.nodes[v], v, dt) for v in via if isinstance(graph.nodes[v], nir.Delay))
    ops = [v for v in via if not isinstance(graph.nodes[v], (nir.Flatten, Reshape, nir.Delay))]
    meta: dict = {"path": list(via), "ops": [type_name(graph.nodes[v]) for v in ops]}
    if isinstance(dnode, (SDSA, SDSA3)):
        if not ops or not isinstance(graph.nodes[ops[-1]], Place):
            raise GraphError(f"lower: path {name!r} into attention {dst!r} does not end in a port (Place)")
        meta["port"] = "qkv"[int(graph.nodes[ops[-1]].offset[0])]
        ops = ops[:-1]
    n_src = int(np.prod(graph.shapes[src][1]))
    taps: list[tuple[sp.csr_matrix, np.ndarray, bool, int]] = []
    if convs:
        k = ops.index(convs[0])
        conv = graph.nodes[convs[0]]
        mb, bb, hb = _compose(graph, ops[:k], n_src, op_matrix)
        ma, ba, ha = _compose(graph, ops[k + 1:], conv.weight.shape[0], op_matrix)
        w = np.asarray(conv.weight, dtype=np.float64)
        for j in range(w.shape[2]):
            lag = conv.pad_left - j
            if lag < 0:
                raise GraphError(f"lower: temporal conv {convs[0]!r} looks {-lag} step(s) ahead; hardware cannot")
            tap = sp.csr_matrix(w[:, :, j])
            bias = ma @ (np.asarray(conv.bias, dtype=np.float64) + w.sum(axis=2) @ bb) + ba if lag == 0 else None
            taps.append(((ma @ tap @ mb).tocsr(), bias if bias is not None else np.zeros(ma.shape[0]),
                         lag == 0, delay + lag))
    else:
        m, b, hb = _compose(graph, ops, n_src, op_matrix)
        taps.append((m, b, hb, delay))
    out: list[Projection] = []
    for t, (m, b, has_bias, d) in enumerate(taps):
        tag = f"{name}/tap{t}" if len(taps) > 1 else name
        tmeta = {**meta, "tap": t} if len(taps) > 1 else meta
        if isinstance(dnode, LMUMemory):
            enc = sp.csr_matrix(np.kron(np.eye(dnode.channels), np.asarray(dnode.B_bar, dtype=np.float64)[:, None]))
            out.append(Projection(tag, src, dst, "dense", weight=(enc @ m).toarray(), bias=enc @ b if has_bias else None,
                                  delay=d, meta={**tmeta, "role": "input", "lmu": "B_bar"}))
        elif isinstance(dnode, EGRU):
            for g, w, bg in zip("zrg", np.split(dnode.weight_ih, 3), np.split(dnode.bias_ih, 3)):
                w64 = np.asarray(w, dtype=np.float64)
                bias = (w64 @ b if has_bias else 0) + (np.asarray(bg, dtype=np.float64) if dnode.bias else 0)
                out.append(Projection(f"{tag}/input/{g}", src, dst, "dense", weight=np.asarray(m.T @ w64.T).T,
                                      bias=bias if has_bias or dnode.bias else None, delay=d,
                                      meta={**tmeta, "gate": g, "role": "input"}))
        else:
            dense = bool(convs) or any(isinstance(graph.nodes[v], (nir.Affine, nir.Linear)) for v in ops)
            m.eliminate_zeros()
            out.append(Projection(tag, src, dst, "dense" if dense else "sparse", weight=m.toarray() if dense else m,
                                  bias=b if has_bias else None, delay=d, meta=tmeta))
    return out
