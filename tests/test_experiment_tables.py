"""Experiment provenance and the README tables generated from the experiments' JSON files."""

import importlib
import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
sys.path.insert(0, str(EXPERIMENTS))


def _mod(name):
    return importlib.import_module(name)


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
    upd = _mod("update_readme")
    readme = _readme(tmp_path, upd.TABLES)
    res = tmp_path / "results"
    _mod("_common").write_result(_dvs_result(), res / "dvs_bars.json")
    args = ["--results", str(res), "--readme", str(readme)]
    assert upd.main([*args, "--check"]) == 1  # the README still has the old text
    assert upd.main(args) == 0
    text = readme.read_text()
    assert "| 92.3 |" in text and "| 81.0 |" in text and "| 88.0 |" in text
    assert "_Generated from `results/dvs_bars.json`" in text
    assert "old crossbar_drift" in text  # absent JSON: block left as it was
    assert upd.main([*args, "--check"]) == 0


def test_update_readme_missing_block_is_a_clear_error(tmp_path, capsys):
    upd = _mod("update_readme")
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


def test_readme_tables_match_the_committed_results():
    """The README's experiment tables are exactly what the committed ``results/*.json`` render to."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "experiments/update_readme.py", "--check"], cwd=root,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("crossbar_drift", "lsm_digits", "crossbar_lsm", "dvs_bars"):
        assert (root / "results" / f"{name}.json").is_file(), name
