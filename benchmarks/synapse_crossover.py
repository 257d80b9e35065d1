"""Measure the input density at which neuromap's event-driven synapses stop beating the dense product.

    python -m benchmarks.synapse_crossover            # Linear and Conv2d, writes results/synapse-crossover-<date>.json

For each density, times one training step of a single layer (forward + weight gradient + bias
gradient; the input does not require grad, as for a layer fed by data or by spikes whose gradient
is computed densely anyway) on the event-driven path (``neuromap.synapses.use("sparse")``) and the
dense one (``use("dense")``: torch's GEMM / convolution), median of ``--reps`` after a warm-up, with
``torch.set_num_threads(2)``. The crossover is the density where the two curves cross (linear
interpolation between the two measured densities around it); :data:`neuromap.synapses.LINEAR_CROSSOVER`
and ``CONV2D_CROSSOVER`` record the values this gave.

Shapes: Linear = the benchmark's layer 1 (T*B = 3200 rows, 700 -> 1024); Conv2d = a 3x3, 32 -> 64
channel, 16 x 16 layer on 64 samples (a spike-driven transformer stem at T*B = 64).
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


def _time(layer: torch.nn.Module, x: torch.Tensor, mode: str, reps: int, train: bool) -> float:
    def step() -> None:
        layer.zero_grad(set_to_none=True)
        with synapses.use(mode):
            y = layer(x)
            if train:
                y.backward(torch.ones_like(y))

    step()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    out = {"date": dt.datetime.now().isoformat(timespec="seconds"), "threads": 2, "torch": torch.__version__,
           "load_average_at_start": os.getloadavg()[0]}  # a shared machine slows both paths, not equally
    for name, make, shape in (
        ("linear", lambda: synapses.Linear(700, 1024), (100, 32, 700)),
        ("conv2d", lambda: synapses.Conv2d(32, 64, 3, padding=1, bias=False), (64, 32, 16, 16)),
    ):
        for train in (False, True):
            print(f"{name} {'forward + weight gradient' if train else 'forward'} {shape}", flush=True)
            res = sweep(make, shape, a.reps, train)
            out[f"{name}_{'train' if train else 'forward'}"] = res
            print(f"  crossover: {res['crossover']}", flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"synapse-crossover-{dt.date.today().isoformat()}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
