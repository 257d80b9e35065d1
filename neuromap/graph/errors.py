"""Errors raised by the graph layer (trace, load/save, validation, lowering)."""

from __future__ import annotations

from neuromap.errors import NeuromapError


class GraphError(NeuromapError, ValueError):
    """A graph is malformed or cannot be handled; the message names the node or edge and the problem."""


class UnsupportedNodeError(GraphError):
    """A node type is unknown here (loader, tracer or backend); the message says what would work."""
