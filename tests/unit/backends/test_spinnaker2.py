"""backends.spinnaker2: fp32 == backends.torch bit for bit, s16.15 bounded deviation, SRAM, errors, routes."""

import nir
import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap import backends, targets
from neuromap.backends.base import BackendError
from neuromap.energy import collect, estimate_run
from neuromap.errors import InputError
from neuromap.graph import Graph
from neuromap.graph.neuron import LIFSpec, LISpec, spec_to_nir
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams
from neuromap.partition import DoesNotFit, partition

S2 = backends.get("spinnaker2")


def _small_target(kbytes: int):
    return targets.load("spinnaker2").with_value("core.memory_bits", kbytes * 8192, "test: a smaller PE")


@pytest.mark.parametrize("neuron", ["lif", "cuba"])
def test_fp32_equals_torch_on_traced_mlp_multi_pe(neuron):
    torch.manual_seed(0)
    model = SpikingMLP(64, [96, 48], 10, neuron=neuron)
    x = (torch.rand(20, 4, 64) < 0.3).float()
    g = nm.trace(model, x)
    ref = backends.get("torch").compile(g).run(x)
    m = partition(g.lower(), _small_target(12), method="sequential", weight_bits=32)
    assert m.n_cores > 3
    res = S2.compile(g, mapping=m).run(x)
    assert set(ref.records) <= set(res.records)
    for k in ref.records:
        assert torch.equal(res.records[k], ref.records[k]), k
    assert torch.equal(res.output, ref.output)
    assert torch.equal(res.output, model(x))
    assert "spinnaker2" in backends.available() and res.backend == "spinnaker2"
    act = collect(res.compiled.netlist, res.records)  # records keyed by netlist population names
    assert act.total_spikes > 0 and estimate_run(res.compiled, res).energy_J > 0


def _recurrent_graph(n_in=12, n=20, n_out=5, seed=0):
    rng = np.random.default_rng(seed)
    p = LIFParams.from_decay(0.85, v_th=1.0)
    f32 = np.float32
    nodes = {
        "input": nir.Input(np.array([n_in])),
        "w_in": nir.Affine(rng.normal(0, 0.8, (n, n_in)).astype(f32), rng.normal(0, 0.1, n).astype(f32)),
        "rec": spec_to_nir(LIFSpec((n,), p)),
        "w_rec": nir.Linear(rng.normal(0, 0.4, (n, n)).astype(f32)),
        "w_out": nir.Affine(rng.normal(0, 0.6, (n_out, n)).astype(f32), np.zeros(n_out, f32)),
        "li": spec_to_nir(LISpec((n_out,), beta=0.9)),
        "output": nir.Output(np.array([n_out])),
    }
    edges = [("input", "w_in"), ("w_in", "rec"), ("rec", "w_rec"), ("w_rec", "rec"), ("rec", "w_out"),
             ("w_out", "li"), ("li", "output")]
    return Graph(nodes, edges)


def test_fp32_equals_torch_on_recurrent_net_and_fixed_point_is_close():
    g = _recurrent_graph()
    x = (torch.rand(30, 3, 12, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    ref = backends.get("torch").compile(g).run(x)
    m = partition(g.lower(), _small_target(3), method="sequential", weight_bits=32)
    res = S2.compile(g, mapping=m).run(x)
    assert torch.equal(res.records["rec"], ref.records["rec"]) and torch.equal(res.output, ref.output)
    fix = S2.compile(g, numerics="s16.15").run(x)
    assert fix.records["rec"].sum() > 0
    # the LI readout follows the float model within a bound that scales with its range
    err = (fix.output - ref.output).abs().max() / ref.output.abs().max()
    assert err < 0.25
    # MAC array: the LI -> nothing; the input layer is event-driven (binary input)
    assert res.counters["synops"].sum() > 0 and res.counters["mla_macs"].sum() == 0


def test_s1615_bounded_deviation_and_accuracy_on_digits():
    from neuromap import train

    torch.manual_seed(0)
    data = nm.data.digits(encoding="rate", steps=15)
    model = SpikingMLP(64, [64], 10, neuron="lif")
    train.fit(model, data, epochs=3, lr=3e-3, progress=False)
    xt, yt = data.x_test[:200].transpose(0, 1).contiguous(), data.y_test[:200]
    g = nm.trace(model, xt[:, :2])
    ref = backends.get("torch").compile(g).run(xt)
    fix = S2.compile(g, numerics="s16.15").run(xt)
    acc_ref = float((ref.output.sum(0).argmax(-1) == yt).float().mean())
    acc_fix = float((fix.output.sum(0).argmax(-1) == yt).float().mean())
    agree = {k: float((fix.records[k] == ref.records[k]).float().mean()) for k in ref.records}
    assert acc_ref > 0.6
    assert acc_fix >= acc_ref - 0.05, (acc_fix, acc_ref)
    assert min(agree.values()) > 0.95, agree


def test_sram_overflow_raises_does_not_fit_with_bytes_and_dram_spill():
    torch.manual_seed(0)
    model = SpikingMLP(64, [128], 10)
    x = (torch.rand(10, 2, 64) < 0.3).float()
    g = nm.trace(model, x)
    m = partition(g.lower(), "spinnaker2", method="sequential", weight_bits=32)
    with pytest.raises(DoesNotFit) as ei:
        S2.compile(g, mapping=m, code_bytes=100_000)
    e = ei.value
    assert e.limit == "core.sram_bytes" and e.available == 131072 and e.needed > 131072
    assert "synapse_rows" in str(e) and "B" in str(e)
    c = S2.compile(g, mapping=m, code_bytes=100_000, allow_dram=True)
    assert any(pe.memory.spilled for pe in c.program.pes)
    res = c.run(x)
    assert res.counters["dram_bytes"].sum() > 0
    ref = backends.get("torch").compile(g).run(x)
    assert torch.equal(res.output, ref.output)  # spilling changes timing, not numerics


def test_unsupported_node_named_and_foreign_mapping_rejected():
    n = 3
    nodes = {"input": nir.Input(np.array([n])), "iaf": nir.IF(r=np.ones(n), v_threshold=np.ones(n)),
             "output": nir.Output(np.array([n]))}
    g = Graph(nodes, [("input", "iaf"), ("iaf", "output")])
    assert any("'iaf'" in p and "IF" in p for p in S2.unsupported(g))
    with pytest.raises(BackendError, match="iaf"):
        S2.compile(g)
    model = SpikingMLP(4, [6], 2)
    g2 = nm.trace(model, torch.rand(3, 1, 4))
    m = partition(g2.lower(), "loihi2")
    with pytest.raises(InputError, match="loihi2"):
        S2.compile(g2, mapping=m)
    other = partition(nm.trace(SpikingMLP(4, [7], 2), torch.rand(3, 1, 4)).lower(), "spinnaker2")
    with pytest.raises(BackendError, match="another netlist"):  # same population names, other sizes
        S2.compile(g2, mapping=other)
    with pytest.raises(ValueError, match="shape"):
        S2.compile(g2).run(torch.rand(3, 1, 5))


def test_link_counts_follow_the_mappings_routes():
    torch.manual_seed(0)
    model = SpikingMLP(32, [64], 8)
    with torch.no_grad():
        model[0].weight.fill_(-1.0)  # hidden layer stays silent: only the input population sends packets
    x = torch.ones(5, 1, 32)
    g = nm.trace(model, x)
    net = g.lower()
    tgt = _small_target(2)
    m = partition(net, tgt, method="random", activity={"input": 1.0, "1": 0.0, "3": 0.0}, seed=3, weight_bits=32)
    assert m.metrics["chips"] >= 1 and m.n_cores > 4
    res = S2.compile(g, mapping=m).run(x)
    assert res.records["1"].sum() == 0
    T = x.shape[0]
    mine = {(a, b): ld for a, b, ld, _ in res.link_counts}
    theirs = {(tuple(a), tuple(b)): ld * T for a, b, ld, _ in m.links}
    assert theirs and all(mine.get(k, 0.0) == pytest.approx(v) for k, v in theirs.items())
    # total packet-hops = flows x Manhattan distance between the PEs' routers
    X, Y = np.asarray(m.cores["X"]), np.asarray(m.cores["Y"])
    f = res.flows.tocoo()
    hops = float((f.data * (np.abs(X[f.row] - X[f.col]) + np.abs(Y[f.row] - Y[f.col]))).sum())
    assert sum(mine.values()) == pytest.approx(hops)
    assert hops == pytest.approx(m.metrics["hop_traffic"] * T)
    # per-PE packets received equal the flows into each PE
    assert np.allclose(res.counters["packets_in"].sum(axis=(0, 1)), np.asarray(res.flows.sum(axis=0)).ravel())


def test_timing_is_the_cost_models_event_rate_model_and_takes_user_cycles():
    """One step-time model: the run's timing (afap, one step) equals the energy estimate's busiest-PE
    time from the published per-PE event rate at the default operating point; measured cycles given
    by the user replace / add to it; real time charges the tick."""
    torch.manual_seed(0)
    model = SpikingMLP(16, [32], 4)
    x = (torch.rand(1, 1, 16) < 0.5).float()
    g = nm.trace(model, x)
    c = S2.compile(g, mode="afap")
    res = c.run(x)
    assert res.timing.complete and not [u for u in res.timing.unavailable if not u.startswith("DRAM")]
    assert res.timing.clock_hz == 150e6
    rate = targets.load("spinnaker2").get("timing.synop_rate_pe")[0]
    assert res.timing.step_s[0, 0] == pytest.approx(res.counters["synops"][0, 0].max() / rate)
    est = estimate_run(c, res)
    assert est.resources["step_time_s"] == float(res.timing.step_s.mean())  # one PE model: equal, not close
    res2 = c.run(x, cycles={"synop": 10, "neuron_update": 20, "packet_in": 5, "packet_out": 5})
    busiest = res2.counters["synops"][0, 0] * 10 + res2.counters["neuron_updates"][0, 0] * 20 \
        + res2.counters["packets_in"][0, 0] * 5 + res2.counters["packets_out"][0, 0] * 5
    assert res2.timing.step_s[0, 0] == pytest.approx(busiest.max() / 150e6)
    rt = S2.compile(g, mode="realtime").run(x)
    assert rt.timing.latency_per_step_s == pytest.approx(1e-3) and rt.timing.overruns == 0
    assert set(res.per_pe()) >= {"synops", "packets_in", "neuron_updates"}


@pytest.mark.parametrize("kbytes", [3, 6, 12])
@pytest.mark.parametrize("numerics", ["fp32", "s16.15"])
def test_the_partitioner_uses_the_pe_layout_so_one_partition_fits(kbytes, numerics):
    """No re-partitioning: the PE memory model the backend gives the partitioner bounds every PE's
    SRAM as the program lays it out, on small PEs, feed-forward and recurrent, with code bytes."""
    torch.manual_seed(0)
    mlp = nm.trace(SpikingMLP(64, [96, 48], 10), (torch.rand(5, 2, 64) < 0.3).float())
    for graph in (mlp, _recurrent_graph(n=60)):
        c = S2.compile(graph, target=_small_target(kbytes), numerics=numerics, code_bytes=256)
        est = c.mapping.usage["core.memory_bits"]
        for pe in c.program.pes:
            assert pe.memory.sram_bytes * 8 <= est[pe.core], (pe.core, pe.memory.to_dict())
        assert max(est) <= kbytes * 8192
