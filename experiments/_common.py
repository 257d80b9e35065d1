"""Helpers shared by the experiment scripts: result folder, provenance, atomic JSON, threads."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(os.environ.get("NEUROMAP_RESULTS", ROOT / "results"))
# Packages whose versions decide an experiment's numbers (absent ones are recorded as None).
PACKAGES = ("neuromap", "torch", "numpy", "scipy", "scikit-learn", "matplotlib")


def setup_threads(n: int = 2) -> None:
    """Pin torch to ``n`` threads (the 2-core machines these results are measured on)."""
    torch.set_num_threads(n)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def cpu() -> str:
    """The CPU model and the vector unit torch dispatches to (``AVX2``, ``AVX512``, ...): float results of
    the same code differ in their last bits between AVX2 and AVX-512 machines, so a table names both."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model}, {torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} CPUs"


def _code_state() -> dict[str, Any]:
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": _git("rev-parse", "HEAD"), "dirty": None if status is None else bool(status),
            "started_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")}


# Taken when an experiment imports this module, i.e. for the code the run loaded (a long run's
# work tree may change before it writes its result).
_AT_START = _code_state()


def provenance() -> dict[str, Any]:
    """Where a result came from: the commit when the run started (and whether the work tree had
    uncommitted changes then), the command line, package versions, Python, platform, torch threads,
    and the UTC times of start and writing."""
    return {
        **_AT_START,
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "packages": {p: _version(p) for p in PACKAGES},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu(),
        "torch_threads": torch.get_num_threads(),
        "written_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def training_record(test: dict[str, Any], history: Any, epochs: int, seed: int, wall: float) -> dict[str, Any]:
    """The fields every training experiment's JSON shares: test accuracy, spikes per sample, epochs,
    seed, training wall time (s), torch threads, neuromap version and the per-epoch history."""
    import neuromap as nm

    return {
        "epochs": epochs,
        "seed": seed,
        "test_accuracy": test["accuracy"],
        "spikes_per_sample": test["spikes_per_sample"],
        "train_wall_seconds": wall,
        "torch_threads": torch.get_num_threads(),
        "neuromap_version": nm.__version__,
        "history": history.epochs,
    }


def write_json(obj: Any, path: Path) -> Path:
    """Write JSON atomically (temp file + rename)."""
    from neuromap.atomic import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_result(result: dict[str, Any], path: Path) -> Path:
    """Write an experiment's result JSON with its :func:`provenance` under ``"provenance"``
    (every experiment writes through this, so every number can be traced to a run)."""
    return write_json({**result, "provenance": provenance()}, path)
