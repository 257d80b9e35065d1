"""Information-enhanced LIF (IE-LIF) of the Quantized Spike-driven Transformer (Qiu et al., ICLR 2025,
"Quantized Spike-driven Transformer"; code bollossom/QSD-Transformer), registered in the neuron
registry as kind ``"ielif"``.

What the sources state. The paper (abstract) introduces the IE-LIF at the "lower level" of its
bi-level strategy to rectify the information distribution of the quantised spike-driven
self-attention (Q-SDSA), whose bimodal output distribution causes "spike information distortion".
Its public review (ICLR 2025, OpenReview) describes the neuron as emitting *multi-bit* (integer)
spikes in training, re-expressed at inference as binary spikes over virtual time steps (4 in the
implementation), so the network stays spike-driven. The released code implements this neuron as
``Multispike``: ``S = floor(clip(4 x, 0, 4) + 1/2) / 4`` (integer spikes 0..4, round half up; the
attention neuron divides by 2), with a rectangular straight-through gradient on ``0 < 4 x < 4``, and
no membrane state. **The paper's exact IE-LIF equations (its rectification of the membrane
distribution) are not in the released code and were not available here**: this module implements the
closest documented version, the released integer-spike neuron, with a LIF membrane around it (our
addition, so it is a LIF over real time steps):

Per time step (``beta``, input gain ``g`` and ``v_leak`` as :class:`~neuromap.neurons.LIFParams`;
``theta = v_th`` is the spike quantum; ``D = levels``)::

    h[t] = beta v[t-1] + (1 - beta) v_leak + g x[t]
    k[t] = clip(floor(h[t] / theta + 1/2), 0, D)        integer spike count (round half up, as the code)
    v[t] = h[t] - k[t] theta   (reset="subtract": the emitted charge leaves; "zero": v_reset when k > 0;
                                "none": v = h)
    out[t] = k[t] * out_scale

Backward: ``d out / d h = out_scale / theta`` where ``0 < h / theta < D``, else 0 (the released code's
rectangular window). With ``theta = 1/4``, ``D = 4``, ``out_scale = 1/4`` (``1/2`` for attention),
``decay_input=False`` and one time step it is the released ``Multispike`` (``Multispike_att``) exactly.

Inference as binary spikes: :func:`virtual_spikes` expands ``k`` into ``D`` binary spikes (the first
``k`` of ``D`` virtual steps); a synapse summing them sees ``k`` spikes, the same input
``W k out_scale`` (one ``out_scale`` folded into ``W``). Loihi's compartment has no integer spikes,
so the Loihi backends refuse the kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .functional import check_sequence
from .params import LIFParams
from .registry import NeuronModel, SpikingParams, register, spiking_from_dict, torch_overrides


@dataclass(frozen=True)
class IELIFParams(LIFParams):
    """LIF parameters plus the integer-spike quantisation (``v_th`` is the spike quantum ``theta``).

    Attributes (in addition to :class:`LIFParams`):
        levels: largest spike count per step ``D`` (integer spikes ``0..D``; ``D = 1`` is binary).
        out_scale: output value of one spike (potential units per spike).
    """

    levels: int = 4
    out_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) or self.levels < 1:
            raise ValueError(f"levels must be an integer >= 1, got {self.levels!r}")
        if not (isinstance(self.out_scale, (int, float)) and np.isfinite(self.out_scale) and self.out_scale > 0):
            raise ValueError(f"out_scale must be a finite number > 0, got {self.out_scale!r}")
        if not (self.v_th > 0):
            raise ValueError(f"IE-LIF needs a spike quantum v_th > 0, got {self.v_th}")
        if self.refractory_steps or self.reset_delay:
            raise ValueError("IE-LIF has no refractory period and no delayed reset")


class _IntegerSpike(torch.autograd.Function):
    """``k = clip(floor(u + 1/2), 0, D)``; gradient 1 where ``0 < u < D`` (bollossom/QSD-Transformer)."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, levels: int) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.levels = levels
        return torch.floor(u.clamp(0.0, float(levels)) + 0.5).clamp(max=float(levels))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        return grad * ((u > 0) & (u < ctx.levels)).to(grad.dtype), None


def ielif_sequence(x: torch.Tensor, params: IELIFParams, state: torch.Tensor | None = None,
                   beta: torch.Tensor | float | None = None, v_th: torch.Tensor | float | None = None,
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """IE-LIF over ``x [T, B, ...]``: ``(out, membrane, final membrane)``, differentiable."""
    check_sequence(x)
    b = params.beta if beta is None else beta
    theta = params.v_th if v_th is None else v_th
    gain = (1.0 - b) if params.decay_input else 1.0
    v = torch.full(x.shape[1:], float(params.v_leak), dtype=x.dtype, device=x.device) if state is None else state
    outs, vs = [], []
    for t in range(x.shape[0]):
        h = b * v + (1.0 - b) * params.v_leak + gain * x[t]
        k = _IntegerSpike.apply(h / theta, params.levels)
        kr = k.detach() if params.detach_reset else k
        if params.reset == "subtract":
            v = h - kr * theta
        elif params.reset == "zero":
            v = torch.where(kr > 0, torch.full_like(h, float(params.v_reset)), h)
        else:
            v = h
        outs.append(k * params.out_scale)
        vs.append(v)
    return torch.stack(outs), torch.stack(vs), v


def virtual_spikes(counts: torch.Tensor, levels: int) -> torch.Tensor:
    """Binary spikes ``[levels, *counts.shape]`` over virtual time steps whose sum is ``counts``
    (integer spikes ``0..levels``): step ``j`` fires where ``j < counts``."""
    c = counts.detach()
    if torch.any(c < 0) or torch.any(c > levels) or torch.any(c != torch.round(c)):
        raise ValueError(f"counts must be integers in [0, {levels}]")
    steps = torch.arange(levels, device=c.device).reshape(-1, *([1] * c.dim()))
    return (steps < c.unsqueeze(0)).to(counts.dtype)


class IELIF(nn.Module):
    """IE-LIF layer over ``[T, B, ...]`` (see the module docstring)."""

    def __init__(self, params: IELIFParams | None = None, **param_kwargs: Any) -> None:
        super().__init__()
        if params is not None and param_kwargs:
            raise ValueError("pass either params=... or keyword parameters, not both")
        self.params = params if params is not None else IELIFParams(**param_kwargs)
        if not isinstance(self.params, IELIFParams):
            raise ValueError(f"params must be IELIFParams, got {type(self.params).__name__}")

    @classmethod
    def like(cls, lif: nn.Module, levels: int = 4, out_scale: float = 1.0, reset: str = "subtract") -> IELIF:
        """An IE-LIF with the membrane (decay, gain, threshold as quantum) of the LIF module ``lif``."""
        d = {k: v for k, v in lif.params.to_dict().items() if k in LIFParams.__dataclass_fields__}
        d.update(levels=levels, out_scale=out_scale, reset=reset)
        return cls(IELIFParams(**d))

    def learned(self) -> dict[str, torch.Tensor]:
        """Learned per-neuron values (none: IE-LIF keeps its parameters fixed)."""
        return {}

    learned_values = learned  # the attention tracer's name for it

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, return_state: bool = False):
        out, _, v = ielif_sequence(x, self.params, state)
        return (out, v) if return_state else out

    def extra_repr(self) -> str:
        p = self.params
        return f"levels={p.levels}, quantum={p.v_th}, out_scale={p.out_scale}, beta={p.beta:.4g}, reset={p.reset!r}"


def _sequence(x: torch.Tensor, params: SpikingParams, state: Any) -> tuple[torch.Tensor, Any]:
    out, _, v = ielif_sequence(x, params.neuron, state, **torch_overrides(params))
    return out, v


def _from_module(m: IELIF) -> SpikingParams:
    return SpikingParams(m.params)


MODEL = register(NeuronModel(
    "ielif", "information-enhanced LIF (Qiu et al. 2025): integer spikes 0..levels", SpikingParams, state=("v",),
    spiking=False, nir_type="neuromap.Neuron", sequence=_sequence, per_neuron=("beta", "v_th"),
    parse=spiking_from_dict,
    module_type=IELIF, from_module=_from_module, params_class=IELIFParams))
