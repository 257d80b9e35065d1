"""LIF and current-based LIF neurons: parameters, surrogate gradients, functional core, modules."""

from .alif import ALIF, ALIFParams
from .functional import (
    NeuronState,
    initial_state,
    inputs_checked,
    leaky_integrator,
    neuron_sequence,
    neuron_sequence_reference,
    neuron_step,
)
from .ielif import IELIF, IELIFParams
from .modules import LI, LIF, CubaLIF, NeuronOutput
from .params import CubaEIParams, CubaLIFParams, LIFParams, decay_from_tau, params_from_dict, tau_from_decay
from .sigma_delta import SigmaDelta, SigmaDeltaParams
from .surrogate import SURROGATES, Surrogate, as_surrogate, spike

__all__ = [
    "inputs_checked",
    "ALIF",
    "ALIFParams",
    "IELIF",
    "IELIFParams",
    "SigmaDelta",
    "SigmaDeltaParams",
    "LIF",
    "LI",
    "CubaLIF",
    "LIFParams",
    "CubaLIFParams",
    "CubaEIParams",
    "NeuronState",
    "NeuronOutput",
    "Surrogate",
    "SURROGATES",
    "as_surrogate",
    "spike",
    "decay_from_tau",
    "tau_from_decay",
    "params_from_dict",
    "initial_state",
    "neuron_step",
    "neuron_sequence",
    "neuron_sequence_reference",
    "leaky_integrator",
]
