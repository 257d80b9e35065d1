"""The uncertainty rule (H +-20 %, M x/2, L x/5, D the widest of its inputs unless the file states a
range, estimate = true at least L, bounds one-sided) and its arithmetic (a term is count x value at
both ends, a sum is the sum of lows and highs); lower bounds marked ">=" in every view."""

import math

import pytest
import torch

from neuromap import targets
from neuromap.energy import collect, estimate
from neuromap.energy.report import build_report
from neuromap.estimate import Estimate, Term, inverted
from neuromap.targets import TargetError
from neuromap.targets.schema import SPREAD
from tests.support import small_net

X = torch.tensor([[[1, 0, 1], [0, 0, 0]], [[0, 1, 0], [1, 1, 1]], [[0, 0, 0], [0, 0, 1]]], dtype=torch.float32)
H = torch.tensor([[[1, 0], [0, 0]], [[0, 1], [1, 1]], [[0, 0], [0, 0]]], dtype=torch.float32)
O = torch.tensor([[[0.0], [0.0]], [[3.0], [3.0]], [[1.5], [2.5]]])


def _target(tmp_path, energy_lines: str, name: str = "rules"):
    """A copy of cpu.toml whose [energy] section holds ``energy_lines``."""
    text = (targets.folder() / "cpu.toml").read_text()
    head, _, _ = text.partition("[energy]")
    path = tmp_path / f"{name}.toml"
    path.write_text(head.replace('name = "cpu"', f'name = "{name}"') + "[energy]\n" + energy_lines)
    return path


def _fig(value, conf, extra=""):
    return f'{{ value = {value}, unit = "J", source = "test", confidence = "{conf}"{extra} }}'


def test_confidence_rule(tmp_path):
    lines = "\n".join([
        "e_synop_system = " + _fig(8.6e-9, "H"),
        "e_mac = " + _fig(1e-12, "M"),
        "e_ac = " + _fig(1e-12, "L"),
        "e_mac_int8 = " + _fig(2e-12, "D", ', derived_from = ["energy.e_mac", "H"]'),  # widest input: M
        "e_ac_int8 = " + _fig(2e-12, "D"),  # inputs not named: the widest band, L
        "e_sram_64b_8kb = " + _fig(1e-12, "H", ", estimate = true"),  # an estimate: at least L
        "e_sram_64b_32kb = " + _fig(1e-12, "D", ', derived_from = ["L"], range = [0.9e-12, 1.5e-12]'),  # its own
        "e_sram_64b_1mb = " + _fig(1e-12, "H", ', bound = "lower"'),  # a lower bound: no upper end
    ]) + "\n"
    t = targets.load(_target(tmp_path, lines))
    spread = {k: t.figure(f"energy.{k}").spread for k in ("e_synop_system", "e_mac", "e_ac", "e_mac_int8",
                                                         "e_ac_int8", "e_sram_64b_8kb", "e_sram_64b_32kb",
                                                         "e_sram_64b_1mb")}
    assert spread["e_synop_system"] == SPREAD["H"] == (0.8, 1.2)
    assert spread["e_mac"] == SPREAD["M"] == (0.5, 2.0)
    assert spread["e_ac"] == SPREAD["L"] == (0.2, 5.0)
    assert spread["e_mac_int8"] == (0.5, 2.0)
    assert spread["e_ac_int8"] == (0.2, 5.0)
    assert spread["e_sram_64b_8kb"] == (0.2, 5.0)
    assert spread["e_sram_64b_32kb"] == pytest.approx((0.9, 1.5))
    assert spread["e_sram_64b_1mb"] == (0.8, math.inf)


def test_range_fields_are_checked(tmp_path):
    bad = {
        "does not contain the value": "e_mac = " + _fig(1e-12, "H", ", range = [2e-12, 3e-12]"),
        "for derived figures": "e_mac = " + _fig(1e-12, "H", ', derived_from = ["M"]'),
        "neither": "e_mac = " + _fig(1e-12, "D", ', derived_from = ["nonsense"]'),
        "not in the file": "e_mac = " + _fig(1e-12, "D", ', derived_from = ["energy.e_ac"]'),
        "a cycle": "e_mac = " + _fig(1e-12, "D", ', derived_from = ["energy.e_ac"]') + "\ne_ac = "
                   + _fig(1e-12, "D", ', derived_from = ["energy.e_mac"]'),
        "'bound' must be one of": "e_mac = " + _fig(1e-12, "H", ', bound = "sideways"'),
    }
    for k, (why, line) in enumerate(bad.items()):
        with pytest.raises(TargetError, match=why):
            targets.load(_target(tmp_path, line + "\n", f"bad{k}"))


def test_term_and_sum_arithmetic():
    """A term's range is count x value at both ends (with the count's own range); a sum's range is
    the sum of the lows and of the highs; a bound term makes the sum one-sided."""
    a = Term("energy", "a", 10.0, "ops", "energy.a", 2.0, "J", "s", "H", spread=(0.8, 1.2))
    b = Term("energy", "b", 4.0, "s", "energy.b", 0.5, "W", "s", "M", spread=(0.5, 2.0), count_spread=(0.5, 1.5))
    assert (a.low, a.high) == pytest.approx((16.0, 24.0))
    assert (b.low, b.high) == pytest.approx((4 * 0.5 * 0.5 * 0.5, 4 * 1.5 * 0.5 * 2.0))
    est = Estimate("t", "k", 2, 1, energy_terms=[a, b])
    assert est.range("energy") == pytest.approx((16.0 + 0.5, 24.0 + 6.0))
    assert est.energy_per_inference_range() == pytest.approx((16.5 / 2, 30.0 / 2))
    assert not est.lower_bound("energy")
    est.energy_terms.append(Term("energy", "c", 1.0, "x", "energy.c", 1.0, "J", "s", "H", spread=(0.8, math.inf)))
    assert est.lower_bound("energy") and est.range("energy")[1] == math.inf
    assert est.range("energy", exclude=("c",))[1] == pytest.approx(30.0)
    zero = Term("energy", "z", 0.0, "x", "energy.z", 1.0, "J", "s", "H", spread=(0.8, math.inf))
    assert zero.high == 0.0  # nothing counted costs nothing, whatever the figure's range
    assert inverted((0.5, 2.0)) == (0.5, 2.0) and inverted((0.2, math.inf)) == (0.0, 5.0)


def test_lower_bounds_are_marked_in_every_view(tmp_path):
    """Loihi 2's per-op times are vendor peak (bound = "lower"): its latency, and the static energy
    charged over it, have no upper end; crossbars leave out neuron updates and leakage."""
    net = small_net()
    act = collect(net, {"in": X, "h": H, "o": O})
    rep = build_report(net, act, ["loihi2", "crossbar-pcm", "cpu"], model="toy")
    l2, pcm, cpu = (rep.estimates[k] for k in ("loihi2", "crossbar-pcm", "cpu"))
    assert l2.lower_bound("latency") and l2.lower_bound("energy") and not cpu.lower_bound("energy")
    assert pcm.lower_bound("energy") and pcm.lower_bound("latency")
    assert any("leakage" in o for o in pcm.omitted) and any("neuron-update time" in o for o in pcm.omitted)
    line = next(x for x in rep.table().splitlines() if x.startswith("loihi2 "))
    assert line.count(">=") == 5  # energy, its range, latency per step, its range, latency per inference
    md = next(x for x in rep.markdown().splitlines() if x.startswith("| loihi2 |"))
    assert md.count(">=") == 5  # and the latency range
    doc = rep.to_dict()["targets"]["loihi2"]
    assert doc["latency_lower_bound"] and doc["latency_per_step_range_s"]["high"] is None
    assert doc["energy_per_inference_range_J"]["lower_bound"] is True
    html = rep.to_html()
    assert "&gt;= loihi2" in html or "&gt;=" in html
    assert ">= this latency is a lower bound" in l2.explain("latency")
    cpu_doc = rep.to_dict()["targets"]["cpu"]["energy_per_inference_range_J"]
    assert cpu_doc["low"] == pytest.approx(0.8 * cpu.energy_per_inference_J) and not cpu_doc["lower_bound"]


def test_plots_mark_lower_bounds():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuromap.energy.report import _range_bars

    fig, ax = plt.subplots()
    _range_bars(ax, ["a", "b"], [1.0, 2.0], [(0.5, 2.0), (1.0, math.inf)], [False, True], "tab:blue")
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["a", ">= b"] and any(t.get_text() == ">=" for t in ax.texts)
    plt.close(fig)


def test_estimate_ranges_follow_the_figures(tmp_path):
    """CPU (one H figure): the energy range is +-20 % of the estimate."""
    net = small_net()
    act = collect(net, {"in": X, "h": H, "o": O})
    est = estimate(net, act, targets.load("cpu"))
    low, high = est.range("energy")
    assert (low, high) == pytest.approx((0.8 * est.energy_J, 1.2 * est.energy_J))
    assert "[range " in est.explain("energy")
