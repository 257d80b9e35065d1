"""Brian2 reference backend: identical spike trains for a 200-neuron reservoir over 1,000 steps
(same parameters, matched discretisation), and matching firing-rate statistics at 10,000 neurons."""

import numpy as np
import pytest
import torch

pytest.importorskip("brian2")

from neuromap.backends import brian2 as nb  # noqa: E402
from neuromap.networks.lsm import Reservoir, maass_connectivity, random_connectivity  # noqa: E402
from neuromap.neurons import CubaLIFParams, LIFParams  # noqa: E402


@pytest.mark.parametrize(
    "params, w_in",
    [
        # exact exponential integration <-> Brian2 exponential_euler
        (CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, dt=1e-3, decay_input=True, reset="zero"), 0.5),
        # Euler <-> Brian2 euler, subtractive reset, refractory period, >= threshold
        (CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, dt=1e-3, integrator="euler", reset="subtract",
                       refractory_steps=2), 0.5),
        (LIFParams(tau_mem=20e-3, dt=1e-3, reset="zero", refractory_steps=3, threshold_rule=">="), 0.8),
    ],
)
def test_reservoir_spike_trains_identical_to_brian2(params, w_in):
    torch.set_num_threads(1)
    con = maass_connectivity((10, 5, 4), lam=2.0, seed=0)
    res = Reservoir(8, con, params, input_weight=w_in, rec_scale=0.01, bias=0.05, seed=1)
    u = (torch.rand(1000, 1, 8, generator=torch.Generator().manual_seed(3)) < 0.1).double()
    ours = res.simulate(u).spikes[:, 0].numpy().astype(bool)
    theirs = nb.simulate_reservoir(res, u)
    torch.set_num_threads(2)
    assert ours.shape == theirs.shape == (1000, 200)
    assert 0.01 < ours.mean() < 0.5 and ours.sum(0).astype(bool).mean() > 0.5  # most neurons take part
    assert np.array_equal(ours, theirs)


def test_rate_statistics_match_brian2_at_10k_neurons():
    import brian2 as b2

    torch.set_num_threads(1)
    p = CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, dt=1e-4, reset="zero", refractory_steps=20, decay_input=True)
    con = random_connectivity(10_000, 0.02, 0.02, -0.1, seed=0)
    res = Reservoir(1, con, p, input_weight=0.0, input_fraction=0.0)
    steps, poisson = 1000, (1000, 5.0, 0.04)
    ours = res.simulate(torch.zeros(steps, 1, 1), poisson=poisson, seed=0).spikes[:, 0].numpy()
    b2.prefs.codegen.target = "numpy"
    objs, _, mon = nb.reservoir_objects(res, np.zeros((steps, 1)), external_poisson=poisson)
    b2.Network(*objs).run(steps * p.dt * b2.second, namespace={})
    theirs = nb.spikes_from_monitor(mon, res.n, steps, p.dt)
    torch.set_num_threads(2)
    r1, r2 = nb.firing_rates(ours, p.dt), nb.firing_rates(theirs, p.dt)
    assert r1.mean() > 1.0  # Hz: the network is active
    assert abs(r1.mean() - r2.mean()) < 0.1 * r2.mean()
    # population rate over time (10 ms bins) and the per-neuron rate distribution agree too
    pop1, pop2 = ours.reshape(10, -1, res.n).mean((1, 2)), theirs.reshape(10, -1, res.n).mean((1, 2))
    assert np.corrcoef(pop1, pop2)[0, 1] > 0.8
    assert abs(np.percentile(r1, 90) - np.percentile(r2, 90)) <= 0.2 * np.percentile(r2, 90) + 10
    # E and I populations separately
    inh = con.inhibitory
    assert abs(r1[inh].mean() - r2[inh].mean()) < 0.15 * r2[inh].mean()


def test_neuron_model_mapping_and_errors():
    m = nb.neuron_model(CubaLIFParams(tau_mem=10e-3, tau_syn=5e-3, integrator="euler"))
    assert m.method == "euler" and m.jump_variable == "I"
    beta = CubaLIFParams(tau_mem=10e-3, tau_syn=5e-3).beta
    assert m.namespace["k_in"] == pytest.approx(1.0 / (1.0 - (1.0 - 1e-3 / 10e-3)))
    assert nb.neuron_model(LIFParams(decay_input=True)).namespace["k_in"] == pytest.approx(1.0)
    assert nb.neuron_model(LIFParams()).method == "exponential_euler" and 0 < beta < 1
    with pytest.raises(ValueError, match="reset_delay"):
        nb.neuron_model(LIFParams(reset_delay=True))
    res = Reservoir(2, maass_connectivity((3, 3, 3)))
    with pytest.raises(ValueError, match="binary"):
        nb.simulate_reservoir(res, np.full((5, 2), 0.5))
    with pytest.raises(ValueError, match="zero-length"):
        nb.simulate_reservoir(res, np.zeros((0, 2)))


def test_brian2_netlist_backend_reproduces_backends_torch_on_a_traced_network():
    """Brian2 as a netlist backend: a traced LIF -> CuBa network with biases, run population by
    population, gives backends.torch's spike trains; unsupported kinds are named."""
    import neuromap as nm
    from neuromap import backends
    from neuromap.backends import BackendError
    from neuromap.neurons import LIF, CubaLIF
    from neuromap.neurons.modules import LI

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 24), LIF(LIFParams(tau_mem=10e-3, dt=1e-3, reset="zero")),
                                torch.nn.Linear(24, 10), CubaLIF(CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, dt=1e-3)))
    x = (torch.rand(60, 3, 16, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(3.0)
    graph = nm.trace(model, x)
    ref = backends.get("torch").compile(graph).run(x)
    res = backends.get("brian2").compile(graph).run(x)
    assert res.backend == "brian2" and set(res.records) == set(ref.records)
    for k in ref.records:  # float32 graph vs Brian2's float64: equal here (a tie at threshold could flip one)
        assert torch.equal(res.records[k], ref.records[k]), k
    assert all(int(r.sum()) > 50 for r in ref.records.values())  # both layers are active
    bad = nm.trace(torch.nn.Sequential(torch.nn.Linear(4, 3), LI(beta=0.9)), torch.rand(2, 1, 4))
    with pytest.raises(BackendError, match="kind"):
        backends.get("brian2").compile(bad)
