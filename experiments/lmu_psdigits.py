"""LMU (d=32, theta=64, tanh hidden 64, last-step readout, FFT-parallel) on permuted pixel-wise digits.

    python experiments/lmu_psdigits.py [--epochs 60] [--seed 0] [--quick]

Writes ``results/lmu_psdigits.json`` (test accuracy, wall time, per-epoch history) and ``results/lmu_psdigits.png``
(training curve).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _zoo import RESULTS, main, run_experiment  # noqa: E402

from neuromap import train  # noqa: E402
from neuromap.networks.lmu import LMUClassifier  # noqa: E402
from neuromap.networks.sequence_digits import pixel_digits  # noqa: E402

EPOCHS = 60


def run(epochs: int = EPOCHS, seed: int = 0, out_dir: Path = RESULTS, progress: bool | None = None) -> dict:
    digits = pixel_digits(permute=True, seed=seed)
    train.set_seed(seed)
    model = LMUClassifier(1, 10, hidden=64, order=32, theta=64.0, readout="last")
    return run_experiment("lmu_psdigits", model, digits, epochs, 5e-3, "membrane_ce", seed, out_dir, grad_clip=None,
                          extra={"config": 'LMUClassifier(1, 10, hidden=64, order=32, theta=64.0, readout="last")'},
                          progress=progress)


if __name__ == "__main__":
    main("lmu_psdigits", run, EPOCHS, __doc__)
