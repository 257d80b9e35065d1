"""Measure the input density at which neuromap's event-driven synapses stop beating the dense product.

    python -m benchmarks.synapse_crossover            # Linear and Conv2d, writes results/synapse-crossover-<date>.json
    python -m benchmarks.synapse_crossover --only attention   # SDSA-3's Q (K^T V) and a Meta-SpikeFormer
                                            # training step: results/synapse-crossover-attention-<date>.json

For each density, times one training step of a single layer (forward + weight gradient + bias
gradient; the input does not require grad, as for a layer fed by data or by spikes whose gradient
is computed densely anyway) on the event-driven path (``neuromap.synapses.use("sparse")``) and the
dense one (``use("dense")``: torch's GEMM / convolution), median of ``--reps`` after a warm-up, with
``torch.set_num_threads(2)``. The crossover is the density where the two curves cross (linear
interpolation between the two measured densities around it); :data:`neuromap.synapses.LINEAR_CROSSOVER`
and ``CONV2D_CROSSOVER`` record the values this gave.

Shapes: Linear = the benchmark's layer 1 (T*B = 3200 rows, 700 -> 1024); Conv2d = a 3x3, 32 -> 64
channel, 16 x 16 layer on 64 samples (a spike-driven transformer stem at T*B = 64).

Attention (``neuromap.synapses.attention``, SDSA-3's ``Q (K^T V)`` per head, binary Q, K, V of one
density, all three requiring a gradient as in the model, whose LIFs feed them): the digits
configuration of ``MetaSpikeFormer.tiny`` (T 4, batch 64, 16 tokens, 64 channels, 4 heads: c = 16) and
the reference's last ImageNet stage (T 1, batch 8, 196 tokens, 384 channels, 8 heads: c = 48);
:data:`neuromap.synapses.ATTENTION_CROSSOVER` records the digits one. ``metaspikformer_step`` then
times whole training steps (forward, backward, Adam) of ``MetaSpikeFormer.tiny`` on a batch of 64
digits, with the attention product forced dense and on the automatic choice (every other layer as
default in both), alternating, and records the densities the attention saw.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path

import torch

from neuromap import synapses

DENSITIES = (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
RESULTS = Path(__file__).resolve().parent / "results"


STATS = {"median": statistics.median, "min": min}
_stat = {"name": "median"}  # set by --stat


def _median_time(step, reps: int) -> float:
    """Seconds of ``step()`` over ``reps`` calls after one warm-up call: their median, or (``--stat min``)
    the fastest, which on a heavily shared machine is the one least slowed by other jobs."""
    step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return STATS[_stat["name"]](times)


def _time(layer: torch.nn.Module, x: torch.Tensor, mode: str, reps: int, train: bool) -> float:
    def step() -> None:
        layer.zero_grad(set_to_none=True)
        with synapses.use(mode):
            y = layer(x)
            if train:
                y.backward(torch.ones_like(y))

    return _median_time(step, reps)


def _time_attention(qkv: list[torch.Tensor], heads: int, reps: int, train: bool) -> dict[str, float]:
    """Seconds per call of the sparse and the dense product (``--stat`` of ``reps``), the two alternating
    call by call so that a change of load slows both alike."""
    leaves = [t.detach().requires_grad_(train) for t in qkv]

    def step(mode: str) -> float:
        for t in leaves:
            t.grad = None
        t0 = time.perf_counter()
        with synapses.use(mode):
            y = synapses.attention(*leaves, heads)
            if train:
                y.backward(torch.ones_like(y))
        return time.perf_counter() - t0

    times: dict[str, list[float]] = {"sparse": [], "dense": []}
    for i in range(reps + 1):  # the first round warms up
        for mode in times:
            t = step(mode)
            if i:
                times[mode].append(t)
    return {mode: STATS[_stat["name"]](t) for mode, t in times.items()}


def sweep_attention(shape: tuple[int, ...], heads: int, reps: int, train: bool) -> dict:
    """``shape = (T, B, N, C)``; the operands are token views of channel-major spikes, as in the model."""
    g = torch.Generator().manual_seed(0)
    T, B, N, C = shape
    rows = []
    for p in DENSITIES:
        qkv = [(torch.rand(T, B, C, N, generator=g) < p).float().transpose(2, 3) for _ in range(3)]
        t = _time_attention(qkv, heads, reps, train)
        rows.append({"density": p, "sparse_s": t["sparse"], "dense_s": t["dense"]})
        print(f"  density {p:6.3f}: sparse {rows[-1]['sparse_s'] * 1e3:8.3f} ms   dense {rows[-1]['dense_s'] * 1e3:8.3f} ms",
              flush=True)
    cross = crossover([r["density"] for r in rows], [r["sparse_s"] for r in rows], [r["dense_s"] for r in rows])
    return {"shape": list(shape), "heads": heads, "train": train, "rows": rows, "crossover": cross}


def metaspikformer_step(reps: int) -> dict:
    """Training-step time of ``MetaSpikeFormer.tiny`` (batch 64 digits, T 4) with the attention product
    dense and automatic (the ``--stat`` of ``reps`` steps each); the two settings alternate step by
    step so a load change hits both."""
    from neuromap import data
    from neuromap.networks.metaspikformer import SDSA3, MetaSpikeFormer

    digits = data.digits(encoding="current", steps=4, flatten=False, seed=0)
    x, y = digits.samples("train", 64)
    torch.manual_seed(0)
    model = MetaSpikeFormer.tiny()
    attn = [m for m in model.modules() if isinstance(m, SDSA3)]
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    seen: list[float] = []
    hooks = [m.register_forward_hook(lambda m, a, o: seen.append(sum(float(t.count_nonzero()) for t in a)
                                                                  / sum(t.numel() for t in a))) for m in attn]

    def step(mode: str) -> float:
        for m in attn:
            m.mode = mode
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    for mode in ("dense", "auto"):
        step(mode)
    times: dict[str, list[float]] = {"dense": [], "auto": []}
    paths = set()
    for _ in range(reps):
        for mode in ("dense", "auto"):
            times[mode].append(step(mode))
        paths.update(m.last_path for m in attn)  # what "auto" chose (it ran last)
    for h in hooks:
        h.remove()
    med = {m: STATS[_stat["name"]](t) for m, t in times.items()}
    return {"batch": 64, "steps": 4, "reps": reps, "attention_dense_s": med["dense"], "attention_auto_s": med["auto"],
            "speedup": med["dense"] / med["auto"], "auto_paths": sorted(paths),
            "attention_input_density_mean": statistics.fmean(seen), "attention_input_density_max": max(seen)}


def crossover(densities: list[float], sparse: list[float], dense: list[float]) -> float | None:
    """The density above which the dense path stays faster: the last sparse-wins -> dense-wins change,
    linearly interpolated (a single noisy point below it, on a shared machine, does not move it);
    None if sparse always wins, the first density if it never does."""
    wins = [s < d for s, d in zip(sparse, dense)]
    if wins[-1]:
        return None
    last = max((i for i, w in enumerate(wins) if w), default=None)
    if last is None:
        return densities[0]
    p0, p1 = densities[last], densities[last + 1]
    r0, r1 = sparse[last] - dense[last], sparse[last + 1] - dense[last + 1]  # r0 < 0 <= r1
    return p0 + (p1 - p0) * (-r0) / (r1 - r0)


def sweep(make_layer, shape: tuple[int, ...], reps: int, train: bool) -> dict:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    layer = make_layer()
    rows = []
    for p in DENSITIES:
        x = (torch.rand(*shape, generator=g) < p).float()
        rows.append({"density": p, "sparse_s": _time(layer, x, "sparse", reps, train),
                     "dense_s": _time(layer, x, "dense", reps, train)})
        print(f"  density {p:6.3f}: sparse {rows[-1]['sparse_s'] * 1e3:8.2f} ms   dense {rows[-1]['dense_s'] * 1e3:8.2f} ms",
              flush=True)
    dens = [r["density"] for r in rows]
    cross = crossover(dens, [r["sparse_s"] for r in rows], [r["dense_s"] for r in rows])
    return {"shape": list(shape), "train": train, "rows": rows, "crossover": cross}


def _layers(out: dict, reps: int) -> None:
    for name, make, shape in (
        ("linear", lambda: synapses.Linear(700, 1024), (100, 32, 700)),
        ("conv2d", lambda: synapses.Conv2d(32, 64, 3, padding=1, bias=False), (64, 32, 16, 16)),
    ):
        for train in (False, True):
            print(f"{name} {'forward + weight gradient' if train else 'forward'} {shape}", flush=True)
            res = sweep(make, shape, reps, train)
            out[f"{name}_{'train' if train else 'forward'}"] = res
            print(f"  crossover: {res['crossover']}", flush=True)


def _attention(out: dict, reps: int) -> None:
    for name, shape, heads in (("digits", (4, 64, 16, 64), 4), ("imagenet_stage4", (1, 8, 196, 384), 8)):
        for train in (False, True):
            print(f"attention {name} {'forward + backward' if train else 'forward'} {shape} heads {heads}", flush=True)
            res = sweep_attention(shape, heads, reps, train)
            out[f"attention_{name}_{'train' if train else 'forward'}"] = res
            print(f"  crossover: {res['crossover']}", flush=True)
    print("metaspikformer_step (MetaSpikeFormer.tiny, batch 64 digits)", flush=True)
    out["metaspikformer_step"] = res = metaspikformer_step(max(reps, 5))
    print(f"  attention dense {res['attention_dense_s'] * 1e3:.1f} ms/step, auto {res['attention_auto_s'] * 1e3:.1f} "
          f"ms/step ({res['auto_paths']}): {res['speedup']:.3f}x", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--only", choices=("layers", "attention"), default=None,
                    help="run only the Linear/Conv2d sweeps or only the attention ones (default: both)")
    ap.add_argument("--stat", choices=sorted(STATS), default="median",
                    help="statistic of the repetitions (min: for a heavily shared machine)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    _stat["name"] = a.stat
    out = {"date": dt.datetime.now().isoformat(timespec="seconds"), "threads": 2, "torch": torch.__version__,
           "statistic": a.stat, "reps": a.reps,
           "load_average_at_start": os.getloadavg()[0]}  # a shared machine slows both paths, not equally
    if a.only in (None, "layers"):
        _layers(out, a.reps)
    if a.only in (None, "attention"):
        _attention(out, a.reps)
    out["load_average_at_end"] = os.getloadavg()[0]
    a.out.mkdir(parents=True, exist_ok=True)
    suffix = f"-{a.only}" if a.only else ""
    path = a.out / f"synapse-crossover{suffix}-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
