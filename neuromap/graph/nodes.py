"""neuromap extension nodes: what NIR cannot express, in NIR's small-typed-dataclass style.

Each node subclasses ``nir.NIRNode`` so that a graph holding it is written by ``nir.write`` in the
same HDF5 layout as the standard nodes, under the type ``"neuromap.<Class>"``. ``nir.read`` does
not know these types; :func:`neuromap.io.nir.load` does. Shapes exclude time and batch axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nir
import numpy as np

PREFIX = "neuromap."


class NeuromapNode(nir.NIRNode):
    """Base of the extension nodes: serialises its type as ``"neuromap.<TYPE>"`` (``TYPE``: a class
    attribute, by default the class name; a zoo module names its node class ``SDSANode`` next to the
    ``SDSA`` module and keeps the saved type ``neuromap.SDSA`` with ``TYPE = "SDSA"``)."""

    @classmethod
    def node_type(cls) -> str:
        """The serialised type, ``"neuromap.<TYPE>"``."""
        return PREFIX + (cls.__dict__.get("TYPE") or cls.__name__)

    def to_dict(self) -> dict[str, Any]:
        ret = super().to_dict()
        ret["type"] = self.node_type()
        return ret

    @classmethod
    def from_dict(cls, kwargs: dict[str, Any]) -> NeuromapNode:
        kwargs = dict(kwargs)
        if kwargs.pop("type", cls.node_type()) != cls.node_type():
            raise ValueError(f"{cls.__name__}.from_dict got another type")
        return cls(**kwargs)


@dataclass(eq=False)
class AvgPool1d(NeuromapNode):
    """Average pooling over the last axis of a ``(C, L)`` input (zero padding counted, like torch).

    Attributes: kernel_size, stride, padding in samples.
    """

    kernel_size: int
    stride: int
    padding: int = 0

    def __post_init__(self) -> None:
        self.kernel_size, self.stride, self.padding = int(self.kernel_size), int(self.stride), int(self.padding)
        if self.kernel_size < 1 or self.stride < 1 or self.padding < 0:
            raise ValueError(f"AvgPool1d needs kernel_size, stride >= 1 and padding >= 0, got "
                             f"{self.kernel_size}, {self.stride}, {self.padding}")
        self.input_type = {"input": None}
        self.output_type = {"output": None}


@dataclass(eq=False)
class Reshape(NeuromapNode):
    """Reshape the per-sample tensor to ``shape`` (e.g. an unflatten that ``nir.Flatten`` cannot say)."""

    shape: np.ndarray

    def __post_init__(self) -> None:
        self.shape = np.asarray(self.shape, dtype=np.int64).reshape(-1)
        if self.shape.size == 0 or np.any(self.shape < 1):
            raise ValueError(f"Reshape needs a non-empty positive shape, got {self.shape.tolist()}")
        self.input_type = {"input": None}
        self.output_type = {"output": self.shape.copy()}


@dataclass(eq=False)
class Neuron(NeuromapNode):
    """A neuron layer of a registry kind that NIR has no node for (e.g. ``alif``).

    Attributes:
        model: the kind (:mod:`neuromap.neurons.registry`).
        params: ``json.dumps`` of the kind's typed parameters ``to_dict()`` (exact floats, per-neuron
            float32 overrides as lists).
        shape: neuron shape (without time and batch axes).
    """

    model: str
    params: str
    shape: np.ndarray

    def __post_init__(self) -> None:
        self.model, self.params = as_text(self.model), as_text(self.params)
        self.shape = np.asarray(self.shape, dtype=np.int64).reshape(-1)
        if self.shape.size == 0 or np.any(self.shape < 1):
            raise ValueError(f"Neuron needs a non-empty positive shape, got {self.shape.tolist()}")
        self.input_type = {"input": self.shape.copy()}
        self.output_type = {"output": self.shape.copy()}

    def declared_input_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.shape)

    def infer_output(self, s: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(s)


def as_text(v: Any) -> str:
    """A string field as read back from HDF5 (bytes, a 1-element array) as ``str``."""
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.size == 1:
        return as_text(v.reshape(-1)[0])
    return str(v)


EXTENSION_NODES: dict[str, type[NeuromapNode]] = {c.node_type(): c for c in (AvgPool1d, Reshape, Neuron)}
PLUGIN_GROUP = "neuromap.extensions"  # entry points: modules that register extension nodes on import
_plugins_loaded = False


def register_node(cls: type[NeuromapNode] | None = None, *, stateful: bool = False):
    """Class decorator: make an extension node type known to graphs, ``save`` and ``load``.

    ``@register_node`` or ``@register_node(stateful=True)`` (the node's output at step t depends on
    earlier steps: a cycle through it is allowed). The node is written as ``"neuromap.<Class>"``;
    two different classes with one name are refused (a saved file would be ambiguous).
    """

    def add(c: type[NeuromapNode]) -> type[NeuromapNode]:
        if not (isinstance(c, type) and issubclass(c, NeuromapNode)):
            raise TypeError(f"register_node needs a NeuromapNode subclass, got {c!r}")
        key = c.node_type()
        old = EXTENSION_NODES.get(key)
        if old is not None and old is not c and (old.__module__, old.__qualname__) != (c.__module__, c.__qualname__):
            raise ValueError(f"extension node type {key!r} is already registered by {old.__module__}.{old.__qualname__}")
        EXTENSION_NODES[key] = c
        if stateful and c not in STATEFUL_EXTENSIONS:
            STATEFUL_EXTENSIONS.append(c)
        return c

    return add if cls is None else add(cls)


def load_plugins() -> None:
    """Import the modules registered under the ``neuromap.extensions`` entry point group (once).

    This is how a saved graph holding, say, a zoo model's node loads without its module having been
    imported: the package that defines the node declares itself in its ``pyproject.toml``.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib import import_module
    from importlib.metadata import distributions

    # every distribution's, not entry_points()'s first per name: a stale ``*.egg-info`` in the working
    # directory (left by a source build) would otherwise hide the installed package's entry points
    modules = {ep.value.split(":")[0] for d in distributions() for ep in d.entry_points if ep.group == PLUGIN_GROUP}
    for module in sorted(modules):
        import_module(module)


def known_types() -> tuple[type[nir.NIRNode], ...]:
    """Every node type a Graph may hold: NIR's standard ones and the registered extensions."""
    return tuple(STANDARD_NODES.values()) + tuple(EXTENSION_NODES.values())

# Standard NIR node types a neuromap Graph holds (nested NIRGraphs are flattened on import).
STANDARD_NODES: dict[str, type[nir.NIRNode]] = {
    c.__name__: c
    for c in (
        nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Scale, nir.Conv1d, nir.Conv2d, nir.SumPool2d,
        nir.AvgPool2d, nir.Flatten, nir.Delay, nir.LIF, nir.CubaLIF, nir.LI, nir.IF, nir.I, nir.CubaLI,
        nir.Threshold,
    )
}

NEURON_TYPES = (nir.LIF, nir.CubaLIF, nir.LI, nir.IF, nir.I, nir.CubaLI, nir.Threshold, Neuron)
STATEFUL_TYPES = (nir.LIF, nir.CubaLIF, nir.LI, nir.IF, nir.I, nir.CubaLI, nir.Delay, Neuron)


def type_name(node: nir.NIRNode) -> str:
    """The serialised type of a node (``"LIF"``, ``"neuromap.Reshape"``, ...)."""
    return node.node_type() if isinstance(node, NeuromapNode) else type(node).__name__


def is_neuron(node: nir.NIRNode) -> bool:
    return isinstance(node, NEURON_TYPES)


def is_stateful(node: nir.NIRNode) -> bool:
    """Nodes whose output at step t depends on earlier steps (a cycle needs one of them)."""
    return isinstance(node, STATEFUL_TYPES + tuple(STATEFUL_EXTENSIONS))


# Extension node types with state (filled by the modules that define them, e.g. :mod:`.extension_nodes`;
# :mod:`.graph` imports that module so its nodes are known wherever a Graph is).
STATEFUL_EXTENSIONS: list[type] = []
