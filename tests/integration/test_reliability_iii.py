"""Issue 26 (Reliability III), the items beyond output paths, signals, code loading and the kernel cache:
no silent wrong result (6, 10, 11, 12), a memory budget before large allocations (13), exit 2 and one
line for bad input (14), messages that say what is wrong (15). The CLI runs in-process through
``neuromap.cli.main``; every refusal leaves the files it was given unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap import memory
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    m = SpikingMLP(64, [16], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    return nm.save(nm.trace(m, torch.rand(2, 1, 64)), tmp_path_factory.mktemp("m") / "base.nir")


@pytest.fixture
def x_npy(tmp_path) -> Path:
    np.save(tmp_path / "x.npy", (np.random.default_rng(0).random((4, 2, 64)) < 0.3).astype(np.float32))
    return tmp_path / "x.npy"


def _digest(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths if Path(p).is_file()}


def bad(cli_run, *argv, names: str) -> str:
    """Exit 2, one line on stderr naming ``names``, no traceback, the files given unchanged."""
    given = [a for a in argv if isinstance(a, Path)]
    before = _digest(given)
    code, _, err = cli_run(*argv)
    lines = [ln for ln in err.splitlines() if ln.strip() and "warning:" not in ln]
    assert code == 2 and len(lines) == 1 and names in lines[0], err
    assert "Traceback" not in err and "internal error" not in err
    assert _digest(given) == before
    return lines[0]


# ------------------------------------------------------------------------------------------- item 6
def test_deploy_never_compares_a_backend_with_itself(model, cli_run):
    msg = bad(cli_run, "deploy", model, "--backend", "loihi", "--compare", "loihi", "--dataset", "digits",
              "--samples", 2, names="--compare loihi")
    assert "itself" in msg
    code, out, err = cli_run("deploy", model, "--backend", "loihi", "--dataset", "digits", "--samples", 2)
    assert code == 0, err
    assert "float model (torch) ran in" in out and "spike agreement with the float model (torch)" in out
    code, out, err = cli_run("deploy", model, "--backend", "torch", "--dataset", "digits", "--samples", 2)
    assert code == 0 and "spike agreement" not in out and "ran in" in out  # torch: nothing to compare with


# ------------------------------------------------------------------------------------------ item 10
def _outlier_graph():
    torch.manual_seed(0)
    g = nm.trace(SpikingMLP(64, [16], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero")), torch.rand(2, 1, 64))
    g.nodes["0"].weight[0, 0] = 1e30
    return g


def test_an_outlier_weight_that_zeroes_the_rest_is_refused_with_the_numbers():
    from neuromap.backends.loihi.float_to_fixed import QuantizationError, quantize

    with pytest.raises(QuantizationError) as info:
        quantize(_outlier_graph().lower())
    msg = str(info.value)
    assert "1023 of 1024 non-zero incoming weights" in msg and "largest |w| = 1e+30" in msg and "median" in msg
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, rep = quantize(_outlier_graph().lower(), allow_mismatch=True)
    assert any("1023 of 1024" in str(w.message) for w in caught)
    assert rep.layers["1"].zeroed_weights == 1023 and "1023 of 1024 non-zero weights round to 0" in rep.layers["1"].notes[0]


def test_an_ordinary_network_reports_how_many_weights_round_to_zero(model):
    from neuromap.backends.loihi.float_to_fixed import quantize

    _, rep = quantize(nm.load(model).lower())
    for q in rep.layers.values():
        assert q.nonzero_weights > 0 and q.zeroed_weights < 0.05 * q.nonzero_weights


def test_deploy_refuses_the_outlier_on_the_command_line(tmp_path, cli_run):
    path = nm.save(_outlier_graph(), tmp_path / "outlier.nir")
    bad(cli_run, "deploy", path, "--backend", "loihi", "--dataset", "digits", "--samples", 2, names="1023 of 1024")


# ------------------------------------------------------------------------------------------ item 11
def _write_shd(path: Path, n_times: int, n_units: int, n_labels: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (n_times,), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (n_units,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n_times):
            times[i] = np.asarray([0.01 * (i + 1)], dtype=np.float16)
        for i in range(n_units):
            units[i] = np.asarray([i], dtype=np.uint16)
        f.create_dataset("labels", data=np.arange(n_labels, dtype=np.uint16))
    return path


SHD_MODEL_ARGS = ("--backend", "torch", "--dataset", "shd")


@pytest.fixture(scope="module")
def shd_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    m = SpikingMLP(700, [8], 20, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    return nm.save(nm.trace(m, torch.rand(2, 1, 700)), tmp_path_factory.mktemp("shd") / "shd.nir")


def test_an_shd_file_with_fewer_units_than_labels_is_refused(tmp_path, shd_model, cli_run):
    f = _write_shd(tmp_path / "shd" / "shd_test.h5", n_times=2, n_units=1, n_labels=2)
    msg = bad(cli_run, "deploy", shd_model, *SHD_MODEL_ARGS, "--data-dir", tmp_path, "--samples", 2, names=str(f))
    assert "spikes/units 1" in msg and "labels 2" in msg


def test_shd_refuses_fewer_samples_than_asked(tmp_path, shd_model, cli_run):
    _write_shd(tmp_path / "shd" / "shd_test.h5", 3, 3, 3)
    msg = bad(cli_run, "deploy", shd_model, *SHD_MODEL_ARGS, "--data-dir", tmp_path, "--samples", 5, names="--samples 5")
    assert "only 3 samples" in msg
    code, out, err = cli_run("deploy", shd_model, *SHD_MODEL_ARGS, "--data-dir", tmp_path, "--samples", 3,
                         "--steps", 10)
    assert code == 0 and "10 steps x 3 samples" in out, err


def _nmnist_tree(root: Path, per_digit: int) -> None:
    for d in range(10):
        folder = root / "nmnist" / "Test" / str(d)
        folder.mkdir(parents=True)
        for i in range(per_digit):
            (folder / f"{i:05d}.bin").write_bytes(bytes([1, 2, 0x80, 0, 10]))


def test_nmnist_refuses_fewer_samples_than_asked(tmp_path, cli_run):
    from neuromap import data

    _nmnist_tree(tmp_path, per_digit=1)
    with pytest.raises(data.DatasetError, match="--samples 12: the nmnist test split .* has only 10 samples"):
        data.inputs("nmnist", samples=12, data_dir=tmp_path, steps=5)
    x, y = data.inputs("nmnist", samples=10, data_dir=tmp_path, steps=5)
    assert x.shape == (5, 10, 2, 34, 34) and sorted(y.tolist()) == list(range(10))


def test_accuracy_never_broadcasts_labels_against_another_number_of_samples():
    from neuromap.deploy import readout_accuracy
    from neuromap.errors import InputError

    with pytest.raises(InputError, match="2 labels for an output of 1 samples"):
        readout_accuracy(torch.zeros(3, 1, 4), torch.tensor([0, 1]))


# ------------------------------------------------------------------------------------------ item 12
@pytest.mark.parametrize("extra, flag", [
    (("--input", "X", "--steps", 5), "--steps"),
    (("--input", "X", "--samples", 5), "--samples"),
    (("--input", "X", "--seed", 1), "--seed"),
    (("--input", "X", "--bin-dt", 0.01), "--bin-dt"),
    (("--dataset", "digits", "--layout", "BT"), "--layout"),
    (("--dataset", "digits", "--bin-dt", 0.001), "--bin-dt"),
    (("--dataset", "digits", "--data-dir", "."), "--data-dir"),
    (("--dataset", "shd", "--seed", 3), "--seed"),
])
def test_a_flag_the_input_would_ignore_is_refused(model, x_npy, cli_run, extra, flag):
    extra = tuple(x_npy if a == "X" else a for a in extra)
    msg = bad(cli_run, "deploy", model, "--backend", "torch", *extra, names=flag)
    assert "does not use" in msg
    bad(cli_run, "report", model, "--target", "cpu", *extra, names=flag)


def test_input_flags_with_an_activity_file_are_refused(model, tmp_path, cli_run):
    code, _, err = cli_run("deploy", model, "--backend", "torch", "--dataset", "digits", "--samples", 2,
                       "-o", tmp_path / "run")
    assert code == 0, err
    bad(cli_run, "report", model, "--target", "cpu", "--activity", tmp_path / "run" / "activity.npz", "--steps", 5,
        names="--steps 5")


def test_convention_and_dt_on_a_neuromap_native_file_are_refused(model, cli_run):
    for cmd in (("info", model), ("deploy", model, "--backend", "torch", "--dataset", "digits", "--samples", 2)):
        bad(cli_run, *cmd, "--convention", "snntorch", names="convention 'snntorch'")
        bad(cli_run, *cmd, "--dt", 1e-4, names="dt 0.0001 s")
    from neuromap.graph import GraphError

    with pytest.raises(GraphError, match="--convention / --dt"):
        nm.load(model, convention="norse")
    nm.load(model)  # without them it loads


@pytest.fixture
def short_bias(model, tmp_path) -> Path:
    path = tmp_path / "bias.nir"
    path.write_bytes(model.read_bytes())
    with h5py.File(path, "r+") as f:
        data = f["node/nodes/0/bias"][...]
        del f["node/nodes/0/bias"]
        f["node/nodes/0/bias"] = data[:5]
    return path


def test_an_affine_whose_bias_does_not_fit_its_weight_is_refused(short_bias, cli_run):
    from neuromap.graph import GraphError

    with pytest.raises(GraphError, match=r"node '0' \(Affine\): bias of shape \(5,\) does not fit weight"):
        nm.load(short_bias)
    bad(cli_run, "info", short_bias, names="bias of shape (5,)")
    bad(cli_run, "deploy", short_bias, "--backend", "torch", "--dataset", "digits", "--samples", 2,
        names="bias of shape (5,)")


# ------------------------------------------------------------------------------------------ item 13
def test_a_nir_file_declaring_gigabytes_is_refused_before_reading(model, tmp_path, cli_run):
    """The issue's file: a few kB holding a gzip-compressed 16 x 40 M float32 weight (2.38 GiB declared)."""
    path = tmp_path / "huge.nir"
    path.write_bytes(model.read_bytes())
    with h5py.File(path, "r+") as f:
        del f["node/nodes/0/weight"]
        f.create_dataset("node/nodes/0/weight", shape=(16, 40_000_000), dtype="f4", compression="gzip",
                         chunks=(1, 1_000_000))
    assert path.stat().st_size < 1_000_000
    msg = bad(cli_run, "info", path, "--max-memory", "1G", names=str(path))
    assert "declares 2.38 GiB" in msg and "memory limit of 1 GiB (--max-memory)" in msg


def test_the_default_limit_is_half_of_what_the_process_may_use(monkeypatch):
    import resource

    monkeypatch.delenv(memory.ENV, raising=False)
    real = resource.getrlimit
    monkeypatch.setattr(resource, "getrlimit",
                        lambda which: (4 << 30, resource.RLIM_INFINITY) if which == resource.RLIMIT_AS else real(which))
    assert memory.available_memory() <= 4 << 30
    cap, source = memory.limit()
    assert cap == memory.available_memory() // 2 and "half" in source
    monkeypatch.setenv(memory.ENV, "3G")
    assert memory.limit() == (3 << 30, f"${memory.ENV}")
    with memory.limited("512M"):
        assert memory.limit() == (512 << 20, "--max-memory")
    assert memory.parse_size("1.5k") == 1536 and memory.parse_size("2GiB") == 2 << 30


@pytest.mark.parametrize("bad_size", ["lots", "-1G", "0", "1X"])
def test_a_bad_max_memory_is_refused(model, cli_run, bad_size):
    bad(cli_run, "info", model, "--max-memory", bad_size, names="--max-memory")


def test_digits_encodes_only_the_samples_asked_for(monkeypatch):
    """``--samples 1 --steps 2000``: the same spikes as ``data.digits(...).x_test[:1]``, but the rate code never
    draws more than one step of the data set at a time (before: all 1,797 x 2000 x 64 at once)."""
    from neuromap import data
    from neuromap.deploy import load_inputs

    x, y = load_inputs(None, "digits", steps=7, samples=5, seed=2)
    ref = data.digits(encoding="rate", steps=7, seed=2)
    assert torch.equal(x, ref.x_test[:5].transpose(0, 1)) and torch.equal(y, ref.y_test[:5])
    drawn = []
    real = torch.rand

    def recording_rand(*size, **kw):
        out = real(*size, **kw)
        drawn.append(out.numel())
        return out

    monkeypatch.setattr(torch, "rand", recording_rand)
    x, _ = load_inputs(None, "digits", steps=2000, samples=1)
    assert x.shape == (2000, 1, 64) and max(drawn) == 1797 * 64


@pytest.mark.parametrize("argv, what", [
    (("--dataset", "digits", "--samples", 64, "--steps", 100_000_000), "64 samples x 100000000 steps"),
    (("--dataset", "shd", "--bin-dt", 1e-9), "1000000000 bins of 1e-09 s"),
    (("--dataset", "shd", "--steps", 100_000_000), "100000000 bins"),
])
def test_requests_over_the_budget_are_refused_with_size_and_limit(model, tmp_path, cli_run, argv, what):
    msg = bad(cli_run, "deploy", model, "--backend", "torch", *argv, "--data-dir", tmp_path, "--max-memory", "2G",
              names=what) if "shd" in argv else \
        bad(cli_run, "deploy", model, "--backend", "torch", *argv, "--max-memory", "2G", names=what)
    assert "more than the memory limit of 2 GiB" in msg


def _npy_with_header(path: Path, shape: tuple[int, ...], data: bytes = b"") -> Path:
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": shape})
        fh.write(data)
    return path


def test_an_npy_header_declaring_terabytes_is_refused(model, tmp_path, cli_run):
    path = _npy_with_header(tmp_path / "huge.npy", (1 << 20, 1 << 10, 1 << 14), b"\0" * 64)  # 64 TiB declared
    msg = bad(cli_run, "deploy", model, "--backend", "torch", "--input", path, names=str(path))
    assert "declares shape (1048576, 1024, 16384)" in msg and "truncated" in msg


def test_an_npy_within_its_file_but_over_the_budget_is_refused(model, tmp_path, cli_run):
    path = tmp_path / "big.npy"
    np.save(path, np.zeros((10, 100, 64), np.float64))  # 512 kB, +256 kB as float32
    msg = bad(cli_run, "deploy", model, "--backend", "torch", "--input", path, "--max-memory", "600K", names=str(path))
    assert "750 KiB" in msg


# ------------------------------------------------------------------------------------------ item 14
def test_a_truncated_shd_file_is_exit_2(tmp_path, shd_model, cli_run):
    f = _write_shd(tmp_path / "shd" / "shd_test.h5", 4, 4, 4)
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    bad(cli_run, "deploy", shd_model, *SHD_MODEL_ARGS, "--data-dir", tmp_path, "--samples", 2, names=str(f))


def test_a_directory_named_bin_in_nmnist_is_exit_2(tmp_path, model, cli_run):
    _nmnist_tree(tmp_path, per_digit=1)
    odd = tmp_path / "nmnist" / "Test" / "0" / "000.bin"  # sorts first: among the samples read
    odd.mkdir()
    msg = bad(cli_run, "deploy", model, "--backend", "torch", "--dataset", "nmnist", "--data-dir", tmp_path,
              "--samples", 10, "--steps", 3, names=str(odd))  # refused while reading, before the model's shape matters
    assert "is a directory" in msg


def test_a_toml_nested_thousands_deep_is_exit_2(model, tmp_path, cli_run):
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    bad(cli_run, "targets", deep, names=str(deep))
    bad(cli_run, "partition", model, "--target", deep, names=str(deep))


def test_an_activity_record_that_is_a_json_list_is_exit_2(model, tmp_path, cli_run):
    path = tmp_path / "list.npz"
    np.savez(path, activity=np.array(json.dumps([1, 2, 3])))
    bad(cli_run, "report", model, "--target", "cpu", "--activity", path, names=str(path))
    bad(cli_run, "partition", model, "--target", "loihi", "--activity", path, names=str(path))


def test_an_activity_with_zero_neurons_is_exit_2(model, tmp_path, cli_run):
    code, _, err = cli_run("deploy", model, "--backend", "torch", "--dataset", "digits", "--samples", 2,
                       "-o", tmp_path / "run")
    assert code == 0, err
    with np.load(tmp_path / "run" / "activity.npz") as z:
        doc = json.loads(str(z["activity"]))
    doc["neurons"] = {k: 0 for k in doc["neurons"]}
    path = tmp_path / "zero.npz"
    np.savez(path, activity=np.array(json.dumps(doc)))
    msg = bad(cli_run, "partition", model, "--target", "loihi", "--activity", path, names=str(path))
    assert "positive integer number of neurons" in msg


# ------------------------------------------------------------------------------------------ item 15
def test_a_text_npy_is_named_as_such_without_pickle_advice(model, tmp_path, cli_run):
    path = tmp_path / "x.npy"
    path.write_text("0 1 0 1\n1 0 1 0\n")
    msg = bad(cli_run, "deploy", model, "--backend", "torch", "--input", path, names=str(path))
    assert "a text file" in msg and "pickle" not in msg


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="LOUD SKIP: no /dev/zero on this system")
def test_dev_zero_is_not_a_regular_file(model, cli_run):
    msg = bad(cli_run, "deploy", model, "--backend", "torch", "--input", "/dev/zero", names="/dev/zero")
    assert "not a regular file" in msg and "pickle" not in msg
