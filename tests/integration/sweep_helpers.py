"""Model builders for tests/integration/test_sweep.py that misbehave on purpose, imported by Ray workers by name
("sweep_helpers:NAME": the test puts this folder on the workers' PYTHONPATH)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from neuromap.networks import SpikingMLP


def dying_mlp(marker_dir: str, tag: str, deaths: dict[str, int], **kwargs) -> SpikingMLP:
    """A SpikingMLP whose first ``deaths[tag]`` builds kill their own worker process with SIGKILL
    (as the kernel's OOM killer would), mid-trial; ``deaths[tag] < 0``: the build raises instead (the
    trial's own error). Every attempt leaves a file ``marker_dir/TAG.N``."""
    folder = Path(marker_dir)
    attempt = len(list(folder.glob(f"{tag}.*"))) + 1
    (folder / f"{tag}.{attempt}").write_text(str(os.getpid()))
    if deaths[tag] < 0:
        raise RuntimeError("this builder always fails")
    if attempt <= deaths[tag]:
        os.kill(os.getpid(), signal.SIGKILL)
    return SpikingMLP(**kwargs)


def slow_mlp(seconds: float, **kwargs) -> SpikingMLP:
    """A SpikingMLP that takes ``seconds`` longer to build (time to interrupt the driver mid-sweep)."""
    time.sleep(seconds)
    return SpikingMLP(**kwargs)

