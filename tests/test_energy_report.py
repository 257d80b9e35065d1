"""Cost models against hand arithmetic (Loihi 1 per-op energies, the Spike-driven Transformer
formula), and the report's views (table, JSON, HTML, explain) and errors."""

import json

import numpy as np
import pytest
import torch
from test_energy_activity import small_net

from neuromap import hardware
from neuromap.energy import ActivityError, collect
from neuromap.energy.costs import MissingFigure, estimate, spike_driven_transformer_energy
from neuromap.energy.report import build_report
from neuromap.partition import partition

X = torch.tensor([[[1, 0, 1], [0, 0, 0]], [[0, 1, 0], [1, 1, 1]], [[0, 0, 0], [0, 0, 1]]], dtype=torch.float32)
H = torch.tensor([[[1, 0], [0, 0]], [[0, 1], [1, 1]], [[0, 0], [0, 0]]], dtype=torch.float32)
O = torch.tensor([[[0.0], [0.0]], [[3.0], [3.0]], [[1.5], [2.5]]])


@pytest.fixture
def activity():
    return collect(small_net(), {"in": X, "h": H, "o": O})


def test_loihi_energy_equals_hand_arithmetic(activity):
    """Davies et al. 2018 Table 2 figures x hand-computed counts, term by term."""
    net = small_net()
    loihi = hardware.load("loihi")
    mapping = partition(net, loihi, activity=activity)
    assert mapping.n_cores == 1
    est = estimate(net, activity, loihi, mapping)
    T, B = 3, 2
    synops = 12 + 2  # from the activity test's hand counts
    active = {"h": 7, "o": 2}
    inactive = {"h": 12 - 7, "o": 6 - 2}
    packets = 7 + 2  # every input spike and every spike of h1 (h0 has no non-zero target): one core each
    latency = (synops / (T * B)) * 3.5e-9 + 3 * 8.4e-9 + 465e-9  # busiest (only) core + barrier
    static = 1 * latency * T * B * 0.104
    expected = (synops * 23.6e-12 + sum(active.values()) * 81e-12 + sum(inactive.values()) * 52e-12
                + packets * 1.7e-12 + 0 * 3.5e-12 + static)
    assert est.latency_per_step_s == pytest.approx(latency, rel=1e-12)
    assert est.energy_J == pytest.approx(expected, rel=1e-12)
    assert est.energy_per_inference_J == pytest.approx(expected / B, rel=1e-12)
    text = est.explain("energy")
    assert "Davies 2018 Table 2" in text and "2.36e-11 J" in text


def test_spike_driven_transformer_formula_exact():
    # toy two-layer net: a real-valued first layer (MACs) and two spiking layers with rates 0.2 / 0.05
    e = spike_driven_transformer_energy(
        mac_flops=1000.0, ac_flops={"l1": 5000.0, "l2": 800.0}, rates={"l1": 0.2, "l2": 0.05}, steps=4
    )
    assert e == pytest.approx(4.6e-12 * 1000 + 0.9e-12 * 4 * (0.2 * 5000 + 0.05 * 800), rel=1e-15)
    with pytest.raises(ValueError, match="same layers"):
        spike_driven_transformer_energy(1.0, {"a": 1.0}, {"b": 0.1}, 1)


def test_conventional_cpu_is_mac_ac_model(activity):
    net = small_net()
    cpu = hardware.load("cpu")
    est = estimate(net, activity, cpu)
    # binary inputs everywhere in this net: all effective ops are ACs
    assert est.energy_J == pytest.approx(4.6e-12 * 0 + 0.9e-12 * (12 + 2), rel=1e-12)


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
        estimate(small_net(), activity, hardware.load("loihi"))
    s2 = hardware.load("spinnaker2")

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
    s2 = hardware.load("spinnaker2")
    est = estimate(net, activity, s2, partition(net, s2, activity=activity))
    per_core = est.per_core["dynamic_energy_J"]
    assert len(per_core) == est.resources["cores"]
    # with no spike / hop / static figures on SpiNNaker2, the per-core energies add up to the total
    assert sum(per_core) == pytest.approx(est.energy_J, rel=1e-12)
    assert est.resources["memory_per_core"]


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
