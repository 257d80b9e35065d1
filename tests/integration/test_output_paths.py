"""Outputs never destroy what neuromap did not write (issue 26 items 1 and 2): ``deploy -o DIR`` replaces
only a run directory it wrote (a manifest with the run format marker listing every file, and nothing
else inside), and no command writes over one of its inputs (same path, symbolic link, hard link) or
inside an input data set's folder. Every refusal: exit 2, one line naming the path, files unchanged."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("src")
    torch.manual_seed(0)
    m = SpikingMLP(64, [8], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    model = nm.save(nm.trace(m, torch.rand(2, 1, 64)), d / "base.nir")
    np.save(d / "x.npy", (np.random.default_rng(0).random((4, 2, 64)) < 0.3).astype(np.float32))
    return {"base.nir": model.read_bytes(), "x.npy": (d / "x.npy").read_bytes()}


@pytest.fixture
def work(tmp_path, files, monkeypatch) -> Path:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def refused(cli_run, root: Path, *argv, names: str) -> str:
    """Exit 2, one line naming ``names``, no traceback, nothing under ``root`` changed."""
    before = snapshot(root)
    code, _, err = cli_run(*argv)
    lines = [ln for ln in err.splitlines() if ln.strip() and "warning:" not in ln]
    assert code == 2 and len(lines) == 1 and names in lines[0], err
    assert "Traceback" not in err
    assert snapshot(root) == before
    return lines[0]


DEPLOY = ("deploy", "base.nir", "--backend", "torch", "--input", "x.npy")


# --- item 1: a run directory is replaced only when neuromap wrote it -------------------------------------
def test_deploy_refuses_a_directory_that_merely_holds_a_manifest(work, cli_run):
    """The issue's reproduction: ``proj/manifest.json`` = ``{}`` beside ``proj/src/important.txt``."""
    (work / "proj" / "src").mkdir(parents=True)
    (work / "proj" / "manifest.json").write_text("{}")
    (work / "proj" / "src" / "important.txt").write_text("x")
    msg = refused(cli_run, work, *DEPLOY, "-o", "proj", names=str(work / "proj"))
    assert "did not write" in msg and "run marker" in msg


def test_deploy_dot_in_a_project_directory_keeps_the_model_and_input(work, cli_run):
    (work / "manifest.json").write_text('{"backend": "torch"}')
    refused(cli_run, work, *DEPLOY, "-o", ".", names=str(work))
    assert (work / "base.nir").is_file() and (work / "x.npy").is_file()


def test_deploy_replaces_its_own_run_but_not_one_with_an_extra_file(work, cli_run):
    code, out, err = cli_run(*DEPLOY, "-o", "run1")
    assert code == 0, err
    manifest = json.loads((work / "run1" / "manifest.json").read_text())
    assert manifest["format"] == "neuromap-run" and manifest["format_version"] == 1
    assert sorted(manifest["files"] + ["manifest.json"]) == sorted(os.listdir(work / "run1"))
    code, _, err = cli_run(*DEPLOY, "-o", "run1")  # its own run: replaced as a whole
    assert code == 0, err
    (work / "run1" / "notes.txt").write_text("mine")
    msg = refused(cli_run, work, *DEPLOY, "-o", "run1", names=str(work / "run1"))
    assert "notes.txt" in msg


@pytest.mark.parametrize("change", ["old_manifest", "symlink", "subdir", "manifest_lists_a_path"])
def test_deploy_refuses_a_run_directory_that_is_not_exactly_its_own(work, cli_run, change):
    assert cli_run(*DEPLOY, "-o", "run1")[0] == 0
    d = work / "run1"
    manifest = json.loads((d / "manifest.json").read_text())
    if change == "old_manifest":  # written before the format marker: not provably ours
        (d / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "format"}))
    elif change == "symlink":
        (d / "report.json").unlink()
        (d / "report.json").symlink_to(work / "x.npy")
    elif change == "subdir":
        (d / "report.json").unlink()
        (d / "report.json").mkdir()
        (d / "report.json" / "kept.txt").write_text("x")
    else:
        (d / "manifest.json").write_text(json.dumps({**manifest, "files": manifest["files"] + ["../x.npy"]}))
    refused(cli_run, work, *DEPLOY, "-o", "run1", names=str(d))


# --- item 2: an output is never an input ---------------------------------------------------------------------
def test_report_refuses_the_model_as_its_output(work, cli_run):
    msg = refused(cli_run, work, "report", "base.nir", "--target", "cpu", "--input", "x.npy", "-o", "base.nir",
                  "--format", "json", names="base.nir")
    assert "the same path" in msg


def test_report_refuses_the_input_as_its_output(work, cli_run):
    refused(cli_run, work, "report", "base.nir", "--target", "cpu", "--input", "x.npy", "-o", "x.npy",
            "--format", "table", names="x.npy")


def test_report_refuses_its_activity_file_as_its_output(work, cli_run):
    assert cli_run(*DEPLOY, "-o", "run1")[0] == 0
    refused(cli_run, work, "report", "base.nir", "--target", "cpu", "--activity", "run1/activity.npz",
            "-o", "run1/activity.npz", "--format", "json", names="run1/activity.npz")


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_an_output_that_links_to_an_input_is_refused(work, cli_run, link):
    out = work / "r.json"
    (out.symlink_to if link == "symbolic" else out.hardlink_to)(work / "base.nir")
    msg = refused(cli_run, work, "report", "base.nir", "--target", "cpu", "--input", "x.npy", "-o", out,
                  names=str(out))
    assert f"{link} link" in msg


def test_partition_refuses_the_model_and_a_target_file_as_output(work, cli_run):
    from neuromap import targets

    (work / "t.json").write_bytes(Path(targets.load("loihi").path).read_bytes())  # a TOML under a .json name
    refused(cli_run, work, "partition", "base.nir", "--target", "loihi", "-o", "base.nir", names="base.nir")
    (work / "t.toml").hardlink_to(work / "t.json")
    refused(cli_run, work, "partition", "base.nir", "--target", "t.toml", "-o", "t.json", names="t.json")


def test_validate_refuses_an_output_that_is_not_json(work, cli_run):
    refused(cli_run, work, "validate", "--case", "sdt", "-o", "base.nir", names="base.nir")


def test_deploy_refuses_an_output_inside_or_holding_a_data_set_folder(work, cli_run):
    shd = work / "data" / "shd"
    shd.mkdir(parents=True)
    (shd / "shd_test.h5").write_bytes(b"not read: refused before")
    argv = ("deploy", "base.nir", "--backend", "torch", "--dataset", "shd", "--data-dir", work / "data")
    refused(cli_run, work, *argv, "-o", work / "data", names=str(work / "data"))
    refused(cli_run, work, "report", "base.nir", "--target", "cpu", "--dataset", "shd", "--data-dir", work / "data",
            "-o", shd / "r.json", names=str(shd / "r.json"))


def test_two_outputs_naming_one_file_are_refused(tmp_path):
    from neuromap.atomic import check_distinct_outputs
    from neuromap.errors import OutputError

    with pytest.raises(OutputError, match="--plot .*also given as -o"):
        check_distinct_outputs({"-o": tmp_path / "m.svg", "--plot": tmp_path / "." / "m.svg"})
