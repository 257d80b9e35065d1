"""The EGRU cell's step (Subramoney et al. 2023), shared by the zoo module (``networks/egru.py``),
``backends.torch`` and the SpiNNaker2 model, so the arithmetic is written once: :func:`egru_state`
(gates, candidate, zoneout) then :func:`egru_events` (events, graded output, subtractive reset).
And the fused GPU form of the whole recurrence (:func:`egru_sequence`: per step the recurrent matmul
and one Triton kernel for the rest, forward and hand-written BPTT), which ``networks/egru.py`` takes
by default on CUDA tensors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from . import kernels, triton_kernels


def egru_candidate(gx: torch.Tensor, gh: torch.Tensor, c_prev: torch.Tensor) -> torch.Tensor:
    """New internal state before zoneout and events, from the input and recurrent gate
    pre-activations ``gx``, ``gh`` (``[..., 3n]``, chunks z, r, g) and the previous state:
    ``c = z c_prev + (1 - z) tanh(g_x + r g_h)`` with ``z, r = sigmoid(x + h)``."""
    zx, rx, cx = gx.chunk(3, -1)
    zh, rh, ch = gh.chunk(3, -1)
    z = torch.sigmoid(zx + zh)
    r = torch.sigmoid(rx + rh)
    g = torch.tanh(cx + r * ch)
    return z * c_prev + (1.0 - z) * g


def egru_state(gx: torch.Tensor, gh: torch.Tensor, c_prev: torch.Tensor, zoneout: float = 0.0,
               zone_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The internal state ``c`` of one step: :func:`egru_candidate`, then zoneout - in training a
    per-unit mask (1 = take the new state), in evaluation its expectation
    ``zoneout c_prev + (1 - zoneout) c``."""
    c = egru_candidate(gx, gh, c_prev)
    if zoneout <= 0:
        return c
    if zone_mask is not None:
        return c_prev + zone_mask * (c - c_prev)
    return zoneout * c_prev + (1.0 - zoneout) * c


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """``1`` where ``x > 0``, else ``0`` (the event function of inference; training uses a pseudo-derivative)."""
    return (x > 0).to(x.dtype)


Events = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def egru_events(c: torch.Tensor, theta: torch.Tensor,
                spike: Callable[[torch.Tensor], torch.Tensor] = heaviside) -> Events:
    """Events of one step from the state ``c`` and the thresholds: ``o = spike(c - theta)``, the graded
    event ``y = o c`` and the subtractive reset ``c_bar = c - o theta``; returns ``(y, o, c_bar)``."""
    o = spike(c - theta)
    return o * c, o, c - o * theta


# --- the fused sequence (Triton) ------------------------------------------------------------------
#
# The recurrence needs all hidden units of step t-1 for the matmul of step t, so the steps cannot run
# inside one kernel launch; each step is the recurrent matmul (cuBLAS) and one Triton kernel for
# everything else (bias, gates, zoneout, threshold, event, reset). The backward is the same per step:
# one kernel, and the matmul that sends the recurrent gradient to y_{t-1}; the recurrent weight's
# gradient is one matmul over all steps at the end. Nothing reads a value back to the host.

_SOURCE = Path(__file__).with_name("_triton_egru_src.py")
DTYPES = (torch.float32, torch.float64)
_failed: list[str] = []  # why the EGRU kernels were switched off in this process (a kernel failed)


@dataclass(frozen=True)
class EGRUConfig:
    """The per-call constants of :func:`egru_sequence`: zoneout mode (0 none, 1 training mask,
    2 evaluation expectation) and its probability, pseudo-derivative height and sharpness."""

    zone: int
    p: float
    gamma: float
    eps: float
    interpret: bool


def triton_problem(x: torch.Tensor, impl: str) -> str | None:
    """Why the fused EGRU kernels cannot run a call on ``x`` under ``kernels.use(impl)`` (None: they can)."""
    if _failed:
        return _failed[0]
    reason = triton_kernels.device_problem(x, triton_kernels.use_interpreter(x, impl))
    if reason is None and x.dtype not in DTYPES:
        reason = f"dtype {x.dtype} (the EGRU kernels support float32 and float64)"
    return reason


@torch.compiler.disable  # host-side dispatch: torch.compile runs it eagerly
def select_backend(x: torch.Tensor) -> str:
    """``"torch"``, ``"triton"`` or ``"interpret"`` for an EGRU layer on ``x``, from ``kernels.use``:
    ``auto`` takes the fused kernels on CUDA float32/float64 tensors (or under
    ``NEUROMAP_TRITON_INTERPRET=1`` on CPU ones) and otherwise the PyTorch loop, logging why once; a
    forced ``triton``/``triton_interpret`` that cannot run raises."""
    impl = kernels.current_impl()
    if impl in ("torch", "cpp") or not triton_kernels.wants_triton(x, impl):
        return "torch"
    reason = triton_problem(x, impl)
    interpret = triton_kernels.use_interpreter(x, impl)
    if reason is None and impl == "auto":
        reason = _probe(x.dtype, x.device, interpret)
    if reason is None:
        return "interpret" if interpret else "triton"
    if impl != "auto":
        raise ValueError(f"the Triton EGRU kernel does not support this call: {reason}")
    triton_kernels.warn_once(f"EGRU: {reason}")
    return "torch"


_probed: set[tuple[torch.dtype, str, bool]] = set()


def _probe(dtype: torch.dtype, device: torch.device, interpret: bool) -> str | None:
    """Compile and run both kernels once on a tiny problem (per dtype and device) before ``auto``
    relies on them, so that a backward kernel that cannot compile here is found before a training
    step needs it; a failure switches the kernels off (logged) and ``auto`` runs the PyTorch loop."""
    key = (dtype, str(device), interpret)
    if key in _probed:
        return _failed[0] if _failed else None
    _probed.add(key)
    kw = dict(dtype=dtype, device=device)
    try:  # (also when the first call comes under torch.inference_mode or no_grad)
        with torch.inference_mode(False), torch.enable_grad():
            leaves = [torch.zeros(1, 1, 3, **kw), torch.zeros(3, 1, **kw), torch.zeros(3, **kw),
                      torch.full((1,), 0.5, **kw), torch.ones(1, 1, **kw), torch.zeros(1, 1, **kw)]
            leaves = [t.requires_grad_() for t in leaves]
            out = egru_sequence(*leaves, torch.ones(1, 1, 1, **kw), EGRUConfig(1, 0.5, 1.0, 1.0, interpret))
            torch.autograd.grad(sum(t.sum() for t in out), leaves)
    except Exception as exc:  # compiler or driver errors of any kind: fall back, say why
        disable(f"{type(exc).__name__}: {exc}")
    return _failed[0] if _failed else None


def disable(reason: str) -> None:
    """Switch the fused EGRU kernels off for this process (a kernel failed to compile or run)."""
    if not _failed:
        _failed.append(f"the EGRU kernel failed ({reason})")
    triton_kernels.warn_once(f"EGRU: {_failed[0]}")


def _empty(like: torch.Tensor) -> torch.Tensor:
    return torch.empty(0, dtype=like.dtype, device=like.device)


def _scalars(cfg: EGRUConfig, like: torch.Tensor) -> torch.Tensor:
    """``[p, gamma, eps]`` in the compute dtype (a kernel's float arguments are float32)."""
    return triton_kernels.scalar_tensor((cfg.p, cfg.gamma, cfg.eps), like.dtype, like.device)


def _fwd_step(mod, cfg: EGRUConfig, t, gx, gh, b_hh, theta, c_bar, zone, y, c, o, scal) -> None:
    n = c_bar.numel()
    triton_kernels.launch(
        mod.egru_step_forward, n, cfg.interpret,
        gx[t], gh, _empty(gx) if b_hh is None else b_hh, theta, c_bar, zone[t] if cfg.zone == 1 else _empty(gx),
        y[t], c[t], o[t], c_bar, scal, n, theta.numel(),
        HAS_BIAS=b_hh is not None, ZONE=cfg.zone, F64=gx.dtype == torch.float64,
    )  # fmt: skip


def _sequence_forward(gx, R, b_hh, theta, c0, y0, zone, cfg: EGRUConfig, keep_gh: bool):
    """The forward over all steps: ``y, c, o [T, B, H]``, the final reset state and, when
    ``keep_gh``, the recurrent matmuls ``[T, B, 3H]`` (without bias) the backward reuses."""
    mod = triton_kernels.kernel_module(_SOURCE, cfg.interpret)
    T, B = gx.shape[0], gx.shape[1]
    y, c, o = (torch.empty((T, B, theta.numel()), dtype=gx.dtype, device=gx.device) for _ in range(3))
    gh_all = torch.empty_like(gx) if keep_gh else None
    gh = torch.empty_like(gx[0])
    c_bar = c0.detach().clone().contiguous()
    y_prev, Rt, scal = y0.detach(), R.detach().t(), _scalars(cfg, gx)
    for t in range(T):
        out = gh_all[t] if keep_gh else gh
        torch.mm(y_prev, Rt, out=out)
        _fwd_step(mod, cfg, t, gx, out, b_hh, theta, c_bar, zone, y, c, o, scal)
        y_prev = y[t]
    return y, c, o, c_bar, gh_all


class _EGRUSequence(torch.autograd.Function):
    """The fused EGRU recurrence over a whole sequence (forward and hand-written BPTT)."""

    @staticmethod
    def forward(ctx, gx, R, b_hh, theta, c0, y0, zone, cfg: EGRUConfig):  # type: ignore[override]
        y, c, o, c_bar, gh_all = _sequence_forward(gx, R, b_hh, theta, c0, y0, zone, cfg, keep_gh=True)
        ctx.save_for_backward(gx, R, b_hh, theta, c0, y0, zone, y, c, gh_all)
        ctx.cfg = cfg
        return y, c, o, c_bar

    @staticmethod
    def backward(ctx, g_y, g_c, g_o, g_cbar):  # type: ignore[override]
        gx, R, b_hh, theta, c0, y0, zone, y, c, gh_all = ctx.saved_tensors
        cfg = ctx.cfg
        mod = triton_kernels.kernel_module(_SOURCE, cfg.interpret)
        T, B, H = c.shape
        dgx, dgh = torch.empty_like(gx), torch.empty_like(gx)
        dcbar = g_cbar.contiguous().clone() if g_cbar is not None else torch.zeros_like(c0)
        dth = torch.zeros((B, H), dtype=gx.dtype, device=gx.device)
        gy_rec = None
        none, scal = _empty(gx), _scalars(cfg, gx)
        g_y, g_c, g_o = (g.contiguous() if g is not None else None for g in (g_y, g_c, g_o))  # one copy, not T
        flat = lambda g, t: g[t] if g is not None else none  # noqa: E731
        for t in reversed(range(T)):
            triton_kernels.launch(
                mod.egru_step_backward, B * H, cfg.interpret,
                gx[t], gh_all[t], none if b_hh is None else b_hh, theta, c[t - 1] if t else c0,
                zone[t] if cfg.zone == 1 else none, c[t], flat(g_y, t), none if gy_rec is None else gy_rec,
                flat(g_c, t), flat(g_o, t), dcbar, dth, dgx[t], dgh[t], scal, B * H, H,
                HAS_BIAS=b_hh is not None, ZONE=cfg.zone, CPREV_IS_C=t > 0, HAS_GY=g_y is not None,
                HAS_GYREC=gy_rec is not None, HAS_GC=g_c is not None, HAS_GO=g_o is not None,
                F64=gx.dtype == torch.float64,
            )  # fmt: skip
            gy_rec = dgh[t] @ R
        y_prev = torch.cat([y0.unsqueeze(0), y[:-1]]).reshape(T * B, H)
        g_R = dgh.reshape(T * B, 3 * H).t() @ y_prev
        g_b = dgh.sum((0, 1)) if b_hh is not None else None
        return dgx, g_R, g_b, dth.sum(0), dcbar, gy_rec, None, None


@torch.compiler.disable  # a Python loop of kernel launches: torch.compile runs it eagerly (one graph break)
def egru_sequence(
    gx: torch.Tensor,
    R: torch.Tensor,
    b_hh: torch.Tensor | None,
    theta: torch.Tensor,
    c0: torch.Tensor,
    y0: torch.Tensor,
    zone: torch.Tensor | None,
    cfg: EGRUConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The EGRU recurrence with the fused kernels: input pre-activations ``gx [T, B, 3H]`` (bias
    included), recurrent weights ``R [3H, H]`` and bias ``b_hh [3H]``, thresholds ``theta [H]``,
    initial reset state ``c0`` and event output ``y0`` ``[B, H]``, zoneout keep mask ``zone
    [T, B, H]`` (training zoneout only). Returns ``y, c, o [T, B, H]`` and the final reset state,
    the same values as the PyTorch cell to rounding (sigmoid and tanh differ in the last bits);
    gradients flow to every tensor but ``zone``."""
    args = (gx.contiguous(), R.contiguous(), None if b_hh is None else b_hh.contiguous(), theta.contiguous(),
            c0.contiguous(), y0.contiguous(), None if zone is None else zone.contiguous())
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args):
        return _EGRUSequence.apply(*args, cfg)
    with torch.no_grad():
        y, c, o, c_bar, _ = _sequence_forward(*args, cfg, keep_gh=False)
    return y, c, o, c_bar
