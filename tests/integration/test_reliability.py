"""Issue 16: no silent wrong result, no destroyed file, no raw traceback. One test (or more) per
item of the issue; the CLI runs in-process through ``neuromap.cli.main`` (exit codes and stderr)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap import cli
from neuromap.errors import InputError, NeuromapError, OutputError
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams
from tests.support import FIXTURES, ROOT


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    m = SpikingMLP(64, [16], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    return nm.save(nm.trace(m, torch.rand(2, 1, 64)), tmp_path_factory.mktemp("m") / "m.nir")


@pytest.fixture(scope="module")
def li_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    m = SpikingMLP(64, [16], 10, readout="membrane", neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    return nm.save(nm.trace(m, torch.rand(2, 1, 64)), tmp_path_factory.mktemp("li") / "li.nir")


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse exits on bad arguments
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def bad(capsys, *argv, names: str) -> str:
    """The command fails with exit code 2 and one line on stderr that names ``names``."""
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "warning" not in ln]
    assert len(lines) == 1 and names in lines[0], err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------ silent wrong results
def test_item1_edited_nir_fields_are_an_error_not_ignored(model, tmp_path, capsys):
    edited = tmp_path / "tau_fast.nir"
    edited.write_bytes(model.read_bytes())
    with h5py.File(edited, "r+") as f:
        lif = next(n for n in f["node/nodes"] if "tau" in f[f"node/nodes/{n}"])
        f[f"node/nodes/{lif}/tau"][...] = 1e-4
    with pytest.raises(nm.graph.GraphError, match="tau"):
        nm.load(edited)
    msg = bad(capsys, "deploy", edited, "--backend", "torch", "--dataset", "digits", "--samples", 4, names="tau")
    assert "edited outside neuromap" in msg
    nm.load(model)  # the unedited file still loads


def test_item2_layout_is_explicit_and_printed(model, tmp_path, capsys):
    x = (np.random.default_rng(0).random((3, 7, 64)) < 0.3).astype(np.float32)  # [B=3, T=7, 64]
    np.save(tmp_path / "bt.npy", x)
    code, out, err = run_cli(capsys, "deploy", model, "--backend", "torch", "--compare", "none",
                             "--input", tmp_path / "bt.npy", "--layout", "BT")
    assert code == 0, err
    assert "7 steps x 3 samples" in out and "read as BT" in out
    code, out, _ = run_cli(capsys, "deploy", model, "--backend", "torch", "--compare", "none",
                           "--input", tmp_path / "bt.npy")
    assert code == 0 and "3 steps x 7 samples" in out and "read as TB" in out


def test_item3_counts_and_weight_bits_are_validated(model, capsys):
    bad(capsys, "deploy", model, "--backend", "torch", "--dataset", "digits", "--samples", -5, names="--samples")
    bad(capsys, "deploy", model, "--backend", "torch", "--dataset", "digits", "--samples", 0, names="--samples")
    bad(capsys, "report", model, "--target", "cpu", "--dataset", "digits", "--steps", 0, names="--steps")
    bad(capsys, "partition", model, "--target", "loihi", "--weight-bits", -3, names="--weight-bits")
    bad(capsys, "partition", model, "--target", "loihi", "--seed", -1, names="--seed")
    bad(capsys, "deploy", model, "--backend", "torch", "--dataset", "digits", "--samples", 10_000, names="--samples")


def _copy_target(tmp_path, src: str, name: str, edit=None) -> Path:
    from neuromap import targets

    text = Path(targets.load(src).path).read_text()
    if edit:
        text = edit(text)
    p = tmp_path / name
    p.write_text(text)
    return p


def test_item4_two_targets_with_one_name_are_refused(model, tmp_path, capsys):
    a = _copy_target(tmp_path, "loihi2", "a.toml")
    b = _copy_target(tmp_path, "loihi2", "b.toml")
    bad(capsys, "report", model, "--target", a, "--target", b, "--dataset", "digits", "--samples", 4,
        names="both have name")
    code, out, _ = run_cli(capsys, "report", model, "--target", "loihi2", "--target", "loihi2", "--dataset", "digits",
                           "--samples", 4)
    assert code == 0 and out.count("loihi2") >= 1  # the same target twice is one row, not an error


def test_item5_loihi_backend_uses_the_targets_weight_bits(model, tmp_path):
    import re

    from neuromap import backends

    def wb(n):
        return lambda t: re.sub(r"^weight_bits = \{ value = \d+", f"weight_bits = {{ value = {n}", t, flags=re.M)

    t2 = _copy_target(tmp_path, "loihi2", "wb_2.toml", wb(2))
    t4 = _copy_target(tmp_path, "loihi2", "wb_4.toml", wb(4))
    t8 = _copy_target(tmp_path, "loihi2", "wb_8.toml", wb(8))
    g = nm.load(model)
    w = {b: np.asarray(backends.get("loihi").compile(g, str(t)).network.connections[0].effective)
         for b, t in ((2, t2), (4, t4), (8, t8))}
    assert len(np.unique(w[2])) <= 3 < len(np.unique(w[4])) <= 15 < len(np.unique(w[8]))
    # fewer bits keep the weights' range (scaled to what survives Lava's truncation), not zeros
    assert np.abs(w[4]).max() >= 0.8 * np.abs(w[8]).max() and np.count_nonzero(w[4]) > 0.5 * np.count_nonzero(w[8])
    from neuromap.errors import NeuromapError

    t1 = _copy_target(tmp_path, "loihi2", "wb_1.toml", wb(1))
    with pytest.raises(NeuromapError, match="1 bit leaves no magnitude"):
        backends.get("loihi").compile(g, str(t1))


def test_item6_target_values_are_checked_with_file_and_field(tmp_path, capsys):
    import re

    from neuromap.targets import TargetError, load

    fast = _copy_target(tmp_path, "loihi2", "fast.toml", lambda t: re.sub(
        r"^t_synop = \{ value = [^,]+,", 't_synop = { value = "fast",', t, count=1, flags=re.M))
    with pytest.raises(TargetError, match=r"fast\.toml: timing\.t_synop: .*number"):
        load(fast)
    misplaced = _copy_target(tmp_path, "loihi2", "misplaced.toml", lambda t: t.replace(
        "[energy]", '[energy]\nt_synop_learning = { value = 1e-9, unit = "s", source = "me", confidence = "L" }', 1))
    with pytest.raises(TargetError, match=r"energy\.t_synop_learning: not a figure of a digital target \(did you "
                                          r"mean 'timing\.t_synop_learning'\?"):
        load(misplaced)
    msg = bad(capsys, "targets", fast, names="fast.toml")
    assert "t_synop" in msg

    def drop_grid(t):
        import re
        return re.sub(r"^router_grid = .*$", 'router_grid = { missing = "unknown" }', t, flags=re.M)

    nogrid = _copy_target(tmp_path, "loihi2", "nogrid.toml", drop_grid)
    with pytest.raises(TargetError, match=r"nogrid\.toml: chip\.router_grid"):
        load(nogrid)


# ------------------------------------------------------------------------------ files destroyed or mixed
def test_item7_report_and_partition_leave_no_temp_files(model, tmp_path, capsys):
    code, _, err = run_cli(capsys, "partition", model, "--target", "loihi", "-o", tmp_path / "m.json",
                           "--plot", tmp_path / "m.pdf")
    assert code == 0, err
    assert (tmp_path / "m.pdf").read_bytes().startswith(b"%PDF")
    code, _, err = run_cli(capsys, "report", model, "--target", "cpu", "--dataset", "digits", "--samples", 4,
                           "-o", tmp_path / "r.json")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.pdf", "r.json"]
    bad(capsys, "report", model, "--target", "cpu", "--dataset", "digits", "-o", tmp_path / "r.pdf", names="r.pdf")
    assert not (tmp_path / "r.pdf").exists()


def test_item8_run_directory_is_replaced_as_a_whole(model, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run_x"
    args = ["deploy", model, "--backend", "torch", "--dataset", "digits", "--samples", 4, "-o", out]
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"outputs.npz", "activity.npz", "report.html", "report.json",
                                               "manifest.json"}
    (out / "report.html").write_text("from an older run")  # a listed file: the directory is still our run
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    from neuromap.energy.report import Report

    def interrupted(self, path, format=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Report, "save", interrupted)
    code, _, err = run_cli(capsys, *args)
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old run, whole
    assert sorted(os.listdir(tmp_path)) == ["run_x"]  # no half-written directory beside it
    monkeypatch.undo()
    code, _, err = run_cli(capsys, *args)
    assert code == 0 and (out / "report.html").read_text() != "from an older run"  # replaced as a whole
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    bad(capsys, "deploy", model, "--backend", "torch", "--dataset", "digits", "-o", other, names="mine")
    assert (other / "notes.txt").read_text() == "keep"


# ------------------------------------------------------------------------------ raw tracebacks
def test_raw_tracebacks_become_one_line_errors(model, tmp_path, capsys):
    np.save(tmp_path / "x63.npy", np.zeros((25, 8, 63), np.float32))
    msg = bad(capsys, "deploy", model, "--backend", "loihi", "--input", tmp_path / "x63.npy", names="63")
    assert "25 steps x 8 samples" in msg  # the user's shape, not a padded one
    np.save(tmp_path / "b0.npy", np.zeros((25, 0, 64), np.float32))
    bad(capsys, "deploy", model, "--backend", "torch", "--input", tmp_path / "b0.npy", names="b0.npy")
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 2, 64)))
    bad(capsys, "deploy", model, "--backend", "torch", "--input", tmp_path / "x.npz", names=".npz")
    np.savez(tmp_path / "outputs.npz", output=np.zeros((3, 2, 10), np.float32))
    bad(capsys, "partition", model, "--target", "loihi", "--activity", tmp_path / "outputs.npz", names="output")
    good = tmp_path / "act.npz"
    np.savez(good, a=np.zeros(3))
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[:40])
    bad(capsys, "partition", model, "--target", "loihi", "--activity", trunc, names="trunc.npz")
    bad(capsys, "report", model, "--target", "cpu", "--activity", trunc, names="trunc.npz")
    bad(capsys, "report", model, "--target", "cpu", "--dataset", "digits", "-o", tmp_path, names=str(tmp_path))
    bad(capsys, "deploy", model, "--backend", "torch", "--dataset", "digits", "-o", tmp_path / "no" / "dir",
        names="does not exist")


def test_output_path_is_checked_before_the_run(model, tmp_path, capsys, monkeypatch):
    import neuromap.deploy as d

    def must_not_run(*a, **k):
        raise AssertionError("the run started before the output path was checked")

    monkeypatch.setattr(d, "deploy", must_not_run)
    bad(capsys, "deploy", model, "--backend", "torch", "--dataset", "digits", "-o", tmp_path / "x" / "y", names="y")
    (tmp_path / "f").write_text("a file")
    bad(capsys, "deploy", model, "--backend", "torch", "--dataset", "digits", "-o", tmp_path / "f", names="a file")


def test_debug_version_broken_pipe_and_internal_errors(model, tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and "neuromap" in capsys.readouterr().out
    code, _, err = run_cli(capsys, "--debug", "info", tmp_path / "missing.nir")
    assert code == 2 and "Traceback" in err and "missing.nir" in err.splitlines()[-1]
    code, _, err = run_cli(capsys, "report", model, "--target", "cpu", "--dataset", "digits", "--bogus")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--bogus" in err
    import neuromap.cli.info as info

    monkeypatch.setattr(info, "_format_info", lambda args: 1 / 0)
    code, _, err = run_cli(capsys, "info", model)
    assert code == 1 and "internal error" in err and "ZeroDivisionError" in err and "Traceback" not in err
    # `report ... | head`: the reader goes away; neuromap stops quietly
    script = ("import sys, neuromap.cli.targets as t\n"
              "def run(args):\n    for _ in range(20000): print('x' * 100)\n    return 0\n"
              "t.run = run\nfrom neuromap.cli import main\nsys.exit(main(['targets']))\n")
    res = subprocess.run(f"{sys.executable} -c \"{script}\" | head -c 10; exit ${{PIPESTATUS[0]}}", shell=True,
                         executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert res.stdout == "x" * 10
    assert res.returncode == 0 and res.stderr == "", res.stderr


def test_ctrl_c_exits_130_without_traceback(model, capsys, monkeypatch):
    import neuromap.cli.info as info

    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "_format_info", interrupt)
    code, _, err = run_cli(capsys, "info", model)
    assert code == 130 and "Traceback" not in err


# ------------------------------------------------------------------------------ confusing messages
def test_trace_names_the_users_shape():
    with pytest.raises(nm.graph.GraphError, match=r"\(2, 25, 63\)"):
        nm.trace(SpikingMLP(64, [8], 10), torch.rand(2, 25, 63))


def test_every_error_is_a_neuromap_error_and_keeps_its_old_base():
    from neuromap.backends import BackendError
    from neuromap.energy import ActivityError, MissingFigure
    from neuromap.graph import GraphError
    from neuromap.partition import DoesNotFit
    from neuromap.targets import TargetError

    for cls in (GraphError, BackendError, DoesNotFit, TargetError, ActivityError, MissingFigure, InputError):
        assert issubclass(cls, NeuromapError) and issubclass(cls, ValueError), cls
    assert not issubclass(BackendError, GraphError)
    assert issubclass(OutputError, OSError) and issubclass(OutputError, NeuromapError)


# ------------------------------------------------------------------------------ interoperability
NORSE = FIXTURES / "norse_lifbox.nir"


def test_item11_deploy_and_report_accept_convention_and_dt(capsys, tmp_path):
    g = nm.load(NORSE, convention="norse")
    shape = g.shapes[g.inputs[0]][1]
    np.save(tmp_path / "x.npy", (np.random.default_rng(0).random((5, 2, *shape)) < 0.3).astype(np.float32))
    for cmd in (["deploy", NORSE, "--backend", "torch", "--compare", "none"], ["report", NORSE, "--target", "cpu"]):
        code, _, err = run_cli(capsys, *cmd, "--input", tmp_path / "x.npy", "--convention", "norse", "--dt", "1e-3")
        assert code == 0, err


def test_item13_none_node_is_named():
    import nir

    from neuromap.graph import GraphError, from_nir

    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2, 3])), "flat": None, "output": nir.Output(np.array([6]))},
                     edges=[("input", "flat"), ("flat", "output")], type_check=False)
    with pytest.raises(GraphError, match=r"'flat'.*Norse.*nir\.Flatten"):
        from_nir(g)


def _snntorch_like_graph():
    import nir

    n = 4
    tau = np.full(n, 1e-4 / (1 - 0.9))
    lif = nir.LIF(tau=tau, r=tau / 1e-4, v_leak=np.zeros(n), v_threshold=np.ones(n))
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "fc": nir.Affine(np.ones((n, 3)), np.zeros(n)),
                               "lif": lif, "output": nir.Output(np.array([n]))},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)


def test_item14_snntorch_reset_is_stated_or_warned():
    from neuromap.graph import from_nir
    from neuromap.graph.neuron import spec_from_nir

    with pytest.warns(UserWarning, match="reset"):
        g = from_nir(_snntorch_like_graph(), convention="snntorch")
    assert spec_from_nir(g.nodes["lif"]).params.reset == "subtract"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = from_nir(_snntorch_like_graph(), convention="snntorch", reset="zero")
    assert spec_from_nir(g.nodes["lif"]).params.reset == "zero"
    with pytest.raises(ValueError, match="snnTorch"):
        from_nir(_snntorch_like_graph(), convention="nir", reset="zero")


def test_item14_readme_documents_the_snntorch_export_workaround():
    text = (ROOT / "README.md").read_text()
    assert "## NIR files from other tools" in text
    section = text.split("## NIR files from other tools")[1]
    assert "extract_nir_graph" in section and "--reset" in section and "ignore_dims=[0]" in section


def test_item15_membrane_readout_reports_a_difference_not_0_percent(li_model, capsys):
    from neuromap.deploy import compare_records

    ref = {"s": torch.tensor([0.0, 1.0, 1.0]), "m": torch.tensor([0.5, -1.25, 2.0])}
    agree, diff = compare_records(ref, {"s": torch.tensor([0.0, 1.0, 0.0]), "m": torch.tensor([0.5, -1.0, 2.0])})
    assert agree == {"s": pytest.approx(2 / 3)} and diff["m"] == (pytest.approx(0.25), pytest.approx(3.25))
    code, out, err = run_cli(capsys, "deploy", li_model, "--backend", "loihi", "--dataset", "digits",
                             "--samples", 4)
    assert code == 0, err
    assert "max |difference|" in out and "% of the float range" in out
    spiking = out.split("non-spiking")[0]
    assert "output" not in spiking.split("spike agreement")[-1]  # the membrane is not scored as 0 % spikes


def test_item16_kernel_build_is_not_timed(monkeypatch):
    from neuromap import deploy as d
    from neuromap.neurons import kernels

    calls = []
    monkeypatch.setattr(kernels, "status", lambda: {"available": False, "disabled": False, "error": None,
                                                    "build_s": None, "built": False})
    monkeypatch.setattr(kernels, "disabled", lambda: False)
    real = kernels.load

    def slow_first_build(announce=None):
        if not calls:  # the first call builds (slowly) and announces it; later calls find it loaded
            calls.append("build")
            announce("building the kernels")
            time.sleep(0.3)
        return real()

    g = nm.trace(SpikingMLP(4, [3], 2), torch.rand(2, 1, 4))
    monkeypatch.setattr(kernels, "load", slow_first_build)
    notes = []
    dep = d.deploy(g, torch.zeros(3, 1, 4), backend="torch", compare=None, announce=notes.append)
    assert calls == ["build"] and notes and "building" in notes[0]
    assert dep.result.wall_seconds < 0.3
