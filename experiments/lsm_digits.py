"""Liquid state machine on scikit-learn's digits as temporal spike patterns (research notes §11 row 10).

    python experiments/lsm_digits.py [--seed 0]

Each 8x8 digit is scanned column by column (8 columns x 5 steps, spike probability 0.8 x intensity
on 8 row channels, T = 40). A fixed 200-neuron LIF reservoir (10 x 5 x 4 grid, 20 % inhibitory,
C exp(-(D/2)^2) with Maass' C's, Dale's law) is read out by logistic regression on 8 time-binned
spike counts per neuron. Sweeps the recurrent scale (``g_rec``, relative to the E->E amplitude) and
the device-conductance weight option, and compares with readouts on the input spikes alone.

Writes ``results/lsm_digits.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, setup_threads, write_result  # noqa: E402

from neuromap.networks.lsm import (  # noqa: E402
    MAASS_A,
    Readout,
    Reservoir,
    column_scan_encode,
    maass_connectivity,
    time_binned_counts,
)
from neuromap.neurons import LIFParams  # noqa: E402

PARAMS = LIFParams(tau_mem=10e-3, dt=1e-3, v_th=1.0, reset="zero", refractory_steps=2)
AMPLITUDES = {k: v / MAASS_A["EE"] for k, v in MAASS_A.items()}  # E->E = 1


def digits_spikes(seed: int = 0):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images = torch.tensor(d.images / 16.0, dtype=torch.float32)
    u = column_scan_encode(images, steps_per_column=5, p_max=0.8, seed=seed)  # [40, N, 8]
    tr, te = train_test_split(np.arange(len(d.target)), test_size=0.25, random_state=seed, stratify=d.target)
    return u, d.target, np.sort(tr), np.sort(te)


def build(g_rec: float, weights: str = "constant", seed: int = 0, input_weight: float = 0.9) -> Reservoir:
    con = maass_connectivity((10, 5, 4), lam=2.0, amplitudes=AMPLITUDES, weights=weights, seed=seed)
    return Reservoir(8, con, PARAMS, input_weight=input_weight, input_fraction=0.3, rec_scale=g_rec, seed=seed)


def evaluate(res: Reservoir, u, y, tr, te, bins: int = 8) -> dict:
    spikes = res(u)
    feats = time_binned_counts(spikes, bins)
    acc = Readout("logistic", C=0.1).fit(feats[tr], y[tr]).score(feats[te], y[te])
    total = Readout("logistic", C=0.1).fit(spikes.sum(0)[tr], y[tr]).score(spikes.sum(0)[te], y[te])
    return {"accuracy": acc, "accuracy_total_counts": total, "rate_per_step": float(spikes.mean()),
            "synapses": res.connectivity.n_synapses}


def run(seed: int = 0, out_dir: Path = RESULTS) -> dict:
    setup_threads(2)
    t0 = time.perf_counter()
    u, y, tr, te = digits_spikes(seed)
    inp_binned = time_binned_counts(u, 8)
    baseline = {
        "input_binned_logistic": Readout("logistic", C=0.1).fit(inp_binned[tr], y[tr]).score(inp_binned[te], y[te]),
        "input_total_counts_logistic": Readout("logistic", C=0.1).fit(u.sum(0)[tr], y[tr]).score(u.sum(0)[te], y[te]),
    }
    sweep = {}
    for g in (0.0, 0.05, 0.1, 0.2, 0.4):
        sweep[str(g)] = evaluate(build(g, seed=seed), u, y, tr, te)
        print(f"g_rec {g:4}: accuracy {sweep[str(g)]['accuracy']:.3f} (total counts "
              f"{sweep[str(g)]['accuracy_total_counts']:.3f}), rate {sweep[str(g)]['rate_per_step']:.3f}")
    device = evaluate(build(0.1, weights="device", seed=seed), u, y, tr, te)
    print(f"device-conductance weights (g_rec 0.1): accuracy {device['accuracy']:.3f}")
    best = max(sweep, key=lambda k: sweep[k]["accuracy"])
    result = {
        "experiment": "lsm_digits",
        "encoding": "column scan, 8 columns x 5 steps, p = 0.8 x intensity, 8 channels (T = 40)",
        "reservoir": "200 LIF, grid 10x5x4, lambda 2, Maass C, 20% inhibitory, Dale; readout logistic on 8 bins",
        "neuron": PARAMS.to_dict(),
        "seed": seed,
        "baselines": baseline,
        "sweep_g_rec": sweep,
        "device_weights_g0.1": device,
        "best_g_rec": float(best),
        "best_accuracy": sweep[best]["accuracy"],
        "expected": "~0.90 (research notes §11 row 10)",
        "wall_seconds": time.perf_counter() - t0,
    }
    write_result(result, out_dir / "lsm_digits.json")
    print(f"inputs alone: binned {baseline['input_binned_logistic']:.3f}, total counts "
          f"{baseline['input_total_counts_logistic']:.3f}; best LSM {result['best_accuracy']:.3f} at g_rec {best}")
    return result


def table(result: dict) -> str:
    """Markdown table: readout accuracy per recurrent gain, device weights and the input-only readouts."""
    lines = [f"{result['reservoir']}; {result['encoding']}; seed {result['seed']}.", "",
             "| features | test accuracy (%) |", "|---|---:|"]
    for g, r in result["sweep_g_rec"].items():
        lines.append(f"| reservoir, g_rec {g} | {100 * r['accuracy']:.1f} |")
    device = result["device_weights_g0.1"]["accuracy"]
    lines.append(f"| reservoir, device-conductance weights, g_rec 0.1 | {100 * device:.1f} |")
    for k, v in result["baselines"].items():
        lines.append(f"| input only: {k.replace('_', ' ')} | {100 * v:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    run(ap.parse_args().seed)


if __name__ == "__main__":
    main()
