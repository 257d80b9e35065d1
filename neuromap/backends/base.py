"""The backend protocol: ``compile(graph, target, **options) -> Compiled``; ``Compiled.run(inputs) -> RunResult``.

A backend sees only a :class:`neuromap.graph.Graph`, never an ``nn.Module``. Unsupported nodes fail
at compile time with the node's name, its type and what would work instead (:class:`BackendError`).

Every backend declares, as Lava's process models do with ``@implements``:

* the target kinds it runs (``target_kinds``) and its ``default_target``; a target of another kind
  is refused with both named (:func:`load_target`);
* the neuron kinds and numerics it implements (:class:`Implementations`: each implementation
  registered with ``@implements("lif", numerics="s16.15")`` next to its code); a population of a
  kind it lacks is refused at compile time with the kind, the node, the backend and the kinds it has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

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
    default_target: ClassVar[str]  # the target ``compile`` uses when given none
    target_kinds: ClassVar[tuple[str, ...]]  # target kinds it runs (neuromap.targets.kinds())

    def compile(self, graph: Any, target: Any = None, **options: Any) -> Compiled:
        """Prepare ``graph`` for running on ``target`` (a name, TOML path or Target; None: the default)."""
        ...

    def unsupported(self, graph: Any) -> list[str]:
        """Reasons this backend cannot run ``graph`` (node name, type, what would work); empty if it can."""
        ...


def load_target(backend: Any, target: Any = None):
    """``target`` (None: ``backend.default_target``) loaded and checked against the target kinds the
    backend runs; :class:`BackendError` names both when it cannot run that kind."""
    from neuromap import targets

    tgt = targets.load(backend.default_target if target is None else target)
    if tgt.kind not in backend.target_kinds:
        raise BackendError(f"backend {backend.name!r} cannot run target {tgt.name!r}: it is a {tgt.kind} target, and "
                           f"{backend.name} runs {' or '.join(backend.target_kinds)} targets "
                           f"(default: {backend.default_target})")
    return tgt


ANY_STEP = "any kind with a registry step"  # the kind of an implementation that runs NeuronModel.sequence


class Implementations:
    """What one backend implements, per neuron kind and numerics (Lava's ``@implements``):

        IMPLEMENTATIONS = Implementations("spinnaker2")

        @IMPLEMENTATIONS.implements("lif", numerics="s16.15")
        class _LIF: ...

    ``implements(ANY_STEP, numerics)`` registers one implementation for every kind whose registry
    entry has a functional step (:attr:`~neuromap.neurons.registry.NeuronModel.sequence`), e.g. a
    programmable core that runs a new neuron kind with no further code."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._table: dict[tuple[str, str], Any] = {}

    def implements(self, kind: str, numerics: str = "fp32") -> Callable[[Any], Any]:
        """Decorator registering its object as this backend's implementation of ``kind`` in ``numerics``."""
        def register(obj: Any) -> Any:
            self._table[(kind, numerics)] = obj
            return obj

        return register

    def numerics(self) -> list[str]:
        return sorted({n for _, n in self._table})

    def kinds(self, numerics: str) -> list[str]:
        """Neuron kinds implemented in ``numerics`` (registry kinds with a step, where ``ANY_STEP`` is)."""
        from neuromap.neurons import registry

        named = {k for k, n in self._table if n == numerics and k != ANY_STEP}
        if (ANY_STEP, numerics) in self._table:
            named |= {m.kind for m in registry.models() if m.sequence is not None}
        return sorted(named)

    def lookup(self, pop: Any, numerics: str) -> Any | None:
        """The implementation of ``pop``'s kind in ``numerics``, or None."""
        impl = self._table.get((pop.kind, numerics))
        if impl is None and pop.model.sequence is not None:
            impl = self._table.get((ANY_STEP, numerics))
        return impl

    def problem(self, pop: Any, numerics: str, backend: str | None = None) -> str | None:
        """Why this backend cannot run ``pop`` in ``numerics`` (kind, node, backend, kinds it has), or
        None; ``backend`` names a backend that shares this table (lava runs loihi's)."""
        if pop.is_input or self.lookup(pop, numerics) is not None:
            return None
        node = pop.meta.get("node", pop.name)
        elsewhere = [n for n in self.numerics() if n != numerics and self.lookup(pop, n) is not None]
        also = f"; it runs {pop.kind!r} in {' / '.join(elsewhere)} numerics" if elsewhere else ""
        return (f"population {pop.name!r} (node {node!r}) has neuron kind {pop.kind!r}, which backend "
                f"{backend or self.backend!r} does not implement in {numerics} numerics; it implements "
                f"{self.kinds(numerics)}" + also)

    def problems(self, netlist: Any, numerics: str, backend: str | None = None) -> list[str]:
        """:meth:`problem` for every population of ``netlist``."""
        return [p for pop in netlist.populations if (p := self.problem(pop, numerics, backend)) is not None]

    def get(self, pop: Any, numerics: str) -> Any:
        """The implementation of ``pop``'s kind in ``numerics``; :class:`BackendError` (see :meth:`problem`)."""
        why = self.problem(pop, numerics)
        if why is not None:
            raise BackendError(why)
        return self.lookup(pop, numerics)


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
