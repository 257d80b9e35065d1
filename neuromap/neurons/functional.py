"""Functional core of the LIF / CuBa-LIF neurons: pure functions of (input, state, parameters).

Two implementations of the same recurrence (the equations are in :mod:`neuromap.neurons.params`):

* :func:`neuron_step` / :func:`neuron_sequence_reference` — one step at a time with ordinary
  autograd: the readable reference the tests compare against.
* :func:`neuron_sequence` — the fused multi-step form used for training: one
  ``torch.autograd.Function`` runs the whole recurrence without building an autograd graph per
  step, keeps only the pre-reset membrane ``h`` for the backward pass, and backpropagates through
  time with a hand-written backward (BPTT through the membrane with the surrogate derivative).

Tensors are time-major: input ``x`` is ``[T, B, *neuron_shape]``. ``beta``, ``alpha`` and ``v_th``
are Python floats or tensors broadcastable to ``neuron_shape`` (learnable per-neuron values).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .params import CubaLIFParams, LIFParams
from .surrogate import Surrogate, spike

Scalar = float | torch.Tensor


class NeuronState(NamedTuple):
    """State of a population: membrane ``v``, synaptic current ``i`` (CuBa only), refractory
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
    i = torch.zeros(shape, dtype=dtype, device=device) if isinstance(params, CubaLIFParams) else None
    r = torch.zeros(shape, dtype=torch.int32, device=device) if params.refractory_steps else None
    s = torch.zeros(shape, dtype=dtype, device=device) if params.reset_delay else None
    return NeuronState(v, i, r, s)


def check_sequence(x: torch.Tensor, name: str = "x", min_dim: int = 2) -> None:
    """Validate a time-major input: a floating tensor of rank >= ``min_dim``, finite."""
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
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")


def _as_tensor(value: Scalar, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(dtype=like.dtype, device=like.device)
    return torch.tensor(float(value), dtype=like.dtype, device=like.device)


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
    if params.reset_delay:
        s_prev = state.s.detach() if params.detach_reset else state.s
        h = h - v_th * s_prev
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


def _fire(h: torch.Tensor, v_th: torch.Tensor, inclusive: bool) -> torch.Tensor:
    return (h >= v_th) if inclusive else (h > v_th)


def _after_reset(h: torch.Tensor, s: torch.Tensor, v_th: torch.Tensor, cfg: _Config) -> torch.Tensor:
    """Membrane after the reset of step t, from the pre-reset ``h`` and the spikes ``s`` (0/1)."""
    if cfg.reset_delay or cfg.reset == "none":
        return h
    if cfg.reset == "subtract":
        return h - v_th * s
    return torch.where(s > 0, torch.full_like(h, cfg.v_reset), h)


def _forward_loop(x, v, i, refrac, s_prev, beta, alpha, v_th, cfg: _Config, keep_current: bool):
    """Run the recurrence without autograd. Returns outputs and what the backward pass needs."""
    T = x.shape[0]
    gain = (1.0 - beta) if cfg.decay_input else 1.0
    leak = (1.0 - beta) * cfg.v_leak
    h_seq = torch.empty_like(x)
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
        h_seq[t] = h
        spikes[t] = s
        v = _after_reset(h, s, v_th, cfg)
        if v_seq is not None:
            v_seq[t] = v
        s_prev = s
    return spikes, v_seq, v, i, refrac, s_prev, h_seq, i_seq, active_seq


class _NeuronSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v0, i0, s0, refrac0, beta, alpha, v_th, cfg: _Config):  # type: ignore[override]
        keep_current = cfg.cuba and (
            alpha.requires_grad or (beta.requires_grad and cfg.decay_input)
        )
        with torch.no_grad():
            spikes, v_seq, v, i, refrac, s_last, h_seq, i_seq, active_seq = _forward_loop(
                x, v0, i0, refrac0, s0, beta, alpha, v_th, cfg, keep_current
            )
        ctx.cfg = cfg
        ctx.save_for_backward(x, v0, i0, s0, beta, alpha, v_th, h_seq, i_seq, active_seq)
        v_out = v_seq if v_seq is not None else torch.empty(0, dtype=x.dtype, device=x.device)
        i_out = i if i is not None else torch.empty(0, dtype=x.dtype, device=x.device)
        s_out = s_last if cfg.reset_delay else torch.empty(0, dtype=x.dtype, device=x.device)
        r_out = refrac if refrac is not None else torch.empty(0, dtype=torch.int32, device=x.device)
        ctx.mark_non_differentiable(r_out)
        return spikes, v_out, v, i_out, s_out, r_out

    @staticmethod
    def backward(ctx, g_spikes, g_vseq, g_v, g_i, g_s, g_r):  # type: ignore[override]
        cfg: _Config = ctx.cfg
        x, v0, i0, s0, beta, alpha, v_th, h_seq, i_seq, active_seq = ctx.saved_tensors
        T = x.shape[0]
        if g_spikes is None:
            g_spikes = torch.zeros_like(x)
        sur = cfg.surrogate
        need_beta, need_alpha, need_th = ctx.needs_input_grad[5], ctx.needs_input_grad[6], ctx.needs_input_grad[7]
        gain = (1.0 - beta) if cfg.decay_input else 1.0

        gx = torch.empty_like(x)
        gv = g_v.clone() if g_v is not None else torch.zeros_like(x[0])
        # dL/di_t arriving from later steps (alpha * dL/di_{t+1}); at t = T-1 the final-state grad.
        gI_carry = g_i.clone() if (cfg.cuba and g_i is not None and g_i.numel()) else torch.zeros_like(x[0])
        gs_carry = g_s.clone() if (cfg.reset_delay and g_s is not None and g_s.numel()) else torch.zeros_like(x[0])
        g_beta = torch.zeros_like(x[0]) if need_beta else None
        g_alpha = torch.zeros_like(x[0]) if need_alpha else None
        g_th = torch.zeros_like(x[0]) if need_th else None

        for t in range(T - 1, -1, -1):
            h = h_seq[t]
            s_bool = _fire(h, v_th, cfg.inclusive)
            if active_seq is not None:
                active = active_seq[t]
                s_bool = s_bool & active
            s = s_bool.to(x.dtype)
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
                s_prev = s_prev.to(x.dtype)
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
                cur = x[t]
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
    """
    check_sequence(x)
    if state is None:
        state = initial_state(params, tuple(x.shape[1:]), x.dtype, x.device)
    cuba = isinstance(params, CubaLIFParams)
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
    )
    beta_t = _as_tensor(params.beta if beta is None else beta, x)
    v_th_t = _as_tensor(params.v_th if v_th is None else v_th, x)
    alpha_t = _as_tensor((params.alpha if alpha is None else alpha) if cuba else 0.0, x)
    empty = torch.empty(0, dtype=x.dtype, device=x.device)
    i0 = state.i if cuba else empty
    s0 = state.s if params.reset_delay else empty
    r0 = state.refrac if params.refractory_steps else None
    spikes, v_seq, v, i, s, r = _NeuronSequence.apply(x, state.v, i0, s0, r0, beta_t, alpha_t, v_th_t, cfg)
    final = NeuronState(
        v,
        i if cuba else None,
        r if params.refractory_steps else None,
        s if params.reset_delay else None,
    )
    return spikes, (v_seq if return_membrane else None), final


def leaky_integrator(
    x: torch.Tensor, beta: Scalar, v0: torch.Tensor | None = None, gain: Scalar = 1.0
) -> torch.Tensor:
    """Non-spiking leaky integrator (NIR ``LI``): ``v[t] = beta v[t-1] + gain x[t]``; returns ``v``."""
    check_sequence(x)
    v = torch.zeros_like(x[0]) if v0 is None else v0
    out = []
    for t in range(x.shape[0]):
        v = beta * v + gain * x[t]
        out.append(v)
    return torch.stack(out)
