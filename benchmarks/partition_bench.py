"""Partitioner benchmark: metis vs sequential (PACMAN-like) vs random on an LSM and feed-forward nets,
plus the 1M-neuron / 100M-synapse scale run on SpiNNaker2.

    python -m benchmarks.partition_bench            # everything, writes benchmarks/results/partition-<date>.json
    python -m benchmarks.partition_bench --quick    # skip the scale run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from neuromap.partition import partition, synthetic

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("metis", "sequential", "random")


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: KiB


def nets():
    return {
        "lsm-10k": (synthetic.lsm(shape=(20, 20, 25), seed=0), "recurrent"),
        "mlp-digits-64-128-10": (synthetic.mlp([64, 128, 10]), "feed-forward"),
        "mlp-784-3000-500-10": (synthetic.mlp([784, 3000, 500, 10]), "feed-forward"),
        "mlp-1024-4096x3-10": (synthetic.mlp([1024, 4096, 4096, 4096, 10]), "feed-forward"),
        "conv-2x32x32-8-16": (synthetic.conv_net((2, 32, 32), (8, 16)), "feed-forward"),
    }


def quality(targets=("loihi", "spinnaker2", "loihi2")) -> list[dict]:
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
                         "results": per, "hop_reduction_vs_sequential_pct": red, "peak_rss_gb": _rss_gb()})
            r = per
            print(f"{name:22s} {tgt:11s} cores m/s/r {r['metis']['cores']:4d}/{r['sequential']['cores']:4d}/"
                  f"{r['random']['cores']:4d}  hop m/s/r {r['metis']['hop_traffic']:12.1f} {seq:12.1f} "
                  f"{r['random']['hop_traffic']:12.1f}  reduction {'n/a' if red is None else f'{red:5.1f}%'}  "
                  f"t_metis {r['metis']['time_s']:.2f}s", flush=True)
    return rows


def scale_child() -> None:
    t = time.perf_counter()
    net = synthetic.random_recurrent(1_000_000, 100, seed=0)
    build = time.perf_counter() - t
    t = time.perf_counter()
    mp = partition(net, "spinnaker2", "metis")
    part = time.perf_counter() - t
    print(json.dumps({"neurons": net.n_neurons, "synapses": net.n_synapses, "build_s": build, "partition_place_s": part,
                      "cores": mp.n_cores, "chips": mp.metrics["chips"], "feasible": mp.feasible,
                      "hop_traffic": mp.metrics["hop_traffic"], "router_entries_max": mp.metrics["router_entries_max"],
                      "peak_rss_gb": _rss_gb()}))


def scale() -> dict:
    out = subprocess.run([sys.executable, "-m", "benchmarks.partition_bench", "--scale-child"], capture_output=True,
                         text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"scale 1M/100M on spinnaker2: partition+place {res['partition_place_s']:.1f} s "
          f"(build {res['build_s']:.1f} s), peak RSS {res['peak_rss_gb']:.2f} GB, {res['cores']} cores on "
          f"{res['chips']} chips, feasible={res['feasible']}", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the 1M-neuron scale run")
    ap.add_argument("--scale-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scale_child:
        scale_child()
        return
    out = {"date": dt.datetime.now().isoformat(timespec="seconds"), "quality": quality()}
    if not args.quick:
        out["scale"] = scale()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"partition-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
