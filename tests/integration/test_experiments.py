"""The experiments as a package: every script imports as ``experiments.NAME`` and runs as
``python -m experiments.NAME`` from the repository root; short runs of the training experiments
learn and write their JSON and plot; the LM experiment counts costs on each traced netlist; the
data-set experiment reads a file in the real SHD layout."""

import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.support import ROOT, write_shd

SCRIPTS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_experiment_imports_as_a_module_with_a_main(name):
    module = importlib.import_module(f"experiments.{name}")
    assert callable(module.main), name


def test_an_experiment_runs_with_python_dash_m_from_the_root():
    proc = subprocess.run([sys.executable, "-m", "experiments.digits_mlp", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "python -m experiments.digits_mlp" in proc.stdout


@pytest.mark.parametrize("name,epochs,min_acc", [("lmu_psdigits", 4, 0.4), ("slmuformer_digits", 2, 0.4),
                                                 ("sdt_digits", 2, 0.5), ("metaspikformer_digits", 2, 0.3)])
def test_experiment_short_run_learns(name, epochs, min_acc, tmp_path):
    r = importlib.import_module(f"experiments.{name}").run(epochs=epochs, out_dir=tmp_path, progress=False)
    h = r["history"]
    assert h[-1]["loss"] < h[0]["loss"]
    assert r["test_accuracy"] > min_acc  # chance is 0.1
    assert (tmp_path / f"{name}.json").exists() and (tmp_path / f"{name}.png").stat().st_size > 0


def test_dataset_experiment_trains_on_a_real_format_file(tmp_path):
    """experiments.dataset_mlp accepts the event data sets (here SHD files in the real HDF5 layout)."""
    from experiments import dataset_mlp

    folder = tmp_path / "shd"
    folder.mkdir()
    rng = np.random.default_rng(0)
    samples = [(sorted(rng.uniform(0, 0.1, 20)), list(rng.integers(0, 700, 20)), k % 20) for k in range(8)]
    write_shd(folder / "shd_train.h5", samples)
    write_shd(folder / "shd_test.h5", samples[:4])
    r = dataset_mlp.run("shd", data_dir=str(tmp_path), dt=0.02, epochs=1, hidden=16, out_dir=tmp_path / "results")
    assert r["train_samples"] == 8 and r["steps"] == 50 and r["model"] == "SpikingMLP(700, [16], 20)"
    assert (tmp_path / "results" / "shd_mlp.json").exists()
    assert dataset_mlp.main(["--dataset", "nmnist", "--data-dir", str(tmp_path)]) == 2  # missing: exit 2, no traceback


def test_lm_experiment_counts_costs_on_each_traced_netlist():
    from experiments import spikegpt_lm as exp
    from neuromap.data import char_corpus

    corpus = char_corpus("the cat sat on the mat; " * 40)
    cfg = {"n_embd": 8, "layers": 1, "dropout": 0.0, "hidden": 12, "embedding": 4, "thr_mean": 0.01, "gamma": 3.6,
           "eps": 3.6}
    rows = {}
    for cell in exp.MODELS:
        torch.manual_seed(0)
        rows[cell] = exp.measure(cell, exp.build(cell, len(corpus.vocab), cfg), corpus, tokens=16)
    assert rows["spikegpt"]["backend_torch_equals_module"] is True
    assert rows["gru"]["spiking_sparsity"] is None
    assert rows["gru"]["synops_per_token"] == rows["gru"]["dense_synops_per_token"]  # a GRU's outputs are dense
    assert rows["egru"]["synops_per_token"] <= rows["egru"]["dense_synops_per_token"]
    for r in rows.values():
        assert r["spinnaker2"]["energy_J_per_token"] > 0 and r["gpu"]["energy_J_per_token"] > 0
        assert {"spinnaker2", "loihi2", "gpu-a100", "crossbar-pcm"} <= set(r["every_target"])
    result = {"config": {"epochs": 1, "layers": 1, "n_embd": 8, "lr_spikegpt": 0.01, "hidden": 12, "lr_rnn": 0.006,
                         "tokens": 16},
              "models": {c: {**r, "parameters": 1, "test_bpc": 2.0} for c, r in rows.items()}}
    text = exp.table(result)
    assert text.index("| SpikeGPT") < text.index("| EGRU") < text.index("| GRU")
    assert "Every shipped target, J / token (SpikeGPT / EGRU / GRU" in text
