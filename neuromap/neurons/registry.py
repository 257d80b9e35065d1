"""The neuron registry: one :class:`NeuronModel` descriptor per population kind.

Every layer that needs to know something about a kind of neuron asks here instead of keeping a
table of its own: the netlist (which kinds exist, their typed parameters), the graph (which node
type holds a kind), the partitioner and the SpiNNaker2 program (state words per neuron), the
backends (the functional step), the GPU cost model (kernels per step). What a backend implements
for a kind is the backend's own declaration (:func:`neuromap.backends.implements`), not a fact
stored here.

    from neuromap.neurons import registry
    m = registry.get("cuba")
    m.state, m.spiking, m.nir_type          # ("v", "i"), True, "CubaLIF"
    m.state_words(pop.params)               # words per neuron (+ refractory counter, per-neuron params)

A new neuron model registers itself with :func:`register` next to its definition (see
:mod:`neuromap.neurons.alif`); nothing else in the library lists kinds.

Population parameters are typed (:class:`SpikingParams`, :class:`LIParams`, :class:`EGRUParams`,
:class:`NoParams`, :class:`Attributes`); :meth:`NeuronModel.coerce` turns the plain dicts of older
code (``LIFParams.to_dict()`` plus optional per-neuron ``beta`` / ``v_th`` / ``alpha`` arrays) into them once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from .functional import cuba_leaky_integrator, leaky_integrator, neuron_sequence
from .params import LIFParams, params_from_dict, require_one_current
from .surrogate import as_surrogate

OVERRIDES = ("beta", "v_th", "alpha")


# ------------------------------------------------------------------------------------------ typed parameters
@dataclass(frozen=True, eq=False)
class SpikingParams:
    """Parameters of a LIF-family population: the neuron dataclass plus optional per-neuron
    float32 overrides (learned ``beta`` / ``v_th`` / ``alpha``, already clamped) that broadcast
    against the population's shape."""

    neuron: LIFParams
    beta: np.ndarray | None = None
    v_th: np.ndarray | None = None
    alpha: np.ndarray | None = None

    def __post_init__(self) -> None:
        require_one_current(self.neuron, "a LIF-family population of a graph or netlist")

    def overrides(self) -> dict[str, np.ndarray]:
        """The per-neuron values that are given (name -> array)."""
        return {k: getattr(self, k) for k in OVERRIDES if getattr(self, k) is not None}

    def values(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """``beta`` / ``v_th`` / ``alpha`` per neuron (float64, ``shape``), override or scalar."""
        over = getattr(self, name)
        arr = np.asarray(getattr(self.neuron, name) if over is None else over, dtype=np.float64)
        return np.broadcast_to(arr, shape).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (arrays as lists)."""
        d = self.neuron.to_dict()
        d.update({k: np.asarray(v).tolist() for k, v in self.overrides().items()})
        return d


LIValue = float | np.ndarray  # one value, or float32 values per neuron (broadcast against the shape)


@dataclass(frozen=True, eq=False)
class LIParams:
    """Non-spiking leaky integrator ``v[t] = beta v[t-1] + (1 - beta) v_leak + gain x[t]`` (dt in s);
    with a synaptic decay ``alpha`` (kind ``cubali``, NIR's ``CubaLI``) the input first enters a
    current ``i[t] = alpha i[t-1] + x[t]`` and ``gain i[t]`` replaces ``gain x[t]``. ``beta = 1`` is
    an integrator without leak (NIR's ``I``). Each value is a float or float32 per-neuron values."""

    beta: LIValue
    gain: LIValue = 1.0
    v_leak: LIValue = 0.0
    dt: float = 1e-3
    alpha: LIValue | None = None

    def values(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """``beta`` / ``gain`` / ``v_leak`` / ``alpha`` per neuron (float64, ``shape``)."""
        return np.broadcast_to(np.asarray(getattr(self, name), dtype=np.float64), shape).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        d = {k: _plain(getattr(self, k)) for k in ("beta", "gain", "v_leak", "dt")}
        if self.alpha is not None:
            d["alpha"] = _plain(self.alpha)
        return d


def _plain(value: LIValue) -> float | list:
    """A parameter as JSON holds it: a float, or a (nested) list of per-neuron values."""
    return np.asarray(value).tolist() if isinstance(value, np.ndarray) else float(value)


def li_value(value: Any) -> LIValue:
    """A JSON parameter back: a float, or float32 per-neuron values."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return np.asarray(value, dtype=np.float32)
    return float(value)


@dataclass(frozen=True, eq=False)
class EGRUParams:
    """EGRU layer (Subramoney et al. 2023): event threshold ``theta`` (scalar or per unit), zoneout."""

    theta: np.ndarray
    zoneout: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"theta": np.asarray(self.theta).tolist(), "zoneout": self.zoneout}


@dataclass(frozen=True)
class NoParams:
    """Kinds without parameters (spike sources, identity / ReLU units)."""

    def to_dict(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, eq=False)
class Attributes:
    """Descriptive attributes of an ``other`` unit (attention heads, LMU order, ...); no backend
    runs ``other`` populations, so nothing parses these."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.values)


PopulationParams = SpikingParams | LIParams | EGRUParams | NoParams | Attributes


def spiking_from_dict(d: Mapping[str, Any]) -> SpikingParams:
    """Typed parameters from ``LIFParams.to_dict()`` plus optional per-neuron ``beta`` / ``v_th`` /
    ``alpha`` (arrays, even of one element, are overrides; a plain number ``v_th`` is the parameter)."""
    raw = dict(d)
    over = {}
    for k in OVERRIDES:
        if k not in raw:
            continue
        value = raw[k]
        if k == "v_th" and np.ndim(value) == 0 and not isinstance(value, np.ndarray):
            continue
        raw.pop(k)
        if value is not None:
            over[k] = np.asarray(value, dtype=np.float32)
    return SpikingParams(params_from_dict(raw), **over)


# ------------------------------------------------------------------------------------------ the descriptor
Sequence = Callable[[torch.Tensor, Any, Any], tuple[torch.Tensor, Any]]


@dataclass(frozen=True)
class NeuronModel:
    """What the library knows about one population kind.

    Attributes:
        kind: the population kind (``Population.kind``).
        description: one line for errors and listings.
        params_type: the typed parameter class of its populations.
        state: per-neuron state variables, one word each (the word is the target's
            ``numerics.state_bits``; 32 bits on SpiNNaker2).
        spiking: binary spikes (True) or real-valued / graded outputs.
        nir_type: the serialised node type that holds it in a Graph (``"LIF"``, ``"neuromap.Neuron"``), or None.
        nir_aliases: NIR's special cases of the kind, kept as their own node types on import (``IF`` and
            ``Threshold`` are LIFs with ``beta = 1`` / ``beta = 0``, ``I`` an LI with ``beta = 1``).
        sequence: ``(x [T, B, n] float32, params, state) -> (out [T, B, n], state)``, the functional
            multi-step update every simulator calls, or None (no executable model).
        per_neuron: parameters that cost one more word per neuron when given per neuron.
        source: a spike / value source fed by the host (network inputs): no neuron update, nothing
            for a backend to implement.
        eager_kernels: ``params -> n``: the GPU kernels one step of a population launches in eager
            PyTorch (the aten ops of its step, views excluded; ``tests/unit/energy/test_report.py``
            re-counts them with torch's dispatch mode), or None when not counted (the GPU cost model
            then counts one kernel, lists the kind in ``omitted`` and marks its estimate a lower bound).
        parse: typed parameters from their ``to_dict()`` form (JSON in a saved graph).
        module_type / from_module: the ``nn.Module`` class that :func:`neuromap.graph.trace` turns
            into a ``neuromap.Neuron`` node, and how to read its typed parameters (learned values
            included); only for kinds without a standard NIR node.
        params_class: the ``LIFParams`` subclass of a ``SpikingParams`` kind other than lif / cuba
            (:func:`for_neuron_params` finds the kind of a neuron stored by its parameters, e.g. the
            neuron inside an attention node).
        messages: what the population sends per step, from its output sequence ``[T, ...]`` (None:
            the output itself; a sigma-delta population sends the change of its decoded output).
        graded: its messages are graded spikes, each carrying a payload (the target's
            ``numerics.graded_spike_bits``: 24 bits on Loihi 2), not bare spikes; partitioners and
            cost models size and price them as such (by this flag, never by the kind's name).
    """

    kind: str
    description: str
    params_type: type
    state: tuple[str, ...] = ()
    spiking: bool = False
    nir_type: str | None = None
    sequence: Sequence | None = None
    per_neuron: tuple[str, ...] = ()
    source: bool = False
    eager_kernels: Callable[[Any], int] | None = None
    parse: Callable[[Mapping[str, Any]], Any] | None = None
    module_type: type | None = None
    from_module: Callable[[Any], Any] | None = None
    params_class: type | None = None
    nir_aliases: tuple[str, ...] = ()
    messages: Callable[[torch.Tensor], torch.Tensor] | None = None
    graded: bool = False

    def sent(self, outputs: torch.Tensor) -> torch.Tensor:
        """The messages of an output sequence ``[T, ...]`` (a non-zero entry is one spike or graded spike)."""
        return outputs if self.messages is None else self.messages(outputs)

    def coerce(self, params: Any, name: str = "?") -> Any:
        """Typed parameters from ``params`` (already typed, a plain dict of older code, or empty: None
        for kinds with parameters, meaning "not known" - backends that need them say so)."""
        if isinstance(params, self.params_type):
            return params
        if params is None or (isinstance(params, Mapping) and not params):
            return self.params_type() if self.params_type in (NoParams, Attributes) else None
        if isinstance(params, Mapping):
            if self.params_type is Attributes:
                return Attributes(MappingProxyType(dict(params)))
            if self.parse is None:
                raise ValueError(f"population {name!r} ({self.kind}) takes no parameters, got {sorted(params)}")
            try:
                return self.parse(params)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"population {name!r} ({self.kind}): invalid parameters ({exc})") from exc
        raise ValueError(f"population {name!r} ({self.kind}): parameters must be {self.params_type.__name__}, "
                         f"got {type(params).__name__}")

    def state_words(self, params: Any) -> int:
        """Words of per-neuron memory: state variables, a refractory counter when there is one and
        one word per parameter given per neuron (the rest are per-population constants)."""
        words = len(self.state)
        if isinstance(params, SpikingParams):
            words += 1 if params.neuron.refractory_steps else 0
        words += sum(1 for k in self.per_neuron if np.size(getattr(params, k, None) if params is not None else 0) > 1)
        return words


_MODELS: dict[str, NeuronModel] = {}


def register(model: NeuronModel) -> NeuronModel:
    """Add a kind (raises ``ValueError`` if the kind is taken by another descriptor)."""
    old = _MODELS.get(model.kind)
    if old is not None and old != model:
        raise ValueError(f"neuron kind {model.kind!r} is already registered ({old.description})")
    _MODELS[model.kind] = model
    return model


def get(kind: str) -> NeuronModel:
    """The descriptor of ``kind`` (``ValueError`` listing the known kinds otherwise)."""
    try:
        return _MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown population kind {kind!r}; known: {kinds()}") from None


def kinds() -> list[str]:
    return list(_MODELS)


def models() -> list[NeuronModel]:
    return list(_MODELS.values())


def for_module(module: Any) -> NeuronModel | None:
    """The model whose ``module_type`` ``module`` is an instance of, or None."""
    return next((m for m in _MODELS.values() if m.module_type is not None and isinstance(module, m.module_type)), None)


def for_neuron_params(params: Any) -> NeuronModel | None:
    """The model whose ``params_class`` is exactly ``type(params)`` (``IELIFParams`` -> ``ielif``), or
    None (plain ``LIFParams`` / ``CubaLIFParams``: the lif / cuba step)."""
    return next((m for m in _MODELS.values() if m.params_class is not None and type(params) is m.params_class), None)


def by_nir_type(type_name: str) -> NeuronModel | None:
    """The model stored as node type ``type_name`` (``"LIF"``, ``"CubaLIF"``, ``"LI"``, or an alias such
    as ``"IF"``), or None."""
    return next((m for m in _MODELS.values() if type_name == m.nir_type or type_name in m.nir_aliases), None)


# ------------------------------------------------------------------------------------------ built-in kinds
_SURROGATE = as_surrogate("fast_sigmoid", None)  # forward passes only: the surrogate does not matter


def torch_overrides(params: SpikingParams, shape: tuple[int, ...] | None = None) -> dict[str, torch.Tensor]:
    """Per-neuron overrides as float32 tensors (flattened to ``[prod(shape)]`` when ``shape`` is given)."""
    out = {}
    for k, v in params.overrides().items():
        a = np.asarray(v, dtype=np.float32)
        if shape is not None and a.size > 1:
            a = np.ascontiguousarray(np.broadcast_to(a, shape).reshape(-1))
        out[k] = torch.from_numpy(a.copy())
    return out


def lif_sequence(x: torch.Tensor, params: SpikingParams, state: Any) -> tuple[torch.Tensor, Any]:
    """LIF / CuBa-LIF over ``x`` with the exact (possibly per-neuron) trained parameters."""
    s, _, state = neuron_sequence(x, params.neuron, _SURROGATE, state, **torch_overrides(params))
    return s, state


def _li_tensor(value: LIValue, shape: tuple[int, ...] | None) -> torch.Tensor | float:
    if not isinstance(value, np.ndarray):
        return float(value)
    a = np.asarray(value, dtype=np.float32)
    if shape is not None and a.size > 1:
        a = np.ascontiguousarray(np.broadcast_to(a, shape).reshape(-1))
    return torch.from_numpy(a.copy())


def li_sequence(x: torch.Tensor, params: LIParams, state: Any, shape: tuple[int, ...] | None = None
                ) -> tuple[torch.Tensor, Any]:
    """LI / CubaLI over ``x [T, B, n]`` (per-neuron values flattened to ``prod(shape)`` when given); the
    state is ``v`` (LI) or ``(v, i)`` (CubaLI)."""
    # a scalar beta as a float32 tensor: the traced LI multiplies with its float32 parameter
    beta = _li_tensor(params.beta, shape) if isinstance(params.beta, np.ndarray) else torch.tensor(
        params.beta, dtype=torch.float32)
    gain, v_leak = _li_tensor(params.gain, shape), _li_tensor(params.v_leak, shape)
    if params.alpha is None:
        v = leaky_integrator(x, beta, state, gain, v_leak)
        return v, v[-1]
    return cuba_leaky_integrator(x, _li_tensor(params.alpha, shape), beta, state, gain, v_leak)


def _li_from_dict(d: Mapping[str, Any]) -> LIParams:
    alpha = d.get("alpha")
    return LIParams(li_value(d["beta"]), li_value(d.get("gain", 1.0)), li_value(d.get("v_leak", 0.0)),
                    float(d.get("dt", 1e-3)), None if alpha is None else li_value(alpha))


def _egru_from_dict(d: Mapping[str, Any]) -> EGRUParams:
    return EGRUParams(np.asarray(d["theta"], dtype=np.float32), float(d.get("zoneout", 0.0)))


#: aten ops ``neuron_step`` adds for its reset mode (LIF / CuBa)
RESET_KERNELS = {"subtract": 2, "zero": 4, "none": 0}


def spiking_kernels(base: int) -> Callable[[Any], int]:
    """Eager kernels of a LIF-family step: ``base`` ops plus those of the population's reset mode."""
    def count(params: Any) -> int:
        neuron = getattr(params, "neuron", None)  # typed SpikingParams; None when not known
        return base + RESET_KERNELS.get(str(getattr(neuron, "reset", "subtract")), 2)

    return count


def fixed_kernels(n: int) -> Callable[[Any], int]:
    """Eager kernels of a step that launches ``n`` ops whatever its parameters."""
    return lambda params: n


# Kernel counts: the aten ops that ``neuromap.neurons.functional.neuron_step`` (LIF / CuBa, no
# refractoriness), the leaky integrators (LI without a leak voltage, CubaLI: one step of ``li_sequence``)
# and the EGRU update (``neuromap.neurons.egru.egru_candidate`` + event, output, reset) dispatch, views
# excluded.
register(NeuronModel("input", "spike / value source fed by the host", NoParams, state=("x",), spiking=True,
                     source=True))
register(NeuronModel("lif", "leaky integrate-and-fire (neuromap.neurons.LIFParams)", SpikingParams, state=("v",),
                     spiking=True, nir_type="LIF", sequence=lif_sequence, per_neuron=("beta", "v_th"),
                     eager_kernels=spiking_kernels(7), parse=spiking_from_dict, nir_aliases=("IF", "Threshold")))
register(NeuronModel("cuba", "current-based LIF (neuromap.neurons.CubaLIFParams)", SpikingParams, state=("v", "i"),
                     spiking=True, nir_type="CubaLIF", sequence=lif_sequence, per_neuron=("beta", "v_th", "alpha"),
                     eager_kernels=spiking_kernels(9), parse=spiking_from_dict))
register(NeuronModel("li", "non-spiking leaky integrator", LIParams, state=("v",), nir_type="LI", sequence=li_sequence,
                     eager_kernels=fixed_kernels(4), parse=_li_from_dict, nir_aliases=("I",)))
register(NeuronModel("cubali", "non-spiking current-based leaky integrator", LIParams, state=("v", "i"),
                     nir_type="CubaLI", sequence=li_sequence, eager_kernels=fixed_kernels(9),
                     parse=_li_from_dict))
# EGRU on a PE: c, y and the six gate pre-activations (z, r, g from the input and the recurrent
# group) per unit; theta takes a word only when it is per unit.
register(NeuronModel("egru", "event-based GRU layer (graded events)", EGRUParams,
                     state=("c", "y", "gx_z", "gx_r", "gx_g", "gh_z", "gh_r", "gh_g"), nir_type="neuromap.EGRU",
                     per_neuron=("theta",), eager_kernels=fixed_kernels(17), parse=_egru_from_dict))
register(NeuronModel("relu", "non-spiking ReLU unit (MAC layers)", NoParams, state=("y",),
                     eager_kernels=fixed_kernels(1)))
register(NeuronModel("identity", "non-spiking unit that passes its summed input on", NoParams, state=("y",),
                     eager_kernels=fixed_kernels(0)))
register(NeuronModel("other", "a unit no backend model runs (attention, LMU memory, max-pool, ...)", Attributes,
                     state=("y",)))
