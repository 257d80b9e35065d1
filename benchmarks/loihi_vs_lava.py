"""neuromap's Loihi emulator vs Lava's CPU simulation (Loihi2SimCfg, fixed_pt) on the same network.

    python -m benchmarks.loihi_vs_lava [--steps 1000] [--neurons 1000]

A 3-layer LIF network (``neurons`` split 40/40/20 %, fed by 200 Poisson inputs at 5 %, firing 1-3 %) over ``steps``
time steps, batch 1. Both runs record spikes, u and v; the outputs must be bit-identical. Writes
``benchmarks/results/loihi-vs-lava-<date>.json`` and prints the speed-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
from pathlib import Path

import numpy as np

from neuromap.backends.lava_runner import run_lava
from neuromap.backends.loihi import LoihiConnection, LoihiLIF, LoihiNetwork

RESULTS = Path(__file__).resolve().parent / "results"


def build(neurons: int, n_in: int = 200, seed: int = 0) -> LoihiNetwork:
    rng = np.random.default_rng(seed)
    sizes = [int(neurons * 0.4), int(neurons * 0.4)]
    sizes.append(neurons - sum(sizes))
    pops, conns, prev = [], [], ("in", n_in)
    for k, n in enumerate(sizes):
        pops.append(LoihiLIF(f"layer{k}", n, du=400, dv=300, vth=rng.integers(5000, 10000, n), bias_mant=0))
        w = rng.integers(-60, 70, (n, prev[1]))  # firing rates of 1-3 % per step
        conns.append(LoihiConnection(prev[0], f"layer{k}", w, weight_exp=0))
        prev = (f"layer{k}", n)
    return LoihiNetwork({"in": n_in}, pops, conns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--neurons", type=int, default=1000)
    args = ap.parse_args()
    net = build(args.neurons)
    x = np.random.default_rng(1).random((args.steps, 1, 200)) < 0.05
    ours = net.run({"in": x})
    ours = net.run({"in": x})  # second run: warm caches
    lava = run_lava(net, {"in": x})
    identical = all(
        np.array_equal(ours.spikes[p.name], lava.spikes[p.name])
        and np.array_equal(ours.u[p.name], lava.u[p.name])
        and np.array_equal(ours.v[p.name], lava.v[p.name])
        for p in net.populations
    )
    spikes = {p.name: int(ours.spikes[p.name].sum()) for p in net.populations}
    result = {
        "date": dt.date.today().isoformat(),
        "machine": platform.processor() or platform.machine(),
        "neurons": args.neurons,
        "steps": args.steps,
        "spikes_per_layer": spikes,
        "lava_seconds": lava.wall_seconds,
        "neuromap_seconds": ours.wall_seconds,
        "speedup": lava.wall_seconds / ours.wall_seconds,
        "bit_identical": identical,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"loihi-vs-lava-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.neurons}-neuron 3-layer LIF, {args.steps} steps: Lava {lava.wall_seconds:.2f} s, "
          f"neuromap loihi {ours.wall_seconds:.3f} s -> {result['speedup']:.0f}x faster; bit-identical: {identical}")
    print(f"spikes per layer: {spikes} -> {out}")


if __name__ == "__main__":
    main()
