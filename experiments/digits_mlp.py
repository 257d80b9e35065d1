"""Train the spiking MLP on scikit-learn's digits (rate-coded spikes) and record the result.

    python -m experiments.digits_mlp [--epochs 30] [--neuron lif|cuba] [--quick]

Writes ``results/digits_mlp.json`` (test accuracy, spikes per sample, wall time, history) and the
trained weights ``results/digits_mlp.pt``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from neuromap import data, train
from neuromap.networks import SpikingMLP

from ._common import RESULTS, setup_threads, training_record, write_result


def run(epochs: int = 30, neuron: str = "lif", steps: int = 25, seed: int = 0, out_dir: Path = RESULTS) -> dict:
    setup_threads(2)
    digits = data.digits(encoding="rate", steps=steps, seed=seed)
    train.set_seed(seed)
    model = SpikingMLP(digits.n_inputs, [128], digits.n_classes, neuron=neuron, beta=0.9, alpha=0.8)
    t0 = time.perf_counter()
    history = train.fit(model, digits, epochs=epochs, lr=2e-3, batch_size=64, seed=seed)
    wall = time.perf_counter() - t0
    test = train.evaluate(model, digits, "test")
    result = {
        "experiment": "digits_mlp",
        "dataset": digits.name,
        "model": f"SpikingMLP(64, [128], 10, neuron={neuron!r})",
        **training_record(test, history, epochs, seed, wall),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    train.save_checkpoint(out_dir / "digits_mlp.pt", model, epoch=epochs, history=history)
    write_result(result, out_dir / "digits_mlp.json")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--neuron", choices=["lif", "cuba"], default="lif")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="3 epochs (smoke test)")
    args = ap.parse_args()
    r = run(3 if args.quick else args.epochs, args.neuron, args.steps, args.seed)
    print(
        f"digits SpikingMLP ({args.neuron}, T={args.steps}): test accuracy {100 * r['test_accuracy']:.2f} %, "
        f"{r['spikes_per_sample']:.0f} spikes/sample, trained in {r['train_wall_seconds']:.1f} s "
        f"-> {RESULTS / 'digits_mlp.json'}"
    )


if __name__ == "__main__":
    main()
