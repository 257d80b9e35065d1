"""Loihi fixed-point arithmetic, vectorised in NumPy, with Lava's integer widths.

This is the arithmetic of Lava's ``PyLifModelBitAcc`` / ``PyDenseModelBitAcc`` (selected by
``Loihi2SimCfg(select_tag="fixed_pt")``), which is bit-accurate to **Loihi 1**:

    u[t] = wrap24( sgn(u*(4096 - (du+1))) * (|u*(4096 - (du+1))| >> 12) + (a_in << 6) )
    v[t] = clip24( sgn(v*(4096 - dv)) * (|v*(4096 - dv)| >> 12) + u[t] + (bias_mant << bias_exp) )
    s[t] = v[t] > (vth << 6);   v[t] <- 0 where s[t]

``>>`` on the magnitude rounds towards zero; the current wraps modulo 2^24 into (-2^23, 2^23],
the voltage saturates at +-(2^23 - 1). Synaptic input of a Dense connection is
``(W @ s) << weight_exp`` (arithmetic right shift for negative exponents), delivered one time
step later; weights are clipped to 8 bits plus sign and their low bits truncated to
``num_weight_bits`` (Lava's ``clip_weights`` / ``truncate_weights``).

Integer widths are Lava's, not wider, so overflow behaves as it does there (lava-nc 0.10.0,
``proc/lif/models.py`` ``AbstractPyLifModelFixed``, ``proc/dense/models.py``): a connection sums
``W[:, s]`` in int64 and shifts it by ``weight_exp``, then sends it through an int32 port (the value
wraps to 32 bits); inputs of several connections add in int32; ``a_in << 6``, the decayed current
plus that, the wrap, ``u`` and ``v`` are int32 (the decay products alone are int64). A current
whose ``a_in << 6`` exceeds 2^31 therefore wraps in 32 bits first and is then wrapped once by
+-2^24, as in Lava, and can stay outside the 24-bit range.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

UV_BITS = 24
MAX_UV = 2 ** (UV_BITS - 1)  # 2^23
MAX_DELAY = 2**6 - 1  # Loihi 2's synaptic delay: 6 bits (Lava's DelayDense checks delays <= 63)
DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT  # 4096
VTH_SHIFT = 6
ACT_SHIFT = 6
DS_OFFSET = 1  # current decay offset (du + 1)
DM_OFFSET = 0  # voltage decay offset
MAX_DECAY = 4095  # 12-bit du / dv
MAX_VTH_MANT = 2**17 - 1
MAX_BIAS_MANT = 2**12 - 1  # 13-bit signed mantissa: -4096 .. 4095
MIN_BIAS_MANT = -(2**12)
MAX_BIAS_EXP = 7


def _decay(x: np.ndarray, factor: int) -> np.ndarray:
    """``sgn(x*f) * (|x*f| >> 12)``: the product in int64, the result int32, as Lava does."""
    prod = x.astype(np.int64) * np.int64(factor)
    out = np.sign(prod) * np.right_shift(np.abs(prod), DECAY_SHIFT)
    return out.astype(np.int32)


def wrap_current(u: np.ndarray) -> np.ndarray:
    """Wrap into (-2^23, 2^23] exactly like Lava's two ``np.where`` calls (in ``u``'s dtype: int32
    for the emulator, so a value far outside wraps once, not modulo 2^24)."""
    two = u.dtype.type(2 * MAX_UV)
    wrapped = np.where(u > MAX_UV, u - two, u)
    return np.where(wrapped <= -MAX_UV, u + two, wrapped)


def effective_bias(bias_mant: np.ndarray, bias_exp: np.ndarray) -> np.ndarray:
    """``bias_mant << bias_exp`` (``>>`` for negative exponents) in int32, as Lava's ``scale_bias``."""
    mant = np.asarray(bias_mant, dtype=np.int32)
    exp = np.asarray(bias_exp, dtype=np.int32)
    return np.where(exp >= 0, np.left_shift(mant, np.maximum(exp, 0)),
                    np.right_shift(mant, np.maximum(-exp, 0))).astype(np.int32)


def lif_step(
    u: np.ndarray,
    v: np.ndarray,
    a_in: np.ndarray,
    du: np.ndarray,
    dv: np.ndarray,
    vth: np.ndarray,
    bias: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Loihi LIF step on int32 arrays ``[B, N]``; returns ``(u, v, spikes bool)`` (int32, int32).

    ``a_in`` is the synaptic input (before the 6-bit activation shift), ``bias`` the effective
    bias (``bias_mant << bias_exp``), ``vth`` the threshold mantissa (shifted by 6 here). Every
    sum and shift is int32 and wraps on overflow, as in Lava.
    """
    act = np.left_shift(np.asarray(a_in, dtype=np.int32), np.int32(ACT_SHIFT))
    u = wrap_current(_decay(u, DECAY_UNITY - (du + DS_OFFSET)) + act)
    v = _decay(v, DECAY_UNITY - (dv + DM_OFFSET)) + u + np.asarray(bias, dtype=np.int32)
    v = np.clip(v, -MAX_UV + 1, MAX_UV - 1).astype(np.int32)
    s = v > np.left_shift(np.asarray(vth, dtype=np.int64), VTH_SHIFT)
    v = np.where(s, np.int32(0), v)
    return u, v, s


def sign_mode(weights) -> str:
    """Lava's ``determine_sign_mode``: excitatory (all >= 0), inhibitory (all <= 0) or mixed."""
    data = weights.data if sp.issparse(weights) else np.asarray(weights)
    if data.size == 0 or data.min() >= 0:
        return "excitatory"
    if data.max() <= 0:
        return "inhibitory"
    return "mixed"


SIGN_MODES = ("mixed", "excitatory", "inhibitory")


def effective_weights(weights, num_weight_bits: int = 8, mode: str | None = None):
    """Weights as Lava's bit-accurate Dense/Sparse uses them: clipped to 8 bits (+ sign when
    mixed), then the low ``8 - num_weight_bits (+1 if mixed)`` bits truncated.

    ``mode`` is Lava's ``sign_mode`` (``"mixed"``, ``"excitatory"``, ``"inhibitory"``); ``None``
    determines it from the weights as Lava does. A given mode applies as in Lava even where it does
    not fit the weights: ``"mixed"`` drops the low bit of odd weights, ``"excitatory"`` clips
    negative weights to 0 (``"inhibitory"`` clips positive ones)."""
    if not 1 <= num_weight_bits <= 8:
        raise ValueError(f"num_weight_bits must lie in [1, 8], got {num_weight_bits}")
    if mode is not None and mode not in SIGN_MODES:
        raise ValueError(f"sign_mode must be one of {list(SIGN_MODES)}, got {mode!r}")
    mode = mode or sign_mode(weights)
    is_sparse = sp.issparse(weights)
    w = weights.astype(np.int64).tocsr(copy=True) if is_sparse else np.asarray(weights, dtype=np.int64).copy()
    data = w.data if is_sparse else w
    mixed = int(mode == "mixed")
    if mode == "inhibitory":
        data *= -1
    lo, hi = -(2**8) * mixed, 2**8 - 1
    np.clip(data, lo, hi, out=data)
    shift = 8 - num_weight_bits + mixed
    data[...] = np.left_shift(np.right_shift(data, shift), shift)
    if mode == "inhibitory":
        data *= -1
    if is_sparse:
        w.eliminate_zeros()
    return w


def synaptic_input(weights, spikes: np.ndarray, weight_exp: int) -> np.ndarray:
    """``(W @ s) << weight_exp`` for spikes ``[B, N_src]`` (bool); returns ``[B, N_dst]`` int32:
    summed and shifted in int64, then wrapped to 32 bits by Lava's int32 ``a_out`` port."""
    acc = (spikes.astype(np.int64) @ weights.T) if not sp.issparse(weights) else (weights @ spikes.T.astype(np.int64)).T
    acc = np.asarray(acc, dtype=np.int64)
    acc = np.left_shift(acc, weight_exp) if weight_exp > 0 else np.right_shift(acc, -weight_exp)
    return acc.astype(np.int32)
