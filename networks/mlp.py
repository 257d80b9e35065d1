"""Feed-forward spiking MLP: Linear -> LIF/CuBa per layer, with a spiking or membrane readout."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from neuromap import synapses
from neuromap.neurons import LI, LIF, CubaLIF, CubaLIFParams, LIFParams

NEURONS = ("lif", "cuba")
READOUTS = ("spikes", "membrane")


def make_neuron(
    neuron: str, params: LIFParams | None, beta: float, alpha: float, surrogate: str, slope: float | None
) -> nn.Module:
    """A LIF or CuBa layer from a name; explicit ``params`` win over the ``beta``/``alpha`` decays."""
    if neuron not in NEURONS:
        raise ValueError(f"neuron={neuron!r} is not one of {list(NEURONS)}")
    if neuron == "lif":
        if params is not None and isinstance(params, CubaLIFParams):
            raise ValueError("neuron='lif' was given CubaLIFParams; use neuron='cuba'")
        return LIF(params, surrogate=surrogate, slope=slope) if params else LIF(beta=beta, surrogate=surrogate, slope=slope)
    if params is not None and not isinstance(params, CubaLIFParams):
        raise ValueError("neuron='cuba' needs CubaLIFParams")
    if params:
        return CubaLIF(params, surrogate=surrogate, slope=slope)
    return CubaLIF(alpha=alpha, beta=beta, surrogate=surrogate, slope=slope)


class SpikingMLP(nn.Sequential):
    """``n_in -> hidden[0] -> ... -> n_out`` with a spiking neuron after every Linear.

    Input ``[T, B, n_in]``; output ``[T, B, n_out]``: spikes (``readout="spikes"``, train with the
    spike-count loss) or the membrane of a non-spiking leaky integrator (``readout="membrane"``).

    Args:
        neuron: ``"lif"`` or ``"cuba"``.
        beta, alpha: per-step membrane / synaptic decays (used when ``neuron_params`` is None).
        neuron_params: explicit :class:`LIFParams` / :class:`CubaLIFParams` for every layer.
        surrogate, slope: surrogate gradient by name (see :mod:`neuromap.neurons.surrogate`).

    The projections are :class:`neuromap.synapses.Linear` (``nn.Linear`` subclasses, same
    state_dict): event-driven on the CPU when their input (spikes, or sparse input data) is sparse;
    ``neuromap.synapses.use("dense")`` or a layer's ``mode = "dense"`` forces the dense product.
    """

    def __init__(
        self,
        n_in: int,
        hidden: Sequence[int],
        n_out: int,
        neuron: str = "lif",
        readout: str = "spikes",
        beta: float = 0.9,
        alpha: float = 0.8,
        neuron_params: LIFParams | None = None,
        surrogate: str = "fast_sigmoid",
        slope: float | None = None,
        bias: bool = True,
    ) -> None:
        for name, value in (("n_in", n_in), ("n_out", n_out), *((f"hidden[{i}]", h) for i, h in enumerate(hidden))):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout={readout!r} is not one of {list(READOUTS)}")
        layers: list[nn.Module] = []
        sizes = [n_in, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [synapses.Linear(a, b, bias=bias), make_neuron(neuron, neuron_params, beta, alpha, surrogate, slope)]
        layers.append(synapses.Linear(sizes[-1], n_out, bias=bias))
        if readout == "spikes":
            layers.append(make_neuron(neuron, neuron_params, beta, alpha, surrogate, slope))
        else:
            layers.append(LI(beta=beta))
        super().__init__(*layers)
        self.n_in, self.hidden, self.n_out = n_in, list(hidden), n_out
        self.neuron, self.readout = neuron, readout

    def forward(self, x):
        if x.dim() != 3 or x.shape[-1] != self.n_in:
            raise ValueError(f"SpikingMLP expects x of shape [T, B, {self.n_in}], got {tuple(x.shape)}")
        return super().forward(x)
