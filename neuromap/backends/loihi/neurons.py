"""The neuron kinds Loihi's compartment implements, each registered with ``@implements(kind,
numerics="fixed_pt")`` (Lava's bit-accurate ``Loihi2SimCfg(select_tag="fixed_pt")`` models):
LIF, CuBa-LIF and a never-spiking leaky-integrator readout (LI, CubaLI). A compartment class says
how the float parameters map onto Loihi's (:mod:`.float_to_fixed` does the arithmetic): the decays,
the input gain, the threshold, and which of neuromap's semantics Loihi 1 cannot reproduce. The
``loihi`` and ``lava`` backends share this table (they run the same fixed-point network)."""

from __future__ import annotations

import numpy as np

from neuromap.errors import NeuromapError
from neuromap.netlist import Population

from ..base import Implementations

NUMERICS = "fixed_pt"
IMPLEMENTATIONS = Implementations("loihi")
implements = IMPLEMENTATIONS.implements


class QuantizationError(NeuromapError, ValueError):
    """The network cannot be expressed in Loihi fixed point; the message names the node and why."""


def refuse(pop: Population, problems: list[str], allow_mismatch: bool) -> list[str]:
    """``problems`` (semantics Loihi differs in) as notes with ``allow_mismatch``; else, when there
    are any, :class:`QuantizationError` naming the population and each difference."""
    if problems and not allow_mismatch:
        raise QuantizationError(
            f"population {pop.name!r} cannot run bit-faithfully on Loihi: {'; '.join(problems)}. "
            "Retrain with Loihi-compatible neurons, or pass allow_mismatch=True to quantise anyway."
        )
    return problems


def params(pop: Population):
    if pop.params is None:
        raise QuantizationError(f"population {pop.name!r} ({pop.kind}) has no neuron parameters, needed for Loihi")
    return pop.params


class _Spiking:
    """A spiking compartment (LIF family): strict threshold, reset to 0, no refractoriness."""

    spiking = True

    def semantics(self, pop: Population, allow_mismatch: bool) -> list[str]:
        """Loihi 1 LIF: strict threshold, reset to 0, no refractoriness, no delayed reset; a model
        that differs is refused unless ``allow_mismatch`` (then the differences are notes)."""
        p = params(pop).neuron
        problems = []
        if p.reset != "zero":
            problems.append(f"reset={p.reset!r} (Loihi resets v to 0; train with reset='zero')")
        if float(p.v_reset) != 0.0:
            problems.append(f"v_reset={p.v_reset} (Loihi resets to 0)")
        if float(p.v_leak) != 0.0:
            problems.append(f"v_leak={p.v_leak} (Loihi leaks to 0)")
        if int(p.refractory_steps):
            problems.append("refractory_steps > 0 (Lava's bit-accurate LIF has no refractoriness)")
        if p.threshold_rule != ">":
            problems.append("threshold_rule '>=' (Loihi spikes on v > threshold)")
        if p.reset_delay:
            problems.append("reset_delay=True (snnTorch's delayed reset)")
        if p.reset_signal != "spike":
            problems.append("reset_signal='membrane' (snnTorch's immediate reset)")
        return refuse(pop, problems, allow_mismatch)

    def beta(self, pop: Population) -> np.ndarray:
        """Membrane decay per neuron (overrides) or the scalar."""
        p = params(pop)
        return np.asarray(p.neuron.beta if p.beta is None else p.beta, dtype=np.float64)

    def alpha(self, pop: Population) -> np.ndarray | None:
        """Synaptic-current decay, None without a synaptic current (the current lasts one step)."""
        return None

    def gain(self, pop: Population, beta: np.ndarray) -> np.ndarray:
        """Input gain per neuron: ``1 - beta`` with ``decay_input``, else 1."""
        return (1.0 - beta) if params(pop).neuron.decay_input else np.ones_like(beta)

    def threshold(self, pop: Population) -> float:
        p = params(pop)
        return float(np.max(np.asarray(p.neuron.v_th if p.v_th is None else p.v_th, dtype=np.float64)))


@implements("lif", numerics=NUMERICS)
class LIFCompartment(_Spiking):
    """LIF: Loihi's current decays in one step (``du = 4095``)."""


@implements("cuba", numerics=NUMERICS)
class CubaCompartment(_Spiking):
    """CuBa-LIF: Loihi's current decays by ``alpha``."""

    def alpha(self, pop: Population) -> np.ndarray | None:
        p = params(pop)
        return np.asarray(p.neuron.alpha if p.alpha is None else p.alpha, dtype=np.float64)


@implements("li", numerics=NUMERICS)
@implements("cubali", numerics=NUMERICS)
class ReadoutCompartment:
    """A non-spiking leaky integrator (NIR's ``LI``, ``I``; with a synaptic current ``CubaLI``): a
    compartment whose threshold is never reached; its membrane is the output. Its input gain (NIR's
    ``r``, times ``w_in`` for CubaLI) is multiplied into the weights like a LIF's ``decay_input``
    gain; a non-zero ``v_leak`` is a difference (Loihi leaks to 0)."""

    spiking = False

    def semantics(self, pop: Population, allow_mismatch: bool) -> list[str]:
        v_leak = params(pop).values("v_leak", pop.shape)
        problems = []
        if np.any(v_leak != 0):
            problems.append(f"v_leak={float(v_leak.flat[np.argmax(v_leak != 0)]):g} (Loihi leaks to 0)")
        return refuse(pop, problems, allow_mismatch)

    def beta(self, pop: Population) -> np.ndarray:
        """Membrane decay per neuron."""
        return params(pop).values("beta", pop.shape).reshape(-1)

    def alpha(self, pop: Population) -> np.ndarray | None:
        """Synaptic-current decay per neuron (CubaLI), None for an LI (the current lasts one step)."""
        p = params(pop)
        return None if p.alpha is None else p.values("alpha", pop.shape).reshape(-1)

    def gain(self, pop: Population, beta: np.ndarray) -> np.ndarray:
        """Input gain per neuron (negative values flip the weights into that neuron)."""
        return params(pop).values("gain", pop.shape).reshape(-1)

    def threshold(self, pop: Population) -> float:
        return 1.0


def compartment(pop: Population):
    """The compartment implementing ``pop``'s kind; :class:`QuantizationError` naming the kind, the
    node, the backend and the kinds it implements otherwise."""
    why = IMPLEMENTATIONS.problem(pop, NUMERICS)
    if why is not None:
        raise QuantizationError(why)
    return IMPLEMENTATIONS.lookup(pop, NUMERICS)()
