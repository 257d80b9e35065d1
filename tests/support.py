"""What several test modules need at import time (fixtures are in ``conftest.py``): the repository's
folders, the device and implementation the GPU-path tests run on, and writers of small files in real
data-set formats, and the small netlist the energy tests count by hand.

``NEUROMAP_TEST_DEVICE=cuda`` runs the ``gpu`` tests with the compiled Triton kernels on a GPU (as
``benchmarks/gpu_check.sh`` does); otherwise they run through Triton's interpreter on the CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch

from neuromap.netlist import Netlist, Population, Projection

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"  # small committed files (NIR graphs of other tools); make_fixtures.py writes them

DEVICE = torch.device(os.environ.get("NEUROMAP_TEST_DEVICE", "cpu"))
IMPL = "triton" if DEVICE.type == "cuda" else "triton_interpret"


def write_shd(path: Path, samples: list[tuple[list[float], list[int], int]]) -> None:
    """An SHD/SSC file as the originals are laid out: vlen spikes/times (float16 s), spikes/units (uint16), labels."""
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i] = np.asarray(t, dtype=np.float16)
            units[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint16))
        f.create_dataset("extra/speaker", data=np.zeros(len(samples), dtype=np.uint16))


def norse_run(net, x: torch.Tensor) -> torch.Tensor:
    """A Norse module's outputs ``[T, ...]`` over ``x [T, ...]``, one step at a time with its state
    passed explicitly (Norse's own loop; the NIR tests compare neuromap's runs against it)."""
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            o, state = net(x[t], state)
            outs.append(o)
    return torch.stack(outs)


def small_net() -> Netlist:
    """input (3) -> LIF (2) -> leaky integrator (1): the netlist whose activity the energy tests count by hand."""
    nl = Netlist("small")
    nl.add_population(Population("in", "input", (3,)))
    nl.add_population(Population("h", "lif", (2,)))
    nl.add_population(Population("o", "li", (1,), spiking=False))
    nl.add_projection(Projection("w1", "in", "h", "dense", weight=np.array([[1.0, 0.0, 2.0], [0.5, 0.5, 0.5]]),
                                 bias=np.zeros(2)))
    nl.add_projection(Projection("w2", "h", "o", "dense", weight=np.array([[0.0, 3.0]])))
    return nl
