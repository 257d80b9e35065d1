"""Functional core of the LIF / CuBa-LIF neurons: pure functions of (input, state, parameters).

Two implementations of the same recurrence (the equations are in :mod:`neuromap.neurons.params`):

* :func:`neuron_step` / :func:`neuron_sequence_reference` — one step at a time with ordinary
  autograd: the readable reference the tests compare against.
* :func:`neuron_sequence` — the fused multi-step form used for training: one
  ``torch.autograd.Function`` runs the whole recurrence without building an autograd graph per
  step, keeps only the pre-reset membrane ``h`` for the backward pass (spikes are recomputed from
  it, so they cost no memory; nothing is kept when no gradient is needed), and backpropagates
  through time with a hand-written backward (BPTT through the membrane with the surrogate
  derivative). On the CPU the recurrence runs in the compiled C++/OpenMP kernel of
  :mod:`neuromap.neurons.kernels`, on CUDA in the Triton kernels of
  :mod:`neuromap.neurons.triton_kernels`, when available and supporting the case, else in the
  pure-PyTorch loop below; all give bit-identical float32 forward results (``kernels.use``
  selects one; a Triton fallback is logged).

Tensors are time-major: input ``x`` is ``[T, B, *neuron_shape]``. ``beta``, ``alpha`` and ``v_th``
are Python floats or tensors broadcastable to ``neuron_shape`` (learnable per-neuron values).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import NamedTuple

import torch

from . import kernels, triton_kernels
from .params import CubaEIParams, CubaLIFParams, LIFParams, require_one_current
from .surrogate import SURROGATES, Surrogate, spike

Scalar = float | torch.Tensor


class NeuronState(NamedTuple):
    """State of a population: membrane ``v``, synaptic current ``i`` (CuBa only; ``[2, ...]``, the
    excitatory and the inhibitory current, for :class:`~neuromap.neurons.params.CubaEIParams`), refractory
    counter ``refrac`` (steps left) and last spikes ``s`` (for snnTorch's delayed reset)."""

    v: torch.Tensor
    i: torch.Tensor | None = None
    refrac: torch.Tensor | None = None
    s: torch.Tensor | None = None


def initial_state(
    params: LIFParams, shape: tuple[int, ...], dtype: torch.dtype = torch.float32, device=None
) -> NeuronState:
    """Resting state: ``v = v_leak``, no current, not refractory, no previous spike."""
    v = torch.full(shape, float(params.v_leak), dtype=dtype, device=device)
    i_shape = (2, *shape) if isinstance(params, CubaEIParams) else shape
    i = torch.zeros(i_shape, dtype=dtype, device=device) if isinstance(params, CubaLIFParams) else None
    r = torch.zeros(shape, dtype=torch.int32, device=device) if params.refractory_steps else None
    s = torch.zeros(shape, dtype=dtype, device=device) if params.reset_delay else None
    return NeuronState(v, i, r, s)


_checked = threading.local()


@contextlib.contextmanager
def inputs_checked() -> Iterator[None]:
    """Inside a model's own loop over time steps whose input was checked once on entry (with
    :func:`check_sequence`): the neuron calls of each step skip the finiteness scan, which on an
    accelerator would read a flag back from the device every step."""
    previous = getattr(_checked, "value", False)
    _checked.value = True
    try:
        yield
    finally:
        _checked.value = previous


def check_sequence(x: torch.Tensor, name: str = "x", min_dim: int = 2) -> None:
    """Validate a time-major input: a floating tensor of rank >= ``min_dim``, finite. On an
    accelerator the finiteness check reads one flag back (a wait for the device); it is skipped
    while a CUDA graph is captured, under ``torch.compile``, with ``NEUROMAP_CHECK_FINITE=0`` and
    (on every device) inside :func:`inputs_checked`."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape [T, B, ...], got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(
            f"{name} must be time-major with shape [T, B, ...] (rank >= {min_dim}); got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} has an empty time axis (T = 0); shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if getattr(_checked, "value", False):
        return
    if x.device.type != "cpu" and (
        os.environ.get("NEUROMAP_CHECK_FINITE", "1").strip() == "0"  # opt-out: no read-back per call on a GPU
        or (x.device.type == "cuda" and torch.cuda.is_current_stream_capturing())
        or torch.compiler.is_compiling()
    ):
        return  # reading the result back waits for the device, and is not allowed in a CUDA graph
    # One reduction pass, no temporaries: min/max propagate NaN and expose +-inf; one read-back.
    if not bool(torch.isfinite(torch.stack(torch.aminmax(x.detach()))).all()):
        raise ValueError(f"{name} contains NaN or inf values")


_SCALARS: dict[tuple, torch.Tensor] = {}


def _as_tensor(value: Scalar, like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``value`` as a tensor on ``like``'s device. A Python number on an accelerator is cached (read
    only, never mutated): a fresh one each call would be a host-to-device copy, which waits for the
    device and cannot be recorded in a CUDA graph."""
    dtype = like.dtype if dtype is None else dtype
    if isinstance(value, torch.Tensor):
        return value.to(dtype=dtype, device=like.device)
    if like.device.type == "cpu":
        return torch.tensor(float(value), dtype=dtype)
    key = (float(value), dtype, like.device)
    cached = _SCALARS.get(key)
    if cached is None:
        if len(_SCALARS) > 1024:  # many distinct constants: not a model's few parameters
            _SCALARS.clear()
        cached = _SCALARS[key] = torch.tensor(float(value), dtype=dtype, device=like.device)
    return cached


def neuron_step(
    x: torch.Tensor,
    state: NeuronState,
    params: LIFParams,
    surrogate: Surrogate,
    beta: Scalar | None = None,
    v_th: Scalar | None = None,
    alpha: Scalar | None = None,
) -> tuple[torch.Tensor, NeuronState, torch.Tensor]:
    """One differentiable step. Returns ``(spikes, new_state, h)`` where ``h`` is the pre-reset
    membrane. ``beta``/``v_th``/``alpha`` override the params (learnable values)."""
    require_one_current(params, "neuron_step")
    beta = params.beta if beta is None else beta
    v_th = params.v_th if v_th is None else v_th
    cuba = isinstance(params, CubaLIFParams)
    gain = (1.0 - beta) if params.decay_input else 1.0
    i = None
    if cuba:
        alpha = params.alpha if alpha is None else alpha
        i = alpha * state.i + x
        cur = i
    else:
        cur = x
    h = beta * state.v + (1.0 - beta) * params.v_leak + gain * cur
    r = None  # reset_signal="membrane": snnTorch's reset signal from the stored membrane (always detached)
    if params.reset_delay:
        s_prev = state.s.detach() if params.detach_reset else state.s
        if params.reset == "zero":  # the step after a spike ends at v_reset: its input is lost
            h = torch.where(s_prev > 0, torch.full_like(h, params.v_reset), h)
        else:
            h = h - v_th * s_prev
    elif params.reset_signal == "membrane":
        r = _fire(state.v, v_th, False).to(h.dtype)
        h = h - v_th * r
    active = None
    if params.refractory_steps:
        active = state.refrac == 0
        h = torch.where(active, h, torch.full_like(h, params.v_reset))
    s = spike(h - v_th, surrogate, params.threshold_rule)
    if active is not None:
        s = s * active.to(s.dtype)
    s_reset = s.detach() if params.detach_reset else s
    if params.reset_delay or params.reset == "none":
        v = h
    elif r is not None:
        v = h - (s_reset - r) * v_th  # snnTorch's "avoid double reset"
    elif params.reset == "subtract":
        v = h - v_th * s_reset
    else:  # zero
        v = h * (1.0 - s_reset) + params.v_reset * s_reset
    refrac = None
    if params.refractory_steps:
        fired = s.detach() > 0
        refrac = torch.where(fired, torch.full_like(state.refrac, params.refractory_steps), (state.refrac - 1).clamp(min=0))
    return s, NeuronState(v, i, refrac, s if params.reset_delay else None), h


def neuron_sequence_reference(
    x: torch.Tensor,
    params: LIFParams,
    surrogate: Surrogate,
    state: NeuronState | None = None,
    beta: Scalar | None = None,
    v_th: Scalar | None = None,
    alpha: Scalar | None = None,
) -> tuple[torch.Tensor, torch.Tensor, NeuronState]:
    """Per-step autograd reference. Returns ``(spikes [T,...], membrane [T,...], final_state)``."""
    check_sequence(x)
    if state is None:
        state = initial_state(params, tuple(x.shape[1:]), x.dtype, x.device)
    spikes, vs = [], []
    for t in range(x.shape[0]):
        s, state, _ = neuron_step(x[t], state, params, surrogate, beta, v_th, alpha)
        spikes.append(s)
        vs.append(state.v)
    return torch.stack(spikes), torch.stack(vs), state


def _sum_to(grad: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Reduce a broadcast gradient back to ``shape`` (sum over batch / broadcast axes)."""
    if grad.shape == shape:
        return grad
    lead = grad.dim() - len(shape)
    g = grad.sum(dim=tuple(range(lead))) if lead > 0 else grad
    dims = tuple(d for d, n in enumerate(shape) if n == 1 and g.shape[d] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g.reshape(shape)


class _Config(NamedTuple):
    cuba: bool
    reset: str
    v_reset: float
    v_leak: float
    refractory: int
    decay_input: bool
    inclusive: bool
    detach_reset: bool
    reset_delay: bool
    surrogate: Surrogate
    return_membrane: bool
    cpp: bool = False
    triton: bool = False  # the Triton kernels (triton_kernels.py)
    interpret: bool = False  # ... run through Triton's interpreter on CPU tensors (tests only)


def _fire(h: torch.Tensor, v_th: torch.Tensor, inclusive: bool) -> torch.Tensor:
    return (h >= v_th) if inclusive else (h > v_th)


def _after_reset(h: torch.Tensor, s: torch.Tensor, v_th: torch.Tensor, cfg: _Config) -> torch.Tensor:
    """Membrane after the reset of step t, from the pre-reset ``h`` and the spikes ``s`` (0/1)."""
    if cfg.reset_delay or cfg.reset == "none":
        return h
    if cfg.reset == "subtract":
        return h - v_th * s
    return torch.where(s > 0, torch.full_like(h, cfg.v_reset), h)


def _forward_loop(x, v, i, refrac, s_prev, beta, alpha, v_th, cfg: _Config, keep_current: bool, keep_h: bool = True):
    """Run the recurrence without autograd. Returns outputs and what the backward pass needs."""
    T = x.shape[0]
    gain = (1.0 - beta) if cfg.decay_input else 1.0
    leak = (1.0 - beta) * cfg.v_leak
    h_seq = torch.empty_like(x) if keep_h else None
    spikes = torch.empty_like(x)
    v_seq = torch.empty_like(x) if cfg.return_membrane else None
    i_seq = torch.empty_like(x) if keep_current else None
    active_seq = torch.empty(x.shape, dtype=torch.bool, device=x.device) if cfg.refractory else None
    for t in range(T):
        if cfg.cuba:
            i = alpha * i + x[t]
            cur = i
            if i_seq is not None:
                i_seq[t] = i
        else:
            cur = x[t]
        h = beta * v + leak + gain * cur
        if cfg.reset_delay:
            h = h - v_th * s_prev
        if cfg.refractory:
            active = refrac == 0
            h = torch.where(active, h, torch.full_like(h, cfg.v_reset))
            active_seq[t] = active
            s = _fire(h, v_th, cfg.inclusive) & active
            refrac = torch.where(s, torch.full_like(refrac, cfg.refractory), (refrac - 1).clamp_(min=0))
        else:
            s = _fire(h, v_th, cfg.inclusive)
        s = s.to(x.dtype)
        if h_seq is not None:
            h_seq[t] = h
        spikes[t] = s
        v = _after_reset(h, s, v_th, cfg)
        if v_seq is not None:
            v_seq[t] = v
        s_prev = s
    return spikes, v_seq, v, i, refrac, s_prev, h_seq, i_seq, active_seq


_CPP_SURROGATES = ("fast_sigmoid", "atan", "sigmoid", "triangle", "straight_through")
_RESET_CODES = {"subtract": 0, "zero": 1, "none": 2}


def _empty(like: torch.Tensor) -> torch.Tensor:
    return torch.empty(0, dtype=like.dtype, device=like.device)


def _surrogate_code(surrogate: Surrogate) -> int | None:
    """The C++ kernel's code of a built-in surrogate (matched by function identity), else None."""
    from . import surrogate as sur_module

    fn = SURROGATES.get(surrogate.name, (None,))[0]
    for code, name in enumerate(_CPP_SURROGATES):
        if fn is getattr(sur_module, name):
            return code
    return None


def _cpp_unsupported(x: torch.Tensor, params: LIFParams, surrogate: Surrogate, state, values) -> str | None:
    """Why the compiled kernel cannot run this call (None when it can)."""
    if x.device.type != "cpu":
        return f"device {x.device.type} (the compiled kernel is CPU-only)"
    if x.dtype not in (torch.float32, torch.float64):
        return f"dtype {x.dtype} (the compiled kernel supports float32 and float64)"
    if params.refractory_steps:
        return "refractory_steps > 0"
    if _surrogate_code(surrogate) is None:
        return f"surrogate {surrogate.name!r} is not a built-in the kernel implements"
    return triton_kernels.layout_problem(x, state, values)


def _flat_values(t: torch.Tensor, neuron_shape: torch.Size) -> torch.Tensor:
    """A per-neuron value as the kernel wants it: one element, or one per (batch, neuron) element."""
    if t.numel() == 1:
        return t.detach().reshape(1).contiguous()
    return t.detach().broadcast_to(neuron_shape).reshape(-1).contiguous()


def _cpp_forward(x, v0, i0, s0, beta, alpha, v_th, cfg: _Config, keep_h: bool, keep_current: bool):
    """Run the compiled forward on the flattened ``[T, M]`` view (M = batch x neurons)."""
    ops = kernels.load()
    T, shape = x.shape[0], x.shape[1:]
    gain = 1.0 - beta  # the same tensors, rounded the same way, as in _forward_loop
    leak = (1.0 - beta) * cfg.v_leak
    empty = _empty(x)
    spikes, v_seq, v, i, s_last, h_seq, i_seq = ops.lif_forward(
        x.detach().reshape(T, -1).contiguous(),
        v0.detach().reshape(-1).contiguous(),
        i0.detach().reshape(-1).contiguous() if cfg.cuba else empty,
        s0.detach().reshape(-1).contiguous() if cfg.reset_delay else empty,
        *[_flat_values(t, shape) for t in (beta, alpha, v_th, gain, leak)],
        cfg.cuba,
        _RESET_CODES[cfg.reset],
        cfg.v_reset,
        cfg.inclusive,
        cfg.reset_delay,
        cfg.decay_input,
        keep_h,
        keep_current,
        cfg.return_membrane,
    )
    return (
        spikes.view(x.shape),
        v_seq.view(x.shape) if cfg.return_membrane else None,
        v.view(shape),
        i.view(shape) if cfg.cuba else None,
        s_last.view(shape) if cfg.reset_delay else None,
        h_seq if keep_h else None,
        i_seq if keep_current and cfg.cuba else None,
    )


def _run_forward(x, v0, i0, s0, refrac0, beta, alpha, v_th, cfg: _Config, keep_h: bool, keep_current: bool):
    """Any implementation; returns spikes, v_seq, v, i, refrac, s_last, h_seq, i_seq, active_seq."""
    if cfg.triton:
        return triton_kernels.forward(x, v0, i0, s0, refrac0, beta, alpha, v_th, cfg, keep_h, keep_current, cfg.interpret)
    if cfg.cpp:
        spikes, v_seq, v, i, s_last, h_seq, i_seq = _cpp_forward(x, v0, i0, s0, beta, alpha, v_th, cfg, keep_h, keep_current)
        return spikes, v_seq, v, i, None, s_last, h_seq, i_seq, None
    return _forward_loop(x, v0, i0, refrac0, s0, beta, alpha, v_th, cfg, keep_current, keep_h)


class _NeuronSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v0, i0, s0, refrac0, beta, alpha, v_th, cfg: _Config):  # type: ignore[override]
        keep_current = cfg.cuba and (alpha.requires_grad or (beta.requires_grad and cfg.decay_input))
        with torch.no_grad():
            spikes, v_seq, v, i, refrac, s_last, h_seq, i_seq, active_seq = _run_forward(
                x, v0, i0, s0, refrac0, beta, alpha, v_th, cfg, True, keep_current
            )
        ctx.cfg = cfg
        ctx.shape = x.shape
        # x itself is needed only for d/dbeta of the decay_input gain of a plain LIF.
        x_saved = x if (beta.requires_grad and cfg.decay_input and not cfg.cuba) else None
        ctx.save_for_backward(x_saved, v0, i0, s0, beta, alpha, v_th, h_seq, i_seq, active_seq)
        empty = _empty(x)
        v_out = v_seq if v_seq is not None else empty
        i_out = i if i is not None else empty
        s_out = s_last if cfg.reset_delay else empty
        r_out = refrac if refrac is not None else torch.empty(0, dtype=torch.int32, device=x.device)
        ctx.mark_non_differentiable(r_out)
        return spikes, v_out, v, i_out, s_out, r_out

    @staticmethod
    def backward(ctx, g_spikes, g_vseq, g_v, g_i, g_s, g_r):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        x, v0, i0, s0, beta, alpha, v_th, h_seq, i_seq, active_seq = ctx.saved_tensors
        needs = (ctx.needs_input_grad[5], ctx.needs_input_grad[6], ctx.needs_input_grad[7])
        args = (g_spikes, g_vseq, g_v, g_i, g_s, x, v0, i0, s0, beta, alpha, v_th, h_seq, i_seq)
        if cfg.triton:
            grads = _triton_backward(args, active_seq, cfg, needs)
        elif cfg.cpp:
            grads = _cpp_backward(ctx.shape, *args, cfg, needs)
        else:
            grads = _torch_backward(*args, active_seq, cfg, needs)
        gx, g_v0, g_i0, g_s0, g_beta, g_alpha, g_th = grads
        return (
            gx,
            g_v0,
            g_i0,
            g_s0,
            None,
            _sum_to(g_beta, beta.shape) if g_beta is not None else None,
            _sum_to(g_alpha, alpha.shape) if g_alpha is not None else None,
            _sum_to(g_th, v_th.shape) if g_th is not None else None,
            None,
        )


def _cpp_backward(shape, g_spikes, g_vseq, g_v, g_i, g_s, x, v0, i0, s0, beta, alpha, v_th, h_seq, i_seq, cfg, needs):
    """The compiled BPTT; per-element parameter gradients come back in the neuron shape."""
    ops = kernels.load()
    need_beta, need_alpha, need_th = needs
    nshape = shape[1:]
    empty = _empty(h_seq)

    def flat(t, seq=False):
        if t is None or not t.numel():
            return empty
        return t.reshape(h_seq.shape if seq else (-1,)).contiguous()

    sur = cfg.surrogate
    gx, g_v0, g_i0, g_s0, g_beta, g_alpha, g_th = ops.lif_backward(
        flat(g_spikes, True),
        flat(g_vseq, True),
        flat(g_v),
        flat(g_i) if cfg.cuba else empty,
        flat(g_s) if cfg.reset_delay else empty,
        h_seq,
        i_seq if i_seq is not None else empty,
        flat(x, True),
        flat(v0),
        flat(i0) if cfg.cuba else empty,
        flat(s0) if cfg.reset_delay else empty,
        *[_flat_values(t, nshape) for t in (beta, alpha, v_th, 1.0 - beta)],
        cfg.cuba,
        _RESET_CODES[cfg.reset],
        cfg.v_reset,
        cfg.v_leak,
        cfg.inclusive,
        cfg.reset_delay,
        cfg.decay_input,
        cfg.detach_reset,
        _surrogate_code(sur),
        sur.effective_slope,
        need_beta,
        need_alpha,
        need_th,
    )
    return (
        gx.view(shape),
        g_v0.view(nshape),
        g_i0.view(nshape) if cfg.cuba else None,
        g_s0.view(nshape) if cfg.reset_delay and not cfg.detach_reset else None,
        g_beta.view(nshape) if need_beta else None,
        g_alpha.view(nshape) if need_alpha else None,
        g_th.view(nshape) if need_th else None,
    )


def _triton_backward(args, active_seq, cfg: _Config, needs):
    """The fused Triton BPTT; in ``auto`` mode a kernel failure is logged and the PyTorch loop
    computes the same gradients from the saved (float32) membrane instead."""
    try:
        return triton_kernels.backward(*args, active_seq, cfg, needs, _surrogate_code(cfg.surrogate), cfg.interpret)
    except Exception as exc:
        if kernels.current_impl() != "auto":
            raise
        triton_kernels.warn_once(f"the backward kernel failed ({type(exc).__name__}: {exc})")
    dtype = args[6].dtype  # v0: the input/state dtype
    active = active_seq.bool() if active_seq is not None else None
    grads = _torch_backward(*args, active, cfg, needs)
    return tuple(g.to(dtype) if g is not None and i < 4 else g for i, g in enumerate(grads))


def _torch_backward(g_spikes, g_vseq, g_v, g_i, g_s, x, v0, i0, s0, beta, alpha, v_th, h_seq, i_seq, active_seq, cfg, needs):
    """The hand-written BPTT as a per-step PyTorch loop (no autograd graph)."""
    need_beta, need_alpha, need_th = needs
    T = h_seq.shape[0]
    if g_spikes is None:
        g_spikes = torch.zeros_like(h_seq)
    sur = cfg.surrogate
    gain = (1.0 - beta) if cfg.decay_input else 1.0

    gx = torch.empty_like(h_seq)
    gv = g_v.clone() if g_v is not None else torch.zeros_like(h_seq[0])
    # dL/di_t arriving from later steps (alpha * dL/di_{t+1}); at t = T-1 the final-state grad.
    gI_carry = g_i.clone() if (cfg.cuba and g_i is not None and g_i.numel()) else torch.zeros_like(h_seq[0])
    gs_carry = g_s.clone() if (cfg.reset_delay and g_s is not None and g_s.numel()) else torch.zeros_like(h_seq[0])
    g_beta = torch.zeros_like(h_seq[0]) if need_beta else None
    g_alpha = torch.zeros_like(h_seq[0]) if need_alpha else None
    g_th = torch.zeros_like(h_seq[0]) if need_th else None

    for t in range(T - 1, -1, -1):
        h = h_seq[t]
        s_bool = _fire(h, v_th, cfg.inclusive)
        if active_seq is not None:
            active = active_seq[t]
            s_bool = s_bool & active
        s = s_bool.to(h_seq.dtype)
        dsdh = sur.grad(h - v_th)
        if active_seq is not None:
            dsdh = dsdh * active
        g_total_v = gv if g_vseq is None or not g_vseq.numel() else gv + g_vseq[t]
        g_total_s = g_spikes[t] + gs_carry if cfg.reset_delay else g_spikes[t].clone()
        # v_t = reset(h_t, s_t)
        immediate = not cfg.reset_delay and cfg.reset != "none"
        if immediate and cfg.reset == "subtract":
            dvdh = g_total_v
            if not cfg.detach_reset:
                g_total_s = g_total_s - v_th * g_total_v
            if g_th is not None:
                g_th -= g_total_v * s
        elif immediate:  # zero
            dvdh = g_total_v * (1.0 - s)
            if not cfg.detach_reset:
                g_total_s = g_total_s + (cfg.v_reset - h) * g_total_v
        else:
            dvdh = g_total_v
        gh = dvdh + g_total_s * dsdh
        if g_th is not None:
            g_th -= g_total_s * dsdh
        if active_seq is not None:
            gh = gh * active
        # h_t = beta v_{t-1} + (1-beta) v_leak + gain cur_t - [delay] v_th s_{t-1}
        if t > 0:
            s_prev = _fire(h_seq[t - 1], v_th, cfg.inclusive)
            if active_seq is not None:
                s_prev = s_prev & active_seq[t - 1]
            s_prev = s_prev.to(h_seq.dtype)
            v_prev = _after_reset(h_seq[t - 1], s_prev, v_th, cfg)
        else:
            s_prev = s0 if cfg.reset_delay else None
            v_prev = v0
        if cfg.reset_delay:
            if g_th is not None:
                g_th -= gh * s_prev
            gs_carry = torch.zeros_like(gh) if cfg.detach_reset else -v_th * gh
        if cfg.cuba:
            cur = i_seq[t] if i_seq is not None else None
        else:
            cur = x[t] if x is not None else None
        if g_beta is not None:
            dh_dbeta = v_prev - cfg.v_leak
            if cfg.decay_input:
                dh_dbeta = dh_dbeta - cur
            g_beta += gh * dh_dbeta
        g_cur = gain * gh
        gv = beta * gh
        if cfg.cuba:
            gI = g_cur + gI_carry
            gI_carry = alpha * gI
            gx[t] = gI
            if g_alpha is not None:
                i_prev = i_seq[t - 1] if t > 0 else i0
                g_alpha += gI * i_prev
        else:
            gx[t] = g_cur

    g_v0 = gv
    g_i0 = gI_carry if cfg.cuba else None
    g_s0 = gs_carry if cfg.reset_delay and not cfg.detach_reset else None
    return gx, g_v0, g_i0, g_s0, g_beta, g_alpha, g_th


@torch.compiler.disable  # runs eagerly inside a compiled model: the kernels are already fused, the loop would unroll
def neuron_sequence(
    x: torch.Tensor,
    params: LIFParams,
    surrogate: Surrogate,
    state: NeuronState | None = None,
    beta: Scalar | None = None,
    v_th: Scalar | None = None,
    alpha: Scalar | None = None,
    return_membrane: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None, NeuronState]:
    """Fused multi-step LIF / CuBa-LIF over ``x [T, B, ...]``.

    Returns ``(spikes, membrane or None, final_state)``; spikes are 0/1 in ``x.dtype``. Gradients
    flow to ``x``, the initial state and any of ``beta``/``alpha``/``v_th`` that require them.
    Runs the compiled kernel when available and applicable (see :mod:`neuromap.neurons.kernels`).
    """
    check_sequence(x)
    require_one_current(params, "neuron_sequence")
    if state is None:
        state = initial_state(params, tuple(x.shape[1:]), x.dtype, x.device)
    if params.step_only is not None:
        return _step_fallback(x, params, surrogate, state, beta, v_th, alpha, return_membrane)
    backend = _select_backend(x, params, surrogate, state, beta, v_th, alpha)
    if backend in ("triton", "interpret") and kernels.current_impl() == "auto":
        try:
            return _execute(x, params, surrogate, state, beta, v_th, alpha, return_membrane, backend)
        except Exception as exc:  # a kernel that does not compile here: log it once, never again
            triton_kernels.disable(f"the forward kernel failed ({type(exc).__name__}: {exc})")
            backend = "torch"
    return _execute(x, params, surrogate, state, beta, v_th, alpha, return_membrane, backend)


def _step_fallback(x, params: LIFParams, surrogate: Surrogate, state: NeuronState, beta, v_th, alpha,
                   return_membrane: bool):
    """Semantics only :func:`neuron_step` implements (``params.step_only``): the per-step reference with
    ordinary autograd (exact gradients, slower); a forced compiled implementation is an error."""
    impl = kernels.current_impl()
    if impl not in ("auto", "torch"):
        raise ValueError(f"the {impl} neuron kernel does not implement {params.step_only}; "
                         "use kernels.use('auto') or 'torch' (the per-step reference runs it)")
    spikes, vs, final = neuron_sequence_reference(x, params, surrogate, state, beta, v_th, alpha)
    return spikes, (vs if return_membrane else None), final


def _select_backend(x, params: LIFParams, surrogate: Surrogate, state: NeuronState, beta, v_th, alpha) -> str:
    """``"torch"``, ``"cpp"``, ``"triton"`` or ``"interpret"`` for this call, from ``kernels.use``'s
    selection: a forced implementation that cannot run the call raises; ``auto`` falls back to the
    PyTorch loop (logged once per reason for Triton on CUDA)."""
    impl = kernels.current_impl()
    if impl == "torch":
        return "torch"
    cuba = isinstance(params, CubaLIFParams)
    values = {
        "beta": _as_tensor(params.beta if beta is None else beta, x),
        "v_th": _as_tensor(params.v_th if v_th is None else v_th, x),
    }
    if cuba:
        values["alpha"] = _as_tensor(params.alpha if alpha is None else alpha, x)
    interpret = triton_kernels.use_interpreter(x, impl)
    if triton_kernels.wants_triton(x, impl):
        reason = triton_kernels.unsupported(x, state, values, interpret)
        if reason is None and _surrogate_code(surrogate) is None:
            reason = f"surrogate {surrogate.name!r} is not a built-in the kernel implements"
        if reason is None:
            return "interpret" if interpret else "triton"
        if impl != "auto":
            raise ValueError(f"the Triton neuron kernel does not support this call: {reason}")
        triton_kernels.warn_once(reason)
        return "torch"
    reason = _cpp_unsupported(x, params, surrogate, state, values)
    if reason is None:
        return "cpp" if kernels.load() is not None else "torch"
    if impl == "cpp":
        raise ValueError(f"the compiled neuron kernel does not support this call: {reason}")
    return "torch"


def _execute(
    x, params: LIFParams, surrogate: Surrogate, state: NeuronState, beta, v_th, alpha, return_membrane: bool, backend: str
):
    """Run the recurrence with the chosen backend (through the autograd Function when a gradient
    is needed). The Triton kernels take per-neuron values in float32 whatever the input dtype."""
    cuba = isinstance(params, CubaLIFParams)
    use_triton = backend in ("triton", "interpret")
    vdtype = torch.float32 if use_triton else x.dtype
    beta_t = _as_tensor(params.beta if beta is None else beta, x, vdtype)
    v_th_t = _as_tensor(params.v_th if v_th is None else v_th, x, vdtype)
    alpha_t = _as_tensor((params.alpha if alpha is None else alpha) if cuba else 0.0, x, vdtype)
    cfg = _Config(
        cuba=cuba,
        reset=params.reset,
        v_reset=float(params.v_reset),
        v_leak=float(params.v_leak),
        refractory=int(params.refractory_steps),
        decay_input=params.decay_input,
        inclusive=params.threshold_rule == ">=",
        detach_reset=params.detach_reset,
        reset_delay=params.reset_delay,
        surrogate=surrogate,
        return_membrane=return_membrane,
        cpp=backend == "cpp",
        triton=use_triton,
        interpret=backend == "interpret",
    )
    empty = _empty(x)
    i0 = state.i if cuba else empty
    s0 = state.s if params.reset_delay else empty
    r0 = state.refrac if params.refractory_steps else None
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, state.v, i0, s0, beta_t, alpha_t, v_th_t)):
        spikes, v_seq, v, i, s, r = _NeuronSequence.apply(x, state.v, i0, s0, r0, beta_t, alpha_t, v_th_t, cfg)
    else:  # inference: no autograd node and nothing kept for a backward pass
        with torch.no_grad():
            out = _run_forward(x, state.v, i0, s0, r0, beta_t, alpha_t, v_th_t, cfg, False, False)
        spikes, v_seq, v, i, r, s = out[:6]
    final = NeuronState(
        v,
        i if cuba else None,
        r if params.refractory_steps else None,
        s if params.reset_delay else None,
    )
    return spikes, (v_seq if return_membrane else None), final


def leaky_integrator(
    x: torch.Tensor, beta: Scalar, v0: torch.Tensor | None = None, gain: Scalar = 1.0, v_leak: Scalar = 0.0
) -> torch.Tensor:
    """Non-spiking leaky integrator (NIR ``LI``): ``v[t] = beta v[t-1] + (1 - beta) v_leak + gain x[t]``
    (the ``v_leak`` term is left out when it is 0, so that case costs nothing); returns ``v [T, ...]``.
    ``beta``, ``gain`` and ``v_leak`` are numbers or tensors broadcastable to the neuron shape."""
    check_sequence(x)
    no_leak = not isinstance(v_leak, torch.Tensor) and v_leak == 0.0
    if v0 is not None:
        v = v0
    elif no_leak:
        v = torch.zeros_like(x[0])
    else:
        v = torch.zeros_like(x[0]) + v_leak
    out = []
    for t in range(x.shape[0]):
        if no_leak:
            v = beta * v + gain * x[t]
        else:
            v = beta * v + (1.0 - beta) * v_leak + gain * x[t]
        out.append(v)
    return torch.stack(out)


def cuba_leaky_integrator(
    x: torch.Tensor, alpha: Scalar, beta: Scalar, state: tuple[torch.Tensor, torch.Tensor] | None = None,
    gain: Scalar = 1.0, v_leak: Scalar = 0.0,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Non-spiking current-based leaky integrator (NIR ``CubaLI``), the CuBa-LIF's order without a
    threshold: ``i[t] = alpha i[t-1] + x[t]``, ``v[t] = beta v[t-1] + (1 - beta) v_leak + gain i[t]``.
    Returns ``(v [T, ...], (v, i))``; ``state`` is ``(v, i)`` (default ``v = v_leak``, ``i = 0``)."""
    check_sequence(x)
    if state is None:
        i = torch.zeros_like(x[0])
        v = torch.zeros_like(x[0]) + v_leak
    else:
        v, i = state
    out = []
    for t in range(x.shape[0]):
        i = alpha * i + x[t]
        v = beta * v + (1.0 - beta) * v_leak + gain * i
        out.append(v)
    return torch.stack(out), (v, i)
