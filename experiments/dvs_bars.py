"""Liquid state machine on synthetic DVS-like moving-bar events.

    python -m experiments.dvs_bars [--seed 0]

16x16 bars, ON/OFF polarity, 4 directions x 2 speeds (8 classes), 2 % noise events, T = 20. The
512 event channels drive a fixed 400-neuron CuBa-LIF reservoir (20 x 5 x 4 grid, Maass topology);
a logistic readout on 5 time-binned spike counts per neuron is trained. Baselines: logistic on the
summed events (no timing) and on time-binned input events.

Writes ``results/dvs_bars.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from neuromap.data import moving_bars
from neuromap.networks.lsm import MAASS_A, Readout, Reservoir, maass_connectivity, time_binned_counts
from neuromap.neurons import CubaLIFParams

from ._common import RESULTS, setup_threads, write_result

PARAMS = CubaLIFParams(tau_mem=10e-3, tau_syn=3e-3, dt=1e-3, v_th=1.0, reset="zero", refractory_steps=1)


def run(seed: int = 0, out_dir: Path = RESULTS, n_samples: int = 1200, bins: int = 5) -> dict:
    setup_threads(2)
    t0 = time.perf_counter()
    data = moving_bars(n_samples=n_samples, seed=seed)
    xtr, ytr = data.split("train")
    xte, yte = data.split("test")
    u_tr = xtr.flatten(2).transpose(0, 1).contiguous()  # [T, B, 512]
    u_te = xte.flatten(2).transpose(0, 1).contiguous()
    summed = Readout("logistic", C=0.1).fit(u_tr.sum(0), ytr).score(u_te.sum(0), yte)
    binned = Readout("logistic", C=0.1).fit(time_binned_counts(u_tr, bins), ytr).score(time_binned_counts(u_te, bins), yte)
    amps = {k: v / MAASS_A["EE"] for k, v in MAASS_A.items()}
    con = maass_connectivity((20, 5, 4), lam=2.0, amplitudes=amps, seed=seed)
    res = Reservoir(512, con, PARAMS, input_weight=0.35, input_fraction=0.05, rec_scale=0.05, seed=seed)
    f_tr = time_binned_counts(res(u_tr), bins)
    f_te = time_binned_counts(res(u_te), bins)
    lsm = Readout("logistic", C=0.1).fit(f_tr, ytr).score(f_te, yte)
    rate = float(res(u_te[:, :100]).mean())
    result = {
        "experiment": "dvs_bars",
        "dataset": data.description,
        "train": len(ytr), "test": len(yte),
        "reservoir": f"{res.n} CuBa-LIF, grid 20x5x4, lambda 2, Maass C, rec_scale 0.05; logistic on {bins} bins",
        "neuron": PARAMS.to_dict(),
        "lsm_accuracy": lsm,
        "reservoir_rate_per_step": rate,
        "baseline_summed_events_logistic": summed,
        "baseline_binned_events_logistic": binned,
        "wall_seconds": time.perf_counter() - t0,
        "seed": seed,
    }
    write_result(result, out_dir / "dvs_bars.json")
    print(f"LSM {lsm:.3f} (rate {rate:.3f}/step); summed events {summed:.3f}; binned events {binned:.3f}")
    return result


def table(result: dict) -> str:
    """Markdown table: LSM test accuracy against the input-only readouts."""
    return "\n".join([
        f"{result['dataset']}; {result['train']} train / {result['test']} test samples, seed {result['seed']}.", "",
        "| readout on | test accuracy (%) |", "|---|---:|",
        f"| reservoir: {result['reservoir']} | {100 * result['lsm_accuracy']:.1f} |",
        f"| summed input events (logistic) | {100 * result['baseline_summed_events_logistic']:.1f} |",
        f"| time-binned input events (logistic) | {100 * result['baseline_binned_events_logistic']:.1f} |",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    run(ap.parse_args().seed)


if __name__ == "__main__":
    main()
