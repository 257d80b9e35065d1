"""The compiled recurrent loop (neuromap.neurons.recurrent: the whole T-step run in one C++ call)
against the reference step loop (``Reservoir.simulate(method="csr")``) and Brian2.

Pinned: in float64 spikes, membrane and final state identical to the reference for LIF / CuBa /
two-current CuBa, every reset, ``>=``, refractoriness, Poisson input, batches and thread counts (with
mixed delays the spikes are identical and the membrane equal to rounding: the reference sums each
delay's part on its own); in float32 the rates equal the reference's; the thread count never changes
the result; the Poisson events are exact Poisson counts and numpy reproduces them; two currents and
delays give Brian2's spike trains; unsupported cases raise clear errors.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from neuromap.graph import GraphError, trace
from neuromap.networks.lsm import Connectivity, Reservoir, maass_connectivity, random_connectivity
from neuromap.neurons import CubaEIParams, CubaLIFParams, LIFParams, kernels, neuron_sequence, recurrent
from neuromap.neurons.surrogate import as_surrogate

PARAMS = [
    CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, decay_input=True, reset="zero"),
    LIFParams(tau_mem=15e-3, reset="subtract", v_leak=0.1, threshold_rule=">="),
    CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, integrator="euler", reset="subtract", refractory_steps=2),
    LIFParams(tau_mem=10e-3, reset="none", v_th=0.5, refractory_steps=1),
    CubaEIParams(tau_mem=20e-3, tau_syn=5e-3, tau_syn_inh=10e-3, reset="zero", refractory_steps=3),
]


@pytest.fixture(scope="module", autouse=True)
def _built():
    assert kernels.ensure_built()["available"], "the compiled kernels must build in the test environment"


def _reservoir(params, grid=(6, 5, 4), delays=None, seed=0, bias=0.02):
    con = maass_connectivity(grid, seed=seed)
    if delays:
        con = con.with_delays(np.random.default_rng(seed).integers(1, delays + 1, con.n_synapses))
    return Reservoir(8, con, params, input_weight=0.7, rec_scale=0.01, bias=bias, seed=1)


def _input(T=40, B=3, dtype=torch.float64):
    return (torch.rand(T, B, 8, generator=torch.Generator().manual_seed(5)) < 0.15).to(dtype)


@pytest.mark.parametrize("poisson", [None, (5, 20.0, 0.1)])
@pytest.mark.parametrize("k", range(len(PARAMS)))
def test_compiled_loop_is_identical_to_the_reference_loop_in_float64(k, poisson):
    res = _reservoir(PARAMS[k])
    u = _input()
    ref = res.simulate(u, record_membrane=True, method="csr", poisson=poisson, seed=3)
    assert 0.01 < float(ref.spikes.mean()) < 0.95
    for threads in (1, 2):
        got = res.simulate(u, record_membrane=True, method="compiled", poisson=poisson, seed=3, threads=threads)
        assert got.spikes.dtype == torch.float64
        assert torch.equal(got.spikes, ref.spikes) and torch.equal(got.membrane, ref.membrane)
        for a, b in zip(ref.state, got.state):
            assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("k", [0, 2, 4])
def test_mixed_delays_give_the_reference_spikes(k):
    res = _reservoir(PARAMS[k], delays=4)
    assert res.connectivity.max_delay == 4
    u = _input()
    ref = res.simulate(u, record_membrane=True, method="csr", poisson=(5, 20.0, 0.1))
    got = res.simulate(u, record_membrane=True, method="compiled", poisson=(5, 20.0, 0.1))
    assert 0.01 < float(ref.spikes.mean()) < 0.95
    assert torch.equal(got.spikes, ref.spikes)
    torch.testing.assert_close(got.membrane, ref.membrane, rtol=0, atol=1e-12)


def test_a_single_sample_split_over_threads_gives_the_same_run():
    """N > one Poisson block, batch 1: neuron ranges per thread with a barrier per step."""
    p = CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, dt=1e-4, reset="zero", refractory_steps=20, decay_input=True)
    res = Reservoir(1, random_connectivity(3000, 0.02, 0.02, -0.1, seed=0), p, input_weight=0.0, input_fraction=0.0)
    u = torch.zeros(600, 1, 1, dtype=torch.float64)
    ref = res.simulate(u, method="csr", poisson=(1000, 5.0, 0.04), record_membrane=True)
    assert float(ref.spikes.sum()) > 100
    runs = [res.simulate(u, method="compiled", poisson=(1000, 5.0, 0.04), record_membrane=True, threads=n)
            for n in (1, 2, 3)]
    for got in runs:
        assert torch.equal(got.spikes, ref.spikes) and torch.equal(got.membrane, ref.membrane)


def test_float32_rates_equal_the_reference():
    p = CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, dt=1e-4, reset="zero", refractory_steps=20, decay_input=True)
    res = Reservoir(1, random_connectivity(2000, 0.02, 0.02, -0.1, seed=1), p, input_weight=0.0, input_fraction=0.0)
    u = torch.zeros(1000, 1, 1)
    ref = res.simulate(u, method="csr", poisson=(1000, 5.0, 0.04)).spikes
    got = res.simulate(u, method="compiled", poisson=(1000, 5.0, 0.04), threads=2).spikes
    assert got.dtype == torch.float32
    r_ref, r_got = float(ref.mean()), float(got.mean())
    assert r_ref > 1e-4 and abs(r_got - r_ref) <= 0.01 * r_ref


def test_event_output_lists_the_raster_spikes_in_order():
    res = _reservoir(PARAMS[0])
    u = _input(B=2)
    raster = res.simulate(u, method="compiled").spikes
    for method in ("compiled", "csr"):
        out = res.simulate(u, method=method, raster=False)
        assert out.spikes is None and out.events.dtype == torch.int64
        assert torch.equal(out.events, torch.nonzero(raster.reshape(-1)).reshape(-1))


def test_carried_state_continues_like_the_reference():
    res = _reservoir(PARAMS[2])
    u = _input()
    a = res.simulate(u[:15], method="compiled")
    b = res.simulate(u[15:], state=a.state, method="compiled")
    ra = res.simulate(u[:15], method="csr")
    rb = res.simulate(u[15:], state=ra.state, method="csr")
    assert torch.equal(a.spikes, ra.spikes) and torch.equal(b.spikes, rb.spikes)


def test_auto_runs_the_compiled_loop_on_the_cpu(monkeypatch):
    calls = []
    real = recurrent.run
    monkeypatch.setattr(recurrent, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    res = _reservoir(PARAMS[0])
    u = _input()
    assert torch.equal(res.simulate(u).spikes, res.simulate(u, method="csr").spikes) and len(calls) == 1
    with kernels.use("torch"):  # the pure-PyTorch selection never takes the compiled loop
        res.simulate(u)
    assert len(calls) == 1


def test_poisson_events_are_independent_poisson_counts_and_numpy_reproduces_the_loop():
    pois = recurrent.PoissonInput(200, 10.0, 1.0)
    dt, n, steps = 1e-3, 2 * recurrent.POISSON_BLOCK + 300, 400  # two full blocks and a partial one
    offsets, targets = recurrent.poisson_events(pois, dt, 0, steps, 1, n, seed=7)
    counts = np.zeros((steps, n))
    for t in range(steps):
        np.add.at(counts[t], targets[offsets[t]:offsets[t + 1]], 1)
    lam = pois.mean(dt)  # 2 per neuron and step
    assert abs(counts.mean() - lam) < 0.01 * lam
    assert abs(counts.var() - lam) < 0.03 * lam  # Poisson: variance = mean
    per_neuron = counts.mean(0)
    assert per_neuron.std() < 5 * np.sqrt(lam / steps)  # uniform over the neurons, blocks included
    c = np.corrcoef(counts[:, :50].T)
    assert np.abs(c[np.triu_indices(50, 1)]).max() < 0.25  # independent neurons
    # the compiled loop adds exactly these events: a leak-free LIF that never fires integrates them
    p = LIFParams(tau_mem=1e9, dt=dt, v_th=1e12, reset="none")
    res = Reservoir(1, Connectivity(sp.csr_matrix((n, n)), np.zeros(n, bool)), p, input_weight=0.0)
    out = res.simulate(torch.zeros(steps, 1, 1, dtype=torch.float64), method="compiled", poisson=pois, seed=7,
                       record_membrane=True)
    expect = np.cumsum(counts, 0)  # beta = exp(-1e-12): the sums decay by 1e-12 per step at most
    np.testing.assert_allclose(out.membrane[:, 0].numpy(), expect, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("params, delays", [
    (CubaEIParams(tau_mem=20e-3, tau_syn=5e-3, tau_syn_inh=10e-3, dt=1e-3, decay_input=True, reset="zero",
                  refractory_steps=2), None),
    (CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, dt=1e-3, decay_input=True, reset="zero"), 3),
    (CubaEIParams(tau_mem=20e-3, tau_syn=5e-3, tau_syn_inh=10e-3, dt=1e-3, decay_input=True, reset="subtract"), 4),
])
def test_two_currents_and_delays_give_brian2s_spike_trains(params, delays):
    pytest.importorskip("brian2", reason="Brian2 (extra [brian2]) is the reference simulator here")
    from neuromap.backends import brian2 as nb

    con = maass_connectivity((10, 5, 4), lam=2.0, seed=0)
    if delays:
        con = con.with_delays(np.random.default_rng(1).integers(1, delays + 1, con.n_synapses))
    res = Reservoir(8, con, params, input_weight=0.5, rec_scale=0.01, bias=0.05, seed=1)
    u = (torch.rand(500, 1, 8, generator=torch.Generator().manual_seed(3)) < 0.1).double()
    ours = res.simulate(u, method="compiled").spikes[:, 0].numpy().astype(bool)
    theirs = nb.simulate_reservoir(res, u)
    assert 0.005 < ours.mean() < 0.5
    assert np.array_equal(ours, theirs)


def test_unsupported_cases_raise_clear_errors():
    res = _reservoir(PARAMS[0], delays=3)
    u = _input()
    with pytest.raises(ValueError, match="method='event' does not support synaptic delays"):
        res.simulate(u[:, :1], method="event")
    with pytest.raises(ValueError, match="method='fused' does not support synaptic delays"):
        res.simulate(u, method="fused")
    with kernels.use("torch"), pytest.raises(ValueError, match="compiled reservoir loop cannot run here"):
        res.simulate(u, method="compiled")
    with pytest.raises(GraphError, match="synaptic delays other than one step has no graph form"):
        trace(_reservoir(PARAMS[0], delays=3, bias=0.0), u)
    with pytest.raises(GraphError, match="second .inhibitory. synaptic current"):
        trace(_reservoir(PARAMS[4], bias=0.0), u)
    with pytest.raises(ValueError, match="delays must be"):
        Connectivity(res.connectivity.weights, res.connectivity.inhibitory, delays=np.zeros(3, np.int64))
    # a summed input cannot be split into two currents: the layer-level functions refuse CubaEIParams
    with pytest.raises(ValueError, match="cannot split it into the excitatory and inhibitory currents"):
        neuron_sequence(torch.zeros(3, 1, 4), PARAMS[4], as_surrogate("fast_sigmoid", None))
    with pytest.raises(ValueError, match="compiled recurrent loop does not support reset_delay"):
        recurrent.run(recurrent.FanOut.from_csr(sp.eye(4)), LIFParams(reset_delay=True),
                      res.initial_state(1, torch.float32), 3)
    with pytest.raises(ValueError, match="poisson must be"):
        res.simulate(u, poisson=(1, 2))


@pytest.mark.parametrize("backend", ["torch", "crossbar"])
def test_graph_backends_run_a_traced_reservoir_in_one_compiled_call(backend, monkeypatch):
    """The torch backend (and the crossbar backend built on it, whose reservoir self-loop stays digital)
    runs a traced reservoir's recurrent population through the compiled loop: one call, the same spikes
    as its step-by-step schedule."""
    from neuromap.backends import get
    from neuromap.backends.torch import TorchCompiled

    res = Reservoir(6, maass_connectivity((6, 5, 4), seed=2), PARAMS[0], input_weight=1.5, rec_scale=0.02, seed=1)
    u = (torch.rand(30, 2, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    graph = trace(res, u)
    kwargs = {"ideal": True} if backend == "crossbar" else {}
    compiled = get(backend).compile(graph, **kwargs)
    calls = []
    real = recurrent.run
    monkeypatch.setattr(recurrent, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = compiled.run(u)
    assert len(calls) == 1
    monkeypatch.setattr(TorchCompiled, "_islands", lambda self: {})
    steps = compiled.run(u)
    assert len(calls) == 1 and float(out.output.sum()) > 0
    assert torch.equal(out.output, steps.output)
    for k in out.records:
        assert torch.equal(out.records[k], steps.records[k]), k
    if backend == "torch":
        assert torch.equal(out.output, res.simulate(u, method="csr").spikes)


def _lsm_netlist(res: Reservoir):
    """The reservoir as a netlist: 6 inputs, the LIF population, its recurrent CSR projection."""
    from neuromap.netlist import Netlist, Population, Projection

    net = Netlist("lsm")
    net.add_population(Population("input", "input", (6,)))
    net.add_population(Population("reservoir", "lif", (res.n,), res.params.to_dict()))
    w_rec = sp.csr_matrix(res.connectivity.weights * res.rec_scale).astype(np.float32)
    net.add_projection(Projection("in", "input", "reservoir", "sparse", weight=sp.csr_matrix(res.w_in.numpy())))
    net.add_projection(Projection("rec", "reservoir", "reservoir", "sparse", weight=w_rec))
    return net


def test_spinnaker2_runs_a_recurrent_population_in_one_compiled_call(monkeypatch):
    """The SpiNNaker2 execution model (fp32) runs a reservoir's recurrent population with its one self-loop
    through the compiled loop: the same spikes and counters as its step loop, and as the zoo reservoir."""
    from neuromap.backends import get
    from neuromap.backends.spinnaker2.simulate import Simulator

    res = Reservoir(6, maass_connectivity((6, 5, 4), seed=2), LIFParams(tau_mem=20e-3, reset="zero"),
                    input_weight=1.5, rec_scale=0.02, seed=1)
    net = _lsm_netlist(res)
    u = (torch.rand(30, 2, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    compiled = get("spinnaker2").compile_netlist(net, numerics="fp32", method="sequential")
    calls = []
    real = recurrent.run
    monkeypatch.setattr(recurrent, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = compiled.run({"input": u})
    assert len(calls) == 1
    monkeypatch.setattr(Simulator, "_compiled_loop", lambda *a: False)
    steps = compiled.run({"input": u})
    assert len(calls) == 1
    spikes = out.records["reservoir"]
    assert float(spikes.sum()) > 0 and torch.equal(spikes, steps.records["reservoir"])
    assert torch.equal(spikes, res.simulate(u, method="csr").spikes)
    for k in out.counters:
        assert np.array_equal(out.counters[k], steps.counters[k]), k


def test_spinnaker2_in_fixed_point_keeps_its_step_loop(monkeypatch):
    """s16.15 is integer PE arithmetic (saturation, rounded u0.31 decays, quantised weights) that the float
    compiled loop cannot reproduce: the fixed-point model never calls it."""
    from neuromap.backends import get

    res = Reservoir(6, maass_connectivity((5, 4, 3), seed=2), LIFParams(tau_mem=20e-3, reset="zero"),
                    input_weight=1.5, rec_scale=0.02, seed=1)
    net = _lsm_netlist(res)
    calls = []
    real = recurrent.run
    monkeypatch.setattr(recurrent, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    u = (torch.rand(20, 1, 6, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    out = get("spinnaker2").compile_netlist(net, numerics="s16.15", method="sequential").run({"input": u})
    assert calls == [] and float(out.records["reservoir"].sum()) > 0
