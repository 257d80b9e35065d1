"""Triton kernels of the fused LIF / CuBa-LIF recurrence (forward and BPTT backward).

Loaded by :mod:`neuromap.neurons.triton_kernels` (never imported directly): it is executed once with
``@triton.jit`` compiling for the GPU and, for tests, once more with Triton's interpreter switched
on, so each copy's helper functions are of the matching kind.

One program owns ``BLOCK`` neurons (a neuron = one element of the flattened ``[M]`` batch x neuron
axis) and runs all ``T`` steps with the state in registers, in float32 whatever the input dtype.
The operations and their order mirror the PyTorch loop and ``_kernels.cpp`` (launched with
``enable_fp_fusion=False``: no fused multiply-add), so for float32 inputs the forward is
bit-identical to the PyTorch path. The backward needs only the pre-reset membrane ``h`` (float32;
spikes are recomputed as ``h > v_th``), the synaptic current when gradients reach ``alpha`` (or
``beta`` with ``decay_input``) and, with a refractory period, one byte per element for the
"not refractory" mask. Per-neuron values (``beta``, ``alpha``, ``v_th``) are one
float32 element (stride 0) or ``M`` elements (stride 1); their gradients come back per element and
are summed over the broadcast axes by the caller.
"""

from __future__ import annotations

import triton
import triton.language as tl

# Surrogate codes (the order of functional._CPP_SURROGATES).
FAST_SIGMOID, ATAN, SIGMOID, TRIANGLE, STRAIGHT_THROUGH = 0, 1, 2, 3, 4
# Reset codes (functional._RESET_CODES).
SUBTRACT, ZERO, NONE = 0, 1, 2


@triton.jit
def _store(ptr, value, mask, BF16: tl.constexpr):
    """Store a float32 value into a float32 or bfloat16 tensor, rounding to nearest even (done by
    hand: Triton's interpreter truncates on a bfloat16 cast). Inputs are finite (checked), so the
    NaN payload case of the bit trick does not arise for states; gradients inherit the same."""
    if BF16:
        u = value.to(tl.uint32, bitcast=True)
        u = u + 0x7FFF + ((u >> 16) & 1)
        tl.store(ptr, (u >> 16).to(tl.uint16).to(tl.bfloat16, bitcast=True), mask=mask)
    else:
        tl.store(ptr, value, mask=mask)


@triton.jit
def _fire(h, th, INCLUSIVE: tl.constexpr):
    if INCLUSIVE:
        return h >= th
    else:
        return h > th


@triton.jit
def _surrogate(x, k, k_half, k_atan, SUR: tl.constexpr):
    """``dS/dx`` of surrogate.py, the same float operations (``k`` slope, ``k_half`` = k / 2,
    ``k_atan`` = pi / 2 * k, each rounded once from double like Python's scalar constants)."""
    # Divisions are IEEE-rounded (div_rn; Triton's "/" is approximate on the GPU), and torch divides a
    # number by a tensor as number * (1 / tensor): the same here.
    one = tl.full(x.shape, 1.0, tl.float32)
    if SUR == 0:  # fast_sigmoid: 1 / (k |x| + 1) ** 2
        d = k * tl.abs(x) + 1.0
        return tl.math.div_rn(one, d * d)
    elif SUR == 1:  # atan: (k / 2) / (1 + (pi / 2 k x) ** 2)
        z = k_atan * x
        return k_half * tl.math.div_rn(one, 1.0 + z * z)
    elif SUR == 2:  # sigmoid: k s (1 - s), s = sigmoid(k x) (exp differs from torch's in the last bits)
        s = tl.math.div_rn(one, 1.0 + tl.exp(-(k * x)))
        return (k * s) * (1.0 - s)
    elif SUR == 3:  # triangle: max(0, 1 - k |x|)
        y = 1.0 - k * tl.abs(x)
        return tl.where(y > 0.0, y, 0.0)
    else:  # straight-through
        return tl.full(x.shape, 1.0, tl.float32)


@triton.jit
def _after_reset(h, s, th, v_reset, RESET: tl.constexpr, DELAY: tl.constexpr):
    """Membrane after the reset of a step, from the pre-reset ``h`` and the spikes ``s`` (0/1)."""
    if DELAY or RESET == 2:
        return h
    elif RESET == 0:
        return h - th * s
    else:
        return tl.where(s > 0.0, v_reset, h)


@triton.jit
def _forward_step(
    x, v, i, sp, r, be, al, th, ga, lk, v_reset, refractory, ptr, mask, valid,
    S_OUT, H_OUT, I_OUT, V_OUT, ACT_OUT,
    CUBA: tl.constexpr, RESET: tl.constexpr, INCLUSIVE: tl.constexpr, DELAY: tl.constexpr,
    DECAY_INPUT: tl.constexpr, REFRAC: tl.constexpr, STORE_H: tl.constexpr, STORE_I: tl.constexpr,
    STORE_V: tl.constexpr, BF16: tl.constexpr,
):  # fmt: skip
    """One step of the recurrence for the neurons of a block; ``valid`` is false past the last step
    (the chunk of ``_UNROLL`` steps overhangs ``T``): nothing is stored and the state is kept."""
    smask = mask & valid
    i_new = i
    if CUBA:
        i_new = al * i + x
        if STORE_I:
            tl.store(I_OUT + ptr, i_new, mask=smask)
        cur = i_new
    else:
        cur = x
    h = be * v + lk
    if DECAY_INPUT:
        h = h + ga * cur
    else:
        h = h + cur
    if DELAY:
        h = h - th * sp
    r_new = r
    if REFRAC:
        active = r == 0
        h = tl.where(active, h, v_reset)
        if STORE_H:
            tl.store(ACT_OUT + ptr, active.to(tl.uint8), mask=smask)
        fired = _fire(h, th, INCLUSIVE) & active
        r_new = tl.where(fired, refractory, tl.maximum(r - 1, 0))
    else:
        fired = _fire(h, th, INCLUSIVE)
    s = tl.where(fired, 1.0, 0.0)
    _store(S_OUT + ptr, s, smask, BF16)
    if STORE_H:
        tl.store(H_OUT + ptr, h, mask=smask)
    v_new = _after_reset(h, s, th, v_reset, RESET, DELAY)
    if STORE_V:
        _store(V_OUT + ptr, v_new, smask, BF16)
    return (
        tl.where(valid, v_new, v),
        tl.where(valid, i_new, i),
        tl.where(valid, s, sp),
        tl.where(valid, r_new, r),
    )


@triton.jit(do_not_specialize=["T", "M", "refractory"])
def lif_forward_kernel(
    X, V0, I0, S0, R0,
    BETA, ALPHA, VTH, sb, sa, st,
    S_OUT, H_OUT, I_OUT, V_OUT, ACT_OUT, VF, IF, SF, RF,
    T, M, v_reset, v_leak, refractory,
    CUBA: tl.constexpr, RESET: tl.constexpr, INCLUSIVE: tl.constexpr, DELAY: tl.constexpr,
    DECAY_INPUT: tl.constexpr, REFRAC: tl.constexpr, STORE_H: tl.constexpr, STORE_I: tl.constexpr,
    STORE_V: tl.constexpr, BF16: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    be = tl.load(BETA + offs * sb, mask=mask, other=0.0)
    al = tl.load(ALPHA + offs * sa, mask=mask, other=0.0)
    th = tl.load(VTH + offs * st, mask=mask, other=0.0)
    ga = 1.0 - be  # the gain of decay_input; leak = (1 - beta) v_leak, rounded as the PyTorch loop does
    lk = ga * v_leak
    v = tl.load(V0 + offs, mask=mask, other=0.0).to(tl.float32)
    i = tl.full([BLOCK], 0.0, tl.float32)
    if CUBA:
        i = tl.load(I0 + offs, mask=mask, other=0.0).to(tl.float32)
    sp = tl.full([BLOCK], 0.0, tl.float32)
    if DELAY:
        sp = tl.load(S0 + offs, mask=mask, other=0.0).to(tl.float32)
    r = tl.full([BLOCK], 0, tl.int32)
    if REFRAC:
        r = tl.load(R0 + offs, mask=mask, other=0)
    # The recurrence is a chain of dependent steps, so one step per load would pay a full memory
    # latency each; instead the inputs of 4 steps are loaded together, one chunk ahead of their use.
    ptr = offs.to(tl.int64)
    step = offs * 0  # a vector (the interpreter mis-types bool-vector & bool-scalar)
    n0 = tl.load(X + ptr, mask=mask & (step < T), other=0.0).to(tl.float32)
    n1 = tl.load(X + ptr + M, mask=mask & (step + 1 < T), other=0.0).to(tl.float32)
    n2 = tl.load(X + ptr + 2 * M, mask=mask & (step + 2 < T), other=0.0).to(tl.float32)
    n3 = tl.load(X + ptr + 3 * M, mask=mask & (step + 3 < T), other=0.0).to(tl.float32)
    for t0 in range(0, T, 4):
        x0, x1, x2, x3 = n0, n1, n2, n3
        nxt = ptr + 4 * M
        tn = step + t0 + 4
        n0 = tl.load(X + nxt, mask=mask & (tn < T), other=0.0).to(tl.float32)
        n1 = tl.load(X + nxt + M, mask=mask & (tn + 1 < T), other=0.0).to(tl.float32)
        n2 = tl.load(X + nxt + 2 * M, mask=mask & (tn + 2 < T), other=0.0).to(tl.float32)
        n3 = tl.load(X + nxt + 3 * M, mask=mask & (tn + 3 < T), other=0.0).to(tl.float32)
        for u in tl.static_range(4):
            xu = x0
            if u == 1:
                xu = x1
            elif u == 2:
                xu = x2
            elif u == 3:
                xu = x3
            v, i, sp, r = _forward_step(
                xu, v, i, sp, r, be, al, th, ga, lk, v_reset, refractory, ptr + u * M, mask, step + t0 + u < T,
                S_OUT, H_OUT, I_OUT, V_OUT, ACT_OUT,
                CUBA, RESET, INCLUSIVE, DELAY, DECAY_INPUT, REFRAC, STORE_H, STORE_I, STORE_V, BF16,
            )  # fmt: skip
        ptr = nxt
    _store(VF + offs, v, mask, BF16)
    if CUBA:
        _store(IF + offs, i, mask, BF16)
    if DELAY:
        _store(SF + offs, sp, mask, BF16)
    if REFRAC:
        tl.store(RF + offs, r, mask=mask)


@triton.jit(do_not_specialize=["T", "M"])
def lif_backward_kernel(
    GS, GVS, GV, GI, GSL, H, ISEQ, ACT, X, V0, I0, S0,
    BETA, ALPHA, VTH, sb, sa, st,
    GX, GV0, GI0, GS0, GB, GA, GT,
    T, M, v_reset, v_leak, k, k_half, k_atan,
    CUBA: tl.constexpr, RESET: tl.constexpr, INCLUSIVE: tl.constexpr, DELAY: tl.constexpr,
    DECAY_INPUT: tl.constexpr, DETACH: tl.constexpr, REFRAC: tl.constexpr, SUR: tl.constexpr,
    HAS_GS: tl.constexpr, HAS_GVS: tl.constexpr, HAS_GV: tl.constexpr, HAS_GI: tl.constexpr, HAS_GSL: tl.constexpr,
    NEED_BETA: tl.constexpr, NEED_ALPHA: tl.constexpr,
    NEED_TH: tl.constexpr, BF16: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    be = tl.load(BETA + offs * sb, mask=mask, other=0.0)
    al = tl.load(ALPHA + offs * sa, mask=mask, other=0.0)
    th = tl.load(VTH + offs * st, mask=mask, other=0.0)
    ga = 1.0 - be
    gv = tl.full([BLOCK], 0.0, tl.float32)
    if HAS_GV:
        gv = tl.load(GV + offs, mask=mask, other=0.0).to(tl.float32)
    gI = tl.full([BLOCK], 0.0, tl.float32)
    if CUBA and HAS_GI:
        gI = tl.load(GI + offs, mask=mask, other=0.0).to(tl.float32)
    gsc = tl.full([BLOCK], 0.0, tl.float32)
    if DELAY and HAS_GSL:
        gsc = tl.load(GSL + offs, mask=mask, other=0.0).to(tl.float32)
    gb = tl.full([BLOCK], 0.0, tl.float32)
    gal = tl.full([BLOCK], 0.0, tl.float32)
    gt = tl.full([BLOCK], 0.0, tl.float32)
    immediate: tl.constexpr = (not DELAY) and RESET != 2
    ptr = offs.to(tl.int64) + (T - 1).to(tl.int64) * M
    h = tl.load(H + ptr, mask=mask, other=0.0)
    act = mask
    if REFRAC:
        act = tl.load(ACT + ptr, mask=mask, other=0) != 0
    for tt in range(T):
        t = T - 1 - tt
        has_prev = offs * 0 + t > 0  # a vector: the interpreter mis-types bool-vector & bool-scalar
        pmask = mask & has_prev
        # The previous step's values (the next iteration's current ones).
        hp = tl.load(H + ptr - M, mask=pmask, other=0.0)
        actp = pmask
        if REFRAC:
            actp = tl.load(ACT + ptr - M, mask=pmask, other=0) != 0
        fired = _fire(h, th, INCLUSIVE)
        if REFRAC:
            fired = fired & act
        s = tl.where(fired, 1.0, 0.0)
        dsdh = _surrogate(h - th, k, k_half, k_atan, SUR)
        if REFRAC:
            dsdh = tl.where(act, dsdh, 0.0)
        g_total_v = gv
        if HAS_GVS:
            g_total_v = gv + tl.load(GVS + ptr, mask=mask, other=0.0).to(tl.float32)
        g_total_s = tl.full([BLOCK], 0.0, tl.float32)
        if HAS_GS:
            g_total_s = tl.load(GS + ptr, mask=mask, other=0.0).to(tl.float32)
        if DELAY:
            g_total_s = g_total_s + gsc
        dvdh = g_total_v
        if immediate:
            if RESET == 0:
                if not DETACH:
                    g_total_s = g_total_s - th * g_total_v
                if NEED_TH:
                    gt = gt - g_total_v * s
            else:
                dvdh = g_total_v * (1.0 - s)
                if not DETACH:
                    g_total_s = g_total_s + (v_reset - h) * g_total_v
        gh = dvdh + g_total_s * dsdh
        if NEED_TH:
            gt = gt - g_total_s * dsdh
        if REFRAC:
            gh = tl.where(act, gh, 0.0)
        # h_t = beta v_{t-1} + (1 - beta) v_leak + gain cur_t - [delay] v_th s_{t-1}
        firedp = _fire(hp, th, INCLUSIVE)
        if REFRAC:
            firedp = firedp & actp
        s_prev = tl.where(firedp, 1.0, 0.0)
        v_prev = _after_reset(hp, s_prev, th, v_reset, RESET, DELAY)
        if NEED_BETA:
            v_prev = tl.where(has_prev, v_prev, tl.load(V0 + offs, mask=mask, other=0.0).to(tl.float32))
        if DELAY:
            s0 = tl.load(S0 + offs, mask=mask, other=0.0).to(tl.float32)
            s_prev = tl.where(has_prev, s_prev, s0)
            if NEED_TH:
                gt = gt - gh * s_prev
            if DETACH:
                gsc = tl.full([BLOCK], 0.0, tl.float32)
            else:
                gsc = -th * gh
        if NEED_BETA:
            dh_dbeta = v_prev - v_leak
            if DECAY_INPUT:
                if CUBA:
                    dh_dbeta = dh_dbeta - tl.load(ISEQ + ptr, mask=mask, other=0.0)
                else:
                    dh_dbeta = dh_dbeta - tl.load(X + ptr, mask=mask, other=0.0).to(tl.float32)
            gb = gb + gh * dh_dbeta
        g_cur = gh
        if DECAY_INPUT:
            g_cur = ga * gh
        gv = be * gh
        if CUBA:
            g_it = g_cur + gI
            gI = al * g_it
            _store(GX + ptr, g_it, mask, BF16)
            if NEED_ALPHA:
                i_prev = tl.load(ISEQ + ptr - M, mask=pmask, other=0.0)
                i_prev = tl.where(has_prev, i_prev, tl.load(I0 + offs, mask=mask, other=0.0).to(tl.float32))
                gal = gal + g_it * i_prev
        else:
            _store(GX + ptr, g_cur, mask, BF16)
        h = hp
        act = actp
        ptr -= M
    _store(GV0 + offs, gv, mask, BF16)
    if CUBA:
        _store(GI0 + offs, gI, mask, BF16)
    if DELAY and not DETACH:
        _store(GS0 + offs, gsc, mask, BF16)
    if NEED_BETA:
        tl.store(GB + offs, gb, mask=mask)
    if NEED_ALPHA:
        tl.store(GA + offs, gal, mask=mask)
    if NEED_TH:
        tl.store(GT + offs, gt, mask=mask)


__all__ = ["lif_forward_kernel", "lif_backward_kernel", "triton"]
