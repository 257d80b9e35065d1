"""Liquid state machine on a task that needs memory: scikit-learn's digits scanned in either
temporal order, classified by digit *and* scan direction from spike counts that carry no timing.

    python -m experiments.lsm_digits [--seed 0] [--gains 0 0.15 0.3 0.45 0.6 0.8 1.0]

Each 8x8 digit is scanned column by column (8 columns x 5 steps, spike probability 0.8 x intensity
on 8 row channels, T = 40), once left-to-right and once right-to-left (the same spike trains
reversed in time); the 20 classes are (digit, direction). The readout, a logistic regression, sees
one count per neuron over the whole sequence (``bins = 1``), so the two directions of a digit give
*identical* input features: the input-only readout cannot tell them apart, and a reservoir can only
if its response to a column depends on the columns before it. The neurons (LIF, tau_mem = 2 ms,
zero reset, 2 refractory steps) forget an input within about one column (5 steps:
exp(-5/2) = 0.08), so that memory has to come from the recurrence: a fixed 200-neuron reservoir
(10 x 5 x 4 grid, 20 % inhibitory, C exp(-(D/2)^2) with Maass' C's, Dale's law) swept over its
recurrent scale ``g_rec`` (relative to the E->E amplitude). Expected: accuracy rises from g_rec = 0
(no recurrence) to an interior optimum and falls when the activity saturates. At the best gain the
reservoir is also built from one-shot-programmed RRAM conductances (``crossbar_lsm.rram_weights``,
hardware/crossbar-rram.toml). Writes ``results/lsm_digits.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from neuromap import targets
from neuromap.crossbar import RRAMModel
from neuromap.networks.lsm import (
    MAASS_A,
    Readout,
    Reservoir,
    column_scan_encode,
    maass_connectivity,
    time_binned_counts,
)
from neuromap.neurons import LIFParams

from ._common import RESULTS, setup_threads, write_result
from .crossbar_lsm import rram_weights

PARAMS = LIFParams(tau_mem=2e-3, dt=1e-3, v_th=1.0, reset="zero", refractory_steps=2)
AMPLITUDES = {k: v / MAASS_A["EE"] for k, v in MAASS_A.items()}  # E->E = 1
GAINS = (0.0, 0.15, 0.3, 0.45, 0.6, 0.8, 1.0)
INPUT_WEIGHT = 1.1
BINS = 1  # one count per neuron: no timing reaches the readout except through the reservoir


def ordered_digits(seed: int = 0):
    """``(u [40, 2N, 8], labels [2N], train_idx, test_idx)``: every digit scanned forwards (label =
    digit) and backwards (label = digit + 10); both versions of a digit are in the same split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images = torch.tensor(d.images / 16.0, dtype=torch.float32)
    u = column_scan_encode(images, steps_per_column=5, p_max=0.8, seed=seed)  # [40, N, 8]
    n = len(d.target)
    tr, te = train_test_split(np.arange(n), test_size=0.25, random_state=seed, stratify=d.target)
    u2 = torch.cat([u, u.flip(0)], 1)
    y2 = np.concatenate([d.target, d.target + 10])
    return u2, y2, np.sort(np.concatenate([tr, tr + n])), np.sort(np.concatenate([te, te + n]))


def build(g_rec: float, seed: int = 0, connectivity=None) -> Reservoir:
    con = connectivity or maass_connectivity((10, 5, 4), lam=2.0, amplitudes=AMPLITUDES, seed=seed)
    return Reservoir(8, con, PARAMS, input_weight=INPUT_WEIGHT, input_fraction=0.3, rec_scale=g_rec, seed=seed)


def readout_accuracy(spikes: torch.Tensor, y, tr, te, bins: int = BINS) -> float:
    f = time_binned_counts(spikes, bins)
    return Readout("logistic", C=0.1).fit(f[tr], y[tr]).score(f[te], y[te])


def evaluate(res: Reservoir, u, y, tr, te) -> dict:
    spikes = res(u)
    direction = np.where(y >= 10, 1, 0)
    return {"accuracy": readout_accuracy(spikes, y, tr, te),
            "digit_accuracy": readout_accuracy(spikes, y % 10, tr, te),
            "direction_accuracy": readout_accuracy(spikes, direction, tr, te),
            "rate_per_step": float(spikes.mean()), "synapses": res.connectivity.n_synapses}


def run(seed: int = 0, gains=GAINS, out_dir: Path = RESULTS) -> dict:
    setup_threads(2)
    t0 = time.perf_counter()
    u, y, tr, te = ordered_digits(seed)
    baseline = {"input_counts": readout_accuracy(u, y, tr, te),
                "input_counts_digit": readout_accuracy(u, y % 10, tr, te),
                "input_8_time_bins": readout_accuracy(u, y, tr, te, bins=8)}
    print(f"input only, counts: {baseline['input_counts']:.3f}; input with 8 time bins (timing given to the "
          f"readout): {baseline['input_8_time_bins']:.3f}", flush=True)
    sweep = {}
    for g in gains:
        sweep[str(g)] = evaluate(build(g, seed=seed), u, y, tr, te)
        r = sweep[str(g)]
        print(f"g_rec {g:4}: accuracy {r['accuracy']:.3f} (digit {r['digit_accuracy']:.3f}, direction "
              f"{r['direction_accuracy']:.3f}), rate {r['rate_per_step']:.3f}/step", flush=True)
    best = max(sweep, key=lambda k: sweep[k]["accuracy"])
    target = targets.load("crossbar-rram")
    conn = maass_connectivity((10, 5, 4), lam=2.0, amplitudes=AMPLITUDES, seed=seed)
    rram = evaluate(build(float(best), seed, rram_weights(conn, RRAMModel.from_target(target), seed=1000 + seed)),
                    u, y, tr, te)
    print(f"RRAM one-shot weights at g_rec {best}: accuracy {rram['accuracy']:.3f}", flush=True)
    result = {
        "experiment": "lsm_digits",
        "task": "digits scanned forwards or backwards; 20 classes (digit, direction); readout on one spike count "
                "per neuron (no timing)",
        "encoding": "column scan, 8 columns x 5 steps, p = 0.8 x intensity, 8 channels (T = 40)",
        "reservoir": f"200 LIF (tau_mem 2 ms), grid 10x5x4, lambda 2, Maass C, 20% inhibitory, Dale, input weight "
                     f"{INPUT_WEIGHT}; readout logistic (C = 0.1) on {BINS} bin(s)",
        "neuron": PARAMS.to_dict(), "seed": seed, "train": len(tr), "test": len(te),
        "baselines": baseline, "sweep_g_rec": sweep,
        "best_g_rec": float(best), "best_accuracy": sweep[best]["accuracy"],
        "rram_weights": {"g_rec": float(best), "target": target.name, **rram},
        "wall_seconds": time.perf_counter() - t0,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_result(result, out_dir / "lsm_digits.json")
    plot(result, out_dir / "lsm_digits.png")
    return result


def table(result: dict) -> str:
    """Markdown table: accuracy per recurrent gain, RRAM weights and the input-only readouts."""
    lines = [f"{result['task']}; {result['reservoir']}; {result['train']} train / {result['test']} test "
             f"sequences, seed {result['seed']}.", "",
             "| features | accuracy, 20 classes (%) | digit only (%) | direction only (%) | spikes / neuron / step |",
             "|---|---:|---:|---:|---:|"]
    for g, r in result["sweep_g_rec"].items():
        lines.append(f"| reservoir, g_rec {g} | {100 * r['accuracy']:.1f} | {100 * r['digit_accuracy']:.1f} | "
                     f"{100 * r['direction_accuracy']:.1f} | {r['rate_per_step']:.3f} |")
    r = result["rram_weights"]
    lines.append(f"| reservoir, RRAM one-shot weights (`{r['target']}`), g_rec {r['g_rec']} | "
                 f"{100 * r['accuracy']:.1f} | {100 * r['digit_accuracy']:.1f} | "
                 f"{100 * r['direction_accuracy']:.1f} | {r['rate_per_step']:.3f} |")
    b = result["baselines"]
    lines.append(f"| input only, spike counts (same features) | {100 * b['input_counts']:.1f} | "
                 f"{100 * b['input_counts_digit']:.1f} | 50.0 (identical features) | |")
    lines.append(f"| input only, 8 time bins (timing handed to the readout) | {100 * b['input_8_time_bins']:.1f} | | | |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    """Accuracy against the recurrent gain, with the input-only readout and the RRAM point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = [float(k) for k in result["sweep_g_rec"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, c in (("accuracy", "20 classes (digit, direction)", "C0"), ("digit_accuracy", "digit", "C1"),
                          ("direction_accuracy", "direction", "C2")):
        ax.plot(g, [100 * r[key] for r in result["sweep_g_rec"].values()], "-o", color=c, label=f"reservoir: {label}")
    ax.axhline(100 * result["baselines"]["input_counts"], color="C0", ls="--", label="input counts only: 20 classes")
    r = result["rram_weights"]
    ax.plot([r["g_rec"]], [100 * r["accuracy"]], "k*", ms=12, label="RRAM one-shot weights")
    ax.set_xlabel("recurrent gain g_rec (x E->E amplitude)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("LSM on forward/backward-scanned digits (spike counts only)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gains", type=float, nargs="+", default=list(GAINS))
    args = ap.parse_args()
    r = run(args.seed, tuple(args.gains))
    print(table(r))
    print(f"-> {RESULTS / 'lsm_digits.json'}")


if __name__ == "__main__":
    main()
