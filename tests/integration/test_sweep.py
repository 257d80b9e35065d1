"""neuromap.sweep and ``neuromap sweep``: the spec, Pareto fronts, the results store, and sweeps of
tiny digits models on a local 2-CPU Ray (a worker killed mid-trial, Ctrl-C + --resume, the same spec
twice, the nsga2 sampler). The Ray tests share one Ray instance started by a module fixture; the
interrupted driver is a ``neuromap sweep`` subprocess that joins it with --address."""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import neuromap as nm
from neuromap import cli
from neuromap.errors import InputError, OutputError
from neuromap.sweep import Spec, SpecError, Store, comparable, load_spec, non_dominated, run_sweep, write_report
from neuromap.sweep.pareto import front, rows
from neuromap.sweep.report import report_data
from neuromap.sweep.trial import resolve

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def tiny(**over) -> dict:
    """A sweep of 4 tiny digits MLPs (2 widths x 2 seeds, 1 epoch, T = 4) on two targets; ``over``
    updates a section's keys (``space`` and ``target`` are replaced whole)."""
    raw = {
        "sweep": {"name": "tiny"},
        "model": {"builder": "SpikingMLP", "n_in": 64, "hidden": [8], "n_out": 10},
        "data": {"name": "digits", "steps": 4},
        "train": {"epochs": 1},
        "evaluate": {"samples": 16},
        "target": [{"name": "loihi2"}, {"name": "spinnaker2", "operating_points": [{"operating_point": 1}]}],
        "space": {"model.hidden": [[4], [12]], "seed": [0, 1]},
    }
    for section, value in over.items():
        merge = isinstance(value, dict) and section in raw and section != "space"
        raw[section] = {**raw[section], **value} if merge else value
    return raw


# --- the spec --------------------------------------------------------------------------------------

def test_grid_has_every_combination_with_keys_that_depend_only_on_the_configuration():
    spec = Spec.from_dict(tiny())
    trials = spec.trials()
    assert [t.params for t in trials] == [{"model.hidden": h, "seed": s} for h in ([4], [12]) for s in (0, 1)]
    assert len({t.key for t in trials}) == 4
    assert [t.key for t in Spec.from_dict(tiny()).trials()] == [t.key for t in trials]
    assert trials[1].config["seed"] == 1 and trials[2].config["model"]["hidden"] == [12]
    changed = Spec.from_dict(tiny(train={"epochs": 2})).trials()
    assert not {t.key for t in changed} & {t.key for t in trials}  # another budget: other trials
    assert spec.objectives == {"accuracy": "max", "energy@loihi2": "min"}  # the default front
    assert [t.label for t in spec.targets] == ["loihi2", "spinnaker2[operating_point=1]"]


def test_random_sampler_draws_the_same_trials_for_the_same_seed():
    raw = tiny(sweep={"sampler": "random", "trials": 6, "seed": 3},
               space={"train.lr": {"float": [1e-4, 1e-2], "log": True}, "model.hidden": [[4], [8]]})
    a, b = Spec.from_dict(raw).trials(), Spec.from_dict(copy.deepcopy(raw)).trials()
    assert [t.params for t in a] == [t.params for t in b] and len(a) == 6
    assert all(1e-4 <= t.params["train.lr"] <= 1e-2 for t in a)
    other = Spec.from_dict(tiny(sweep={"sampler": "random", "trials": 6, "seed": 4}, space=raw["space"])).trials()
    assert [t.params for t in other] != [t.params for t in a]


@pytest.mark.parametrize("change, message", [
    ({"optimiser": {}}, "unknown section(s) ['optimiser']"),
    ({"sweep": {"sampler": "bayes"}}, "sweep.sampler = 'bayes' is not one of"),
    ({"train": {"epoch": 1}}, "unknown key(s) ['epoch'] in [train]"),
    ({"space": {"train.lr": {"float": [1e-3, 1e-2]}}}, "the grid sampler needs 'choice' lists"),
    ({"space": {"train.momentum": [0.9]}}, "'train.momentum' is not a sweepable key"),
    ({"space": {"model.builder": ["SpikingMLP"]}}, "the model builder cannot vary"),
    ({"space": {"quantize.bits": [4]}}, "needs a [quantize] section"),
    ({"space": {"seed": [-1]}}, "seed = -1: must be an integer >= 0"),
    ({"objectives": {"minimize": ["energy@loihi"]}}, "objective(s) ['energy@loihi'] are not metrics"),
    ({"target": [{"name": "loihi3"}]}, "loihi3"),
    ({"target": [{"name": "spinnaker2", "operating_points": [{"voltage": 0.8}]}]}, "unexpected keyword argument"),
    ({"target": [{"name": "cpu", "operating_points": [{"batch": 0}]}]}, "batch=0: must be an integer >= 1"),
    ({"sweep": {"sampler": "nsga2", "trials": 4}, "objectives": {"maximize": ["accuracy"]}}, "at least two"),
    ({"resources": {"max_retries": 1.5}}, "resources.max_retries = 1.5: must be an integer"),
])
def test_a_malformed_spec_is_refused_with_a_message_naming_the_key(change, message):
    with pytest.raises(SpecError) as err:
        Spec.from_dict(tiny(**change))
    assert message in str(err.value)


def test_load_spec_names_the_file_of_bad_toml(tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text("[sweep\nname = 1")
    with pytest.raises(SpecError, match="s.toml: not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "missing.toml")


def test_builders_resolve_from_the_zoo_or_an_import_path():
    from neuromap.networks import SpikeDrivenTransformer, SpikingMLP

    assert resolve("SpikingMLP") is SpikingMLP
    assert resolve("SpikeDrivenTransformer.tiny") == SpikeDrivenTransformer.tiny
    assert resolve("neuromap.quantize:quantize") is nm.quantize.quantize
    with pytest.raises(InputError, match="no such name in the registered model packages"):
        resolve("SpikingMLPP")
    with pytest.raises(InputError, match="cannot import module 'no_such_module'"):
        resolve("no_such_module:f")


# --- Pareto fronts ---------------------------------------------------------------------------------

def test_non_dominated_keeps_ties_and_skips_missing_points():
    pts = [[0.9, 5.0], [0.8, 1.0], [0.9, 5.0], [0.7, 2.0], None, [0.95, 9.0]]
    assert non_dominated(pts, ["max", "min"]) == [True, True, True, False, False, True]
    assert non_dominated([[1.0], [2.0]], ["min"]) == [True, False]


def _record(key: str, acc: float, energy: float | None, lower_bound: bool = False, status: str = "done") -> dict:
    t = {"target": "loihi2", "options": {}}
    if energy is None:
        t["error"] = "DoesNotFit: too big"
    else:
        t["energy_J"] = {"value": energy, "low": energy / 2, "high": energy * 2, "lower_bound": lower_bound}
        t["latency_s"] = {"value": 1e-3, "low": 1e-3, "high": 1e-3, "lower_bound": False}
    return {"key": key, "status": status, "params": {"model.hidden": [int(acc * 100)]}, "seed": 0,
            "metrics": {"accuracy": acc, "weight_bits": 1000, "spikes_per_sample": 3.0}, "targets": {"loihi2": t}}


def test_report_marks_fronts_and_writes_html_json_csv_and_figure(tmp_path):
    spec = Spec.from_dict(tiny(target=[{"name": "loihi2"}], space={}))
    recs = [_record("a", 0.9, 2e-6), _record("b", 0.8, 1e-6, lower_bound=True), _record("c", 0.7, 3e-6),
            _record("d", 0.95, None), None]
    assert front(recs, {"accuracy": "max", "energy@loihi2": "min"}) == [True, True, False, False, False]
    table = rows(recs, spec, ["a", "b", "c", "d", "e"])
    assert table[1]["energy_low@loihi2"] == 0.5e-6 and table[1]["energy_lower_bound@loihi2"] is True
    assert table[3]["error@loihi2"].startswith("DoesNotFit") and table[4]["status"] == "pending"
    store = Store.create(tmp_path / "s", spec)
    paths = write_report(store, spec, ["a", "b", "c", "d", "e"], recs)
    data = json.loads(paths["results.json"].read_text())
    assert data["fronts"]["loihi2"] == ["a", "b"] and data["counts"] == {"done": 4, "error": 0, "lost": 0, "pending": 1}
    html = paths["report.html"].read_text()
    assert "&ge;1 uJ &#9733;" in html and "dominated" in html and "data:image/png;base64," in html
    assert paths["pareto.png"].read_bytes()[:4] == b"\x89PNG"
    assert paths["results.csv"].read_text().splitlines()[0].startswith("key,status,param:model.hidden,seed,")


# --- the store -------------------------------------------------------------------------------------

def test_store_refuses_a_foreign_directory_a_second_driver_an_existing_sweep_and_resume_without_one(tmp_path):
    spec = Spec.from_dict(tiny())
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="not a sweep store"):
        Store.create(foreign, spec)
    assert (foreign / "notes.txt").read_text() == "keep me" and len(list(foreign.iterdir())) == 1
    with pytest.raises(InputError, match="holds no sweep"):
        Store.create(tmp_path / "new", spec, resume=True)
    store = Store.create(tmp_path / "new", spec)
    store.write({"key": "k1", "status": "error", "error": "x"})
    with pytest.raises(InputError, match=r"is in use by another sweep driver \(pid \d+ on "):
        Store.create(tmp_path / "new", spec, resume=True)  # two drivers on one store: refused
    store.close()
    with pytest.raises(InputError, match=r"already holds sweep 'tiny' \(1 finished trials\): add --resume"):
        Store.create(tmp_path / "new", spec)
    resumed = Store.create(tmp_path / "new", spec, resume=True)
    assert resumed.get("k1")["error"] == "x"
    resumed.close()
    (tmp_path / "new" / "trials" / "k1.json").write_text("{half a rec")
    with pytest.warns(UserWarning, match="unreadable record"):
        assert store.get("k1") is None


def test_cli_without_ray_names_the_extra_and_exits_2(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(textwrap.dedent("""
        [model]
        builder = "SpikingMLP"
        [data]
        name = "digits"
        [[target]]
        name = "loihi2"
    """))
    block = textwrap.dedent("""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("ray", "optuna"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, Block())
        from neuromap.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    proc = subprocess.run([sys.executable, "-c", block, "sweep", str(spec), "--store", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "neuromap sweep: error: neuromap sweep (trials run as Ray tasks) needs ray, which is not installed: "
        "pip install 'neuromap[ray]'"]


def test_cli_refuses_bad_arguments_with_one_line(tmp_path, capsys):
    assert cli.main(["sweep"]) == 2
    assert cli.main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert cli.main(["sweep", "--report", "--store", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "give the sweep's SPEC.toml" in err[0] and "no such file" in err[1]
    assert "not a sweep store" in err[2]


# --- on Ray ----------------------------------------------------------------------------------------

def _warm(i: int) -> int:
    from neuromap.neurons import kernels
    from neuromap.sweep import trial  # noqa: F401 - the import is the point

    kernels.load()
    return i


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray with 2 CPUs for this module; its workers can import tests/integration/sweep_helpers.py."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'neuromap[ray]'")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
        mp.setenv("RAY_worker_niceness", "0")  # Ray's default 15 starves the workers on a busy machine
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
                 logging_level=logging.WARNING, log_to_driver=False)
        try:
            # start both workers now and load torch, neuromap and its C++ kernels in them (once, here)
            ray.get([ray.remote(_warm).options(num_cpus=1).remote(i) for i in range(2)])
            yield ray.get_runtime_context().gcs_address
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def tiny_run(ray_address, tmp_path_factory):
    spec = Spec.from_dict(tiny())
    store = tmp_path_factory.mktemp("sweep") / "a"
    return spec, run_sweep(spec, store, progress=False, log=lambda line: None)


def test_local_ray_sweep_records_every_trial_with_its_graph_and_report(tiny_run):
    spec, result = tiny_run
    assert result.ran == 4 and result.reused == 0 and [r["status"] for r in result.records] == ["done"] * 4
    for t, r in zip(result.trials, result.records):
        assert r["key"] == t.key and r["params"] == t.params and r["attempts"] == 1
        assert set(r["targets"]) == {"loihi2", "spinnaker2[operating_point=1]"}
        e = r["targets"]["loihi2"]["energy_J"]
        assert e["value"] > 0 and e["low"] == e["value"] == e["high"]
        graph = nm.load(result.store.path / r["graph"])  # the trained graph, loadable on its own
        assert graph.shapes[graph.inputs[0]][1] == (64,)
        assert json.loads(result.store.record_path(t.key).read_text()) == r
    wide = [r["metrics"]["weight_bits"] for r in result.records]
    assert wide[2] > wide[0]  # 12 hidden neurons hold more weights than 4
    paths = write_report(result.store, spec)
    assert json.loads(paths["results.json"].read_text())["counts"]["done"] == 4


def test_the_same_spec_twice_gives_the_same_records(tiny_run, tmp_path):
    spec, first = tiny_run
    second = run_sweep(Spec.from_dict(tiny()), tmp_path / "b", progress=False, log=lambda line: None)
    assert [t.key for t in second.trials] == [t.key for t in first.trials]
    assert [comparable(r) for r in second.records] == [comparable(r) for r in first.records]


def test_max_memory_holds_in_the_trials_on_the_ray_workers(ray_address, tmp_path):
    """``neuromap sweep --max-memory`` (:func:`neuromap.memory.limited` around the run) reaches the Ray
    workers: there loihi2's router grid needs more than 1 KiB and is refused with that limit. Without a
    limit set here, nothing is passed (the trials read the workers' own environment)."""
    from neuromap import memory

    spec = Spec.from_dict(tiny(space={"seed": [0]}, target=[{"name": "loihi2"}]))
    assert memory.for_workers() == {}
    with memory.limited(1024):
        assert memory.for_workers() == {memory.ENV: "1024"}
        result = run_sweep(spec, tmp_path / "s", progress=False, log=lambda line: None)
    (record,) = result.records
    assert record["status"] == "done", record.get("error")
    error = record["targets"]["loihi2"]["error"]
    assert "router grid needs" in error and f"memory limit of 1 KiB (${memory.ENV})" in error, error


def test_a_killed_worker_is_retried_then_recorded_as_lost_and_an_error_is_not_retried(ray_address, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    raw = tiny(model={"builder": "sweep_helpers:dying_mlp", "marker_dir": str(marks),
                      "deaths": {"once": 1, "always": 9, "raises": -1}},
               space={"model.tag": ["once", "always", "raises"]}, resources={"max_retries": 1})
    lines: list[str] = []
    result = run_sweep(Spec.from_dict(raw), tmp_path / "s", progress=False, log=lines.append)
    once, always, raises = result.records
    assert (once["status"], once["attempts"], len(once["attempt_errors"])) == ("done", 2, 1)
    assert "WorkerCrashedError" in once["attempt_errors"][0]
    assert (always["status"], always["attempts"]) == ("lost", 2)
    assert always["error"].startswith("the worker died on each of 2 attempt(s); last: WorkerCrashedError")
    assert (raises["status"], raises["attempts"]) == ("error", 1)
    assert raises["error"] == "RuntimeError: this builder always fails" and "sweep_helpers.py" in raises["traceback"]
    assert sorted(p.name for p in marks.iterdir()) == ["always.1", "always.2", "once.1", "once.2", "raises.1"]
    assert result.retried == 2 and sum("worker lost" in line for line in lines) == 2
    table = rows(result.records, Spec.from_dict(raw), [t.key for t in result.trials])
    assert [r["status"] for r in table] == ["done", "lost", "error"]  # nothing dropped from the table
    assert all(Store.open(tmp_path / "s").get(t.key) is not None for t in result.trials)


def test_ctrl_c_then_resume_loses_and_repeats_no_trial(ray_address, tmp_path):
    raw = tiny(model={"builder": "sweep_helpers:slow_mlp", "seconds": 1.0}, space={"seed": [0, 1, 2, 3, 4, 5]})
    spec_file = tmp_path / "slow.toml"
    spec_file.write_text(_toml(raw))
    store = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "neuromap.cli", "sweep", str(spec_file), "--store", str(store),
                             "--address", ray_address, "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 150
    while len(list((store / "trials").glob("*.json"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"continue with: neuromap sweep {spec_file} --store {store} --resume" in err
    before = {p.name: p.read_bytes() for p in (store / "trials").glob("*.json")}
    assert 2 <= len(before) < 6
    resumed = run_sweep(load_spec(spec_file), store, resume=True, progress=False, log=lambda line: None)
    assert (resumed.reused, resumed.ran) == (len(before), 6 - len(before))
    assert all((store / "trials" / n).read_bytes() == b for n, b in before.items())  # not run again
    fresh = run_sweep(load_spec(spec_file), tmp_path / "fresh", progress=False, log=lambda line: None)
    spec = load_spec(spec_file)
    keys = [t.key for t in fresh.trials]
    assert report_data(spec, keys, resumed.records)["rows"] == report_data(spec, keys, fresh.records)["rows"]


def test_nsga2_proposals_replay_from_the_store_on_resume(ray_address, tmp_path):
    raw = tiny(sweep={"sampler": "nsga2", "trials": 4, "population": 2, "seed": 1},
               space={"model.hidden": [[4], [8], [12]], "train.lr": {"float": [1e-3, 1e-2], "log": True}},
               objectives={"maximize": ["accuracy"], "minimize": ["energy@loihi2"]})
    first = run_sweep(Spec.from_dict(raw), tmp_path / "s", progress=False, log=lambda line: None)
    assert len(first.trials) == 4 and first.ran == len({t.key for t in first.trials})
    again = run_sweep(Spec.from_dict(raw), tmp_path / "s", resume=True, progress=False, log=lambda line: None)
    assert [t.key for t in again.trials] == [t.key for t in first.trials] and again.ran == 0


def _toml(raw: dict) -> str:
    """A sweep dict as TOML (enough of TOML for these specs: tables, arrays of tables, inline values)."""
    def value(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    out = []
    for section, table in raw.items():
        for t in (table if isinstance(table, list) else [table]):
            out.append(f"[[{section}]]" if isinstance(table, list) else f"[{section}]")
            out += [f"{json.dumps(k)} = {value(v)}" for k, v in t.items()]
    return "\n".join(out) + "\n"
