"""LMU (d=32, theta=64, tanh hidden 64, last-step readout, FFT-parallel) on permuted pixel-wise digits.

    python -m experiments.lmu_psdigits [--epochs 60] [--seed 0] [--quick]

Writes ``results/lmu_psdigits.json`` (test accuracy, wall time, per-epoch history) and ``results/lmu_psdigits.png``
(training curve).
"""

from __future__ import annotations

from pathlib import Path

from neuromap import train
from neuromap.networks.lmu import LMUClassifier
from neuromap.networks.sequence_digits import pixel_digits

from ._zoo import RESULTS, main, run_experiment

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
