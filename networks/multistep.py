"""Shared pieces of the spiking zoo models: multi-step wrappers, input checks, neuron factories.

BICLab-style models apply every conv / BatchNorm to the time-flattened tensor ``[T*B, ...]`` (so BN
statistics are shared across time steps) and every neuron to the time-major ``[T, B, ...]`` tensor.
:class:`MultiStep` is that flattening, as a transparent wrapper a tracer can look through.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from neuromap.neurons import LIF
from neuromap.neurons.presets import snntorch_leaky, spikingjelly_lif

NEURON_STYLES = ("spikingjelly", "snntorch")


class MultiStep(nn.Module):
    """Apply a stateless module to ``[T, B, ...]`` as ``[T*B, ...]`` and restore the time axis."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = layers[0] if len(layers) == 1 else nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        y = self.layers(x.flatten(0, 1))
        return y.reshape(T, B, *y.shape[1:])


def neuron_factory(style: str = "spikingjelly", tau: float = 2.0, beta: float = 0.5, **kwargs) -> Callable[..., LIF]:
    """``make(v_th=1.0) -> LIF`` in the given convention (``"spikingjelly"``: ``tau``, hard reset,
    ``>=``, sigmoid(4); ``"snntorch"``: ``beta``, delayed subtract reset, ``>``, atan(2))."""
    if style not in NEURON_STYLES:
        raise ValueError(f"neuron={style!r} is not one of {list(NEURON_STYLES)}")

    def make(v_th: float = 1.0) -> LIF:
        if style == "spikingjelly":
            return spikingjelly_lif(tau=tau, v_th=v_th, **kwargs)
        return snntorch_leaky(beta=beta, threshold=v_th, **kwargs)

    return make


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_heads(dim: int, heads: int, dim_name: str = "dim") -> None:
    check_positive_int("heads", heads)
    if dim % heads:
        raise ValueError(f"heads={heads} does not divide {dim_name}={dim}")


def check_input(x, shape_tail: tuple[int | None, ...], model: str, layout: str, max_steps: int | None = None) -> None:
    """Check a time-major input ``[T, B, *shape_tail]`` (``None`` = any size) with a clear message."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{model} expects a torch.Tensor of shape {layout}, got {type(x).__name__}")
    if x.dim() != 2 + len(shape_tail):
        raise ValueError(f"{model} expects x of rank {2 + len(shape_tail)} with shape {layout}, got shape {tuple(x.shape)}")
    for i, want in enumerate(shape_tail):
        if want is not None and x.shape[2 + i] != want:
            raise ValueError(f"{model} expects x of shape {layout}; dimension {2 + i} is {x.shape[2 + i]}, not {want}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{model} got an empty time or batch axis: shape {tuple(x.shape)}")
    if max_steps is not None and x.shape[0] > max_steps:
        raise ValueError(f"{model}: sequence length T={x.shape[0]} exceeds the configured maximum max_len={max_steps}")
    if not x.is_floating_point():
        raise ValueError(f"{model} expects a floating-point tensor, got {x.dtype}")
