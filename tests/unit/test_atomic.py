"""Atomic writes (issue 16 items 7, 9 and the permissions/suffix messages): every writer leaves the
old file intact and no temporary file behind when it fails mid-write, runs out of disk or is
interrupted, and names the user's path in its error."""

from __future__ import annotations

import errno
import os
import signal
import stat

import nir
import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap.atomic import atomic_open, atomic_path, check_writable, write_text
from neuromap.errors import InputError, NeuromapError, OutputError
from neuromap.networks import SpikingMLP

OLD = b"the previous, good file\n"


def _existing(tmp_path, name="out.json"):
    p = tmp_path / name
    p.write_bytes(OLD)
    return p


def _only(tmp_path, *names):
    """The directory holds exactly ``names`` (no temporary file left behind)."""
    assert sorted(os.listdir(tmp_path)) == sorted(names)


class FailingAfter:
    """A file wrapper whose write raises ``exc`` once ``n`` bytes have been written."""

    def __init__(self, fh, n: int, exc: BaseException) -> None:
        self.fh, self.left, self.exc = fh, n, exc

    def write(self, data):
        if len(data) > self.left:
            self.fh.write(data[: self.left])
            self.left = 0
            raise self.exc
        self.left -= len(data)
        return self.fh.write(data)


@pytest.mark.parametrize("exc", [RuntimeError("writer bug"), OSError(errno.ENOSPC, "No space left on device"),
                                 KeyboardInterrupt()])
@pytest.mark.parametrize("n", [0, 5, 4096])
def test_failure_after_n_bytes_keeps_old_file_and_leaves_no_temp(tmp_path, exc, n):
    p = _existing(tmp_path)
    with pytest.raises((type(exc), OutputError)) as info, atomic_open(p, "wb") as fh:
        w = FailingAfter(fh, n, exc)
        for _ in range(2000):
            w.write(b"0123456789")
    assert p.read_bytes() == OLD
    _only(tmp_path, "out.json")
    if isinstance(exc, OSError):  # a full disk names the user's path, not the temporary file
        assert isinstance(info.value, OutputError) and isinstance(info.value, NeuromapError)
        assert str(p) in str(info.value) and "No space left" in str(info.value) and ".tmp" not in str(info.value)


def test_full_disk_at_fsync_or_rename(tmp_path, monkeypatch):
    p = _existing(tmp_path)

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OutputError, match="No space left"):
        write_text(p, "new")
    assert p.read_bytes() == OLD
    _only(tmp_path, "out.json")


@pytest.fixture
def sigint_raises():
    """SIGINT raises ``KeyboardInterrupt`` in this test, whatever an earlier import (brian2 chains to the
    handler it found) or the parent process (``SIG_IGN`` in a background job) left installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_sigint_during_write_is_not_swallowed_and_keeps_old_file(tmp_path, sigint_raises):
    """Item 9: Ctrl-C inside a third-party writer (h5py ignores exceptions in its callbacks) is held
    until the writer returns, then raised; the old file stays."""
    p = _existing(tmp_path)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), atomic_path(p) as tmp:
        tmp.write_bytes(b"half")
        os.kill(os.getpid(), signal.SIGINT)
        tmp.write_bytes(b"half and the rest")  # still runs: the signal was deferred
    assert p.read_bytes() == OLD
    _only(tmp_path, "out.json")
    assert signal.getsignal(signal.SIGINT) is handler


def _graph():
    return nm.trace(SpikingMLP(4, [3], 2), torch.rand(2, 1, 4))


def test_nm_save_ctrl_c_and_full_disk(tmp_path, monkeypatch, sigint_raises):
    p = tmp_path / "m.nir"
    p.write_bytes(OLD)
    real = nir.write

    def interrupted(path, graph):
        os.kill(os.getpid(), signal.SIGINT)
        real(path, graph)

    monkeypatch.setattr(nir, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nm.save(_graph(), p)
    assert p.read_bytes() == OLD

    def full(path, graph):
        with open(path, "wb") as fh:
            fh.write(b"\x89HDF" * 100)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(nir, "write", full)
    with pytest.raises(OutputError) as info:
        nm.save(_graph(), p)
    assert str(p) in str(info.value) and ".tmp" not in str(info.value)
    assert p.read_bytes() == OLD
    _only(tmp_path, "m.nir")


def test_permissions_are_the_same_for_every_writer(tmp_path):
    """New files get 0666 & ~umask (not mkstemp's 0600); a replaced file keeps its mode."""
    from neuromap.partition import partition, synthetic

    umask = os.umask(0o022)
    try:
        m = partition(synthetic.mlp([8, 4]), "loihi")
        paths = [nm.save(_graph(), tmp_path / "m.nir"), m.save(tmp_path / "m.json"), write_text(tmp_path / "a.txt", "x")]
        m.plot(tmp_path / "m.png")
        paths.append(tmp_path / "m.png")
        for p in paths:
            assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
        os.chmod(paths[0], 0o600)
        nm.save(_graph(), paths[0])
        assert stat.S_IMODE(paths[0].stat().st_mode) == 0o600
    finally:
        os.umask(umask)


def test_partition_writers_are_atomic(tmp_path, monkeypatch):
    """Item 7: a full disk during ``partition -o m.json --plot map.png`` keeps both old files."""
    import json

    from neuromap.partition import partition, synthetic

    m = partition(synthetic.mlp([8, 4]), "loihi")
    js, png = _existing(tmp_path, "m.json"), _existing(tmp_path, "map.png")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dumps", lambda *a, **k: "x" * 10000)
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="m.json"):
        m.save(js)
    with pytest.raises(OutputError, match="map.png"):
        m.plot(png)
    assert js.read_bytes() == OLD and png.read_bytes() == OLD
    _only(tmp_path, "m.json", "map.png")


def test_plot_and_report_formats_follow_the_suffix(tmp_path):
    """``-o r.pdf`` writes a PDF (plot) or is refused (report), never a text table named .pdf."""
    from neuromap.energy.report import report_format
    from neuromap.partition import partition, synthetic

    m = partition(synthetic.mlp([8, 4]), "loihi")
    m.plot(tmp_path / "m.pdf")
    assert (tmp_path / "m.pdf").read_bytes().startswith(b"%PDF")
    m.plot(tmp_path / "noext")
    assert (tmp_path / "noext").read_bytes().startswith(b"\x89PNG")
    _only(tmp_path, "m.pdf", "noext")
    with pytest.raises(InputError, match="xyz"):
        m.plot(tmp_path / "m.xyz")
    with pytest.raises(InputError, match=r"r\.pdf"):
        report_format("r.pdf")
    assert report_format("r.json") == "json" and report_format("r.txt") == "table" and report_format("r") == "table"


def test_activity_save_is_atomic(tmp_path, monkeypatch):
    from neuromap.backends import get
    from neuromap.energy import Activity, collect

    g = _graph()
    x = (torch.rand(3, 2, 4) < 0.5).float()
    act = collect(g.lower(), {**get("torch").compile(g).run(x).records, "input": x})
    p = _existing(tmp_path, "activity.npz")

    def broken(file, **arrays):
        with open(file, "wb") as fh:
            fh.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OutputError, match="activity.npz"):
        act.save(p)
    assert p.read_bytes() == OLD
    _only(tmp_path, "activity.npz")
    monkeypatch.undo()
    act.save(p)
    assert Activity.load(p).steps == 3


def test_check_writable_fails_early(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputError, match="does not exist"):
        check_writable(tmp_path / "missing" / "r.json")
    with pytest.raises(OutputError, match="is a directory"):
        check_writable(tmp_path / "d")
    import neuromap.atomic as atomic

    def read_only(*a, **k):  # a read-only mount (chmod does not stop root, so simulate it)
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError, match="not writable.*Read-only"):
        check_writable(tmp_path / "r.json")
