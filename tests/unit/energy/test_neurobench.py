"""neuromap's NeuroBench metrics (:mod:`neuromap.energy.neurobench`) equal NeuroBench's own metric classes
run on the same torch model and data: synaptic operations, activation sparsity, footprint, connection
sparsity. NeuroBench is the ``neurobench`` extra, installed ``--no-deps`` (it declares torchaudio, which
does not load beside the CPU torch; the metric classes and hooks need only torch and snnTorch)."""

from __future__ import annotations

import pytest
import torch

import neuromap as nm
from neuromap import data
from neuromap.energy import neurobench
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams
from neuromap.neurons.modules import SpikingNeuron

pytest.importorskip("neurobench", reason="NeuroBench is not installed: pip install 'neuromap-snn[neurobench]' && "
                                         "pip install --no-deps neurobench==2.3.0 (make setup installs it)")


class _BatchFirst(torch.nn.Module):
    """NeuroBench feeds ``[B, T, ...]``; neuromap's models take ``[T, B, ...]``."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(0, 1))


def _neurobench_metrics(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """NeuroBench 2.3's metric classes on ``model`` and ``x [T, B, ...]``, hooked as its Benchmark hooks them."""
    from neurobench.hooks.layer import LayerHook
    from neurobench.hooks.neuron import NeuronHook
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel

    nb = TorchModel(_BatchFirst(model))
    nb.add_activation_module(SpikingNeuron)  # neuromap's neurons, beside the activations NeuroBench knows
    nb.activation_hooks = [NeuronHook(layer["layer"], layer["layer_name"]) for layer in nb.activation_layers()]
    nb.connection_hooks = [LayerHook(layer) for layer in nb.connection_layers()]
    batch = (x.transpose(0, 1).contiguous(), y)
    with torch.no_grad():
        preds = nb(batch[0])
    out = {"activation_sparsity": ActivationSparsity()(nb, preds, batch),
           "synaptic_operations": SynapticOperations()(nb, preds, batch),
           "footprint": Footprint()(nb), "connection_sparsity": ConnectionSparsity()(nb)}
    nb.cleanup_hooks()
    return out


@pytest.mark.parametrize("prune", [0.0, 0.5])
def test_neuromap_metrics_equal_neurobench_on_the_same_model_and_data(prune):
    torch.manual_seed(0)
    model = SpikingMLP(64, [16], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    with torch.no_grad():  # magnitude pruning: connection sparsity and effective operations change
        for layer in (model[0], model[2]):
            layer.weight[layer.weight.abs() < torch.quantile(layer.weight.abs(), prune)] = 0.0
    x, y = data.inputs("digits", samples=6, steps=5)
    ours = neurobench.measure(nm.trace(model, x[:, :1]), x)
    theirs = _neurobench_metrics(model, x, y)
    assert ours["synaptic_operations"] == pytest.approx(theirs["synaptic_operations"])
    assert ours["synaptic_operations"]["Effective_ACs"] > 0
    assert ours["activation_sparsity"] == pytest.approx(theirs["activation_sparsity"])
    assert ours["footprint"] == theirs["footprint"]
    assert round(ours["connection_sparsity"], 3) == theirs["connection_sparsity"]  # NeuroBench: 3 decimals
    assert (ours["connection_sparsity"] > 0.4) == (prune > 0)
    assert ours["membrane_updates"]["dense"] == 5 * (16 + 10)  # every neuron every step, per sample


def test_an_activity_file_older_than_the_parameter_count_gives_no_footprint(tmp_path):
    from neuromap.energy import Activity, collect
    from tests.support import small_net

    x = torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])
    act = collect(small_net(), {"in": x, "h": torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]),
                                "o": torch.tensor([[[0.0]], [[1.0]]])})
    assert neurobench.metrics(act)["footprint"] == act.parameter_bytes > 0
    old = act.to_dict()
    del old["parameter_bytes"]  # as written before the count was kept
    m = neurobench.metrics(Activity.from_dict(old))
    assert m["footprint"] is None and "footprint unknown" in neurobench.summary_line(m)
