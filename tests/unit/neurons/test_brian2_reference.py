"""The same LIF simulated in Brian2 (exact integration) gives the same spike times as neuromap
(within one dt) over 1 s of simulated time; parameters come from the one LIFParams dataclass."""

import numpy as np
import pytest
import torch

from neuromap.neurons import LIFParams, Surrogate, neuron_sequence

brian2 = pytest.importorskip("brian2")


def _brian2_spike_times(p: LIFParams, current: np.ndarray) -> list[np.ndarray]:
    b2 = brian2
    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = p.dt * b2.second
    drive = b2.TimedArray(current * 1.0, dt=p.dt * b2.second)  # [steps, neurons]
    eqs = f"dv/dt = ({p.v_leak} - v + drive(t, i)) / ({p.tau_mem} * second) : 1"
    reset = "v = v - {th}" if p.reset == "subtract" else f"v = {p.v_reset}"
    group = b2.NeuronGroup(
        current.shape[1],
        eqs,
        threshold=f"v > {p.v_th}",
        reset=reset.format(th=p.v_th),
        method="exact",
        namespace={"drive": drive},
    )
    group.v = p.v_leak
    mon = b2.SpikeMonitor(group)
    b2.run(current.shape[0] * p.dt * b2.second)
    trains = mon.spike_trains()
    return [np.asarray(trains[k] / b2.second) for k in range(current.shape[1])]


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_lif_matches_brian2_over_one_second(reset):
    # Brian2's exact solution for input held over a step is neuromap's exp integrator with
    # decay_input (v <- beta v + (1 - beta)(v_leak + I)); threshold then reset in the same step.
    p = LIFParams(tau_mem=20e-3, dt=0.1e-3, v_th=1.0, reset=reset, decay_input=True, integrator="exp")
    steps = int(round(1.0 / p.dt))
    rng = np.random.default_rng(0)
    n = 6
    levels = np.array([0.9, 1.05, 1.2, 1.5, 2.0, 3.0])
    current = np.repeat(levels[None, :], steps, axis=0) + 0.3 * rng.standard_normal((steps, n)).cumsum(0) / 100
    b2_times = _brian2_spike_times(p, current)
    s, _, _ = neuron_sequence(torch.tensor(current[:, None, :], dtype=torch.float64), p, Surrogate())
    s = s[:, 0, :].numpy()
    total = 0
    for k in range(n):
        ours = (np.nonzero(s[:, k])[0]) * p.dt  # Brian2 records the start of the step's interval
        theirs = b2_times[k]
        assert len(ours) == len(theirs), f"neuron {k}: {len(ours)} vs {len(theirs)} spikes"
        if len(ours):
            assert np.max(np.abs(ours - theirs)) <= p.dt + 1e-12
        total += len(ours)
    assert total > 100  # the comparison must involve real spiking
