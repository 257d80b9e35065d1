"""Which parts of a neuromap training step can be captured as a CUDA graph or compiled (GPU only).

    python -m benchmarks.gpu_capture --out capture.json

For the LIF and CuBa ``SpikingMLP`` of the benchmark (700 -> 1024 -> 20, T = 100, batch 32) on CUDA:

* ``cuda_graph``: forward + loss + backward + ``Adam(capturable=True).step()`` captured whole with
  ``torch.cuda.graph`` after 3 warm-up steps on a side stream (PyTorch's documented recipe), then
  replayed; the losses of 5 replays are compared with 5 eager steps from the same state, and the
  median step times of both are reported.
* ``torch_compile``: the model under ``torch.compile`` (default mode): losses of 3 training steps
  against eager, graph-break count from ``torch._dynamo`` counters.

Every check records its exception instead of stopping the others.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
import traceback
from pathlib import Path


def _setup(neuron: str, seed: int = 0):
    import torch

    from benchmarks.peers.neuromap_adapter import build_mlp
    from benchmarks.workloads import WORKLOADS, loss_fn, make_data

    w = WORKLOADS["W3" if neuron == "cuba" else "W1"]
    x, y = (t.cuda() for t in make_data(w, seed=seed))
    torch.manual_seed(seed)
    with torch.device("cuda"):
        model = build_mlp(w)
    opt = torch.optim.Adam(model.parameters(), lr=w.lr, capturable=True)
    return model, opt, x, y, loss_fn


def _eager_steps(model, opt, x, y, loss_fn, n: int) -> tuple[list[float], list[float]]:
    import torch

    losses, times = [], []
    for _ in range(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        losses.append(float(loss))
    return losses, times


def check_graph(neuron: str) -> dict:
    import torch

    model, opt, x, y, loss_fn = _setup(neuron)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        _eager_steps(model, opt, x, y, loss_fn, 3)  # warm-up: Triton compiles, Adam creates its state
    torch.cuda.current_stream().wait_stream(side)
    twin_model, twin_opt = copy.deepcopy(model), None
    twin_opt = torch.optim.Adam(twin_model.parameters(), lr=opt.param_groups[0]["lr"], capturable=True)
    twin_opt.load_state_dict(opt.state_dict())
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = loss_fn(model(x), y)
        static_loss.backward()
        opt.step()
    g_losses, g_times = [], []
    for _ in range(5):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        graph.replay()
        torch.cuda.synchronize()
        g_times.append(time.perf_counter() - t0)
        g_losses.append(float(static_loss))
    e_losses, e_times = _eager_steps(twin_model, twin_opt, x, y, loss_fn, 5)
    return {
        "captured": True,
        "replay_losses": g_losses,
        "eager_losses": e_losses,
        "losses_identical": g_losses == e_losses,
        "replay_median_ms": statistics.median(g_times) * 1e3,
        "eager_median_ms": statistics.median(e_times) * 1e3,
    }


def check_compile(neuron: str) -> dict:
    import torch
    import torch._dynamo

    model, opt, x, y, loss_fn = _setup(neuron)
    twin_model = copy.deepcopy(model)
    twin_opt = torch.optim.Adam(twin_model.parameters(), lr=opt.param_groups[0]["lr"], capturable=True)
    torch._dynamo.reset()
    compiled = torch.compile(model)
    c_losses, c_times = _eager_steps(compiled, opt, x, y, loss_fn, 3)
    e_losses, e_times = _eager_steps(twin_model, twin_opt, x, y, loss_fn, 3)
    counters = torch._dynamo.utils.counters
    return {
        "compiled": True,
        "losses": c_losses,
        "eager_losses": e_losses,
        "losses_identical": c_losses == e_losses,
        "max_abs_loss_diff": max(abs(a - b) for a, b in zip(c_losses, e_losses)),
        "graph_breaks": dict(counters.get("graph_break", {})),
        "compiled_last_step_ms": c_times[-1] * 1e3,
        "eager_last_step_ms": e_times[-1] * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    a = ap.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu_capture: no CUDA device is available here", file=sys.stderr)
        return 2
    results: dict[str, dict] = {}
    for neuron in ("lif", "cuba"):
        for name, fn in (("cuda_graph", check_graph), ("torch_compile", check_compile)):
            key = f"{neuron}/{name}"
            try:
                results[key] = fn(neuron)
            except Exception as exc:
                results[key] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
            print(key, json.dumps({k: v for k, v in results[key].items() if k != "trace"}), flush=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
