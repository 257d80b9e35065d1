"""Zero-shot LSM on RRAM: reservoir weights drawn from RRAM device stochasticity vs ideal weights.

    python -m experiments.crossbar_lsm [--seeds 5] [--neurons-grid 5 5 8] [--quick]

The idea of Lin et al. (Nat. Comput. Sci. 2025): a reservoir's fixed random weights need not be
programmed precisely, the spread of one-shot (unverified) RRAM programming *is* the randomness. Here
the Maass-style LIF reservoir (networks/lsm.py; fixed topology per seed) gets

* ``ideal``: the constant Maass amplitudes per type pair (weights = A_ab, sign by Dale's law);
* ``rram``: every synapse is a differential pair whose G+ is programmed once, without verify, to
  the middle of the RRAM range (``RRAMModel.program_unverified``: device-to-device spread
  ``device.d2d_rel`` of hardware/crossbar-rram.toml) and read 1 s later (CMO relaxation + read
  noise); G- stays at g_min. The weight is ``A_ab (G+ - g_min) / (g_mid - g_min)``, i.e. the same
  mean amplitude with the devices' spread.

Only the logistic readout on time-binned spike counts is trained (rate-coded digits, T = 25).
Writes ``results/crossbar_lsm.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from neuromap import data, targets
from neuromap.crossbar import RRAMModel
from neuromap.networks.lsm import Connectivity, LiquidStateMachine, Reservoir, maass_connectivity
from neuromap.neurons import LIFParams

from ._common import RESULTS, setup_threads, write_result


def rram_weights(conn: Connectivity, device: RRAMModel, seed: int, t_read: float = 1.0) -> Connectivity:
    """The same synapses with magnitudes scaled by one-shot-programmed RRAM conductances."""
    W = conn.weights.tocsr().copy()
    gen = torch.Generator().manual_seed(seed)
    g_mid = 0.5 * (device.g_min + device.g_max)
    g_t = torch.full((W.nnz,), g_mid, dtype=torch.float64)
    g = device.read(device.program_unverified(g_t, gen), t_read, gen)
    factor = ((g - device.g_min) / (g_mid - device.g_min)).numpy()
    W.data = W.data * factor
    return Connectivity(sp.csr_matrix(W), conn.inhibitory, conn.positions)


def run(seeds: int = 5, grid=(5, 5, 8), rec_scale: float = 0.005, input_weight: float = 0.12,
        seed: int = 0, out_dir: Path = RESULTS) -> dict:
    setup_threads(2)
    target = targets.load("crossbar-rram")
    device = RRAMModel.from_target(target)
    digits = data.digits(encoding="rate", steps=25, seed=seed)
    params = LIFParams(tau_mem=20e-3, dt=1e-3)
    xtr, xte = digits.x_train.transpose(0, 1), digits.x_test.transpose(0, 1)  # [T, N, 64]
    acc = {"ideal": [], "rram": []}
    rates = {"ideal": [], "rram": []}
    w_cv = []
    t0 = time.perf_counter()
    for s in range(seeds):
        conn = maass_connectivity(grid=tuple(grid), lam=2.0, weights="constant", seed=seed + s)
        for kind in ("ideal", "rram"):
            c = conn if kind == "ideal" else rram_weights(conn, device, seed=1000 + s)
            if kind == "rram":
                w_cv.append(float(np.std(np.abs(c.weights.data) / np.abs(conn.weights.data))))
            res = Reservoir(digits.n_inputs, c, params, input_weight=input_weight, rec_scale=rec_scale, seed=seed + s)
            lsm = LiquidStateMachine(res, bins=5, readout="logistic", C=0.1)
            lsm.fit(xtr, digits.y_train)
            acc[kind].append(lsm.score(xte, digits.y_test))
            rates[kind].append(float(res(xte[:, :64]).mean()))
    wall = time.perf_counter() - t0
    result = {
        "experiment": "crossbar_lsm", "dataset": digits.name, "target": target.name,
        "reservoir": {"grid": list(grid), "neurons": int(np.prod(grid)), "lam": 2.0, "rec_scale": rec_scale,
                      "input_weight": input_weight, "params": repr(params), "readout": "logistic C=0.1, 5 bins"},
        "device": repr(device), "seeds": list(range(seeds)), "wall_seconds": wall,
        "weight_factor_cv": w_cv,
        "accuracy": acc, "spike_rate_per_step": rates,
        "summary": {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
                    for k, v in acc.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_result(result, out_dir / "crossbar_lsm.json")
    return result


def table(result: dict) -> str:
    """Markdown table: test accuracy (%, mean ± std over seeds) and spike rate, ideal vs RRAM weights."""
    r = result["reservoir"]
    lines = [f"{r['neurons']}-neuron LIF reservoir (grid {'x'.join(map(str, r['grid']))}), {result['dataset']}, "
             f"readout {r['readout']}; `{result['target']}` one-shot programmed weights; "
             f"{len(result['seeds'])} seeds.", "",
             "| reservoir weights | test accuracy (%) | spikes / neuron / step |", "|---|---:|---:|"]
    for kind, label in (("ideal", "ideal (constant Maass amplitudes)"), ("rram", "RRAM device spread")):
        s = result["summary"][kind]
        rate = sum(result["spike_rate_per_step"][kind]) / len(result["spike_rate_per_step"][kind])
        lines.append(f"| {label} | {100 * s['mean']:.1f} ± {100 * s['std']:.1f} | {rate:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--grid", type=int, nargs=3, default=[5, 5, 8])
    ap.add_argument("--rec-scale", type=float, default=0.005)
    ap.add_argument("--input-weight", type=float, default=0.12)
    ap.add_argument("--quick", action="store_true", help="2 seeds, 4x4x4 grid")
    args = ap.parse_args()
    r = run(2 if args.quick else args.seeds, (4, 4, 4) if args.quick else args.grid, args.rec_scale, args.input_weight)
    for k, v in r["summary"].items():
        print(f"{k:6s} test accuracy {100 * v['mean']:.2f} ± {100 * v['std']:.2f} %  "
              f"(spike rate {np.mean(r['spike_rate_per_step'][k]):.3f}/step)")
    cv = np.mean(r["weight_factor_cv"])
    print(f"RRAM weight factor CV {cv:.3f}; {r['wall_seconds']:.0f} s -> {RESULTS / 'crossbar_lsm.json'}")


if __name__ == "__main__":
    main()
