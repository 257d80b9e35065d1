"""Convert a float LIF / CuBa network (a :class:`~neuromap.netlist.Netlist`) to Loihi fixed point
(not to be confused with :mod:`neuromap.quantize`, quantisation-aware training, whose integer grids
this module keeps). Which kinds a compartment runs, and how their parameters map, is :mod:`.neurons`.

Mapping of neuromap's discretisation (:mod:`neuromap.neurons.params`) onto Loihi's compartment
(:mod:`.fixed_point`), layer by layer, with a per-layer scale ``S`` (Loihi units per float unit
of membrane potential):

* CuBa current decay ``alpha = 1 - (du + 1)/4096``  ->  ``du = round(4096 (1 - alpha)) - 1``;
  LIF (no synaptic current) uses ``du = 4095`` (the current lasts one step).
* membrane decay ``beta = 1 - dv/4096``  ->  ``dv = round(4096 (1 - beta))``.
* Loihi adds ``(W_int s) << weight_exp << 6`` to the current, and the current to ``v``; neuromap
  adds ``g * W s`` (``g`` = input gain) to ``h``. So ``W_int = round(W * S * g / 2**(6 + weight_exp))``
  clipped to the signed 8-bit range (even values when signs are mixed: Lava keeps 8 bits with sign).
* threshold ``vth = round(S * v_th / 64)`` (17-bit mantissa), spike when ``v > vth << 6`` (strict,
  as neuromap's default ``threshold_rule=">"``); reset to 0 (Loihi 1 has no subtractive reset).
* an Affine bias ``b`` becomes the compartment bias ``S * g * b`` (exact for LIF; for CuBa the
  steady state ``S * g * b / (1 - alpha)`` — reported as an approximation).
* non-spiking ``li`` / ``cubali`` readouts run as compartments that never spike (``vth`` at its
  maximum); their input gain (NIR's ``r``, and ``w_in`` for CubaLI) is multiplied into the weights
  like a LIF's ``decay_input`` gain, and a non-zero ``v_leak`` is refused (Loihi leaks to 0).

``S`` is chosen per layer so that the largest weight uses the full 8-bit range for the best
``weight_exp`` in [-8, 7] with the threshold still representable (``vth <= 2**17 - 1``).
Every approximation is reported in :class:`QuantReport` (weight RMS error, decay error, ...).

Quantisation-aware-trained weights (:mod:`neuromap.quantize`: the projection records a bit width and
an integer grid ``W = q x step``) are used as they are, with no second rounding: when every incoming
projection of a population shares one step ``s``, ``S`` is chosen so that Loihi's weight is
``q x m`` exactly, ``m`` the largest power of two for which every integer of the recorded range fits
Lava's ``weight_bits`` (a multiple of the bits Lava truncates: ``m >= 2`` at 8 bits with mixed signs).
A grid that cannot be expressed raises :class:`QuantizationError` naming the projection and why
(steps that differ per output channel or per projection - a folded BatchNorm, per-channel QAT -, a
range too wide for ``weight_bits``, per-neuron decays); ``allow_mismatch=True`` quantises such a
layer as float weights instead, with a note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from neuromap.netlist import Netlist, Population
from neuromap.quantize import GridError, grid_integers

from . import fixed_point as fx
from .emulator import LoihiConnection, LoihiLIF, LoihiNetwork
from .neurons import QuantizationError, compartment

#: A population whose non-zero incoming weights round to zero more often than this (one outlier setting
#: the scale) is refused: the network Loihi would run has lost most of its synapses.
MAX_ZEROED_FRACTION = 0.5


@dataclass
class LayerQuant:
    """How one population was quantised (all errors relative, dimensionless)."""

    name: str
    scale: float  # Loihi voltage units per float unit
    weight_exp: int
    du: int
    dv: int
    vth: int
    weight_rel_rms_error: float
    beta_error: float
    alpha_error: float
    notes: list[str] = field(default_factory=list)
    readout: bool = False  # a never-spiking compartment: its membrane (in float units) is the output
    zeroed_weights: int = 0  # non-zero float weights whose Loihi integer is 0
    nonzero_weights: int = 0


@dataclass
class QuantReport:
    layers: dict[str, LayerQuant]
    input_names: list[str]

    def table(self) -> str:
        rows = [f"{'layer':<16}{'scale':>10}{'w_exp':>7}{'du':>6}{'dv':>6}{'vth':>8}{'w err':>9}  notes"]
        for q in self.layers.values():
            rows.append(
                f"{q.name:<16}{q.scale:>10.3g}{q.weight_exp:>7}{q.du:>6}{q.dv:>6}{q.vth:>8}"
                f"{100 * q.weight_rel_rms_error:>8.2f}%  {'; '.join(q.notes)}"
            )
        return "\n".join(rows)


def _as_matrix(proj, pop: Population):
    """Dense and sparse projections as they are; a convolution unrolled by its geometry into the
    equivalent sparse matrix, run as Lava's bit-accurate ``Sparse`` process. The bit-exactness claim
    for convolutions is therefore against Lava's ``Sparse``, not against Lava's own ``Conv`` process:
    lava-nc 0.10.0's ``Conv`` fixed-point model ignores ``weight_exp`` and does no 8-bit weight
    clipping, so it is not a model of Loihi's synapse arithmetic."""
    if proj.kind in ("dense", "sparse"):
        return proj
    if proj.kind == "conv":
        from dataclasses import replace

        from neuromap.graph.matrices import conv_matrix

        return replace(proj, kind="sparse", weight=conv_matrix(np.asarray(proj.weight), proj.conv), conv=None)
    raise QuantizationError(
        f"projection {proj.name!r} ({proj.kind}) into {pop.name!r}: the Loihi path runs dense, sparse and conv projections"
    )


def max_weight_int(weight_bits: int) -> int:
    """The largest positive weight Lava keeps with mixed signs at ``weight_bits``: the 8-bit mantissa
    loses its low ``9 - weight_bits`` bits (sign included), so 254 at 8 bits, 224 at 4, 128 at 2.
    Scaling to this bound (not to ``2**weight_bits - 2``) keeps the weights inside the range that
    survives the truncation instead of truncating them to zero."""
    return 2**8 - 2 ** (9 - weight_bits)


def _choose_scale(w_absmax: float, v_th: float, gain: float, weight_bits: int) -> tuple[float, int]:
    """Largest scale S (best precision) such that weights fit the signed range and vth fits 17 bits."""
    w_max_int = max_weight_int(weight_bits)
    best = None
    for e in range(7, -9, -1):
        s = w_max_int * 2 ** (6 + e) / (w_absmax * gain) if w_absmax > 0 else 2 ** (6 + e) * 64.0
        vth = s * v_th / 64
        if vth <= fx.MAX_VTH_MANT and s * v_th < fx.MAX_UV / 4:
            best = (s, e)
            break
    if best is None:
        raise QuantizationError("no weight exponent in [-8, 7] fits both the weights and the threshold")
    return best


@dataclass(frozen=True)
class QATGrid:
    """The shared integer grid of a population's incoming QAT weights: ``W = q x step``, ``q`` in
    ``[qmin, qmax]``, each Loihi weight ``q x multiplier``."""

    step: float
    qmin: int
    qmax: int
    bits: int
    multiplier: int


def qat_grid(pop: Population, incoming: list, weight_bits: int) -> QATGrid | None:
    """The grid all incoming projections of ``pop`` share, None when none records one; raises
    :class:`QuantizationError` when some do and Loihi cannot take them as they are."""
    grids = []
    for proj in incoming:
        try:
            found = grid_integers(proj.weight, proj.meta, f"projection {proj.name!r}")
        except GridError as exc:
            raise QuantizationError(str(exc)) from exc
        grids.append((proj, None if found is None else found[1]))
    if all(g is None for _, g in grids):
        return None
    missing = [p.name for p, g in grids if g is None]
    if missing:
        raise QuantizationError(f"population {pop.name!r}: projections {missing} have float weights while the others "
                                "are quantisation-aware trained; one Loihi scale per population cannot keep both")
    steps = np.concatenate([g["scale"] for _, g in grids])
    if np.ptp(steps) > 1e-9 * steps.max():
        raise QuantizationError(
            f"population {pop.name!r}: its incoming QAT weights have {len(np.unique(steps))} different steps "
            f"({steps.min():.4g} .. {steps.max():.4g}; per output channel or per projection, e.g. a folded "
            "BatchNorm or per-channel QAT); Loihi has one weight exponent per projection and one scale per "
            "population, so only a per-layer step shared by all incoming projections is taken as it is")
    qmin, qmax = min(g["qmin"] for _, g in grids), max(g["qmax"] for _, g in grids)
    bits = max(g["bits"] for _, g in grids)
    kmax = max(abs(qmin), abs(qmax))
    lowest = 2 ** (9 - weight_bits)  # Lava drops the bits below this with mixed signs
    m = lowest
    while 2 * m * kmax <= max_weight_int(weight_bits):
        m *= 2
    if m * kmax > max_weight_int(weight_bits):
        raise QuantizationError(
            f"population {pop.name!r}: {bits}-bit QAT weights (integers in [{qmin}, {qmax}]) do not fit Loihi's "
            f"{weight_bits}-bit weights with mixed signs (multiples of {lowest} up to {max_weight_int(weight_bits)}); "
            "train with fewer bits or symmetric=True")
    return QATGrid(float(steps.max()), qmin, qmax, bits, m)


def _grid_scale(grid: QATGrid, v_th: float, gain: float) -> tuple[float, int]:
    """``(S, weight_exp)`` mapping the grid's step to ``multiplier`` Loihi units, the threshold still representable."""
    for e in range(7, -9, -1):
        s = grid.multiplier * 2 ** (6 + e) / (grid.step * gain)
        if s * v_th / 64 <= fx.MAX_VTH_MANT and s * v_th < fx.MAX_UV / 4:
            return s, e
    raise QuantizationError("no weight exponent in [-8, 7] maps the QAT step and fits the threshold")


def _readout_scale(incoming: list, beta: np.ndarray, alpha: np.ndarray | None, grid: QATGrid | None,
                   w_absmax: float, gain_scalar: float, weight_bits: int, notes: list[str]) -> tuple[float, int, int]:
    """``(S, weight_exp, vth)`` of a never-spiking readout: full 8-bit weights (or the QAT integers x
    multiplier), the largest weight_exp whose worst-case steady-state membrane (fan-in x max weight /
    (1 - beta) [/ (1 - alpha) with a synaptic current]) stays inside 22 bits, and the threshold at its maximum."""
    fan_in = sum(int(np.max(pr.fan_in())) if np.ndim(pr.fan_in()) else int(pr.fan_in()) for pr in incoming)
    leak = max(1.0 - float(np.min(beta)), 1.0 / 4096)
    if alpha is not None:
        leak *= max(1.0 - float(np.max(alpha)), 1.0 / 4096)
    exp = -8
    for e in range(7, -9, -1):
        if 64 * fan_in * max_weight_int(weight_bits) * 2**e / leak < 2**22:
            exp = e
            break
    if grid is not None:
        scale = grid.multiplier * 2 ** (6 + exp) / (grid.step * gain_scalar)
        notes.append(f"QAT weights as they are: Loihi weight = {grid.bits}-bit integer x {grid.multiplier}")
    elif w_absmax > 0:
        scale = max_weight_int(weight_bits) * 2 ** (6 + exp) / (w_absmax * gain_scalar)
    else:
        scale = 1.0
    return scale, exp, fx.MAX_VTH_MANT


def _nonzero(w) -> int:
    return int(np.count_nonzero(w.data if sp.issparse(w) else np.asarray(w)))


def _abs_nonzero(w) -> np.ndarray:
    data = np.abs(np.asarray(w.data if sp.issparse(w) else w, dtype=np.float64)).ravel()
    return data[data > 0]


def check_zeroed(pop: Population, incoming: list, zeroed: int, nonzero: int, weight_bits: int,
                 allow_mismatch: bool, notes: list[str]) -> None:
    """Refuse (or, with ``allow_mismatch``, note and warn) a population most of whose non-zero weights
    round to zero: the numbers say how many and the dynamic range that caused it."""
    if nonzero == 0 or zeroed == 0:
        return
    share = zeroed / nonzero
    note = f"{zeroed} of {nonzero} non-zero weights round to 0"
    if share <= MAX_ZEROED_FRACTION:
        notes.append(note)
        return
    mags = np.concatenate([_abs_nonzero(p.weight) for p in incoming])
    largest, median = float(mags.max()), float(np.median(mags))
    msg = (f"population {pop.name!r}: {zeroed} of {nonzero} non-zero incoming weights ({100 * share:.1f} %) round to "
           f"0 in Loihi's {weight_bits}-bit weights: the largest |w| = {largest:.4g} is {largest / median:.3g} times "
           f"the median |w| = {median:.4g}, and one scale per layer resolves only {max_weight_int(weight_bits)} "
           "steps up to the largest; clip the outlying weights (or retrain with weight clipping)")
    if not allow_mismatch:
        raise QuantizationError(msg + ", or pass allow_mismatch=True (--allow-mismatch) to quantise anyway")
    import warnings

    warnings.warn(msg, UserWarning, stacklevel=3)
    notes.append(note + f" (largest |w| {largest / median:.3g} x the median)")


def quantize(
    netlist: Netlist, weight_bits: int = 8, allow_mismatch: bool = False
) -> tuple[LoihiNetwork, QuantReport]:
    """Quantise every population of ``netlist`` (the kinds :mod:`.neurons` implements) and its incoming
    dense, sparse or conv projections. Raises :class:`QuantizationError` naming the node for anything
    Loihi's bit-accurate model cannot run (a kind it does not implement, semantics it differs in)."""
    if not 2 <= weight_bits <= 8:
        raise QuantizationError(f"weight_bits must lie in [2, 8], got {weight_bits}: with mixed-sign weights Lava "
                                "keeps only the top weight_bits of the 8-bit mantissa and one of them is the sign, "
                                "so 1 bit leaves no magnitude")
    pops = netlist.populations
    if not pops:
        raise QuantizationError("the netlist is empty")
    inputs = {p.name: p.size for p in pops if p.is_input}
    layers: list[LoihiLIF] = []
    conns: list[LoihiConnection] = []
    report: dict[str, LayerQuant] = {}
    for pop in pops:
        if pop.is_input:
            continue
        comp = compartment(pop)
        notes = comp.semantics(pop, allow_mismatch)
        beta, alpha = comp.beta(pop), comp.alpha(pop)
        gain = comp.gain(pop, beta)  # a readout's negative gain flips its row's weights
        gain_scalar = float(np.max(np.abs(gain))) or 1.0
        v_th = comp.threshold(pop)
        incoming = list(netlist.incoming(pop.name))
        if not incoming:
            raise QuantizationError(f"population {pop.name!r} has no incoming projection")
        try:
            grid = qat_grid(pop, incoming, weight_bits)
        except QuantizationError as exc:
            if not allow_mismatch:
                raise
            grid = None
            notes.append(f"QAT grid not kept ({exc})")
        if grid is not None and comp.spiking and np.ptp(gain) > 0:
            raise QuantizationError(f"population {pop.name!r}: per-neuron decays give per-neuron input gains; the "
                                    "QAT weights cannot keep one Loihi scale")
        w_absmax = 0.0
        incoming = [_as_matrix(proj, pop) for proj in incoming]
        for proj in incoming:
            data = proj.weight.data if sp.issparse(proj.weight) else np.asarray(proj.weight)
            w_absmax = max(w_absmax, float(np.abs(data).max()) if data.size else 0.0)
        if not comp.spiking:
            scale, exp, vth = _readout_scale(incoming, beta, alpha, grid, w_absmax, gain_scalar, weight_bits, notes)
        elif grid is not None:
            scale, exp = _grid_scale(grid, v_th, gain_scalar)
            vth = int(round(scale * v_th / 64))
            notes.append(f"QAT weights as they are: Loihi weight = {grid.bits}-bit integer x {grid.multiplier}")
        else:
            scale, exp = _choose_scale(w_absmax, v_th, gain_scalar, weight_bits)
            vth = int(round(scale * v_th / 64))
        dv = np.clip(np.round(4096 * (1 - beta)), 0, fx.MAX_DECAY).astype(np.int64)
        if alpha is not None:
            du = np.clip(np.round(4096 * (1 - alpha)) - 1, 0, fx.MAX_DECAY).astype(np.int64)
            alpha_err = float(np.max(np.abs((1 - (du + 1) / 4096) - alpha)))
        else:
            du = np.full(pop.size, fx.MAX_DECAY, dtype=np.int64)
            alpha_err = 0.0
        beta_err = float(np.max(np.abs((1 - dv / 4096) - beta)))
        bias_total = np.zeros(pop.size)
        errs_num, errs_den = 0.0, 0.0
        zeroed = nonzero = 0
        for proj in incoming:
            factor = scale * gain / 2 ** (6 + exp)
            if sp.issparse(proj.weight):
                w = proj.weight.tocsr().astype(np.float64)
                wq = w.multiply(np.asarray(factor).reshape(-1, 1) if np.ndim(factor) else factor).tocsr()
                wq.data = np.round(wq.data)
                wint = fx.effective_weights(wq, weight_bits)
                back = wint.astype(np.float64).multiply(
                    1.0 / (np.asarray(factor).reshape(-1, 1) if np.ndim(factor) else factor)
                )
                errs_num += float(((back - w).power(2)).sum())
                errs_den += float(w.power(2).sum())
            else:
                w = np.asarray(proj.weight, dtype=np.float64)
                f = np.asarray(factor).reshape(-1, 1) if np.ndim(factor) else factor
                wint = fx.effective_weights(np.round(w * f), weight_bits)
                errs_num += float(((wint / f - w) ** 2).sum())
                errs_den += float((w**2).sum())
            if proj.delay > fx.MAX_DELAY:
                raise QuantizationError(f"projection {proj.name!r}: delay of {proj.delay} steps; Loihi 2's synaptic "
                                        f"delay has 6 bits (at most {fx.MAX_DELAY} steps)")
            nonzero += _nonzero(proj.weight)
            zeroed += _nonzero(proj.weight) - _nonzero(wint)
            conns.append(LoihiConnection(proj.src, proj.dst, wint, weight_exp=exp, num_weight_bits=weight_bits,
                                         delays=int(proj.delay)))
            if proj.bias is not None:
                bias_total = bias_total + np.asarray(proj.bias, dtype=np.float64).reshape(-1)
        check_zeroed(pop, incoming, zeroed, nonzero, weight_bits, allow_mismatch, notes)
        bias_mant = np.zeros(pop.size, dtype=np.int64)
        bias_exp = np.zeros(pop.size, dtype=np.int64)
        if np.any(bias_total):
            target = scale * gain * bias_total
            if alpha is not None:
                target = target / (1 - alpha)
                notes.append("bias mapped to its CuBa steady state (approximation)")
            for i, b in enumerate(target):
                e = 0
                while abs(round(b / 2**e)) > fx.MAX_BIAS_MANT and e < fx.MAX_BIAS_EXP:
                    e += 1
                bias_mant[i] = int(np.clip(round(b / 2**e), -fx.MAX_BIAS_MANT, fx.MAX_BIAS_MANT))
                bias_exp[i] = e
        layers.append(LoihiLIF(pop.name, pop.size, du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp))
        report[pop.name] = LayerQuant(
            name=pop.name,
            scale=float(scale),
            weight_exp=int(exp),
            du=int(du.flat[0]),
            dv=int(dv.flat[0]),
            vth=int(vth),
            weight_rel_rms_error=math.sqrt(errs_num / errs_den) if errs_den > 0 else 0.0,
            beta_error=beta_err,
            alpha_error=alpha_err,
            notes=notes,
            readout=not comp.spiking,
            zeroed_weights=zeroed,
            nonzero_weights=nonzero,
        )
    return LoihiNetwork(inputs, layers, conns), QuantReport(report, list(inputs))
