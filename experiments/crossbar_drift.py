"""Digits models on PCM crossbars: accuracy t = 1 s, 1 h, 1 day, 1 year after programming, with and
without global drift compensation, with and without hardware-aware training, over noise seeds.

    python experiments/crossbar_drift.py [--model snn|lmu] [--epochs N] [--seeds 5] [--hwa-noise 3.0] [--quick]

``--model snn`` (default): the SpikingMLP(64, [128], 10) (LIF, rate-coded digits, T = 25).
``--model lmu``: the LMU classifier of experiments/lmu_psdigits.py on permuted pixel-wise digits
(its trainable linear layers on crossbars; the fixed Legendre memory matrices stay digital).
Each is trained twice with the same seed: plainly, and with PCM programming noise (x ``hwa_noise``)
injected in every training forward.
Each is put on the ``crossbar-pcm`` target (PCMLikeNoiseModel, 8-bit DAC/ADC, out_noise, PCM_READ
noise; all from hardware/crossbar-pcm.toml), programmed with each seed, and read at every time of
the target's ``device.t_inference_grid``. Writes ``results/crossbar_drift[_lmu].json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, setup_threads, write_result  # noqa: E402

from neuromap import data, hardware, train  # noqa: E402
from neuromap.crossbar import CrossbarConfig, layer_counters, program_model, read_at, reset_counters, to_crossbar  # noqa: E402
from neuromap.networks import LMUClassifier, SpikingMLP, pixel_digits  # noqa: E402

TIME_LABELS = {1.0: "1 s", 3600.0: "1 h", 86400.0: "1 day", 3.1536e7: "1 year"}


MODELS = {
    # name: (data, model factory, learning rate, loss, default epochs, description)
    "snn": (lambda seed: data.digits(encoding="rate", steps=25, seed=seed),
            lambda d: SpikingMLP(d.n_inputs, [128], d.n_classes, neuron="lif", beta=0.9), 2e-3, "count_ce", 20,
            "SpikingMLP(64, [128], 10, lif)"),
    "lmu": (lambda seed: pixel_digits(permute=True, seed=seed),
            lambda d: LMUClassifier(1, 10, hidden=64, order=32, theta=64.0, readout="last"), 5e-3, "membrane_ce", 60,
            'LMUClassifier(1, 10, hidden=64, order=32, theta=64.0, readout="last") on psDigits'),
}


def train_model(digits, kind: str, epochs: int, seed: int, hwa_noise: float, cfg: CrossbarConfig):
    _, factory, lr, loss, _, _ = MODELS[kind]
    train.set_seed(seed)
    model = factory(digits)
    trained = to_crossbar(model, cfg.replace(hwa_noise=hwa_noise), seed=seed, program=False) if hwa_noise > 0 else model
    t0 = time.perf_counter()
    hist = train.fit(trained, digits, epochs=epochs, lr=lr, batch_size=64, loss=loss, seed=seed, progress=False,
                     evaluate_every=0)
    wall = time.perf_counter() - t0
    model.load_state_dict(trained.state_dict())  # CrossbarLinear keeps nn.Linear's parameter names
    return model, hist, wall


def run(epochs: int | None = None, seeds: int = 5, hwa_noise: float = 3.0, seed: int = 0, out_dir: Path = RESULTS,
        kind: str = "snn") -> dict:
    setup_threads(2)
    make_data, _, _, loss, default_epochs, description = MODELS[kind]
    epochs = default_epochs if epochs is None else epochs
    name = "crossbar_drift" if kind == "snn" else f"crossbar_drift_{kind}"
    target = hardware.load("crossbar-pcm")
    times = [float(t) for t in target.get("device.t_inference_grid")]
    base = CrossbarConfig.from_target(target)
    digits = make_data(seed)
    result: dict = {"experiment": name, "dataset": digits.name, "target": target.name,
                    "model": description, "epochs": epochs, "hwa_noise": hwa_noise,
                    "seeds": list(range(seeds)), "times_s": times, "config": repr(base), "runs": {}}
    for training, noise in (("standard", 0.0), ("hwa", hwa_noise)):
        model, hist, wall = train_model(digits, kind, epochs, seed, noise, base)
        model.eval()
        float_acc = train.evaluate(model, digits, "test", loss)["accuracy"]
        entry = {"float_test_accuracy": float_acc, "train_seconds": wall, "history": hist.epochs}
        for comp in ("global", None):
            cfg = base.replace(drift_compensation=comp, hwa_noise=0.0)
            acc = np.zeros((seeds, len(times)))
            xmodel = to_crossbar(model, cfg, program=False).eval()
            for s in range(seeds):
                program_model(xmodel, seed=s, t_inference=0.0)
                for k, t in enumerate(times):
                    read_at(xmodel, t)
                    reset_counters(xmodel)
                    acc[s, k] = train.evaluate(xmodel, digits, "test", loss)["accuracy"]
            key = "comp" if comp else "nocomp"
            entry[key] = {"accuracy": acc.tolist(), "mean": acc.mean(0).tolist(), "std": acc.std(0, ddof=1).tolist()}
            entry["counters_last_eval"] = layer_counters(xmodel)
        result["runs"][training] = entry
    out_dir.mkdir(parents=True, exist_ok=True)
    write_result(result, out_dir / f"{name}.json")
    plot(result, out_dir / f"{name}.png")
    return result


def table(result: dict) -> str:
    """Markdown table of a result: test accuracy (%, mean ± std over the seeds) per training,
    drift compensation and time after programming (README block, see experiments/update_readme.py)."""
    times = [TIME_LABELS.get(t, f"{t:g} s") for t in result["times_s"]]
    n = len(result["seeds"])
    lines = [f"{result['model']} on `{result['target']}`, {result['dataset']}; test accuracy (%), mean ± std over "
             f"{n} seeds.", "",
             "| training | drift compensation | float | " + " | ".join(times) + " |",
             "|---|---|---:|" + "---:|" * len(times)]
    for training, run_ in result["runs"].items():
        for key, label in (("comp", "global"), ("nocomp", "none")):
            fl = run_.get("float_mean", run_.get("float_test_accuracy"))
            cells = " | ".join(f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in zip(run_[key]["mean"], run_[key]["std"]))
            lines.append(f"| {training} | {label} | {100 * fl:.1f} | {cells} |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    t = np.array(result["times_s"])
    for training, style in (("standard", "-"), ("hwa", "--")):
        run_ = result["runs"][training]
        for key, color in (("comp", "C0"), ("nocomp", "C3")):
            m, s = np.array(run_[key]["mean"]) * 100, np.array(run_[key]["std"]) * 100
            label = f"{training}, {'drift comp.' if key == 'comp' else 'no comp.'}"
            ax.errorbar(t, m, yerr=s, fmt=style + "o", color=color, capsize=3, label=label)
        ax.axhline(100 * run_["float_test_accuracy"], color="gray", ls=style, lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("time after programming (s)")
    ax.set_ylabel("digits test accuracy (%)")
    ax.set_title(f"{result['model'].split('(')[0]} on PCM crossbar ({len(result['seeds'])} seeds, mean ± std)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), default="snn")
    ap.add_argument("--epochs", type=int, default=None, help="default: 20 (snn), 60 (lmu)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--hwa-noise", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 epochs, 2 seeds (smoke test)")
    args = ap.parse_args()
    r = run(2 if args.quick else args.epochs, 2 if args.quick else args.seeds, args.hwa_noise, args.seed, kind=args.model)
    print(f"{'training':10s} {'comp':6s} " + " ".join(f"{TIME_LABELS.get(t, t):>14s}" for t in r["times_s"]))
    for training, run_ in r["runs"].items():
        for key in ("comp", "nocomp"):
            cells = " ".join(f"{100 * m:6.2f} ± {100 * s:4.2f}" for m, s in zip(run_[key]["mean"], run_[key]["std"]))
            print(f"{training:10s} {key:6s} {cells}   (float {100 * run_['float_test_accuracy']:.2f} %)")
    print(f"-> {RESULTS / (r['experiment'] + '.json')}")


if __name__ == "__main__":
    main()
