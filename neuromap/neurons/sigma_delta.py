"""Sigma-delta neurons (Loihi 2's graded-spike mode for deep networks), registered in the neuron
registry as kind ``"sigma_delta"``.

A sigma-delta layer sends the *change* of its activation, not the activation: the sender's
**delta encoder** compares the new activation with what the receivers already know and sends the
difference as one graded spike when it reaches the threshold; the receiver's **sigma decoder** adds
the graded spikes up again. With ReLU activations a network of them computes what a ReLU network
computes, and a static input costs messages only while it changes. This is Lava's ``Sigma`` /
``Delta`` / ``SigmaDelta`` (lava-nc ``lava/proc/sdn/models.py``) and SLAYER's
``neuron.sigma_delta`` (lava-dl ``slayer/axon/delta.py`` for the encoder and its gradient).

Per time step, for the input ``z[t]`` (the decoded, full-valued pre-activation: the graph's edges
carry decoded values, so an ``Affine`` bias is added once per step, as Lava adds the bias after the
sigma decoder)::

    act[t]   = relu(z[t])           (activation="relu"; "identity" for the input encoder)
    delta[t] = act[t] - act[t-1] + r[t-1]
    s[t]     = delta[t] if |delta[t]| >= vth else 0        (the graded spike; cum_error: |e[t]|)
    r[t]     = delta[t] - s[t]                              (the residue not yet sent)
    y[t]     = y[t-1] + s[t] = act[t] - r[t]                (what the receivers decode)

The layer's output is ``y``, the decoded value; its messages are ``s[t] = y[t] - y[t-1]``
(:func:`delta_messages`), one graded spike per non-zero change. With ``cum_error=True`` the test is
on the accumulated error ``e[t] = e[t-1] + delta[t]`` (reset where a spike goes out), as Lava's.

Training: the threshold is a straight-through quantiser, ``dy / d act = 1`` (the residue carries no
gradient): the composition of SLAYER's delta encoder gradient (``grad_delta = grad_out``) and the
receiver's sigma. Loihi 2 fixed point: :mod:`neuromap.backends.loihi.fixed_point` (24-bit state,
``state_exp`` / ``spike_exp`` as Lava's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .functional import check_sequence
from .registry import NeuronModel, register

ACTIVATIONS = ("relu", "identity")


@dataclass(frozen=True)
class SigmaDeltaParams:
    """A sigma-delta population.

    Attributes:
        vth: threshold on the change (activation units, >= 0; 0 sends every non-zero change).
        activation: ``"relu"`` (a sigma-delta ReLU layer) or ``"identity"`` (the input's delta encoder).
        cum_error: test the accumulated error instead of the change (Lava's ``cum_error``).
        dt: time step (s), for the graph's clock only.
    """

    vth: float = 0.0
    activation: str = "relu"
    cum_error: bool = False
    dt: float = 1e-3

    def __post_init__(self) -> None:
        if not (isinstance(self.vth, (int, float)) and np.isfinite(self.vth) and self.vth >= 0):
            raise ValueError(f"vth must be a finite number >= 0, got {self.vth!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is not one of {list(ACTIVATIONS)}")
        if not isinstance(self.cum_error, bool):
            raise ValueError(f"cum_error must be a bool, got {self.cum_error!r}")
        if not (isinstance(self.dt, (int, float)) and np.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt must be a positive number of seconds, got {self.dt!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"vth": float(self.vth), "activation": self.activation, "cum_error": self.cum_error, "dt": self.dt}


def params_from_dict(d: dict[str, Any]) -> SigmaDeltaParams:
    """Inverse of :meth:`SigmaDeltaParams.to_dict` (unknown keys are an error)."""
    extra = set(d) - {"vth", "activation", "cum_error", "dt"}
    if extra:
        raise ValueError(f"unknown sigma-delta parameters {sorted(extra)}")
    return SigmaDeltaParams(float(d.get("vth", 0.0)), str(d.get("activation", "relu")), bool(d.get("cum_error", False)),
                            float(d.get("dt", 1e-3)))


class SigmaDeltaState(NamedTuple):
    """Per neuron: the last activation, the residue not yet sent, the accumulated error and the
    decoded output."""

    act: torch.Tensor
    residue: torch.Tensor
    error: torch.Tensor
    y: torch.Tensor


def initial_state(like: torch.Tensor) -> SigmaDeltaState:
    z = torch.zeros_like(like)
    return SigmaDeltaState(z, z, z, z)


def activation(z: torch.Tensor, params: SigmaDeltaParams) -> torch.Tensor:
    return torch.relu(z) if params.activation == "relu" else z


def delta_encode(act: torch.Tensor, state: SigmaDeltaState, params: SigmaDeltaParams
                 ) -> tuple[torch.Tensor, SigmaDeltaState]:
    """One step of the delta encoder: ``(s, state)``, the graded spike ``s`` (zero where nothing is
    sent) of the change of ``act``; differentiable straight through (``ds / d act = 1`` where sent)."""
    with torch.no_grad():
        delta = act - state.act + state.residue
        if params.cum_error:
            error = state.error + delta
            fire = error.abs() >= params.vth
            error = torch.where(fire, torch.zeros_like(error), error)
        else:
            error = state.error
            fire = delta.abs() >= params.vth
        residue = torch.where(fire, torch.zeros_like(delta), delta)
    y = act - residue  # the decoded value; the residue is a constant for the gradient (straight through)
    return y - state.y, SigmaDeltaState(act.detach(), residue, error, y)


def sigma_delta_step(z: torch.Tensor, state: SigmaDeltaState | None, params: SigmaDeltaParams
                     ) -> tuple[torch.Tensor, SigmaDeltaState]:
    """One step: ``(y, state)``, the decoded output ``y[t]`` for the pre-activation ``z[t]``."""
    state = initial_state(z) if state is None else state
    _, state = delta_encode(activation(z, params), state, params)
    return state.y, state


def sigma_delta_sequence(x: torch.Tensor, params: SigmaDeltaParams, state: SigmaDeltaState | None = None
                         ) -> tuple[torch.Tensor, SigmaDeltaState]:
    """The layer over ``x [T, B, ...]``: ``(y [T, B, ...], final state)``."""
    check_sequence(x)
    ys = []
    for t in range(x.shape[0]):
        y, state = sigma_delta_step(x[t], state, params)
        ys.append(y)
    return torch.stack(ys), state


def sigma_decode(messages: torch.Tensor) -> torch.Tensor:
    """The receiver's sigma: the running sum of graded spikes ``[T, ...]`` over time."""
    return torch.cumsum(messages, dim=0)


def delta_messages(y: torch.Tensor) -> torch.Tensor:
    """The graded spikes a sigma-delta population sent, from its decoded output ``y [T, ...]``: the
    change per step (the first step's change is from 0)."""
    return torch.diff(y, dim=0, prepend=torch.zeros_like(y[:1]))


class SigmaDelta(nn.Module):
    """A sigma-delta layer over ``[T, B, ...]`` (see the module docstring); returns the decoded output."""

    def __init__(self, params: SigmaDeltaParams | None = None, **param_kwargs: Any) -> None:
        super().__init__()
        if params is not None and param_kwargs:
            raise ValueError("pass either params=... or keyword parameters, not both")
        self.params = params if params is not None else SigmaDeltaParams(**param_kwargs)
        if not isinstance(self.params, SigmaDeltaParams):
            raise ValueError(f"params must be SigmaDeltaParams, got {type(self.params).__name__}")

    def learned(self) -> dict[str, torch.Tensor]:
        """Learned per-neuron values (none: the threshold is fixed)."""
        return {}

    def forward(self, x: torch.Tensor, state: SigmaDeltaState | None = None, return_state: bool = False):
        y, state = sigma_delta_sequence(x, self.params, state)
        return (y, state) if return_state else y

    def extra_repr(self) -> str:
        p = self.params
        return f"vth={p.vth}, activation={p.activation!r}, cum_error={p.cum_error}"


def _sequence(x: torch.Tensor, params: SigmaDeltaParams, state: Any) -> tuple[torch.Tensor, Any]:
    return sigma_delta_sequence(x, params, state)


MODEL = register(NeuronModel(
    "sigma_delta", "sigma-delta neuron (Loihi 2 SDNN): graded spikes carry the change of its activation",
    SigmaDeltaParams, state=("sigma", "act", "residue"), spiking=False, nir_type="neuromap.Neuron",
    sequence=_sequence, parse=params_from_dict, module_type=SigmaDelta,
    from_module=lambda m: m.params, messages=delta_messages, graded=True))
