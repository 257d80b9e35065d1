"""Neuron parameters in physical units and their one discretisation.

Every backend (float torch, Loihi fixed point, Brian2, Lava, SpiNNaker2) derives its numbers from
these dataclasses, so the discretisation is written down exactly once, here:

LIF, per time step of length ``dt`` (seconds), input ``x[t]``::

    h[t] = beta * v[t-1] + (1 - beta) * v_leak + g * x[t]
    s[t] = h[t] > v_th            (or >= with threshold_rule=">=")
    v[t] = h[t] - v_th * s[t]     (reset="subtract")
         = v_reset if s[t] else h[t]   (reset="zero")
         = h[t]                   (reset="none")

CuBa LIF adds a synaptic current that integrates the input first (Norse and snnTorch order)::

    i[t] = alpha * i[t-1] + x[t]
    h[t] = beta * v[t-1] + (1 - beta) * v_leak + g * i[t]

``beta = exp(-dt / tau_mem)`` (``integrator="exp"``, the exact solution for input held constant
over a step) or ``1 - dt / tau_mem`` (``integrator="euler"``, Norse / SpikingJelly); ``alpha``
likewise from ``tau_syn``. ``g = 1`` ("beta form", snnTorch ``V = beta V + X``) or ``g = 1 - beta``
(``decay_input=True``, the ``V += (X - V) / tau`` form of SpikingJelly / Norse / Brian2).

``reset_delay=True`` is snnTorch's convention: the reset of a spike at ``t`` is applied at ``t + 1``
without being decayed, after that step's integration::

    h[t+1] = beta v[t] + ... + g x[t+1] - v_th s[t]     (reset="subtract": every snnTorch neuron)
    h[t+1] = v_reset if s[t] else beta v[t] + ...        (reset="zero": snnTorch's Synaptic, RLeaky,
                                                          RSynaptic; the input of step t+1 is lost)

and ``v[t] = h[t]`` (the stored membrane is the pre-reset one). snnTorch's ``Leaky`` zero reset
(``U = beta (1 - R) U + I``) spikes exactly like the immediate ``reset="zero"`` with ``v_reset = 0``.

``reset_signal="membrane"`` is snnTorch's immediate reset (``reset_delay=False``): a reset signal
``r[t] = v[t-1] > v_th`` is taken from the stored (post-reset) membrane and subtracted before the
threshold test, and the spike's own reset subtracts only what that did not ("avoid double reset")::

    h[t] = beta v[t-1] + ... + g x[t] - v_th r[t]
    s[t] = h[t] > v_th
    v[t] = h[t] - v_th (s[t] - r[t])

It differs from ``reset_signal="spike"`` (the default, ``v[t] = h[t] - v_th s[t]``) only when a
membrane is still above threshold after its reset (inputs larger than the threshold).

``refractory_steps`` holds the membrane at ``v_reset`` and blocks spikes for that many steps after a spike.

``tau_mem = inf`` is a neuron without leak (``beta = 1``: NIR's ``IF``, an integrator); with
``integrator="euler"``, ``tau_mem = dt`` gives ``beta = 0`` (no memory: NIR's ``Threshold``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

RESET_MODES = ("subtract", "zero", "none")
RESET_SIGNALS = ("spike", "membrane")
INTEGRATORS = ("exp", "euler")
THRESHOLD_RULES = (">", ">=")


def _check_positive(name: str, value: float, inf_ok: bool = False) -> None:
    if not isinstance(value, (int, float)) or math.isnan(value) or value <= 0 or (math.isinf(value) and not inf_ok):
        what = "a positive number of seconds (inf: no decay)" if inf_ok else "a positive finite number of seconds"
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {list(choices)}")


def decay_from_tau(tau: float, dt: float, integrator: str = "exp") -> float:
    """Per-step decay factor of a time constant ``tau`` (s) at step ``dt`` (s); ``tau = inf``: 1 (no decay)."""
    _check_positive("tau", tau, inf_ok=True)
    _check_positive("dt", dt)
    _check_choice("integrator", integrator, INTEGRATORS)
    if math.isinf(tau):
        return 1.0
    if integrator == "exp":
        return math.exp(-dt / tau)
    if dt > tau:
        raise ValueError(f"Euler integration needs dt <= tau (dt={dt}, tau={tau}): the decay would be negative")
    return 1.0 - dt / tau


def tau_from_decay(decay: float, dt: float, integrator: str = "exp") -> float:
    """Time constant (s) that gives the per-step ``decay`` at step ``dt`` (s): ``decay`` in (0, 1]
    (1: ``inf``, no leak), or 0 with ``integrator="euler"`` (``tau = dt``: no memory)."""
    _check_positive("dt", dt)
    _check_choice("integrator", integrator, INTEGRATORS)
    if decay == 1.0:
        return math.inf
    lowest_ok = integrator == "euler" and decay == 0.0
    if not (0.0 < decay < 1.0 or lowest_ok):
        raise ValueError(f"decay must lie in (0, 1] ([0, 1] with integrator='euler') to map to a positive time "
                         f"constant, got {decay!r}")
    if integrator == "exp":
        return -dt / math.log(decay)
    return dt / (1.0 - decay)


@dataclass(frozen=True)
class LIFParams:
    """Leaky integrate-and-fire neuron (times in seconds, potentials in arbitrary units).

    Attributes:
        tau_mem: membrane time constant (s).
        dt: simulation step (s).
        v_th: firing threshold.
        v_reset: potential after a spike with ``reset="zero"`` (and during refractoriness).
        v_leak: resting potential the membrane decays towards.
        reset: ``"subtract"``, ``"zero"`` or ``"none"``.
        refractory_steps: steps after a spike during which the neuron is clamped and silent.
        integrator: ``"exp"`` (exact for piecewise-constant input) or ``"euler"``.
        decay_input: scale the input by ``1 - beta`` (``V += (X - V)/tau``) instead of 1.
        threshold_rule: ``">"`` (Loihi, Norse, snnTorch) or ``">="`` (SpikingJelly).
        detach_reset: no gradient through the reset term (surrogate training).
        reset_delay: snnTorch's one-step-delayed, undecayed reset (subtract or zero).
        reset_signal: ``"spike"`` (the reset follows the spike) or ``"membrane"`` (snnTorch's
            immediate reset: ``r = v[t-1] > v_th`` of the stored membrane; see the module docstring).
    """

    tau_mem: float = 10e-3
    dt: float = 1e-3
    v_th: float = 1.0
    v_reset: float = 0.0
    v_leak: float = 0.0
    reset: str = "subtract"
    refractory_steps: int = 0
    integrator: str = "exp"
    decay_input: bool = False
    threshold_rule: str = ">"
    detach_reset: bool = False
    reset_delay: bool = False
    reset_signal: str = "spike"

    def __post_init__(self) -> None:
        _check_positive("tau_mem", self.tau_mem, inf_ok=True)
        _check_positive("dt", self.dt)
        for name in ("v_th", "v_reset", "v_leak"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        _check_choice("reset", self.reset, RESET_MODES)
        _check_choice("integrator", self.integrator, INTEGRATORS)
        _check_choice("threshold_rule", self.threshold_rule, THRESHOLD_RULES)
        if not isinstance(self.refractory_steps, int) or self.refractory_steps < 0:
            raise ValueError(f"refractory_steps must be a non-negative integer, got {self.refractory_steps!r}")
        _check_choice("reset_signal", self.reset_signal, RESET_SIGNALS)
        if self.reset_delay and self.reset == "none":
            raise ValueError("reset_delay=True delays a reset; reset='none' has none")
        if self.reset_delay and self.refractory_steps:
            raise ValueError("reset_delay=True (snnTorch convention) has no refractory period; set refractory_steps=0")
        if self.reset_signal == "membrane" and (self.reset != "subtract" or self.reset_delay or self.refractory_steps):
            # snnTorch's immediate zero reset spikes like reset="zero" (v_reset = 0, v_th >= 0): nothing to add
            raise ValueError("reset_signal='membrane' is snnTorch's immediate subtractive reset: it needs "
                             "reset='subtract', reset_delay=False and no refractory period")
        decay_from_tau(self.tau_mem, self.dt, self.integrator)  # validates Euler dt <= tau

    @property
    def beta(self) -> float:
        """Membrane decay per step."""
        return decay_from_tau(self.tau_mem, self.dt, self.integrator)

    @property
    def step_only(self) -> str | None:
        """Why only the per-step reference (:func:`neuromap.neurons.functional.neuron_step`) runs these
        semantics (the fused C++ / Triton kernels do not implement them), or None."""
        if self.reset_delay and self.reset == "zero":
            return "reset_delay=True with reset='zero' (snnTorch's Synaptic/RLeaky zero reset)"
        if self.reset_signal == "membrane":
            return "reset_signal='membrane' (snnTorch's immediate reset)"
        return None

    @property
    def input_gain(self) -> float:
        """``g``: the factor on the input current (1, or ``1 - beta`` with ``decay_input``)."""
        return 1.0 - self.beta if self.decay_input else 1.0

    @classmethod
    def from_decay(cls, beta: float, dt: float = 1e-3, integrator: str = "exp", **kwargs: Any) -> LIFParams:
        """Build from a per-step decay ``beta`` (snnTorch's ``beta``, a benchmark's ``decay 0.9``)."""
        return cls(tau_mem=tau_from_decay(beta, dt, integrator), dt=dt, integrator=integrator, **kwargs)

    def replace(self, **changes: Any) -> LIFParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["model"] = type(self).__name__
        return d


@dataclass(frozen=True)
class CubaLIFParams(LIFParams):
    """Current-based LIF: a LIF membrane fed by an exponentially decaying synaptic current.

    Attributes (in addition to :class:`LIFParams`):
        tau_syn: synaptic current time constant (s).
    """

    tau_syn: float = 5e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("tau_syn", self.tau_syn, inf_ok=True)
        decay_from_tau(self.tau_syn, self.dt, self.integrator)

    @property
    def alpha(self) -> float:
        """Synaptic current decay per step."""
        return decay_from_tau(self.tau_syn, self.dt, self.integrator)

    @classmethod
    def from_decays(
        cls, alpha: float, beta: float, dt: float = 1e-3, integrator: str = "exp", **kwargs: Any
    ) -> CubaLIFParams:
        """Build from per-step decays: ``alpha`` (synapse) and ``beta`` (membrane)."""
        return cls(
            tau_syn=tau_from_decay(alpha, dt, integrator),
            tau_mem=tau_from_decay(beta, dt, integrator),
            dt=dt,
            integrator=integrator,
            **kwargs,
        )


@dataclass(frozen=True)
class CubaEIParams(CubaLIFParams):
    """Current-based LIF with two synaptic currents: ``tau_syn`` for excitatory and ``tau_syn_inh`` for
    inhibitory synapses, as in the CUBA network of Brette et al. 2007 (J. Comput. Neurosci. 23:349,
    benchmark 2; Brian2's ``examples/CUBA.py``) and NEST's ``iaf_psc_exp`` (``tau_syn_ex`` / ``tau_syn_in``)::

        i[t]  = alpha i[t-1] + x_exc[t]
        i2[t] = alpha_inh i2[t-1] + x_inh[t]
        h[t]  = beta v[t-1] + (1 - beta) v_leak + g (i[t] + i2[t])

    then threshold, reset and refractoriness as :class:`LIFParams`. Which input is inhibitory is the
    network's business (a reservoir routes the synapses of its inhibitory neurons to ``i2``); a layer fed
    one summed input cannot tell, so :func:`require_one_current` refuses these parameters there.

    Attributes (in addition to :class:`CubaLIFParams`):
        tau_syn_inh: time constant (s) of the inhibitory synaptic current.
    """

    tau_syn_inh: float = 10e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("tau_syn_inh", self.tau_syn_inh)
        decay_from_tau(self.tau_syn_inh, self.dt, self.integrator)

    @property
    def alpha_inh(self) -> float:
        """Inhibitory synaptic current decay per step."""
        return decay_from_tau(self.tau_syn_inh, self.dt, self.integrator)


def require_one_current(params: LIFParams, where: str) -> None:
    """Raise ``ValueError`` for :class:`CubaEIParams` in ``where``, which feeds its neurons one summed input."""
    if isinstance(params, CubaEIParams):
        raise ValueError(f"{where} feeds its neurons one summed input, so it cannot split it into the excitatory "
                         "and inhibitory currents of CubaEIParams; simulate the network as a "
                         "neuromap.networks.lsm.Reservoir (its inhibitory neurons feed the second current)")


def _param_classes(cls: type[LIFParams] = LIFParams) -> dict[str, type[LIFParams]]:
    """``LIFParams`` and every subclass defined so far (a new neuron model's parameters included)."""
    out = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        out.update(_param_classes(sub))
    return out


def params_from_dict(d: dict[str, Any]) -> LIFParams:
    """Inverse of :meth:`LIFParams.to_dict` (for ``LIFParams`` and its subclasses)."""
    d = dict(d)
    model = d.pop("model", "LIFParams")
    classes = _param_classes()
    cls = classes.get(model)
    if cls is None:
        raise ValueError(f"unknown neuron parameter model {model!r}; known: {', '.join(classes)}")
    return cls(**d)
