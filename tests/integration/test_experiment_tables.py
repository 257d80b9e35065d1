"""Experiment provenance, and the README's generated blocks (``python -m tools.update_readme``): the
experiment tables from the experiments' JSON files, the demo and benchmark tables from their Markdown."""

import importlib
import json
import subprocess
import sys

import pytest

from tests.support import ROOT
from tools import update_readme as upd


def _mod(name):
    return importlib.import_module(f"experiments.{name}")


def test_provenance_records_commit_command_and_versions():
    p = _mod("_common").provenance()
    assert p["commit"] is None or len(p["commit"]) == 40
    assert p["command"]
    assert p["packages"]["torch"] and p["packages"]["numpy"]
    assert set(p) >= {"dirty", "python", "platform", "torch_threads", "written_utc"}


def test_write_result_adds_provenance(tmp_path):
    path = _mod("_common").write_result({"experiment": "x", "accuracy": 0.5}, tmp_path / "x.json")
    d = json.loads(path.read_text())
    assert d["accuracy"] == 0.5 and "provenance" in d and d["provenance"]["packages"]["torch"]
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary file left behind


def _dvs_result():
    return {"dataset": "bars", "train": 900, "test": 300, "seed": 0, "reservoir": "400 LIF",
            "lsm_accuracy": 0.9234, "baseline_summed_events_logistic": 0.81,
            "baseline_binned_events_logistic": 0.88}


def _readme(tmp_path, names):
    body = "# t\n\n" + "".join(f"<!-- experiment:{n}:start -->\nold {n}\n<!-- experiment:{n}:end -->\n\n" for n in names)
    (tmp_path / "README.md").write_text(body)
    return tmp_path / "README.md"


def test_update_readme_renders_tables_from_json(tmp_path):
    readme = _readme(tmp_path, upd.TABLES)
    res = tmp_path / "results"
    _mod("_common").write_result(_dvs_result(), res / "dvs_bars.json")
    args = ["--results", str(res), "--bench-results", str(tmp_path / "bench"), "--readme", str(readme)]
    assert upd.main([*args, "--check"]) == 1  # the README still has the old text
    assert upd.main(args) == 0
    text = readme.read_text()
    assert "| 92.3 |" in text and "| 81.0 |" in text and "| 88.0 |" in text
    assert "_Generated from `results/dvs_bars.json`" in text
    assert "old crossbar_drift" in text  # absent JSON: block left as it was
    assert upd.main([*args, "--check"]) == 0


def test_update_readme_missing_block_is_a_clear_error(tmp_path, capsys):
    readme = _readme(tmp_path, upd.TABLES[1:])
    before = readme.read_text()
    assert upd.main(["--results", str(tmp_path), "--readme", str(readme)]) == 2
    assert upd.TABLES[0] in capsys.readouterr().err and readme.read_text() == before


@pytest.mark.parametrize("name", ["crossbar_drift", "lsm_digits", "crossbar_lsm", "dvs_bars"])
def test_every_table_experiment_has_a_renderer(name):
    assert callable(_mod(name).table)


def test_ordered_digits_directions_have_identical_counts():
    u, y, tr, te = _mod("lsm_digits").ordered_digits(0)
    n = len(y) // 2
    assert u.shape == (40, 2 * n, 8) and set(y) == set(range(20))
    assert (u[:, :n].sum(0) == u[:, n:].sum(0)).all()  # input-only counts cannot tell the direction
    assert (u[:, :n].flip(0) == u[:, n:]).all() and not (u[:, :n] == u[:, n:]).all()
    assert not set(tr) & set(te) and set((tr % n).tolist()).isdisjoint((te % n).tolist())


def test_crossbar_drift_table_rows():
    run_ = {"float_mean": 0.97, "float_std": 0.01, "float_test_accuracy": [0.97] * 5,
            "comp": {"mean": [0.96, 0.95], "std": [0.01, 0.02], "accuracy": [[0.96, 0.95]] * 5},
            "nocomp": {"mean": [0.96, 0.5], "std": [0.01, 0.1], "accuracy": [[0.96, 0.5]] * 5}}
    result = {"model": "M", "target": "crossbar-pcm", "dataset": "d", "seeds": [0, 1, 2, 3, 4],
              "times_s": [1.0, 3.1536e7], "runs": {"standard": run_, "hwa": run_}}
    text = _mod("crossbar_drift").table(result)
    assert "| 1 s | 1 year |" in text and "5 seeds" in text
    assert "| hwa | none | 97.0 ± 1.0 | 96.0 ± 1.0 | 50.0 ± 10.0 |" in text
    assert text.count("\n| standard |") == 2
    assert "| hwa − standard, paired by seed | global | +0.0 ± 0.0 | +0.0 ± 0.0 | +0.0 ± 0.0 |" in text


def test_update_readme_copies_the_demo_and_benchmark_tables(tmp_path, capsys):
    readme = _readme(tmp_path, upd.TABLES)
    readme.write_text(readme.read_text() + "<!-- bench:start -->\nold\n<!-- bench:end -->\n"
                      "<!-- bench-gpu:start -->\nold gpu\n<!-- bench-gpu:end -->\n"
                      "<!-- demo-targets:start (from make demo) -->\nold demo\n<!-- demo-targets:end -->\n")
    bench, res = tmp_path / "bench", tmp_path / "results"
    bench.mkdir()
    (bench / "latest.md").write_text("| workload | s/step |\n|---|---:|\n| W1 | 1 ms |\n")
    args = ["--results", str(res), "--bench-results", str(bench), "--readme", str(readme)]
    assert upd.main([*args, "--check"]) == 1
    assert upd.main(args) == 0
    text = readme.read_text()
    assert "<!-- bench:start -->\n| workload | s/step |\n|---|---:|\n| W1 | 1 ms |\n<!-- bench:end -->" in text
    assert "old gpu" in text and "old demo" in text  # their sources are absent: left as they were
    err = capsys.readouterr().err
    assert "gpu-latest.md absent" in err and "demo/targets.md absent" in err
    (res / "demo").mkdir(parents=True)
    (res / "demo" / "targets.md").write_text("| target | energy |\n")
    assert upd.main(args) == 0
    demo = "<!-- demo-targets:start (from make demo) -->\n| target | energy |\n<!-- demo-targets:end -->"
    assert demo in readme.read_text()


def test_qsd_table_renders_accuracy_size_and_energy():
    def row(model, bits, acc, size, e_rram, slices):
        return {"model": model, "bits": bits, "distill": False, "test_accuracy": acc, "size": {"weight_bits": size},
                "energy": {"targets": {"crossbar-rram": {"energy_per_inference_J": e_rram},
                                       "crossbar-pcm": {"energy_per_inference_J": 1e-6},
                                       "loihi": {"error": "ValueError: x"}},
                           "crossbar_rram": {"slices_per_weight": slices}}}

    result = {"model": "SDT", "dataset": "digits", "teacher_epochs": 4, "qat_epochs": 2, "student": "qsd",
              "energy_inputs": "32 samples", "runs": [row("float teacher", 32, 0.95, 32000, 4e-6, [7]),
                                                      row("QSD 4-bit", 4, 0.93, 8000, 2e-6, [4])]}
    text = _mod("qsd_digits").table(result)
    assert "| QSD 4-bit | 93.0 | 8.0 | 4.0x | 2.00 (0.50x) | 4 |" in text
    assert "not estimated" in text


def test_readme_tables_match_the_committed_results():
    """The README's generated blocks are exactly what the committed ``results/*.json`` and the
    benchmark table render to."""
    run = subprocess.run([sys.executable, "-m", "tools.update_readme", "--check"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("crossbar_drift", "lsm_digits", "crossbar_lsm", "dvs_bars"):
        assert (ROOT / "results" / f"{name}.json").is_file(), name
    assert "bench" in run.stdout  # the CPU benchmark table was compared too
