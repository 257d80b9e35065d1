"""GPU benchmark of the step loops that cannot be one kernel: the EGRU recurrence and the LSM reservoir.

    python -m benchmarks.gpu_loops --out benchmarks/results/gpu-loops.json

Workloads (one CUDA device, float32, TF32 off):

    E1 EGRU LM train    CharLM(vocab 64, embedding 64, hidden 512), T = 100, batch 32: forward, cross
                        entropy, backward, Adam
    E2 EGRU LM infer    the same model, forward only (no gradient)
    L1 LSM reservoir    Reservoir on a 20 x 20 x 10 Maass grid (4,000 LIF neurons, zero reset,
                        lambda 3: ~30 synapses each), 16 Bernoulli(0.1) input channels, T = 500,
                        batch 32 (about 0.14 spikes per neuron and step)

Variants: ``neuromap`` is the default on CUDA (EGRU: the recurrent matmul plus one fused Triton kernel
per step, forward and backward; reservoir: one fused Triton kernel per step, CSR gather + neuron
update). The plain PyTorch loops: ``neuromap:torch`` (the same modules under
``kernels.use("torch")``: the EGRU cell's per-step PyTorch ops; the reservoir's sparse matmul +
PyTorch step) and, written out here, ``torch-dense`` (reservoir: dense recurrent matmul and the LIF
update in PyTorch ops, what one would write by hand). ``gru-cudnn`` (``torch.nn.GRU``, one cuDNN
call for all steps, dense activity) is the reference for what a recurrent layer of this size costs
when nothing is event-based.

Per variant: 2 warm-up steps (Triton compiles), then ``--steps`` timed steps each bracketed by
``torch.cuda.synchronize()``; the median, the step's peak memory above what was allocated before,
kernel launches per step (``torch.profiler``) and the launch floor (launches x the launch cost
measured in the same run). Also in the JSON: the Triton paths against the PyTorch loops on the device
(EGRU logits and gradients after one training step; reservoir spikes), and whether a training step
(EGRU) / a ``simulate`` (reservoir) can be captured as a CUDA graph and compiled with
``torch.compile``, each check recording its exception instead of stopping the others.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class LoopWorkload:
    key: str
    name: str
    T: int
    batch: int
    train: bool


WORKLOADS = {
    "E1": LoopWorkload("E1", "egru-lm train (hidden 512, T 100)", 100, 32, True),
    "E2": LoopWorkload("E2", "egru-lm infer (hidden 512, T 100)", 100, 32, False),
    "L1": LoopWorkload("L1", "lsm reservoir (4000 LIF, T 500)", 500, 32, False),
}
VARIANTS = {"E1": ("neuromap", "neuromap:torch", "gru-cudnn"), "E2": ("neuromap", "neuromap:torch", "gru-cudnn"),
            "L1": ("neuromap", "neuromap:torch", "torch-dense")}
VOCAB, EMBED, HIDDEN, GRID, N_IN = 64, 64, 512, (20, 20, 10), 16


def _impl(variant: str):
    from neuromap.neurons import kernels

    return kernels.use("torch") if variant == "neuromap:torch" else contextlib.nullcontext()


def _char_lm(cell: str, seed: int = 0, device: str = "cuda"):
    import torch

    from neuromap.networks.egru import CharLM

    torch.manual_seed(seed)
    with torch.device(device):
        return CharLM(VOCAB, hidden_size=HIDDEN, embedding_size=EMBED, cell=cell, zoneout=0.1) if cell == "egru" \
            else CharLM(VOCAB, hidden_size=HIDDEN, embedding_size=EMBED, cell=cell)


def _tokens(w: LoopWorkload, seed: int = 0, device: str = "cuda"):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (w.T + 1, w.batch), generator=g).to(device)


def egru_step(w: LoopWorkload, variant: str, capturable: bool = False, device: str = "cuda"):
    """``(step, model)``: one training step (or forward) of the character LM."""
    import torch
    import torch.nn.functional as F

    model = _char_lm("gru" if variant == "gru-cudnn" else "egru", device=device)
    tok = _tokens(w, device=device)
    x, y = tok[:-1], tok[1:]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=capturable) if w.train else None

    def step():
        with _impl(variant):
            if w.train:
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
                loss.backward()
                opt.step()
                return loss
            with torch.no_grad():
                return model(x)

    model.train(w.train)
    return step, model


def _reservoir(device: str = "cuda"):
    import torch

    from neuromap.networks.lsm import Reservoir, maass_connectivity
    from neuromap.neurons import LIFParams

    con = maass_connectivity(GRID, lam=3.0, seed=0)  # ~30 synapses per neuron
    # input and recurrent scales chosen for a mean rate of about 0.14 spikes per neuron and step
    res = Reservoir(N_IN, con, LIFParams(tau_mem=20e-3, dt=1e-3, reset="zero"), input_weight=0.2, rec_scale=0.001)
    return res.to(device), torch


def lsm_step(w: LoopWorkload, variant: str, device: str = "cuda"):
    """``(step, reservoir)``: one ``simulate`` over T steps (or the hand-written dense loop)."""
    res, torch = _reservoir(device)
    g = torch.Generator().manual_seed(0)
    u = (torch.rand(w.T, w.batch, N_IN, generator=g) < 0.1).float().to(device)
    if variant != "torch-dense":
        def step():
            with _impl(variant):
                return res.simulate(u).spikes
        return step, res
    W = torch.tensor(res.connectivity.weights.toarray() * res.rec_scale, dtype=torch.float32, device=device)
    Wt, p = W.t().contiguous(), res.params

    def dense():  # the plain PyTorch loop: dense recurrent matmul + LIF update (zero reset), per step
        drive = u @ res.w_in.t()
        v = torch.full((w.batch, res.n), p.v_leak, device=device)
        s = torch.zeros(w.batch, res.n, device=device)
        out = torch.empty(w.T, w.batch, res.n, device=device)
        for t in range(w.T):
            v = p.beta * v + (1.0 - p.beta) * p.v_leak + p.input_gain * (drive[t] + s @ Wt)
            s = (v > p.v_th).float()
            v = torch.where(s > 0, p.v_reset, v)
            out[t] = s
        return out

    return dense, res


def _build(w: LoopWorkload, variant: str):
    return egru_step(w, variant)[0] if w.key.startswith("E") else lsm_step(w, variant)[0]


def time_variant(w: LoopWorkload, variant: str, steps: int, warmup: int, launch_s: float) -> dict:

    from benchmarks.gpu import count_launches, time_on_gpu

    step = _build(w, variant)
    times, base, peak = time_on_gpu(step, steps, warmup)
    launches = count_launches(step)
    med = statistics.median(times)
    return {
        "median_s": med,
        "times_s": times,
        "peak_delta_mb": (peak - base) / 2**20,
        "launches_per_step": launches,
        "launch_floor_s": None if launches is None else launches * launch_s,
        "launch_floor_ratio": None if launches is None else med / (launches * launch_s),
    }


def verify_egru(device: str = "cuda", w: LoopWorkload = WORKLOADS["E1"]) -> dict:
    """One training step from the same initialisation, Triton path vs the PyTorch loop on the device
    (on the CPU: through Triton's interpreter)."""
    import torch
    import torch.nn.functional as F

    from neuromap.neurons import kernels

    tok = _tokens(w, device=device)
    runs = {}
    for impl in ("triton" if device == "cuda" else "triton_interpret", "torch"):
        model = _char_lm("egru", device=device)
        model.train()
        torch.manual_seed(1)  # the same zoneout masks
        with kernels.use(impl):
            logits = model(tok[:-1])
            F.cross_entropy(logits.flatten(0, 1), tok[1:].flatten()).backward()
        runs[impl] = (logits.detach(), [p.grad for p in model.parameters()], model.rnn._last[0].o.detach())
    (l1, g1, o1), (l2, g2, o2) = runs.values()
    return {
        "max_abs_logit_diff": float((l1 - l2).abs().max()),
        "max_abs_grad_diff": max(float((a - b).abs().max()) for a, b in zip(g1, g2)),
        "events_identical": bool(torch.equal(o1, o2)),
        "event_rate": float(o1.mean()),
    }


def verify_lsm(device: str = "cuda", T: int = 200, batch: int = 8) -> dict:
    """The fused reservoir step vs the sparse-matmul PyTorch loop (spikes, membrane)."""
    import torch

    from neuromap.neurons import kernels

    res, _ = _reservoir(device)
    g = torch.Generator().manual_seed(0)
    u = (torch.rand(T, batch, N_IN, generator=g) < 0.1).float().to(device)
    fused = res.simulate(u, method="fused", record_membrane=True)
    with kernels.use("torch"):
        csr = res.simulate(u, method="csr", record_membrane=True)
    return {
        "spikes_identical": bool(torch.equal(fused.spikes, csr.spikes)),
        "spike_mismatch_fraction": float((fused.spikes != csr.spikes).float().mean()),
        "max_abs_membrane_diff": float((fused.membrane - csr.membrane).abs().max()),
        "spike_rate": float(csr.spikes.mean()),
    }


def capture_egru() -> dict:
    """A whole EGRU training step (forward, loss, backward, Adam(capturable)) as one CUDA graph,
    PyTorch's recipe (warm-up on a side stream), then replayed: the losses must stay finite and fall."""
    import torch

    w = WORKLOADS["E1"]
    step, _ = egru_step(w, "neuromap", capturable=True)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_loss = step()
    replay, times = [], []
    for _ in range(3):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        graph.replay()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        replay.append(float(static_loss))
    return {"captured": True, "replay_losses": replay, "replay_median_ms": statistics.median(times) * 1e3,
            "note": "zoneout draws from the graph's RNG state: replayed losses differ from eager ones by the masks"}


def capture_lsm() -> dict:
    """A whole reservoir ``simulate`` (T = 500, fused steps) as one CUDA graph, against eager."""
    import torch

    step, _ = lsm_step(WORKLOADS["L1"], "neuromap")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        eager = step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static = step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    graph.replay()
    torch.cuda.synchronize()
    return {"captured": True, "spikes_identical": bool(torch.equal(static, eager)),
            "replay_ms": (time.perf_counter() - t0) * 1e3}


def compile_egru() -> dict:
    """The EGRU LM under ``torch.compile``: losses of 2 training steps against eager, graph breaks."""
    import torch
    import torch._dynamo

    w = WORKLOADS["E1"]
    torch._dynamo.reset()
    step, model = egru_step(w, "neuromap")
    model.rnn = torch.compile(model.rnn)
    losses = [float(step()) for _ in range(2)]
    return {"compiled": True, "losses": losses,
            "graph_breaks": dict(torch._dynamo.utils.counters.get("graph_break", {}))}


def markdown(doc: dict) -> str:
    m = doc["machine"]
    out = [f"Step-loop benchmark on {m['device']}: launch cost {m['launch_s'] * 1e6:.1f} us (measured).", "",
           "| workload | variant | ms/step (median) | speed-up vs neuromap:torch | peak MB (step) | launches | "
           "launch floor ms |", "|---|---|---:|---:|---:|---:|---:|"]
    for key, rows in doc["workloads"].items():
        ref = rows.get("neuromap:torch", {}).get("median_s")
        for var, r in rows.items():
            if "median_s" not in r:
                out.append(f"| {key} {WORKLOADS[key].name} | {var} | n/a ({r.get('error')}) | | | | |")
                continue
            sp = f"{ref / r['median_s']:.2f}x" if ref else ""
            floor = "n/a" if r["launch_floor_s"] is None else f"{r['launch_floor_s'] * 1e3:.2f}"
            out.append(f"| {key} {WORKLOADS[key].name} | {var} | {r['median_s'] * 1e3:.2f} | {sp} | "
                       f"{r['peak_delta_mb']:.1f} | {r['launches_per_step']} | {floor} |")
    for k in ("verify", "capture", "compile"):
        out += ["", f"{k}: " + json.dumps({n: {a: b for a, b in v.items() if a != "trace"} for n, v in doc[k].items()})]
    return "\n".join(out) + "\n"


def _guarded(fn) -> dict:
    try:
        return fn()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}


def run(keys: list[str], steps: int, warmup: int, out: Path | None) -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu_loops: no CUDA device is available here", file=sys.stderr)
        return 2
    from benchmarks.gpu import measure

    torch.backends.cuda.matmul.allow_tf32 = False
    machine = measure(n=2048, copy_mib=64, launches=2000)
    doc: dict = {"machine": machine, "workloads": {}, "verify": {}, "capture": {}, "compile": {}}

    def save():
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, indent=2))
            tmp.replace(out)

    for key in keys:
        doc["workloads"][key] = {}
        for var in VARIANTS[key]:
            r = _guarded(lambda k=key, v=var: time_variant(WORKLOADS[k], v, steps, warmup, machine["launch_s"]))
            doc["workloads"][key][var] = r
            msg = f"{r['median_s'] * 1e3:8.2f} ms/step" if "median_s" in r else f"ERROR {r['error']}"
            print(f"{key} {var:16s} {msg}", flush=True)
            save()
            torch.cuda.empty_cache()
    # the checks, slowest (torch.compile) last; saved after each in case the time limit cuts the run
    for part, name, fn in (("verify", "egru", verify_egru), ("verify", "lsm", verify_lsm),
                           ("capture", "egru_train_step", capture_egru), ("capture", "lsm_simulate", capture_lsm),
                           ("compile", "egru_train_step", compile_egru)):
        doc[part][name] = _guarded(fn)
        print(part, name, json.dumps({k: v for k, v in doc[part][name].items() if k != "trace"}), flush=True)
        save()
    print(markdown(doc))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "gpu-loops.json")
    a = ap.parse_args(argv)
    if a.steps < 10:
        ap.error("--steps must be >= 10 (a median over >= 10 steps)")
    return run(a.workloads, a.steps, a.warmup, a.out)


if __name__ == "__main__":
    sys.exit(main())
