"""Train a spiking MLP on any named data set - the field's event data sets included - and record the result.

    python -m experiments.dataset_mlp --dataset shd --data-dir ~/data [--dt 0.01] [--max-samples 2000] [--epochs 20]
    python -m experiments.dataset_mlp --dataset digits --quick

``--dataset`` is any name of :func:`neuromap.data.load` (``digits``, ``moving-bars``, ``shd``,
``ssc``, ``nmnist``, ``dvsgesture``); the real ones are read from ``--data-dir`` (default
``$NEUROMAP_DATA``), binned at ``--dt`` seconds, and never downloaded: when their files are missing
the error says where to get them. Inputs are flattened per time step. Writes
``results/<dataset>_mlp.json`` (test accuracy, spikes per sample, wall time, history).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from neuromap import data, train
from neuromap.data import SequenceData
from neuromap.networks import SpikingMLP

from ._common import RESULTS, setup_threads, training_record, write_result


def flattened(d: SequenceData) -> SequenceData:
    """The same data with every time step's input flattened to one vector (``[N, T, features]``)."""
    return SequenceData(d.name, d.x_train.flatten(2), d.y_train, d.x_test.flatten(2), d.y_test, d.n_classes,
                        d.description)


def run(dataset: str, data_dir: str | None = None, dt: float | None = None, max_samples: int | None = None,
        epochs: int = 20, hidden: int = 128, seed: int = 0, out_dir: Path = RESULTS) -> dict:
    setup_threads(2)
    kwargs: dict = {}
    if dataset not in data.BUILTIN:
        kwargs = {"max_samples": max_samples, **({"dt": dt} if dt else {})}
    d = flattened(data.load(dataset, data_dir=data_dir, **kwargs))
    train.set_seed(seed)
    model = SpikingMLP(d.n_inputs, [hidden], d.n_classes, beta=0.9)
    t0 = time.perf_counter()
    history = train.fit(model, d, epochs=epochs, lr=2e-3, batch_size=64, seed=seed, progress=False)
    wall = time.perf_counter() - t0
    test = train.evaluate(model, d, "test")
    result = {
        "experiment": "dataset_mlp",
        "dataset": d.name,
        "source": d.description,
        "train_samples": int(d.x_train.shape[0]),
        "test_samples": int(d.x_test.shape[0]),
        "steps": d.steps,
        "model": f"SpikingMLP({d.n_inputs}, [{hidden}], {d.n_classes})",
        **training_record(test, history, epochs, seed, wall),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_result(result, out_dir / f"{dataset}_mlp.json")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=data.NAMES, help="data set name")
    ap.add_argument("--data-dir", default=None, help="root of the real data sets (default: $NEUROMAP_DATA)")
    ap.add_argument("--dt", type=float, default=None, help="bin width in seconds (default: the data set's)")
    ap.add_argument("--max-samples", type=int, default=None, help="read at most this many samples per split")
    ap.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    ap.add_argument("--hidden", type=int, default=128, help="hidden neurons (default 128)")
    ap.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    ap.add_argument("--quick", action="store_true", help="2 epochs (smoke test)")
    args = ap.parse_args(argv)
    try:
        r = run(args.dataset, args.data_dir, args.dt, args.max_samples, 2 if args.quick else args.epochs, args.hidden,
                args.seed)
    except data.DatasetMissing as exc:
        print(f"dataset_mlp: {exc}", file=sys.stderr)
        return 2
    print(f"{r['dataset']}: test accuracy {100 * r['test_accuracy']:.2f} % after {r['epochs']} epochs, "
          f"{r['spikes_per_sample']:.0f} spikes/sample, trained in {r['train_wall_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
