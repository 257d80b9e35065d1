"""Property test (issues 16 and 26): bad arguments, small malformed files, output paths that would
destroy something, malformed data-set files and crafted target files never give a traceback.

For every drawn case the ``neuromap`` command exits with code 2, prints exactly one line on stderr
that names the bad argument or file, and leaves every file byte-for-byte unchanged (it writes
nothing: no file outside the output path - nor the output path itself - is touched). Runs
in-process; 40 cases of each test take a few seconds to a minute.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import neuromap as nm
from neuromap import cli
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams
from tests.support import write_shd


@functools.cache
def good_files() -> dict[str, bytes]:
    """Valid files whose truncations serve as malformed ones (built once)."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        torch.manual_seed(0)
        m = SpikingMLP(64, [4], 3, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
        model = nm.save(nm.trace(m, torch.rand(2, 1, 64)), d / "m.nir")
        np.save(d / "x.npy", np.zeros((4, 2, 64), np.float32))
        np.savez(d / "a.npz", a=np.zeros(3))
        from neuromap import targets

        write_shd(d / "shd.h5", [([0.001, 0.002 * (i + 1)], [i, 600 + i], i) for i in range(3)])
        return {"nir": model.read_bytes(), "npy": (d / "x.npy").read_bytes(), "npz": (d / "a.npz").read_bytes(),
                "toml": Path(targets.load("loihi2").path).read_bytes(), "shd": (d / "shd.h5").read_bytes(),
                "nmnist": bytes([1, 2, 0x80, 0, 10, 30, 3, 0x00, 1, 0])}


def malformed(kind: str):
    """Bytes that are not a valid ``kind`` file: random bytes or a strict truncation of a valid one."""
    return st.one_of(
        st.binary(max_size=64).map(lambda b: ("random", b)),
        st.floats(0, 0.999).map(lambda f: ("truncated", f)),
    )


COUNTS = st.sampled_from([("deploy", "--samples", 1), ("deploy", "--steps", 1), ("deploy", "--seed", 0),
                          ("report", "--samples", 1), ("partition", "--weight-bits", 1), ("partition", "--seed", 0)])

CASES = st.one_of(
    st.tuples(st.just("model"), st.sampled_from(["info", "partition", "report", "deploy"]), malformed("nir")),
    st.tuples(st.just("input"), st.sampled_from(["deploy", "report"]), malformed("npy")),
    st.tuples(st.just("activity"), st.sampled_from(["partition", "report"]), malformed("npz")),
    st.tuples(st.just("target"), st.sampled_from(["targets", "partition", "report"]), malformed("toml")),
    st.tuples(st.just("count"), COUNTS, st.integers(-10**6, 0)),
    st.tuples(st.just("output"), st.sampled_from(["partition", "report", "deploy"]), st.sampled_from(["dir", "file"])),
)

# Output paths that would overwrite or delete what neuromap did not write, per command (issue 26 items 1, 2).
OUTPUTS = {
    "deploy": ["model", "foreign_dir", "fake_manifest", "inputs_dir", "run_plus_file"],
    "report": ["model", "input", "symlink", "hardlink"],
    "partition": ["model", "symlink", "hardlink", "plot_hardlink", "suffix"],
    "validate": ["model", "suffix"],
}
OUTPUT_CASES = st.sampled_from([(cmd, kind) for cmd, kinds in OUTPUTS.items() for kind in kinds])
DATA_CASES = st.tuples(st.sampled_from(["shd", "nmnist"]), malformed("data set file"))


def _write(path: Path, kind: str, how, good: dict[str, bytes]) -> None:
    mode, value = how
    data = value if mode == "random" else good[kind][: int(value * len(good[kind]))]
    if data == good[kind]:
        data = data[:-1]
    path.write_bytes(data)


def _argv(case, d: Path, good) -> tuple[list[str], str]:
    what, cmd, how = case
    model = d / "m.nir"
    model.write_bytes(good["nir"])
    base = {"info": ["info", model], "partition": ["partition", model, "--target", "loihi"],
            "report": ["report", model, "--target", "cpu", "--dataset", "digits", "--samples", "2", "--steps", "3"],
            "deploy": ["deploy", model, "--backend", "torch", "--dataset", "digits", "--samples", "2", "--steps", "3"],
            "targets": ["targets"]}
    if what == "model":
        bad = d / "bad.nir"
        _write(bad, "nir", how, good)
        return [a if a != model else bad for a in base[cmd]], str(bad)
    if what == "input":
        bad = d / "bad.npy"
        _write(bad, "npy", how, good)
        argv = [a for a in base[cmd] if a not in ("--dataset", "digits")]
        return argv + ["--input", bad], str(bad)
    if what == "activity":
        bad = d / "bad.npz"
        _write(bad, "npz", how, good)
        argv = [a for a in base[cmd] if a not in ("--dataset", "digits")]
        return argv + ["--activity", bad], str(bad)
    if what == "target":
        bad = d / "bad.toml"
        _write(bad, "toml", how, good)
        assume(not _loads_as_target(bad))  # a cut after the last required field is still a valid target
        if cmd == "targets":
            return ["targets", bad], str(bad)
        argv = list(base[cmd])
        argv[argv.index("--target") + 1] = bad
        return argv, str(bad)
    if what == "count":
        sub, flag, minimum = cmd
        value = how if how < minimum else minimum - 1
        argv = [a for a in base[sub]]
        if flag in argv:
            argv[argv.index(flag) + 1] = str(value)
        else:
            argv += [flag, str(value)]
        return argv, flag
    # an output path that cannot be written: in a missing directory, or naming an existing directory
    out = d / "missing" / "out.json" if how == "dir" else d
    flag = {"partition": "-o", "report": "-o", "deploy": "-o"}[cmd]
    if cmd == "deploy" and how == "file":
        out = model  # a file where a run directory should go
    return base[cmd] + [flag, out], str(out) if how == "dir" else str(out.name if cmd == "deploy" else out)


def _output_argv(case, d: Path, good) -> tuple[list, str]:
    """``(argv, name the error must show)`` for an output path that must be refused."""
    cmd, kind = case
    model, x = d / "m.nir", d / "x.npy"
    model.write_bytes(good["nir"])
    x.write_bytes(good["npy"])
    base = {"deploy": ["deploy", model, "--backend", "torch", "--input", x],
            "report": ["report", model, "--target", "cpu", "--input", x, "--format", "json"],
            "partition": ["partition", model, "--target", "loihi"],
            "validate": ["validate", "--case", "sdt"]}[cmd]
    out = {"model": model, "input": x, "symlink": d / "link.json", "hardlink": d / "hard.json",
           "suffix": d / "out.txt", "foreign_dir": d / "proj", "fake_manifest": d / "proj", "inputs_dir": d,
           "run_plus_file": d / "run", "plot_hardlink": d / "m.png"}[kind]
    if kind == "symlink":
        out.symlink_to(model)
    elif kind in ("hardlink", "plot_hardlink"):
        out.hardlink_to(model)
    elif kind in ("foreign_dir", "fake_manifest", "run_plus_file"):
        (out / "src").mkdir(parents=True)
        (out / "src" / "important.txt").write_text("not neuromap's")
        manifest = {"fake_manifest": {}, "run_plus_file": {"format": "neuromap-run", "files": []}}.get(kind)
        if manifest is not None:
            (out / "manifest.json").write_text(json.dumps(manifest))
    flag = "--plot" if kind == "plot_hardlink" else "-o"
    name = str(out.resolve()) if cmd == "deploy" else str(out)
    return base + [flag, out], name


def _data_argv(case, d: Path, good) -> tuple[list, str]:
    """A malformed data-set file where the loader reads it, and a deploy that reads it."""
    name, how = case
    model = d / "m.nir"
    model.write_bytes(good["nir"])
    bad = d / "data" / "shd" / "shd_test.h5" if name == "shd" else d / "data" / "nmnist" / "Test" / "0" / "00000.bin"
    bad.parent.mkdir(parents=True)
    _write(bad, name, how, good)
    assume(not _loads_as_dataset(name, d / "data"))  # a cut that still reads is a valid file
    return ["deploy", model, "--backend", "torch", "--dataset", name, "--data-dir", d / "data", "--samples", "1",
            "--steps", "3"], str(bad)


def _loads_as_dataset(name: str, root: Path) -> bool:
    from neuromap import data

    try:
        data.inputs(name, samples=1, data_dir=root, steps=3)
    except Exception:  # noqa: BLE001 - any refusal means the file is bad input, which is what we want
        return False
    return True


def _loads_as_target(path: Path) -> bool:
    from neuromap import targets

    try:
        targets.load(path)
    except Exception:  # noqa: BLE001 - any refusal means the file is bad input, which is what we want
        return False
    return True


def _snapshot(d: Path) -> dict[str, str]:
    """Every entry under ``d``: a file's hash, a link's target, or "dir"."""
    return {str(p): f"-> {os.readlink(p)}" if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "dir" for p in d.rglob("*")}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=CASES)
def test_bad_input_gives_exit_2_one_line_no_traceback_no_change(case):
    good = good_files()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        argv, names = _argv(case, d, good)
        _check_refused(argv, names, d)


def _check_refused(argv: list, names: str, d: Path) -> None:
    before = _snapshot(d)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            code = exc.code
    text = err.getvalue()
    lines = [ln for ln in text.splitlines() if ln.strip() and "warning:" not in ln]
    assert code == 2, (argv, text, out.getvalue()[-500:])
    assert "Traceback" not in text, text
    assert len(lines) == 1, text
    assert names in lines[0], (names, text)
    assert _snapshot(d) == before, "a file changed, was written or was removed"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=OUTPUT_CASES)
def test_an_output_that_would_destroy_an_input_or_a_foreign_directory_is_refused(case):
    """Issue 26: outputs that are inputs (same path, symbolic or hard link), directories neuromap did not
    write (with a look-alike manifest, or holding the inputs), a run directory with a foreign file, a
    wrong suffix: exit 2, one line naming the path, nothing touched anywhere."""
    good = good_files()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        argv, names = _output_argv(case, d, good)
        _check_refused(argv, names, d)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=DATA_CASES)
def test_a_malformed_data_set_file_is_refused_naming_it(case):
    """Issue 26: random bytes or a truncation of a valid SHD HDF5 / N-MNIST event file under --data-dir:
    exit 2, one line naming the file, nothing touched."""
    good = good_files()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        argv, names = _data_argv(case, d, good)
        _check_refused(argv, names, d)


# --- target files (issue 26 items 8, 9, 12, 13, 15): crafted figures ------------------------------
FIGURE_LINE = re.compile(r'^(\w+) = \{ value = (.+?), unit = "([^"]+)"')


@functools.cache
def target_lines() -> tuple[str, tuple[int, ...]]:
    """loihi2.toml's text and the line numbers of its figures that have a number (or numbers) as value
    (a name such as ``sim.lava_select_tag`` takes any string)."""
    from neuromap import targets

    text = (targets.folder() / "loihi2.toml").read_text()
    return text, tuple(i for i, ln in enumerate(text.splitlines())
                       if (m := FIGURE_LINE.match(ln)) and not m.group(2).startswith('"'))


def _mutated(mutation, which: int, draw) -> str:
    """loihi2.toml with one figure renamed, put in another unit, given an impossible value, its e_synop
    overflowing a report, or its router grid beyond any memory."""
    from neuromap.targets import UNITS

    text, figure_lines = target_lines()
    lines = text.splitlines()
    i = figure_lines[which % len(figure_lines)]
    key, value, unit = FIGURE_LINE.match(lines[i]).groups()
    if mutation == "rename":
        lines[i] = lines[i].replace(key, key + draw, 1)
    elif mutation == "unit":
        other = [u for u in UNITS if u != unit][which % (len(UNITS) - 1)]
        lines[i] = lines[i].replace(f'unit = "{unit}"', f'unit = "{other}"', 1)
    elif mutation == "value":
        lines[i] = lines[i].replace(f"value = {value},", f"value = {draw},", 1)
    elif mutation == "overflow":
        lines = [ln.replace("e_synop = { value = 1.9e-12,", "e_synop = { value = 1e308,") for ln in lines]
    else:  # grid
        lines = [ln.replace("router_grid = { value = [8, 4]", "router_grid = { value = [1000000, 1000000]")
                 for ln in lines]
    return "\n".join(lines) + "\n"


FIGURE_CASES = st.one_of(
    st.tuples(st.sampled_from(["targets", "partition", "report"]), st.just("rename"), st.integers(0, 200),
              st.sampled_from(["x", "_", "2", "s"])),
    st.tuples(st.sampled_from(["targets", "partition", "report"]), st.just("unit"), st.integers(0, 200), st.just("")),
    st.tuples(st.sampled_from(["targets", "partition", "report"]), st.just("value"), st.integers(0, 200),
              st.sampled_from(["-1.0", "nan", "inf", "-inf", '"many"', "true"])),
    st.tuples(st.just("report"), st.just("overflow"), st.just(0), st.just("")),
    st.tuples(st.sampled_from(["targets", "partition", "report"]), st.just("grid"), st.just(0), st.just("")),
    st.tuples(st.sampled_from(["targets", "partition", "report"]), st.just("directory"), st.just(0), st.just("")),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=FIGURE_CASES)
def test_a_bad_target_file_gives_exit_2_one_line_naming_it_no_traceback_no_change(case):
    cmd, mutation, which, draw = case
    good = good_files()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        model = d / "m.nir"
        model.write_bytes(good["nir"])
        bad = d / "bad.toml"
        if mutation == "directory":
            bad.mkdir()
        else:
            bad.write_text(_mutated(mutation, which, draw))
        argv = {"targets": ["targets", bad], "partition": ["partition", model, "--target", bad],
                "report": ["report", model, "--target", bad, "--dataset", "digits", "--samples", "2", "--steps", "3"]}
        _check_refused(argv[cmd], str(bad), d)
