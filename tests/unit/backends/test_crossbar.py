"""backends.crossbar on a traced graph: a noise-free, infinite-precision crossbar equals
backends.torch exactly; the PCM model keeps digits accuracy and its counters feed the energy model."""

import pytest
import torch

import neuromap as nm
from neuromap import backends, data, train
from neuromap.deploy import deploy, readout_accuracy
from neuromap.networks import SpikingMLP


@pytest.fixture(scope="module")
def setup():
    d = data.digits(encoding="rate", steps=20, seed=0)
    train.set_seed(0)
    m = SpikingMLP(64, [64], 10)
    train.fit(m, d, epochs=8, lr=3e-3, progress=False)
    x, y = d.x_test[:200].transpose(0, 1), d.y_test[:200]
    return nm.trace(m, x[:, :2]), x, y


def test_ideal_crossbar_equals_torch_exactly(setup):
    g, x, _ = setup
    ref = backends.get("torch").compile(g).run(x)
    ideal = backends.get("crossbar").compile(g, ideal=True).run(x)
    for k in ref.records:
        assert torch.equal(ref.records[k], ideal.records[k])
    assert torch.equal(ref.output, ideal.output)


def test_pcm_accuracy_counters_and_report(setup):
    g, x, y = setup
    ref = backends.get("torch").compile(g).run(x)
    run = backends.get("crossbar").compile(g, "crossbar-pcm", seed=1, t_inference=3600.0).run(x)
    assert readout_accuracy(run.output, y) >= readout_accuracy(ref.output, y) - 0.05
    assert not all(torch.equal(ref.records[k], run.records[k]) for k in ref.records)  # noise is real
    T, B = x.shape[:2]
    c = run.counters["0"]
    assert c["vectors"] == T * B and c["dac_conversions"] == T * B * 64 and c["cell_macs"] == T * B * 64 * 64
    dep = deploy(g, x, backend="crossbar", labels=y)
    est = dep.report.estimates["crossbar-pcm"]
    # HERMES prices whole-core MVMs (converters included): one per tile read the backend counted
    cores = [t for t in est.energy_terms if t.name == "core MVMs"]
    assert sum(t.count for t in cores) == sum(v["tile_reads"] for v in dep.result.counters.values())
    assert not [t for t in est.energy_terms if t.name in ("ADC conversions", "DAC conversions")]


def test_negative_time_is_rejected(setup):
    g, _, _ = setup
    with pytest.raises(ValueError, match="t_inference"):
        backends.get("crossbar").compile(g, t_inference=-1.0)
