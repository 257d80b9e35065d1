"""Surrogate gradients: the Heaviside spike in the forward pass, a smooth derivative in the backward.

Each surrogate is a pure function ``d(x, slope) -> dS/dx`` of ``x = h - v_th``; the registry maps a
name to it and its default slope, so a model picks one by name::

    Surrogate("fast_sigmoid", slope=25)   # SuperSpike, snnTorch's fast_sigmoid
    Surrogate("atan", slope=2)            # snnTorch default, SpikeGPT
    Surrogate("sigmoid", slope=4)         # SpikingJelly default (BICLab models)
    Surrogate("triangle", slope=1)        # EGRU pseudo-derivative: max(0, 1 - slope*|x|)
    Surrogate("straight_through")         # derivative 1 everywhere
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

SurrogateFn = Callable[[torch.Tensor, float], torch.Tensor]


def fast_sigmoid(x: torch.Tensor, slope: float) -> torch.Tensor:
    """SuperSpike (Zenke & Ganguli 2018): ``1 / (slope*|x| + 1)^2``; peak 1 at threshold."""
    return 1.0 / (slope * x.abs() + 1.0) ** 2


def atan(x: torch.Tensor, slope: float) -> torch.Tensor:
    """Arctangent: ``(slope/2) / (1 + (pi/2 * slope * x)^2)``; peak ``slope/2``."""
    return (slope / 2.0) / (1.0 + (math.pi / 2.0 * slope * x) ** 2)


def sigmoid(x: torch.Tensor, slope: float) -> torch.Tensor:
    """Derivative of ``sigmoid(slope*x)``: ``slope * s (1 - s)``; peak ``slope/4``."""
    s = torch.sigmoid(slope * x)
    return slope * s * (1.0 - s)


def triangle(x: torch.Tensor, slope: float) -> torch.Tensor:
    """Triangle of half-width ``1/slope`` and height 1: ``max(0, 1 - slope*|x|)``."""
    return torch.clamp(1.0 - slope * x.abs(), min=0.0)


def straight_through(x: torch.Tensor, slope: float) -> torch.Tensor:
    """Straight-through estimator: derivative 1 everywhere (``slope`` is ignored)."""
    return torch.ones_like(x)


SURROGATES: dict[str, tuple[SurrogateFn, float]] = {
    "fast_sigmoid": (fast_sigmoid, 25.0),
    "superspike": (fast_sigmoid, 100.0),
    "atan": (atan, 2.0),
    "sigmoid": (sigmoid, 4.0),
    "triangle": (triangle, 1.0),
    "straight_through": (straight_through, 1.0),
}


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate derivative with its slope (sharpness) parameter."""

    name: str = "fast_sigmoid"
    slope: float | None = None

    def __post_init__(self) -> None:
        if self.name not in SURROGATES:
            raise ValueError(f"surrogate={self.name!r} is not one of {sorted(SURROGATES)}")
        if self.slope is not None and (not math.isfinite(self.slope) or self.slope <= 0):
            raise ValueError(f"surrogate slope must be a positive finite number, got {self.slope!r}")

    @property
    def effective_slope(self) -> float:
        return SURROGATES[self.name][1] if self.slope is None else float(self.slope)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        """``dS/dx`` at ``x = h - v_th``."""
        return SURROGATES[self.name][0](x, self.effective_slope)


def as_surrogate(surrogate: str | Surrogate, slope: float | None = None) -> Surrogate:
    """Accept a name or a :class:`Surrogate`."""
    if isinstance(surrogate, Surrogate):
        return surrogate if slope is None else Surrogate(surrogate.name, slope)
    if not isinstance(surrogate, str):
        raise ValueError(f"surrogate must be a name in {sorted(SURROGATES)} or a Surrogate, got {surrogate!r}")
    return Surrogate(surrogate, slope)


class _SpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate, inclusive: bool) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype) if inclusive else (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None, None


def spike(x: torch.Tensor, surrogate: Surrogate, threshold_rule: str = ">") -> torch.Tensor:
    """Heaviside of ``x = h - v_th`` with the surrogate's derivative in the backward pass."""
    return _SpikeFn.apply(x, surrogate, threshold_rule == ">=")
