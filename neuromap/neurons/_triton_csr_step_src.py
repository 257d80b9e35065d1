"""Triton kernel of one step of a LIF / CuBa-LIF population with sparse (CSR) recurrent weights.

Loaded by :mod:`neuromap.neurons.sparse_recurrent` through
:func:`neuromap.neurons.triton_kernels.kernel_module` (never imported directly).

One program owns ``BLOCK`` elements of the flattened ``[B * N]`` (batch x neuron) axis. Each lane
sums its neuron's CSR row over the presynaptic neurons that spiked in the previous step (in row
order, as a sequential CSR product does), adds the step's drive and runs the neuron update in the
reservoir step's order (``networks/lsm.py`` ``_Step``): ``i = alpha i + x`` (CuBa),
``v = beta v``, ``+ leak``, ``+ gain cur``, refractory clamp, ``s = v > v_th`` (or ``>=``), reset,
refractory counter. Values in float32 or float64 (``F64``); spikes as one byte.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def csr_lif_step(
    DRIVE, S_PREV, INDPTR, INDICES, DATA, V, I, R, S_OUT, MEM, SCAL, M, N, max_deg, refractory,
    CUBA: tl.constexpr, RESET: tl.constexpr, INCLUSIVE: tl.constexpr, REFRAC: tl.constexpr,
    HAS_LEAK: tl.constexpr, HAS_GAIN: tl.constexpr, STORE_MEM: tl.constexpr, F64: tl.constexpr,
    BLOCK: tl.constexpr,
):  # fmt: skip
    """``SCAL``: ``[beta, alpha, leak, gain, v_th, v_reset]`` in the compute dtype (a Triton float
    argument would be float32)."""
    beta = tl.load(SCAL)
    alpha = tl.load(SCAL + 1)
    leak = tl.load(SCAL + 2)
    gain = tl.load(SCAL + 3)
    v_th = tl.load(SCAL + 4)
    v_reset = tl.load(SCAL + 5)
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    b = offs // N
    n = offs - b * N
    start = tl.load(INDPTR + n, mask=mask, other=0)
    end = tl.load(INDPTR + n + 1, mask=mask, other=0)
    x = tl.load(DRIVE + offs, mask=mask, other=0.0)
    if F64:
        x = x.to(tl.float64)
        acc = tl.full([BLOCK], 0.0, tl.float64)
    else:
        x = x.to(tl.float32)
        acc = tl.full([BLOCK], 0.0, tl.float32)
    row = b.to(tl.int64) * N
    for k in range(0, max_deg):
        idx = start + k
        m = mask & (idx < end)
        col = tl.load(INDICES + idx, mask=m, other=0)
        fired = tl.load(S_PREV + row + col, mask=m, other=0) != 0
        w = tl.load(DATA + idx, mask=m & fired, other=0.0)
        acc = acc + w
    x = x + acc
    if CUBA:
        i = alpha * tl.load(I + offs, mask=mask, other=0.0) + x
        tl.store(I + offs, i, mask=mask)
        cur = i
    else:
        cur = x
    v = beta * tl.load(V + offs, mask=mask, other=0.0)
    if HAS_LEAK:
        v = v + leak
    if HAS_GAIN:
        v = v + cur * gain
    else:
        v = v + cur
    if REFRAC:
        r = tl.load(R + offs, mask=mask, other=0)
        blocked = r > 0
        v = tl.where(blocked, v_reset, v)
    if INCLUSIVE:
        s = v >= v_th
    else:
        s = v > v_th
    if REFRAC:
        s = s & (r <= 0)
        r = tl.where(s, refractory, tl.maximum(r - 1, 0))
        tl.store(R + offs, r, mask=mask)
    if RESET == 0:
        v = v - tl.where(s, 1.0, 0.0) * v_th
    elif RESET == 1:
        v = tl.where(s, v_reset, v)
    tl.store(V + offs, v, mask=mask)
    tl.store(S_OUT + offs, s.to(tl.uint8), mask=mask)
    if STORE_MEM:
        tl.store(MEM + offs, v, mask=mask)


__all__ = ["csr_lif_step", "triton"]
