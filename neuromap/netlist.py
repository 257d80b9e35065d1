"""The netlist: populations (neuron groups) and projections (synapse groups) of a lowered graph.

This is the contract between the graph (``Graph.lower()``) and everything that maps or costs a
network: the partitioner, the placer, the energy estimators and the hardware backends. It is a
``networkx.MultiDiGraph`` whose *nodes are populations* and whose *edges are projections*; synapse-level
structure lives in NumPy / SciPy-sparse arrays on the edges, never in per-synapse Python objects,
so a 1-million-neuron, 100-million-synapse network is a handful of nodes and edges.

Node attributes (one population, see :class:`Population`): ``pop`` -> the Population.
Edge attributes (one projection, see :class:`Projection`): ``proj`` -> the Projection.
Recurrent projections are self-loops (``src == dst``); a self-loop reads the source's output of the
previous step (``Projection.delay`` adds steps on top of that).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from neuromap.neurons import registry

PROJECTION_KINDS = ("dense", "sparse", "conv", "identity")


@dataclass
class Population:
    """A group of neurons that share one model.

    Attributes:
        name: unique name (the Graph node it came from).
        kind: a kind of :mod:`neuromap.neurons.registry` (``input`` spike source, ``lif``, ``cuba``,
            ``alif``, ``li`` non-spiking leaky integrator, ``egru`` graded events, ``relu`` /
            ``identity`` non-spiking units, ``other``); ``model`` is its descriptor.
        shape: neuron shape (e.g. ``(128,)`` or ``(C, H, W)``); ``size`` is its product.
        params: the kind's typed parameters (``model.params_type``; a plain dict such as
            ``LIFParams.to_dict()`` is converted once), or None when not known.
        spiking: whether the outputs are binary spikes (else real-valued / graded).
        meta: anything else (source node names, ...).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    params: Any = None
    spiking: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in registry.kinds():
            raise ValueError(f"population {self.name!r}: kind={self.kind!r} is not one of {registry.kinds()}")
        self.params = self.model.coerce(self.params, self.name)
        self.shape = tuple(int(s) for s in self.shape)
        if not self.shape or any(s < 1 for s in self.shape):
            raise ValueError(f"population {self.name!r}: shape must be non-empty positive, got {self.shape}")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def model(self) -> registry.NeuronModel:
        """The registry's descriptor of this population's kind."""
        return registry.get(self.kind)

    @property
    def is_input(self) -> bool:
        """A spike / value source fed by the host (the registry's ``source`` kinds), not neurons."""
        return self.model.source


@dataclass
class ConvGeometry:
    """Geometry of a convolutional projection (2-D; 1-D convs use ``H = 1``)."""

    in_shape: tuple[int, int, int]  # (C_in, H_in, W_in)
    out_shape: tuple[int, int, int]  # (C_out, H_out, W_out)
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def synapse_count(self, weight: np.ndarray | None = None) -> int:
        """Exact number of (pre, post) connections, counting only in-bounds kernel taps (and only
        non-zero weights when ``weight [C_out, C_in/groups, kh, kw]`` is given)."""
        taps = self._valid_taps()  # [kh, kw] number of output positions each tap touches
        c_out, c_in = self.out_shape[0], self.in_shape[0]
        if weight is None:
            return int(taps.sum() * c_out * (c_in // self.groups))
        nz = (np.asarray(weight) != 0).astype(np.int64)  # [C_out, C_in/g, kh, kw]
        return int((nz * taps[None, None]).sum())

    def _valid_taps(self) -> np.ndarray:
        kh, kw = self.kernel
        out = np.zeros((kh, kw), dtype=np.int64)
        for a in range(kh):
            rows = self._count_axis(a, 0)
            for b in range(kw):
                out[a, b] = rows * self._count_axis(b, 1)
        return out

    def _count_axis(self, k: int, axis: int) -> int:
        n_out = self.out_shape[1 + axis]
        n_in = self.in_shape[1 + axis]
        pos = np.arange(n_out) * self.stride[axis] - self.padding[axis] + k * self.dilation[axis]
        return int(((pos >= 0) & (pos < n_in)).sum())

    def fan_in(self) -> int:
        """Maximum inputs to one output neuron: ``C_in/groups * kh * kw``."""
        return (self.in_shape[0] // self.groups) * self.kernel[0] * self.kernel[1]

    def fan_out(self) -> int:
        """Maximum outputs of one input neuron (upper bound from geometry)."""
        per_axis = [-(-self.kernel[i] * self.dilation[i] // self.stride[i]) for i in range(2)]
        return (self.out_shape[0] // self.groups) * per_axis[0] * per_axis[1]


class GeneratedWeights(abc.ABC):
    """Sparse weights ``[post, pre]`` generated on the fly from a seed, never held: the connectivity of a
    network too large to store (a billion synapses), for partitioning and mapping studies. A ``sparse``
    projection takes one as its ``weight``; the partitioner streams it (its compiled connectivity counts
    generate the synapses themselves). Simulators need real arrays: :meth:`tocsr` makes them (and says
    how much memory that takes)."""

    shape: tuple[int, int]

    @property
    @abc.abstractmethod
    def nnz(self) -> int:
        """Number of synapses."""

    @abc.abstractmethod
    def row_counts(self) -> np.ndarray:
        """Synapses per post neuron (``[shape[0]]``)."""

    @abc.abstractmethod
    def rows(self, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(indptr, indices)`` of the synapses of the post neurons ``post`` (in that order), generated now."""

    def col_counts(self, chunk: int = 1 << 16) -> np.ndarray:
        """Synapses per pre neuron (``[shape[1]]``), one streamed pass."""
        out = np.zeros(self.shape[1], dtype=np.int64)
        for lo in range(0, self.shape[0], chunk):
            _, idx = self.rows(np.arange(lo, min(lo + chunk, self.shape[0])))
            out += np.bincount(idx, minlength=self.shape[1])
        return out

    def tocsr(self, max_nnz: int = 200_000_000) -> sp.csr_matrix:
        """The weights as a scipy CSR matrix (unit values), refused above ``max_nnz`` synapses."""
        if self.nnz > max_nnz:
            raise MemoryError(f"{self.nnz:,} generated synapses would take {self.nnz * 8 / 2**30:.1f} GiB as a CSR "
                              f"matrix; raise max_nnz to build it anyway")
        indptr, indices = self.rows(np.arange(self.shape[0]))
        return sp.csr_matrix((np.ones(indices.size, np.float32), indices, indptr), shape=self.shape)


@dataclass
class Projection:
    """Synapses from population ``src`` to population ``dst``.

    Exactly one of ``weight`` (dense ``[dst.size, src.size]`` ndarray, a ``scipy.sparse`` CSR matrix of
    that shape, or :class:`GeneratedWeights`) and ``conv`` (+ ``weight`` as the conv kernel) describes them.
    ``kind``: ``dense``, ``sparse``, ``conv`` or ``identity`` (one-to-one, e.g. a skip).
    ``delay``: synaptic delay in time steps.
    """

    name: str
    src: str
    dst: str
    kind: str
    weight: Any = None
    bias: np.ndarray | None = None
    conv: ConvGeometry | None = None
    delay: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in PROJECTION_KINDS:
            raise ValueError(f"projection {self.name!r}: kind={self.kind!r} is not one of {list(PROJECTION_KINDS)}")
        if self.kind == "conv" and self.conv is None:
            raise ValueError(f"projection {self.name!r}: kind='conv' needs conv geometry")
        if isinstance(self.weight, GeneratedWeights):
            if self.kind != "sparse":
                raise ValueError(f"projection {self.name!r}: generated weights need kind='sparse', got {self.kind!r}")
        elif self.kind == "sparse" and self.weight is not None and not sp.issparse(self.weight):
            self.weight = sp.csr_matrix(self.weight)
        if self.kind == "sparse" and sp.issparse(self.weight):
            self.weight = self.weight.tocsr()
        if self.weight is not None and not isinstance(self.weight, GeneratedWeights):
            data = self.weight.data if sp.issparse(self.weight) else np.asarray(self.weight)
            if not np.all(np.isfinite(data)):
                raise ValueError(f"projection {self.name!r}: weights contain NaN or inf")
        if self.delay < 0:
            raise ValueError(f"projection {self.name!r}: delay must be >= 0, got {self.delay}")

    @property
    def reduces(self) -> bool:
        """Whether the projection is a reduction a unit does on its way out (``meta["reduce"]``, e.g.
        max pooling): a digital op over a window, not synapses - cost models and the partitioner's
        synapse memory leave it out (and say so), traffic still flows along it."""
        return "reduce" in self.meta

    @property
    def synapses(self) -> int:
        """Number of non-zero synapses (conv: from geometry and non-zero kernel taps)."""
        if self.kind == "conv":
            return self.conv.synapse_count(self.weight)
        if self.kind == "identity":
            return int(self.meta.get("size", 0))
        if sp.issparse(self.weight) or isinstance(self.weight, GeneratedWeights):
            return int(self.weight.nnz)
        return int(np.count_nonzero(self.weight))

    def synapses_dense(self) -> int:
        """Synapses counting zero weights too (NeuroBench "Dense": every connection of the layer)."""
        if self.kind == "conv":
            return self.conv.synapse_count()
        if self.kind == "identity":
            return int(self.meta.get("size", 0))
        if self.kind == "sparse":
            return int(self.weight.nnz)
        return int(np.prod(self.weight.shape))

    def weight_counts(self) -> tuple[int, int]:
        """``(parameters, zero parameters)`` of the weights (a CSR matrix counts its full shape)."""
        if self.kind == "identity" or self.weight is None:
            return 0, 0
        if isinstance(self.weight, GeneratedWeights):
            total = int(np.prod(self.weight.shape))
            return total, total - self.weight.nnz
        if sp.issparse(self.weight):
            total = int(np.prod(self.weight.shape))
            return total, total - int(self.weight.count_nonzero())
        w = np.asarray(self.weight)
        return int(w.size), int(w.size - np.count_nonzero(w))

    def fan_in(self) -> np.ndarray | int:
        """Per target neuron input count (array) for dense/sparse; max for conv."""
        if self.kind == "conv":
            return self.conv.fan_in()
        if self.kind == "identity":
            return 1
        if isinstance(self.weight, GeneratedWeights):
            return self.weight.row_counts()
        if sp.issparse(self.weight):
            return np.diff(self.weight.indptr)
        return np.count_nonzero(self.weight, axis=1)

    def fan_out(self) -> np.ndarray | int:
        """Per source neuron output count (array) for dense/sparse; max for conv."""
        if self.kind == "conv":
            return self.conv.fan_out()
        if self.kind == "identity":
            return 1
        if isinstance(self.weight, GeneratedWeights):
            return self.weight.col_counts()
        if sp.issparse(self.weight):
            return np.bincount(self.weight.indices, minlength=self.weight.shape[1])
        return np.count_nonzero(self.weight, axis=0)


class Netlist:
    """Populations and projections in a ``networkx.MultiDiGraph`` (``self.graph``)."""

    def __init__(self, name: str = "netlist") -> None:
        self.graph = nx.MultiDiGraph(name=name)

    # construction
    def add_population(self, pop: Population) -> Population:
        if pop.name in self.graph:
            raise ValueError(f"population {pop.name!r} already exists")
        self.graph.add_node(pop.name, pop=pop)
        return pop

    def add_projection(self, proj: Projection) -> Projection:
        for end in (proj.src, proj.dst):
            if end not in self.graph:
                raise ValueError(f"projection {proj.name!r}: unknown population {end!r}")
        src, dst = self.population(proj.src), self.population(proj.dst)
        if proj.kind in ("dense", "sparse") and proj.weight is not None:
            if tuple(proj.weight.shape) != (dst.size, src.size):
                raise ValueError(
                    f"projection {proj.name!r}: weight shape {tuple(proj.weight.shape)} does not match "
                    f"[dst {dst.name}={dst.size}, src {src.name}={src.size}]"
                )
        self.graph.add_edge(proj.src, proj.dst, key=proj.name, proj=proj)
        return proj

    # access
    def population(self, name: str) -> Population:
        if name not in self.graph:
            raise KeyError(f"no population {name!r}; populations: {list(self.graph.nodes)}")
        return self.graph.nodes[name]["pop"]

    @property
    def populations(self) -> list[Population]:
        return [d["pop"] for _, d in self.graph.nodes(data=True)]

    @property
    def projections(self) -> list[Projection]:
        return [d["proj"] for _, _, d in self.graph.edges(data=True)]

    def incoming(self, name: str) -> Iterator[Projection]:
        for _, _, d in self.graph.in_edges(name, data=True):
            yield d["proj"]

    def outgoing(self, name: str) -> Iterator[Projection]:
        for _, _, d in self.graph.out_edges(name, data=True):
            yield d["proj"]

    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations if not p.is_input)

    @property
    def n_synapses(self) -> int:
        return sum(p.synapses for p in self.projections)

    def __repr__(self) -> str:
        return (
            f"Netlist({self.graph.graph.get('name')!r}: {len(self.populations)} populations, "
            f"{len(self.projections)} projections, {self.n_neurons} neurons, {self.n_synapses} synapses)"
        )
