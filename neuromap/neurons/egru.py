"""The EGRU cell's gated state update (Subramoney et al. 2023), shared by the zoo module and every
backend that runs it, so the arithmetic is written once."""

from __future__ import annotations

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
