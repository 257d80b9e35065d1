"""The neuron kinds the SpiNNaker2 model implements, per numerics (``fp32``: bit-identical to
``backends.torch``; ``s16.15``: fixed point, :mod:`.numerics`), each registered with
``@implements(kind, numerics=...)`` (Lava's process-model idea) on the PE code that runs it. A PE is
programmable, so every kind with a registry step also runs in fp32 (``ANY_STEP``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from neuromap.neurons.egru import egru_events, egru_state
from neuromap.neurons.functional import neuron_sequence
from neuromap.neurons.params import CubaLIFParams
from neuromap.neurons.registry import li_sequence
from neuromap.neurons.surrogate import as_surrogate

from ..base import ANY_STEP, BackendError, Implementations
from . import numerics as nx_

IMPLEMENTATIONS = Implementations("spinnaker2")
implements = IMPLEMENTATIONS.implements


def _per_neuron(v: Any, shape: tuple[int, ...], n: int) -> torch.Tensor:
    a = np.asarray(v, dtype=np.float32)
    if a.size == 1:
        return torch.from_numpy(a.reshape(()).copy()) if a.ndim == 0 else torch.from_numpy(a.copy())
    return torch.from_numpy(np.broadcast_to(a, shape).reshape(n).copy())


@implements("lif", numerics="fp32")
@implements("lif", numerics="s16.15")
@implements("cuba", numerics="fp32")
@implements("cuba", numerics="s16.15")
class _LIF:
    """LIF / CuBa-LIF: fp32 through :func:`neuron_sequence` (the one discretisation), s16.15 in integers."""

    def __init__(self, pop, fix: bool) -> None:
        self.params = _require(pop).neuron
        self.fix, self.n = fix, pop.size
        self.surrogate = as_surrogate("fast_sigmoid", None)
        self.over = {k: _per_neuron(v, pop.shape, pop.size) for k, v in pop.params.overrides().items()}
        if fix:
            P = self.params
            beta = self.over["beta"].double() if "beta" in self.over else torch.tensor(P.beta, dtype=torch.float64)
            self.beta_q = nx_.decay_fix(beta)
            self.gain_q = nx_.decay_fix(1.0 - beta) if P.decay_input else None
            self.leak_q = nx_.to_fix((1.0 - beta) * P.v_leak)
            vth = self.over["v_th"].double() if "v_th" in self.over else torch.tensor(P.v_th, dtype=torch.float64)
            self.vth_q = nx_.to_fix(vth)
            self.vreset_q = nx_.to_fix(P.v_reset)
            self.cuba = isinstance(P, CubaLIFParams)
            if self.cuba:
                alpha = self.over["alpha"].double() if "alpha" in self.over else torch.tensor(P.alpha, dtype=torch.float64)
                self.alpha_q = nx_.decay_fix(alpha)

    def run(self, x: torch.Tensor, state):
        if not self.fix:
            s, _, state = neuron_sequence(x, self.params, self.surrogate, state, **self.over)
            return s, state
        P = self.params
        B = x.shape[1]
        if state is None:
            z = torch.zeros(B, self.n, dtype=torch.int64)
            state = (nx_.to_fix(P.v_leak) + z, z.clone(), z.clone(), z.clone())
        v, i, refrac, s_prev = state
        out = torch.empty(x.shape, dtype=torch.float32)
        for t in range(x.shape[0]):
            cur = x[t]
            if self.cuba:
                i = nx_.sat32(nx_.mul_decay(i, self.alpha_q) + cur)
                cur = i
            if self.gain_q is not None:
                cur = nx_.mul_decay(cur, self.gain_q)
            h = nx_.sat32(nx_.mul_decay(v, self.beta_q) + self.leak_q + cur)
            r = None  # snnTorch's immediate reset: the signal from the stored membrane (params.reset_signal)
            if P.reset_delay and P.reset == "zero":
                h = torch.where(s_prev > 0, self.vreset_q, h)
            elif P.reset_delay:
                h = nx_.sat32(h - self.vth_q * s_prev)
            elif P.reset_signal == "membrane":
                r = (v > self.vth_q).to(torch.int64)
                h = nx_.sat32(h - self.vth_q * r)
            active = None
            if P.refractory_steps:
                active = refrac == 0
                h = torch.where(active, h, self.vreset_q)
            s = (h >= self.vth_q) if P.threshold_rule == ">=" else (h > self.vth_q)
            if active is not None:
                s = s & active
                refrac = torch.where(s, torch.full_like(refrac, P.refractory_steps), (refrac - 1).clamp(min=0))
            si = s.to(torch.int64)
            if P.reset_delay or P.reset == "none":
                v = h
            elif r is not None:
                v = nx_.sat32(h - self.vth_q * (si - r))
            elif P.reset == "subtract":
                v = h - self.vth_q * si
            else:
                v = torch.where(s, self.vreset_q, h)
            s_prev = si
            out[t] = s.to(torch.float32)
        return out, (v, i, refrac, s_prev)


@implements("li", numerics="fp32")
@implements("li", numerics="s16.15")
@implements("cubali", numerics="fp32")
@implements("cubali", numerics="s16.15")
class _LI:
    """LI / CubaLI / I (a graded readout): fp32 through the registry's step, s16.15 in integers
    (per-neuron values allowed)."""

    dense_output = True  # a real value every step: dense projections from it run on the MAC array

    def __init__(self, pop, fix: bool) -> None:
        self.p, self.shape = _require(pop), pop.shape
        self.fix, self.n = fix, pop.size
        if fix:
            vals = {k: torch.from_numpy(self.p.values(k, pop.shape).reshape(-1)) for k in ("beta", "gain", "v_leak")}
            self.beta_q = nx_.decay_fix(vals["beta"])
            self.leak_q = nx_.to_fix((1.0 - vals["beta"]) * vals["v_leak"])
            self.v0 = nx_.to_fix(vals["v_leak"])
            self.gain_q = None if bool((vals["gain"] == 1.0).all()) else nx_.to_fix(vals["gain"])
            self.alpha_q = None if self.p.alpha is None else nx_.decay_fix(
                torch.from_numpy(self.p.values("alpha", pop.shape).reshape(-1)))

    def run(self, x: torch.Tensor, state):
        if not self.fix:
            return li_sequence(x, self.p, state, self.shape)
        zeros = torch.zeros((x.shape[1], self.n), dtype=torch.int64)
        v, i = (self.v0 + zeros, zeros.clone()) if state is None else state
        out = torch.empty(x.shape, dtype=torch.float32)
        for t in range(x.shape[0]):
            cur = x[t]
            if self.alpha_q is not None:
                i = nx_.sat32(nx_.mul_decay(i, self.alpha_q) + cur)
                cur = i
            g = cur if self.gain_q is None else nx_.round_shift(cur * self.gain_q, nx_.FRAC)
            v = nx_.sat32(nx_.mul_decay(v, self.beta_q) + self.leak_q + g)
            out[t] = nx_.to_float(v)
        return out, (v, i)


@implements("identity", numerics="fp32")
@implements("identity", numerics="s16.15")
class _Identity:
    """Passes its summed input on (saturated to 32 bits in s16.15)."""

    dense_output = True

    def __init__(self, pop, fix: bool) -> None:
        self.fix = fix

    def run(self, x: torch.Tensor, state):
        return (nx_.to_float(nx_.sat32(x)) if self.fix else x), state


@implements("egru", numerics="fp32")
@implements("egru", numerics="s16.15")
class _EGRU:
    """EGRU layer (networks/egru.py): gates from the input group (all steps) and the recurrent group
    (previous events); ``c``, events ``y = o c`` and the subtractive reset, exactly as the zoo cell."""

    gated = True  # its incoming projections are z, r, g gate groups, run step by step (Simulator._egru_step)

    def __init__(self, pop, fix: bool) -> None:
        self.fix, self.n = fix, pop.size
        p = _require(pop)
        self.theta = torch.from_numpy(np.asarray(p.theta, dtype=np.float32))
        self.zoneout = float(p.zoneout)
        if fix:
            self.theta = nx_.to_float(nx_.to_fix(self.theta))

    def step(self, gx: torch.Tensor, gh: torch.Tensor, state):
        c = egru_state(gx, gh, state[0], self.zoneout)
        if self.fix:
            c = nx_.to_float(nx_.to_fix(c))
        y, _, c_bar = egru_events(c, self.theta)
        return y, (c_bar,)


@implements(ANY_STEP, numerics="fp32")
class _Registered:
    """A kind run by its registry step (:attr:`NeuronModel.sequence`) in fp32, e.g. ALIF: the
    population's flat ``[T, B, n]`` input is viewed in the neuron shape the step broadcasts against
    (a PE is programmable: any kind with a functional step runs with no further code)."""

    def __init__(self, pop, fix: bool) -> None:
        self.pop, self.params = pop, _require(pop)

    def run(self, x: torch.Tensor, state):
        T, B = x.shape[:2]
        out, state = self.pop.model.sequence(x.reshape(T, B, *self.pop.shape), self.params, state)
        return out.reshape(T, B, -1).to(torch.float32), state


def _require(pop):
    if pop.params is None:
        raise BackendError(f"population {pop.name!r} ({pop.kind}) has no neuron parameters; the SpiNNaker2 model "
                           "needs them (trace the model, or import NIR with a convention)")
    return pop.params


def model(pop, numerics: str):
    """The PE code for population ``pop`` in ``numerics`` (``fp32`` / ``s16.15``); a kind the
    SpiNNaker2 model does not implement in those numerics raises ``BackendError`` naming it."""
    return IMPLEMENTATIONS.get(pop, numerics)(pop, numerics == "s16.15")


def fp32_lif_params(impl) -> Any:
    """The LIF / CuBa parameters of PE code ``impl`` when it is fp32 with scalar parameters (what the
    compiled recurrent loop, :mod:`neuromap.neurons.recurrent`, can run), else None."""
    if isinstance(impl, _LIF) and not impl.fix and not impl.over:
        return impl.params
    return None


def dense_output(pop) -> bool:
    """Whether ``pop`` outputs a real value every step (its dense projections then run on the MAC
    array): graded inputs and kinds whose PE code says so."""
    if pop.is_input:
        return bool(pop.meta.get("graded"))
    impl = IMPLEMENTATIONS.lookup(pop, "fp32")
    return bool(getattr(impl, "dense_output", False)) or bool(pop.meta.get("graded"))
