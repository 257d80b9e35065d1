"""What a benchmark JSON records about the machine it ran on: CPU model and the vector extensions that
matter to the compiled kernels, core count, load, library and compiler versions, the checkout's commit."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

FLAGS = ("avx2", "fma", "avx512f", "avx512dq")
PACKAGES = ("torch", "numpy", "scipy", "brian2", "pymetis")


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    have = set(line.split(":", 1)[1].split())
                    flags = [fl for fl in FLAGS if fl in have]
    except OSError:
        pass
    return model, flags


def _version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return out.stdout.splitlines()[0].strip() if out.returncode == 0 and out.stdout else None
    except (OSError, subprocess.SubprocessError):
        return None


def describe() -> dict:
    """Machine, CPU, flags, versions and the 1-minute load average now."""
    model, flags = _cpuinfo()
    versions = {"python": sys.version.split()[0]}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    versions["g++"] = _version(["g++", "--version"])
    root = Path(__file__).resolve().parent.parent
    commit = _version(["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"])
    dirty = _version(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"])
    return {"date": dt.datetime.now().isoformat(timespec="seconds"), "node": platform.node(), "cpu": model,
            "cpu_flags": flags, "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
            "versions": versions, "commit": (commit or "?") + (" + uncommitted changes" if dirty else "")}


def load_note(start: float, end: float, own_threads: int) -> str:
    """One line on the load: other jobs inflate every time when the load exceeds the run's own threads."""
    cpus = os.cpu_count() or 1
    shared = max(start, end) > own_threads + 0.5
    return (f"1-minute load average {start:.1f} at the start, {end:.1f} at the end ({cpus} CPUs): "
            + ("other jobs shared the cores; times are inflated and multi-threaded runs suffer most (a "
               "descheduled thread stalls every barrier)" if shared else "no other significant load"))
