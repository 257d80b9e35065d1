"""The C++ kernel cache (issue 26 item 5, issue 31 point 3): keyed by what the binary depends on, never
by the virtualenv or the ``ninja`` on PATH; created private (0700) and refused when another user owns
it or others can write it; a build announces itself and reports its measured duration, and no
reported run time includes it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import neuromap as nm
from neuromap.networks import SpikingMLP
from neuromap.neurons import kernels


def test_build_key_ignores_the_virtualenv_and_ninja_on_path(monkeypatch, tmp_path):
    key = kernels.build_key()
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path / "another-venv"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "another-venv"))
    (tmp_path / "ninja").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "ninja").chmod(0o755)
    assert kernels.build_key() == key
    assert set(key) == {"sources", "cflags", "ldflags", "compiler", "torch", "python"}


def test_build_key_changes_with_the_compiler_torch_and_python_abi(monkeypatch):
    name = kernels._build_name()
    assert "cxx11abi" in kernels.build_key()["torch"] and kernels.build_key()["python"]
    monkeypatch.setattr(kernels, "compiler_identity", lambda: "/usr/bin/g++-99 g++ 99.0")
    assert kernels._build_name() != name
    monkeypatch.undo()
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    assert kernels._build_name() != name
    monkeypatch.undo()
    monkeypatch.setattr(kernels.sysconfig, "get_config_var", lambda key: "cpython-399-x86_64-linux-gnu")
    assert kernels._build_name() != name


FAKE_NINJA = "#!/bin/sh\necho called >> {marker}\nexit 1\n"
LOAD = textwrap.dedent("""
    from neuromap.neurons import kernels
    st = kernels.ensure_built()
    print("STATUS", st["available"], st["built"], kernels.cache_dir())
""")


def test_a_cached_build_loads_in_another_virtualenv_without_ninja(tmp_path, cpp_kernels):
    """Issue 31.3: a new virtualenv (here: another VIRTUAL_ENV) or another ninja first on PATH (here: one
    that fails and records its call) loads the cached library: no build, no announcement, ninja never run."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "ninja-called"
    bin_dir.mkdir()
    (bin_dir / "ninja").write_text(FAKE_NINJA.format(marker=marker))
    (bin_dir / "ninja").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(tmp_path / "venv2"))
    env.pop("NEUROMAP_NO_CPP", None)
    run = subprocess.run([sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"STATUS True False {kernels.cache_dir()}" in run.stdout, (run.stdout, run.stderr[-2000:])
    assert kernels.ANNOUNCEMENT not in run.stderr
    assert not marker.exists(), "ninja was run for a cached build"


def test_a_new_cache_directory_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROMAP_KERNEL_CACHE", str(tmp_path / "cache"))
    entry = kernels.cache_dir()
    for path in (tmp_path / "cache", entry):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def _plant(root: Path, marker: Path) -> Path:
    """A library in the entry neuromap would load, whose constructor writes ``marker``."""
    entry = root / kernels._build_name()
    entry.mkdir(parents=True)
    src = root / "planted.c"
    src.write_text(f'#include <stdio.h>\n__attribute__((constructor)) static void ran(void) {{ '
                   f'FILE *f = fopen("{marker}", "w"); if (f) {{ fputs("ran", f); fclose(f); }} }}\n')
    lib = entry / f"{kernels._build_name()}.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, capture_output=True)
    for path in (root, entry):
        path.chmod(0o777)
    return lib


def test_a_planted_library_in_a_world_writable_cache_is_refused_not_loaded(tmp_path):
    """Item 5: a cache directory others can write is refused with a message naming it; the library
    planted there is never loaded (its constructor never runs); the pure-PyTorch kernels serve."""
    root, marker = tmp_path / "shared-cache", tmp_path / "constructor-ran"
    _plant(root, marker)
    env = dict(os.environ, NEUROMAP_KERNEL_CACHE=str(root))
    env.pop("NEUROMAP_NO_CPP", None)
    run = subprocess.run([sys.executable, "-c", LOAD], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode != 0 or "STATUS False" in run.stdout, run.stdout
    assert not marker.exists(), "the planted library was loaded and its constructor ran"
    assert f"{root}" in run.stderr and "writable by others" in run.stderr, run.stderr[-2000:]


def test_a_cache_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROMAP_KERNEL_CACHE", str(tmp_path / "cache"))
    kernels.cache_dir()
    monkeypatch.setattr(kernels, "_uid", lambda: os.geteuid() + 1)  # the directory now belongs to someone else
    with pytest.raises(kernels.KernelCacheError, match=r"owned by uid \d+, not by this user"):
        kernels.cache_dir()


def test_the_temporary_fallback_is_created_private_or_refused(tmp_path, monkeypatch):
    """Item 5's path: ``~/.cache`` not writable -> ``$TMPDIR/neuromap-kernels-<uid>``, made 0700, refused
    when it already exists with other writers."""
    monkeypatch.delenv("NEUROMAP_KERNEL_CACHE", raising=False)
    monkeypatch.setattr(kernels, "_writable", lambda path: False)
    monkeypatch.setattr(kernels.tempfile, "tempdir", str(tmp_path))
    root = kernels.cache_root()
    assert root == tmp_path / f"neuromap-kernels-{os.geteuid()}" and stat.S_IMODE(root.stat().st_mode) == 0o700
    root.chmod(0o777)
    with pytest.raises(kernels.KernelCacheError, match="writable by others"):
        kernels.cache_root()
    root.chmod(0o700)
    (root / "link").symlink_to(tmp_path)
    monkeypatch.setattr(kernels, "_build_name", lambda: "link")
    with pytest.raises(kernels.KernelCacheError, match="symbolic link"):
        kernels.cache_dir()


def test_a_build_is_announced_before_and_reports_its_measured_duration(tmp_path, monkeypatch):
    """The compile step (torch's load, faked here to take 0.3 s) is announced, then its measured time is
    reported; the library lands in the entry and the staging directory is gone."""
    from torch.utils import cpp_extension

    def fake_load(name, sources, build_directory, **kwargs):
        time.sleep(0.3)
        Path(build_directory, f"{name}.so").write_bytes(b"not really a library")

    monkeypatch.setattr(cpp_extension, "load", fake_load)
    messages: list[str] = []
    entry = tmp_path / "entry"
    entry.mkdir(mode=0o700)
    seconds = kernels._compile(entry, entry / "lib.so", messages.append)
    assert len(messages) == 2 and messages[0].startswith(kernels.ANNOUNCEMENT)
    assert "about" not in messages[0]  # no promised duration, the measured one follows
    assert messages[1] == f"neuromap: built the fused CPU kernels in {seconds:.1f} s" and seconds >= 0.3
    assert sorted(p.name for p in entry.iterdir()) == ["lib.so"]


def test_deploy_total_leaves_out_the_kernel_build(tmp_path, monkeypatch, capsys):
    """``neuromap deploy``'s "(total ...)" starts after the kernel build, and says the build was not counted."""
    from neuromap import cli

    model = nm.save(nm.trace(SpikingMLP(4, [3], 2), torch.rand(2, 1, 4)), tmp_path / "m.nir")
    x = tmp_path / "x.npy"
    import numpy as np

    np.save(x, np.zeros((3, 1, 4), np.float32))
    state = {"available": False, "disabled": False, "error": None, "build_s": None, "built": False}
    monkeypatch.setattr(kernels, "status", lambda: dict(state))
    monkeypatch.setattr(kernels, "disabled", lambda: False)
    real = kernels.load

    def slow_build(announce=None):
        if not state["built"]:  # the first call builds (slowly); the neurons' later calls find it loaded
            announce(kernels.ANNOUNCEMENT)
            time.sleep(2.0)
            state.update(available=True, built=True)
        return real()

    monkeypatch.setattr(kernels, "load", slow_build)
    code = cli.main(["deploy", str(model), "--backend", "torch", "--input", str(x), "--compare", "none"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert kernels.ANNOUNCEMENT in err
    total = out.split("(total ")[1]
    assert float(total.split(" s")[0]) < 2.0, total
    assert "kernel build before it took" in total and "not counted" in total


def test_long_steps_show_progress_with_elapsed_time():
    """On a terminal each long step of a deploy shows a ticking line and ends with its duration."""
    import io

    from neuromap.deploy import deploy
    from neuromap.progress import Steps

    stream = io.StringIO()
    steps = Steps(stream, live=True, tick=0.01)
    g = nm.trace(SpikingMLP(4, [3], 2), torch.rand(2, 1, 4))
    deploy(g, torch.zeros(3, 1, 4), backend="torch", compare=None, steps=steps)
    text = stream.getvalue()
    for what in ("compiling for torch (cpu)", "running torch: 1 samples x 3 steps", "estimating energy and latency on cpu"):
        assert f"neuromap: {what} ..." in text and f"neuromap: {what}: " in text, text
        assert steps.durations[what] >= 0
    assert Steps(io.StringIO()).live is False  # a pipe or a log file: nothing printed
