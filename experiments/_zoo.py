"""Shared runner of the model-zoo experiments: train with neuromap.train.fit, write JSON + a curve PNG."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from neuromap import train

from ._common import RESULTS, setup_threads, training_record, write_result


def plot_curve(history: list[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in history]
    fig, ax1 = plt.subplots(figsize=(6, 3.5))
    ax1.plot(ep, [r["loss"] for r in history], "C0-", label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss", color="C0")
    ax2 = ax1.twinx()
    ax2.plot(ep, [r.get("train_acc", float("nan")) for r in history], "C1--", label="train acc")
    ax2.plot([r["epoch"] for r in history if "test_acc" in r], [r["test_acc"] for r in history if "test_acc" in r],
             "C2-", label="test acc")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1)
    fig.legend(loc="center right")
    ax1.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_experiment(name: str, model: torch.nn.Module, data, epochs: int, lr: float, loss, seed: int = 0,
                   out_dir: Path = RESULTS, grad_clip: float | None = None, extra: dict | None = None,
                   progress: bool | None = None) -> dict:
    setup_threads(2)
    t0 = time.perf_counter()
    history = train.fit(model, data, epochs=epochs, lr=lr, batch_size=64, loss=loss, seed=seed, grad_clip=grad_clip,
                        progress=progress, scheduler=None)
    wall = time.perf_counter() - t0
    test = train.evaluate(model, data, "test", loss)
    result = {
        "experiment": name,
        "dataset": data.name,
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "lr": lr,
        "best_test_accuracy": max(r.get("test_acc", 0.0) for r in history.epochs),
        **training_record(test, history, epochs, seed, wall),
        **(extra or {}),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_result(result, out_dir / f"{name}.json")
    plot_curve(history.epochs, out_dir / f"{name}.png", f"{name}: test acc {100 * test['accuracy']:.1f} %")
    return result


def main(name: str, run, default_epochs: int, doc: str | None) -> None:
    """The command line every zoo experiment shares: ``[--epochs N] [--seed S] [--quick]``."""
    import argparse

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=default_epochs)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 epochs (smoke test)")
    args = ap.parse_args()
    r = run(2 if args.quick else args.epochs, args.seed)
    print(f"{name}: test accuracy {100 * r['test_accuracy']:.2f} % ({r['parameters']} parameters), "
          f"trained in {r['train_wall_seconds']:.1f} s -> {RESULTS / (name + '.json')}")
