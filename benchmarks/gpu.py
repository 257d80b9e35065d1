"""GPU benchmark: ``python -m benchmarks.run --device cuda`` (or ``python -m benchmarks.gpu``).

neuromap (Triton kernels, and its PyTorch loop as ``neuromap:torch``), SpikingJelly 2.0 (its
default CUDA path, the fused Triton LIF kernel), snnTorch and Norse on one CUDA device, on the
network of :mod:`benchmarks.workloads` (700 -> 1024 -> 20, T = 100, Bernoulli(0.05) input):

    G1 LIF train batch 32     G2 LIF train batch 256
    G3 LIF infer batch 32     G4 LIF infer batch 256     G5 CuBa train batch 32

One step = forward over T (+ cross-entropy on the output spike counts, backward and Adam when
training). Every (library, workload) runs in a fresh process; the model is built on the device, 3
warm-up steps (Triton compiles then), then ``--steps`` timed steps, each bracketed by
``torch.cuda.synchronize()`` (host overhead included: it is part of a training step); the median is
reported. Peak GPU memory is ``torch.cuda.max_memory_allocated`` over the timed steps minus what
was allocated before them (parameters, optimiser state, data), i.e. the step's working memory.
Kernel launches per step are counted with ``torch.profiler`` (CUDA activity) over one step.

Roofline, measured in the same run (:func:`measure`): float32 matmul rate (``torch.mm`` of n x n,
n = 8192, TF32 off as in the workloads), copy bandwidth (1 GiB ``copy_``: bytes read + written),
launch cost (2000 back-to-back launches of a one-element add, per launch). Per workload:
``bound = max(FLOPs / rate, bytes / bandwidth, launches x launch cost)`` with FLOPs and bytes from
:func:`benchmarks.workloads.flops` / :func:`~benchmarks.workloads.min_bytes` and the library's own
measured launch count; ``roofline ratio = median time / bound``.

Output: ``benchmarks/results/gpu-<date>.json`` (or ``--out``) and ``gpu-latest.md`` beside it;
``python -m tools.update_readme`` copies the table into README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.workloads import WORKLOADS, Workload, flops, loss_fn, make_data, min_bytes

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_LIBS = ["neuromap", "neuromap:torch", "spikingjelly", "snntorch", "norse"]
PEERS = ("spikingjelly", "snntorch", "norse")
LIF_TRAIN, CUBA_TRAIN, LIF_INFER = WORKLOADS["W1"], WORKLOADS["W3"], WORKLOADS["W2-b32"]
GPU_WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        replace(LIF_TRAIN, key="G1", name="lif-train batch 32"),
        replace(LIF_TRAIN, key="G2", name="lif-train batch 256", batch=256),
        replace(LIF_INFER, key="G3", name="lif-infer batch 32"),
        replace(LIF_INFER, key="G4", name="lif-infer batch 256", batch=256),
        replace(CUBA_TRAIN, key="G5", name="cuba-train batch 32"),
    )
}
# Issue 19's speed targets: (workload, neuromap at least this many times faster, than each of these);
# and everywhere: peak GPU memory no higher than the lowest peer's.
TARGETS = [
    ("G1", 1.5, ("spikingjelly",)),
    ("G2", 1.5, ("spikingjelly",)),
    ("G5", 5.0, PEERS),
    ("G3", 1.0, ("spikingjelly",)),
]
FORMULA = (
    "bound = max(FLOPs / matmul_rate, bytes / bandwidth, launches x launch_cost); roofline_ratio = median_time / bound"
)


def measure(n: int = 8192, copy_mib: int = 1024, launches: int = 2000, reps: int = 5) -> dict:
    """The device's float32 matmul rate (FLOP/s), copy bandwidth (B/s, read + write) and launch cost (s)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")

    def best(fn, k=reps) -> float:
        fn()
        torch.cuda.synchronize()
        out = float("inf")
        for _ in range(k):
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            out = min(out, time.perf_counter() - t0)
        return out

    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    t_mm = best(lambda: torch.mm(a, b))
    src = torch.ones(copy_mib * 2**20 // 4, device=dev)
    dst = torch.empty_like(src)
    t_copy = best(lambda: dst.copy_(src))
    one = torch.zeros(1, device=dev)

    def many():
        for _ in range(launches):
            one.add_(1.0)

    t_launch = best(many, 3) / launches
    torch.cuda.empty_cache()
    return {
        "device": torch.cuda.get_device_name(),
        "matmul_n": n,
        "matmul_flops": 2 * n**3 / t_mm,
        "copy_mib": copy_mib,
        "bandwidth_bs": 2 * copy_mib * 2**20 / t_copy,
        "launch_s": t_launch,
        "formula": FORMULA,
    }


def bound_terms(w: Workload, launches: int | None, machine: dict) -> dict:
    terms = {
        "flops_s": flops(w) / machine["matmul_flops"],
        "bytes_s": min_bytes(w) / machine["bandwidth_bs"],
        "launch_s": (launches or 0) * machine["launch_s"],
    }
    return {**terms, "bound_s": max(terms.values())}


def time_on_gpu(step, steps: int, warmup: int) -> tuple[list[float], int, int]:
    """``(per-step wall times in s, bytes allocated before, peak bytes)`` of ``step()`` on the GPU,
    synchronised around every step, after ``warmup`` untimed calls."""
    import torch

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times, base, torch.cuda.max_memory_allocated()


def count_launches(step) -> int | None:
    """CUDA kernels launched by one call of ``step`` (torch.profiler; None where CUPTI is unavailable)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    try:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
            torch.cuda.synchronize()
        return sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    except Exception:  # no CUPTI here: the bound then has no launch term, and the JSON says so
        return None


def _verify(w: Workload) -> dict:
    """neuromap's Triton path vs its PyTorch loop on the device: two training steps (or one
    forward) from the same initialisation; spikes and losses compared bit for bit."""
    import torch

    from benchmarks.peers.neuromap_adapter import build_mlp
    from neuromap.neurons import kernels

    x, y = (t.cuda() for t in make_data(w, seed=0))
    runs = {}
    for impl in ("triton", "torch"):
        with torch.device("cuda"):
            model = build_mlp(w)
        opt = torch.optim.Adam(model.parameters(), lr=w.lr)
        outs, losses, grads = [], [], []
        with kernels.use(impl):
            for _ in range(2 if w.train else 1):
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
    (o1, l1, g1), (o2, l2, g2) = runs["triton"], runs["torch"]
    diff = max((float((a - b).abs().max()) for ga, gb in zip(g1, g2) for a, b in zip(ga, gb)), default=0.0)
    return {
        "steps_compared": len(o1),
        "spikes_identical": all(bool(torch.equal(a, b)) for a, b in zip(o1, o2)),
        "losses_identical": all(bool(torch.equal(a, b)) for a, b in zip(l1, l2)),
        "max_abs_grad_diff": diff,
        "output_spikes": int(o1[0].sum()),
    }


def worker(lib: str, key: str, steps: int, warmup: int, verify: bool) -> dict:
    """One (library, workload) measurement on the CUDA device, in this (fresh) process."""
    import torch

    from benchmarks import peers

    torch.backends.cuda.matmul.allow_tf32 = False
    name, _, variant = lib.partition(":")
    w = GPU_WORKLOADS[key]
    adapter = peers.load(name)
    x, y = (t.cuda() for t in make_data(w, seed=0))
    torch.manual_seed(0)
    with torch.device("cuda"):  # every library builds its layers and constants on the device
        model = adapter.build(w, variant)
    opt = torch.optim.Adam(model.parameters, lr=w.lr) if w.train else None

    def step() -> None:  # the adapter selects neuromap's implementation (Triton by default on CUDA)
        model.reset()
        if w.train:
            opt.zero_grad(set_to_none=True)
            loss_fn(model.forward(x), y).backward()
            opt.step()
        else:
            with torch.no_grad():
                model.forward(x)

    times, base, peak = time_on_gpu(step, steps, warmup)
    out = {
        "lib": lib,
        "version": adapter.version(),
        "workload": key,
        "semantics": adapter.SEMANTICS[variant],
        "times_s": times,
        "peak_mb": peak / 2**20,
        "peak_delta_mb": (peak - base) / 2**20,
        "launches_per_step": count_launches(step),
    }
    if name == "neuromap":
        from neuromap.neurons import triton_kernels

        out["triton"] = triton_kernels.unavailable() or "used"
        if verify and not variant:
            try:
                out["verify"] = _verify(w)
            except Exception as exc:  # keep the timing; say why the check could not run
                out["verify_error"] = f"{type(exc).__name__}: {exc}"
    return out


def _spawn(args: list[str]) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.gpu", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:] or ["no output"]
    return {"error": " | ".join(tail), "returncode": proc.returncode}


def summarise(results: dict, machine: dict) -> dict:
    table = {}
    for key, libs in results.items():
        w = GPU_WORKLOADS[key]
        rows = {}
        for lib, r in libs.items():
            if "times_s" not in r:
                rows[lib] = {"error": r.get("error", "not run")}
                continue
            med = statistics.median(r["times_s"])
            terms = bound_terms(w, r.get("launches_per_step"), machine)
            rows[lib] = {
                "version": r["version"],
                "semantics": r["semantics"],
                "median_s": med,
                "n_steps": len(r["times_s"]),
                "neuron_timesteps_per_s": w.neuron_timesteps / med,
                "peak_mb": r["peak_mb"],
                "peak_delta_mb": r["peak_delta_mb"],
                "launches_per_step": r.get("launches_per_step"),
                "bound": terms,
                "roofline_ratio": med / terms["bound_s"],
                **{k: r[k] for k in ("verify", "verify_error", "triton") if k in r},
            }
        nm = rows.get("neuromap", {}).get("median_s")
        for r in rows.values():
            if nm and "median_s" in r:
                r["neuromap_speedup"] = r["median_s"] / nm  # > 1: neuromap is faster
        table[key] = {"workload": {**w.to_dict(), "key": key}, "rows": rows}
    return table


def check_targets(table: dict) -> list[str]:
    """Issue 19's verdicts: speed-ups against the named peers, and peak memory against the lowest peer."""
    lines = []
    for key, factor, against in TARGETS:
        rows = table.get(key, {}).get("rows", {})
        nm = rows.get("neuromap", {}).get("median_s")
        peers = {p: rows[p]["median_s"] for p in against if "median_s" in rows.get(p, {})}
        if not nm or not peers:
            lines.append(f"- {key}: not measured (neuromap or {', '.join(against)} missing)")
            continue
        worst = min(peers, key=peers.get)
        sp = peers[worst] / nm
        lines.append(
            f"- {key}: neuromap {nm * 1e3:.2f} ms, {sp:.2f}x faster than {worst} ({peers[worst] * 1e3:.2f} ms); "
            f"target >= {factor}x against {', '.join(against)}: {'HOLDS' if sp >= factor else 'FAILS'}"
        )
    for key, t in table.items():
        rows = t["rows"]
        nm = rows.get("neuromap", {}).get("peak_delta_mb")
        peers = {p: rows[p]["peak_delta_mb"] for p in PEERS if "peak_delta_mb" in rows.get(p, {})}
        if nm is None or not peers:
            continue
        low = min(peers, key=peers.get)
        ok = nm <= peers[low]
        lines.append(
            f"- {key} memory: neuromap {nm:.1f} MB vs lowest peer {low} {peers[low]:.1f} MB: {'HOLDS' if ok else 'FAILS'}"
        )
    return lines


def markdown(table: dict, machine: dict, meta: dict) -> str:
    out = [
        f"GPU benchmark run {meta['date']} on {machine['device']}, torch {meta['torch']}, Triton {meta['triton']}; "
        f"median over {meta['steps']} steps after {meta['warmup']} warm-up. Generated by "
        "`python -m benchmarks.run --device cuda`.",
        "",
        f"Device limits measured in this run: {machine['matmul_flops'] / 1e12:.1f} TFLOP/s (float32 "
        f"{machine['matmul_n']}^3 matmul, no TF32), {machine['bandwidth_bs'] / 1e12:.2f} TB/s (copy of "
        f"{machine['copy_mib']} MiB, read + write), {machine['launch_s'] * 1e6:.1f} us per kernel launch.",
        f"`{machine['formula']}`; FLOPs and bytes per step are in the JSON (`benchmarks/workloads.py`).",
        "",
        "| workload | library | ms/step (median) | neuromap speed-up | peak GPU MB (step) | launches | "
        "bound ms (flops / bytes / launches) | roofline ratio |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for key, t in table.items():
        label = f"{key} {t['workload']['name']}"
        for lib, r in t["rows"].items():
            if "median_s" not in r:
                out.append(f"| {label} | {lib} | n/a ({r['error']}) | | | | | |")
                continue
            sp = r.get("neuromap_speedup")
            b = r["bound"]
            ver = r["version"].split(" ")[0]
            out.append(
                f"| {label} | {lib} {ver} | {r['median_s'] * 1e3:.2f} | {'' if sp is None else f'{sp:.2f}x'} | "
                f"{r['peak_delta_mb']:.1f} | {r['launches_per_step'] if r['launches_per_step'] is not None else 'n/a'} | "
                f"{b['bound_s'] * 1e3:.3f} ({b['flops_s'] * 1e3:.3f} / {b['bytes_s'] * 1e3:.3f} / "
                f"{b['launch_s'] * 1e3:.3f}) | {r['roofline_ratio']:.1f} |"
            )
    out += ["", "neuromap speed-up = library time / neuromap time (> 1: neuromap faster).", "", "Targets (issue 19):"]
    out += check_targets(table)
    verify = [
        f"{k}: spikes {'identical' if v['spikes_identical'] else 'DIFFER'}, losses "
        f"{'identical' if v['losses_identical'] else 'DIFFER'}, max |grad diff| {v['max_abs_grad_diff']:.2e}"
        for k, t in table.items()
        if (v := t["rows"].get("neuromap", {}).get("verify"))
    ]
    if verify:
        out += ["", "neuromap Triton path vs its PyTorch loop on the device: " + "; ".join(verify) + "."]
    return "\n".join(out) + "\n"


def run(workloads: list[str], libs: list[str], steps: int, warmup: int, out_dir: Path, verify: bool = True) -> int:
    """The whole GPU sweep; writes the JSON and ``gpu-latest.md`` under ``out_dir``."""
    import torch

    if not torch.cuda.is_available():
        print("benchmarks --device cuda: no CUDA device is available here", file=sys.stderr)
        return 2
    import importlib.util

    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "not installed"
    print("measuring device limits ...", flush=True)
    machine = measure()
    print(
        f"  {machine['device']}: {machine['matmul_flops'] / 1e12:.1f} TFLOP/s fp32, "
        f"{machine['bandwidth_bs'] / 1e12:.2f} TB/s, {machine['launch_s'] * 1e6:.1f} us/launch",
        flush=True,
    )
    results: dict[str, dict] = {k: {} for k in workloads}
    for key in workloads:
        for lib in libs:
            mod = lib.split(":")[0]
            if importlib.util.find_spec(mod) is None:
                results[key][lib] = {"error": f"{mod} is not installed"}
                continue
            args = ["--worker", "--lib", lib, "--workload", key, "--steps", str(steps), "--warmup", str(warmup)]
            if not verify:
                args.append("--no-verify")
            t0 = time.perf_counter()
            r = _spawn(args)
            results[key][lib] = r
            out_dir.mkdir(parents=True, exist_ok=True)  # what is measured so far, should the run be cut short
            _atomic_write(out_dir / "gpu-partial.json", json.dumps({"machine": machine, "raw": results}, indent=2))
            msg = f"{statistics.median(r['times_s']) * 1e3:8.2f} ms/step" if "times_s" in r else f"ERROR {r['error']}"
            print(f"{key} {lib:16s} {msg}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    table = summarise(results, machine)
    now = dt.datetime.now()
    meta = {
        "date": now.isoformat(timespec="seconds"),
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": triton_version,
        "steps": steps,
        "warmup": warmup,
    }
    doc = {"meta": meta, "machine": machine, "workloads": table, "raw": results, "targets": check_targets(table)}
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"gpu-{now.strftime('%Y-%m-%d_%H%M%S')}.json"
    _atomic_write(json_path, json.dumps(doc, indent=2))
    md = markdown(table, machine, meta)
    _atomic_write(out_dir / "gpu-latest.md", md)
    print()
    print(md)
    print(f"wrote {json_path} and {out_dir / 'gpu-latest.md'}")
    return 0


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", nargs="+", default=list(GPU_WORKLOADS), choices=list(GPU_WORKLOADS))
    ap.add_argument("--libs", nargs="+", default=DEFAULT_LIBS)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-verify", action="store_true", help="skip neuromap's Triton-vs-PyTorch check")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--lib", help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.steps < 10:
        ap.error("--steps must be >= 10 (the issue asks for a median over >= 10 steps)")
    if a.worker:
        print("RESULT " + json.dumps(worker(a.lib, a.workload, a.steps, a.warmup, not a.no_verify)))
        return 0
    return run(a.workloads, a.libs, a.steps, a.warmup, a.out, not a.no_verify)


if __name__ == "__main__":
    sys.exit(main())
