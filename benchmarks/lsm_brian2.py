"""neuromap vs Brian2 on one 10,000-neuron E/I network (runtime mode and cpp_standalone).

    python -m benchmarks.lsm_brian2 [--duration 1.0] [--n 10000] [--skip-standalone]

Network: 80 % excitatory / 20 % inhibitory CuBa-LIF neurons (tau_mem 20 ms, tau_syn 5 ms, exact
exponential integration, threshold 1, reset to 0, 2 ms refractory), 2 % random connectivity,
current jumps w_exc / w_inh, independent Poisson input to every neuron, simulated for 1 s at
dt = 0.1 ms (10,000 steps). The same parameter objects build the neuromap reservoir and, through
``neuromap.backends.brian2``, the Brian2 ``NeuronGroup`` / ``Synapses`` / ``PoissonInput``.

Timings (wall clock, 1 torch thread; Brian2 is single-threaded too): neuromap (event-driven step loop), Brian2 runtime mode
(Cython target; code generation is warmed up by a short run first) and Brian2 cpp_standalone
(compile time reported separately, excluded from the comparison). Mean firing rates must agree.
Writes ``benchmarks/results/lsm-brian2-<date>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from neuromap.backends import brian2 as nb
from neuromap.networks.lsm import Reservoir, random_connectivity
from neuromap.neurons import CubaLIFParams

PARAMS = CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, dt=1e-4, v_th=1.0, v_reset=0.0, reset="zero",
                       refractory_steps=20, decay_input=True, integrator="exp")
W_EXC, W_INH = 0.02, -0.1
POISSON = (1000, 5.0, 0.04)  # sources per neuron, rate (Hz), weight
RESULTS = Path(__file__).resolve().parent / "results"


def build(n: int, seed: int = 0) -> Reservoir:
    con = random_connectivity(n, 0.02, W_EXC, W_INH, inhibitory_fraction=0.2, seed=seed)
    return Reservoir(1, con, PARAMS, input_weight=0.0, input_fraction=0.0, seed=seed)


def run_neuromap(res: Reservoir, steps: int, seed: int = 0) -> tuple[np.ndarray, float]:
    u = torch.zeros(steps, 1, 1)
    res.fanout_table(torch.float32)  # built once, outside the timing (as Brian2 builds its synapses)
    t0 = time.perf_counter()
    out = res.simulate(u, method="event", poisson=POISSON, seed=seed)
    wall = time.perf_counter() - t0
    return out.spikes[:, 0].sum(0).numpy(), wall


def run_brian2_runtime(res: Reservoir, steps: int) -> tuple[np.ndarray, float]:
    import brian2 as b2

    b2.prefs.codegen.target = "cython"
    u = np.zeros((steps, 1))
    # warm-up: generate / compile the Cython code once (cached), then time a fresh network
    objs, _, _ = nb.reservoir_objects(res, u[:10], external_poisson=POISSON)
    b2.Network(*objs).run(10 * PARAMS.dt * b2.second, namespace={})
    objs, _, mon = nb.reservoir_objects(res, u, external_poisson=POISSON)
    net = b2.Network(*objs)
    t0 = time.perf_counter()
    net.run(steps * PARAMS.dt * b2.second, namespace={})
    wall = time.perf_counter() - t0
    return np.bincount(np.asarray(mon.i), minlength=res.n), wall


def run_brian2_standalone(res: Reservoir, steps: int) -> tuple[np.ndarray, float, float, float]:
    import brian2 as b2

    directory = tempfile.mkdtemp(prefix="neuromap-b2-standalone-")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    try:
        objs, _, mon = nb.reservoir_objects(res, np.zeros((steps, 1)), external_poisson=POISSON)
        net = b2.Network(*objs)
        net.run(steps * PARAMS.dt * b2.second, namespace={})
        t0 = time.perf_counter()
        b2.device.build(directory=directory, compile=True, run=False)
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        b2.device.run(directory=directory)
        run_s = time.perf_counter() - t0
        loop_s = float(getattr(b2.device, "_last_run_time", float("nan")))
        counts = np.bincount(np.asarray(mon.i), minlength=res.n)
    finally:
        b2.device.reinit()
        b2.device.activate()
        b2.set_device("runtime")
    return counts, run_s, loop_s, compile_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: the step loop is small ops; intra-op threads only add overhead)")
    ap.add_argument("--skip-standalone", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps = int(round(args.duration / PARAMS.dt))
    t0 = time.perf_counter()
    res = build(args.n)
    build_s = time.perf_counter() - t0
    rows = {}
    counts, wall = run_neuromap(res, steps)
    rows["neuromap"] = {"seconds": wall, "rate_hz": float(counts.mean() / args.duration)}
    counts, wall = run_brian2_runtime(res, steps)
    rows["brian2_runtime_cython"] = {"seconds": wall, "rate_hz": float(counts.mean() / args.duration)}
    if not args.skip_standalone:
        counts, run_s, loop_s, compile_s = run_brian2_standalone(res, steps)
        rows["brian2_cpp_standalone"] = {"seconds": run_s, "main_loop_seconds": loop_s, "compile_seconds": compile_s,
                                         "rate_hz": float(counts.mean() / args.duration)}
    ref_rate = rows["brian2_runtime_cython"]["rate_hz"]
    nm = rows["neuromap"]
    checks = {
        "faster_than_brian2_runtime": nm["seconds"] < rows["brian2_runtime_cython"]["seconds"],
        "rates_match_within_5pct": abs(nm["rate_hz"] - ref_rate) <= 0.05 * ref_rate,
    }
    if "brian2_cpp_standalone" in rows:
        sa = rows["brian2_cpp_standalone"]
        # process run (binary start, simulation, writing results) and, stricter, the main loop alone
        checks["within_2x_of_cpp_standalone_run"] = nm["seconds"] <= 2.0 * sa["seconds"]
        checks["within_2x_of_cpp_standalone_main_loop"] = nm["seconds"] <= 2.0 * sa["main_loop_seconds"]
    result = {
        "benchmark": "lsm_brian2",
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "network": {"n": args.n, "connectivity": 0.02, "synapses": res.connectivity.n_synapses,
                    "inhibitory_fraction": 0.2, "w_exc": W_EXC, "w_inh": W_INH, "poisson": POISSON,
                    "duration_s": args.duration, "steps": steps, "neuron": PARAMS.to_dict()},
        "build_seconds": build_s,
        "torch_threads": args.threads,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "results": rows,
        "checks": checks,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"lsm-brian2-{_dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.n} neurons, {res.connectivity.n_synapses} synapses, {steps} steps (dt 0.1 ms)")
    print(f"{'simulator':<26}{'seconds':>10}{'rate (Hz)':>12}")
    for name, row in rows.items():
        extra = f"   (+ {row['compile_seconds']:.1f} s compile, main loop {row['main_loop_seconds']:.2f} s)" \
            if "compile_seconds" in row else ""
        print(f"{name:<26}{row['seconds']:>10.2f}{row['rate_hz']:>12.2f}{extra}")
    print("checks:", checks)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
