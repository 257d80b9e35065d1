"""Liquid state machines: a fixed random recurrent LIF / CuBa-LIF reservoir and trainable readouts.

Topology (Maass, Natschläger & Markram 2002): neurons on an integer 3-D grid, a fraction
``inhibitory_fraction`` (20 %) inhibitory, connection probability between ``a`` and ``b``
``C[type(a), type(b)] * exp(-(D(a, b) / lam)^2)`` with ``D`` the Euclidean grid distance, and
Dale's law (the sign of every outgoing weight is fixed by the presynaptic type). Weights are
``constant`` amplitudes per type pair, ``gamma``-distributed around them, or drawn from a
``device`` conductance distribution (Gaussian per-device variation, as in the resistive-memory
zero-shot LSM: the fixed weights are the as-programmed stochastic conductances).

Pairs are sampled exactly (an independent Bernoulli per ordered pair) without visiting all N^2
pairs: for each grid offset the candidate pre-synaptic neurons are drawn with the offset's
largest probability and thinned by type, so building costs O(synapses + offsets) and a
100,000-neuron reservoir never needs a dense matrix.

Dynamics use neuromap's one neuron definition (:class:`~neuromap.neurons.LIFParams` /
:class:`~neuromap.neurons.CubaLIFParams`, the step of :func:`neuromap.neurons.neuron_step`) with
the recurrent input of step ``t`` computed from the spikes of step ``t - 1``::

    x[t] = W_in u[t] + W_rec s[t-1] + bias

with ``s[t - d]`` for a synapse of ``d`` steps' delay (``Connectivity.delays``; 1 by default). The
recurrent weights are a torch sparse CSR tensor ``[post, pre]`` for the reference step loop and an
event-driven fan-out table for the compiled one; nothing is differentiated (the reservoir is fixed).
A run stays on the input's device: on the CPU the whole run is one call of the compiled loop
(:mod:`neuromap.neurons.recurrent`: only neurons that spiked push their synapses); on CUDA each step is
one fused Triton kernel (CSR row gather over the last spikes + neuron update,
:mod:`neuromap.neurons.sparse_recurrent`) and nothing in the step loop reads a value back to the host.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import nir
import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from neuromap import synapses
from neuromap.graph import extension_nodes
from neuromap.graph.errors import GraphError
from neuromap.graph.neuron import LIFSpec, spec_to_nir
from neuromap.graph.trace_handlers import register_handler, single_input, to_numpy
from neuromap.neurons import (
    CubaEIParams,
    CubaLIFParams,
    LIFParams,
    NeuronState,
    initial_state,
    kernels,
    recurrent,
    sparse_recurrent,
    triton_kernels,
)

# Maass et al. 2002 connection constants (pre -> post) and mean amplitudes (relative, signed by Dale).
MAASS_C = {"EE": 0.3, "EI": 0.2, "IE": 0.4, "II": 0.1}
MAASS_A = {"EE": 30.0, "EI": 60.0, "IE": 19.0, "II": 19.0}
WEIGHT_DISTS = ("constant", "gamma", "device")
METHODS = ("auto", "compiled", "csr", "event", "fused")


# --- connectivity -------------------------------------------------------------------------------

@dataclass
class Connectivity:
    """A fixed recurrent network: ``weights`` (scipy CSR, ``[post, pre]``, sorted indices), ``inhibitory``
    mask per neuron, grid ``positions`` (``[N, 3]`` ints, or None for non-spatial networks) and
    ``delays``: transmission delay in steps per synapse (ints ``>= 1``, aligned with ``weights.data``;
    None: every synapse 1 step, the spike of step ``t`` arriving at step ``t + 1``)."""

    weights: sp.csr_matrix
    inhibitory: np.ndarray
    positions: np.ndarray | None = None
    delays: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.weights = sp.csr_matrix(self.weights)
        self.weights.sort_indices()
        if self.delays is not None:
            d = np.asarray(self.delays)
            if d.shape != (self.weights.nnz,) or not np.issubdtype(d.dtype, np.integer) or (d.size and d.min() < 1):
                raise ValueError(f"delays must be {self.weights.nnz} whole numbers of steps >= 1 (one per synapse, "
                                 f"in the order of weights.data), got {d.dtype} of shape {d.shape}")
            self.delays = None if not d.size or d.max() == 1 else d.astype(np.int32)

    def with_delays(self, delays: int | np.ndarray) -> Connectivity:
        """The same network with ``delays`` steps (one number for every synapse, or one per synapse)."""
        d = np.full(self.n_synapses, delays, dtype=np.int64) if np.ndim(delays) == 0 else np.asarray(delays)
        return Connectivity(self.weights, self.inhibitory, self.positions, d)

    @property
    def max_delay(self) -> int:
        """The longest delay in steps (1 without delays)."""
        return int(self.delays.max()) if self.delays is not None else 1

    @property
    def n(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_synapses(self) -> int:
        return int(self.weights.nnz)

    def pre_post(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pre, post, weight)`` arrays of all synapses."""
        coo = self.weights.tocoo()
        return coo.col.astype(np.int64), coo.row.astype(np.int64), coo.data


def _check_prob(name: str, p: float) -> float:
    if not isinstance(p, (int, float)) or not math.isfinite(p) or not (0.0 <= p <= 1.0):
        raise ValueError(f"connection probability {name} must lie in [0, 1], got {p!r}")
    return float(p)


def _check_grid(grid, n_neurons: int | None) -> tuple[int, int, int]:
    if not (isinstance(grid, (tuple, list)) and len(grid) == 3 and all(isinstance(g, int) and g >= 1 for g in grid)):
        raise ValueError(f"grid must be three positive integers (nx, ny, nz), got {grid!r}")
    sites = grid[0] * grid[1] * grid[2]
    if n_neurons is not None and n_neurons != sites:
        raise ValueError(
            f"a reservoir of {n_neurons} neurons does not fit the grid {tuple(grid)} ({sites} sites); "
            f"choose a grid whose product is {n_neurons} or pass n_neurons={sites}"
        )
    return tuple(grid)  # type: ignore[return-value]


def grid_positions(grid: tuple[int, int, int]) -> np.ndarray:
    """Integer coordinates ``[N, 3]`` of the grid sites, neuron ``k`` at ``np.unravel_index(k, grid)``."""
    grid = _check_grid(grid, None)
    return np.stack(np.unravel_index(np.arange(grid[0] * grid[1] * grid[2]), grid), axis=1).astype(np.int64)


def _inhibitory_mask(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    if not (0.0 <= fraction <= 1.0):
        raise ValueError(f"inhibitory_fraction must lie in [0, 1], got {fraction!r}")
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, int(round(fraction * n)), replace=False)] = True
    return mask


def _draw_weights(
    amp: np.ndarray, dist: str, rng: np.random.Generator, weight_cv: float, device_sigma: float
) -> np.ndarray:
    """Magnitudes around the per-synapse mean amplitudes ``amp`` (>= 0)."""
    if dist == "constant":
        return amp.copy()
    if dist == "gamma":
        if weight_cv <= 0:
            raise ValueError(f"weight_cv must be positive, got {weight_cv!r}")
        k = 1.0 / weight_cv**2
        return rng.gamma(k, 1.0 / k, size=amp.shape) * amp
    if dist == "device":
        if device_sigma < 0:
            raise ValueError(f"device_sigma must be >= 0, got {device_sigma!r}")
        # conductance of each device relative to its programming target; negative is clipped (off state)
        g = rng.normal(1.0, device_sigma, size=amp.shape)
        return np.clip(g, 0.0, None) * amp
    raise ValueError(f"weights={dist!r} is not one of {list(WEIGHT_DISTS)}")


def bernoulli_indices(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    """Indices in ``[0, n)`` each kept independently with probability ``p`` (geometric gaps: O(n p); dense
    probabilities by uniform draws in chunks of 2^24)."""
    if p <= 0:
        return np.zeros(0, np.int64)
    if p >= 0.25:
        chunk = 1 << 24
        return np.concatenate([np.flatnonzero(rng.random(min(chunk, n - a)) < p) + a for a in range(0, n, chunk)]
                              or [np.zeros(0, np.int64)])
    out, start = [], -1
    while True:
        m = int(n * p + 6.0 * math.sqrt(n * p) + 16)
        idx = start + np.cumsum(rng.geometric(p, size=m))
        if idx[-1] >= n:
            out.append(idx[idx < n])
            break
        out.append(idx)
        start = int(idx[-1])
    return np.concatenate(out)


def maass_connectivity(
    grid: tuple[int, int, int] = (15, 3, 3),
    lam: float = 2.0,
    C: dict[str, float] | None = None,
    amplitudes: dict[str, float] | None = None,
    inhibitory_fraction: float = 0.2,
    weights: str = "constant",
    weight_cv: float = 0.5,
    device_sigma: float = 0.1,
    cutoff: float = 1e-5,
    n_neurons: int | None = None,
    seed: int = 0,
) -> Connectivity:
    """Maass-style 3-D grid reservoir: P(a -> b) = C[ab] exp(-(D/lam)^2), Dale's law.

    ``C`` / ``amplitudes``: per type pair ``"EE", "EI", "IE", "II"`` (pre, post); amplitudes are
    magnitudes, the sign comes from the presynaptic type. Offsets with probability below ``cutoff``
    are skipped (their expected contribution is < cutoff * N synapses).
    """
    grid = _check_grid(grid, n_neurons)
    C = dict(MAASS_C if C is None else C)
    A = dict(MAASS_A if amplitudes is None else amplitudes)
    for key in ("EE", "EI", "IE", "II"):
        if key not in C or key not in A:
            raise ValueError(f"C and amplitudes need the keys EE, EI, IE, II; missing {key!r}")
        _check_prob(f"C[{key!r}]", C[key])
        if not math.isfinite(A[key]) or A[key] < 0:
            raise ValueError(f"amplitudes[{key!r}] must be a non-negative magnitude (Dale's law sets the sign)")
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam > 0):
        raise ValueError(f"lam must be a positive length (grid units), got {lam!r}")
    if weights not in WEIGHT_DISTS:
        raise ValueError(f"weights={weights!r} is not one of {list(WEIGHT_DISTS)}")
    rng = np.random.default_rng(seed)
    pos = grid_positions(grid)
    n = len(pos)
    inh = _inhibitory_mask(n, inhibitory_fraction, rng)
    c_tab = np.array([[C["EE"], C["EI"]], [C["IE"], C["II"]]])  # [pre_is_inh, post_is_inh]
    a_tab = np.array([[A["EE"], A["EI"]], [A["IE"], A["II"]]])
    c_max = float(c_tab.max())
    pres, posts = [], []
    if c_max > 0:
        radius = lam * math.sqrt(max(math.log(c_max / cutoff), 0.0))
        r = int(math.floor(radius))
        span = [np.arange(-min(r, g - 1), min(r, g - 1) + 1) for g in grid]
        offsets = np.stack(np.meshgrid(*span, indexing="ij"), axis=-1).reshape(-1, 3)
        d2 = (offsets**2).sum(1)
        p_off = c_max * np.exp(-d2 / lam**2)
        keep = (d2 > 0) & (p_off >= cutoff)
        gx, gy, gz = grid
        t = inh.astype(np.int64)
        accept_ratio = (c_tab / c_max).reshape(-1)  # index 2 * pre_is_inh + post_is_inh
        for (dx, dy, dz), p in zip(offsets[keep], p_off[keep]):
            # pre-synaptic sites whose target (site + offset) lies inside the grid form a sub-box
            x0, y0, z0 = max(0, -dx), max(0, -dy), max(0, -dz)
            wx, wy, wz = gx - abs(dx), gy - abs(dy), gz - abs(dz)
            k = bernoulli_indices(rng, wx * wy * wz, p)
            if k.size == 0:
                continue
            ix, rem = np.divmod(k, wy * wz)
            iy, iz = np.divmod(rem, wz)
            pre = ((x0 + ix) * gy + (y0 + iy)) * gz + (z0 + iz)
            post = pre + (dx * gy + dy) * gz + dz
            if c_max != c_tab.min():
                ok = rng.random(pre.size) < accept_ratio[2 * t[pre] + t[post]]
                pre, post = pre[ok], post[ok]
            pres.append(pre)
            posts.append(post)
    pre = np.concatenate(pres) if pres else np.zeros(0, np.int64)
    post = np.concatenate(posts) if posts else np.zeros(0, np.int64)
    amp = a_tab[inh[pre].astype(int), inh[post].astype(int)]
    w = _draw_weights(amp, weights, rng, weight_cv, device_sigma) * np.where(inh[pre], -1.0, 1.0)
    W = sp.csr_matrix((w, (post, pre)), shape=(n, n))
    W.sort_indices()
    return Connectivity(W, inh, pos)


def random_connectivity(
    n: int,
    p: float,
    w_exc: float,
    w_inh: float,
    inhibitory_fraction: float = 0.2,
    weights: str = "constant",
    weight_cv: float = 0.5,
    device_sigma: float = 0.1,
    seed: int = 0,
) -> Connectivity:
    """Non-spatial E/I network: every ordered pair (no self-connections) connected with probability
    ``p``; excitatory weight ``w_exc`` (> 0), inhibitory ``w_inh`` (< 0)."""
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    p = _check_prob("p", p)
    if w_exc < 0 or w_inh > 0:
        raise ValueError(f"Dale's law: w_exc must be >= 0 and w_inh <= 0, got {w_exc}, {w_inh}")
    rng = np.random.default_rng(seed)
    inh = _inhibitory_mask(n, inhibitory_fraction, rng)
    # One Bernoulli draw per ordered pair without self-connections, O(synapses) by geometric gaps over the
    # n (n - 1) pair indices (pre-major): 20 M synapses of 100,000 neurons in seconds.
    idx = bernoulli_indices(rng, n * (n - 1), p)
    pre, post = np.divmod(idx, n - 1)
    post += post >= pre  # skip self
    amp = np.where(inh[pre], -w_inh, w_exc).astype(np.float64)
    w = _draw_weights(amp, weights, rng, weight_cv, device_sigma) * np.where(inh[pre], -1.0, 1.0)
    W = sp.csr_matrix((w, (post, pre)), shape=(n, n))
    W.sort_indices()
    return Connectivity(W, inh, None)


# --- simulation ---------------------------------------------------------------------------------

class _Step:
    """No-autograd, in-place form of :func:`neuromap.neurons.neuron_step` (same equations, same order):

    ``i = alpha i + x`` (CuBa; with :class:`~neuromap.neurons.CubaEIParams` also ``i2 = alpha_inh i2 +
    x_inh`` and ``cur = i + i2``), ``h = beta v + (1 - beta) v_leak + g cur``, refractory clamp,
    ``s = h > v_th`` (or >=), reset, refractory counter. Tests pin it against ``neuron_step``."""

    def __init__(self, params: LIFParams) -> None:
        if params.reset_delay:
            raise ValueError("the reservoir does not support reset_delay=True (snnTorch's delayed reset)")
        self.p = params
        self.cuba = isinstance(params, CubaLIFParams)
        self.two = isinstance(params, CubaEIParams)
        self.beta = params.beta
        self.alpha = params.alpha if self.cuba else 0.0
        self.alpha_inh = params.alpha_inh if self.two else 0.0
        self.gain = params.input_gain
        self.leak = (1.0 - self.beta) * params.v_leak
        self.inclusive = params.threshold_rule == ">="
        self.refractory = params.refractory_steps

    def __call__(self, x: torch.Tensor, st: NeuronState, x_inh: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, NeuronState]:
        p = self.p
        if self.two:  # i: [2, B, N], the excitatory and the inhibitory current
            i = st.i
            cur = i[0].mul_(self.alpha).add_(x)
            i2 = i[1].mul_(self.alpha_inh)
            if x_inh is not None:
                i2.add_(x_inh)
            cur = cur + i2
        elif self.cuba:
            i = st.i.mul_(self.alpha).add_(x)
            cur = i
        else:
            i, cur = None, x
        v = st.v.mul_(self.beta)
        if self.leak:
            v.add_(self.leak)
        v.add_(cur * self.gain if self.gain != 1.0 else cur)  # separate multiply, as neuron_step (no FMA)
        refrac = st.refrac
        if self.refractory:
            blocked = refrac > 0
            v.masked_fill_(blocked, p.v_reset)
            s = (v >= p.v_th) if self.inclusive else (v > p.v_th)
            s.logical_and_(~blocked)
            refrac.sub_(1).clamp_(min=0).masked_fill_(s, self.refractory)
        else:
            s = (v >= p.v_th) if self.inclusive else (v > p.v_th)
        if p.reset == "subtract":
            v.sub_(s.to(v.dtype) * p.v_th)
        elif p.reset == "zero":
            v.masked_fill_(s, p.v_reset)
        return s, NeuronState(v, i, refrac, None)


class _PoissonEvents:
    """Independent Poisson input to ``B x N`` neurons for the step loops: the events the compiled loop
    draws (:func:`neuromap.neurons.recurrent.poisson_events`, the same counter-based generator), made on
    the host ``chunk`` steps at a time and moved to ``device`` once per chunk, so the step loop reads
    nothing back from the device."""

    def __init__(self, spec: recurrent.PoissonInput, T: int, B: int, N: int, dt: float, seed: int, device=None,
                 chunk: int = 1000):
        self.spec, self.T, self.B, self.N, self.dt, self.chunk = spec, T, B, N, dt, chunk
        self.seed, self.device = seed, torch.device("cpu") if device is None else torch.device(device)
        self.rewind()

    def rewind(self) -> None:
        """Back to the first step (the same events again)."""
        self.start = -self.chunk
        self.offsets: list[int] = []
        self.targets = self.weights = None

    def _fill(self, t0: int) -> None:
        offsets, targets = recurrent.poisson_events(self.spec, self.dt, t0, min(t0 + self.chunk, self.T), self.B,
                                                    self.N, self.seed)
        self.offsets = offsets.tolist()  # host values: no device involved
        self.targets = torch.from_numpy(targets).to(self.device)
        self.weights = None
        self.start = t0

    def step(self, t: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.start <= t < self.start + self.chunk:
            self._fill(t - t % self.chunk)
        if self.weights is None or self.weights.dtype != dtype:
            self.weights = torch.full((self.targets.numel(),), self.spec.weight, dtype=dtype, device=self.device)
        k = t - self.start
        a, b = self.offsets[k], self.offsets[k + 1]
        return self.targets[a:b], self.weights[a:b]


class ReservoirOutput(NamedTuple):
    spikes: torch.Tensor | None  # [T, B, N] (0/1); None with raster=False
    membrane: torch.Tensor | None  # [T, B, N] after reset, if recorded
    state: NeuronState
    events: torch.Tensor | None = None  # raster=False: sorted flat spike indices (t * B + b) * N + n (int64)


def _output(spikes: torch.Tensor, mem, st: NeuronState, raster: bool, dtype: torch.dtype) -> ReservoirOutput:
    """A step loop's boolean raster as the requested output (raster in ``dtype``, or flat event indices)."""
    if raster:
        return ReservoirOutput(spikes.to(dtype), mem, st)
    return ReservoirOutput(None, mem, st, torch.nonzero(spikes.reshape(-1)).reshape(-1))


def _csr_pair(W: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor]:
    """torch sparse CSR copies of a scipy CSR matrix in float64 and float32."""
    indptr = torch.from_numpy(W.indptr.astype(np.int64))
    indices = torch.from_numpy(W.indices.astype(np.int64))
    data = torch.from_numpy(W.data.astype(np.float64))
    w64 = torch.sparse_csr_tensor(indptr, indices, data, size=W.shape, check_invariants=False)
    w32 = torch.sparse_csr_tensor(indptr, indices, data.float(), size=W.shape, check_invariants=False)
    return w64, w32


class Reservoir(nn.Module):
    """A fixed recurrent LIF / CuBa-LIF reservoir: ``u [T, B, n_inputs] -> spikes [T, B, N]``.

    Args:
        n_inputs: input channels.
        connectivity: a :class:`Connectivity` (e.g. from :func:`maass_connectivity`).
        params: neuron parameters for every neuron (``LIFParams`` or ``CubaLIFParams``).
        input_weight: weight of an input-to-reservoir synapse (mean magnitude).
        input_fraction: probability that an input channel connects to a reservoir neuron.
        input_sign: ``"positive"`` or ``"mixed"`` (random +/-) input weights.
        rec_scale: factor on all recurrent weights (the ``g_rec`` of the LSM experiments).
        bias: constant input current added every step (background drive).
        seed: seed of the input projection.

    Attributes (plain, traceable): ``w_rec`` (torch sparse CSR ``[N, N]``, post x pre, float32),
    ``w_in`` (dense ``[N, n_inputs]``), ``inhibitory`` (bool ``[N]``), ``positions``.
    """

    def __init__(
        self,
        n_inputs: int,
        connectivity: Connectivity,
        params: LIFParams | None = None,
        input_weight: float = 1.0,
        input_fraction: float = 0.3,
        input_sign: str = "positive",
        rec_scale: float = 1.0,
        bias: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(n_inputs, int) or n_inputs < 1:
            raise ValueError(f"n_inputs must be a positive integer, got {n_inputs!r}")
        _check_prob("input_fraction", input_fraction)
        if input_sign not in ("positive", "mixed"):
            raise ValueError(f"input_sign={input_sign!r} is not one of ['positive', 'mixed']")
        self.params = params if params is not None else LIFParams(tau_mem=20e-3, dt=1e-3)
        if not isinstance(self.params, LIFParams):
            raise ValueError(f"params must be LIFParams or CubaLIFParams, got {type(self.params).__name__}")
        self._step_fn = _Step(self.params)
        self.connectivity = connectivity
        self.n_inputs, self.n = n_inputs, connectivity.n
        self.rec_scale, self.bias = float(rec_scale), float(bias)
        rng = np.random.default_rng(seed + 7919)
        mask = rng.random((self.n, n_inputs)) < input_fraction
        sign = np.where(rng.random((self.n, n_inputs)) < 0.5, -1.0, 1.0) if input_sign == "mixed" else 1.0
        self._w_in64 = torch.from_numpy(np.asarray(mask * sign * input_weight, dtype=np.float64))
        self.register_buffer("w_in", self._w_in64.float())
        self._rec_pair: tuple[torch.Tensor, torch.Tensor] | None = None  # built on first use (O(synapses) memory)
        self.register_buffer("inhibitory", torch.from_numpy(connectivity.inhibitory.copy()))
        self.positions = connectivity.positions
        self._fanout = None
        self._compiled_fanout: recurrent.FanOut | None = None
        self._has_input = bool(self._w_in64.count_nonzero())
        self._device_copies: dict[tuple, torch.Tensor] = {}

    @property
    def w_rec(self) -> torch.Tensor:
        """The recurrent weights (``rec_scale`` applied) as a torch sparse CSR tensor ``[post, pre]``, float32."""
        return self._rec_csr()[1]

    @property
    def _w_rec64(self) -> torch.Tensor:
        return self._rec_csr()[0]

    def _rec_csr(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._rec_pair is None:
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                self._rec_pair = _csr_pair(self.connectivity.weights.tocsr() * self.rec_scale)
        return self._rec_pair

    def extra_repr(self) -> str:
        return f"n_inputs={self.n_inputs}, n={self.n}, synapses={self.connectivity.n_synapses}, params={self.params}"

    def fanout_table(self, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Event-driven form of ``w_rec`` for ``method="event"``: padded per-presynaptic tables
        ``(post [N+1, K], w [N+1, K])``; padding points to an extra, never-read neuron index ``N`` with
        weight 0."""
        if self._fanout is None or self._fanout[1].dtype != dtype:
            Wt = (self.connectivity.weights.tocsc() * self.rec_scale).tocsc()
            Wt.sort_indices()
            counts = np.diff(Wt.indptr)
            K = int(counts.max()) if counts.size else 0
            K = max(K, 1)
            post = np.full((self.n + 1, K), self.n, dtype=np.int64)
            w = np.zeros((self.n + 1, K))
            col = np.arange(Wt.nnz) - np.repeat(Wt.indptr[:-1], counts)
            row = np.repeat(np.arange(self.n), counts)
            post[row, col] = Wt.indices
            w[row, col] = Wt.data
            self._fanout = (torch.from_numpy(post), torch.from_numpy(w).to(dtype))
        return self._fanout

    def fanout(self) -> recurrent.FanOut:
        """The recurrent synapses (``rec_scale`` applied, delays, inhibitory neurons feeding the second
        current of :class:`~neuromap.neurons.CubaEIParams`) as the compiled loop takes them; built once."""
        if self._compiled_fanout is None:
            con = self.connectivity
            two = isinstance(self.params, CubaEIParams)
            self._compiled_fanout = recurrent.FanOut.from_csr(con.weights * self.rec_scale, con.delays,
                                                              con.inhibitory if two else None)
        return self._compiled_fanout

    def initial_state(self, batch: int, dtype=torch.float32, device=None) -> NeuronState:
        return initial_state(self.params, (batch, self.n), dtype, device)

    @torch.no_grad()
    def simulate(
        self,
        u: torch.Tensor,
        state: NeuronState | None = None,
        record_membrane: bool = False,
        external: torch.Tensor | None = None,
        method: str = "auto",
        poisson: tuple[int, float, float] | recurrent.PoissonInput | None = None,
        seed: int = 0,
        raster: bool = True,
        threads: int | None = None,
    ) -> ReservoirOutput:
        """Run over ``u [T, B, n_inputs]`` on ``u``'s device; ``external`` adds a per-step current
        ``[T, B, N]``; ``poisson = (n_sources, rate_hz, weight)`` adds independent Poisson input to
        every neuron (``weight`` x a Poisson count of mean ``n_sources * rate_hz * dt`` per step, drawn
        by :class:`~neuromap.neurons.recurrent.PoissonInput`'s counter-based generator, the same
        events for every method and device; ``seed`` seeds it). A run continued from ``state`` starts
        with no recurrent spikes in flight.

        ``method``: ``"compiled"`` (the whole run in one C++/OpenMP call, event-driven:
        :mod:`neuromap.neurons.recurrent`; CPU), ``"csr"`` (sparse matmul per step, then the PyTorch
        step: the reference the others are tested against), ``"event"`` (accumulate the fan-out of the
        neurons that spiked; reads the spiking indices back each step; one-step delays and one current
        only), ``"fused"`` (one Triton kernel per step: CSR row gather over the last spikes + neuron
        update, :mod:`neuromap.neurons.sparse_recurrent`; one-step delays and one current only) or
        ``"auto"``: on the CPU the compiled loop (``kernels.use("torch")`` or an unbuildable extension:
        event for one sample, else csr); on CUDA the fused step when Triton runs (else csr, the reason
        logged once). Apart from ``"event"``, nothing inside a step loop waits for the device.

        ``raster=False``: no ``[T, B, N]`` raster; the output's ``events`` holds the spikes as sorted flat
        indices ``(t * B + b) * N + n`` (the compiled loop records only those). ``threads``: the compiled
        loop's threads (default ``torch.get_num_threads()``)."""
        if not isinstance(u, torch.Tensor) or u.dim() != 3 or u.shape[-1] != self.n_inputs:
            shape = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
            raise ValueError(f"Reservoir expects u of shape [T, B, {self.n_inputs}], got {shape}")
        if u.shape[0] == 0:
            raise ValueError("Reservoir got a zero-length input sequence (T = 0)")
        if method not in METHODS:
            raise ValueError(f"method={method!r} is not one of {list(METHODS)}")
        T, B = u.shape[0], u.shape[1]
        dtype = u.dtype if u.is_floating_point() else torch.float32
        dev = u.device
        if external is not None and tuple(external.shape) != (T, B, self.n):
            raise ValueError(f"external must have shape {(T, B, self.n)}, got {tuple(external.shape)}")
        if state is None:
            st = self.initial_state(B, dtype, dev)
        else:
            st = NeuronState(*(t.to(dev).clone(memory_format=torch.contiguous_format) if t is not None else None
                               for t in state))
        pois = recurrent.PoissonInput.coerce(poisson)
        drive = self._drive(u, external, dtype)
        mem = torch.empty(T, B, self.n, dtype=dtype, device=dev) if record_membrane else None
        if method in ("auto", "fused") and self._fused_wanted(dtype, dev, method == "fused"):
            full = drive if drive is not None else torch.zeros(T, B, self.n, dtype=dtype, device=dev)
            events = _PoissonEvents(pois, T, B, self.n, self.params.dt, seed, dev) if pois is not None else None
            spikes = self._run_fused(full, st, events, mem, method == "fused")
            if spikes is not None:
                return _output(spikes, mem, st, raster, dtype)
        if method in ("auto", "compiled"):
            out = self._run_compiled(T, drive, st, pois, seed, mem, raster, threads, method == "compiled")
            if out is not None:
                return out
            method = "event" if B == 1 and dev.type == "cpu" and self._single_step_synapses() is None else "csr"
        if method == "event" and self._single_step_synapses():
            raise ValueError(f"method='event' does not support {self._single_step_synapses()}; use 'compiled' or "
                             "'csr'")
        full = drive if drive is not None else torch.zeros(T, B, self.n, dtype=dtype, device=dev)
        events = _PoissonEvents(pois, T, B, self.n, self.params.dt, seed, dev) if pois is not None else None
        run = self._run_csr if method == "csr" else self._run_event
        return _output(run(full, st, events, mem), mem, st, raster, dtype)

    def _drive(self, u: torch.Tensor, external: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        """``W_in u + bias + external`` ``[T, B, N]``, or None when there is no input at all (no input
        synapse, bias or external current: the compiled loop then needs no ``[T, B, N]`` buffer)."""
        if not self._has_input and not self.bias and external is None:
            return None
        dev = u.device
        w_in = self.w_in if self.w_in.device == dev and self.w_in.dtype == dtype else self._on_device("w_in", dtype, dev)
        drive = synapses.linear(u.to(dtype), w_in)  # event-driven for sparse input spikes
        if self.bias:
            drive = drive + self.bias
        if external is not None:
            drive = drive + external.to(dev, dtype)
        return drive

    def _single_step_synapses(self) -> str | None:
        """Why the per-step fused / event methods cannot run this reservoir (delays, two currents), or None."""
        if self.connectivity.delays is not None:
            return "synaptic delays other than one step"
        if isinstance(self.params, CubaEIParams):
            return "a second (inhibitory) synaptic current (CubaEIParams)"
        return None

    def _fused_wanted(self, dtype: torch.dtype, device: torch.device, forced: bool) -> bool:
        """Whether the fused Triton step is asked for (forced, CUDA, or the interpreter under ``auto``)."""
        if forced:
            return True
        impl = kernels.current_impl()
        probe = torch.empty(0, dtype=dtype, device=device)
        return impl not in ("torch", "cpp") and triton_kernels.wants_triton(probe, impl)

    def _run_compiled(self, T: int, drive, st: NeuronState, pois, seed: int, mem, raster: bool, threads,
                      forced: bool) -> ReservoirOutput | None:
        """The whole run in one call of the compiled loop; None when it does not run here (``auto``)."""
        impl = kernels.current_impl()
        v = st.v
        reason = "kernels.use('torch')" if impl == "torch" else (
            f"kernels.use({impl!r})" if impl.startswith("triton") else recurrent.unsupported(self.params, v.dtype,
                                                                                              v.device))
        if reason:
            if forced or impl == "cpp":
                raise ValueError(f"the compiled reservoir loop cannot run here: {reason}")
            return None
        out = recurrent.run(self.fanout(), self.params, st, T, drive, pois, seed, mem is not None, raster,
                            not raster, threads)
        if mem is not None:
            mem.copy_(out.membrane)
        spikes = out.raster.view(torch.bool).to(v.dtype) if raster else None
        return ReservoirOutput(spikes, mem, st, out.events)

    def _on_device(self, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """``w_rec`` (sparse CSR) or ``w_in`` in ``dtype`` on ``device``, copied once per (dtype, device)
        and kept (plain attributes: ``.to()`` does not move them; a copy per call would be a
        host-to-device transfer each run, which a CUDA graph cannot capture)."""
        key = (name, dtype, str(device))
        if key not in self._device_copies:
            if name == "w_rec":
                W = self._w_rec64 if dtype == torch.float64 else self.w_rec.to(dtype)
            else:
                W = self._w_in64.to(dtype) if dtype == torch.float64 else self.w_in.to(dtype)
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                self._device_copies[key] = W.to(device)
        return self._device_copies[key]

    def _rec_weights(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        return self._on_device("w_rec", dtype, device)

    def _rec_parts(self, dtype: torch.dtype, device: torch.device) -> list[tuple[int, torch.Tensor, bool]]:
        """``(delay, W_part [N, N] sparse CSR, feeds the inhibitory current)`` parts of ``w_rec``: one part
        without delays and a second current; else one per (delay, current), longest delay first (the
        order the spikes were emitted in)."""
        if self._single_step_synapses() is None:
            return [(1, self._rec_weights(dtype, device), False)]
        key = ("parts", dtype, str(device))
        if key not in self._device_copies:
            con = self.connectivity
            W = (con.weights * self.rec_scale).tocsr()
            W.sort_indices()
            delays = con.delays if con.delays is not None else np.ones(W.nnz, dtype=np.int32)
            inh_pre = con.inhibitory[W.indices] if isinstance(self.params, CubaEIParams) else np.zeros(W.nnz, bool)
            parts = []
            for d in sorted(set(delays.tolist()), reverse=True):
                for second in (False, True):
                    keep = (delays == d) & (inh_pre == second)
                    if keep.any():
                        part = sp.csr_matrix((W.data * keep, W.indices.copy(), W.indptr.copy()), shape=W.shape)
                        part.eliminate_zeros()  # in place: hence the copies of W's index arrays
                        parts.append((d, _csr_pair(part)[0].to(dtype).to(device), second))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self._device_copies[key] = parts
        return self._device_copies[key]

    @torch.compiler.disable  # a Python loop of kernel launches: torch.compile runs it eagerly
    def _run_fused(self, drive, st: NeuronState, events, mem, forced: bool) -> torch.Tensor | None:
        """The step loop through the fused Triton step; None when it does not run here (``auto``: the
        reason logged once; a kernel failure switches it off and the state is left as it was)."""
        impl = kernels.current_impl()
        if forced:  # method="fused": the compiled kernel on CUDA, the interpreter on the CPU, or an error
            if impl in ("torch", "cpp"):
                raise ValueError(f"method='fused' needs the Triton CSR step; kernels.use({impl!r}) excludes it")
            if impl == "auto":
                impl = "triton" if drive.device.type == "cuda" else "triton_interpret"
        unsupported = self._single_step_synapses()
        if unsupported:
            if forced:
                raise ValueError(f"method='fused' does not support {unsupported}; use 'compiled' or 'csr'")
            return None
        with kernels.use(impl):
            backend = sparse_recurrent.select(drive)
        if backend is None:
            return None
        T, B, N = drive.shape
        try:
            degrees = np.diff(self.connectivity.weights.indptr)  # on the host: no read-back from the device
            step = sparse_recurrent.CSRStep(self._rec_weights(drive.dtype, drive.device), self.params, drive.dtype,
                                            backend == "interpret", int(degrees.max()) if degrees.size else 0)
            s_buf = torch.zeros(T + 1, B, N, dtype=torch.uint8, device=drive.device)  # row 0: no spikes before t = 0
            saved = NeuronState(*(t.clone() if t is not None else None for t in st))
            for t in range(T):
                x = drive[t]
                if events is not None:
                    tgt, w_ev = events.step(t, drive.dtype)
                    x = x.clone()
                    x.view(-1).index_add_(0, tgt, w_ev)
                step(x.contiguous(), s_buf[t], st, s_buf[t + 1], None if mem is None else mem[t])
        except Exception as exc:  # a kernel that does not compile here
            if impl != "auto":
                raise
            sparse_recurrent.disable(f"{type(exc).__name__}: {exc}")
            for a, b in zip(st, saved):
                if a is not None:
                    a.copy_(b)
            if events is not None:
                events.rewind()
            return None
        return s_buf[1:].view(torch.bool)

    def _run_csr(self, drive, st: NeuronState, events, mem) -> torch.Tensor:
        """The reference step loop: a sparse matmul per (delay, current) part, then the PyTorch step (no
        host read-back per step)."""
        T, B, N = drive.shape
        dtype, dev = drive.dtype, drive.device
        parts = self._rec_parts(dtype, dev)
        spikes = torch.zeros(T, B, N, dtype=torch.bool, device=dev)
        for t in range(T):
            x, x_inh = drive[t], None
            for d, W, second in parts:  # the recurrent input of step t comes from the spikes of step t - d
                if t >= d:
                    r = torch.sparse.mm(W, spikes[t - d].to(dtype).t()).t()
                    if second:
                        x_inh = r if x_inh is None else x_inh + r
                    else:
                        x = x + r
            x = x.clone()
            if events is not None:
                tgt, w_ev = events.step(t, dtype)
                x.view(-1).index_add_(0, tgt, w_ev)
            s, st = self._step_fn(x, st, x_inh)
            spikes[t] = s
            if mem is not None:
                mem[t] = st.v
        return spikes

    def _run_event(self, drive, st: NeuronState, events, mem) -> torch.Tensor:
        """The step loop accumulating the fan-out of the neurons that spiked (reads their indices
        back every step: the CPU's method)."""
        T, B, N = drive.shape
        dtype, dev = drive.dtype, drive.device
        post, w = (t.to(dev) for t in self.fanout_table(dtype))
        buf = torch.zeros(B, N + 1, dtype=dtype, device=dev)
        spikes = torch.zeros(T, B, N, dtype=torch.bool, device=dev)
        idx = None
        for t in range(T):
            buf[:, :N] = drive[t]
            if idx is not None and idx.numel():
                b_idx, n_idx = idx[:, 0], idx[:, 1]
                tgt = (post[n_idx] + (b_idx * (N + 1))[:, None]).reshape(-1)
                buf.view(-1).index_add_(0, tgt, w[n_idx].reshape(-1))
            if events is not None:
                tgt_ev, w_ev = events.step(t, dtype)
                buf.view(-1).index_add_(0, tgt_ev + tgt_ev // N, w_ev)  # skip the padding column
            s, st = self._step_fn(buf[:, :N].clone(), st)
            spikes[t] = s
            if mem is not None:
                mem[t] = st.v
            idx = s.nonzero()
        return spikes

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Spikes ``[T, B, N]`` (float 0/1) for input ``u [T, B, n_inputs]``."""
        return self.simulate(u).spikes


@register_handler(Reservoir)
def trace_reservoir(tr, m: Reservoir, name: str, args: tuple, out: torch.Tensor) -> None:
    """Tracer handler: ``Linear(w_in)`` -> LIF with a ``neuromap.SparseLinear`` (CSR) self-loop."""
    src = single_input(tr, name, args)
    if m.bias:
        raise GraphError(f"trace: reservoir {name!r}: a constant bias is not traced (its einsum + bias rounding); "
                         f"use bias=0")
    problem = m._single_step_synapses()
    if problem:
        raise GraphError(f"trace: reservoir {name!r}: {problem} has no graph form (a NIR CubaLIF has one synaptic "
                         "current, a self-loop edge one delay); simulate it with Reservoir.simulate")
    w = m.w_rec
    csr = extension_nodes.SparseLinear(indptr=to_numpy(w.crow_indices()), indices=to_numpy(w.col_indices()),
                                 data=to_numpy(w.values()), shape=np.asarray(w.shape))
    inp = tr.add_node(f"{name}.w_in", nir.Linear(weight=to_numpy(m.w_in)), src)
    lif = tr.add_node(f"{name}.lif", spec_to_nir(LIFSpec((m.n,), m.params)), [inp])
    rec = tr.add_node(f"{name}.w_rec", csr, [lif])
    tr.edges.append((rec, lif))
    if tr.dt is None:
        tr.dt = m.params.dt
    tr.bind(out, [lif])


# --- readout ------------------------------------------------------------------------------------

def time_binned_counts(spikes: torch.Tensor, bins: int) -> torch.Tensor:
    """Spike counts of ``spikes [T, B, N]`` in ``bins`` equal time bins -> features ``[B, bins * N]``."""
    if spikes.dim() != 3:
        raise ValueError(f"spikes must be [T, B, N], got {tuple(spikes.shape)}")
    T = spikes.shape[0]
    if not isinstance(bins, int) or not (1 <= bins <= T):
        raise ValueError(f"bins must be an integer in [1, T={T}], got {bins!r}")
    edges = np.linspace(0, T, bins + 1).round().astype(int)
    counts = [spikes[a:b].sum(0) for a, b in zip(edges[:-1], edges[1:])]
    return torch.stack(counts, 1).reshape(spikes.shape[1], -1)


class Readout:
    """Trainable readout on reservoir features: ``"logistic"`` (multinomial logistic regression)
    or ``"linear"`` (ridge regression on one-hot targets). Features are standardised."""

    KINDS = ("logistic", "linear")

    def __init__(self, kind: str = "logistic", C: float = 1.0, alpha: float = 1.0, max_iter: int = 2000) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"kind={kind!r} is not one of {list(self.KINDS)}")
        self.kind, self.C, self.alpha, self.max_iter = kind, C, alpha, max_iter
        self.model = None

    def _pipeline(self):
        from sklearn.linear_model import LogisticRegression, RidgeClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        clf = (
            LogisticRegression(C=self.C, max_iter=self.max_iter)
            if self.kind == "logistic"
            else RidgeClassifier(alpha=self.alpha)
        )
        return make_pipeline(StandardScaler(), clf)

    def fit(self, features, labels) -> Readout:
        X, y = _np(features), _np(labels)
        self.model = self._pipeline().fit(X, y)
        return self

    def predict(self, features) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("Readout.fit must be called before predict")
        return self.model.predict(_np(features))

    def score(self, features, labels) -> float:
        return float((self.predict(features) == _np(labels)).mean())


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


class LiquidStateMachine(nn.Module):
    """Reservoir + time-binned spike counts (+ a :class:`Readout` fitted outside autograd).

    ``forward(u)`` returns the readout features ``[B, bins * N]``; :meth:`fit` / :meth:`score`
    train and evaluate the readout on input sequences.
    """

    def __init__(self, reservoir: Reservoir, bins: int = 8, readout: str = "logistic", **readout_kwargs) -> None:
        super().__init__()
        self.reservoir = reservoir
        self.bins = bins
        self.readout = Readout(readout, **readout_kwargs)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return time_binned_counts(self.reservoir(u), self.bins)

    def features(self, u: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        return torch.cat([self(u[:, k : k + batch_size]) for k in range(0, u.shape[1], batch_size)])

    def fit(self, u: torch.Tensor, labels) -> LiquidStateMachine:
        self.readout.fit(self.features(u), labels)
        return self

    def score(self, u: torch.Tensor, labels) -> float:
        return self.readout.score(self.features(u), labels)


# --- input encodings ----------------------------------------------------------------------------

def column_scan_encode(
    images: torch.Tensor, steps_per_column: int = 5, p_max: float = 0.8, seed: int = 0
) -> torch.Tensor:
    """Scan images ``[B, H, W]`` (values in [0, 1]) column by column: for ``steps_per_column`` steps
    per column, input channel ``r`` (row ``r``) spikes with probability ``p_max * image[r, col]``.
    Returns time-major Bernoulli spikes ``[W * steps_per_column, B, H]``."""
    if images.dim() != 3:
        raise ValueError(f"images must be [B, H, W], got {tuple(images.shape)}")
    if not isinstance(steps_per_column, int) or steps_per_column < 1:
        raise ValueError(f"steps_per_column must be a positive integer, got {steps_per_column!r}")
    _check_prob("p_max", p_max)
    if float(images.min()) < 0 or float(images.max()) > 1:
        raise ValueError("images must take values in [0, 1]")
    g = torch.Generator().manual_seed(seed)
    p = (p_max * images).permute(2, 0, 1).repeat_interleave(steps_per_column, 0)  # [W*s, B, H]
    return (torch.rand(p.shape, generator=g) < p).float()
