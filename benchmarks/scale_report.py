"""The README's tables for large recurrent networks and the partitioner, from the committed JSONs of
``benchmarks.lsm_brian2``, ``benchmarks.reservoir_zoo`` and ``benchmarks.partition_bench`` (the latest
date of each; several ``lsm-brian2-<date>-<tag>.json`` of one date are read together).

    python -m benchmarks.scale_report    # writes benchmarks/results/scale-latest.md, then the README's blocks

``benchmarks.lsm_brian2``, ``benchmarks.reservoir_zoo`` and ``benchmarks.partition_bench`` call
:func:`publish` after writing their JSON, so each is one command from measurement to README;
``python -m tools.update_readme`` copies ``scale-latest.md`` between the ``bench-scale`` markers.
"""

from __future__ import annotations

import json
from pathlib import Path

from neuromap.atomic import write_text

RESULTS = Path(__file__).resolve().parent / "results"
LATEST = RESULTS / "scale-latest.md"


def _latest(prefix: str) -> list[Path]:
    """The result files ``<prefix><date>[-tag].json`` of the latest date."""
    files = sorted(RESULTS.glob(f"{prefix}*.json"))
    dated = [(f.name[len(prefix):len(prefix) + 10], f) for f in files if f.name[len(prefix):][:4].isdigit()]
    if not dated:
        return []
    day = max(d for d, _ in dated)
    return [f for d, f in dated if d == day]


def _s(v: float) -> str:
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def _mib(nm: dict) -> str:
    """neuromap's peak while simulating, and above its interpreter's baseline (Python, torch: ~0.4 GB)."""
    peak = nm.get("simulation_peak_rss_mb")
    if peak is None:
        return "n/a"
    return f"{peak:.0f} ({peak - nm['baseline_rss_mb']:.0f} above the interpreter)"


def brian2_table() -> list[str]:
    files = [f for f in _latest("lsm-brian2-") if not f.name.endswith("-quick.json")]  # not the smoke runs
    if not files:
        return ["No `benchmarks.lsm_brian2` result is committed yet."]
    runs = [json.loads(f.read_text()) for f in files]
    m = runs[0]["machine"]
    out = [f"`python -m benchmarks.lsm_brian2` ({', '.join(f.name for f in files)}): {m['cpu']} "
           f"({', '.join(m['cpu_flags'])}), {m['cpu_count']} CPUs, Brian2 {m['versions'].get('brian2')}, torch "
           f"{m['versions'].get('torch')}, commit {m['commit']}; " + "; ".join(r["load"] for r in runs) + ".",
           "1 s simulated at 0.1 ms (10,000 steps). One thread: CPU seconds of neuromap's `Reservoir.simulate` "
           "(compiled loop) against Brian2 cpp_standalone's main loop, which Brian2 measures as CPU time "
           "(`std::clock`) without OpenMP; two threads: wall seconds of both (Brian2: `omp_get_wtime`). Medians "
           "(min) over interleaved repeats; speed-up = Brian2 / neuromap; memory: peak RSS while simulating "
           "(neuromap's worker, after the network was built) and of Brian2's whole binary.", "",
           "| network | neurons / synapses | threads | neuromap s | Brian2 main loop s | speed-up | Brian2 process s "
           "(compile s) | neuromap / Brian2 MiB | rate neuromap / Brian2 (Hz) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    names = {"10k": "E/I reservoir, Poisson input", "100k": "E/I reservoir, Poisson input",
             "cuba": "Brian2's CUBA example (Brette et al. 2007)"}
    for run in runs:
        for case, r in run["cases"].items():
            nm = r["neuromap"]
            for k, row in r["by_threads"].items():
                a, b = row["neuromap_seconds"], row["brian2_main_loop_seconds"]
                out.append(
                    f"| {case}: {names.get(case, case)} | {r['neurons']:,} / {r['synapses']:,} | {k.split('_')[0]} | "
                    f"{_s(a['median'])} ({_s(a['min'])}) | {_s(b['median'])} ({_s(b['min'])}) | "
                    f"{row['speedup_vs_main_loop_median']:.2f}x | {_s(row['brian2_process_wall_seconds']['median'])} "
                    f"({row['brian2_compile_seconds']:.0f}) | {_mib(nm)} / "
                    f"{row['brian2_peak_rss_mb'] or float('nan'):.0f} | {nm['rate_hz']:.2f} / {row['brian2_rate_hz']:.2f} |")
    return out


def zoo_table() -> list[str]:
    files = _latest("reservoir-zoo-")
    if not files:
        return ["No `benchmarks.reservoir_zoo` result is committed yet."]
    run = json.loads(files[-1].read_text())
    out = [f"`python -m benchmarks.reservoir_zoo` ({files[-1].name}, {run['threads']} threads; {run['load']}): each "
           "experiment's own reservoir runs (every `simulate` call of one run of the experiment) with the "
           "sparse-matmul step loop that `simulate` ran on CPU batches before and with the compiled loop it runs "
           "now; `spinnaker2_lsm`: the SpiNNaker2 model (fp32) of a 20,000-neuron LSM over 200 steps, its step "
           "loop against the compiled loop. Medians over interleaved repeats; the spikes of both compared; the "
           "last column is the experiment's whole committed run (data and readout training included) for scale.",
           "",
           "| workload | step loop s | compiled s | speed-up | spikes identical | experiment wall s (committed run) |",
           "|---|---:|---:|---:|---|---:|"]
    for name, r in run["workloads"].items():
        if "failed" in r:
            out.append(f"| {name} | failed: {r['failed']} | | | | |")
            continue
        wall = r.get("experiment_wall_seconds_committed")
        out.append(f"| {name} | {_s(r['csr']['median'])} | {_s(r['compiled']['median'])} | {r['speedup_median']:.1f}x | "
                   f"{'yes' if r['spikes_identical'] else 'NO'} | {'' if wall is None else f'{wall:.0f}'} |")
    return out


def partition_table() -> list[str]:
    files = _latest("partition-")
    if not files or "scale" not in json.loads(files[-1].read_text()):
        return ["No `benchmarks.partition_bench` scale result is committed yet."]
    run = json.loads(files[-1].read_text())
    out = [f"`python -m benchmarks.partition_bench` ({files[-1].name}; {run['load']}): SpiNNaker2, `method=\"metis\"`, "
           "100 synapses per neuron; wall and CPU seconds of `partition()` (wall inflated by the load, CPU not), "
           "peak RSS of the process and its RSS before partitioning (the interpreter with torch, about 0.4 GB, "
           "and the network), the cores x cores traffic matrix the placer gets, and cProfile's largest stages "
           "(wall seconds).",
           "", "| network | synapses held | cores | partition s (CPU s) | peak RSS GB (before partitioning GB) | "
           "traffic entries | largest stages (s, profiled) |", "|---|---|---:|---:|---:|---:|---|"]
    for case, r in run["scale"].items():
        if "failed" in r:
            out.append(f"| {case} | | | failed | | | |")
            continue
        stages = sorted(r["stage_s_profiled"].items(), key=lambda kv: -kv[1])[:3]
        held = "CSR, 0.8 GB" if r["connectivity"] == "csr" else "none (generated)"
        desc = f"{case}: {r['neurons'] / 1e6:g} M neurons" + (f", window {r['window']:,}" if r.get("window") else "")
        out.append(f"| {desc} | {held} | {r['cores']:,} | {r['partition_place_s']:.1f} ({r['partition_cpu_s']:.1f}) | "
                   f"{r['peak_rss_gb']:.2f} ({r['rss_after_build_mb'] / 1024:.2f}) | {r.get('traffic_nnz', 0):,} | "
                   + ", ".join(f"{k} {v:.1f}" for k, v in stages) + " |")
    ex = run.get("extrapolated_uniform_10M") or {}
    if ex.get("partition_place_s") is not None:
        cpu = ex.get("partition_cpu_s")
        out.append(f"| uniform-10M (**extrapolated** from 1/2/4 M as a N + b N^2, not measured) | none | | "
                   f"{ex['partition_place_s']:.0f}" + (f" ({cpu:.0f})" if cpu is not None else "")
                   + f" | {ex['peak_rss_gb']:.1f} | {ex['traffic_nnz']:,.0f} | |")
    cmp = run.get("quality_vs_baseline")
    if cmp:
        worse = [r for r in cmp["rows"] if not r["not_worse"]]
        out += ["", f"Quality on the benchmark set against {cmp['baseline']}: metis cores and hop traffic not worse on "
                f"{len(cmp['rows']) - len(worse)} of the {len(cmp['rows'])} (net, target) pairs"
                + ("." if not worse else "; " + ", ".join(
                    f"{r['net']} on {r['target']}: hop {r['hop_traffic']:,.0f} vs {r['hop_traffic_baseline']:,.0f} "
                    f"({100 * (r['hop_traffic'] / r['hop_traffic_baseline'] - 1):+.2f} %)" for r in worse)
                   + ": the placement's refinement stops at its 10 s budget (`time_budget`), which a loaded machine "
                     "reaches after fewer swaps, so these rows vary from run to run.")]
    checks = _latest("partition-early-stop-")
    if checks:
        rows = json.loads(checks[-1].read_text())["rows"]
        out += ["", f"`python -m benchmarks.partition_bench --early-stop-check` ({checks[-1].name}): with a budget "
                "long enough to converge, metis on " + "; ".join(
                    f"{r['target']} gives hop {r['early_stop']['hop_traffic']:,.1f} with the refinement's early stop "
                    f"and {r['no_early_stop']['hop_traffic']:,.1f} without" for r in rows)
                + f" ({rows[0]['net']}): " + ("the early stop changes none of them." if all(r["same"] for r in rows)
                                              else "see the JSON.")]
    return out


def markdown() -> str:
    return "\n".join(["#### Recurrent networks against Brian2 cpp_standalone", "", *brian2_table(), "",
                      "#### The zoo's reservoir experiments", "", *zoo_table(), "",
                      "#### The partitioner at scale", "", *partition_table()])


def publish(path: Path = LATEST) -> None:
    """Write :func:`markdown` to ``path`` and rewrite the README's generated blocks from their sources."""
    from tools import update_readme

    write_text(path, markdown() + "\n")
    print(f"wrote {path}")
    update_readme.main([])


if __name__ == "__main__":
    publish()
