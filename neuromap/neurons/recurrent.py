"""The whole T-step simulation of a recurrent LIF / CuBa-LIF population in one compiled call.

A reservoir (or any population with recurrent synapses) stepped from Python costs a round of PyTorch
calls per time step; at 0.1 ms steps that overhead, not the arithmetic, sets the speed. :func:`run` hands
the whole simulation to the C++/OpenMP loop in ``_recurrent_kernels.cpp`` (built with the other CPU
kernels, :mod:`neuromap.neurons.kernels`):

* event-driven propagation: only neurons that spiked push their fan-out rows (:class:`FanOut`, the
  recurrent weights by presynaptic neuron, built once), each synapse with its own delay in steps
  (``>= 1``; 1 is "the previous step's spikes", the reservoir's convention);
* LIF, CuBa-LIF, and CuBa with a second, inhibitory current (:class:`~neuromap.neurons.params.CubaEIParams`:
  the synapses of neurons flagged ``second`` feed it), every reset mode, ``>`` / ``>=``, refractoriness;
* input as a dense drive ``[T, B, N]`` and/or independent Poisson input (:class:`PoissonInput`) drawn
  inside the loop from a counter-based generator that :func:`poisson_events` reproduces in numpy, so the
  reference loop gets exactly the same events;
* spikes recorded as a raster ``[T, B, N]`` (uint8) and/or as sorted event indices ``(t * B + b) * N + n``
  (what a 100,000-neuron, 10,000-step run can afford), optionally the membrane after reset;
* float32 and float64, no fused multiply-add: in float64 the spikes equal the reference step loop
  (``networks/lsm.py``, ``method="csr"``) exactly.

Threads: samples run in parallel when there are at least as many as threads; a single sample is split
into neuron ranges with one barrier per step. The arithmetic does not depend on the thread count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch

from neuromap import counter_rng

from . import kernels
from .functional import NeuronState
from .params import CubaEIParams, CubaLIFParams, LIFParams

#: Neurons per Poisson block (``kPoissonBlock`` in the C++ source): the unit of Poisson splitting.
POISSON_BLOCK = 1024
#: A Poisson table stops where the probability left beyond it is below this (12 standard deviations).
POISSON_TAIL = 1e-30
DTYPES = (torch.float32, torch.float64)
_RESET = {"subtract": 0, "zero": 1, "none": 2}


# --------------------------------------------------------------------------------------------- connectivity
@dataclass(eq=False)
class FanOut:
    """Recurrent synapses by presynaptic neuron, for push propagation: row ``p`` is
    ``post[ptr[p]:ptr[p+1]]`` (ascending), ``weight`` and ``delay`` (steps, ``>= 1``; None: all 1) alike;
    ``second`` (bool ``[n]`` or None) flags the neurons whose synapses feed the second current."""

    n: int
    ptr: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    delay: np.ndarray | None = None
    second: np.ndarray | None = None
    _tensors: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_csr(cls, W: sp.spmatrix, delays: np.ndarray | None = None, second: np.ndarray | None = None) -> FanOut:
        """From square weights ``W [post, pre]`` (scipy sparse); ``delays``: steps per stored entry of
        ``W.tocsr()`` (its ``data`` order, sorted indices), or None for one step each."""
        W = sp.csr_matrix(W)
        if W.shape[0] != W.shape[1]:
            raise ValueError(f"recurrent weights must be square [post, pre], got {W.shape}")
        W.sort_indices()
        n = W.shape[0]
        # the permutation CSR -> CSC (by presynaptic neuron, posts ascending) in one O(nnz) pass
        order = sp.csr_matrix((np.arange(W.nnz, dtype=np.int64), W.indices, W.indptr), shape=W.shape).tocsc()
        perm = order.data
        delay = None
        if delays is not None:
            delays = np.asarray(delays)
            if delays.shape != (W.nnz,):
                raise ValueError(f"delays must give one delay per synapse ({W.nnz}), got shape {delays.shape}")
            if delays.size and (delays.min() < 1 or not np.issubdtype(delays.dtype, np.integer)):
                raise ValueError("delays must be whole numbers of steps >= 1 (1: the spikes of the previous step)")
            if delays.size and delays.max() > 1:
                delay = delays[perm].astype(np.int32)
        if second is not None:
            second = np.asarray(second, dtype=bool)
            if second.shape != (n,):
                raise ValueError(f"second must flag each of the {n} neurons, got shape {second.shape}")
        return cls(n, order.indptr.astype(np.int64), order.indices.astype(np.int32), W.data[perm].astype(np.float64),
                   delay, second)

    @property
    def max_delay(self) -> int:
        return int(self.delay.max()) if self.delay is not None and self.delay.size else 1

    @property
    def synapses(self) -> int:
        return int(self.post.size)

    def nbytes(self, dtype: torch.dtype) -> int:
        """Bytes of the tables the loop reads (index, weight in ``dtype``, delay)."""
        per = 4 + torch.empty(0, dtype=dtype).element_size() + (4 if self.delay is not None else 0)
        return self.synapses * per + self.ptr.nbytes

    def tensors(self, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """``(ptr, post, weight, delay, second)`` as the C++ op takes them (empty tensors for None), cached."""
        if dtype not in self._tensors:
            empty_i = torch.empty(0, dtype=torch.int32)
            self._tensors[dtype] = (
                torch.from_numpy(self.ptr), torch.from_numpy(self.post), torch.from_numpy(self.weight).to(dtype),
                torch.from_numpy(self.delay) if self.delay is not None else empty_i,
                torch.from_numpy(self.second.astype(np.uint8)) if self.second is not None
                else torch.empty(0, dtype=torch.uint8))
        return self._tensors[dtype]


# --------------------------------------------------------------------------------------------- Poisson input
def poisson_table(lam: float) -> tuple[np.ndarray, int]:
    """Inverse-CDF table of a Poisson count of mean ``lam``: ``(cdf, k0)`` with ``cdf[i] = P(K <= k0 + i)``,
    from ``k0`` about 12 standard deviations below the mean to as far above, the last entry set to 1 (the
    probability outside is below :data:`POISSON_TAIL`)."""
    from scipy.stats import poisson

    if not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"a Poisson mean must be finite and >= 0, got {lam!r}")
    sd = math.sqrt(lam)
    lo = max(0, math.floor(lam - 12.0 * sd - 8.0))
    hi = math.ceil(lam + 12.0 * sd + 16.0)
    cdf = poisson.cdf(np.arange(lo, hi + 1), lam).astype(np.float64)
    cdf[-1] = 1.0
    return np.ascontiguousarray(cdf), lo


@dataclass(frozen=True)
class PoissonInput:
    """Independent Poisson input to every neuron: ``n_sources`` sources of ``rate_hz`` each, every
    source spike adding ``weight`` to the neuron's input (its first current), i.e. a Poisson count of
    mean ``n_sources * rate_hz * dt`` per neuron and step (Brian2's ``PoissonInput`` draws the same
    sum as a binomial). Drawn per block of :data:`POISSON_BLOCK` neurons as a Poisson total scattered
    uniformly over the block (Poisson splitting: exact), from a counter-based generator keyed by
    ``(seed, step, sample, block)``."""

    n_sources: float
    rate_hz: float
    weight: float

    def __post_init__(self) -> None:
        for name in ("n_sources", "rate_hz", "weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise ValueError(f"poisson {name} must be a finite number, got {value!r}")
        if self.n_sources < 0 or self.rate_hz < 0:
            raise ValueError(f"poisson=(n_sources, rate_hz, weight) needs n_sources, rate_hz >= 0, got "
                             f"{(self.n_sources, self.rate_hz, self.weight)}")

    @classmethod
    def coerce(cls, spec: PoissonInput | tuple | None) -> PoissonInput | None:
        """From a ``(n_sources, rate_hz, weight)`` tuple (the reservoir's argument), or as given."""
        if spec is None or isinstance(spec, PoissonInput):
            return spec
        try:
            n_src, rate, weight = spec
        except (TypeError, ValueError):
            raise ValueError(f"poisson must be (n_sources, rate_hz, weight), got {spec!r}") from None
        return cls(n_src, rate, weight)

    def mean(self, dt: float) -> float:
        """Source spikes per neuron and step (``dt`` in seconds)."""
        return float(self.n_sources) * float(self.rate_hz) * float(dt)

    def tables(self, dt: float, n: int) -> tuple[np.ndarray, int, np.ndarray, int]:
        """Inverse-CDF tables of a full block and of the last block of an ``n``-neuron population."""
        lam = self.mean(dt)
        last = n - (math.ceil(n / POISSON_BLOCK) - 1) * POISSON_BLOCK
        cdf, k0 = poisson_table(lam * POISSON_BLOCK)
        cdf_last, k0_last = (cdf, k0) if last == POISSON_BLOCK else poisson_table(lam * last)
        return cdf, k0, cdf_last, k0_last


def poisson_events(poisson: PoissonInput, dt: float, t0: int, t1: int, batch: int, n: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The events the compiled loop draws for steps ``t0 .. t1 - 1``: ``(offsets [t1 - t0 + 1], targets)``,
    step ``t0 + k``'s events being ``targets[offsets[k]:offsets[k+1]]``, flat indices ``b * n + neuron`` in
    the loop's order (sample, block, event)."""
    cdf, k0, cdf_last, k0_last = poisson.tables(dt, n)
    n_blocks = math.ceil(n / POISSON_BLOCK)
    tt, bb, kk = np.meshgrid(np.arange(t0, t1, dtype=np.uint64), np.arange(batch, dtype=np.uint64),
                             np.arange(n_blocks, dtype=np.uint64), indexing="ij")
    tt, bb, kk = tt.ravel(), bb.ravel(), kk.ravel()
    base = counter_rng.stream_base((tt * np.uint64(batch) + bb) * np.uint64(n_blocks) + kk, seed)
    u0 = counter_rng.unit(counter_rng.mix64(base))
    size = np.where(kk == n_blocks - 1, n - (n_blocks - 1) * POISSON_BLOCK, POISSON_BLOCK).astype(np.int64)
    last = size != POISSON_BLOCK
    counts = np.where(last, k0_last + np.searchsorted(cdf_last, u0, side="right"),
                      k0 + np.searchsorted(cdf, u0, side="right")).astype(np.int64)
    rep = np.repeat(np.arange(len(base)), counts)
    first = np.cumsum(counts) - counts
    k = (np.arange(rep.size, dtype=np.int64) - first[rep] + 1).astype(np.uint64)
    u = counter_rng.unit(counter_rng.mix64(base[rep] + k * counter_rng.GOLDEN))
    j = np.minimum((u * size[rep].astype(np.float64)).astype(np.int64), size[rep] - 1)
    targets = bb[rep].astype(np.int64) * n + kk[rep].astype(np.int64) * POISSON_BLOCK + j
    per_step = counts.reshape(t1 - t0, -1).sum(1)
    offsets = np.concatenate([[0], np.cumsum(per_step)]).astype(np.int64)
    return offsets, targets


# --------------------------------------------------------------------------------------------- the loop
class RecurrentRun(NamedTuple):
    raster: torch.Tensor | None  # [T, B, N] uint8
    membrane: torch.Tensor | None  # [T, B, N] after reset
    events: torch.Tensor | None  # sorted flat indices (t * B + b) * N + n, int64
    state: NeuronState


def unsupported(params: LIFParams, dtype: torch.dtype, device: torch.device) -> str | None:
    """Why the compiled loop cannot run this case, or None."""
    if not isinstance(params, LIFParams) or type(params).__name__ not in ("LIFParams", "CubaLIFParams", "CubaEIParams"):
        return f"neuron parameters {type(params).__name__} (the loop runs LIF, CuBa-LIF and CubaEI)"
    if params.reset_delay:
        return "reset_delay=True (snnTorch's delayed reset)"
    if dtype not in DTYPES:
        return f"dtype {dtype} (float32 and float64)"
    if torch.device(device).type != "cpu":
        return f"device {device} (the compiled loop runs on the CPU)"
    if kernels.load() is None:
        return f"the compiled kernels are unavailable ({kernels.status()['error'] or 'NEUROMAP_NO_CPP is set'})"
    return None


def _check_state(state: NeuronState, params: LIFParams, shape: tuple[int, int], dtype: torch.dtype) -> None:
    cuba = isinstance(params, CubaLIFParams)
    want_i = ((2, *shape) if isinstance(params, CubaEIParams) else shape) if cuba else None
    bad = state.v.shape != shape or state.v.dtype != dtype or not state.v.is_contiguous()
    bad |= cuba and (state.i is None or tuple(state.i.shape) != want_i or state.i.dtype != dtype
                     or not state.i.is_contiguous())
    if params.refractory_steps:
        r = state.refrac
        bad |= r is None or tuple(r.shape) != shape or r.dtype != torch.int32 or not r.is_contiguous()
    if bad:
        raise ValueError(f"recurrent.run: the state must be contiguous [B, N] = {list(shape)} tensors of {dtype} "
                         f"(the current [2, B, N] for CubaEIParams, the refractory counter int32)")


def run(fan: FanOut, params: LIFParams, state: NeuronState, steps: int, drive: torch.Tensor | None = None,
        poisson: PoissonInput | None = None, seed: int = 0, record_membrane: bool = False, raster: bool = True,
        events: bool = False, threads: int | None = None) -> RecurrentRun:
    """Simulate ``steps`` steps of the population with recurrent synapses ``fan`` from ``state``
    (``v [B, N]``, ``i``, ``refrac``: updated in place and returned).

    ``drive``: input current ``[steps, B, N]`` in the state's dtype, or None (no input); ``poisson``:
    independent Poisson input seeded by ``seed``; ``raster`` / ``events``: record the spikes as a uint8
    raster and/or as sorted flat event indices; ``threads``: default ``torch.get_num_threads()``.
    Raises ``ValueError`` for a case the loop does not run (:func:`unsupported` says why)."""
    v = state.v
    B, N = v.shape
    reason = unsupported(params, v.dtype, v.device)
    if reason:
        raise ValueError(f"the compiled recurrent loop does not support {reason}")
    if N != fan.n:
        raise ValueError(f"the state has {N} neurons, the recurrent synapses {fan.n}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    _check_state(state, params, (B, N), v.dtype)
    two = isinstance(params, CubaEIParams)
    if two != (fan.second is not None):
        raise ValueError("CubaEIParams need the neurons that feed the second current (FanOut.second) and only "
                         "they use it")
    if drive is None:
        drive_t = v.new_empty(0)
    else:
        if tuple(drive.shape) != (steps, B, N) or drive.dtype != v.dtype:
            raise ValueError(f"drive must be a [{steps}, {B}, {N}] tensor of {v.dtype}, got "
                             f"{list(drive.shape)} {drive.dtype}")
        drive_t = drive.contiguous()
    ptr, post, w, delay, second = fan.tensors(v.dtype)
    empty = v.new_empty(0)
    cur = state.i[0] if two else (state.i if isinstance(params, CubaLIFParams) else empty)
    cur2 = state.i[1] if two else empty
    refr = state.refrac if params.refractory_steps else torch.empty(0, dtype=torch.int32)
    pois = PoissonInput.coerce(poisson)
    tables = pois.tables(params.dt, N) if pois is not None else None
    no_table = torch.empty(0, dtype=torch.float64)
    ras, mem, ev = torch.ops.neuromap_kernels.recurrent_run(
        drive_t, ptr, post, w, delay, second, v, cur, cur2, refr, steps, fan.max_delay,
        float(params.beta), float(params.alpha) if isinstance(params, CubaLIFParams) else 0.0,
        float(params.alpha_inh) if two else 0.0, float((1.0 - params.beta) * params.v_leak),
        float(params.input_gain), float(params.v_th), float(params.v_reset), _RESET[params.reset],
        params.threshold_rule == ">=", int(params.refractory_steps),
        torch.from_numpy(tables[0]) if tables else no_table, int(tables[1]) if tables else 0,
        torch.from_numpy(tables[2]) if tables else no_table, int(tables[3]) if tables else 0,
        float(pois.weight) if pois else 0.0, int(seed), raster, record_membrane, events,
        int(threads if threads is not None else torch.get_num_threads()))
    return RecurrentRun(ras if raster else None, mem if record_membrane else None, ev if events else None, state)
