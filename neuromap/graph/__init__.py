"""The IR: ``trace(model, example)``, NIR read/write, neuromap extension nodes, lowering to a netlist.

    graph = trace(model, example)      # Graph of NIR nodes (+ neuromap.* nodes)
    save(graph, "model.nir"); graph = load("model.nir")
    netlist = graph.lower()
"""

from .errors import GraphError, UnsupportedNodeError
from .graph import Graph
from .io import load, read_nir, save
from .nir_import import CONVENTIONS, from_nir
from .trace import trace

__all__ = ["Graph", "GraphError", "UnsupportedNodeError", "trace", "save", "load", "read_nir", "from_nir", "CONVENTIONS"]
