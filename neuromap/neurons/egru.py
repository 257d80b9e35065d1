"""The EGRU cell's step (Subramoney et al. 2023), shared by the zoo module (``networks/egru.py``),
``backends.torch`` and the SpiNNaker2 model, so the arithmetic is written once: :func:`egru_state`
(gates, candidate, zoneout) then :func:`egru_events` (events, graded output, subtractive reset)."""

from __future__ import annotations

from collections.abc import Callable

import torch


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
