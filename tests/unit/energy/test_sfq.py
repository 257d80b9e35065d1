"""The SFQ cost model (kind = "sfq") against hand arithmetic: junction switches x I_c x Phi_0 on the
chip, the cryocooler's wall-plug energy as its own term, latency from the clock and the depth."""

import html
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from neuromap import targets
from neuromap.energy import MissingFigure, collect, estimate
from neuromap.energy.report import build_report
from neuromap.netlist import Netlist, Population, Projection
from neuromap.targets import TargetError
from neuromap.targets.sfq import network_depth

PHI_0 = 6.62607015e-34 / (2 * 1.602176634e-19)  # h / 2e, exact in the 2019 SI (CODATA 2018)
T = 4


def xor_shaped_net() -> Netlist:
    """2 inputs -> 2 hidden -> 1 output, all-ones weights (the counts below are by hand)."""
    net = Netlist("two_two_one")
    net.add_population(Population("in", "input", (2,)))
    net.add_population(Population("h", "lif", (2,)))
    net.add_population(Population("o", "lif", (1,)))
    net.add_projection(Projection("in->h", "in", "h", "dense", weight=np.ones((2, 2))))
    net.add_projection(Projection("h->o", "h", "o", "dense", weight=np.ones((1, 2))))
    return net


@pytest.fixture
def activity():
    x = torch.zeros(T, 1, 2)
    x[0, 0] = 1.0  # both inputs fire at step 0 -> 2 spikes x 2 targets = 4 synaptic events
    x[2, 0, 1] = 1.0  # input 1 at step 2 -> 2 more
    h = torch.zeros(T, 1, 2)
    h[1, 0, 0] = 1.0  # one hidden spike -> 1 synaptic event into o
    o = torch.zeros(T, 1, 1)
    o[2, 0, 0] = 1.0
    return collect(xor_shaped_net(), {"in": x, "h": h, "o": o})


def full_target(tmp_path: Path) -> Path:
    """A copy of sfq.toml with every figure given (test values, not hardware claims)."""
    text = (targets.folder() / "sfq.toml").read_text()
    given = {
        "junctions_per_synaptic_event": 'junctions_per_synaptic_event = { value = 3, unit = "1", source = "test", '
                                        'confidence = "H" }',
        "junctions_per_neuron_update": 'junctions_per_neuron_update = { value = 2, unit = "1", source = "test", '
                                       'confidence = "H" }',
        "wall_plug_factor": 'wall_plug_factor = { value = 500.0, unit = "1", source = "test", confidence = "H" }',
        "p_bias_static": 'p_bias_static = { value = 1.0e-6, unit = "W", source = "test", confidence = "H" }',
    }
    for key, line in given.items():
        text = re.sub(rf"^{key} = .*$", line, text, flags=re.M)
    text = text.replace('name = "sfq"', 'name = "sfq-full"')
    path = tmp_path / "sfq-full.toml"
    path.write_text(text)
    return path


def test_shipped_sfq_target_loads_with_its_missing_figures():
    t = targets.load("sfq")
    assert t.kind == "sfq"
    assert t.get("device.phi_0") == pytest.approx(PHI_0, rel=1e-9)
    assert t.get("device.i_c") == 250e-6
    for key in ("sfq.junctions_per_synaptic_event", "sfq.junctions_per_neuron_update", "cryo.wall_plug_factor",
                "energy.p_bias_static", "validation.xor_margin"):
        assert not t.figure(key).known and t.figure(key).missing


def test_shipped_target_hand_arithmetic(activity):
    """Missing junction counts: synaptic events priced at 1 junction, neurons left out; the
    cryocooler at the Carnot bound 300 / 4.2 - 1; the whole energy marked a lower bound."""
    net = xor_shaped_net()
    assert activity.synops == {"in->h": 6.0, "h->o": 1.0}
    est = estimate(net, activity, targets.load("sfq"))
    e_switch = 250e-6 * PHI_0
    chip = 7 * 1 * e_switch
    carnot = 300.0 / 4.2 - 1.0
    assert est.resources["energy_per_switch_J"] == pytest.approx(e_switch)
    assert est.breakdown()["SFQ pulses (synapses)"] == pytest.approx(chip)
    assert est.breakdown()["cryocooler (wall-plug)"] == pytest.approx(chip * carnot)
    assert est.energy_per_inference_J == pytest.approx(chip * (1 + carnot))
    assert est.resources["chip_energy_J_per_inference"] == pytest.approx(chip)
    assert est.resources["cryocooler_energy_J_per_inference"] == pytest.approx(chip * carnot)
    assert "SFQ pulses (neurons)" not in est.breakdown()
    assert est.energy_lower_bound
    joined = " ".join(est.omitted)
    for key in ("sfq.junctions_per_synaptic_event", "sfq.junctions_per_neuron_update", "energy.p_bias_static",
                "cryo.wall_plug_factor"):
        assert key in joined
    # latency: one 10 GHz period per step + (depth - 1) = 1 period of pipeline fill
    assert est.latency_per_step_s == pytest.approx(1e-10 + 1e-10 / T)
    assert est.latency_per_inference_s == pytest.approx((T + 1) * 1e-10)
    text = est.explain("energy")
    assert "device.i_c*device.phi_0" in text and "cryo.t_ambient/cryo.t_cold-1" in text


def test_full_target_hand_arithmetic(activity, tmp_path):
    """Every figure given: synapses x 3 junctions, event-driven neuron updates x 2, static bias
    power x run time, the cryocooler at 500 W/W."""
    net = xor_shaped_net()
    est = estimate(net, activity, targets.load(full_target(tmp_path)))
    e_switch = 250e-6 * PHI_0
    updates = activity.updates_event["h"] + activity.updates_event["o"]
    assert (activity.updates_event["h"], activity.updates_event["o"]) == (4.0, 1.0)  # steps 0, 2 into h; 1 into o
    latency = (T + 1) * 1e-10
    chip = 7 * 3 * e_switch + updates * 2 * e_switch + 1e-6 * latency
    assert est.breakdown()["SFQ pulses (neurons)"] == pytest.approx(updates * 2 * e_switch)
    assert est.breakdown()["static bias power"] == pytest.approx(1e-6 * latency)
    assert est.energy_per_inference_J == pytest.approx(chip * 501.0)
    assert (est.resources["wall_plug_factor"], est.resources["wall_plug_factor_from"]) == (500.0, "cryo.wall_plug_factor")
    assert est.omitted == ["I/O: DC-to-SFQ input and SFQ-to-DC output converters are not priced (no figure)"]


def test_missing_switching_energy_names_the_figure(tmp_path):
    text = (targets.folder() / "sfq.toml").read_text()
    text = re.sub(r"^i_c = .*$", 'i_c = { missing = "not in the paper" }', text, flags=re.M)
    path = tmp_path / "no_ic.toml"
    path.write_text(text)
    net = xor_shaped_net()
    act = collect(net, {"in": torch.ones(2, 1, 2), "h": torch.zeros(2, 1, 2), "o": torch.zeros(2, 1, 1)})
    with pytest.raises(MissingFigure, match=r"device\.i_c.*not in the paper"):
        estimate(net, act, targets.load(path))


def test_loader_checks_sfq_units(tmp_path):
    text = (targets.folder() / "sfq.toml").read_text()
    text = text.replace('value = 250.0e-6, unit = "A"', 'value = 250.0e-6, unit = "W"')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(TargetError, match=r"device\.i_c.*unit must be 'A'"):
        targets.load(path)


def test_network_depth_counts_a_recurrent_group_once():
    net = xor_shaped_net()
    assert network_depth(net) == 2
    net.add_projection(Projection("o->h", "o", "h", "dense", weight=np.ones((2, 1))))
    assert network_depth(net) == 1
    net.add_population(Population("r", "lif", (3,)))
    net.add_projection(Projection("o->r", "o", "r", "dense", weight=np.ones((3, 1))))
    net.add_projection(Projection("r->r", "r", "r", "dense", weight=np.ones((3, 3))))
    assert network_depth(net) == 2


def test_report_shows_chip_and_wall_plug_energy(activity, tmp_path):
    rep = build_report(xor_shaped_net(), activity, ["sfq", "loihi"])
    row = next(r for r in rep.rows() if r["target"] == "sfq")
    assert row["kind"] == "sfq" and row["energy_lower_bound"]
    assert row["chip_energy_per_inference_J"] + row["cryocooler_energy_per_inference_J"] == pytest.approx(
        row["energy_per_inference_J"])
    for text in (rep.table(), rep.markdown(), html.unescape(rep.to_html())):
        assert "sfq: chip >=" in text and "cryocooler >=" in text
    doc = rep.to_dict()["targets"]["sfq"]
    assert doc["resources"]["wall_plug_factor"] == pytest.approx(300 / 4.2 - 1)
    assert "(wall-plug factor 70.4 J/J, Carnot bound)" in rep.table()
