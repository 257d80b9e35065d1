"""snnTorch 1.0: ``snn.Leaky`` / ``snn.Synaptic`` stepped over time, as its tutorials do.

Semantics: ``reset_mechanism="subtract"``, ``spike_grad=surrogate.fast_sigmoid(slope=25)``
(``1 / (25 |x| + 1)^2``, identical to neuromap's), threshold ``mem > 1``. snnTorch applies the reset
of a spike one step later and undecayed (``reset_delay``); neuromap reproduces that exactly with
``LIFParams(reset_delay=True)`` (the ``neuromap[snntorch-reset]`` row).
"""

from __future__ import annotations

import torch

from ..workloads import Workload, make_linears
from . import Model

NAME = "snntorch"
VARIANTS = ("",)
SEMANTICS = {"": "delayed subtractive reset (snnTorch convention; = neuromap reset_delay=True), fast sigmoid 25"}


def version() -> str:
    import snntorch

    return snntorch.__version__


def build(w: Workload, variant: str = "") -> Model:
    import snntorch as snn
    from snntorch import surrogate

    fc1, fc2 = make_linears(w)
    grad = surrogate.fast_sigmoid(slope=w.slope)
    if w.neuron == "cuba":
        n1 = snn.Synaptic(alpha=w.alpha, beta=w.beta, threshold=w.v_th, spike_grad=grad, reset_mechanism="subtract")
        n2 = snn.Synaptic(alpha=w.alpha, beta=w.beta, threshold=w.v_th, spike_grad=grad, reset_mechanism="subtract")
    else:
        n1 = snn.Leaky(beta=w.beta, threshold=w.v_th, spike_grad=grad, reset_mechanism="subtract")
        n2 = snn.Leaky(beta=w.beta, threshold=w.v_th, spike_grad=grad, reset_mechanism="subtract")

    def run(neuron, cur: torch.Tensor) -> torch.Tensor:
        spikes = []
        if w.neuron == "cuba":
            syn, mem = neuron.init_synaptic()
            for t in range(cur.shape[0]):
                spk, syn, mem = neuron(cur[t], syn, mem)
                spikes.append(spk)
        else:
            mem = neuron.init_leaky()
            for t in range(cur.shape[0]):
                spk, mem = neuron(cur[t], mem)
                spikes.append(spk)
        return torch.stack(spikes)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return run(n2, fc2(run(n1, fc1(x))))

    return Model(forward, [*fc1.parameters(), *fc2.parameters()], notes=SEMANTICS[""])
