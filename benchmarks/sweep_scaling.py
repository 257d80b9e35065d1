"""How `neuromap sweep` scales: the same 40-trial sweep of small digits models run

* in a plain loop in this process (``neuromap.sweep.run_trial`` + the store: no Ray),
* on an embedded local Ray with 1 and with 2 worker CPUs,
* on a simulated two-node cluster on this machine (``ray.cluster_utils.Cluster``: a head with no
  CPUs and two nodes of 1 CPU each, each node its own raylet and object store),

reporting wall time, trials per minute and, against the plain loop, Ray's overhead per trial: the
CPU-seconds each trial costs beyond the loop's, ``(CPUs x sweep wall time - loop wall time) / trials``
(with 1 worker simply the difference of the wall times per trial).
Every configuration runs the same trials (one torch thread each) into a fresh results store; the
records of every configuration are checked to be the same numbers as the loop's.

    python -m benchmarks.sweep_scaling                  # writes benchmarks/results/sweep-scaling-<date>.json
    python -m benchmarks.sweep_scaling --rounds 2       # each configuration twice, interleaved
    python -m benchmarks.sweep_scaling --address auto   # on a real cluster (run on its head node): that row only

Ray's start (and stop) is timed apart from the sweep: ``startup_s`` is paid once per driver, the
sweep's time is what scales with the number of trials. Ray runs its workers at nice 15 by default;
here they run at nice 0 (``RAY_worker_niceness=0``), as the loop does, so that on a machine shared
with other jobs both compete for the CPUs on equal terms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
N_TRIALS = 40


def spec(epochs: int = 1):
    """40 small digits MLPs: 5 widths x 2 encoding lengths x 4 seeds, priced on Loihi 2 and SpiNNaker2."""
    from neuromap.sweep import Spec

    raw = {
        "sweep": {"name": "sweep_scaling"},
        "model": {"builder": "SpikingMLP", "n_in": 64, "hidden": [16], "n_out": 10},
        "data": {"name": "digits", "steps": 5},
        "train": {"epochs": epochs},
        "evaluate": {"samples": 32},
        "target": [{"name": "loihi2"}, {"name": "spinnaker2"}],
        "space": {"model.hidden": [[8], [16], [32], [48], [64]], "data.steps": [5, 10], "seed": [0, 1, 2, 3]},
        "resources": {"cpus": 1, "max_retries": 1},
    }
    s = Spec.from_dict(raw, "benchmarks/sweep_scaling.py")
    assert len(s.trials()) == N_TRIALS
    return s


def _quiet() -> dict[str, Any]:
    return {"logging_level": logging.WARNING, "log_to_driver": False}


def run_loop(s, store: Path) -> dict[str, Any]:
    """The baseline: the same trials one after the other in this process, written to a store."""
    from neuromap.sweep import Store, run_trial
    from neuromap.sweep.runner import record_of

    st = Store.create(store, s)
    t0 = time.perf_counter()
    records = []
    for t in s.trials():
        payload = run_trial(t.config)
        records.append(record_of(t, payload))
        st.write(records[-1], payload["graph"])
    return {"startup_s": 0.0, "sweep_s": time.perf_counter() - t0, "records": records}


def run_ray(s, store: Path, workers: int | None = None, nodes: int = 0, address: str | None = None) -> dict[str, Any]:
    """The sweep on Ray: local with ``workers`` CPUs, ``nodes`` simulated 1-CPU nodes, or a cluster."""
    import ray

    from neuromap.sweep import run_sweep

    cluster = None
    t0 = time.perf_counter()
    if address:
        ray.init(address=address, **_quiet())
    elif nodes:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 100 * 2**20})
        for _ in range(nodes):
            cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20)
        ray.init(address=cluster.address, **_quiet())
        cluster.wait_for_nodes()
    else:
        ray.init(address="local", num_cpus=workers, include_dashboard=False, object_store_memory=200 * 2**20, **_quiet())
    startup = time.perf_counter() - t0
    cpus = ray.cluster_resources().get("CPU", 0)
    try:
        t1 = time.perf_counter()
        result = run_sweep(s, store, progress=False, log=lambda line: None)
        sweep_s = time.perf_counter() - t1
    finally:
        t2 = time.perf_counter()
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()
        stop = time.perf_counter() - t2
    return {"startup_s": startup, "shutdown_s": stop, "sweep_s": sweep_s, "cluster_cpus": cpus,
            "retried": result.retried, "records": result.records}


def _summary(name: str, runs: list[dict[str, Any]], n: int) -> dict[str, Any]:
    sweep = [r["sweep_s"] for r in runs]
    trial_s = [sum(x["timing"]["trial_s"] for x in r["records"] if x and "timing" in x) for r in runs]
    cpu_s = [sum(x["timing"].get("cpu_s", 0.0) for x in r["records"] if x and "timing" in x) for r in runs]
    cpus = runs[0].get("cluster_cpus", 1)
    out = {"config": name, "rounds": len(runs), "sweep_s": sweep, "sweep_s_median": statistics.median(sweep),
           "trials_per_minute": 60 * n / statistics.median(sweep),
           "startup_s": [r["startup_s"] for r in runs], "shutdown_s": [r.get("shutdown_s", 0.0) for r in runs],
           "sum_of_trial_s": trial_s, "sum_of_trial_cpu_s": cpu_s,
           # CPU-seconds of the workers per trial spent outside any trial (scheduling, results, worker start)
           "outside_trials_per_trial_s": [(cpus * w - t) / n for w, t in zip(sweep, trial_s)],
           # the share of the wall time a trial got a CPU: the machine's load, not Ray's
           "cpu_share_in_trials": [c / t if t else None for c, t in zip(cpu_s, trial_s)],
           "done": [sum(1 for x in r["records"] if x and x["status"] == "done") for r in runs]}
    if "cluster_cpus" in runs[0]:
        out["cluster_cpus"] = runs[0]["cluster_cpus"]
        out["retried"] = [r["retried"] for r in runs]
    return out


def _same_numbers(reference: list[dict], records: list[dict]) -> bool:
    from neuromap.sweep import comparable

    return [comparable(r) for r in reference] == [comparable(r) for r in records]


def _environment() -> dict[str, Any]:
    from importlib.metadata import version

    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            # 1: Linux shares the CPUs fairly between sessions, not processes: more workers in one
            # session then get no more CPU on a busy machine (see cpu_share_in_trials)
            "sched_autogroup_enabled": autogroup.read_text().strip() if autogroup.exists() else None,
            "ray_worker_niceness": os.environ.get("RAY_worker_niceness"),
            "packages": {p: version(p) for p in ("neuromap", "ray", "torch", "numpy")},
            "load_average_start": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=1, help="runs of each configuration, interleaved (default 1)")
    ap.add_argument("--epochs", type=int, default=1, help="training epochs per trial (default 1)")
    ap.add_argument("--address", help="a real Ray cluster to measure (only that configuration and the loop)")
    ap.add_argument("-o", "--output", help="the JSON to write (default benchmarks/results/sweep-scaling-<date>.json)")
    args = ap.parse_args()
    os.environ.setdefault("RAY_worker_niceness", "0")  # as the loop's process (Ray's default: 15)
    s = spec(args.epochs)
    configs: list[tuple[str, dict[str, Any]]] = [("plain loop", {})]
    if args.address:
        configs.append((f"cluster {args.address}", {"address": args.address}))
    else:
        configs += [("ray local, 1 worker", {"workers": 1}), ("ray local, 2 workers", {"workers": 2}),
                    ("ray simulated 2 nodes x 1 CPU", {"nodes": 2})]
    env = _environment()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in configs}
    with tempfile.TemporaryDirectory(prefix="sweep-scaling-") as tmp:
        for rnd in range(args.rounds):
            for i, (name, kw) in enumerate(configs):
                store = Path(tmp) / f"r{rnd}-c{i}"
                r = run_loop(s, store) if not kw else run_ray(s, store, **kw)
                runs[name].append(r)
                print(f"round {rnd + 1}: {name:32s} sweep {r['sweep_s']:7.1f} s  ({60 * N_TRIALS / r['sweep_s']:5.1f} "
                      f"trials/min)  Ray start {r['startup_s']:5.1f} s", flush=True)
    loop = runs["plain loop"][0]["records"]
    rows = [_summary(name, rs, N_TRIALS) for name, rs in runs.items()]
    for row, rs in zip(rows, runs.values()):
        row["same_records_as_loop"] = all(_same_numbers(loop, r["records"]) for r in rs)
    by = {r["config"]: r for r in rows}
    base = by["plain loop"]["sweep_s_median"]
    for r in rows:  # CPU-seconds per trial beyond the loop's: (CPUs x wall - loop wall) / trials
        r["overhead_per_trial_s_vs_loop"] = (r.get("cluster_cpus", 1) * r["sweep_s_median"] - base) / N_TRIALS
        r["speedup_vs_loop"] = base / r["sweep_s_median"]
    ratios = {}
    if "ray local, 1 worker" in by:
        one = by["ray local, 1 worker"]["trials_per_minute"]
        ratios = {"trials_per_minute_2_workers_vs_1": by["ray local, 2 workers"]["trials_per_minute"] / one,
                  "trials_per_minute_2_nodes_vs_1_worker": by["ray simulated 2 nodes x 1 CPU"]["trials_per_minute"] / one,
                  "overhead_per_trial_s_1_worker_vs_loop": by["ray local, 1 worker"]["overhead_per_trial_s_vs_loop"]}
    out = {"benchmark": "sweep_scaling", "trials": N_TRIALS, "spec": s.to_dict(), "epochs": args.epochs,
           "environment": {**env, "load_average_end": os.getloadavg()}, "results": rows, "ratios": ratios,
           "written_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "note": "2-core machine shared with other users' jobs (see the load averages): absolute times are "
                   "inflated; the ratios come from one interleaved run"}
    path = Path(args.output) if args.output else RESULTS / f"sweep-scaling-{dt.date.today().isoformat()}.json"
    from neuromap.atomic import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(out, indent=1) + "\n")
    for r in rows:
        print(f"{r['config']:32s} {r['trials_per_minute']:6.1f} trials/min, {r['speedup_vs_loop']:.2f}x the loop, "
              f"overhead/trial {r['overhead_per_trial_s_vs_loop']:+.2f} s, same records: {r['same_records_as_loop']}")
    print(json.dumps(ratios, indent=1))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
