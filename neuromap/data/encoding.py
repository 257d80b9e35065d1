"""Spike encoders: turn real-valued data ``[B, ...]`` into time-major sequences ``[T, B, ...]``.

All encoders are deterministic given a ``torch.Generator`` or an integer seed.
"""

from __future__ import annotations

import torch

ENCODINGS = ("rate", "latency", "current", "delta")


def _check_values(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch.Tensor")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf values")


def _check_steps(steps: int) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")


def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g


def rate(x: torch.Tensor, steps: int, gain: float = 1.0, seed: int | torch.Generator | None = 0) -> torch.Tensor:
    """Bernoulli (Poisson-like) rate code: spike with probability ``clamp(gain * x, 0, 1)`` each step."""
    _check_values(x)
    _check_steps(steps)
    p = (gain * x).clamp(0.0, 1.0)
    u = torch.rand((steps, *x.shape), generator=_generator(seed), dtype=x.dtype)
    return (u < p.unsqueeze(0)).to(x.dtype)


def rate_rows(x: torch.Tensor, steps: int, rows: torch.Tensor, gain: float = 1.0,
              seed: int | torch.Generator | None = 0) -> torch.Tensor:
    """``rate(x, steps, gain, seed)[:, rows]``, without encoding the other rows: the random numbers are
    drawn one step at a time in :func:`rate`'s order (so the spikes are identical) and only ``rows``
    are kept. Memory: ``steps x len(rows)`` samples instead of ``steps x len(x)``."""
    _check_values(x)
    _check_steps(steps)
    rows = torch.as_tensor(rows, dtype=torch.long)
    p = (gain * x[rows]).clamp(0.0, 1.0)
    g = _generator(seed)
    out = torch.empty((steps, *p.shape), dtype=x.dtype)
    for t in range(steps):
        out[t] = (torch.rand(x.shape, generator=g, dtype=x.dtype)[rows] < p).to(x.dtype)
    return out


def latency(x: torch.Tensor, steps: int, threshold: float = 0.01, linear: bool = True) -> torch.Tensor:
    """Time-to-first-spike: one spike per input, earlier for larger values in [0, 1]; values below
    ``threshold`` never spike. ``linear``: ``t = (1 - x) (steps - 1)``."""
    _check_values(x)
    _check_steps(steps)
    if not linear:
        raise ValueError("only linear latency coding is implemented; pass linear=True")
    xc = x.clamp(0.0, 1.0)
    t_spike = torch.round((1.0 - xc) * (steps - 1)).long()
    out = torch.zeros((steps, *x.shape), dtype=x.dtype)
    fire = xc >= threshold
    out.scatter_(0, t_spike.unsqueeze(0), fire.to(x.dtype).unsqueeze(0))
    return out


def current(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Direct (current) encoding: the analog value is presented unchanged at every step."""
    _check_values(x)
    _check_steps(steps)
    return x.unsqueeze(0).expand(steps, *x.shape).contiguous()


def delta(x: torch.Tensor, threshold: float = 0.1, off_spikes: bool = True) -> torch.Tensor:
    """Delta modulation of a time-major signal ``x [T, B, ...]``: a spike when the signal moved by
    more than ``threshold`` since the last spike (ON channel, and OFF channel stacked on a new
    last axis when ``off_spikes``). Output ``[T, B, ..., 2]`` or ``[T, B, ...]``."""
    _check_values(x)
    if x.dim() < 2:
        raise ValueError(f"delta encoding needs a time-major signal [T, B, ...]; got shape {tuple(x.shape)}")
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}")
    ref = x[0].clone()
    on = torch.zeros_like(x)
    off = torch.zeros_like(x)
    for t in range(1, x.shape[0]):
        diff = x[t] - ref
        up = diff >= threshold
        down = diff <= -threshold
        on[t] = up.to(x.dtype)
        off[t] = down.to(x.dtype)
        ref = torch.where(up | down, x[t], ref)
    return torch.stack([on, off], dim=-1) if off_spikes else on


def encode(x: torch.Tensor, encoding: str, steps: int, seed: int | torch.Generator | None = 0) -> torch.Tensor:
    """Dispatch by name (``rate``, ``latency``, ``current``) for static inputs ``[B, ...]``."""
    if encoding == "rate":
        return rate(x, steps, seed=seed)
    if encoding == "latency":
        return latency(x, steps)
    if encoding == "current":
        return current(x, steps)
    raise ValueError(f"encoding={encoding!r} is not one of ['rate', 'latency', 'current'] for static data")
