"""Crossbar periphery: DAC input quantisation, ADC output quantisation with range clipping, a simple
IR-drop model and a ramp ADC that applies a nonlinear activation while it converts.

Units: inputs and outputs are *normalised*, as in aihwkit: an input of 1 is the DAC's full-scale
voltage, and a tile output of 1 is the current of one device at full conductance span driven by a
full-scale input (so a column's output is ``sum_i x_i (G+_ij - G-_ij) / (g_max - g_min)``).
Bit widths are in bits.
"""

from __future__ import annotations

import math

import torch


def _check_bits(bits: int, what: str) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not (1 <= bits <= 32):
        raise ValueError(f"{what} must be an integer number of bits in [1, 32], got {bits!r}")
    return bits


def input_planes(x: torch.Tensor, dac_bits: int, input_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """DAC input quantisation (sign-magnitude) of ``x`` in [-1, 1], split into bit-serial planes.

    The magnitude is quantised to ``2^(input_bits-1) - 1`` steps (aihwkit ``inp_res = 1/(2^bits - 2)``
    over [-1, 1]); a DAC of ``dac_bits`` applies ``max(dac_bits - 1, 1)`` magnitude bits per pulse
    (the sign is the pulse polarity), so ``ceil((input_bits - 1) / that)`` planes are applied one after
    the other and shift-added after the ADC. Returns ``(planes [P, ...], plane_weights [P])`` with
    ``x_q = sum_p plane_weights[p] * planes[p]``. Values outside [-1, 1] are clipped.
    """
    _check_bits(dac_bits, "dac_bits")
    _check_bits(input_bits, "input_bits")
    if input_bits < 2:
        raise ValueError("input_bits must be >= 2 for signed inputs (use binary pulses for spikes)")
    m = 2 ** (input_bits - 1) - 1
    code = torch.round(x.clamp(-1.0, 1.0).abs() * m)
    sign = torch.sign(x)
    per = max(dac_bits - 1, 1)
    n_planes = -(-(input_bits - 1) // per)
    if n_planes == 1:
        return (sign * code / m).unsqueeze(0), torch.ones(1, dtype=x.dtype)
    base = 2**per
    planes, weights = [], []
    rest = code
    for p in range(n_planes):
        digit = torch.remainder(rest, base)
        rest = torch.div(rest - digit, base)
        planes.append(sign * digit)
        weights.append(base**p / m)
    return torch.stack(planes), torch.tensor(weights, dtype=x.dtype)


def adc(y: torch.Tensor, bits: int | None, bound: float | torch.Tensor) -> torch.Tensor:
    """ADC: clip to ``[-bound, bound]`` and round to ``2^bits - 1`` uniform codes (step
    ``2 bound / (2^bits - 2)``, aihwkit ``out_res = 1/(2^bits - 2)``). ``bits=None``: clipping only."""
    y = torch.maximum(torch.minimum(y, torch.as_tensor(bound, dtype=y.dtype)), -torch.as_tensor(bound, dtype=y.dtype))
    if bits is None:
        return y
    _check_bits(bits, "adc_bits")
    step = 2.0 * torch.as_tensor(bound, dtype=y.dtype) / (2**bits - 2) if bits > 1 else torch.as_tensor(bound, dtype=y.dtype)
    return torch.round(y / step) * step


def ir_drop_mvm(x: torch.Tensor, g: torch.Tensor, gamma: float) -> torch.Tensor:
    """Tile MVM of one device polarity with a first-order IR-drop model.

    ``x [N, R, rows]`` (row-tile inputs), ``g [R, rows, C]`` (normalised device conductances >= 0).
    The current of device ``(i, j)`` is attenuated by ``1 - gamma * p_i * I_j``, where ``p_i = (i+1)/rows``
    is the device's distance from the column's sense amplifier (in tile lengths) and
    ``I_j = sum_i |x_i| g_ij / rows`` the column's current relative to a fully-on column. ``gamma``
    (dimensionless, >= 0) lumps wire resistance over device resistance; 0 is an ideal array. The
    result is clamped so no device's contribution changes sign.
    """
    y = torch.einsum("nrk,rkc->nrc", x, g)
    if gamma == 0:
        return y
    rows = g.shape[1]
    pos = torch.arange(1, rows + 1, dtype=x.dtype) / rows
    cur = torch.einsum("nrk,rkc->nrc", x.abs(), g) / rows
    far = torch.einsum("nrk,rkc->nrc", x * pos, g)
    atten = (gamma * cur).clamp(max=1.0)
    return y - atten * far


_ACTIVATIONS = {
    "sigmoid": (torch.sigmoid, torch.logit),
    "tanh": (torch.tanh, torch.atanh),
}


class RampADC:
    """Ramp ADC with a pre-distorted ramp (Yang et al., Nat. Commun. 16, 2025): the ramp steps through
    ``f^-1`` of ``2^bits`` evenly spaced output levels, so the counter value at the comparator's flip
    is already the quantised ``f(y)`` — the activation costs no extra digital work.

    ``fn``: ``"sigmoid"`` or ``"tanh"``; ``bound``: the input window ``[-bound, bound]`` (normalised
    units); outputs lie on the levels ``f(-bound) .. f(bound)``.
    """

    def __init__(self, fn: str, bits: int, bound: float) -> None:
        if fn not in _ACTIVATIONS:
            raise ValueError(f"ramp-ADC activation {fn!r} is not one of {sorted(_ACTIVATIONS)}")
        _check_bits(bits, "adc_bits")
        if not (math.isfinite(bound) and bound > 0):
            raise ValueError(f"ramp-ADC bound must be a positive finite number, got {bound!r}")
        self.fn, self.bits, self.bound = fn, bits, float(bound)
        f, finv = _ACTIVATIONS[fn]
        lo, hi = f(torch.tensor(-self.bound, dtype=torch.float64)), f(torch.tensor(self.bound, dtype=torch.float64))
        self.levels = torch.linspace(float(lo), float(hi), 2**bits, dtype=torch.float64)
        mids = 0.5 * (self.levels[1:] + self.levels[:-1])
        self.thresholds = finv(mids)  # the pre-distorted ramp voltages (input domain)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        idx = torch.bucketize(y.detach().to(torch.float64), self.thresholds)
        return self.levels[idx].to(y.dtype)

    def reference(self, y: torch.Tensor) -> torch.Tensor:
        """The exact activation ``f(y)`` (for comparisons)."""
        return _ACTIVATIONS[self.fn][0](y)
