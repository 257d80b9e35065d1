"""The compiled kernels' cache: one entry per build key shared by every checkout, an announced build,
and ``ensure_built`` to build ahead of time (the key and the cache's safety: test_kernel_cache_safety.py)."""

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
