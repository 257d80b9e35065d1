"""The compiled kernels' cache: one entry per source hash shared by every checkout, an announced build,
and ``ensure_built`` to build ahead of time."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from neuromap.neurons import kernels

SCRIPT = textwrap.dedent(
    """
    import shutil, sys
    from pathlib import Path
    from neuromap.neurons import kernels
    copy = Path(sys.argv[1]) / "neuromap" / "neurons" / "_kernels.cpp"    # this checkout's copy of the source
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(kernels._SOURCE, copy)
    kernels._SOURCE = copy
    st = kernels.ensure_built()
    assert st["available"], st
    print("ENTRY", kernels.cache_dir())
    """
)


def test_checkouts_stage_the_same_source_path(tmp_path, monkeypatch):
    """The compiled path is the copy inside the cache entry, whichever checkout asks: ninja sees one command."""
    monkeypatch.setenv("NEUROMAP_KERNEL_CACHE", str(tmp_path / "cache"))
    staged = []
    for checkout in ("a", "b"):
        copies = []
        for original in kernels._SOURCES:
            src = tmp_path / checkout / original.name
            src.parent.mkdir(exist_ok=True)
            src.write_bytes(original.read_bytes())
            copies.append(src)
        monkeypatch.setattr(kernels, "_SOURCES", tuple(copies))
        paths = kernels._staged_sources(kernels.cache_dir())
        staged.append([(path, path.stat().st_mtime_ns) for path in paths])
    assert staged[0] == staged[1]  # same paths, not rewritten
    assert [p.read_bytes() for p, _ in staged[0]] == [src.read_bytes() for src in kernels._SOURCES]


@pytest.mark.slow
def test_two_checkouts_share_one_build(tmp_path):
    """A second checkout of the same source loads the first one's library: no announcement, no rebuild."""
    env = dict(os.environ, NEUROMAP_KERNEL_CACHE=str(tmp_path / "cache"))
    env.pop("NEUROMAP_NO_CPP", None)
    runs = [subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / c)], env=env, capture_output=True, text=True,
                           timeout=900) for c in ("checkout-a",)]
    assert runs[0].returncode == 0, runs[0].stderr[-3000:]
    if kernels.ANNOUNCEMENT not in runs[0].stderr:
        pytest.fail(f"the first build did not announce itself: {runs[0].stderr[-2000:]}")
    entry = Path(runs[0].stdout.split("ENTRY ")[1].strip())
    libs = list(entry.glob("*.so"))
    mtime = libs[0].stat().st_mtime_ns
    second = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "checkout-b")], env=env, capture_output=True,
                            text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert kernels.ANNOUNCEMENT not in second.stderr
    assert Path(second.stdout.split("ENTRY ")[1].strip()) == entry
    assert libs[0].stat().st_mtime_ns == mtime, "the second checkout rebuilt the library"
