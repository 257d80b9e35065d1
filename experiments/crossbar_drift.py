"""Digits models on PCM crossbars: accuracy t = 1 s, 1 h, 1 day, 1 year after programming, with and
without global drift compensation, for standard and hardware-aware training (HWA), over seeds.

    python -m experiments.crossbar_drift [--model snn|lmu] [--epochs N] [--seeds 5] [--hwa-noise 1.0]
                                         [--hwa-t 3.1536e7] [--gaussian-noise 0] [--quick]

``--model snn`` (default): the SpikingMLP(64, [128], 10) (LIF, rate-coded digits, T = 25).
``--model lmu``: the LMU classifier of experiments/lmu_psdigits.py on permuted pixel-wise digits
(its trainable linear layers on crossbars; the fixed Legendre memory matrices stay digital).

Three trainings per seed, each for the same number of epochs from the same initialisation:

* ``standard``: plain float training.
* ``hwa``: every training forward uses a fresh draw of the PCM device model itself: the weights are
  mapped to conductance pairs, programmed (programming noise), drifted and read (1/f read noise)
  ``--hwa-t`` s later (default one year) and globally drift-compensated, exactly as at inference
  (``CrossbarConfig.hwa_t_inference``); gradients reach the clean weights (noise injection as in
  Joshi et al., Nat. Commun. 11:2473, 2020, with the noise taken from the same PCM statistics).
* ``hwa-gaussian`` (only with ``--gaussian-noise X > 0``): Gaussian weight noise of X times the PCM
  programming-noise std, the earlier recipe of this experiment (X = 3); ``--gaussian-noise 3``
  adds its rows to the table (in the diagnosis it lowered the clean accuracy and held no better
  than standard training at one year).

Seed ``s`` trains model ``s`` (data split and initialisation) and programs chip ``s``; the table
gives mean and standard deviation over the seeds, i.e. training and device spread together.
Every model is put on the ``crossbar-pcm`` target (PCMLikeNoiseModel, 8-bit DAC/ADC, out_noise,
PCM_READ noise; all from hardware/crossbar-pcm.toml) and read at every time of the target's
``device.t_inference_grid``. Writes ``results/crossbar_drift[_lmu].json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from neuromap import data, targets, train
from neuromap.crossbar import CrossbarConfig, program_model, read_at, reset_counters, to_crossbar
from neuromap.networks import LMUClassifier, SpikingMLP, pixel_digits

from ._common import RESULTS, setup_threads, write_result

TIME_LABELS = {1.0: "1 s", 3600.0: "1 h", 86400.0: "1 day", 3.1536e7: "1 year"}
ONE_YEAR = 3.1536e7  # s


MODELS = {
    # name: (data, model factory, learning rate, loss, default epochs, description)
    "snn": (lambda seed: data.digits(encoding="rate", steps=25, seed=seed),
            lambda d: SpikingMLP(d.n_inputs, [128], d.n_classes, neuron="lif", beta=0.9), 2e-3, "count_ce", 40,
            "SpikingMLP(64, [128], 10, lif)"),
    "lmu": (lambda seed: pixel_digits(permute=True, seed=seed),
            lambda d: LMUClassifier(1, 10, hidden=64, order=32, theta=64.0, readout="last"), 5e-3, "membrane_ce", 60,
            'LMUClassifier(1, 10, hidden=64, order=32, theta=64.0, readout="last") on psDigits'),
}


def trainings(hwa_noise: float, hwa_t: float, gaussian_noise: float) -> dict[str, dict]:
    """The training variants: name -> the CrossbarConfig fields of its training noise ({} = none)."""
    variants = {"standard": {}, "hwa": {"hwa_noise": hwa_noise, "hwa_t_inference": hwa_t}}
    if gaussian_noise > 0:
        variants["hwa-gaussian"] = {"hwa_noise": gaussian_noise, "hwa_t_inference": None}
    return variants


def train_model(digits, kind: str, epochs: int, seed: int, noise: dict, cfg: CrossbarConfig):
    """Train a fresh model (seeded) with the training noise ``noise`` (CrossbarConfig fields)."""
    _, factory, lr, loss, _, _ = MODELS[kind]
    train.set_seed(seed)
    model = factory(digits)
    trained = to_crossbar(model, cfg.replace(**noise), seed=seed, program=False) if noise else model
    t0 = time.perf_counter()
    train.fit(trained, digits, epochs=epochs, lr=lr, batch_size=64, loss=loss, seed=seed, progress=False,
              evaluate_every=0)
    wall = time.perf_counter() - t0
    model.load_state_dict(trained.state_dict())  # CrossbarLinear keeps nn.Linear's parameter names
    return model.eval(), wall


def drift_accuracy(model, digits, loss: str, cfg: CrossbarConfig, chip: int, times: list[float]) -> list[float]:
    """Test accuracy of ``model`` programmed on chip ``chip`` and read at each of ``times`` (s)."""
    xmodel = to_crossbar(model, cfg, program=False).eval()
    program_model(xmodel, seed=chip, t_inference=0.0)
    acc = []
    for t in times:
        read_at(xmodel, t)
        reset_counters(xmodel)
        acc.append(train.evaluate(xmodel, digits, "test", loss)["accuracy"])
    return acc


def _stats(x: np.ndarray) -> dict:
    return {"mean": x.mean(0).tolist(), "std": (x.std(0, ddof=1) if len(x) > 1 else 0 * x[0]).tolist()}


def one_seed(kind: str, epochs: int, s: int, variants: dict[str, dict], threads: int = 1) -> dict[str, dict]:
    """Train every variant with seed ``s``, program chip ``s``, read it at every grid time:
    ``{training: {"float", "comp", "nocomp", "train_seconds"}}`` (a top-level function so that
    seeds can run in worker processes)."""
    setup_threads(threads)
    make_data, _, _, loss, _, _ = MODELS[kind]
    target = targets.load("crossbar-pcm")
    times = [float(t) for t in target.get("device.t_inference_grid")]
    base = CrossbarConfig.from_target(target)
    digits = make_data(s)
    out = {}
    for training, noise in variants.items():
        model, wall = train_model(digits, kind, epochs, s, noise, base)
        r = out[training] = {"float": train.evaluate(model, digits, "test", loss)["accuracy"], "train_seconds": wall}
        for key, comp in (("comp", "global"), ("nocomp", None)):
            r[key] = drift_accuracy(model, digits, loss, base.replace(drift_compensation=comp), s, times)
        print(f"seed {s} {training:12s} float {100 * r['float']:.2f} %, 1 year comp {100 * r['comp'][-1]:.2f} %, "
              f"no comp {100 * r['nocomp'][-1]:.2f} % (trained in {wall:.0f} s)", flush=True)
    return out


def run(epochs: int | None = None, seeds: int = 5, hwa_noise: float = 1.0, seed: int = 0, out_dir: Path = RESULTS,
        kind: str = "snn", hwa_t: float = ONE_YEAR, gaussian_noise: float = 0.0, jobs: int = 1) -> dict:
    """Run every seed (one torch thread per seed, so the numbers do not depend on ``jobs``, the
    number of worker processes), then write the JSON and the plot."""
    setup_threads(2)
    make_data, _, _, _, default_epochs, description = MODELS[kind]
    epochs = default_epochs if epochs is None else epochs
    name = "crossbar_drift" if kind == "snn" else f"crossbar_drift_{kind}"
    target = targets.load("crossbar-pcm")
    times = [float(t) for t in target.get("device.t_inference_grid")]
    variants = trainings(hwa_noise, hwa_t, gaussian_noise)
    seed_list = [seed + s for s in range(seeds)]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            per_seed = list(pool.map(one_seed, *zip(*[(kind, epochs, s, variants) for s in seed_list])))
    else:
        per_seed = [one_seed(kind, epochs, s, variants) for s in seed_list]
    result: dict = {"experiment": name, "dataset": make_data(seed).name, "target": target.name,
                    "model": description, "epochs": epochs, "trainings": variants,
                    "seeds": seed_list, "times_s": times, "config": repr(CrossbarConfig.from_target(target)),
                    "runs": {}}
    for training in variants:
        rs = [p[training] for p in per_seed]
        fl = np.array([r["float"] for r in rs])
        result["runs"][training] = {
            "float_test_accuracy": fl.tolist(), "float_mean": float(fl.mean()),
            "float_std": float(fl.std(ddof=1)) if len(fl) > 1 else 0.0,
            "train_seconds": [r["train_seconds"] for r in rs],
            **{key: {"accuracy": [r[key] for r in rs], **_stats(np.array([r[key] for r in rs]))}
               for key in ("comp", "nocomp")}}
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
    order = sorted(result["runs"], key=lambda k: (k != "standard", k))
    for training in order:
        run_ = result["runs"][training]
        for key, label in (("comp", "global"), ("nocomp", "none")):
            fl = f"{100 * run_['float_mean']:.1f} ± {100 * run_['float_std']:.1f}"
            cells = " | ".join(f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in zip(run_[key]["mean"], run_[key]["std"]))
            lines.append(f"| {training} | {label} | {fl} | {cells} |")
    std = result["runs"].get("standard")
    for training in order:
        run_ = result["runs"][training]
        if training == "standard" or std is None or n < 2:
            continue
        for key, label in (("comp", "global"), ("nocomp", "none")):
            d = 100 * (np.array(run_[key]["accuracy"]) - np.array(std[key]["accuracy"]))
            fd = 100 * (np.array(run_["float_test_accuracy"]) - np.array(std["float_test_accuracy"]))
            cells = " | ".join(f"{m:+.1f} ± {s:.1f}" for m, s in zip(d.mean(0), d.std(0, ddof=1)))
            lines.append(f"| {training} − standard, paired by seed | {label} | {fd.mean():+.1f} ± {fd.std(ddof=1):.1f} "
                         f"| {cells} |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    """Accuracy vs time after programming (mean ± std over seeds); left with, right without drift
    compensation; dotted lines: the float accuracies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    t = np.array(result["times_s"])
    for ax, key, title in ((axes[0], "comp", "global drift compensation"), (axes[1], "nocomp", "no compensation")):
        for i, (training, run_) in enumerate(result["runs"].items()):
            m, s = np.array(run_[key]["mean"]) * 100, np.array(run_[key]["std"]) * 100
            ax.errorbar(t * (1.08 ** i), m, yerr=s, fmt="-o", color=f"C{i}", capsize=3, label=training)
            ax.axhline(100 * run_["float_mean"], color=f"C{i}", ls=":", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("time after programming (s)")
        ax.set_title(title)
    axes[0].set_ylabel("test accuracy (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{result['model'].split('(')[0]} on PCM crossbar ({len(result['seeds'])} seeds, mean ± std)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODELS), default="snn")
    ap.add_argument("--epochs", type=int, default=None, help="default: 40 (snn), 60 (lmu)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--hwa-noise", type=float, default=1.0, help="multiplier on the device-model training noise")
    ap.add_argument("--hwa-t", type=float, default=ONE_YEAR, help="time (s) of the device-model training noise")
    ap.add_argument("--gaussian-noise", type=float, default=0.0,
                    help="also train hwa-gaussian with this x programming-noise std (0: skip; 3 was the old default)")
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--jobs", type=int, default=1, help="seeds in parallel worker processes (same numbers)")
    ap.add_argument("--quick", action="store_true", help="2 epochs, 2 seeds (smoke test)")
    args = ap.parse_args()
    r = run(2 if args.quick else args.epochs, 2 if args.quick else args.seeds, args.hwa_noise, args.seed,
            kind=args.model, hwa_t=args.hwa_t, gaussian_noise=args.gaussian_noise, jobs=max(1, args.jobs))
    print(table(r))
    print(f"-> {RESULTS / (r['experiment'] + '.json')}")


if __name__ == "__main__":
    main()
