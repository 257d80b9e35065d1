"""NeuroBench's static and workload metrics (Yik et al., "The neurobench framework for benchmarking
neuromorphic computing algorithms and systems", Nature Communications 2025, arXiv:2304.04640; the
``neurobench`` package, version 2.3) computed by neuromap from a run's :class:`~.activity.Activity`.

    m = neurobench.measure(graph, x)          # x [T, B, ...]: any traced model on a data set
    m["synaptic_operations"]["Effective_ACs"]   # per sample

The names and definitions are NeuroBench's; ``tests/unit/energy/test_neurobench.py`` runs
NeuroBench's own metric classes on the same torch model and data and checks equality:

=========================  ==========================================================================
``footprint``              bytes of the model's parameters: weights and biases at 4 bytes (None for an
                           activity file written before neuromap kept this count)
                           (NeuroBench: the torch module's parameters and buffers; neuromap's neurons
                           hold constants, not tensors, so the two agree; an snnTorch neuron's
                           buffers - beta, threshold - would add a few bytes per layer there)
``connection_sparsity``    zero weights / all weights of the connection layers
                           (NeuroBench rounds it to 3 decimals, neuromap to 4)
``activation_sparsity``    zero outputs / all outputs of every neuron layer, over all steps and samples
``synaptic_operations``    per sample: ``Effective_ACs`` (events from binary sources times their non-zero
                           fan-out), ``Effective_MACs`` (the same from graded sources), ``Dense``
                           (every synapse every step)
``membrane_updates``       per sample: neuron-steps. NeuroBench counts a neuron-step when an snnTorch
                           neuron's ``mem`` changed (it cannot see other neurons' state and reports 0
                           for them); neuromap gives the dense count (every neuron every step, an upper
                           bound of NeuroBench's) and the event-driven count (neuron-steps with
                           synaptic input), which are the two an accelerator's cost depends on
=========================  ==========================================================================

Not NeuroBench's: ``deployment_footprint`` adds one float of state per neuron (what a deployment
stores, :attr:`.activity.Activity.footprint_bytes`).
"""

from __future__ import annotations

from typing import Any

from .activity import Activity


def metrics(activity: Activity) -> dict[str, Any]:
    """NeuroBench's metrics of one run's ``activity`` (:func:`~.activity.collect`), per sample where
    NeuroBench gives them per sample (see the module docstring for each definition; bytes, fractions
    in [0, 1], operation counts)."""
    b = activity.samples
    return {
        "footprint": activity.parameter_bytes,
        "connection_sparsity": activity.connection_sparsity,
        "activation_sparsity": activity.activation_sparsity,
        "synaptic_operations": {"Effective_MACs": sum(activity.macs.values()) / b,
                                "Effective_ACs": sum(activity.acs.values()) / b,
                                "Dense": sum(activity.dense_synops.values()) / b},
        "membrane_updates": {"dense": sum(activity.updates_dense.values()) / b,
                             "event_driven": sum(activity.updates_event.values()) / b},
        "deployment_footprint": activity.footprint_bytes,
    }


def measure(graph, x) -> dict[str, Any]:
    """:func:`metrics` of ``graph`` (a traced :class:`~neuromap.graph.Graph`) run by the torch backend
    on ``x`` (``[T, B, ...]`` time-major, the layout of every neuromap loader)."""
    from neuromap import backends

    from .activity import collect, records_with_inputs

    result = backends.get("torch").compile(graph).run(x)
    return metrics(collect(graph.lower(), records_with_inputs(graph, result, x)))


def summary_line(m: dict[str, Any]) -> str:
    """:func:`metrics` in one line (per sample)."""
    so, mu = m["synaptic_operations"], m["membrane_updates"]
    footprint = "unknown (an activity file older than the count)" if m["footprint"] is None else f"{m['footprint']:,} B"
    return (f"NeuroBench metrics per sample: footprint {footprint}, connection sparsity "
            f"{m['connection_sparsity']:.3g}, activation sparsity {m['activation_sparsity']:.3g}, synaptic operations "
            f"{so['Effective_ACs']:,.0f} effective ACs + {so['Effective_MACs']:,.0f} effective MACs (dense "
            f"{so['Dense']:,.0f}), membrane updates {mu['dense']:,.0f} dense / {mu['event_driven']:,.0f} event-driven")


__all__ = ["measure", "metrics", "summary_line"]
