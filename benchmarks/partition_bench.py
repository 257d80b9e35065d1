"""Partitioner benchmark: quality of metis vs sequential (PACMAN-like) vs random on an LSM and feed-forward
nets, and the partitioner at scale (1 M neurons / 100 M synapses and up, on SpiNNaker2).

    python -m benchmarks.partition_bench                  # everything: writes benchmarks/results/partition-<date>.json
                                                          # and the README's tables (benchmarks.scale_report)
    python -m benchmarks.partition_bench --quick          # quality set only
    python -m benchmarks.partition_bench --scale-only     # the scale runs only
    python -m benchmarks.partition_bench --baseline FILE  # default: main's quality set (partition-main-*.json)
    python -m benchmarks.partition_bench --early-stop-check   # converged placements with / without the early stop

Quality: cores and hop-weighted traffic per (net, target, method); with ``--baseline`` (a JSON of an
earlier run, e.g. of the main branch) each metis result is compared with it (``not_worse``).

Scale, each in a fresh process (SpiNNaker2, ``method="metis"``, default settings): wall and CPU time,
peak RSS (``/proc`` high-water mark, reset after building the network: the peak while partitioning) beside
the RSS before partitioning (interpreter and network), the size of the core-to-core traffic matrix, and
cProfile's split of the time over the stages (connectivity counts, placement, routes, ...) from a second,
profiled run (the timed run is not profiled):

* ``1M-csr``: ``synthetic.random_recurrent`` (1 M LIF neurons, 100 uniformly random synapses each, held
  as a CSR matrix: the network of the first version of this benchmark);
* ``uniform-<N>``: the same connectivity generated on the fly (``synthetic.generated_recurrent``, never
  held) at 1 M, 2 M and 4 M neurons: a uniformly random network sends from every core to almost every
  other, so its traffic matrix, and the placement on it, grow as cores^2;
* ``local-<N>``: 100 synapses per neuron from within 10,000 neurons around it (a ring with local
  connectivity, generated on the fly) at 1 M, 2 M, 4 M and 10 M neurons (1 G synapses).

From the uniform curve the 10 M uniform figures are extrapolated (time and memory fitted as
``a N + b N^2``) and shown as such.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import machine, scale_report
from neuromap.atomic import write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BASELINE = RESULTS / "partition-main-38b5e16-2026-12-07.json"  # main's quality set before issue 33's changes
METHODS = ("metis", "sequential", "random")
SCALE = {"1M-csr": ("csr", 1_000_000, 0), "uniform-1M": ("generated", 1_000_000, 0),
         "uniform-2M": ("generated", 2_000_000, 0), "uniform-4M": ("generated", 4_000_000, 0),
         "local-1M": ("generated", 1_000_000, 10_000), "local-2M": ("generated", 2_000_000, 10_000),
         "local-4M": ("generated", 4_000_000, 10_000), "local-10M": ("generated", 10_000_000, 10_000)}
K = 100  # synapses per neuron
# the stages cProfile attributes the time to (cumulative seconds of these functions: module, name)
STAGES = {"connectivity counts": ("partition/split.py", "distinct_sources"),
          "partition (METIS / fill)": ("partition/partition.py", "assign_atoms"),
          "split into slices": ("partition/split.py", "split_population"),
          "placement": ("partition/place.py", "place"), "routes and link loads": ("partition/route.py", "link_loads"),
          "router entries": ("partition/route.py", "router_entries"), "hop cost": ("partition/place.py", "hop_cost")}


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def nets():
    from neuromap.partition import synthetic

    return {
        "lsm-10k": (synthetic.lsm(shape=(20, 20, 25), seed=0), "recurrent"),
        "mlp-digits-64-128-10": (synthetic.mlp([64, 128, 10]), "feed-forward"),
        "mlp-784-3000-500-10": (synthetic.mlp([784, 3000, 500, 10]), "feed-forward"),
        "mlp-1024-4096x3-10": (synthetic.mlp([1024, 4096, 4096, 4096, 10]), "feed-forward"),
        "conv-2x32x32-8-16": (synthetic.conv_net((2, 32, 32), (8, 16)), "feed-forward"),
    }


def quality(targets=("loihi", "spinnaker2", "loihi2")) -> list[dict]:
    from neuromap.partition import partition

    rows = []
    for name, (net, kind) in nets().items():
        for tgt in targets:
            per = {}
            for m in METHODS:
                t = time.perf_counter()
                mp = partition(net, tgt, m)
                per[m] = {"cores": mp.n_cores, "chips": mp.metrics["chips"], "cut_traffic": mp.metrics["cut_traffic"],
                          "hop_traffic": mp.metrics["hop_traffic"], "max_link_load": mp.metrics["max_link_load"],
                          "feasible": mp.feasible, "time_s": time.perf_counter() - t}
            seq, met = per["sequential"]["hop_traffic"], per["metis"]["hop_traffic"]
            red = None if seq == 0 else 100 * (1 - met / seq)
            rows.append({"net": name, "kind": kind, "target": tgt, "neurons": net.n_neurons, "synapses": net.n_synapses,
                         "results": per, "hop_reduction_vs_sequential_pct": red})
            r = per
            print(f"{name:22s} {tgt:11s} cores m/s/r {r['metis']['cores']:4d}/{r['sequential']['cores']:4d}/"
                  f"{r['random']['cores']:4d}  hop m/s/r {r['metis']['hop_traffic']:12.1f} {seq:12.1f} "
                  f"{r['random']['hop_traffic']:12.1f}  reduction {'n/a' if red is None else f'{red:5.1f}%'}  "
                  f"t_metis {r['metis']['time_s']:.2f}s", flush=True)
    return rows


def compare(rows: list[dict], baseline: list[dict]) -> list[dict]:
    """Per (net, target): this run's metis cores and hop traffic against the baseline's (lower is better)."""
    old = {(r["net"], r["target"]): r["results"]["metis"] for r in baseline}
    out = []
    for r in rows:
        b = old.get((r["net"], r["target"]))
        if b is None:
            continue
        m = r["results"]["metis"]
        hop_ok = m["hop_traffic"] <= b["hop_traffic"] * (1 + 1e-9) + 1e-9
        out.append({"net": r["net"], "target": r["target"], "cores": m["cores"], "cores_baseline": b["cores"],
                    "hop_traffic": m["hop_traffic"], "hop_traffic_baseline": b["hop_traffic"],
                    "time_s": m["time_s"], "time_s_baseline": b["time_s"],
                    "not_worse": bool(m["cores"] <= b["cores"] and hop_ok)})
    return out


# ------------------------------------------------------------------------------------------------ scale
def scale_child(case: str) -> None:
    """One scale case in this (fresh) process; prints one JSON line."""
    import neuromap.targets.digital as digital
    from neuromap.neurons import kernels
    from neuromap.partition import partition, synthetic

    kernels.ensure_built()
    kind, n, window = SCALE[case]
    baseline = _status_mb("VmRSS")
    t = time.perf_counter()
    net = synthetic.random_recurrent(n, K, seed=0) if kind == "csr" else synthetic.generated_recurrent(n, K, 0, window)
    build = time.perf_counter() - t
    built = _status_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:  # reset the high-water mark: the partition's own peak
            f.write("5")
    except OSError:
        pass
    seen = {}
    real_place = digital.place  # the placer of the digital targets (SpiNNaker2's kind)

    def spy(traffic, *args, **kwargs):  # the traffic matrix the placer gets (cores x cores, packets / step)
        seen.update(traffic_nnz=int(traffic.nnz), traffic_mb=(traffic.data.nbytes + traffic.indices.nbytes
                                                              + traffic.indptr.nbytes) / 2**20)
        return real_place(traffic, *args, **kwargs)

    digital.place = spy
    t, c = time.perf_counter(), time.process_time()
    mp = partition(net, "spinnaker2", "metis")  # timed and its peak measured without the profiler
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    peak = _status_mb("VmHWM")
    print(json.dumps({"case": case, "neurons": net.n_neurons, "synapses": net.n_synapses, "connectivity": kind,
                      "window": window or None, "build_s": build, "partition_place_s": wall, "partition_cpu_s": cpu,
                      "stage_s_profiled": profile_stages(net), "cores": mp.n_cores, "chips": mp.metrics["chips"],
                      "feasible": mp.feasible, "hop_traffic": mp.metrics["hop_traffic"],
                      "router_entries_max": mp.metrics.get("router_entries_max"), **seen,
                      "baseline_rss_mb": baseline, "rss_after_build_mb": built,
                      "partition_peak_rss_mb": peak, "peak_rss_gb": max(peak, built) / 1024}))


def profile_stages(net) -> dict[str, float]:
    """Cumulative seconds of each of :data:`STAGES` in a second, profiled run of the same partition."""
    from neuromap.partition import partition

    prof = cProfile.Profile()
    prof.enable()
    partition(net, "spinnaker2", "metis")
    prof.disable()
    stats = pstats.Stats(prof).stats
    stages = {}
    for label, (module, fn) in STAGES.items():
        cum = [v[3] for (path, _, name), v in stats.items() if name == fn and path.endswith(module)]
        stages[label] = max(cum) if cum else 0.0
    return stages


def scale(cases: list[str]) -> dict:
    out = {}
    for case in cases:
        run = subprocess.run([sys.executable, "-m", "benchmarks.partition_bench", "--scale-child", case],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"scale {case}: failed (exit {run.returncode}): {run.stderr[-2000:]}", flush=True)
            out[case] = {"case": case, "failed": run.stderr[-2000:]}
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        out[case] = r
        print(f"scale {case}: {r['neurons']:,} neurons / {r['synapses']:,} synapses: partition+place "
              f"{r['partition_place_s']:.1f} s wall ({r['partition_cpu_s']:.1f} s CPU), peak RSS {r['peak_rss_gb']:.2f} GB,"
              f" {r['cores']} cores on {r['chips']} chips, traffic matrix {r.get('traffic_nnz', 0):,} entries; "
              + ", ".join(f"{k} {v:.1f} s" for k, v in r["stage_s_profiled"].items() if v >= 0.1), flush=True)
    return out


def extrapolate(runs: dict, key: str, n: float = 10e6) -> float | None:
    """``key`` at ``n`` neurons from the uniform curve, fitted as ``a N + b N^2`` (least squares)."""
    pts = [(r["neurons"], r[key]) for c, r in runs.items() if c.startswith("uniform-") and key in r]
    if len(pts) < 2:
        return None
    N = np.array([p[0] for p in pts], dtype=float)
    y = np.array([p[1] for p in pts], dtype=float)
    coef, *_ = np.linalg.lstsq(np.stack([N, N**2], 1), y, rcond=None)
    return float(coef[0] * n + coef[1] * n**2)


def early_stop_check(net_name: str = "mlp-1024-4096x3-10", targets=("loihi", "spinnaker2", "loihi2"),
                     budget: float = 600.0) -> list[dict]:
    """metis with a placement budget long enough to converge, with and without the refinement's early stop
    (``place.REFINE_MIN_GAIN``): under the default 10 s budget a loaded machine ends the refinement early,
    so the quality set's largest nets vary with the load; converged, the early stop's effect shows alone."""
    import importlib

    from neuromap.partition import partition

    pl = importlib.import_module("neuromap.partition.place")
    net = nets()[net_name][0]
    default, rows = pl.REFINE_MIN_GAIN, []
    for tgt in targets:
        row = {"net": net_name, "target": tgt, "time_budget_s": budget}
        for label, gain in (("early_stop", default), ("no_early_stop", 0.0)):
            pl.REFINE_MIN_GAIN = gain
            t = time.perf_counter()
            mp = partition(net, tgt, "metis", time_budget=budget)
            row[label] = {"cores": mp.n_cores, "hop_traffic": mp.metrics["hop_traffic"], "time_s": time.perf_counter() - t}
        pl.REFINE_MIN_GAIN = default
        row["same"] = row["early_stop"] == {**row["no_early_stop"], "time_s": row["early_stop"]["time_s"]}
        rows.append(row)
        print(f"{net_name} {tgt}: hop {row['early_stop']['hop_traffic']:.1f} with the early stop, "
              f"{row['no_early_stop']['hop_traffic']:.1f} without", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the quality set only")
    ap.add_argument("--scale-only", action="store_true", help="the scale runs only")
    ap.add_argument("--cases", nargs="+", choices=list(SCALE), default=list(SCALE), help="scale cases to run")
    ap.add_argument("--baseline", type=Path, default=BASELINE,
                    help="an earlier partition-*.json to compare the quality set with (default: main's, committed)")
    ap.add_argument("--early-stop-check", action="store_true",
                    help="only: the largest quality net, converged placements with and without the early stop")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--scale-child", choices=list(SCALE), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scale_child:
        scale_child(args.scale_child)
        return
    load_start = os.getloadavg()[0]
    if args.early_stop_check:
        rows = early_stop_check()
        path = args.out / f"partition-early-stop-{dt.date.today().isoformat()}.json"
        write_text(path, json.dumps({"benchmark": "partition_bench --early-stop-check", "machine": machine.describe(),
                                     "rows": rows}, indent=1))
        print(f"-> {path}")
        return
    args.out.mkdir(exist_ok=True)
    path = args.out / f"partition-{dt.date.today().isoformat()}.json"
    # a partial run (--quick, --scale-only, --cases) updates its part of the day's JSON and keeps the rest
    out = json.loads(path.read_text()) if path.exists() else {}
    out.update(benchmark="partition_bench", machine=machine.describe())
    if not args.scale_only:
        out["quality"] = quality()
        out.pop("quality_vs_baseline", None)
        if args.baseline and args.baseline.exists():
            base = json.loads(args.baseline.read_text())
            out["quality_vs_baseline"] = {"baseline": os.path.relpath(args.baseline, ROOT),
                                          "rows": compare(out["quality"], base["quality"])}
            worse = [f"{r['net']}/{r['target']}" for r in out["quality_vs_baseline"]["rows"] if not r["not_worse"]]
            print("quality vs baseline: " + ("not worse anywhere" if not worse else f"WORSE on {worse}"), flush=True)
    if not args.quick:
        runs = {**out.get("scale", {}), **scale(args.cases)}
        out["scale"] = {c: runs[c] for c in SCALE if c in runs}
        out["extrapolated_uniform_10M"] = {
            "partition_place_s": extrapolate(runs, "partition_place_s"),
            "partition_cpu_s": extrapolate(runs, "partition_cpu_s"),
            "peak_rss_gb": extrapolate(runs, "peak_rss_gb"),
            "traffic_nnz": extrapolate(runs, "traffic_nnz"),
            "how": "least-squares a N + b N^2 through the uniform-1M/2M/4M runs: an extrapolation, not a measurement"}
    load_end = os.getloadavg()[0]
    out["load"] = machine.load_note(load_start, load_end, 2)
    write_text(path, json.dumps(out, indent=1))
    print(out["load"])
    print(f"-> {path}")
    if args.out.resolve() == RESULTS:
        scale_report.publish()

if __name__ == "__main__":
    main()
