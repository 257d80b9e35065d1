"""Triton kernels of one EGRU step (everything but the recurrent matmul), forward and backward.

Loaded by :mod:`neuromap.neurons.egru` through :func:`neuromap.neurons.triton_kernels.kernel_module`
(never imported directly): once compiled for the GPU and, for tests, once for Triton's interpreter.

One program owns ``BLOCK`` elements of the flattened ``[B * H]`` (batch x hidden unit) axis. The
gate pre-activations of one step are rows ``[B, 3H]`` (chunks z, r, g); ``GH`` is the recurrent
matmul ``y_{t-1} R^T`` *without* its bias, which the kernel adds (the PyTorch cell's order:
``(y R^T) + b``). Values are computed in float32 (float32 inputs) or float64 (``F64``), in the
PyTorch cell's operation order; sigmoid and tanh are written with ``exp`` (Triton's interpreter has
no tanh), so they differ from torch's in the last bits.

Zoneout ``ZONE``: 0 none, 1 training (``c = c_prev + m (c~ - c_prev)`` with the 0/1 keep mask
``m`` of the step), 2 evaluation (``c = p c_prev + (1 - p) c~``).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _tanh(x):
    """``sign(x) (1 - e) / (1 + e)`` with ``e = exp(-2|x|)`` (no overflow; absolute error ~ 1 ulp of 1)."""
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0.0, -t, t)


@triton.jit
def _load(ptr, mask, F64: tl.constexpr):
    if F64:
        return tl.load(ptr, mask=mask, other=0.0).to(tl.float64)
    else:
        return tl.load(ptr, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _gates(GX, GH, BH, g3, j, H, mask, HAS_BIAS: tl.constexpr, F64: tl.constexpr):
    """``z, r, g`` and the recurrent candidate pre-activation ``gh_g`` (bias added) of one step."""
    ghz = _load(GH + g3, mask, F64)
    ghr = _load(GH + g3 + H, mask, F64)
    ghg = _load(GH + g3 + 2 * H, mask, F64)
    if HAS_BIAS:
        ghz = ghz + _load(BH + j, mask, F64)
        ghr = ghr + _load(BH + j + H, mask, F64)
        ghg = ghg + _load(BH + j + 2 * H, mask, F64)
    z = _sigmoid(_load(GX + g3, mask, F64) + ghz)
    r = _sigmoid(_load(GX + g3 + H, mask, F64) + ghr)
    g = _tanh(_load(GX + g3 + 2 * H, mask, F64) + r * ghg)
    return z, r, g, ghg


@triton.jit
def _zoneout(cand, cp, m, p, ZONE: tl.constexpr):
    if ZONE == 1:
        return cp + m * (cand - cp)
    elif ZONE == 2:
        return p * cp + (1.0 - p) * cand
    else:
        return cand


@triton.jit
def _reset_state(c, th):
    """``cbar = c - o theta`` with ``o = c - theta > 0``: the state carried to the next step."""
    o = tl.where(c - th > 0.0, 1.0, 0.0)
    return c - o * th


@triton.jit
def egru_step_forward(
    GX, GH, BH, TH, CPREV, ZONE_M, Y, C, O, CBAR, SCAL, M, H,
    HAS_BIAS: tl.constexpr, ZONE: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """One step: ``y, c, o`` of the step and the reset state ``CBAR`` (may alias ``CPREV``).
    ``SCAL``: ``[p, gamma, eps]`` in the compute dtype (scalar arguments would be float32)."""
    p = tl.load(SCAL)
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    b = offs // H
    j = offs - b * H
    g3 = b * (3 * H) + j
    z, r, g, ghg = _gates(GX, GH, BH, g3, j, H, mask, HAS_BIAS, F64)
    cp = _load(CPREV + offs, mask, F64)
    cand = z * cp + (1.0 - z) * g
    m = cp
    if ZONE == 1:
        m = _load(ZONE_M + offs, mask, F64)
    c = _zoneout(cand, cp, m, p, ZONE)
    th = _load(TH + j, mask, F64)
    o = tl.where(c - th > 0.0, 1.0, 0.0)
    tl.store(Y + offs, o * c, mask=mask)
    tl.store(C + offs, c, mask=mask)
    tl.store(O + offs, o, mask=mask)
    tl.store(CBAR + offs, c - o * th, mask=mask)


@triton.jit
def egru_step_backward(
    GX, GH, BH, TH, CPREV, ZONE_M, C, GY, GYREC, GC, GO, DCBAR, DTH, DGX, DGH, SCAL, M, H,
    HAS_BIAS: tl.constexpr, ZONE: tl.constexpr, CPREV_IS_C: tl.constexpr, HAS_GY: tl.constexpr,
    HAS_GYREC: tl.constexpr, HAS_GC: tl.constexpr, HAS_GO: tl.constexpr, F64: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """BPTT through one step. Reads the carried ``dL/dcbar_t`` from ``DCBAR`` and writes
    ``dL/dcbar_{t-1}`` there; adds this step's per-element ``dL/dtheta`` into ``DTH``; writes the
    gradients of the input and recurrent pre-activations ``DGX``, ``DGH`` (``[B, 3H]``). ``CPREV``
    is the previous step's ``c`` (``CPREV_IS_C``: its reset state is recomputed) or the initial
    state; the recurrent gradient reaching ``y_t`` is ``GY + GYREC``."""
    p = tl.load(SCAL)
    gamma = tl.load(SCAL + 1)
    eps = tl.load(SCAL + 2)
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    b = offs // H
    j = offs - b * H
    g3 = b * (3 * H) + j
    th = _load(TH + j, mask, F64)
    z, r, g, ghg = _gates(GX, GH, BH, g3, j, H, mask, HAS_BIAS, F64)
    cp = _load(CPREV + offs, mask, F64)
    if CPREV_IS_C:
        cp = _reset_state(cp, th)
    c = _load(C + offs, mask, F64)
    v = c - th
    o = tl.where(v > 0.0, 1.0, 0.0)
    dcb = _load(DCBAR + offs, mask, F64)
    dy = c * 0.0  # a zero of the compute dtype (zeros_like does not run in the interpreter)
    if HAS_GY:
        dy = dy + _load(GY + offs, mask, F64)
    if HAS_GYREC:
        dy = dy + _load(GYREC + offs, mask, F64)
    # cbar = c - o theta;  y = o c;  o = H(v), v = c - theta (triangle pseudo-derivative)
    dc = dcb + dy * o
    if HAS_GC:
        dc = dc + _load(GC + offs, mask, F64)
    do = dy * c - dcb * th
    if HAS_GO:
        do = do + _load(GO + offs, mask, F64)
    pd = 1.0 - eps * tl.abs(v)
    dv = do * (gamma * tl.where(pd > 0.0, pd, 0.0))
    dc = dc + dv
    dth = _load(DTH + offs, mask, F64) - dv - dcb * o
    # zoneout
    if ZONE == 1:
        m = _load(ZONE_M + offs, mask, F64)
        dcand = m * dc
        dcp = dc * (1.0 - m)
    elif ZONE == 2:
        dcand = (1.0 - p) * dc
        dcp = p * dc
    else:
        dcand = dc
        dcp = dc * 0.0
    # c~ = z c_prev + (1 - z) g;  g = tanh(gx_g + r gh_g);  z, r = sigmoid(.)
    dcp = dcp + dcand * z
    dgn = dcand * (1.0 - z) * (1.0 - g * g)
    dgz = dcand * (cp - g) * (z * (1.0 - z))
    dgr = dgn * ghg * (r * (1.0 - r))
    tl.store(DCBAR + offs, dcp, mask=mask)
    tl.store(DTH + offs, dth, mask=mask)
    tl.store(DGX + g3, dgz, mask=mask)
    tl.store(DGX + g3 + H, dgr, mask=mask)
    tl.store(DGX + g3 + 2 * H, dgn, mask=mask)
    tl.store(DGH + g3, dgz, mask=mask)
    tl.store(DGH + g3 + H, dgr, mask=mask)
    tl.store(DGH + g3 + 2 * H, dgn * r, mask=mask)


__all__ = ["egru_step_forward", "egru_step_backward", "triton"]
