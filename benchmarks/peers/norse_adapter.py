"""Norse 1.1: ``Lift(LIFBoxCell)`` for the LIF workloads (Norse has no sequence module for the
current-free LIF), the sequence module ``LIF`` for CuBa.

Semantics: Euler form ``v += dt/tau_mem (v_leak - v + x)`` with ``dt/tau_mem = 0.1`` (decay 0.9) and
``dt/tau_syn = 0.2`` (decay 0.8). Norse scales the input by ``dt/tau_mem`` (neuromap's
``decay_input=True``); the first projection's initial weights are multiplied by 10 so the membrane
sees the same drive. W1/W2/W4 use ``reset_method=reset_subtract`` (immediate subtractive reset, as
neuromap); Norse's CuBa ``LIF`` has only the reset-to-``v_reset`` (hard) reset, so W3 differs there.
Norse 1.1's SuperSpike ignores ``alpha``: its surrogate is ``1/(|x| + 1)^2`` (slope 1, not 25).
"""

from __future__ import annotations

import torch

from ..workloads import Workload, make_linears
from . import Model

NAME = "norse"
VARIANTS = ("",)
SEMANTICS = {
    "": "input scaled by dt/tau (weights x10 to compensate); LIF: immediate subtractive reset; CuBa: hard reset "
    "(Norse has no subtractive CuBa); SuperSpike surrogate with slope 1 (Norse 1.1 ignores alpha)"
}


def version() -> str:
    import norse

    return getattr(norse, "__version__", "1.1.0")


def build(w: Workload, variant: str = "") -> Model:
    import norse.torch as norse
    from norse.torch.functional.reset import reset_subtract

    fc1, fc2 = make_linears(w)
    gain = 1.0 / (1.0 - w.beta)
    with torch.no_grad():
        fc1.weight.mul_(gain)
        fc1.bias.mul_(gain)
        fc2.weight.mul_(gain)
        fc2.bias.mul_(gain)
    tau_mem_inv = (1.0 - w.beta) / 1e-3
    if w.neuron == "cuba":
        p = norse.LIFParameters(
            tau_mem_inv=torch.as_tensor(tau_mem_inv),
            tau_syn_inv=torch.as_tensor((1.0 - w.alpha) / 1e-3),
            v_th=torch.as_tensor(w.v_th),
            method="super",
            alpha=torch.as_tensor(w.slope),
        )
        n1, n2 = norse.LIF(p, dt=1e-3), norse.LIF(p, dt=1e-3)
    else:
        p = norse.LIFBoxParameters(
            tau_mem_inv=torch.as_tensor(tau_mem_inv),
            v_th=torch.as_tensor(w.v_th),
            method="super",
            alpha=torch.as_tensor(w.slope),
            reset_method=reset_subtract,
        )
        n1, n2 = norse.Lift(norse.LIFBoxCell(p, dt=1e-3)), norse.Lift(norse.LIFBoxCell(p, dt=1e-3))

    def forward(x: torch.Tensor) -> torch.Tensor:
        s1, _ = n1(fc1(x))
        s2, _ = n2(fc2(s1))
        return s2

    return Model(forward, [*fc1.parameters(), *fc2.parameters()], notes=SEMANTICS[""])
