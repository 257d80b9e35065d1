"""SpikingJelly 2.0 ``activation_based``, multi-step mode (``step_mode="m"``), CPU (torch) path.

LIF: ``LIFNode(tau=10, decay_input=False, v_reset=None)`` gives ``H = V - V/10 + X`` (decay 0.9)
with the soft (subtractive) reset applied immediately. CuBa: ``CUBALIFNode(c_decay=0.8,
v_decay=0.9, v_reset=None)`` (``I = 0.8 I + X; H = 0.9 V + I``). Differences: SpikingJelly fires on
``H >= v_th`` (neuromap ``>``), and its fused-kernel surrogates do not include the fast sigmoid; the
closest, ``SoftSign(alpha=25)``, has the same shape with 12.5x the magnitude
(``12.5 / (25 |x| + 1)^2``). The state is reset with ``functional.reset_net`` before each sequence.
"""

from __future__ import annotations

import torch

from ..workloads import Workload, make_linears
from . import Model

NAME = "spikingjelly"
VARIANTS = ("",)
SEMANTICS = {"": "fires on h >= v_th; SoftSign(25) surrogate = 12.5 x fast sigmoid(25); otherwise as neuromap"}


def version() -> str:
    from importlib.metadata import version as v

    return v("spikingjelly")


def build(w: Workload, variant: str = "") -> Model:
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    fc1, fc2 = make_linears(w)
    l1, l2 = layer.Linear(w.n_in, w.n_hidden), layer.Linear(w.n_hidden, w.n_out)
    l1.load_state_dict(fc1.state_dict())
    l2.load_state_dict(fc2.state_dict())

    def node():
        sur = surrogate.SoftSign(alpha=w.slope)
        if w.neuron == "cuba":
            return neuron.CUBALIFNode(c_decay=w.alpha, v_decay=w.beta, v_threshold=w.v_th, v_reset=None,
                                      surrogate_function=sur)
        return neuron.LIFNode(tau=1.0 / (1.0 - w.beta), decay_input=False, v_threshold=w.v_th, v_reset=None,
                              surrogate_function=sur, detach_reset=False, step_mode="m")

    net = torch.nn.Sequential(l1, node(), l2, node())
    functional.set_step_mode(net, "m")

    def forward(x: torch.Tensor) -> torch.Tensor:
        return net(x)

    return Model(forward, list(net.parameters()), reset=lambda: functional.reset_net(net), notes=SEMANTICS[""])
