"""No deserialisation that can run code (issue 26 item 4): checkpoints load with
``torch.load(weights_only=True)``, arrays without pickle, and nothing in the package calls a loader
that could unpickle a user's file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from neuromap import train
from neuromap.errors import InputError
from neuromap.networks import SpikingMLP
from tests.support import ROOT

PACKAGE = ROOT / "neuromap"


class RunsCode:
    """Unpickling this runs ``marker.touch()`` (a stand-in for ``os.system``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_that_would_run_code_is_refused_not_loaded(tmp_path):
    marker = tmp_path / "code-ran"
    model = SpikingMLP(4, [3], 2)
    crafted = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "epoch": 1, "payload": RunsCode(marker)}, crafted)
    with pytest.raises(InputError, match="could run code") as info:
        train.load_checkpoint(crafted, SpikingMLP(4, [3], 2))
    assert str(crafted) in str(info.value)
    assert not marker.exists(), "unpickling ran code from the checkpoint"


def test_a_real_checkpoint_still_round_trips(tmp_path):
    model = SpikingMLP(4, [3], 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 1, 4)).sum().backward()
    opt.step()
    history = train.History()
    history.epochs.append({"loss": 0.5, "accuracy": 0.75})
    train.save_checkpoint(tmp_path / "c.pt", model, opt, epoch=3, history=history)
    other = SpikingMLP(4, [3], 2)
    ckpt = train.load_checkpoint(tmp_path / "c.pt", other, torch.optim.Adam(other.parameters(), lr=1e-3))
    assert ckpt["epoch"] == 3 and ckpt["history"]["epochs"][0]["loss"] == 0.5
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)


def test_an_npy_holding_python_objects_is_refused(tmp_path):
    from neuromap.npyfile import load_npy

    path = tmp_path / "objects.npy"
    np.save(path, np.array([RunsCode(tmp_path / "code-ran")], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="Python objects"):
        load_npy(path, f"--input {path}")
    assert not (tmp_path / "code-ran").exists()


UNSAFE = [r"allow_pickle\s*=\s*True", r"weights_only\s*=\s*False", r"\bpickle\.loads?\(", r"\bmarshal\.loads?\(",
          r"\bshelve\.open\(", r"\byaml\.load\(", r"\bdill\.", r"\bcloudpickle\."]


def test_the_package_never_calls_a_loader_that_can_unpickle():
    """A grep over the package: no pickle loads, and ``np.load`` only inside ``neuromap.npyfile`` (with
    ``allow_pickle=False``, after the header check)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in UNSAFE:
            found += [f"{path.name}: {m.group(0)}" for m in re.finditer(pattern, text)]
        if path.name != "npyfile.py":
            found += [f"{path.name}: np.load(" for _ in re.finditer(r"\bnp\.load\(", text)]
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                found.append(f"{path.name}: {m.group(0)}")
    assert not found, found
