"""The backend protocol: ``compile(graph, target=None) -> Compiled``; ``Compiled.run(inputs) -> RunResult``.

A backend sees only a :class:`neuromap.graph.Graph`, never an ``nn.Module``. Unsupported nodes fail
at compile time with the node's name, its type and what would work instead (:class:`BackendError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from neuromap.errors import NeuromapError


class BackendError(NeuromapError, ValueError):
    """A backend cannot compile or run a graph; the message names the node and what would work."""


@dataclass
class RunResult:
    """Outputs and recordings of one run.

    Attributes:
        outputs: Output node name -> tensor ``[T, B, ...]``.
        records: population / node name -> its output sequence ``[T, B, ...]`` (spikes for spiking
            neurons, the membrane for leaky integrators).
        wall_seconds: wall-clock time of the run (s).
        backend: name of the backend that produced it.
    """

    outputs: dict[str, torch.Tensor]
    records: dict[str, torch.Tensor] = field(default_factory=dict)
    wall_seconds: float = 0.0
    backend: str = ""

    @property
    def output(self) -> torch.Tensor:
        """The single output (raises if the graph has several)."""
        if len(self.outputs) != 1:
            raise ValueError(f"graph has {len(self.outputs)} outputs: {list(self.outputs)}; use .outputs[name]")
        return next(iter(self.outputs.values()))


def named_inputs(inputs: Any, names: list[str]) -> dict[str, Any]:
    """``{input name: array}`` from one tensor / array (single-input networks) or a dict whose keys
    are exactly ``names`` (raises ``ValueError`` saying what was expected)."""
    if isinstance(inputs, (torch.Tensor, np.ndarray)):
        if len(names) != 1:
            raise ValueError(f"graph has inputs {names}; pass a dict name -> tensor")
        return {names[0]: inputs}
    if not isinstance(inputs, dict) or set(inputs) != set(names):
        raise ValueError(f"inputs must be a tensor or a dict with exactly the keys {names}")
    return dict(inputs)


def check_inputs(inputs: Any, shapes: dict[str, tuple[int, ...]], *, flat: bool = False) -> dict[str, torch.Tensor]:
    """``{input name: float tensor [T, B, *shape]}``, checked once for every backend: the names
    (:func:`named_inputs`), each shape (``flat``: only the number of features must match), one
    ``[T, B]`` for all inputs, finite values. Raises ``ValueError`` naming the input and what was expected."""
    out: dict[str, torch.Tensor] = {}
    lead = None
    for name, x in named_inputs(inputs, list(shapes)).items():
        x = torch.as_tensor(x)
        x = x.float() if not x.is_floating_point() else x
        want = tuple(int(s) for s in shapes[name])
        n = int(np.prod(want))
        ok = x.dim() >= 3 and int(np.prod(x.shape[2:])) == n if flat else tuple(x.shape[2:]) == want and x.dim() >= 2
        if not ok:
            raise ValueError(f"input {name!r} must have shape [T, B, {', '.join(map(str, want))}], got {tuple(x.shape)}")
        if lead is not None and tuple(x.shape[:2]) != lead:
            raise ValueError(f"inputs disagree on [T, B]: {lead} vs {tuple(x.shape[:2])}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"input {name!r} contains NaN or inf")
        lead = tuple(x.shape[:2])
        out[name] = x
    return out


@runtime_checkable
class Compiled(Protocol):
    def run(self, inputs: Any) -> RunResult:
        """Run on ``inputs``: a tensor ``[T, B, ...]`` (single-input graphs) or ``{input name: tensor}``."""
        ...


@runtime_checkable
class Backend(Protocol):
    name: str

    def compile(self, graph: Any, target: Any = None) -> Compiled:
        """Prepare ``graph`` for running (on ``target``, a hardware spec, where the backend needs one)."""
        ...

    def unsupported(self, graph: Any) -> list[str]:
        """Reasons this backend cannot run ``graph`` (node name, type, what would work); empty if it can."""
        ...


def delayed_outputs(graph: Any) -> list[str]:
    """Why a hardware backend cannot take ``graph``'s outputs that a ``nir.Delay`` feeds directly (its
    outputs are populations; a delay lives on a projection into one), one line each."""
    import nir

    out = []
    for name in graph.outputs:
        for p in graph.predecessors(name):
            if isinstance(graph.nodes[p], nir.Delay):
                out.append(f"node {p!r} (Delay): a delay directly before output {name!r} is not supported on hardware "
                           "(outputs are populations); put it before the synapses")
    return out

