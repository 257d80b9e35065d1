"""Every declared dependency - the core and the integration extras that `make setup` installs - imports on
this Python (brian2 needs numpy < 2.4)."""

import importlib
import tomllib

import pytest

from tests.support import ROOT

IMPORT_NAMES = {"scikit-learn": "sklearn", "pymetis": "pymetis", "asteval": "asteval"}
INTEGRATION_EXTRAS = ("lava", "brian2", "snntorch", "norse", "metis", "data", "ray")


def _declared() -> list[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + [r for e in INTEGRATION_EXTRAS for r in meta["optional-dependencies"][e]]
    names = []
    for req in reqs:
        if "python_version" in req:
            continue  # a pin for some Pythons only (numpy<2.4 for brian2 on 3.11)
        name = req.split(";")[0]
        for sep in "<>=!~[ ":
            name = name.split(sep)[0]
        names.append(name.strip())
    return sorted(set(names))


@pytest.mark.parametrize("dist", _declared())
def test_declared_dependency_imports(dist):
    importlib.import_module(IMPORT_NAMES.get(dist, dist.replace("-", "_")))


def test_brian2_numpy_pin_holds():
    import numpy as np

    major, minor = (int(p) for p in np.__version__.split(".")[:2])
    assert (major, minor) < (2, 4), "brian2 2.9 fails to import on numpy >= 2.4 (ndarray.ptp removed)"
    import brian2

    assert brian2.__version__.startswith("2.9")


def test_norse_installed_without_torchvision():
    norse = importlib.import_module("norse.torch")
    assert hasattr(norse, "LIFBoxCell") or hasattr(norse, "LIF")
