"""The machine's limits, measured in the benchmark run itself: matmul GFLOP/s and copy bandwidth.

    GFLOP/s   = 2 n^3 / t   for a float32 ``torch.mm`` of two n x n matrices (n = 2048), best of k
    bandwidth = 2 S / t     for ``dst.copy_(src)`` of S bytes (256 MiB: far above any cache), best of k
    bound     = max(FLOPs / GFLOP/s, bytes / bandwidth)      (the classic roofline lower bound)
    roofline ratio = measured time / bound                   (1.0 = at the machine's limit)

Best-of-k (not the median) because interference from other processes only ever slows a run down.
"""

from __future__ import annotations

import time

import torch

FORMULA = "bound = max(FLOPs / peak_GFLOPs, bytes / peak_bandwidth); roofline_ratio = median_time / bound"


def measure(threads: int = 2, n: int = 2048, copy_mib: int = 256, reps: int = 7) -> dict:
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    gflops = 2 * n**3 / best / 1e9
    src = torch.ones(copy_mib * 2**20 // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best_c = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        dst.copy_(src)
        best_c = min(best_c, time.perf_counter() - t0)
    bandwidth = 2 * src.numel() * 4 / best_c / 1e9
    return {
        "threads": threads,
        "matmul_n": n,
        "gflops": gflops,
        "copy_mib": copy_mib,
        "bandwidth_gbs": bandwidth,
        "formula": FORMULA,
    }


def bound_s(flops: int, nbytes: int, machine: dict) -> float:
    return max(flops / (machine["gflops"] * 1e9), nbytes / (machine["bandwidth_gbs"] * 1e9))

