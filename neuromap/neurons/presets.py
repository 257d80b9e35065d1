"""Named neuron presets: the conventions of the reference stacks, as options of the one LIF.

A zoo model runs "as in the reference" by building its neurons from a preset instead of forking the
neuron code. Both presets return a plain :class:`~neuromap.neurons.LIF` module (or its
:class:`~neuromap.neurons.LIFParams`), so tracing and backends see ordinary LIF parameters.

* :func:`spikingjelly_lif` — SpikingJelly's ``MultiStepLIFNode`` / ``LIFNode`` (BICLab's SDT V1/V2,
  Spikformer, LMUFormer)::

      H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau      (decay_input, Euler)
      S[t] = H[t] >= V_th                                      (Heaviside(0) = 1)
      V[t] = V_reset if S[t] else H[t]                         (hard reset; soft: V = H - V_th S)

  In neuromap's discretisation this is ``integrator="euler"``, ``tau_mem = tau * dt`` (so
  ``beta = 1 - 1/tau``), ``decay_input=True``, ``v_leak = V_reset`` (the membrane decays towards
  the reset value), ``threshold_rule=">="``, surrogate ``sigmoid`` with ``alpha = 4``.

* :func:`snntorch_leaky` — snnTorch's ``Leaky`` (L2MU)::

      U[t] = beta U[t-1] + I[t] - R[t] U_th,   R[t] = (U[t-1] > U_th)  (detached, one step late)
      S[t] = U[t] > U_th

  which is ``reset_delay=True``, ``reset="subtract"``, ``threshold_rule=">"`` with the ``atan``
  surrogate (``alpha = 2``). ``reset_delay=False`` is ``reset_signal="membrane"`` (see
  :mod:`neuromap.neurons.params`). ``reset_mechanism="zero"`` (``U[t] = beta (1 - R) U[t-1] + I``) gives
  the same spikes as neuromap's immediate zero reset, and ``"none"`` is pure integration.
"""

from __future__ import annotations

import math

from .modules import LIF
from .params import LIFParams
from .surrogate import Surrogate

DT = 1e-3  # nominal step; only ratios tau/dt matter for these step-based conventions
SNNTORCH_RESETS = ("subtract", "zero", "none")


def spikingjelly_params(
    tau: float = 2.0, v_th: float = 1.0, v_reset: float | None = 0.0, detach_reset: bool = True
) -> LIFParams:
    """:class:`LIFParams` of SpikingJelly's LIF (``decay_input=True``): see the module docstring.

    ``v_reset=None`` is SpikingJelly's soft (subtractive) reset; a number is the hard reset value.
    """
    if not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau < 1.0:
        raise ValueError(f"tau must be a finite number >= 1 (SpikingJelly's tau in steps), got {tau!r}")
    if not isinstance(v_th, (int, float)) or not math.isfinite(v_th):
        raise ValueError(f"v_th must be a finite number, got {v_th!r}")
    if v_reset is not None and (not isinstance(v_reset, (int, float)) or not math.isfinite(v_reset)):
        raise ValueError(f"v_reset must be a finite number or None (soft reset), got {v_reset!r}")
    return LIFParams(
        tau_mem=float(tau) * DT,
        dt=DT,
        v_th=float(v_th),
        v_reset=0.0 if v_reset is None else float(v_reset),
        v_leak=0.0 if v_reset is None else float(v_reset),
        reset="subtract" if v_reset is None else "zero",
        integrator="euler",
        decay_input=True,
        threshold_rule=">=",
        detach_reset=bool(detach_reset),
    )


def spikingjelly_lif(
    tau: float = 2.0,
    v_th: float = 1.0,
    v_reset: float | None = 0.0,
    detach_reset: bool = True,
    surrogate: str | Surrogate = "sigmoid",
    slope: float | None = 4.0,
    **module_kwargs,
) -> LIF:
    """A :class:`LIF` that behaves like SpikingJelly's ``MultiStepLIFNode(tau, v_threshold, v_reset,
    detach_reset)`` with its default ``surrogate.Sigmoid(alpha=4)``. ``module_kwargs`` go to
    :class:`LIF` (``size``, ``learn_threshold``, ``impl``)."""
    params = spikingjelly_params(tau, v_th, v_reset, detach_reset)
    return LIF(params, surrogate=surrogate, slope=slope, **module_kwargs)


def snntorch_params(
    beta: float = 0.9, threshold: float = 1.0, reset_mechanism: str = "subtract", reset_delay: bool = True
) -> LIFParams:
    """:class:`LIFParams` of snnTorch's ``Leaky(beta, threshold, reset_mechanism, reset_delay)``."""
    if not isinstance(beta, (int, float)) or not (0.0 < beta < 1.0):
        raise ValueError(
            f"beta must lie in (0, 1), got {beta!r} (for beta = 1, build with learn_beta=True and set the parameter)"
        )
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return LIFParams.from_decay(float(beta), dt=DT, v_th=float(threshold), threshold_rule=">",
                                **snntorch_reset(reset_mechanism, reset_delay, "Leaky"))


SNNTORCH_NEURONS = ("Leaky", "Synaptic", "RLeaky", "RSynaptic")


def snntorch_reset(reset_mechanism: str = "subtract", reset_delay: bool = True, neuron: str = "Leaky") -> dict:
    """The reset fields of :class:`LIFParams` (``reset``, ``reset_delay``, ``reset_signal``,
    ``detach_reset``, ``v_reset``) that reproduce snnTorch 1.0's ``neuron`` class (``Leaky``,
    ``Synaptic``, ``RLeaky``, ``RSynaptic``) with ``reset_mechanism`` and ``reset_delay``:

    * subtract, delayed: ``reset_delay=True`` (snnTorch's ``mem_reset`` is detached);
    * subtract, immediate: ``reset_signal="membrane"`` (its "avoid double reset"; the spike is not detached);
    * zero, delayed: ``Leaky`` zeroes the stored membrane before the decay (``beta (1 - R) U + I``),
      which spikes like the immediate zero reset; ``Synaptic``, ``RLeaky`` and ``RSynaptic`` zero the
      membrane after the next step's integration (``U - R U``): ``reset="zero", reset_delay=True``;
    * zero, immediate: the immediate zero reset (for thresholds >= 0 the membrane signal never fires);
    * none: no reset.

    snnTorch 1.0's ``RSynaptic`` applies ``reset_delay=False`` to local variables only (its ``forward``
    rebinds the arguments ``spk`` / ``mem``), so it behaves as ``reset_delay=True`` there.
    """
    if reset_mechanism not in SNNTORCH_RESETS:
        raise ValueError(f"reset_mechanism={reset_mechanism!r} is not one of {list(SNNTORCH_RESETS)}")
    if neuron not in SNNTORCH_NEURONS:
        raise ValueError(f"neuron={neuron!r} is not one of {list(SNNTORCH_NEURONS)}")
    delayed = bool(reset_delay) or neuron == "RSynaptic"
    if reset_mechanism == "none":
        return dict(reset="none", v_reset=0.0)
    if reset_mechanism == "subtract":
        if delayed:
            return dict(reset="subtract", reset_delay=True, detach_reset=True, v_reset=0.0)
        return dict(reset="subtract", reset_signal="membrane", detach_reset=False, v_reset=0.0)
    if delayed and neuron != "Leaky":
        return dict(reset="zero", reset_delay=True, detach_reset=True, v_reset=0.0)
    return dict(reset="zero", detach_reset=delayed, v_reset=0.0)


def snntorch_leaky(
    beta: float = 0.9,
    threshold: float = 1.0,
    reset_mechanism: str = "subtract",
    reset_delay: bool = True,
    surrogate: str | Surrogate = "atan",
    slope: float | None = 2.0,
    learn_beta: bool = False,
    learn_threshold: bool = False,
    **module_kwargs,
) -> LIF:
    """A :class:`LIF` that behaves like ``snntorch.Leaky(beta, threshold, spike_grad=atan(alpha=2),
    reset_mechanism, reset_delay, learn_beta, learn_threshold)``. ``module_kwargs`` go to
    :class:`LIF` (``size``, ``impl``)."""
    params = snntorch_params(beta, threshold, reset_mechanism, reset_delay)
    return LIF(
        params, surrogate=surrogate, slope=slope, learn_beta=learn_beta, learn_threshold=learn_threshold, **module_kwargs
    )


__all__ = ["spikingjelly_lif", "spikingjelly_params", "snntorch_leaky", "snntorch_params", "snntorch_reset"]
