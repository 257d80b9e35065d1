"""The IR: ``trace(model, example)``, NIR read/write, neuromap extension nodes, lowering to a netlist.

    graph = trace(model, example)      # Graph of NIR nodes (+ neuromap.* nodes)
    save(graph, "model.nir"); graph = load("model.nir")
    netlist = graph.lower()
"""

# NIR files live in neuromap.io.nir; re-exported here, where graphs are made (nm.load / nm.save)
from neuromap.io.nir import load, read_nir, save  # noqa: E402  (after the graph modules it needs)
from neuromap.io.nir_import import CONVENTIONS, from_nir  # noqa: E402

from .errors import GraphError, UnsupportedNodeError
from .graph import Graph
from .trace import trace

__all__ = ["Graph", "GraphError", "UnsupportedNodeError", "trace", "save", "load", "read_nir", "from_nir", "CONVENTIONS"]
