"""Thin ``nn.Module`` wrappers around the functional core: a layer processes a whole sequence.

    lif = LIF(beta=0.9, v_th=1.0, surrogate="fast_sigmoid", slope=25)
    spikes = lif(x)                         # x: [T, B, ...] -> spikes [T, B, ...]
    out = lif.simulate(x)                   # spikes, membrane trace [T, B, ...], final state
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from .functional import NeuronState, leaky_integrator, neuron_sequence, neuron_sequence_reference
from .params import CubaLIFParams, LIFParams
from .surrogate import Surrogate, as_surrogate

IMPLEMENTATIONS = ("fused", "reference")


class NeuronOutput(NamedTuple):
    spikes: torch.Tensor
    membrane: torch.Tensor
    state: NeuronState


def _build_params(cls: type[LIFParams], params: LIFParams | None, beta, alpha, kwargs) -> LIFParams:
    if params is not None:
        if beta is not None or alpha is not None or kwargs:
            raise ValueError("pass either params=... or keyword parameters, not both")
        if not isinstance(params, cls):
            raise ValueError(f"params must be a {cls.__name__}, got {type(params).__name__}")
        return params
    if cls is CubaLIFParams and (alpha is not None or beta is not None):
        if alpha is None or beta is None:
            raise ValueError("CubaLIF from decays needs both alpha (synapse) and beta (membrane)")
        return CubaLIFParams.from_decays(alpha, beta, **kwargs)
    if beta is not None:
        return cls.from_decay(beta, **kwargs)
    return cls(**kwargs)


class SpikingNeuron(nn.Module):
    """Base of :class:`LIF` and :class:`CubaLIF`: parameters, optional learned values, fused or reference step."""

    params_cls: type[LIFParams] = LIFParams

    def __init__(
        self,
        params: LIFParams | None = None,
        *,
        beta: float | None = None,
        alpha: float | None = None,
        size: int | tuple[int, ...] | None = None,
        surrogate: str | Surrogate = "fast_sigmoid",
        slope: float | None = None,
        learn_beta: bool = False,
        learn_threshold: bool = False,
        learn_alpha: bool = False,
        impl: str = "fused",
        **param_kwargs: Any,
    ) -> None:
        super().__init__()
        self.params = _build_params(self.params_cls, params, beta, alpha, param_kwargs)
        self.surrogate = as_surrogate(surrogate, slope)
        if impl not in IMPLEMENTATIONS:
            raise ValueError(f"impl={impl!r} is not one of {list(IMPLEMENTATIONS)}")
        self.impl = impl
        shape = () if size is None else ((size,) if isinstance(size, int) else tuple(size))
        self.size = shape
        self.beta = self._maybe_param(self.params.beta, shape, learn_beta)
        self.v_th = self._maybe_param(self.params.v_th, shape, learn_threshold)
        if isinstance(self.params, CubaLIFParams):
            self.alpha = self._maybe_param(self.params.alpha, shape, learn_alpha)
        elif learn_alpha:
            raise ValueError("learn_alpha needs a CubaLIF (LIF has no synaptic current)")

    @staticmethod
    def _maybe_param(value: float, shape: tuple[int, ...], learn: bool) -> nn.Parameter | None:
        if not learn:
            return None
        return nn.Parameter(torch.full(shape, float(value)))

    def learned_values(self) -> dict[str, Any]:
        """The learned per-neuron values as the step uses them (``beta`` / ``alpha`` clamped to [0, 1])."""
        out: dict[str, Any] = {}
        if self.beta is not None:
            out["beta"] = self.beta.clamp(0.0, 1.0)
        if self.v_th is not None:
            out["v_th"] = self.v_th
        if getattr(self, "alpha", None) is not None:
            out["alpha"] = self.alpha.clamp(0.0, 1.0)
        return out

    def decay_values(self) -> dict[str, torch.Tensor | float]:
        """Current beta / alpha / v_th (learned tensors or the params' floats), for export."""
        vals = self.learned_values()
        res: dict[str, torch.Tensor | float] = {
            "beta": vals.get("beta", self.params.beta),
            "v_th": vals.get("v_th", self.params.v_th),
        }
        if isinstance(self.params, CubaLIFParams):
            res["alpha"] = vals.get("alpha", self.params.alpha)
        return res

    def simulate(self, x: torch.Tensor, state: NeuronState | None = None) -> NeuronOutput:
        """Run over ``x [T, B, ...]``; return spikes, the membrane trace and the final state."""
        if self.impl == "reference":
            s, v, st = neuron_sequence_reference(x, self.params, self.surrogate, state, **self.learned_values())
            return NeuronOutput(s, v, st)
        s, v, st = neuron_sequence(x, self.params, self.surrogate, state, return_membrane=True, **self.learned_values())
        return NeuronOutput(s, v, st)

    def forward(self, x: torch.Tensor, state: NeuronState | None = None, return_state: bool = False):
        if self.impl == "reference":
            s, _, st = neuron_sequence_reference(x, self.params, self.surrogate, state, **self.learned_values())
        else:
            s, _, st = neuron_sequence(x, self.params, self.surrogate, state, **self.learned_values())
        return (s, st) if return_state else s

    def extra_repr(self) -> str:
        p = self.params
        return (
            f"beta={p.beta:.4g}, v_th={p.v_th}, reset={p.reset!r}, surrogate={self.surrogate.name}"
            f"({self.surrogate.effective_slope:g})"
        )


class LIF(SpikingNeuron):
    """Leaky integrate-and-fire layer over ``[T, B, ...]`` (see :class:`LIFParams`)."""

    params_cls = LIFParams


class CubaLIF(SpikingNeuron):
    """Current-based LIF layer over ``[T, B, ...]`` (see :class:`CubaLIFParams`)."""

    params_cls = CubaLIFParams


class LI(nn.Module):
    """Non-spiking leaky integrator readout: returns the membrane ``v[t] = beta v[t-1] + x[t]``."""

    def __init__(self, beta: float = 0.9, learn_beta: bool = False) -> None:
        super().__init__()
        if not (0.0 <= beta <= 1.0):
            raise ValueError(f"beta must lie in [0, 1], got {beta!r}")
        self.beta = nn.Parameter(torch.tensor(float(beta)), requires_grad=learn_beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return leaky_integrator(x, self.beta.clamp(0.0, 1.0))

    def extra_repr(self) -> str:
        return f"beta={float(self.beta):.4g}"
