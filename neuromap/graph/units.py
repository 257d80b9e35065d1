"""Units: extension nodes that the lowering turns into a population of their own (not synapses).

A node type that is computed by neurons-like state on hardware (an attention block, an LMU memory,
an EGRU layer, max pooling, an activation) subclasses :class:`Unit` and says, on the node itself
(NIR's style: the node owns its types), how it lowers:

* :meth:`Unit.population` - its :class:`~neuromap.netlist.Population` (kind, typed parameters,
  spiking or not);
* :meth:`Unit.input_projections` - when ``composes_inputs`` is set, the projections of one incoming
  path, given as an :class:`Incoming` (the path's synaptic nodes already composed into one matrix);
* :meth:`Unit.input_port` - how many trailing nodes of an incoming path select an input port (they
  are not composed into the matrix; e.g. attention's q / k / v ``Place``) and the ``meta`` to add;
* :meth:`Unit.self_projections` - its own recurrent projections (self-loops);
* :meth:`Unit.population_shape` / :meth:`Unit.output_map` - a reducing unit (max pooling) holds its
  input-side values and maps them to its output on the way out.

Register the class with :func:`neuromap.graph.nodes.register_node` like every extension node; the
lowering (:mod:`neuromap.graph.lower`) then needs no change for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np
import scipy.sparse as sp

from neuromap.netlist import Population, Projection

from .nodes import NeuromapNode

Shape = tuple[int, ...]


@dataclass
class Incoming:
    """One incoming path of a unit, its synaptic nodes composed into one matrix.

    Attributes:
        name: projection name (``src/via.../dst``, ``/tapK`` for a temporal-conv tap).
        src, dst: population names.
        matrix: ``[dst input size, src size]`` composed synaptic matrix.
        bias: ``[dst input size]`` composed bias (None when no node on the path has one).
        delay: synaptic delay (time steps).
        dense: whether the path holds a dense op (Affine / Linear / temporal conv): a dense projection.
        meta: path metadata (``path``, ``ops``, a port or tap when there is one).
        first: the first projection into the unit (a unit's own bias goes with it only, so that a
            unit fed by several paths receives it once).
    """

    name: str
    src: str
    dst: str
    matrix: sp.csr_matrix
    bias: np.ndarray | None
    delay: int
    dense: bool
    meta: dict = field(default_factory=dict)
    first: bool = True

    def projection(self) -> Projection:
        """The path as one ``dense`` (array weight) or ``sparse`` (CSR weight) projection."""
        m = self.matrix.tocsr()
        m.eliminate_zeros()
        return Projection(self.name, self.src, self.dst, "dense" if self.dense else "sparse",
                          weight=m.toarray() if self.dense else m, bias=self.bias, delay=self.delay, meta=self.meta)


class Unit(NeuromapNode):
    """Base class of extension nodes that lower to a population (see the module docstring).

    ``composes_inputs``: False (default) - each incoming path is an ordinary projection onto the
    unit's input (a conv keeps its geometry); True - the path is composed into one matrix and given to
    :meth:`input_port` and :meth:`input_projections` (the unit multiplies its own weights in or
    splits ports).
    """

    composes_inputs = False

    def population(self, name: str, shape: Shape) -> Population:
        """The unit's population; default: a non-spiking ``other`` population."""
        return Population(name, "other", shape, {}, False, self.population_meta(name))

    def population_shape(self, in_shape: Shape, out_shape: Shape) -> Shape:
        """The shape of the unit's population; default: its output. A unit that reduces its input
        (max pooling) holds the values it reduces and maps them to its output on every outgoing path
        (:meth:`output_map`), so its incoming projections keep their own geometry (a conv stays a conv)."""
        return out_shape

    def output_map(self, in_shape: Shape, out_shape: Shape) -> tuple[sp.csr_matrix, dict] | None:
        """``(matrix [output size, population size], meta)`` composed into every outgoing path when the
        population is not the output (``meta`` says what the map stands for, e.g. ``{"reduce": "max"}``:
        a backend must not read it as a weighted sum); default None."""
        return None

    def population_meta(self, name: str) -> dict:
        """The ``meta`` every unit population carries (the node's name and serialised type)."""
        from .nodes import type_name

        return {"node": name, "type": type_name(self)}

    def input_port(self, path: str, ops: list[nir.NIRNode]) -> tuple[int, dict]:
        """``(number of trailing nodes of ops that select the port, meta to add)``; default ``(0, {})``."""
        return 0, {}

    def input_projections(self, incoming: Incoming) -> list[Projection]:
        """The projections of one incoming path; default: the composed path as one projection."""
        return [incoming.projection()]

    def self_projections(self, name: str) -> list[Projection]:
        """The unit's own recurrent projections (self-loops, read the previous step); default none."""
        return []


def is_unit(node: nir.NIRNode) -> bool:
    """Whether ``node`` lowers to a population of its own."""
    return isinstance(node, Unit)
