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


@triton.jit
def _backward_loads(
    t, ptr, mask, step, M, H, GS, GVS, ACT, X, ISEQ,
    CUBA: tl.constexpr, DECAY_INPUT: tl.constexpr, REFRAC: tl.constexpr, HAS_GS: tl.constexpr,
    HAS_GVS: tl.constexpr, NEED_BETA: tl.constexpr, NEED_ALPHA: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """Everything step ``t`` of the backward reads (zeros for ``t < 0``, past the first step)."""
    m = mask & (step + t >= 0)
    pm = mask & (step + t > 0)
    zero = tl.full([BLOCK], 0.0, tl.float32)
    h = tl.load(H + ptr, mask=m, other=0.0)
    hp = tl.load(H + ptr - M, mask=pm, other=0.0)
    gs = zero
    if HAS_GS:
        gs = tl.load(GS + ptr, mask=m, other=0.0).to(tl.float32)
    gvs = zero
    if HAS_GVS:
        gvs = tl.load(GVS + ptr, mask=m, other=0.0).to(tl.float32)
    act = m
    actp = pm
    if REFRAC:
        act = tl.load(ACT + ptr, mask=m, other=0) != 0
        actp = tl.load(ACT + ptr - M, mask=pm, other=0) != 0
    cur = zero  # this step's input current, for d/dbeta of the decay_input gain
    if NEED_BETA and DECAY_INPUT:
        if CUBA:
            cur = tl.load(ISEQ + ptr, mask=m, other=0.0)
        else:
            cur = tl.load(X + ptr, mask=m, other=0.0).to(tl.float32)
    ip = zero  # the previous step's synaptic current, for d/dalpha
    if NEED_ALPHA and CUBA:
        ip = tl.load(ISEQ + ptr - M, mask=pm, other=0.0)
    return h, hp, gs, gvs, act, actp, cur, ip


@triton.jit
def _backward_step(
    h, hp, gs, gvs, act, actp, cur, ip, t, ptr, mask, step,
    gv, gI, gsc, gb, gal, gt, be, al, th, ga, v0, i0, s0, v_reset, v_leak, k, k_half, k_atan, GX,
    CUBA: tl.constexpr, RESET: tl.constexpr, INCLUSIVE: tl.constexpr, DELAY: tl.constexpr,
    DECAY_INPUT: tl.constexpr, DETACH: tl.constexpr, REFRAC: tl.constexpr, SUR: tl.constexpr,
    HAS_GVS: tl.constexpr, NEED_BETA: tl.constexpr, NEED_ALPHA: tl.constexpr, NEED_TH: tl.constexpr,
    BF16: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """One step of the BPTT (the PyTorch loop's operations in its order); returns the carried
    gradients, unchanged for ``t < 0`` (the chunk of 4 steps overhangs the first step)."""
    valid = step + t >= 0
    has_prev = step + t > 0
    fired = _fire(h, th, INCLUSIVE)
    if REFRAC:
        fired = fired & act
    s = tl.where(fired, 1.0, 0.0)
    dsdh = _surrogate(h - th, k, k_half, k_atan, SUR)
    if REFRAC:
        dsdh = tl.where(act, dsdh, 0.0)
    g_total_v = gv
    if HAS_GVS:
        g_total_v = gv + gvs
    g_total_s = gs
    if DELAY:
        g_total_s = g_total_s + gsc
    dvdh = g_total_v
    n_gt = gt
    if (not DELAY) and RESET != 2:
        if RESET == 0:
            if not DETACH:
                g_total_s = g_total_s - th * g_total_v
            if NEED_TH:
                n_gt = n_gt - g_total_v * s
        else:
            dvdh = g_total_v * (1.0 - s)
            if not DETACH:
                g_total_s = g_total_s + (v_reset - h) * g_total_v
    gh = dvdh + g_total_s * dsdh
    if NEED_TH:
        n_gt = n_gt - g_total_s * dsdh
    if REFRAC:
        gh = tl.where(act, gh, 0.0)
    # h_t = beta v_{t-1} + (1 - beta) v_leak + gain cur_t - [delay] v_th s_{t-1}
    firedp = _fire(hp, th, INCLUSIVE)
    if REFRAC:
        firedp = firedp & actp
    s_prev = tl.where(firedp, 1.0, 0.0)
    v_prev = tl.where(has_prev, _after_reset(hp, s_prev, th, v_reset, RESET, DELAY), v0)
    n_gsc = gsc
    if DELAY:
        s_prev = tl.where(has_prev, s_prev, s0)
        if NEED_TH:
            n_gt = n_gt - gh * s_prev
        if DETACH:
            n_gsc = tl.full([BLOCK], 0.0, tl.float32)
        else:
            n_gsc = -th * gh
    n_gb = gb
    if NEED_BETA:
        dh_dbeta = v_prev - v_leak
        if DECAY_INPUT:
            dh_dbeta = dh_dbeta - cur
        n_gb = gb + gh * dh_dbeta
    g_cur = gh
    if DECAY_INPUT:
        g_cur = ga * gh
    n_gv = be * gh
    n_gI = gI
    n_gal = gal
    smask = mask & valid
    if CUBA:
        g_it = g_cur + gI
        n_gI = al * g_it
        _store(GX + ptr, g_it, smask, BF16)
        if NEED_ALPHA:
            n_gal = gal + g_it * tl.where(has_prev, ip, i0)
    else:
        _store(GX + ptr, g_cur, smask, BF16)
    return (
        tl.where(valid, n_gv, gv),
        tl.where(valid, n_gI, gI),
        tl.where(valid, n_gsc, gsc),
        tl.where(valid, n_gb, gb),
        tl.where(valid, n_gal, gal),
        tl.where(valid, n_gt, gt),
    )


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
    zero = tl.full([BLOCK], 0.0, tl.float32)
    gv = zero
    if HAS_GV:
        gv = tl.load(GV + offs, mask=mask, other=0.0).to(tl.float32)
    gI = zero
    if CUBA and HAS_GI:
        gI = tl.load(GI + offs, mask=mask, other=0.0).to(tl.float32)
    gsc = zero
    if DELAY and HAS_GSL:
        gsc = tl.load(GSL + offs, mask=mask, other=0.0).to(tl.float32)
    v0 = zero
    if NEED_BETA:
        v0 = tl.load(V0 + offs, mask=mask, other=0.0).to(tl.float32)
    i0 = zero
    if CUBA and NEED_ALPHA:
        i0 = tl.load(I0 + offs, mask=mask, other=0.0).to(tl.float32)
    s0 = zero
    if DELAY:
        s0 = tl.load(S0 + offs, mask=mask, other=0.0).to(tl.float32)
    gb = zero
    gal = zero
    gt = zero
    # Backwards in chunks of 4 steps whose loads are all issued one chunk ahead (see the forward).
    step = offs * 0  # a vector (the interpreter mis-types bool-vector & bool-scalar)
    ptr = offs.to(tl.int64) + (T - 1).to(tl.int64) * M
    h0, hp0, gs0, gvs0, a0, ap0, c0, ip0 = _backward_loads(
        T - 1, ptr, mask, step, M, H, GS, GVS, ACT, X, ISEQ,
        CUBA, DECAY_INPUT, REFRAC, HAS_GS, HAS_GVS, NEED_BETA, NEED_ALPHA, BLOCK)  # fmt: skip
    h1, hp1, gs1, gvs1, a1, ap1, c1, ip1 = _backward_loads(
        T - 2, ptr - M, mask, step, M, H, GS, GVS, ACT, X, ISEQ,
        CUBA, DECAY_INPUT, REFRAC, HAS_GS, HAS_GVS, NEED_BETA, NEED_ALPHA, BLOCK)  # fmt: skip
    h2, hp2, gs2, gvs2, a2, ap2, c2, ip2 = _backward_loads(
        T - 3, ptr - 2 * M, mask, step, M, H, GS, GVS, ACT, X, ISEQ,
        CUBA, DECAY_INPUT, REFRAC, HAS_GS, HAS_GVS, NEED_BETA, NEED_ALPHA, BLOCK)  # fmt: skip
    h3, hp3, gs3, gvs3, a3, ap3, c3, ip3 = _backward_loads(
        T - 4, ptr - 3 * M, mask, step, M, H, GS, GVS, ACT, X, ISEQ,
        CUBA, DECAY_INPUT, REFRAC, HAS_GS, HAS_GVS, NEED_BETA, NEED_ALPHA, BLOCK)  # fmt: skip
    for c in range(0, T, 4):
        t0 = T - 1 - c
        xh0, xhp0, xgs0, xgvs0, xa0, xap0, xc0, xip0 = h0, hp0, gs0, gvs0, a0, ap0, c0, ip0
        xh1, xhp1, xgs1, xgvs1, xa1, xap1, xc1, xip1 = h1, hp1, gs1, gvs1, a1, ap1, c1, ip1
        xh2, xhp2, xgs2, xgvs2, xa2, xap2, xc2, xip2 = h2, hp2, gs2, gvs2, a2, ap2, c2, ip2
        xh3, xhp3, xgs3, xgvs3, xa3, xap3, xc3, xip3 = h3, hp3, gs3, gvs3, a3, ap3, c3, ip3
        nxt = ptr - 4 * M
        h0, hp0, gs0, gvs0, a0, ap0, c0, ip0 = _backward_loads(
            t0 - 4, nxt, mask, step, M, H, GS, GVS, ACT, X, ISEQ,
            CUBA, DECAY_INPUT, REFRAC, HAS_GS, HAS_GVS, NEED_BETA, NEED_ALPHA, BLOCK)  # fmt: skip
        h1, hp1, gs1, gvs1, a1, ap1, c1, ip1 = _backward_loads(
            t0 - 5, nxt - M, mask, step, M, H, GS, GVS, ACT, X, ISEQ,
            CUBA, DECAY_INPUT, REFRAC, HAS_GS, HAS_GVS, NEED_BETA, NEED_ALPHA, BLOCK)  # fmt: skip
        h2, hp2, gs2, gvs2, a2, ap2, c2, ip2 = _backward_loads(
            t0 - 6, nxt - 2 * M, mask, step, M, H, GS, GVS, ACT, X, ISEQ,
            CUBA, DECAY_INPUT, REFRAC, HAS_GS, HAS_GVS, NEED_BETA, NEED_ALPHA, BLOCK)  # fmt: skip
        h3, hp3, gs3, gvs3, a3, ap3, c3, ip3 = _backward_loads(
            t0 - 7, nxt - 3 * M, mask, step, M, H, GS, GVS, ACT, X, ISEQ,
            CUBA, DECAY_INPUT, REFRAC, HAS_GS, HAS_GVS, NEED_BETA, NEED_ALPHA, BLOCK)  # fmt: skip
        gv, gI, gsc, gb, gal, gt = _backward_step(
            xh0, xhp0, xgs0, xgvs0, xa0, xap0, xc0, xip0, t0, ptr, mask, step,
            gv, gI, gsc, gb, gal, gt, be, al, th, ga, v0, i0, s0, v_reset, v_leak, k, k_half, k_atan, GX,
            CUBA, RESET, INCLUSIVE, DELAY, DECAY_INPUT, DETACH, REFRAC, SUR, HAS_GVS, NEED_BETA, NEED_ALPHA,
            NEED_TH, BF16, BLOCK)  # fmt: skip
        gv, gI, gsc, gb, gal, gt = _backward_step(
            xh1, xhp1, xgs1, xgvs1, xa1, xap1, xc1, xip1, t0 - 1, ptr - M, mask, step,
            gv, gI, gsc, gb, gal, gt, be, al, th, ga, v0, i0, s0, v_reset, v_leak, k, k_half, k_atan, GX,
            CUBA, RESET, INCLUSIVE, DELAY, DECAY_INPUT, DETACH, REFRAC, SUR, HAS_GVS, NEED_BETA, NEED_ALPHA,
            NEED_TH, BF16, BLOCK)  # fmt: skip
        gv, gI, gsc, gb, gal, gt = _backward_step(
            xh2, xhp2, xgs2, xgvs2, xa2, xap2, xc2, xip2, t0 - 2, ptr - 2 * M, mask, step,
            gv, gI, gsc, gb, gal, gt, be, al, th, ga, v0, i0, s0, v_reset, v_leak, k, k_half, k_atan, GX,
            CUBA, RESET, INCLUSIVE, DELAY, DECAY_INPUT, DETACH, REFRAC, SUR, HAS_GVS, NEED_BETA, NEED_ALPHA,
            NEED_TH, BF16, BLOCK)  # fmt: skip
        gv, gI, gsc, gb, gal, gt = _backward_step(
            xh3, xhp3, xgs3, xgvs3, xa3, xap3, xc3, xip3, t0 - 3, ptr - 3 * M, mask, step,
            gv, gI, gsc, gb, gal, gt, be, al, th, ga, v0, i0, s0, v_reset, v_leak, k, k_half, k_atan, GX,
            CUBA, RESET, INCLUSIVE, DELAY, DECAY_INPUT, DETACH, REFRAC, SUR, HAS_GVS, NEED_BETA, NEED_ALPHA,
            NEED_TH, BF16, BLOCK)  # fmt: skip
        ptr = nxt
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
