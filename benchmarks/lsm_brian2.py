"""neuromap's compiled recurrent loop vs Brian2 cpp_standalone on the same networks, 1 and 2 threads.

    python -m benchmarks.lsm_brian2                          # every case, 3 interleaved repeats
    python -m benchmarks.lsm_brian2 --cases 10k cuba --repeats 5 --threads 1 2
    python -m benchmarks.lsm_brian2 --quick                  # 10k and cuba, 0.2 s simulated, 1 repeat

Cases (each simulated for 1 s at dt = 0.1 ms: 10,000 steps):

* ``10k``: 10,000 CuBa-LIF neurons, 80 % excitatory / 20 % inhibitory, 2 % random connectivity
  (2.0 M synapses), current jumps 0.02 / -0.1, tau_mem 20 ms, tau_syn 5 ms, threshold 1, reset to 0,
  2 ms refractory, and independent Poisson input (1,000 sources of 5 Hz, weight 0.04) to every neuron;
* ``100k``: the same neurons and input at 100,000 neurons and 0.2 % connectivity (20 M synapses);
* ``cuba``: Brian2's own benchmark network, ``examples/CUBA.py`` of the Brian2 repository (Brette et al.
  2007, J. Comput. Neurosci. 23:349, benchmark 2): 4,000 neurons (3,200 excitatory), 2 % connectivity,
  excitatory / inhibitory currents with 5 / 10 ms time constants, v from El = -49 mV towards a -50 mV
  threshold, reset to -60 mV, 5 ms refractory, initial v uniform in [-60, -50) mV. Brian2 runs the
  example as it ships (``method="linear"``, exact integration); neuromap runs the same parameters as
  ``CubaEIParams`` (exponential-Euler discretisation, the one Brian2's ``exponential_euler`` gives
  spike for spike, ``tests/test_reservoir_compiled.py``) on a network drawn the same way (every ordered
  pair, self-pairs included, with probability 0.02).

The 10k / 100k networks are built once by neuromap (same seed in both processes) and handed to Brian2
through ``neuromap.backends.brian2`` (its ``NeuronGroup`` / ``Synapses`` / ``PoissonInput``; Brian2 draws
the Poisson sum as a binomial of the same mean).

What is timed, per repeat, interleaved (neuromap 1 thread, Brian2 1 thread, neuromap 2 threads, ...):
neuromap's ``Reservoir.simulate`` (the compiled loop, spikes recorded as events) in a persistent worker
process, after a warm-up call; Brian2 cpp_standalone's binary, compiled once per thread count
(``devices.cpp_standalone.openmp_threads``; compile time reported separately), its main loop as Brian2
reports it (``last_run_info.txt``: ``Network.run`` only) and the whole process (loading its arrays, building
the synapses, the run, writing results). Memory (MiB): neuromap's worker peak RSS while it builds the
network and while it simulates (``/proc`` high-water mark, reset in between; its baseline after imports
is reported too) and Brian2's binary's peak RSS (which includes building its synapses from the arrays).
Mean rates must agree (within 5 %; 10 % for ``cuba``, whose
discretisations differ). Writes ``benchmarks/results/lsm-brian2-<date>.json`` with the machine, CPU flags
and versions, and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from benchmarks import machine, scale_report
from neuromap.atomic import write_text
from neuromap.networks.lsm import Connectivity, Reservoir, bernoulli_indices, random_connectivity
from neuromap.neurons import CubaEIParams, CubaLIFParams, NeuronState, initial_state

PARAMS = CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, dt=1e-4, v_th=1.0, v_reset=0.0, reset="zero",
                       refractory_steps=20, decay_input=True, integrator="exp")
W_EXC, W_INH = 0.02, -0.1
POISSON = (1000, 5.0, 0.04)  # sources per neuron, rate (Hz), weight
CASES = {"10k": (10_000, 0.02), "100k": (100_000, 0.002), "cuba": (4_000, 0.02)}
# Brian2's examples/CUBA.py, in neuromap's units (mV, s): refractory 5 ms = (R + 1) dt (backends/brian2.py)
CUBA = CubaEIParams(tau_mem=20e-3, tau_syn=5e-3, tau_syn_inh=10e-3, dt=1e-4, v_th=-50.0, v_reset=-60.0, v_leak=-49.0,
                    reset="zero", refractory_steps=49, decay_input=True, integrator="exp")
CUBA_WE, CUBA_WI, CUBA_NE = 60 * 0.27 / 10, -20 * 4.5 / 10, 3200  # mV; excitatory neurons are i < 3200
RESULTS = Path(__file__).resolve().parent / "results"


# ------------------------------------------------------------------------------------------------ networks
def build(case: str, seed: int = 0) -> Reservoir:
    """The neuromap network of ``case`` (deterministic in ``seed``)."""
    n, p = CASES[case]
    if case == "cuba":
        rng = np.random.default_rng(seed)
        idx = bernoulli_indices(rng, n * n, p)  # every ordered pair, self-pairs included (Brian2's connect(p=))
        pre, post = np.divmod(idx, n)
        w = np.where(pre < CUBA_NE, CUBA_WE, CUBA_WI)
        con = Connectivity(sp.csr_matrix((w, (post, pre)), shape=(n, n)), np.arange(n) >= CUBA_NE)
        return Reservoir(1, con, CUBA, input_weight=0.0, input_fraction=0.0, seed=seed)
    con = random_connectivity(n, p, W_EXC, W_INH, inhibitory_fraction=0.2, seed=seed)
    return Reservoir(1, con, PARAMS, input_weight=0.0, input_fraction=0.0, seed=seed)


def initial(case: str, res: Reservoir, seed: int = 0) -> NeuronState:
    """Resting state, or for ``cuba`` the example's ``v = Vr + rand() * (Vt - Vr)``."""
    st = initial_state(res.params, (1, res.n), torch.float64 if case == "cuba" else torch.float32)
    if case == "cuba":
        v = np.random.default_rng(seed + 1).uniform(CUBA.v_reset, CUBA.v_th, res.n)
        st.v.copy_(torch.from_numpy(v).reshape(1, -1))
    return st


def _reset_peak() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux >= 4.0: ``/proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process in MiB. Not ``ru_maxrss``: a spawned process
    inherits its parent's high-water mark there."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


# ------------------------------------------------------------------------------------------------ neuromap worker
def worker(case: str, steps: int) -> None:
    """A persistent process: builds the network, then answers ``run <threads>`` lines with JSON timings."""
    from neuromap.neurons import kernels

    kernels.ensure_built()
    baseline = _status_mb("VmRSS")
    t0 = time.perf_counter()
    res = build(case)
    res.fanout()  # the event-driven tables, built once (as Brian2 builds its synapses outside its main loop)
    build_s = time.perf_counter() - t0
    poisson = None if case == "cuba" else POISSON
    dtype = torch.float64 if case == "cuba" else torch.float32
    u = torch.zeros(steps, 1, 1, dtype=dtype)
    res.simulate(u[:20], state=initial(case, res), poisson=poisson, raster=False)  # warm-up: loads, imports
    build_peak, after_build = _status_mb("VmHWM"), _status_mb("VmRSS")
    reset = _reset_peak()  # from here VmHWM is the simulation's own peak
    print(json.dumps({"ready": True, "build_s": build_s, "synapses": res.connectivity.n_synapses,
                      "baseline_rss_mb": baseline, "build_peak_rss_mb": build_peak, "rss_after_build_mb": after_build,
                      "peak_reset": reset, "tables_mb": res.fanout().nbytes(dtype) / 2**20}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        threads = int(cmd[1])
        torch.set_num_threads(threads)
        st = initial(case, res)
        c0, t0 = time.process_time(), time.perf_counter()
        out = res.simulate(u, state=st, poisson=poisson, seed=0, raster=False, threads=threads)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "spikes": int(out.events.numel())}), flush=True)
    print(json.dumps({"peak_rss_mb": _status_mb("VmHWM"), "baseline_rss_mb": baseline}), flush=True)


class Worker:
    """The parent's handle on a :func:`worker` process."""

    def __init__(self, case: str, steps: int) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "benchmarks.lsm_brian2", "--worker", case, "--steps",
                                   str(steps)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"the neuromap worker exited (code {self.p.wait()})")
        return json.loads(line)

    def run(self, threads: int) -> dict:
        self.p.stdin.write(f"run {threads}\n")
        self.p.stdin.flush()
        return self._read()

    def close(self) -> dict:
        self.p.stdin.write("quit\n")
        self.p.stdin.flush()
        out = self._read()
        self.p.wait()
        return out


# ------------------------------------------------------------------------------------------------ Brian2
def _brian2_cuba(b2, steps: int):
    """Brian2's examples/CUBA.py as it ships (its network, its units, ``method="linear"``)."""
    ms, mV = b2.ms, b2.mV
    taum, taue, taui = 20 * ms, 5 * ms, 10 * ms  # noqa: F841 - read by Brian2 from this namespace
    Vt, Vr, El = -50 * mV, -60 * mV, -49 * mV  # noqa: F841
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = b2.NeuronGroup(4000, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms, method="linear",
                       namespace=locals())
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge = 0 * mV
    P.gi = 0 * mV
    we = (60 * 0.27 / 10) * mV  # excitatory synaptic weight (voltage)
    wi = (-20 * 4.5 / 10) * mV  # inhibitory synaptic weight
    Ce = b2.Synapses(P, P, on_pre="ge += we", namespace={"we": we})
    Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace={"wi": wi})
    Ce.connect("i<3200", p=0.02)
    Ci.connect("i>=3200", p=0.02)
    mon = b2.SpikeMonitor(P)
    return [P, Ce, Ci, mon], mon


def brian2_project(case: str, res: Reservoir | None, steps: int, threads: int) -> dict:
    """Generate and compile Brian2's cpp_standalone project for ``case``; run it once through Brian2 for
    its spike count. Returns the project's directory, compile time and the spikes of that run."""
    import brian2 as b2

    from neuromap.backends import brian2 as nb

    directory = tempfile.mkdtemp(prefix=f"neuromap-b2-{case}-{threads}t-")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads if threads > 1 else 0
    try:
        b2.seed(0)
        if case == "cuba":
            objs, mon = _brian2_cuba(b2, steps)
        else:
            objs, _, mon = nb.reservoir_objects(res, np.zeros((steps, 1)), external_poisson=POISSON)
        net = b2.Network(*objs)
        net.run(steps * 1e-4 * b2.second, namespace={})
        t0 = time.perf_counter()
        b2.device.build(directory=directory, compile=True, run=False)
        compile_s = time.perf_counter() - t0
        b2.device.run(directory=directory)
        spikes = int(len(mon.i))
    finally:
        b2.device.reinit()
        b2.device.activate()
        b2.set_device("runtime")
        b2.prefs.devices.cpp_standalone.openmp_threads = 0
    return {"directory": directory, "compile_s": compile_s, "spikes": spikes}


TIME = "/usr/bin/time"  # GNU time: the binary's own peak RSS (its fork from a small process inherits no high-water mark)


def run_binary(directory: str) -> dict:
    """Run a compiled project's ``main`` once: process wall and CPU seconds, Brian2's main-loop seconds
    (``std::clock`` CPU time without OpenMP, ``omp_get_wtime`` wall time with it: Brian2's
    ``network.cpp``), peak RSS (None without GNU time)."""
    results = os.path.join(directory, "results", "")
    rss_file = os.path.join(directory, "peak_rss_kib")
    cmd = ["./main", "--results_dir", results]
    if os.access(TIME, os.X_OK):
        cmd = [TIME, "-f", "%M", "-o", rss_file, *cmd]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=directory, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"Brian2's binary in {directory} failed")
    with open(os.path.join(results, "last_run_info.txt")) as f:
        loop_s = float(f.read().split()[0])
    rss = None
    if os.path.exists(rss_file):
        with open(rss_file) as f:
            rss = int(f.read().split()[-1]) / 1024
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "main_loop_seconds": loop_s,
            "peak_rss_mb": rss}


# ------------------------------------------------------------------------------------------------ the run
def _stats(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "all": values}


def run_case(case: str, steps: int, repeats: int, threads: list[int]) -> dict:
    """Interleaved repeats of neuromap and Brian2 on one case."""
    print(f"[{case}] building ...", flush=True)
    nm = Worker(case, steps)
    res = None if case == "cuba" else build(case)
    projects = {t: brian2_project(case, res, steps, t) for t in threads}
    del res
    nm_runs: dict[int, list[dict]] = {t: [] for t in threads}
    b2_runs: dict[int, list[dict]] = {t: [] for t in threads}
    for r in range(repeats):
        for t in threads:
            out = nm.run(t)
            nm_runs[t].append(out)
            b = run_binary(projects[t]["directory"])
            b2_runs[t].append(b)
            print(f"[{case}] repeat {r + 1}/{repeats}, {t} thread(s): neuromap {out['seconds']:.3f} s wall / "
                  f"{out['cpu_seconds']:.3f} s CPU, Brian2 main loop {b['main_loop_seconds']:.3f} s (process "
                  f"{b['seconds']:.3f} s wall)", flush=True)
    mem = nm.close()
    n, _ = CASES[case]
    duration = steps * 1e-4
    rows = {}
    for t in threads:
        # like for like: Brian2's main loop is CPU time on one thread, wall time with OpenMP
        metric = "cpu_seconds" if t == 1 else "seconds"
        nm_t = _stats([o[metric] for o in nm_runs[t]])
        b2_t = _stats([b["main_loop_seconds"] for b in b2_runs[t]])
        rss = [b["peak_rss_mb"] for b in b2_runs[t] if b["peak_rss_mb"] is not None]
        rows[f"{t}_thread{'s' if t > 1 else ''}"] = {
            "compared": "CPU seconds (Brian2: std::clock)" if t == 1 else "wall seconds (Brian2: omp_get_wtime)",
            "neuromap_seconds": nm_t,
            "brian2_main_loop_seconds": b2_t,
            "neuromap_wall_seconds": _stats([o["seconds"] for o in nm_runs[t]]),
            "brian2_process_wall_seconds": _stats([b["seconds"] for b in b2_runs[t]]),
            "brian2_process_cpu_seconds": _stats([b["cpu_seconds"] for b in b2_runs[t]]),
            "brian2_compile_seconds": projects[t]["compile_s"],
            "brian2_peak_rss_mb": max(rss) if rss else None,
            "speedup_vs_main_loop_median": b2_t["median"] / nm_t["median"],
            "speedup_vs_main_loop_min": b2_t["min"] / nm_t["min"],
            "brian2_rate_hz": projects[t]["spikes"] / n / duration,
        }
    nm_spikes = {o["spikes"] for runs in nm_runs.values() for o in runs}
    nm_rate = max(nm_spikes) / n / duration
    b2_rate = statistics.mean(r["brian2_rate_hz"] for r in rows.values())
    tol = 0.10 if case == "cuba" else 0.05
    return {
        "neurons": n, "synapses": nm.info["synapses"], "steps": steps, "duration_s": duration,
        "neuromap": {"build_s": nm.info["build_s"], "tables_mb": nm.info["tables_mb"],
                     "peak_rss_mb": max(mem["peak_rss_mb"], nm.info["build_peak_rss_mb"]),
                     "build_peak_rss_mb": nm.info["build_peak_rss_mb"], "rss_after_build_mb": nm.info["rss_after_build_mb"],
                     "simulation_peak_rss_mb": mem["peak_rss_mb"] if nm.info["peak_reset"] else None,
                     "baseline_rss_mb": mem["baseline_rss_mb"],
                     "rate_hz": nm_rate, "same_spikes_every_run": len(nm_spikes) == 1},
        "by_threads": rows,
        "checks": {
            "rates_agree": abs(nm_rate - b2_rate) <= tol * b2_rate, "rate_tolerance": tol,
            **{f"neuromap_at_or_below_brian2_main_loop_{k}": v["neuromap_seconds"]["median"]
               <= v["brian2_main_loop_seconds"]["median"] for k, v in rows.items()},
        },
    }


def _table(result: dict) -> str:
    lines = [f"{'case':<6}{'threads':>8}{'neuromap s':>12}{'Brian2 loop s':>15}{'process s':>11}{'speed-up':>10}"
             f"{'nm MB':>8}{'B2 MB':>8}{'rates Hz':>16}   (1 thread: CPU seconds, 2: wall seconds; medians; nm MB: "
             "neuromap's peak while simulating)"]
    for case, r in result["cases"].items():
        nm_mb = r["neuromap"]["simulation_peak_rss_mb"] or float("nan")
        for k, row in r["by_threads"].items():
            lines.append(f"{case:<6}{k.split('_')[0]:>8}{row['neuromap_seconds']['median']:>12.3f}"
                         f"{row['brian2_main_loop_seconds']['median']:>15.3f}{row['brian2_process_wall_seconds']['median']:>11.3f}"
                         f"{row['speedup_vs_main_loop_median']:>9.2f}x{nm_mb:>8.0f}"
                         f"{row['brian2_peak_rss_mb'] or float('nan'):>8.0f}{r['neuromap']['rate_hz']:>8.2f}/"
                         f"{row['brian2_rate_hz']:<7.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--quick", action="store_true", help="10k and cuba, 0.2 s, one repeat (a smoke run)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--tag", default="", help="suffix of the JSON's name (runs of different cases on one day)")
    ap.add_argument("--worker", choices=list(CASES), help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker, a.steps)
        return 0
    if a.quick:  # a smoke run: tagged, so the README's table never shows it
        a.cases, a.repeats, a.duration, a.tag = ["10k", "cuba"], 1, 0.2, "quick"
    steps = int(round(a.duration / 1e-4))
    info = machine.describe()
    load_start = os.getloadavg()[0]
    cases = {c: run_case(c, steps, a.repeats, a.threads) for c in a.cases}
    load_end = os.getloadavg()[0]
    result = {"benchmark": "lsm_brian2", "machine": info, "load": machine.load_note(load_start, load_end, max(a.threads)),
              "load_average": [load_start, load_end], "repeats": a.repeats, "threads": a.threads,
              "neuron_10k_100k": PARAMS.to_dict(), "poisson_10k_100k": POISSON, "neuron_cuba": CUBA.to_dict(),
              "timing": "neuromap: Reservoir.simulate (compiled loop, events recorded) after a warm-up call, in a "
                        "persistent worker; Brian2: cpp_standalone binary, main loop from last_run_info.txt "
                        "(Network.run only: std::clock CPU time without OpenMP, omp_get_wtime wall time with it), "
                        "so 1 thread compares CPU seconds and 2 threads wall seconds; interleaved; min and median "
                        "over repeats",
              "cases": cases}
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"lsm-brian2-{_dt.date.today().isoformat()}{'-' + a.tag if a.tag else ''}.json"
    write_text(path, json.dumps(result, indent=1) + "\n")
    print(_table(result))
    print(result["load"])
    print(f"wrote {path}")
    if not a.quick and a.out.resolve() == RESULTS.resolve():
        scale_report.publish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
