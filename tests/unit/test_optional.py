"""The core imports and runs with every optional integration absent, and a missing one names its extra.

The integrations (brian2, snntorch, nirtorch, norse, pymetis, tonic, lava, spikingjelly) are blocked
in a subprocess by a meta-path finder that raises ImportError for them, as if they were not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib

import pytest

from neuromap import optional
from tests.support import ROOT

BLOCK = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = {blocked!r}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
            return None
    sys.meta_path.insert(0, Block())
    """
)


def _run_without_extras(body: str) -> subprocess.CompletedProcess:
    code = BLOCK.format(blocked=sorted(optional.EXTRAS)) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, cwd=ROOT)


def test_core_runs_without_integrations():
    """Train, trace, lower, partition (metis falls back), Loihi emulator, SpiNNaker2, report: no extra needed."""
    proc = _run_without_extras(
        """
        import logging
        logging.basicConfig(level=logging.WARNING)
        import torch
        import neuromap as nm
        from neuromap import data, train, optional
        from neuromap.deploy import deploy
        from neuromap.networks import SpikingMLP
        from neuromap.neurons import LIFParams
        from neuromap.partition import partition, METIS_FALLBACK
        torch.manual_seed(0)
        d = data.digits(steps=8)
        model = SpikingMLP(64, [32], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
        train.fit(model, d, epochs=1, progress=False)
        graph = nm.trace(model, d.x_test[:2].transpose(0, 1))
        x, y = d.x_test[:8].transpose(0, 1), d.y_test[:8]
        dep = deploy(graph, x, backend="loihi", labels=y, report_targets=["loihi2", "spinnaker2", "crossbar-pcm"])
        print(dep.summary())
        m = partition(graph.lower(), "spinnaker2", method="metis")
        assert m.method == "sequential" and METIS_FALLBACK in m.notes, (m.method, m.notes)
        for mod in ("brian2", "pymetis", "tonic", "lava", "snntorch", "norse"):
            assert mod not in sys.modules, mod
            assert not optional.available(mod), mod
        print("CORE-OK")
        """
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "CORE-OK" in proc.stdout
    assert "pymetis is not installed" in proc.stderr  # the fallback is logged


def test_missing_integrations_name_their_extra():
    proc = _run_without_extras(
        """
        from neuromap import backends
        from neuromap.backends.brian2 import _b2
        from neuromap.compat.lava import ensure_lava
        from neuromap.optional import MissingExtra
        for fn in (_b2, ensure_lava):
            try:
                fn()
            except MissingExtra as exc:
                print("ERR", exc)
        """
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "pip install 'neuromap[brian2]'" in proc.stdout
    assert "pip install 'neuromap[lava]' && pip install --no-deps --ignore-requires-python lava-nc==0.10.0" in proc.stdout
    assert "Python 3.11" in proc.stdout


def test_require_names_extra_and_purpose():
    with pytest.raises(optional.MissingExtra, match=r"the thing needs tonic.*neuromap\[data\]"):
        optional.require("tonic.definitely_not_a_module", "the thing")
    with pytest.raises(KeyError):
        optional.install_hint("numpy")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_integration_has_its_extra_and_core_is_lean():
    meta = _pyproject()["project"]
    extras = meta["optional-dependencies"]
    for module, (extra, _) in optional.EXTRAS.items():
        assert extra in extras, f"{module}: extra {extra!r} is not declared in pyproject.toml"
    core = " ".join(meta["dependencies"]).lower()
    for module in optional.EXTRAS:
        assert module not in core, f"{module} is an integration but a core dependency"
    assert "asteval" not in core and meta["requires-python"] == ">=3.11"
    assert meta["license"] == "BSD-3-Clause"  # SPDX string, not the deprecated table


def test_every_package_is_listed():
    """A package (a folder with __init__.py) missing from pyproject's list is missing from the wheel."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "neuromap").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
