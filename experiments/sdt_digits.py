"""SpikeDrivenTransformer V1 (tiny) on scikit-learn digits, T=4 direct (current) encoding.

    python -m experiments.sdt_digits [--epochs 20] [--seed 0] [--quick]

Writes ``results/sdt_digits.json`` (test accuracy, wall time, per-epoch history) and ``results/sdt_digits.png``
(training curve).
"""

from __future__ import annotations

from pathlib import Path

from neuromap import data, train
from neuromap.networks.sdt import SpikeDrivenTransformer

from ._zoo import RESULTS, main, run_experiment

EPOCHS = 20


def run(epochs: int = EPOCHS, seed: int = 0, out_dir: Path = RESULTS, progress: bool | None = None) -> dict:
    digits = data.digits(encoding="current", steps=4, flatten=False, seed=seed)
    train.set_seed(seed)
    model = SpikeDrivenTransformer.tiny()
    return run_experiment("sdt_digits", model, digits, epochs, 2e-3, "membrane_ce", seed, out_dir, grad_clip=None,
                          extra={"config": "SpikeDrivenTransformer.tiny()"}, progress=progress)


if __name__ == "__main__":
    main("sdt_digits", run, EPOCHS, __doc__)
