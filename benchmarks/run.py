"""Benchmark entry point: ``python -m benchmarks.run`` (or ``make bench``). Installs nothing.

Runs every (library, workload) pair in a fresh subprocess, one after the other (so each peak RSS is
attributable and no library's threads or caches affect another's), with ``torch.set_num_threads(2)``
and fixed seeds; measures the machine's GFLOP/s and memory bandwidth in the same run
(:mod:`benchmarks.roofline`); writes ``benchmarks/results/<date>.json`` and the Markdown table
``benchmarks/results/latest.md`` (also printed).

    python -m benchmarks.run                         # everything
    python -m benchmarks.run --workloads W1 W2-b1 --libs neuromap snntorch --steps 10 --rounds 2
    python -m benchmarks.run --device cuda           # the GPU benchmark (benchmarks/gpu.py)

``--rounds R`` repeats the whole sweep R times, interleaving libraries, and pools the step times
(median over all of them) - useful on a shared, noisy machine. Libraries that are not installed
are reported as missing, not installed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

THREADS = 2
EVENT_FORMULA = ("event bound = max(2 x active synapse events / peak_GFLOPs, "
                 "(activations + weight rows touched) / peak_bandwidth)")
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_LIBS = ["neuromap", "neuromap:dense", "neuromap:torch", "neuromap:snntorch-reset", "snntorch", "norse",
                "spikingjelly"]
PEERS = ("snntorch", "norse", "spikingjelly")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _verify(w, variant: str) -> dict:
    """neuromap's fused model vs its per-step autograd reference: two full training steps (or one
    forward) from the same initialisation; spikes and losses must be bit-identical."""
    import torch

    from benchmarks.peers.neuromap_adapter import build_mlp, impl_context
    from benchmarks.workloads import loss_fn, make_data

    x, y = make_data(w, seed=0)
    runs = {}
    # "dense": the fused model with dense synapses, to compare the event-driven synapses against.
    for impl, var in (("fused", variant), ("reference", variant), ("dense", "dense")):
        if impl == "dense" and variant != "":
            continue
        model = build_mlp(w, var, impl="fused" if impl == "dense" else impl)
        opt = torch.optim.Adam(model.parameters(), lr=w.lr)
        outs, losses, grads = [], [], []
        for _ in range(2 if w.train else 1):
            with impl_context(variant if impl == "fused" else ""):
                if w.train:
                    opt.zero_grad(set_to_none=True)
                    out = model(x)
                    loss = loss_fn(out, y)
                    loss.backward()
                    grads.append([p.grad.clone() for p in model.parameters()])
                    opt.step()
                else:
                    with torch.no_grad():
                        out = model(x)
                    loss = loss_fn(out, y)
            outs.append(out.detach())
            losses.append(loss.detach())
        runs[impl] = (outs, losses, grads)
    (o1, l1, g1), (o2, l2, g2) = runs["fused"], runs["reference"]
    out = {
        "steps_compared": len(o1),
        "spikes_identical": all(bool(torch.equal(a, b)) for a, b in zip(o1, o2)),
        "losses_identical": all(bool(torch.equal(a, b)) for a, b in zip(l1, l2)),
        "losses": [float(v) for v in l1],
        "max_abs_grad_diff": _max_diff(g1, g2),
        "output_spikes": int(o1[0].sum()),
    }
    if "dense" in runs:  # event-driven vs dense synapses: equal to float32 rounding (see neuromap.synapses)
        o3, l3, g3 = runs["dense"]
        out["vs_dense"] = {
            "spikes_identical": all(bool(torch.equal(a, b)) for a, b in zip(o1, o3)),
            "losses_identical": all(bool(torch.equal(a, b)) for a, b in zip(l1, l3)),
            "max_abs_loss_diff": max(float((a - b).abs()) for a, b in zip(l1, l3)),
            "max_abs_grad_diff": _max_diff(g1, g3),
        }
    return out


def _max_diff(g1: list, g2: list) -> float:
    return max((float((a - b).abs().max()) for ga, gb in zip(g1, g2) for a, b in zip(ga, gb)), default=0.0)


def _activity(w) -> dict:
    """Spike counts of the neuromap model's input and hidden layer on the benchmark data (one
    forward): what :func:`benchmarks.workloads.event_cost` needs."""
    import torch

    from benchmarks.peers.neuromap_adapter import build_mlp
    from benchmarks.workloads import make_data

    x, _ = make_data(w, seed=0)
    model = build_mlp(w)
    with torch.no_grad():
        hidden = model[1](model[0](x))
    return {
        "in_nnz": int(torch.count_nonzero(x)),
        "hidden_nnz": int(torch.count_nonzero(hidden)),
        "in_rows": int((x != 0).flatten(0, 1).any(0).sum()),
        "hidden_rows": int((hidden != 0).flatten(0, 1).any(0).sum()),
        "in_density": float(torch.count_nonzero(x)) / x.numel(),
        "hidden_density": float(torch.count_nonzero(hidden)) / hidden.numel(),
    }


def worker(lib: str, key: str, steps: int, warmup: int, verify: bool) -> dict:
    """One (library, workload) measurement, in this (fresh) process."""
    import torch

    torch.set_num_threads(THREADS)
    from benchmarks import peers
    from benchmarks.workloads import WORKLOADS, loss_fn, make_data

    name, _, variant = lib.partition(":")
    w = WORKLOADS[key]
    adapter = peers.load(name)
    x, y = make_data(w, seed=0)
    torch.manual_seed(0)
    model = adapter.build(w, variant)
    opt = torch.optim.Adam(model.parameters, lr=w.lr) if w.train else None

    def step() -> None:
        model.reset()
        if w.train:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model.forward(x), y)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model.forward(x)

    rss_before = _rss_bytes()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {
        "lib": lib,
        "version": adapter.version(),
        "workload": key,
        "semantics": adapter.SEMANTICS[variant],
        "times_s": times,
        "peak_rss_mb": peak / 2**20,
        "rss_before_mb": rss_before / 2**20,
        "peak_delta_mb": (peak - rss_before) / 2**20,
    }
    if verify and name == "neuromap":
        out["verify"] = _verify(w, variant)
        if variant == "":
            out["activity"] = _activity(w)
    return out


def _spawn(args: list[str], env: dict | None = None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.run", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, env=env)
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"], "returncode": proc.returncode}


def _available(lib: str) -> str | None:
    import importlib.util

    mod = lib.split(":")[0]
    return None if importlib.util.find_spec(mod) else f"{mod} is not installed (pip install -e '.[bench]'; see README)"


def summarise(results: dict, machine: dict) -> dict:
    from benchmarks.roofline import bound_s
    from benchmarks.workloads import WORKLOADS, event_cost, flops, min_bytes

    table = {}
    for key, libs in results.items():
        w = WORKLOADS[key]
        bound = bound_s(flops(w), min_bytes(w), machine)
        rows = {}
        for lib, runs in libs.items():
            ok = [r for r in runs if "times_s" in r]
            if not ok:
                rows[lib] = {"error": runs[0].get("error") if runs else "not run"}
                continue
            times = [t for r in ok for t in r["times_s"]]
            med = statistics.median(times)
            rows[lib] = {
                "version": ok[0]["version"],
                "semantics": ok[0]["semantics"],
                "median_s": med,
                "n_steps": len(times),
                "neuron_timesteps_per_s": w.neuron_timesteps / med,
                "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
                "peak_delta_mb": max(r["peak_delta_mb"] for r in ok),
                "roofline_ratio": med / bound,
                **({"verify": ok[0]["verify"]} if "verify" in ok[0] else {}),
            }
        activity = next((r["activity"] for r in libs.get("neuromap", []) if "activity" in r), None)
        ev_bound = bound_s(*event_cost(w, activity), machine) if activity else None
        for r in rows.values():
            if ev_bound and "median_s" in r:
                r["event_bound_ratio"] = r["median_s"] / ev_bound
        nm = rows.get("neuromap", {}).get("median_s")
        peer_times = {lib: r["median_s"] for lib, r in rows.items() if lib in PEERS and "median_s" in r}
        for r in rows.values():
            if nm and "median_s" in r:
                r["neuromap_speedup"] = r["median_s"] / nm  # > 1: neuromap is faster
        fastest = min(peer_times, key=peer_times.get) if peer_times else None
        table[key] = {
            "workload": w.to_dict(),
            "bound_s": bound,
            "event_bound_s": ev_bound,
            "activity": activity,
            "fastest_peer": fastest,
            "speedup_vs_fastest_peer": (peer_times[fastest] / nm) if (fastest and nm) else None,
            "rows": rows,
        }
    return table


TARGETS = {"W1": ("time", 2.0), "W3": ("time", 2.0), "W2-b1": ("time", 3.0), "W2-b32": ("time", 2.0), "W4": ("memory", 3.0)}


def check_targets(table: dict) -> list[str]:
    lines = []
    for key, (kind, x) in TARGETS.items():
        if key not in table:
            continue
        t = table[key]
        sp = t["speedup_vs_fastest_peer"]
        if kind == "time":
            if sp is None:
                lines.append(f"- {key}: no peer measured")
                continue
            ok = sp >= x
            lines.append(f"- {key}: {sp:.2f}x faster than the fastest peer ({t['fastest_peer']}); target >= {x}x: "
                         f"{'HOLDS' if ok else 'FAILS'}")
        else:
            rows = t["rows"]
            nm = rows.get("neuromap", {})
            peers = {k: v for k, v in rows.items() if k in PEERS and "peak_delta_mb" in v}
            if not nm.get("median_s") or not peers:
                lines.append(f"- {key}: incomplete")
                continue
            low = min(peers, key=lambda k: peers[k]["peak_delta_mb"])
            mem_ok = nm["peak_delta_mb"] <= peers[low]["peak_delta_mb"]
            rr = nm["roofline_ratio"]
            lines.append(f"- {key}: peak memory {nm['peak_delta_mb']:.0f} MB above baseline vs lowest peer {low} "
                         f"{peers[low]['peak_delta_mb']:.0f} MB: {'HOLDS' if mem_ok else 'FAILS'}; "
                         f"time {rr:.2f}x the roofline bound, target <= {x}x: {'HOLDS' if rr <= x else 'FAILS'}")
    return lines


def _load_verdict(load: list[float]) -> str:
    """Whether other jobs shared the cores: the run itself keeps about ``THREADS`` of them busy."""
    if max(load) > THREADS + 0.5:
        return "above the benchmark's own threads, other jobs shared the cores and every time is inflated."
    return "no other significant load."


def markdown(table: dict, machine: dict, meta: dict) -> str:
    out = [
        f"Benchmark run {meta['date']} on {meta['machine']} ({meta['cpu']}), torch {meta['torch']}, "
        f"{THREADS} threads; median over {meta['steps']} steps x {meta['rounds']} round(s) after {meta['warmup']} warm-up. "
        f"Generated by `python -m benchmarks.run`."
        + (f" 1-minute load average {meta['load_average'][0]:.1f} at the start and {meta['load_average'][1]:.1f} at the end "
           f"({os.cpu_count()} CPUs): " + _load_verdict(meta['load_average'])
           if "load_average" in meta else "")
        + (" The run was interrupted; only the workloads measured for every library are shown." if meta.get("interrupted")
           else ""),
        "",
        f"Machine limits measured in this run: {machine['gflops']:.0f} GFLOP/s (float32 {machine['matmul_n']}^3 matmul), "
        f"{machine['bandwidth_gbs']:.1f} GB/s (copy of {machine['copy_mib']} MiB).",
        f"`{machine['formula']}`; FLOPs and bytes per step are in the JSON (`benchmarks/workloads.py` documents them).",
        f"Event-driven bound: `{EVENT_FORMULA}` with the spike counts measured in the run "
        "(`benchmarks.workloads.event_cost`); the workload label gives the measured input / hidden spike density.",
        "",
        "| workload | library | s/step (median) | neuron-timesteps/s | neuromap speed-up | peak RSS MB (+ over baseline) "
        "| roofline ratio | event-bound ratio | semantics |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, t in table.items():
        w = t["workload"]
        label = f"{key} {w['name']} (bound {t['bound_s'] * 1e3:.1f} ms"
        act = t.get("activity")
        if t.get("event_bound_s") and act:
            label += (f"; event-driven bound {t['event_bound_s'] * 1e3:.1f} ms at densities "
                      f"{act['in_density']:.3f} / {act['hidden_density']:.3f}")
        label += ")"
        for lib, r in t["rows"].items():
            if "median_s" not in r:
                out.append(f"| {label} | {lib} | n/a | | | | | | {r['error']} |")
                continue
            sp = r.get("neuromap_speedup")
            sem = r["semantics"]
            v = r.get("verify")
            if v:
                sem += (f"; vs reference: spikes {'identical' if v['spikes_identical'] else 'DIFFER'}, "
                        f"losses {'identical' if v['losses_identical'] else 'DIFFER'}")
                d = v.get("vs_dense")
                if d:
                    sem += (f"; vs dense synapses: spikes {'identical' if d['spikes_identical'] else 'DIFFER'}, "
                            f"loss diff {d['max_abs_loss_diff']:.1e}, grad diff {d['max_abs_grad_diff']:.1e}")
            er = r.get("event_bound_ratio")
            out.append(
                f"| {label} | {lib} {r['version']} | {r['median_s'] * 1e3:.1f} ms | {r['neuron_timesteps_per_s']:.3g} | "
                f"{'' if sp is None else f'{sp:.2f}x'} | {r['peak_rss_mb']:.0f} (+{r['peak_delta_mb']:.0f}) | "
                f"{r['roofline_ratio']:.2f} | {'' if er is None else f'{er:.2f}'} | {sem} |"
            )
    out += ["", "neuromap speed-up = library time / neuromap time (> 1: neuromap faster).", "", "Targets:"]
    out += check_targets(table)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    from benchmarks.workloads import WORKLOADS

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    dev, rest = pre.parse_known_args(argv)
    if dev.device == "cuda":  # the GPU benchmark has its own workloads and options: python -m benchmarks.gpu --help
        from benchmarks.gpu import main as gpu_main

        return gpu_main(rest)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--libs", nargs="+", default=DEFAULT_LIBS)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--no-verify", action="store_true", help="skip neuromap's fused-vs-reference check")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--lib", help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.steps < 10:
        ap.error("--steps must be >= 10 (the issue asks for a median over >= 10 steps)")

    if a.worker:
        res = worker(a.lib, a.workload, a.steps, a.warmup, not a.no_verify)
        print("RESULT " + json.dumps(res))
        return 0

    import torch

    from benchmarks.roofline import measure

    # Build (or load) neuromap's compiled kernels once, outside any timed process.
    from neuromap.neurons import kernels

    kernels.load()
    print(f"neuromap C++ kernels: {kernels.status()}", flush=True)
    load_start = os.getloadavg()[0]  # other jobs on the machine slow every library, not equally
    print("measuring machine limits ...", flush=True)
    machine = measure(THREADS)
    print(f"  {machine['gflops']:.1f} GFLOP/s, {machine['bandwidth_gbs']:.1f} GB/s", flush=True)
    results: dict[str, dict[str, list]] = {k: {lib: [] for lib in a.libs} for k in a.workloads}
    interrupted = False
    try:
        for rnd in range(a.rounds):
            for key in a.workloads:
                for lib in a.libs:
                    if lib.endswith(":snntorch-reset") and not WORKLOADS[key].train:
                        results[key].pop(lib, None)
                        continue
                    missing = _available(lib)
                    if missing:
                        results[key][lib] = [{"error": missing}]
                        continue
                    args = ["--worker", "--lib", lib, "--workload", key, "--steps", str(a.steps), "--warmup", str(a.warmup)]
                    if a.no_verify or rnd > 0:
                        args.append("--no-verify")
                    t0 = time.perf_counter()
                    r = _spawn(args)
                    results[key][lib].append(r)
                    msg = f"{statistics.median(r['times_s']) * 1e3:8.1f} ms/step" if "times_s" in r else f"ERROR {r}"
                    print(f"[round {rnd + 1}] {key:7s} {lib:26s} {msg}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    except KeyboardInterrupt:  # Ctrl-C / SIGINT: keep the workloads measured for every library so far
        interrupted = True
        results = {k: v for k, v in results.items() if v and all(v.values())}
        print(f"interrupted: writing the complete workloads {list(results)}", flush=True)
    machine_end = measure(THREADS)
    machine["gflops"] = max(machine["gflops"], machine_end["gflops"])  # the best seen: noise only lowers it
    machine["bandwidth_gbs"] = max(machine["bandwidth_gbs"], machine_end["bandwidth_gbs"])
    table = summarise(results, machine)
    now = dt.datetime.now()
    meta = {
        "date": now.isoformat(timespec="seconds"),
        "machine": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": THREADS,
        "steps": a.steps,
        "warmup": a.warmup,
        "rounds": a.rounds,
        "neuromap_kernels": kernels.status(),
        "load_average": [load_start, os.getloadavg()[0]],
        "interrupted": interrupted,
    }
    try:
        with open("/proc/cpuinfo") as f:
            meta["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    a.out.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta, "machine": machine, "workloads": table, "raw": results, "targets": check_targets(table)}
    json_path = a.out / f"{now.strftime('%Y-%m-%d_%H%M%S')}.json"
    json_path.write_text(json.dumps(doc, indent=2))
    md = markdown(table, machine, meta)
    (a.out / "latest.md").write_text(md)
    print()
    print(md)
    print(f"wrote {json_path} and {a.out / 'latest.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
