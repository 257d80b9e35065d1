"""The built wheel, installed with only the core dependencies in a fresh venv, runs ``neuromap --version``,
the README tour and ``neuromap deploy --backend loihi`` (``python -m tools.check_wheel``; ``make check-wheel``).

Slow (about 4 minutes on 2 cores: build, a fresh venv, torch and the core dependencies installed)."""

import subprocess
import sys

import pytest

from tests.support import ROOT


@pytest.mark.slow
def test_installed_wheel_runs_the_tour(tmp_path):
    pytest.importorskip("build", reason="SKIPPED LOUDLY: the 'build' package (dev extra) is not installed")
    proc = subprocess.run([sys.executable, "-m", "tools.check_wheel", "--keep", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "OK: the installed wheel runs the CLI" in proc.stdout
