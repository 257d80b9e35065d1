"""Cost models against hand arithmetic (Loihi 1 per-op energies, the Spike-driven Transformer
formula), and the report's views (table, JSON, HTML, explain) and errors."""

import json

import numpy as np
import pytest
import torch

from neuromap import targets
from neuromap.energy import ActivityError, MissingFigure, Options, collect, estimate, spike_driven_transformer_energy
from neuromap.energy.report import build_report
from neuromap.partition import partition
from tests.support import small_net

X = torch.tensor([[[1, 0, 1], [0, 0, 0]], [[0, 1, 0], [1, 1, 1]], [[0, 0, 0], [0, 0, 1]]], dtype=torch.float32)
H = torch.tensor([[[1, 0], [0, 0]], [[0, 1], [1, 1]], [[0, 0], [0, 0]]], dtype=torch.float32)
O = torch.tensor([[[0.0], [0.0]], [[3.0], [3.0]], [[1.5], [2.5]]])


@pytest.fixture
def activity():
    return collect(small_net(), {"in": X, "h": H, "o": O})


def test_loihi_energy_equals_hand_arithmetic(activity):
    """Davies et al. 2018 Table 2 figures x hand-computed counts, term by term."""
    net = small_net()
    loihi = targets.load("loihi")
    mapping = partition(net, loihi, activity=activity)
    assert mapping.n_cores == 1
    est = estimate(net, activity, loihi, mapping)
    T, B = 3, 2
    synops = 12 + 2  # from the activity test's hand counts
    active = {"h": 7, "o": 2}
    inactive = {"h": 12 - 7, "o": 6 - 2}
    packets = 7 + 2  # every input spike and every spike of h1 (h0 has no non-zero target): one core each
    latency = (synops / (T * B)) * 3.5e-9 + 3 * 8.4e-9 + 113e-9  # busiest (only) core + barrier of one tile
    static = 1 * latency * T * B * 0.104
    expected = (synops * 23.6e-12 + sum(active.values()) * 81e-12 + sum(inactive.values()) * 52e-12
                + packets * 1.7e-12 + 0 * 3.5e-12 + static)
    assert est.latency_per_step_s == pytest.approx(latency, rel=1e-12)
    assert est.energy_J == pytest.approx(expected, rel=1e-12)
    assert est.energy_per_inference_J == pytest.approx(expected / B, rel=1e-12)
    text = est.explain("energy")
    assert "Davies 2018 Table 2" in text and "2.36e-11 J" in text
    assert "barrier (1 of 32 tiles spanned)" in est.explain("latency")


def test_spike_driven_transformer_formula_exact():
    # toy two-layer net: a real-valued first layer (MACs) and two spiking layers with rates 0.2 / 0.05
    e = spike_driven_transformer_energy(
        mac_flops=1000.0, ac_flops={"l1": 5000.0, "l2": 800.0}, rates={"l1": 0.2, "l2": 0.05}, steps=4
    )
    assert e == pytest.approx(4.6e-12 * 1000 + 0.9e-12 * 4 * (0.2 * 5000 + 0.05 * 800), rel=1e-15)
    with pytest.raises(ValueError, match="same layers"):
        spike_driven_transformer_energy(1.0, {"a": 1.0}, {"b": 0.1}, 1)


def test_sdt_45nm_is_mac_ac_model(activity):
    net = small_net()
    est = estimate(net, activity, targets.load("sdt-45nm"))
    # binary inputs everywhere in this net: all effective ops are ACs
    assert est.energy_J == pytest.approx(4.6e-12 * 0 + 0.9e-12 * (12 + 2), rel=1e-12)
    assert est.energy_lower_bound  # arithmetic only


def test_cpu_per_synop_hand_arithmetic(activity):
    """Degnan et al. 2016 (keras-spiking 'cpu'): 8.6 nJ per synapse-step and per neuron-step."""
    est = estimate(small_net(), activity, targets.load("cpu"))
    dense = 3 * 2 * 6 + 3 * 2 * 2  # every synapse every step (T=3, B=2)
    updates = 3 * 2 * (2 + 1)
    assert est.energy_J == pytest.approx(8.6e-9 * (dense + updates), rel=1e-12)
    assert est.latency_per_step_s is None and any("latency" in o for o in est.omitted)


def test_gpu_power_time_hand_arithmetic(activity):
    """H100 (H200-measured figures), batch 1, eager: 2 matmuls + LIF step (9 ops) + LI step (4 ops)
    = 15 kernels per step x 9 us; energy = mean busy power (114-120 W) x time."""
    h100 = targets.load("gpu-h100")
    est = estimate(small_net(), activity, h100)
    step = 15 * 9.0e-6
    assert est.resources["kernels_per_step"] == 15
    assert est.latency_per_step_s == pytest.approx(step, rel=1e-12)
    assert est.energy_per_inference_J == pytest.approx(117.0 * step * 3, rel=1e-12)
    assert est.resources["idle_energy_J_per_inference"] == pytest.approx(75.0 * step * 3, rel=1e-12)
    lb = est.resources["lower_bound_at_peak"]["energy_per_inference_J"]
    assert lb < est.energy_per_inference_J / 1e4  # the old FLOPs / peak figure, kept only as a bound
    graph = estimate(small_net(), activity, h100, options=Options(gpu_mode="graph"))
    assert graph.latency_per_step_s == pytest.approx(15 * 1.3e-6, rel=1e-12)
    fused = estimate(small_net(), activity, h100, options=Options(gpu_mode="fused", batch=8))
    assert fused.latency_per_step_s == pytest.approx(4 * 1.3e-6, rel=1e-12)  # 2 matmuls + 2 fused neuron kernels
    assert fused.energy_per_inference_J == pytest.approx(117.0 * 4 * 1.3e-6 * 3 / 8, rel=1e-12)
    a100 = estimate(small_net(), activity, targets.load("gpu-a100"))
    assert any("p_idle" in o for o in a100.omitted)  # idle power missing: listed, not invented


def test_kernel_table_matches_dispatched_ops():
    """The eager kernel counts are the aten ops the neuron steps dispatch (views excluded)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from neuromap.netlist import Netlist, Population
    from neuromap.neurons.egru import egru_candidate
    from neuromap.neurons.functional import initial_state, neuron_step
    from neuromap.neurons.params import CubaLIFParams, LIFParams
    from neuromap.neurons.registry import LIParams, li_sequence
    from neuromap.neurons.surrogate import Surrogate
    from neuromap.targets.conventional import kernels_per_step

    views = {"aten.split.Tensor", "aten.t.default", "aten.view.default"}

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.n += str(func) not in views
            return func(*args, **(kwargs or {}))

    def count(fn) -> int:
        c = Count()
        with torch.no_grad(), c:
            fn()
        return c.n

    x = torch.zeros(1, 4)
    for kind, params in (("lif", LIFParams()), ("lif", LIFParams(reset="zero")), ("cuba", CubaLIFParams())):
        state = initial_state(params, (1, 4))
        ops = count(lambda p=params, s=state: neuron_step(x, s, p, Surrogate()))
        net = Netlist("one")
        net.add_population(Population("p", kind, (4,), {"reset": params.reset}))
        assert kernels_per_step(net, "eager") == (ops, []), (kind, params.reset)
    gx, c, th = torch.zeros(1, 12), torch.zeros(1, 4), torch.zeros(4)

    def egru_step():
        cand = egru_candidate(gx, gx, c)
        o = ((cand - th) > 0).to(cand.dtype)
        return o * cand, cand - o * th

    net = Netlist("one")
    net.add_population(Population("p", "egru", (4,), spiking=False))
    assert kernels_per_step(net, "eager") == (count(egru_step), [])

    for kind, li in (("li", LIParams(0.9)), ("cubali", LIParams(0.9, alpha=0.8))):  # one more step's ops
        ops = count(lambda p=li: li_sequence(torch.zeros(2, 1, 4), p, None)) - count(
            lambda p=li: li_sequence(torch.zeros(1, 1, 4), p, None))
        net = Netlist("one")
        net.add_population(Population("p", kind, (4,), li, spiking=False))
        assert kernels_per_step(net, "eager") == (ops, []), kind


def test_conventional_bad_input(activity, tmp_path):
    with pytest.raises(ValueError, match="gpu_mode='turbo'"):
        Options(gpu_mode="turbo")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch"):
            Options(batch=bad)
    text = (targets.folder() / "gpu-h100.toml").read_text()
    p = tmp_path / "nogpu.toml"
    p.write_text(text.replace("t_kernel_graph = { value = 1.3e-6,", "t_kernel_graph = { missing = \"not measured\" } #"))
    t = targets.load(p)
    assert estimate(small_net(), activity, t).energy_J > 0  # eager does not need the graph figure
    with pytest.raises(MissingFigure, match=r"t_kernel_graph.*not measured.*gpu_mode='graph'") as info:
        estimate(small_net(), activity, t, options=Options(gpu_mode="graph"))
    assert str(p) in str(info.value)


def test_report_views_and_traceability(activity, tmp_path):
    rep = build_report(small_net(), activity, ["loihi", "spinnaker2", "crossbar-pcm", "gpu-a100"], model="toy")
    table = rep.table()
    for name in ("loihi", "spinnaker2", "crossbar-pcm", "gpu-a100"):
        assert name in table
    doc = json.loads(rep.to_json())
    assert doc["schema_version"] == 1 and set(doc["targets"]) == {"loihi", "spinnaker2", "crossbar-pcm", "gpu-a100"}
    for t in doc["targets"].values():
        total = sum(term["result"] for term in t["terms"] if term["quantity"] == "energy")
        assert total == pytest.approx(t["energy_J"])
    s2 = rep.explain("spinnaker2", "energy")
    assert "omitted" in s2 and "e_hop" in s2  # SpiNNaker2 per-hop energy is not in the sources
    html_path = rep.save(tmp_path / "r.html")
    html = html_path.read_text()
    assert html.count("data:image/png;base64") >= 3 and "neuromap-report" in html
    assert rep.save(tmp_path / "r.json").read_text().startswith("{")


def test_errors(activity):
    with pytest.raises(Exception, match="known|available"):
        build_report(small_net(), activity, ["loihi9"])
    other = collect(small_net(), {"in": X, "h": H, "o": O})
    other.neurons["h"] = 5
    with pytest.raises(ActivityError, match="'h'"):
        build_report(small_net(), other, ["cpu"])
    with pytest.raises(ValueError, match="needs a Mapping"):
        estimate(small_net(), activity, targets.load("loihi"))
    s2 = targets.load("spinnaker2")

    class NoSynop:
        name, kind = "x", "digital"

        def figure(self, key):
            return None if key == "energy.e_synop" else s2.figure(key)

        def get(self, key, default=None):
            return s2.get(key, default)

    with pytest.raises(MissingFigure, match="e_synop"):
        estimate(small_net(), activity, NoSynop(), partition(small_net(), s2, activity=activity))
    assert np.isfinite(activity.total_spikes)


def test_per_core_energy_and_memory(activity):
    net = small_net()
    s2 = targets.load("spinnaker2")
    est = estimate(net, activity, s2, partition(net, s2, activity=activity))
    per_core = est.per_core["dynamic_energy_J"]
    assert len(per_core) == est.resources["cores"]
    # the per-core dynamic energies (PE active power x busy time + neuron updates) add up to those terms
    dynamic = sum(t.result for t in est.energy_terms if t.name in ("PE active power", "neuron updates"))
    assert sum(per_core) == pytest.approx(dynamic, rel=1e-12)
    assert est.resources["memory_per_core"]


def test_spinnaker2_hand_arithmetic(activity):
    """Scholze et al. 2026 chip figures at 0.5 V / 150 MHz: real time charges the whole 1 ms tick
    (baseline 75.2 mW per chip + 1.054 mW sleep per used PE), active power 1.245 mW x events / 6 M/s,
    neuron updates x 2.19 nJ; as fast as possible the step is the busiest PE's events / rate."""
    net = small_net()
    s2 = targets.load("spinnaker2")
    mapping = partition(net, s2, activity=activity)
    T, B = 3, 2
    pes = len({int(c) for p in ("h", "o") for c in mapping.core_of(p)})
    busy = (12 + 2) / 6.0e6  # every synaptic event of the run at the per-PE rate
    dyn = busy * 1.245e-3 + (12 + 6) * 2.19e-9
    rt = estimate(net, activity, s2, mapping)
    run = 1e-3 * T * B
    assert rt.latency_per_step_s == pytest.approx(1e-3)
    assert rt.energy_J == pytest.approx(75.2e-3 * run + 1.054e-3 * pes * run + dyn, rel=1e-12)
    afap = estimate(net, activity, s2, mapping, options=Options(realtime=False))
    per_pe = np.asarray(afap.per_core["synops_per_step"])
    step = per_pe.max() / 6.0e6
    assert afap.latency_per_step_s == pytest.approx(step, rel=1e-12) and not afap.latency_lower_bound
    assert afap.energy_J == pytest.approx((75.2e-3 + 1.054e-3 * pes) * step * T * B + dyn, rel=1e-12)
    fast = estimate(net, activity, s2, mapping, options=Options(realtime=False, operating_point=1))
    assert fast.latency_per_step_s == pytest.approx(per_pe.max() / 12.0e6, rel=1e-12)
    with pytest.raises(ValueError, match="operating_point=2 but 'spinnaker2' has 2"):
        estimate(net, activity, s2, mapping, options=Options(operating_point=2))


def test_crossbar_core_and_cell_hand_arithmetic(activity):
    """HERMES: a tile read is a whole-core MVM (13.43 nJ, converters included), 133 ns; RRAM per cell
    with 7 weight slices per 8-bit weight on 1-bit cells, ADCs shared by 8 columns, bit-serial
    8-bit inputs on a 1-bit DAC (one plane for spikes)."""
    net = small_net()
    pcm = estimate(net, activity, targets.load("crossbar-pcm"))
    assert pcm.energy_J == pytest.approx((6 + 6) * 13.43e-9, rel=1e-12)  # T*B = 6 vectors x one tile, two layers
    assert pcm.latency_per_step_s == pytest.approx(2 * 133e-9, rel=1e-12)
    rram = targets.load("crossbar-rram")
    est = estimate(net, activity, rram)
    cells, adc, dac = 6 * 3 * 14 + 6 * 2 * 7, 6 * 14 + 6 * 7, 6 * 3 + 6 * 2
    expected = cells * 1.8e-15 + adc * (0.99e-12 + 0.021e-12) + dac * 0.417e-12
    assert est.energy_J == pytest.approx(expected, rel=1e-12)
    assert est.latency_per_step_s == pytest.approx(2 * 100e-9, rel=1e-12)  # 8 x 0.833 ns of ADC < 100 ns
    activity.spiking_input["w2"] = False  # real-valued inputs: 8 planes through the 1-bit DAC
    graded = estimate(net, activity, rram)
    cells, adc, dac = 6 * 3 * 14 + 8 * 6 * 2 * 7, 6 * 14 + 8 * 6 * 7, 6 * 3 + 8 * 6 * 2
    assert graded.energy_J == pytest.approx(cells * 1.8e-15 + adc * (0.99e-12 + 0.021e-12) + dac * 0.417e-12,
                                            rel=1e-12)
    assert graded.latency_per_step_s == pytest.approx((1 + 8) * 100e-9, rel=1e-12)


def test_breakdown_shares_sum_to_100_on_multi_sample_report(activity):
    """The chart's shares are per-inference shares: each target's categories add up to 100 %
    (the bug: breakdown() summed over samples was divided by the per-inference total)."""
    assert activity.samples == 2
    rep = build_report(small_net(), activity, ["loihi", "spinnaker2", "crossbar-pcm", "gpu-a100"], model="toy")
    doc = json.loads(rep.to_json())
    for name, e in rep.estimates.items():
        shares = e.shares()
        assert sum(shares.values()) == pytest.approx(100.0, rel=1e-12), name
        assert all(0.0 <= v <= 100.0 for v in shares.values()), name
        per_inf = {k: v / e.samples for k, v in e.breakdown().items()}
        for k, v in per_inf.items():
            assert shares[k] == pytest.approx(100.0 * v / e.energy_per_inference_J, rel=1e-12)
        assert doc["targets"][name]["energy_shares_percent"] == pytest.approx(shares)


def test_lower_bound_marks_and_omitted_column(activity):
    rep = build_report(small_net(), activity, ["loihi", "spinnaker2"], model="toy")
    est = rep.estimates["loihi"]
    est.energy_lower_bound = est.latency_lower_bound = True
    table = rep.table()
    row = next(line for line in table.splitlines() if line.startswith("loihi "))
    assert row.count(">=") == 3  # energy, latency per step, latency per inference
    html = rep.to_html()
    assert "<th>omitted</th>" in html and "&gt;=" in html
    assert "validation.json" in html and "neuromap validate" in html  # the report links to the validation rows
    md = next(line for line in rep.markdown().splitlines() if line.startswith("| loihi |"))
    assert md.count(">=") == 3
    doc = json.loads(rep.to_json())
    assert doc["targets"]["loihi"]["energy_lower_bound"] is True
    assert doc["targets"]["loihi"]["latency_lower_bound"] is True
    assert ">= this energy is a lower bound" in est.explain("energy")


def test_report_cli_rejects_bad_batch_and_mode(capsys):
    from neuromap.cli import main

    assert main(["report", "m.nir", "--target", "gpu-a100", "--dataset", "digits", "--batch", "0"]) == 2
    assert "batch=0: must be an integer >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse rejects an unknown mode with exit code 2
        main(["report", "m.nir", "--target", "gpu-a100", "--dataset", "digits", "--gpu-mode", "turbo"])
    assert exc.value.code == 2 and "turbo" in capsys.readouterr().err


def test_report_costs_the_mapping_the_run_used(activity, monkeypatch):
    from neuromap import partition as part

    net = small_net()
    ran = part.partition(net, "spinnaker2", method="sequential")
    calls = []
    monkeypatch.setattr(part, "partition", lambda *a, **k: calls.append(a) or ran)
    rep = build_report(net, activity, ["spinnaker2"], mappings={"spinnaker2": ran})
    assert calls == [] and rep.mappings["spinnaker2"] is ran
    with pytest.raises(ValueError, match="made for target 'spinnaker2'"):
        build_report(net, activity, ["loihi"], mappings={"loihi": ran})
