"""The CLI on lava-dl's netx networks (tests/data/netx): ``neuromap deploy NET.net --backend lava``
compares Lava with the emulator bit for bit, and ``neuromap report --per-layer`` gives each layer's
cores and activity on Loihi 2 (PilotNet LIF and SDNN, a few steps)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from neuromap.cli import main
from tests.unit.io.test_netx import DATA, nets  # noqa: F401 - the vendored networks, unpacked (fixture)


def _frames(tmp_path, image_whc: np.ndarray, steps: int) -> str:
    """A static frame in lava-dl's (W, H, C) layout as a ``[T, 1, C, H, W]`` input file."""
    x = np.asarray(image_whc, dtype=np.float32).transpose(2, 1, 0)[None, None].repeat(steps, 0)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return str(path)


def _layers(out: str) -> dict[str, tuple[int, int, bool]]:
    """``{layer: (neurons, cores, graded)}`` from the per-layer table."""
    rows = re.findall(r"^(layer\d+|output)\s+([\d,]+)\s+(\d+)\s+[\d,]+\s+[\d.]+\s+[\d,]+( graded)?$", out, re.M)
    return {name: (int(n.replace(",", "")), int(c), bool(g)) for name, n, c, g in rows}


def test_deploy_netx_on_lava_prints_its_bit_exact_agreement_with_the_emulator(nets, tmp_path, capsys):  # noqa: F811
    pytest.importorskip("lava", reason="LOUD SKIP: lava-nc is not installed (make setup installs it)")
    x = _frames(tmp_path, np.load(DATA / "tinynet.npz")["input_bias"], 3)
    assert main(["deploy", str(nets["tiny"]), "--backend", "lava", "--input", x]) == 0
    out = capsys.readouterr().out
    assert "spike agreement with the loihi reference, per layer:" in out
    assert re.findall(r"^  (layer\d)\s+100\.00 %$", out, re.M) == ["layer0", "layer1", "layer2"]
    assert "identical to the loihi reference: 3 of 3 layers" in out


@pytest.mark.parametrize("case,graded", [pytest.param("pilotnet_lif", False, marks=pytest.mark.slow),  # ~5 s
                                          ("pilotnet_sdnn", True)])
def test_report_per_layer_gives_each_pilotnet_layers_cores_and_activity(nets, tmp_path, capsys, case, graded):  # noqa: F811
    gt = np.load(DATA / f"{case}.npz")
    image = gt["image"] if "image" in gt else gt["input"][..., 0]
    x = _frames(tmp_path, image, 2)
    assert main(["report", str(nets[case]), "--target", "loihi2", "--input", x, "--per-layer",
                 "--method", "sequential"]) == 0
    out = capsys.readouterr().out
    layers = _layers(out)
    first = int(np.prod(image.shape))
    assert layers["layer0"][0] == first and all(c >= 1 for _, c, _ in layers.values())
    sigma_delta = {k for k, (_, _, g) in layers.items() if g}
    if graded:  # every sigma-delta layer sends graded spikes (the decoder at the end is the output)
        assert sigma_delta == set(layers) - {"output"}
    else:
        assert sigma_delta == set()
    assert all(c >= -(-n // 8192) for n, c, _ in layers.values())  # loihi2.toml: core.max_neurons = 8192
    assert re.search(r"^total\s+[\d,]+\s+\d+", out, re.M)
