"""SIGTERM and SIGHUP stop a command like Ctrl-C (issue 26 item 3): no temporary left behind, exit
code 128 + n, one line. (What ``neuromap.atomic`` does with a signal held during a write is
tests/unit/test_signals.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import neuromap as nm
from neuromap.networks import SpikingMLP

STOP_DEPLOY = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from neuromap import cli
    signum, model, x, out, when = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    real_savez = np.savez
    def savez_then_signal(file, **arrays):  # the signal arrives while the run directory is being written
        real_savez(file, **arrays)
        os.kill(os.getpid(), signum)
    if when == "save":
        np.savez = savez_then_signal
    else:  # while the run is being measured
        import neuromap.deploy as d
        real_collect = d.records_with_inputs
        def collect_then_signal(*a, **k):
            os.kill(os.getpid(), signum)
            return real_collect(*a, **k)
        d.records_with_inputs = collect_then_signal
    sys.exit(cli.main(["deploy", model, "--backend", "torch", "--input", x, "-o", out]))
""")


@pytest.mark.parametrize("when", ["save", "run"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_sigterm_and_sighup_stop_deploy_like_ctrl_c(tmp_path, signum, when):
    """Item 3: ``kill`` during ``deploy -o termrun`` leaves no hidden ``.termrun.*`` directory and no
    ``termrun``, exits 128 + n and says so in one line."""
    model = nm.save(nm.trace(SpikingMLP(8, [4], 2), torch.rand(2, 1, 8)), tmp_path / "m.nir")
    np.save(tmp_path / "x.npy", np.zeros((3, 1, 8), np.float32))
    before = sorted(os.listdir(tmp_path))
    run = subprocess.run([sys.executable, "-c", STOP_DEPLOY, str(int(signum)), str(model), str(tmp_path / "x.npy"),
                          str(tmp_path / "termrun"), when], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 128 + signum, (run.returncode, run.stderr[-2000:])
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert lines == [f"neuromap deploy: stopped by {signal.Signals(signum).name}"], run.stderr[-2000:]
    assert sorted(os.listdir(tmp_path)) == before  # no termrun, no .termrun.*.new / .old
