import math

import pytest
import torch

from neuromap import data, train
from neuromap.networks import SpikingMLP


@pytest.fixture(scope="module")
def digits():
    return data.digits(encoding="rate", steps=25, seed=0)


def test_digits_mlp_reaches_95_percent(digits):
    """The issue's bar: >= 95 % test accuracy (here in ~5 s on 2 cores)."""
    model = SpikingMLP(64, [128], 10)
    history = train.fit(model, digits, epochs=30, lr=2e-3, seed=0, progress=False)
    assert history["loss"][-1] < history["loss"][0] / 5
    assert history.last["test_acc"] >= 0.95


def test_fit_is_deterministic_and_checkpoints(tmp_path, digits):
    small = data.digits(encoding="rate", steps=8, seed=0)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = SpikingMLP(64, [32], 10, neuron="cuba")
        h = train.fit(m, small, epochs=2, seed=7, progress=False, checkpoint=tmp_path / "ckpt.pt")
        runs.append(h["loss"])
    assert runs[0] == runs[1]
    m2 = SpikingMLP(64, [32], 10, neuron="cuba")
    ckpt = train.load_checkpoint(tmp_path / "ckpt.pt", m2)
    assert ckpt["epoch"] == 2 and len(ckpt["history"]["epochs"]) == 2
    assert math.isclose(train.evaluate(m2, small)["loss"], train.evaluate(m, small)["loss"], rel_tol=1e-6)


def test_membrane_readout_and_spike_counting():
    small = data.digits(encoding="current", steps=4, seed=0)
    m = SpikingMLP(64, [32], 10, readout="membrane")
    h = train.fit(m, small, epochs=3, loss="membrane_ce", progress=False)
    assert h.last["test_acc"] > 0.5  # well above 10 % chance
    metrics = train.evaluate(m, small, loss="membrane_ce")
    assert metrics["spikes_per_sample"] > 0


def test_regression_on_adding_problem_runs():
    task = data.adding_problem(200, 10)
    m = SpikingMLP(2, [16], 1, readout="membrane")
    h = train.fit(m, task, epochs=2, loss="last_mse", progress=False)
    assert "test_acc" not in h.last and h.last["test_loss"] > 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="loss='hinge'"):
        train.fit(SpikingMLP(64, [8], 10), data.digits(steps=2), loss="hinge")
    with pytest.raises(ValueError, match="neuron='izh'"):
        SpikingMLP(64, [8], 10, neuron="izh")
    with pytest.raises(ValueError, match=r"hidden\[0\]"):
        SpikingMLP(64, [0], 10)
    with pytest.raises(ValueError, match=r"\[T, B, 64\]"):
        SpikingMLP(64, [8], 10)(torch.rand(3, 2, 10))
    with pytest.raises(ValueError, match="checkpoint"):
        bad = SpikingMLP(64, [8], 10)
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".pt") as f:
            torch.save({"weights": 1}, f.name)
            train.load_checkpoint(f.name, bad)


def test_device_argument_moves_the_model_and_keeps_the_trajectory():
    """``device=`` places the model and every batch; on the same device the run is unchanged (loss
    and accuracy are summed on the device in float64, as Python floats summed them before)."""
    small = data.digits(encoding="rate", steps=4, seed=0)
    hists = []
    for device in (None, "cpu"):
        torch.manual_seed(0)
        m = SpikingMLP(64, [16], 10)
        hists.append(train.fit(m, small, epochs=1, seed=3, progress=False, device=device))
    assert hists[0]["loss"] == hists[1]["loss"] and hists[0]["train_acc"] == hists[1]["train_acc"]
    assert train.evaluate(m, small, device="cpu") == train.evaluate(m, small)
    assert next(m.parameters()).device.type == "cpu"
