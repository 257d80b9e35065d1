"""Meta-SpikeFormer (SDT V2, tiny, SDSA-3) on scikit-learn digits, T=4 direct encoding.

    python -m experiments.metaspikformer_digits [--epochs 30] [--seed 0] [--quick]

Writes ``results/metaspikformer_digits.json`` (test accuracy, wall time, per-epoch history) and
``results/metaspikformer_digits.png``
(training curve).
"""

from __future__ import annotations

from pathlib import Path

from neuromap import data, train
from neuromap.networks.metaspikformer import MetaSpikeFormer

from ._zoo import RESULTS, main, run_experiment

EPOCHS = 30


def run(epochs: int = EPOCHS, seed: int = 0, out_dir: Path = RESULTS, progress: bool | None = None) -> dict:
    digits = data.digits(encoding="current", steps=4, flatten=False, seed=seed)
    train.set_seed(seed)
    model = MetaSpikeFormer.tiny()
    return run_experiment("metaspikformer_digits", model, digits, epochs, 2e-3, "membrane_ce", seed, out_dir, grad_clip=1.0,
                          extra={"config": "MetaSpikeFormer.tiny()"}, progress=progress)


if __name__ == "__main__":
    main("metaspikformer_digits", run, EPOCHS, __doc__)
