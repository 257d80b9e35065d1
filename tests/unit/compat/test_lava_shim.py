"""The lava-nc 0.10.0 shim: lava imports on Python 3.11 through neuromap without touching
site-packages, and fails without it (so the shim is what makes it work)."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numpy")


def _var_model_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("lava")
    if spec is None:
        pytest.skip("lava-nc is not installed")
    return Path(spec.submodule_search_locations[0]) / "magma" / "compiler" / "var_model.py"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_lava_fails_without_shim_and_runs_with_it():
    path = _var_model_path()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    plain = _run("import lava.magma.core.process.process")
    assert plain.returncode != 0 and "mutable default" in plain.stderr
    shimmed = _run(
        "from neuromap.compat.lava import ensure_lava, is_patched\n"
        "ensure_lava()\n"
        "import numpy as np\n"
        "from lava.proc.lif.process import LIF\n"
        "from lava.proc.dense.process import Dense\n"
        "from lava.proc.io.source import RingBuffer\n"
        "from lava.proc.monitor.process import Monitor\n"
        "from lava.magma.core.run_configs import Loihi2SimCfg\n"
        "from lava.magma.core.run_conditions import RunSteps\n"
        "src = RingBuffer(data=np.ones((2, 5), dtype=int))\n"
        "d = Dense(weights=np.full((1, 2), 100))\n"
        "lif = LIF(shape=(1,), du=0, dv=0, vth=100)\n"
        "src.s_out.connect(d.s_in); d.a_out.connect(lif.a_in)\n"
        "m = Monitor(); m.probe(lif.s_out, 5)\n"
        "lif.run(condition=RunSteps(num_steps=5), run_cfg=Loihi2SimCfg(select_tag='fixed_pt'))\n"
        "s = m.get_data()[lif.name]['s_out']\n"
        "lif.stop()\n"
        "assert is_patched()\n"
        "print('spikes', int(s.sum()))\n"
    )
    assert shimmed.returncode == 0, shimmed.stderr[-2000:]
    assert "spikes" in shimmed.stdout and int(shimmed.stdout.split()[-1]) > 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "site-packages must not be modified"
