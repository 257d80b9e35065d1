"""neuromap: ``SpikingMLP`` (Linear -> LIF/CubaLIF -> Linear -> LIF/CubaLIF), fused kernels.

Variants: ``""`` (default): neuromap's discretisation - immediate subtractive reset, ``h > v_th``,
``V = beta V + X`` (CuBa: ``I = alpha I + X; V = beta V + I``), fast sigmoid slope 25 with gradient
through the reset; the compiled C++ kernel when available. ``"torch"``: the same with the pure
PyTorch loop (``kernels.use("torch")``). ``"snntorch-reset"``: ``reset_delay=True``, snnTorch's
one-step-delayed reset, i.e. exactly snnTorch's Leaky/Synaptic semantics. ``"dense"``: the default
with every synaptic layer forced onto the dense product (``neuromap.synapses.Linear(mode="dense")``);
the default's synapses are event-driven (sparse) below their measured density crossover.
"""

from __future__ import annotations

import contextlib

import torch

import neuromap
from neuromap import synapses
from neuromap.networks import SpikingMLP
from neuromap.neurons import CubaLIFParams, LIFParams, kernels

from ..workloads import Workload, make_linears
from . import Model

NAME = "neuromap"
VARIANTS = ("", "torch", "snntorch-reset", "dense")
SEMANTICS = {
    "": "reference semantics: immediate subtractive reset, h > v_th, V = 0.9 V + X (CuBa I = 0.8 I + X), "
    "fast sigmoid slope 25; event-driven synapses",
    "torch": "as neuromap, pure-PyTorch kernel path (no compiled extension)",
    "snntorch-reset": "as neuromap with reset_delay=True: snnTorch's delayed reset, identical to snnTorch's semantics",
    "dense": "as neuromap with dense synapses (synapses mode='dense': torch's GEMM)",
}


def version() -> str:
    status = kernels.status()
    return f"{getattr(neuromap, '__version__', '0.1.0')} (C++ kernel: {'yes' if status['available'] else 'no'})"


def impl_context(variant: str):
    return kernels.use("torch") if variant == "torch" else contextlib.nullcontext()


def build_mlp(w: Workload, variant: str = "", impl: str = "fused") -> SpikingMLP:
    delay = variant == "snntorch-reset"
    if w.neuron == "cuba":
        params = CubaLIFParams.from_decays(w.alpha, w.beta, v_th=w.v_th, reset_delay=delay)
    else:
        params = LIFParams.from_decay(w.beta, v_th=w.v_th, reset_delay=delay)
    model = SpikingMLP(w.n_in, [w.n_hidden], w.n_out, neuron=w.neuron, neuron_params=params, surrogate="fast_sigmoid",
                       slope=w.slope)
    fc1, fc2 = make_linears(w)
    model[0].load_state_dict(fc1.state_dict())
    model[2].load_state_dict(fc2.state_dict())
    for m in model:
        if hasattr(m, "impl"):
            m.impl = impl
        if variant == "dense" and isinstance(m, synapses.Linear):
            m.mode = "dense"
    return model


def build(w: Workload, variant: str = "") -> Model:
    if variant not in VARIANTS:
        raise ValueError(f"neuromap variant {variant!r} not in {VARIANTS}")
    if variant != "torch":
        kernels.load()  # build/load the extension before timing
    model = build_mlp(w, variant)

    def forward(x: torch.Tensor) -> torch.Tensor:
        with impl_context(variant):
            return model(x)

    return Model(forward, list(model.parameters()), notes=SEMANTICS[variant])
