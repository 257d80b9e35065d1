"""Numerics of the SpiNNaker2 execution model: ``fp32`` and ``s16.15`` fixed point.

``fp32``: every PE computes in IEEE single precision on its Cortex-M4F FPU (py-spinnaker2 keeps
LIF / CuBa-LIF state in float32). The simulator evaluates a PE group's rows with the same batched
torch calls as :mod:`neuromap.backends.torch` (and the zoo's EGRU), so the results are bit-identical.

``s16.15``: the SpiNNaker software's ``accum`` type (ISO/IEC TR 18037, sign + 16 integer + 15
fraction bits in an int32; sPyNNaker's ``REAL``). Neuromap's rounding rules, all written here:

* **float -> s16.15** (host side, parameters and graded inputs): round to nearest, ties to even
  (``torch.round``), then saturate to ``[-2^31, 2^31 - 1]``.
* **decay factors** (``beta``, ``alpha``, ``1 - beta``) are unsigned fractions u0.31 (round to
  nearest); ``x * d`` is computed in int64 and rounded to nearest, ties up:
  ``(x * d + 2^30) >> 31`` (arithmetic shift), then saturated.
* **weights**: signed 8-bit (``numerics.weight_bits`` of the spec) with one power-of-two scale per
  projection, ``w ~ q * 2^e``, ``q = round(w / 2^e)`` clipped to [-128, 127], ``e`` the smallest
  exponent with ``max|w| / 2^e <= 127`` (sPyNNaker's per-synapse-type weight shift).
* **synaptic accumulation** of binary spikes adds ``q * 2^(15+e)`` exactly (integer sums do not
  depend on order); graded events (payload packets) add ``round(payload_s1615 * q * 2^e)``
  (product exact in int64, rounded to nearest, ties up); the sum saturates to int32.
* **MAC array** (dense projections with graded sources): the input vector is quantised to int8 with
  a per-vector power-of-two scale (max-abs), multiplied by the int8 weights with a 32-bit
  accumulator (saturating; the spec's 8-bit MACs with 32-bit output) and shifted back to s16.15.
* **non-linearities** (EGRU sigmoid / tanh) run on the FPU in float32 on the dequantised values;
  the result is requantised to s16.15.
"""

from __future__ import annotations

import math

import numpy as np
import torch

NUMERICS = ("fp32", "s16.15")
FRAC = 15
ONE = 1 << FRAC
I32_MIN, I32_MAX = -(2**31), 2**31 - 1
DECAY_BITS = 31


def check(numerics: str) -> str:
    if numerics not in NUMERICS:
        raise ValueError(f"numerics={numerics!r} is not one of {list(NUMERICS)}")
    return numerics


def weight_bytes(numerics: str) -> int:
    """Bytes per stored weight: 4 in ``fp32`` (float weights, for bit-exactness), 1 in ``s16.15`` (8-bit)."""
    return 4 if check(numerics) == "fp32" else 1


def sat32(x: torch.Tensor) -> torch.Tensor:
    """Saturate an int64 tensor to the int32 range (kept as int64)."""
    return x.clamp_(I32_MIN, I32_MAX)


def to_fix(x) -> torch.Tensor:
    """float -> s16.15 (round half to even, saturate), as int64."""
    t = torch.as_tensor(x, dtype=torch.float64)
    return sat32(torch.round(t * ONE).to(torch.int64))


def to_float(q: torch.Tensor) -> torch.Tensor:
    """s16.15 -> float32 (exact for |q| < 2^24, rounded to nearest otherwise)."""
    return (q.to(torch.float64) / ONE).to(torch.float32)


def decay_fix(d) -> torch.Tensor:
    """A factor in [0, 1] as u0.31 (round to nearest)."""
    t = torch.as_tensor(d, dtype=torch.float64)
    if bool((t < 0).any()) or bool((t > 1).any()):
        raise ValueError("decay factors must lie in [0, 1] for the u0.31 representation")
    return torch.round(t * 2.0**DECAY_BITS).to(torch.int64)


def mul_decay(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """``x * d`` for s16.15 ``x`` and u0.31 ``d``: round to nearest (ties up), saturate."""
    return sat32((x * d + (1 << (DECAY_BITS - 1))) >> DECAY_BITS)


def round_shift(x: torch.Tensor, shift: int) -> torch.Tensor:
    """``x * 2^-shift`` for integer tensors: exact left shift for ``shift <= 0``, else round to nearest (ties up)."""
    if shift <= 0:
        return x << (-shift)
    return (x + (1 << (shift - 1))) >> shift


def weight_exponent(w: np.ndarray, bits: int = 8) -> int:
    """Smallest ``e`` with ``max|w| / 2^e <= 2^(bits-1) - 1`` (0 for all-zero weights)."""
    m = float(np.max(np.abs(w))) if np.size(w) else 0.0
    if m == 0.0:
        return 0
    qmax = 2 ** (bits - 1) - 1
    e = math.ceil(math.log2(m / qmax))
    while m / 2.0**e > qmax:  # guard against log2 rounding
        e += 1
    return e


def quantise_weights(w: np.ndarray, bits: int = 8) -> tuple[np.ndarray, int]:
    """``(q int64, e)`` with ``w ~ q * 2^e``, ``q`` in the signed ``bits`` range (round half to even)."""
    e = weight_exponent(w, bits)
    qmax = 2 ** (bits - 1) - 1
    q = np.clip(np.round(np.asarray(w, dtype=np.float64) / 2.0**e), -qmax - 1, qmax).astype(np.int64)
    return q, e


def quantise_vectors_int8(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row (last axis) int8 quantisation with a power-of-two scale: ``x ~ q * 2^e[..., None]``."""
    m = x.abs().amax(dim=-1, keepdim=True).to(torch.float64)
    e = torch.where(m > 0, torch.ceil(torch.log2(m.clamp(min=1e-300) / 127.0)), torch.zeros_like(m))
    e = e + (m / torch.exp2(e) > 127).to(e.dtype)
    q = torch.round(x.to(torch.float64) / torch.exp2(e)).clamp(-128, 127)
    return q, e
