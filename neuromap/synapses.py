"""Event-driven synapses on the CPU: ``Linear`` and ``Conv2d`` that exploit sparse (spike) inputs.

A spiking layer's input is binary and mostly zero, so ``y = x W^T + b`` is the sum of the weight rows
of the active inputs, and the weight gradient ``dW = dY^T x`` touches only the columns of active
inputs. :class:`Linear` and :class:`Conv2d` are drop-in subclasses of ``nn.Linear`` / ``nn.Conv2d``
(same parameters, same ``state_dict`` keys, so tracing, NIR export and checkpoints are unchanged)
whose forward measures the input density and, below the measured crossover, runs the compiled
event-driven kernels (``_synapse_kernels.cpp``, built with the neuron kernels by
:mod:`neuromap.neurons.kernels`):

* forward: a CSR of the non-zero inputs per row (one scan), then per row the weighted sum of the
  active weight rows (AVX-512/AVX2, OpenMP over rows, output tiled so the weight tile stays in L2);
* weight gradient: accumulated only over the active (row, input) pairs, parallel over output tiles;
* input gradient (only when the input requires grad, e.g. hidden spikes): ``dX = dY W``, dense;
* bias gradient: ``dY.sum(0)``, dense.

Numerics: the sums run in a different order from a BLAS GEMM, so outputs and gradients equal the
dense path **to rounding** (float32: ~1e-6 relative; float64: ~1e-15). Spikes thresholded from them
are identical unless a membrane lands within that rounding of the threshold, which in float64 does
not happen in practice (the tests pin float64 spikes as identical and float32 values as close).
Inputs are treated as general sparse values (not only 0/1): a non-zero value scales its row.

Choosing the path (per call): ``"dense"`` if the global mode (:func:`use` / :func:`set_mode` /
``NEUROMAP_DENSE_SYNAPSES=1``) or the layer's ``mode`` says so, or the input is not a float32/float64
CPU tensor, or the compiled kernels are unavailable; ``"sparse"`` if either mode forces it; otherwise
(``"auto"``) sparse when the input density is below the layer's crossover.

Crossovers (density above which the dense product stays faster), measured on the benchmark machine
(AMD EPYC with AVX-512, 2 threads, torch 2.13 CPU wheel, float32; the machine was shared, load
average ~8 on 2 cores, which slows both paths) by ``python -m benchmarks.synapse_crossover``
(``benchmarks/results/synapse-crossover-2026-12-01.json``; Linear 3200 x 700 -> 1024 as in the
benchmark's W1 layer 1, Conv2d 3x3 32 -> 64 on 64 x 16 x 16):

    Linear   forward only 0.40, forward + weight gradient 0.29
    Conv2d   forward only 0.48, forward + weight gradient 0.11

SDSA-3's attention product ``Q (K^T V)`` on binary Q, K, V (:func:`attention_path`, used by
``networks.metaspikformer.SDSA3``) is event-driven too: bit masks, popcounts and row sums; its values
are identical to the dense product bit for bit (integer sums), its crossover is
:data:`ATTENTION_CROSSOVER`.

Every call uses the "forward + weight gradient" value, with or without autograd: the path (and so
the summation order) must not depend on whether a gradient is recorded, or a traced graph run
without gradients (``backends.torch``, the SpiNNaker2 fp32 model) would differ in the last bits
from the module it came from, which must reproduce it exactly. The forward-only figure is kept
for reference: inference between the two densities runs dense where sparse would be a little faster.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from neuromap.neurons import kernels

MODES = ("auto", "dense", "sparse")

# Measured by ``python -m benchmarks.synapse_crossover`` (see the module docstring); a layer may
# override them with one number (its ``crossover`` argument).
LINEAR_CROSSOVER = {"forward": 0.40, "train": 0.29}
CONV2D_CROSSOVER = {"forward": 0.48, "train": 0.11}
_USED = "train"  # the figure every call uses (see the module docstring)

Crossover = float | dict  # one density, or {"forward": density, "train": density}

_local = threading.local()
_process_mode = {"value": "auto"}


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`, else ValueError."""
    if mode not in MODES:
        raise ValueError(f"synapse mode {mode!r} is not one of {list(MODES)}")
    return mode


def set_mode(mode: str) -> None:
    """Process-wide default synapse mode (``"auto"``, ``"dense"`` or ``"sparse"``)."""
    _process_mode["value"] = check_mode(mode)


def current_mode() -> str:
    """The global mode in this thread: a :func:`use` block, else :func:`set_mode`, else ``"dense"``
    when ``NEUROMAP_DENSE_SYNAPSES`` is set (not ``""``/``0``), else ``"auto"``."""
    mode = getattr(_local, "mode", None)
    if mode is not None:
        return mode
    if _process_mode["value"] != "auto":
        return _process_mode["value"]
    return "dense" if os.environ.get("NEUROMAP_DENSE_SYNAPSES", "").strip() not in ("", "0") else "auto"


@contextlib.contextmanager
def use(mode: str) -> Iterator[None]:
    """Select the synapse mode for a block of code in this thread (``"dense"`` forces every
    :class:`Linear` / :class:`Conv2d` onto the dense product)."""
    previous = getattr(_local, "mode", None)
    _local.mode = check_mode(mode)
    try:
        yield
    finally:
        _local.mode = previous


def density(x: torch.Tensor) -> float:
    """Fraction of non-zero entries of ``x`` (0 for an empty tensor)."""
    return float(torch.count_nonzero(x)) / x.numel() if x.numel() else 0.0


def _unavailable() -> str:
    """Why the compiled kernels are unavailable."""
    return "NEUROMAP_NO_CPP is set" if kernels.disabled() else str(kernels.status()["error"])


def _sparse_allowed(x: torch.Tensor, layer_mode: str) -> bool:
    """False when the dense path is forced or the only option; raises if sparse is forced but the
    kernels are unavailable."""
    modes = (current_mode(), layer_mode)
    if "dense" in modes or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    if kernels.load() is None:
        if "sparse" in modes:
            raise RuntimeError(f"synapse mode 'sparse' needs the compiled kernels: {_unavailable()}")
        return False
    return True


def crossover_for(crossover: Crossover) -> float:
    """The density threshold of every call: ``crossover["train"]`` (a number is used as is), whether or
    not autograd records the call, so a module and its traced graph take the same path."""
    return float(crossover[_USED]) if isinstance(crossover, dict) else float(crossover)


def choose_sparse(x: torch.Tensor, layer_mode: str, crossover: float) -> bool:
    """Whether a call on input ``x`` takes the event-driven path (see the module docstring)."""
    if not _sparse_allowed(x, layer_mode):
        return False
    return "sparse" in (current_mode(), layer_mode) or density(x) < crossover


def _rows_plan(x2d: torch.Tensor, layer_mode: str, crossover: float) -> torch.Tensor | None:
    """The CSR row pointer of ``x2d [M, K]`` when the sparse path is taken, else None. The count
    that builds the row pointer is also the density measurement, so "auto" costs no extra pass."""
    if not _sparse_allowed(x2d, layer_mode):
        return None
    rowptr = kernels.load().csr_rowptr(x2d)
    forced = "sparse" in (current_mode(), layer_mode)
    if not forced and (x2d.numel() == 0 or int(rowptr[-1]) >= crossover * x2d.numel()):
        return None
    return rowptr


class _SparseLinearFn(torch.autograd.Function):
    """``y = x W^T + b`` for ``x [M, K]`` from the CSR of ``x``; see the module docstring."""

    @staticmethod
    def forward(ctx, x, rowptr, weight, bias):
        ops = kernels.load()
        b = bias.contiguous() if bias is not None else weight.new_empty(0)
        y, idx, val = ops.sparse_linear_forward(x, rowptr, weight.t().contiguous(), b)
        ctx.save_for_backward(rowptr, idx, val, weight)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy: torch.Tensor):
        rowptr, idx, val, weight = ctx.saved_tensors
        gy = gy.contiguous()
        gx = gy @ weight if ctx.needs_input_grad[0] else None
        gw = kernels.load().sparse_linear_wgrad(rowptr, idx, val, gy, weight.shape[1]) if ctx.needs_input_grad[2] else None
        gb = gy.sum(0) if ctx.has_bias and ctx.needs_input_grad[3] else None
        return gx, None, gw, gb


def _flat(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if x.dtype != weight.dtype:
        raise TypeError(f"Linear: input dtype {x.dtype} differs from weight dtype {weight.dtype}")
    return x.reshape(-1, x.shape[-1]).contiguous()


def _apply(x2d: torch.Tensor, rowptr: torch.Tensor, lead: torch.Size, weight, bias) -> torch.Tensor:
    return _SparseLinearFn.apply(x2d, rowptr, weight, bias).reshape(*lead, weight.shape[0])


def sparse_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` through the event-driven kernels, for ``x [..., K]`` (any leading axes, e.g.
    time-major ``[T, B, K]``, are flattened into rows)."""
    if kernels.load() is None:
        raise RuntimeError(f"sparse_linear needs the compiled kernels: {_unavailable()}")
    x2d = _flat(x, weight)
    return _apply(x2d, kernels.load().csr_rowptr(x2d), x.shape[:-1], weight, bias)


def linear_path(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, mode: str = "auto",
                crossover: Crossover = LINEAR_CROSSOVER) -> tuple[torch.Tensor, str]:
    """``F.linear(x, weight, bias)`` on the path the modes and the measured density choose; returns
    ``(y, "sparse" | "dense")``. ``x [..., K]``: leading axes (e.g. time-major ``[T, B]``) become rows."""
    if x.dim() >= 1 and x.shape[-1] == weight.shape[1] and x.dtype == weight.dtype:
        x2d = x.reshape(-1, x.shape[-1]).contiguous()
        rowptr = _rows_plan(x2d, check_mode(mode), crossover_for(crossover))
        if rowptr is not None:
            return _apply(x2d, rowptr, x.shape[:-1], weight, bias), "sparse"
    return F.linear(x, weight, bias), "dense"


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, mode: str = "auto",
           crossover: Crossover = LINEAR_CROSSOVER) -> torch.Tensor:
    """``F.linear`` that is event-driven for sparse ``x`` (see :func:`linear_path`)."""
    return linear_path(x, weight, bias, mode, crossover)[0]


class Linear(nn.Linear):
    """``nn.Linear`` whose forward is event-driven for sparse inputs (same parameters and state_dict).

    Args (beyond ``nn.Linear``'s):
        mode: ``"auto"`` (measured density vs ``crossover``), ``"dense"`` (always ``F.linear``) or
            ``"sparse"`` (always the event-driven kernels).
        crossover: input density below which ``"auto"`` takes the sparse path: one number, or
            ``{"forward": d, "train": d}`` (default :data:`LINEAR_CROSSOVER`, measured).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None,
                 mode: str = "auto", crossover: Crossover | None = None) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.mode = check_mode(mode)
        self.crossover = LINEAR_CROSSOVER if crossover is None else crossover
        self.last_path = None  # "sparse" | "dense": what the last forward ran (for tests and profiling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, self.last_path = linear_path(x, self.weight, self.bias, self.mode, self.crossover)
        return y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode}"


class _SparseConv2dFn(torch.autograd.Function):
    """``conv2d(x, W, b)`` (groups 1, dilation 1) driven by the non-zero input pixels."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ops = kernels.load()
        x = x.contiguous()
        if x.dtype != weight.dtype:
            raise TypeError(f"Conv2d: input dtype {x.dtype} differs from weight dtype {weight.dtype}")
        wt = weight.permute(1, 2, 3, 0).contiguous()  # [C, kh, kw, O]: one output-channel row per tap
        y = ops.sparse_conv2d_forward(x, wt, stride[0], stride[1], padding[0], padding[1])  # [B, Ho, Wo, O]
        if bias is not None:
            y += bias
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, bias is not None)
        return y.permute(0, 3, 1, 2)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        stride, padding, has_bias = ctx.conf
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = torch.nn.grad.conv2d_input(x.shape, weight, gy, stride=stride, padding=padding)
        if ctx.needs_input_grad[1]:
            g_last = gy.permute(0, 2, 3, 1).contiguous()  # [B, Ho, Wo, O]
            kh, kw = weight.shape[2:]
            gwt = kernels.load().sparse_conv2d_wgrad(x, g_last, kh, kw, stride[0], stride[1], padding[0], padding[1])
            gw = gwt.permute(3, 0, 1, 2).contiguous()
        if has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum((0, 2, 3))
        return gx, gw, gb, None, None


def conv2d_path(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1, padding=0,
                dilation=1, groups: int = 1, mode: str = "auto",
                crossover: Crossover = CONV2D_CROSSOVER) -> tuple[torch.Tensor, str]:
    """``F.conv2d`` (zero padding given as numbers) on the path the modes and the measured density
    choose; returns ``(y, "sparse" | "dense")``. Groups or dilation other than 1 always run dense."""
    pair = lambda v: (int(v), int(v)) if isinstance(v, (int, float)) else tuple(int(a) for a in v)  # noqa: E731
    stride, dilation = pair(stride), pair(dilation)
    if isinstance(padding, str):
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups), "dense"
    padding = pair(padding)
    if groups == 1 and dilation == (1, 1) and x.dim() == 4 and x.dtype == weight.dtype and choose_sparse(
            x, check_mode(mode), crossover_for(crossover)):
        return _SparseConv2dFn.apply(x, weight, bias, stride, padding), "sparse"
    return F.conv2d(x, weight, bias, stride, padding, dilation, groups), "dense"


def conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1, mode: str = "auto", crossover: Crossover = CONV2D_CROSSOVER) -> torch.Tensor:
    """``F.conv2d`` that is event-driven for sparse ``x`` (see :func:`conv2d_path`)."""
    return conv2d_path(x, weight, bias, stride, padding, dilation, groups, mode, crossover)[0]


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` whose forward is event-driven for sparse ``[N, C, H, W]`` inputs (same parameters
    and state_dict). Groups, dilation and non-zero padding modes other than ``"zeros"`` always run
    the dense ``F.conv2d``. ``mode`` / ``crossover`` as in :class:`Linear`."""

    def __init__(self, *args, mode: str = "auto", crossover: Crossover | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mode = check_mode(mode)
        self.crossover = CONV2D_CROSSOVER if crossover is None else crossover
        self.last_path = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding_mode != "zeros":
            self.last_path = "dense"
            return super().forward(x)
        y, self.last_path = conv2d_path(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                        self.groups, self.mode, self.crossover)
        return y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mode={self.mode}"


# --- Spike-driven linear attention (SDSA-3): Q (K^T V) per head on binary Q, K, V ---------------------

#: Mean density of Q, K and V above which the dense batched product stays faster, measured by
#: ``python -m benchmarks.synapse_crossover --only attention --reps 30 --stat min``
#: (``benchmarks/results/synapse-crossover-attention-2026-12-01.json``) on the digits configuration of
#: ``MetaSpikeFormer.tiny`` (T 4, batch 64, 16 tokens, 64 channels, 4 heads), 2 threads, float32, the
#: fastest of 30 alternating calls on a machine shared with other jobs (load average 2.6-3.8 on 2
#: cores; some rows of the forward sweep at densities <= 0.2 were still hit, and a run at load ~11
#: had the forward alone slower at every density: 0.29 vs 0.23 ms at 0.2, packing costs what MKL's
#: 16 x 16 products cost). Forward + backward: 0.70 vs 0.98 ms at density 0, 0.90 vs 0.92 at 0.05,
#: 0.93 vs 0.95 at 0.2, crossing at 0.30 (0.27 and 0.41 in two runs at load ~11). The reference's last
#: ImageNet stage (196 tokens, 48 channels a head) in the same run: forward 0.42 (0.38 vs 0.78 ms at
#: 0.05), forward + backward 0.50. Every call uses "train" (see the module docstring).
ATTENTION_CROSSOVER = {"forward": 0.17, "train": 0.30}
_EXACT_COUNTS = 2 ** 24  # float32 holds every integer below this: both paths' sums are then exact


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> None:
    if not (q.shape == k.shape == v.shape) or q.dim() < 2:
        raise ValueError(f"attention: q, k, v must share one shape [..., N, C], got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"attention: q, k, v dtypes differ ({q.dtype}, {k.dtype}, {v.dtype})")
    if not isinstance(heads, int) or heads < 1 or q.shape[-1] % heads:
        raise ValueError(f"attention: heads={heads!r} must be a positive integer dividing C={q.shape[-1]}")


def dense_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """``Q[h] (K[h]^T V[h])`` per head for ``q, k, v [..., N, C]`` (heads split the channels), as
    ``[..., N, C]``, with torch's batched matrix products; ``K^T V`` first, never the ``N x N`` matrix."""
    *lead, N, C = q.shape

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(*lead, N, heads, C // heads).transpose(-3, -2)  # [..., h, N, C/h]

    y = split(q) @ (split(k).transpose(-2, -1) @ split(v))
    return y.transpose(-3, -2).reshape(*lead, N, C)


class _SpikeAttentionFn(torch.autograd.Function):
    """``Q (K^T V)`` per head from the token masks of binary ``q, k, v [..., N, C]``; see :func:`attention_path`."""

    @staticmethod
    def forward(ctx, q, k, v, qb, kb, vb, heads):
        y, kvt = kernels.load().spike_attention_forward(qb, kb, vb, heads, q.shape[-2], q.dtype)
        ctx.save_for_backward(kvt, qb, kb, vb)
        ctx.heads = heads
        return y.reshape(q.shape)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy: torch.Tensor):
        kvt, qb, kb, vb = ctx.saved_tensors
        need = ctx.needs_input_grad[:3]
        N, C = gy.shape[-2:]
        grads = kernels.load().spike_attention_backward(gy.reshape(-1, N, C).contiguous(), kvt, qb, kb, vb,
                                                        ctx.heads, *need)
        return (*(g.reshape(gy.shape) if n else None for g, n in zip(grads, need)), None, None, None, None)


def _token_masks(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Token bit masks ``[M, C, words(N)]`` of ``t [..., N, C]`` and its non-zero count (-1: not binary). The
    channel-major copy is free for the token views ``x.flatten(3).transpose(2, 3)`` of a ``[T, B, C, H, W]``
    tensor, which the transformers pass."""
    N, C = t.shape[-2:]
    rows = t.transpose(-2, -1).contiguous().reshape(-1, N)
    masks, count = kernels.load().spike_masks(rows)
    return masks.reshape(-1, C, masks.shape[-1]), count


def attention_path(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mode: str = "auto",
                   crossover: Crossover = ATTENTION_CROSSOVER) -> tuple[torch.Tensor, str]:
    """SDSA-3's product ``Q[h] (K[h]^T V[h])`` per head (no scale) for ``q, k, v [..., N, C]``, on the path the
    modes and the measured density choose; returns ``([..., N, C], "sparse" | "dense")``.

    The event-driven path (binary operands only) packs Q, K and V into token bit masks per channel, so
    ``K^T V`` is a popcount of ``K_i AND V_j`` per channel pair, and ``Q (K^T V)`` adds the row ``i`` of
    ``K^T V`` to every token where ``Q_i`` fires; the backward sums rows of the output gradient over the
    active (token, channel) pairs likewise (only ``dQ = dY (K^T V)^T`` is dense: ``K^T V`` holds counts).

    Numerics: both paths sum integers (0/1 products, counts below 2^24), so the values are identical
    bit for bit in float32 and float64; the gradients are real sums in another order: equal to
    rounding (float32 ~1e-6 relative, float64 ~1e-15).

    Choice: ``"dense"`` as for :func:`linear_path` (modes, non-CPU or non-float input, no kernels), or
    when an operand is not binary (a forced ``"sparse"`` then raises), or ``N * C/h >= 2^24``;
    ``"sparse"`` when forced; otherwise sparse when the mean density of Q, K, V is below ``crossover``
    (its "train" figure with or without autograd, as for the other layers). The packing pass is the
    density measurement.
    """
    _check_qkv(q, k, v, heads)
    mode = check_mode(mode)
    if _sparse_allowed(q, mode) and q.numel() and q.shape[-2] * (q.shape[-1] // heads) < _EXACT_COUNTS:
        (qb, nq), (kb, nk), (vb, nv) = (_token_masks(t) for t in (q, k, v))
        forced = "sparse" in (current_mode(), mode)
        if min(nq, nk, nv) < 0:
            if forced:
                raise ValueError("attention: the event-driven path (mode 'sparse') needs binary q, k, v (0 or 1)")
        elif forced or nq + nk + nv < crossover_for(crossover) * 3 * q.numel():
            return _SpikeAttentionFn.apply(q, k, v, qb, kb, vb, heads), "sparse"
    return dense_attention(q, k, v, heads), "dense"


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, mode: str = "auto",
              crossover: Crossover = ATTENTION_CROSSOVER) -> torch.Tensor:
    """``Q[h] (K[h]^T V[h])`` per head, event-driven for binary sparse operands (see :func:`attention_path`)."""
    return attention_path(q, k, v, heads, mode, crossover)[0]
