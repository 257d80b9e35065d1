"""Populations whose numbers are Loihi integers already, and Loihi 2's sigma-delta populations.

A lava-dl netx network (:mod:`neuromap.io.netx`) holds Loihi's integers: its graph stores them in
float units with the scale fixed by the format, and its populations say so (``meta["loihi_integers"]``).
They are taken here as they are, with no scale of neuromap's choosing, so the emulator runs what
lava-dl's reader builds in Lava:

* CuBa / LIF: ``du = 4096 (1 - alpha) - 1``, ``dv = 4096 (1 - beta)``, ``vth = v_th``, integer
  weights, ``bias_mant = bias / (1 - alpha)`` with ``bias_exp = 6`` (lava-dl's); a graph input
  feeding the population directly becomes its bias mantissa, step by step (``LoihiNetwork.direct``).
* sigma-delta (kind ``sigma_delta``, exact or not): ``vth`` and ``bias`` are mantissas of
  ``2**(spike_exp + state_exp)``, weights ``64 W`` (SLAYER's weight scale); the identity activation
  with the graph input feeding it directly is Lava's ``Delta`` encoder. A float graph's values are
  rounded to these grids and the rounding is reported.
* the output of a sigma-delta network (an ``identity`` population of a netx file, a ``sigma_output``
  block) is Lava's ``Sigma`` decoder.

Weights go to Lava's synapse through :func:`~.fixed_point.fit_weights` (lava-dl's
``optimize_weight_bits``), which is lossless; convolutions are unrolled into sparse matrices (Lava's
``Sparse``; lava-dl builds a ``Conv`` process, whose output is the same integer sum wrapped at 24 bits
instead of 32 - the two differ only where a summed input leaves +-2**23).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from neuromap.netlist import Netlist, Population, Projection
from neuromap.neurons.sigma_delta import SigmaDeltaParams

from . import fixed_point as fx
from .emulator import LoihiConnection, LoihiLIF, LoihiSigmaDelta
from .neurons import IMPLEMENTATIONS, NUMERICS, QuantizationError, compartment

NETX_BIAS_EXP = 6  # lava-dl netx: bias_mant with bias_exp = 6
WEIGHT_SCALE = 64  # SLAYER / lava-dl: sigma-delta weights are integers / 2**6 in float units
DEFAULT_SPIKE_EXP = 6  # lava-dl netx.hdf5.Network(spike_exp=6)
STATE_EXP = 6  # lava-dl netx: state_exp = 6


class IntegerError(ValueError):
    """A value that should be a Loihi integer is not (names the population and the value)."""


def handles(pop: Population) -> bool:
    """Whether this module quantises ``pop`` (else the float quantiser of :mod:`.float_to_fixed` does): a
    population of Loihi integers (a netx file), or a kind whose compartment says its parameters are
    integers on Lava's grids (:class:`.neurons.SigmaDeltaCompartment`)."""
    if pop.meta.get("loihi_integers"):
        return True
    impl = IMPLEMENTATIONS.lookup(pop, NUMERICS)
    return bool(getattr(impl, "integers", False))


def _exact(values: np.ndarray, what: str, pop: str, notes: list[str] | None) -> np.ndarray:
    """``values`` as integers; rounding is an error for exact populations, a note for float ones."""
    r = np.rint(values)
    if np.any(r != values):
        if notes is None:
            bad = np.asarray(values).reshape(-1)[int(np.argmax(np.asarray(r != values).reshape(-1)))]
            raise IntegerError(f"population {pop!r}: {what} {bad!r} is not an integer, though the population holds "
                               "Loihi integers (a netx file)")
        err = float(np.max(np.abs(r - values)))
        notes.append(f"{what} rounded to integers (max error {err:.3g})")
    return r.astype(np.int64)


def _matrix(proj: Projection) -> np.ndarray | sp.csr_matrix:
    if proj.kind == "conv":
        from neuromap.graph.matrices import conv_matrix

        return conv_matrix(np.asarray(proj.weight, dtype=np.float64), proj.conv)
    if proj.kind in ("dense", "sparse"):
        return proj.weight
    raise IntegerError(f"projection {proj.name!r} ({proj.kind}): Loihi runs dense, sparse and conv synapses")


def _connection(proj: Projection, scale: float, notes: list[str] | None) -> LoihiConnection:
    """Integer weights ``scale x W``, stored without loss in Lava's 8-bit synapse."""
    w = _matrix(proj)
    if sp.issparse(w):
        w = w.tocsr().astype(np.float64)
        data = _exact(w.data * scale, f"weights of {proj.name!r}", proj.dst, notes)
        shifted, bits, exp = fx.fit_weights(data)
        ints = sp.csr_matrix((shifted, w.indices, w.indptr), shape=w.shape)
    else:
        ints, bits, exp = fx.fit_weights(_exact(np.asarray(w, np.float64) * scale, f"weights of {proj.name!r}",
                                                proj.dst, notes))
    if proj.delay > fx.MAX_DELAY:
        raise IntegerError(f"projection {proj.name!r}: delay of {proj.delay} steps; Loihi 2's synaptic delay has 6 "
                           f"bits (at most {fx.MAX_DELAY} steps)")
    return LoihiConnection(proj.src, proj.dst, ints, weight_exp=exp, num_weight_bits=bits, delays=int(proj.delay))


def _bias(incoming: list[Projection], size: int) -> np.ndarray:
    total = np.zeros(size)
    for proj in incoming:
        if proj.bias is not None:
            total = total + np.asarray(proj.bias, dtype=np.float64).reshape(-1)
    return total


def _split(netlist: Netlist, pop: Population) -> tuple[list[Projection], str | None]:
    """Incoming synaptic projections and the graph input read directly (an identity projection), if any."""
    synaptic, direct = [], None
    for proj in netlist.incoming(pop.name):
        src = netlist.population(proj.src)
        if proj.kind == "identity" and src.is_input and direct is None:
            direct = src.name
        else:
            synaptic.append(proj)
    return synaptic, direct


def lif(netlist: Netlist, pop: Population) -> tuple[LoihiLIF, list[LoihiConnection], str | None, dict]:
    """A CuBa / LIF population of Loihi integers: ``(population, connections, direct input, facts)``."""
    p, comp = pop.params, compartment(pop)
    alpha = comp.alpha(pop)  # None: a LIF, whose current lasts one step (Loihi's du = 4095)
    alpha = np.zeros(1) if alpha is None else np.asarray(alpha, np.float64)
    beta = np.asarray(comp.beta(pop), np.float64)
    v_th = np.asarray(p.v_th if p.v_th is not None else p.neuron.v_th, np.float64)
    incoming, direct = _split(netlist, pop)
    if direct is not None and np.any(alpha != 0):
        raise IntegerError(f"population {pop.name!r} reads the graph input directly (as its bias) but its current "
                           "decays with alpha != 0; Loihi's bias enters the voltage, so only alpha = 0 is exact")
    du = _exact(4096 * (1 - alpha), "current decay 4096 (1 - alpha)", pop.name, None) - 1
    dv = _exact(4096 * (1 - beta), "voltage decay 4096 (1 - beta)", pop.name, None)
    vth = _exact(v_th, "threshold", pop.name, None)
    gain = np.where(alpha < 1, 1 - alpha, 1.0)
    bias = _exact(_bias(incoming, pop.size) / gain, "bias / (1 - alpha)", pop.name, None)
    conns = [_connection(proj, 1.0, None) for proj in incoming]
    layer = LoihiLIF(pop.name, pop.size, du=du, dv=dv, vth=vth, bias_mant=bias, bias_exp=NETX_BIAS_EXP)
    return layer, conns, direct, {"scale": 2.0**6, "du": int(du.flat[0]), "dv": int(dv.flat[0]),
                                  "vth": int(vth.flat[0]), "notes": ["Loihi integers as they are (netx)"]}


def sigma_delta(netlist: Netlist, pop: Population, spike_exp: int = DEFAULT_SPIKE_EXP
                ) -> tuple[LoihiSigmaDelta, list[LoihiConnection], str | None, dict]:
    """A sigma-delta population (or a netx network's sigma output): Lava's SigmaDelta / Delta / Sigma."""
    exact = bool(pop.meta.get("loihi_integers"))
    notes: list[str] | None = None if exact else []
    incoming, direct = _split(netlist, pop)
    conns = [_connection(proj, WEIGHT_SCALE, notes) for proj in incoming]
    bias = _exact(_bias(incoming, pop.size), "bias", pop.name, notes)
    if not isinstance(pop.params, SigmaDeltaParams):  # the decoder at the end of a sigma-delta network
        mode, params = "sigma", SigmaDeltaParams()
    else:
        params = pop.params
        mode = "delta" if direct is not None else "sigma_delta"
    if direct is not None and (params.activation != "identity" or incoming or np.any(bias)):
        raise IntegerError(f"population {pop.name!r}: a graph input feeding a sigma-delta population directly "
                           "runs as Lava's Delta encoder, which needs the identity activation, no synapses and no bias")
    if mode == "sigma" and np.any(bias):
        raise IntegerError(f"population {pop.name!r}: Lava's Sigma decoder adds no bias")
    vth = int(_exact(np.asarray(params.vth), "threshold", pop.name, notes))
    layer = LoihiSigmaDelta(pop.name, pop.size, vth=vth, bias=bias, mode=mode, relu=params.activation == "relu",
                            cum_error=params.cum_error, spike_exp=spike_exp, state_exp=STATE_EXP)
    facts = {"scale": 2.0 ** (spike_exp + STATE_EXP), "du": 0, "dv": 0, "vth": vth,
             "notes": (notes or []) + [f"Lava {dict(sigma_delta='SigmaDelta', delta='Delta', sigma='Sigma')[mode]}"
                                       + (" (netx integers as they are)" if exact else "")]}
    return layer, conns, direct, facts


def quantise(netlist: Netlist, pop: Population, spike_exp: int = DEFAULT_SPIKE_EXP):
    """:func:`lif` for a population of spiking compartments (LIF, CuBa), :func:`sigma_delta` for graded ones
    (sigma-delta, a netx network's sigma output); raises :class:`IntegerError`."""
    if pop.model.spiking:
        try:
            return lif(netlist, pop)
        except QuantizationError as exc:  # a kind Loihi's compartment does not implement
            raise IntegerError(str(exc)) from exc
    return sigma_delta(netlist, pop, spike_exp)


def records_scale(layer: LoihiLIF | LoihiSigmaDelta) -> float:
    """Loihi units per float unit of what a population sends (1 for binary spikes)."""
    if isinstance(layer, LoihiSigmaDelta):
        return float(2 ** (layer.spike_exp + (layer.state_exp if layer.mode == "sigma" else 0)))
    return 1.0


