"""Loihi deployment through the Graph: quantise, run on neuromap's emulator and on Lava (bit-identical),
compare with the float model, report; the `neuromap deploy` and `neuromap report` commands."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap import backends, data, train
from neuromap.backends.base import BackendError
from neuromap.deploy import deploy
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams


@pytest.fixture(scope="module")
def model_and_data():
    d = data.digits(encoding="rate", steps=20, seed=0)
    train.set_seed(0)
    m = SpikingMLP(64, [48], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    train.fit(m, d, epochs=8, lr=3e-3, progress=False)
    return m, d


@pytest.fixture(scope="module")
def graph(model_and_data):
    m, d = model_and_data
    return nm.trace(m, d.x_test[:2].transpose(0, 1))


def test_lava_and_emulator_bit_identical_through_the_graph(graph, model_and_data):
    _, d = model_and_data
    x = d.x_test[:3].transpose(0, 1)
    emu = backends.get("loihi").compile(graph, "loihi2").run(x)
    lava = backends.get("lava").compile(graph, "loihi2").run(x)
    assert emu.raw.keys() == lava.raw.keys()
    for k in emu.raw:
        assert np.array_equal(emu.raw[k], lava.raw[k])
        assert np.array_equal(emu.u[k], lava.u[k]) and np.array_equal(emu.v[k], lava.v[k])
    assert sum(int(v.sum()) for v in emu.raw.values()) > 0


def test_deploy_agreement_accuracy_and_report(graph, model_and_data):
    _, d = model_and_data
    x, y = d.x_test[:120].transpose(0, 1), d.y_test[:120]
    dep = deploy(graph, x, backend="loihi", labels=y)
    assert dep.agreement and min(dep.agreement.values()) > 0.9
    assert dep.accuracy["loihi"] >= dep.accuracy["torch (float)"] - 0.05
    assert "loihi2" in dep.report.table()
    assert dep.result.mapping.feasible and dep.result.mapping.target == "loihi2"
    assert "spike agreement" in dep.summary()
    assert dep.activity.total_spikes > 0


def test_loihi_refuses_subtractive_reset_with_node_name(model_and_data):
    _, d = model_and_data
    sub = SpikingMLP(64, [8], 10, neuron_params=LIFParams.from_decay(0.9, reset="subtract"))
    g = nm.trace(sub, d.x_test[:2].transpose(0, 1))
    with pytest.raises(BackendError, match="reset='subtract'"):
        backends.get("loihi").compile(g)


def test_loihi_needs_spikes(graph):
    comp = backends.get("loihi").compile(graph)
    with pytest.raises(ValueError, match="not binary"):
        comp.run(torch.rand(5, 2, 64))


def test_cli_deploy_and_report(graph, tmp_path):
    path = tmp_path / "digits.nir"
    nm.save(graph, path)
    run = [sys.executable, "-m", "neuromap.cli"]
    out = subprocess.run(run + ["deploy", str(path), "--backend", "loihi", "--dataset", "digits", "--samples", "40",
                                "-o", str(tmp_path / "dep")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "spike agreement" in out.stdout and "loihi2" in out.stdout
    assert (tmp_path / "dep" / "activity.npz").exists() and (tmp_path / "dep" / "report.html").exists()
    rep = subprocess.run(run + ["report", str(path), "--target", "loihi", "--target", "cpu", "--activity",
                                str(tmp_path / "dep" / "activity.npz"), "--format", "json"],
                         capture_output=True, text=True, timeout=300)
    assert rep.returncode == 0, rep.stderr
    assert '"schema_version": 1' in rep.stdout
    bad = subprocess.run(run + ["deploy", str(tmp_path / "missing.nir"), "--dataset", "digits"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "missing.nir" in bad.stderr
