"""Graded spikes (a payload per message; the neuron registry's ``graded`` flag: sigma-delta) in the
activity, the partitioner and the cost models of each target kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neuromap import targets
from neuromap.energy import collect
from neuromap.energy.estimates import estimate
from neuromap.estimate import MissingFigure
from neuromap.netlist import Netlist, Population, Projection
from neuromap.neurons import LIFParams
from neuromap.neurons.registry import SpikingParams
from neuromap.neurons.sigma_delta import SigmaDeltaParams
from neuromap.partition import partition

ROOT = Path(targets.load("loihi").path).parent
BITS = '{ value = 24, unit = "bit", source = "test", confidence = "L" }'


def _net() -> Netlist:
    net = Netlist("graded")
    net.add_population(Population("x", "input", (8,)))
    net.add_population(Population("sd", "sigma_delta", (16,), SigmaDeltaParams(vth=0.1)))
    net.add_population(Population("out", "lif", (4,), SpikingParams(LIFParams())))
    rng = np.random.default_rng(0)
    net.add_projection(Projection("x_sd", "x", "sd", "dense", rng.normal(size=(16, 8))))
    net.add_projection(Projection("sd_out", "sd", "out", "dense", rng.normal(size=(4, 16))))
    return net


def _records(T: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    # the sigma-delta layer's decoded output happens to be 0 / 1 here: the registry, not the values, says graded
    return {"x": (torch.rand(T, 1, 8, generator=g) < 0.5).float(),
            "sd": (torch.rand(T, 1, 16, generator=g) < 0.5).float(),
            "out": (torch.rand(T, 1, 4, generator=g) < 0.2).float()}


@pytest.fixture(scope="module")
def case():
    net = _net()
    return net, collect(net, _records())


def _target(tmp_path, **lines: str):
    """Loihi 1's figures with ``numerics`` / ``energy`` lines replaced or added (a custom target)."""
    text = (ROOT / "loihi.toml").read_text().replace('name = "loihi"', 'name = "loihi_graded"')
    for key, line in lines.items():
        section, name = key.split(".")
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(f"{name} = "))
        text = text.replace(f"[{section}]\n", f"[{section}]\n{name} = {line}\n", 1)
    path = tmp_path / "loihi_graded.toml"
    path.write_text(text)
    return targets.load(path)


def test_activity_counts_a_graded_source_as_multi_bit_by_the_registry_not_the_values(case):
    _, act = case
    assert act.graded["sd"] and not act.graded["out"]
    assert act.spiking_input == {"x_sd": True, "sd_out": False}
    assert act.macs["sd_out"] == act.synops["sd_out"] > 0 and act.acs["sd_out"] == 0


def test_partition_sizes_graded_spikes_with_the_targets_payload_bits(case):
    net, act = case
    m = partition(net, "loihi2", method="sequential", activity=act)
    graded = m.metrics["graded_traffic_total"]
    assert 0 < graded < m.metrics["traffic_total"]
    assert m.metrics["graded_spike_bits"] == 24  # loihi2.toml numerics.graded_spike_bits
    assert m.metrics["graded_payload_bits"] == pytest.approx(graded * 24)
    assert m.metrics["graded_hop_traffic"] >= 0
    assert dict(m.summary())["graded payload (bit/step)"] == f"{graded * 24:,.4g}"


def test_partition_on_a_target_without_graded_spikes_is_infeasible_naming_the_population(case):
    net, act = case
    m = partition(net, "loihi", method="sequential", activity=act)
    assert not m.feasible
    assert any("graded_spike_bits" in v and "'sd'" in v and "Loihi 2" in v for v in m.metrics["violations"])


def test_loihi2_prices_no_graded_packet_energy_and_says_no_figure_is_published(case):
    net, act = case
    tgt = targets.load("loihi2")
    est = estimate(net, act, tgt, partition(net, tgt, method="sequential", activity=act))
    graded = [o for o in est.omitted if o.startswith("graded-spike packet energy")]
    assert len(graded) == 1 and "no energy per graded spike" in graded[0]


def test_graded_packets_priced_as_bare_spikes_are_a_marked_lower_bound(case, tmp_path):
    net, act = case
    tgt = _target(tmp_path, **{"numerics.graded_spike_bits": BITS})
    m = partition(net, tgt, method="sequential", activity=act)
    est = estimate(net, act, tgt, m)
    term = next(t for t in est.energy_terms if t.name == "graded-spike packets")
    assert term.figure == "energy.e_spike_within_tile" and est.energy_lower_bound
    assert term.count == pytest.approx(m.metrics["graded_traffic_total"] * act.steps * act.samples)
    assert any("lower bound" in n and "e_graded_spike" in n for n in est.notes)


def test_graded_packets_take_the_targets_own_figure_where_it_has_one(case, tmp_path):
    net, act = case
    tgt = _target(tmp_path, **{"numerics.graded_spike_bits": BITS,
                               "energy.e_graded_spike": BITS.replace("24", "5.0e-12").replace('"bit"', '"J"')})
    est = estimate(net, act, tgt, partition(net, tgt, method="sequential", activity=act))
    term = next(t for t in est.energy_terms if t.name == "graded-spike packets")
    assert term.figure == "energy.e_graded_spike" and term.value == 5.0e-12


def test_targets_that_cannot_carry_graded_spikes_refuse_to_price_them(case):
    net, act = case
    loihi = targets.load("loihi")
    with pytest.raises(MissingFigure, match=r"no numerics.graded_spike_bits \(Loihi 1 sends binary spikes only"):
        estimate(net, act, loihi, partition(net, loihi, method="sequential", activity=act))
    with pytest.raises(MissingFigure, match=r"populations \['sd'\] send graded spikes"):
        estimate(net, act, targets.load("sfq"))
