"""Lowering: ``Graph -> Netlist`` (populations of neurons, projections of synapses).

* Populations: every neuron node (LIF -> ``lif``, CubaLIF -> ``cuba``, LI -> ``li``, other NIR neurons
  -> ``other``), one ``input`` population per graph Input, and an ``identity`` (non-spiking)
  population for an Output fed by synapses with no neuron in between.
* Projections: every path of synaptic nodes from one population to the next. A path with a single
  Affine/Linear is a ``dense`` projection (weight ``[dst.size, src.size]``, flattening is only a
  relabelling of neurons in row-major order); a single Conv is a ``conv`` projection (``ConvGeometry``
  + the kernel; Conv1d as ``H = 1``); a path of reshapes and delays only is ``identity``.
  Everything else is composed into one matrix: pooling is **not** free on neuromorphic hardware, so
  ``AvgPool``/``SumPool`` become synapses — a ``sparse`` projection with one synapse per
  (input, output) pair in each window, weight ``1/(kh kw)`` (average) or 1 (sum); a pool after a conv,
  or a Scale, is multiplied into the composed matrix (``dense`` when an Affine is involved).
* Biases are per target neuron (``[dst.size]``, conv biases repeated over positions); ``nir.Delay``
  nodes on the path add their steps (``graph.metadata["dt"]``) to ``Projection.delay``.
* Recurrent connections (a path from a population back to itself) are self-loops.
"""

from __future__ import annotations

import nir
import numpy as np
import scipy.sparse as sp

from neuromap.netlist import ConvGeometry, Netlist, Population, Projection
from neuromap.neurons import registry

from .errors import GraphError
from .graph import Graph
from .neuron import has_spec, population_params, registered_params, spec_from_nir
from .nodes import AvgPool1d, Neuron, Reshape, is_neuron, type_name
from .shapes import conv_padding
from .zoo_lower import is_unit, unit_population, unit_projections, zoo_op_matrix


def _size(shape) -> int:
    return int(np.prod(shape))


def _vec(v, n: int) -> tuple[int, ...]:
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


def _geometry(node, fi, fo) -> tuple[ConvGeometry, np.ndarray]:
    """Conv / pool node -> (2-D geometry, kernel ``[C_out, C_in/groups, kh, kw]``)."""
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        n = 1 if isinstance(node, nir.Conv1d) else 2
        pad, stride, dil = conv_padding(node, fi[1:]), _vec(node.stride, n), _vec(node.dilation, n)
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
        k, s, p = _vec(node.kernel_size, 2), _vec(node.stride, 2), _vec(node.padding, 2)
        fi3, fo3 = tuple(fi), tuple(fo)
        avg = isinstance(node, nir.AvgPool2d)
    c = fi3[0]
    w = np.full((c, 1, k[0], k[1]), 1.0 / (k[0] * k[1]) if avg else 1.0)
    return ConvGeometry(fi3, fo3, tuple(k), tuple(s), tuple(p), (1, 1), c), w


def _op_matrix(node, name: str, fi, fo) -> tuple[sp.csr_matrix, np.ndarray | None]:
    """One synaptic node as ``(matrix [out, in], bias [out] or None)``."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        b = np.asarray(node.bias, dtype=np.float64) if isinstance(node, nir.Affine) else None
        return sp.csr_matrix(np.asarray(node.weight, dtype=np.float64)), b
    if isinstance(node, (nir.Conv1d, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d, AvgPool1d)):
        geo, w = _geometry(node, fi, fo)
        bias = None
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            bias = np.repeat(np.asarray(node.bias, dtype=np.float64), _size(fo[1:]))
        return conv_matrix(np.asarray(w, dtype=np.float64), geo), bias
    if isinstance(node, nir.Scale):
        return sp.diags(np.broadcast_to(np.asarray(node.scale, dtype=np.float64), fi).reshape(-1)).tocsr(), None
    zoo = zoo_op_matrix(node, fi, fo)
    if zoo is not None:
        return zoo, None
    raise GraphError(f"lower: node {name!r} ({type_name(node)}) cannot be part of a projection")


def _delay(node: nir.Delay, name: str, dt: float) -> int:
    d = np.asarray(node.delay, dtype=np.float64).reshape(-1)
    steps = np.rint(d / dt)
    if not np.all(d == d[0]) or not np.allclose(steps * dt, d, rtol=1e-6, atol=1e-12):
        raise GraphError(f"lower: node {name!r} (Delay): delays must be one multiple of dt={dt} s")
    return int(steps[0])


def _population(graph: Graph, name: str) -> Population:
    node = graph.nodes[name]
    shape = graph.shapes[name][1]
    if isinstance(node, nir.Input):
        return Population(name, "input", shape, {}, True, {"node": name})
    meta = {"node": name, "type": type_name(node)}
    if isinstance(node, Neuron):
        model, params = registered_params(node, name)
        return Population(name, model.kind, shape, params, model.spiking, meta)
    spiking = not isinstance(node, (nir.LI, nir.CubaLI, nir.I))
    params = population_params(spec_from_nir(node, name)) if has_spec(node) else None
    model = registry.by_nir_type(type_name(node))
    kind = model.kind if model is not None else "other"
    return Population(name, kind, shape, params if model is not None else {}, spiking, meta)


def lower(graph: Graph) -> Netlist:
    """The :class:`~neuromap.netlist.Netlist` of ``graph`` (see the module docstring for the rules)."""
    net = Netlist(name=str(graph.metadata.get("model", "graph")))
    dt = float(graph.metadata.get("dt", 1e-3))
    pops = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input) or is_neuron(v) or is_unit(v)]
    for n in pops:
        unit = is_unit(graph.nodes[n])
        net.add_population(unit_population(graph, n) if unit else _population(graph, n))
    paths: list[tuple[str, list[str], str]] = []
    for src in pops:
        stack: list[tuple[str, list[str]]] = [(s, []) for s in graph.successors(src)]
        while stack:
            node, via = stack.pop()
            if node in pops:
                paths.append((src, via, node))
            elif isinstance(graph.nodes[node], nir.Output):
                if any(not isinstance(graph.nodes[v], (nir.Flatten, Reshape, nir.Delay)) for v in via):
                    if node not in net.graph:
                        net.add_population(Population(node, "identity", graph.shapes[node][1], {}, False, {"node": node}))
                    paths.append((src, via, node))
            elif node in via:
                raise GraphError(f"lower: cycle through synaptic nodes at {node!r}")
            else:
                stack += [(s, via + [node]) for s in graph.successors(node)]
    for src, via, dst in sorted(paths, key=lambda p: (p[0], p[2], p[1])):
        name = "/".join([src, *via, dst]) if via else f"{src}->{dst}"
        for proj in unit_projections(graph, name, src, via, dst, dt, _projection):
            net.add_projection(proj)
    for n in pops:
        if is_unit(graph.nodes[n]):
            for proj in unit_projections(graph, f"{n}->{n}", n, None, n, dt, _projection):
                net.add_projection(proj)
    return net


def _projection(graph: Graph, name: str, src: str, via: list[str], dst: str, dt: float) -> Projection:
    delay = sum(_delay(graph.nodes[v], v, dt) for v in via if isinstance(graph.nodes[v], nir.Delay))
    ops = [v for v in via if not isinstance(graph.nodes[v], (nir.Flatten, Reshape, nir.Delay))]
    meta = {"path": list(via), "ops": [type_name(graph.nodes[v]) for v in ops]}
    n_src, n_dst = _size(graph.shapes[src][1]), _size(graph.shapes[dst][1])
    if not ops:
        return Projection(name, src, dst, "identity", delay=delay, meta={**meta, "size": n_src})
    if len(ops) == 1:
        node, (fi, fo) = graph.nodes[ops[0]], graph.shapes[ops[0]]
        if isinstance(node, (nir.Affine, nir.Linear)):
            bias = np.asarray(node.bias) if isinstance(node, nir.Affine) else None
            return Projection(name, src, dst, "dense", weight=np.asarray(node.weight), bias=bias, delay=delay, meta=meta)
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            geo, w = _geometry(node, fi, fo)
            bias = np.repeat(np.asarray(node.bias), _size(fo[1:]))
            return Projection(name, src, dst, "conv", weight=w, bias=bias, conv=geo, delay=delay, meta=meta)
    m = sp.identity(n_src, format="csr")
    b = np.zeros(n_src)
    has_bias = False
    for v in ops:
        mat, bias = _op_matrix(graph.nodes[v], v, *graph.shapes[v])
        m = (mat @ m).tocsr()
        b = mat @ b
        if bias is not None:
            b, has_bias = b + bias, True
    dense = any(isinstance(graph.nodes[v], (nir.Affine, nir.Linear)) for v in ops)
    m.eliminate_zeros()
    weight = m.toarray() if dense else m
    assert weight.shape == (n_dst, n_src)
    return Projection(name, src, dst, "dense" if dense else "sparse", weight=weight, bias=b if has_bias else None,
                      delay=delay, meta=meta)
