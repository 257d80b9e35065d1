"""Spiking LMUFormer (tiny) on row-wise digits (8 steps of 8 pixels).

    python -m experiments.slmuformer_digits [--epochs 40] [--seed 0] [--quick]

Writes ``results/slmuformer_digits.json`` (test accuracy, wall time, per-epoch history) and ``results/slmuformer_digits.png``
(training curve).
"""

from __future__ import annotations

from pathlib import Path

from neuromap import train
from neuromap.networks.lmu import LMUFormer
from neuromap.networks.sequence_digits import rowwise_digits

from ._zoo import RESULTS, main, run_experiment

EPOCHS = 40


def run(epochs: int = EPOCHS, seed: int = 0, out_dir: Path = RESULTS, progress: bool | None = None) -> dict:
    digits = rowwise_digits(seed)
    train.set_seed(seed)
    model = LMUFormer(8, 10, dim=64, depth=1, theta=8.0, spiking=True)
    return run_experiment("slmuformer_digits", model, digits, epochs, 2e-3, "membrane_ce", seed, out_dir, grad_clip=None,
                          extra={"config": "LMUFormer(8, 10, dim=64, depth=1, theta=8.0, spiking=True)"}, progress=progress)


if __name__ == "__main__":
    main("slmuformer_digits", run, EPOCHS, __doc__)
