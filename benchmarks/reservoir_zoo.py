"""How much the zoo's reservoir runs gain from the compiled loop: each experiment's own reservoirs and
inputs, simulated the way ``Reservoir.simulate`` ran them before (``method="csr"``, the sparse-matmul
step loop that ``auto`` took for batches on the CPU) and with the compiled loop (``auto`` now),
interleaved; plus the SpiNNaker2 execution model of a 100,000-neuron LSM (step loop vs compiled).

    python -m benchmarks.reservoir_zoo [--repeats 3] [--only lsm_digits dvs_bars crossbar_lsm spinnaker2_lsm]

Per workload: the calls one experiment run makes (``lsm_digits``: 7 recurrent gains and the RRAM
reservoir on 3,594 sequences of 40 steps; ``crossbar_lsm``: 5 seeds x (ideal, RRAM) reservoirs, fit and
score in batches of 256 plus a rate probe; ``dvs_bars``: train, test and rate probe), the spikes of
both methods compared, min and median seconds over repeats, and the experiment's total wall time
from its committed ``results/<name>.json`` for scale (the rest of an experiment is data and readout
training, unchanged). Writes ``benchmarks/results/reservoir-zoo-<date>.json``, then the README's tables
(:func:`benchmarks.scale_report.publish`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import machine, scale_report
from neuromap.atomic import write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("csr", "compiled")


def _experiments():
    from experiments import crossbar_lsm, dvs_bars, lsm_digits

    return lsm_digits, crossbar_lsm, dvs_bars


def lsm_digits_calls() -> list:
    """``(reservoir, u)`` of every simulation in one ``experiments/lsm_digits.py`` run."""
    lsm_digits, crossbar_lsm, _ = _experiments()
    from neuromap import targets
    from neuromap.crossbar import RRAMModel
    from neuromap.networks.lsm import maass_connectivity

    u, _, _, _ = lsm_digits.ordered_digits(0)
    calls = [(lsm_digits.build(g, seed=0), u) for g in lsm_digits.GAINS]
    conn = maass_connectivity((10, 5, 4), lam=2.0, amplitudes=lsm_digits.AMPLITUDES, seed=0)
    rram = crossbar_lsm.rram_weights(conn, RRAMModel.from_target(targets.load("crossbar-rram")), seed=1000)
    calls.append((lsm_digits.build(0.3, 0, rram), u))
    return calls


def crossbar_lsm_calls() -> list:
    """``(reservoir, u)`` of every simulation in one ``experiments/crossbar_lsm.py`` run (defaults)."""
    _, crossbar_lsm, _ = _experiments()
    from neuromap import data, targets
    from neuromap.crossbar import RRAMModel
    from neuromap.networks.lsm import Reservoir, maass_connectivity
    from neuromap.neurons import LIFParams

    device = RRAMModel.from_target(targets.load("crossbar-rram"))
    digits = data.digits(encoding="rate", steps=25, seed=0)
    xtr, xte = digits.x_train.transpose(0, 1), digits.x_test.transpose(0, 1)
    calls = []
    for s in range(5):
        conn = maass_connectivity(grid=(5, 5, 8), lam=2.0, weights="constant", seed=s)
        for kind in ("ideal", "rram"):
            c = conn if kind == "ideal" else crossbar_lsm.rram_weights(conn, device, seed=1000 + s)
            res = Reservoir(digits.n_inputs, c, LIFParams(tau_mem=20e-3, dt=1e-3), input_weight=0.12,
                            rec_scale=0.005, seed=s)
            for x in (xtr, xte):  # LiquidStateMachine.features: batches of 256
                calls += [(res, x[:, k:k + 256]) for k in range(0, x.shape[1], 256)]
            calls.append((res, xte[:, :64]))
    return calls


def dvs_bars_calls() -> list:
    """``(reservoir, u)`` of every simulation in one ``experiments/dvs_bars.py`` run."""
    _, _, dvs_bars = _experiments()
    from neuromap.data import moving_bars
    from neuromap.networks.lsm import MAASS_A, Reservoir, maass_connectivity

    bars = moving_bars(n_samples=1200, seed=0)
    xtr, _ = bars.split("train")
    xte, _ = bars.split("test")
    u_tr = xtr.flatten(2).transpose(0, 1).contiguous()
    u_te = xte.flatten(2).transpose(0, 1).contiguous()
    amps = {k: v / MAASS_A["EE"] for k, v in MAASS_A.items()}
    res = Reservoir(512, maass_connectivity((20, 5, 4), lam=2.0, amplitudes=amps, seed=0), dvs_bars.PARAMS,
                    input_weight=0.35, input_fraction=0.05, rec_scale=0.05, seed=0)
    return [(res, u_tr), (res, u_te), (res, u_te[:, :100])]


def warm_up(calls: list) -> None:
    """Build what each method builds once per reservoir (weights on the device, fan-out tables) untimed."""
    for res in {id(r): r for r, _ in calls}.values():
        for m in METHODS:
            res.simulate(torch.zeros(1, 1, res.n_inputs), method=m)


def time_calls(calls: list, method: str) -> tuple[float, list[torch.Tensor]]:
    t0 = time.perf_counter()
    out = [res.simulate(u, method=method).spikes for res, u in calls]
    return time.perf_counter() - t0, out


def spinnaker2_lsm(neurons: int = 20_000, steps: int = 200, p: float = 5e-4):
    """The SpiNNaker2 execution model of ``benchmarks/spinnaker2_lsm.py``'s reservoir (here 20,000 neurons with
    the same fan-in of 10: at its 100,000 every PE holding a slice needs a row header per source neuron,
    more than a PE's SRAM, and the partitioner refuses it): a runner per method."""
    from benchmarks.spinnaker2_lsm import reservoir_netlist
    from neuromap import backends
    from neuromap.backends.spinnaker2.simulate import Simulator
    from neuromap.networks.lsm import Reservoir, random_connectivity
    from neuromap.neurons import LIFParams

    conn = random_connectivity(neurons, p, w_exc=0.6, w_inh=-2.0, seed=0)
    res = Reservoir(40, conn, LIFParams(tau_mem=20e-3, dt=1e-3), input_weight=1.2, input_fraction=0.1, seed=0)
    compiled = backends.get("spinnaker2").compile_netlist(reservoir_netlist(res), numerics="fp32", method="sequential")
    u = (torch.rand(steps, 1, 40, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    real = Simulator._compiled_loop

    def run(method: str) -> tuple[float, list[torch.Tensor]]:
        Simulator._compiled_loop = real if method == "compiled" else (lambda *a: False)
        try:
            t0 = time.perf_counter()
            out = compiled.run({"input": u})
            return time.perf_counter() - t0, [out.records["reservoir"]]
        finally:
            Simulator._compiled_loop = real

    return run


WORKLOADS = {"lsm_digits": lsm_digits_calls, "crossbar_lsm": crossbar_lsm_calls, "dvs_bars": dvs_bars_calls,
             "spinnaker2_lsm": None}


def measure(name: str, repeats: int) -> dict:
    if name == "spinnaker2_lsm":
        runner = spinnaker2_lsm()
    else:
        calls = WORKLOADS[name]()
        warm_up(calls)

        def runner(method: str):
            return time_calls(calls, method)
    seconds: dict[str, list[float]] = {m: [] for m in METHODS}
    spikes: dict[str, list] = {}
    for r in range(repeats):
        for m in METHODS:
            s, out = runner(m)
            seconds[m].append(s)
            spikes[m] = out
        print(f"[{name}] repeat {r + 1}/{repeats}: " + ", ".join(f"{m} {seconds[m][-1]:.2f} s" for m in METHODS),
              flush=True)
    same = all(torch.equal(a, b) for a, b in zip(spikes["csr"], spikes["compiled"]))
    row = {m: {"min": min(v), "median": statistics.median(v), "all": v} for m, v in seconds.items()}
    row["speedup_median"] = row["csr"]["median"] / row["compiled"]["median"]
    row["saved_seconds_median"] = row["csr"]["median"] - row["compiled"]["median"]
    row["spikes_identical"] = same
    committed = ROOT / "results" / f"{name}.json"
    if committed.exists():
        row["experiment_wall_seconds_committed"] = json.loads(committed.read_text()).get("wall_seconds")
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the experiments use 2)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    info = machine.describe()
    load_start = os.getloadavg()[0]
    rows = {}
    for name in a.only:
        try:
            rows[name] = measure(name, a.repeats)
        except Exception as exc:  # noqa: BLE001 - one workload's failure must not lose the others' numbers
            print(f"[{name}] failed: {type(exc).__name__}: {exc}", flush=True)
            rows[name] = {"failed": f"{type(exc).__name__}: {exc}"}
    load_end = os.getloadavg()[0]
    result = {"benchmark": "reservoir_zoo", "machine": info, "threads": a.threads, "repeats": a.repeats,
              "load": machine.load_note(load_start, load_end, a.threads), "load_average": [load_start, load_end],
              "methods": {"csr": "sparse-matmul step loop (what auto ran on CPU batches before)",
                          "compiled": "the compiled recurrent loop (auto now)"},
              "workloads": rows}
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"reservoir-zoo-{_dt.date.today().isoformat()}.json"
    write_text(path, json.dumps(result, indent=1) + "\n")
    print(f"{'workload':<16}{'step loop s':>12}{'compiled s':>12}{'speed-up':>10}{'saved s':>9}{'identical':>11}"
          f"{'experiment wall s':>19}")
    for name, r in rows.items():
        if "failed" in r:
            print(f"{name:<16} failed: {r['failed']}")
            continue
        wall = r.get("experiment_wall_seconds_committed")
        print(f"{name:<16}{r['csr']['median']:>12.2f}{r['compiled']['median']:>12.2f}{r['speedup_median']:>9.1f}x"
              f"{r['saved_seconds_median']:>9.1f}{str(r['spikes_identical']):>11}"
              f"{'' if wall is None else f'{wall:.0f}':>19}")
    print(result["load"])
    print(f"wrote {path}")
    if a.out.resolve() == RESULTS:
        scale_report.publish()
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
