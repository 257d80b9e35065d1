"""Adaptive-threshold LIF (ALIF) of the LSNN (Bellec et al. 2018, "Long short-term memory and
learning-to-learn in networks of spiking neurons", NeurIPS; eq. for ``B_j(t)``), registered in the
neuron registry so that tracing, saving, lowering, partitioning, ``backends.torch`` and SpiNNaker2
run it with no code of their own.

Per time step (the LIF of :mod:`.params` with a moving threshold; ``a`` is a decaying trace of the
neuron's own spikes, ``rho = exp(-dt / tau_adapt)`` or ``1 - dt / tau_adapt`` for Euler)::

    b[t] = v_th + beta_a * a[t-1]                 (threshold; v_th is the baseline b0)
    h[t] = beta v[t-1] + (1 - beta) v_leak + g x[t]
    s[t] = h[t] > b[t]                            (or >=)
    v[t] = h[t] - b[t] s[t]                       (reset="subtract", as the LSNN; "zero" / "none" too)
    a[t] = rho a[t-1] + (1 - rho) s[t]

Training uses the per-step autograd path (the surrogate gradient flows through ``b`` as well).

Loihi: Loihi 1's compartment has no threshold adaptation, so the Loihi backends refuse ALIF. Lava's
``ATRLIF`` process (a Loihi 2 model, ``lava.proc.atrlif``) has the same threshold dynamics
(``delta_theta = 1 - rho``, ``theta_step = beta_a (1 - rho)``) but no reset of ``v``: it adds a
decaying refractory state ``r += 2 theta`` per spike, fires on ``v - r >= theta`` and integrates a
synaptic current first, so its spikes differ from ALIF's and it is not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .functional import NeuronState, check_sequence, neuron_step
from .params import LIFParams, decay_from_tau
from .registry import NeuronModel, SpikingParams, register, spiking_from_dict, torch_overrides
from .surrogate import Surrogate, as_surrogate


@dataclass(frozen=True)
class ALIFParams(LIFParams):
    """LIF parameters plus threshold adaptation (times in s).

    Attributes (in addition to :class:`LIFParams`; ``v_th`` is the baseline threshold ``b0``):
        tau_adapt: time constant of the spike trace ``a`` (s).
        beta_a: threshold increase per unit of ``a`` (potential units); 0 gives a LIF.
    """

    tau_adapt: float = 200e-3
    beta_a: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        decay_from_tau(self.tau_adapt, self.dt, self.integrator)
        if not np.isfinite(self.beta_a) or self.beta_a < 0:
            raise ValueError(f"beta_a must be a finite number >= 0, got {self.beta_a!r}")
        if self.reset_delay:
            raise ValueError("ALIF has no delayed reset (the threshold of the reset step would be ambiguous)")

    @property
    def rho(self) -> float:
        """Per-step decay of the adaptation trace."""
        return decay_from_tau(self.tau_adapt, self.dt, self.integrator)


class ALIFState(NamedTuple):
    v: torch.Tensor
    a: torch.Tensor
    refrac: torch.Tensor | None = None


def alif_sequence(x: torch.Tensor, params: ALIFParams, surrogate: Surrogate, state: ALIFState | None = None,
                  beta: torch.Tensor | float | None = None, v_th: torch.Tensor | float | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor, ALIFState]:
    """ALIF over ``x [T, B, ...]``: ``(spikes, membrane, final state)``, differentiable (per-step)."""
    check_sequence(x)
    if state is None:
        shape = tuple(x.shape[1:])
        z = torch.zeros(shape, dtype=x.dtype, device=x.device)
        r = torch.zeros(shape, dtype=torch.int32, device=x.device) if params.refractory_steps else None
        state = ALIFState(torch.full(shape, float(params.v_leak), dtype=x.dtype, device=x.device), z, r)
    b0 = params.v_th if v_th is None else v_th
    rho = params.rho
    v, a, refrac = state
    spikes, vs = [], []
    for t in range(x.shape[0]):
        b = b0 + params.beta_a * a
        s, st, _ = neuron_step(x[t], NeuronState(v, None, refrac, None), params, surrogate, beta, b)
        v, refrac = st.v, st.refrac
        a = rho * a + (1.0 - rho) * s
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs), ALIFState(v, a, refrac)


class ALIF(nn.Module):
    """ALIF layer over ``[T, B, ...]`` (see the module docstring), learnable ``beta`` / ``v_th`` per neuron."""

    def __init__(self, params: ALIFParams | None = None, *, size: int | tuple[int, ...] | None = None,
                 surrogate: str | Surrogate = "fast_sigmoid", slope: float | None = None, learn_beta: bool = False,
                 learn_threshold: bool = False, **param_kwargs: Any) -> None:
        super().__init__()
        if params is not None and param_kwargs:
            raise ValueError("pass either params=... or keyword parameters, not both")
        self.params = params if params is not None else ALIFParams(**param_kwargs)
        if not isinstance(self.params, ALIFParams):
            raise ValueError(f"params must be ALIFParams, got {type(self.params).__name__}")
        self.surrogate = as_surrogate(surrogate, slope)
        shape = () if size is None else ((size,) if isinstance(size, int) else tuple(size))
        self.beta = nn.Parameter(torch.full(shape, self.params.beta)) if learn_beta else None
        self.v_th = nn.Parameter(torch.full(shape, float(self.params.v_th))) if learn_threshold else None

    def learned(self) -> dict[str, torch.Tensor]:
        """Learned per-neuron values in the form the step uses (``beta`` clamped to [0, 1])."""
        out = {}
        if self.beta is not None:
            out["beta"] = self.beta.clamp(0.0, 1.0)
        if self.v_th is not None:
            out["v_th"] = self.v_th
        return out

    def simulate(self, x: torch.Tensor, state: ALIFState | None = None):
        return alif_sequence(x, self.params, self.surrogate, state, **self.learned())

    def forward(self, x: torch.Tensor, state: ALIFState | None = None, return_state: bool = False):
        s, _, st = self.simulate(x, state)
        return (s, st) if return_state else s

    def extra_repr(self) -> str:
        p = self.params
        return f"beta={p.beta:.4g}, v_th={p.v_th}, rho={p.rho:.4g}, beta_a={p.beta_a}, reset={p.reset!r}"


_SURROGATE = as_surrogate("fast_sigmoid", None)  # forward passes only


def _sequence(x: torch.Tensor, params: SpikingParams, state: Any) -> tuple[torch.Tensor, Any]:
    s, _, state = alif_sequence(x, params.neuron, _SURROGATE, state, **torch_overrides(params))
    return s, state


def _from_module(m: ALIF) -> SpikingParams:
    over = {k: v.detach().cpu().numpy().astype(np.float32).reshape(-1) if v.dim() == 0 else
            v.detach().cpu().numpy().astype(np.float32) for k, v in m.learned().items()}
    return SpikingParams(m.params, **over)


MODEL = register(NeuronModel(
    "alif", "adaptive-threshold LIF (Bellec et al. 2018)", SpikingParams, state=("v", "a"), spiking=True,
    nir_type="neuromap.Neuron", sequence=_sequence, per_neuron=("beta", "v_th"), parse=spiking_from_dict,
    module_type=ALIF, from_module=_from_module))
