"""The GPU benchmark's report (benchmarks/gpu.py) on made-up measurements: roofline terms, speed-ups,
target verdicts and the Markdown table. The measurements themselves need a GPU
(``python -m benchmarks.run --device cuda``)."""

import pytest

from benchmarks import gpu
from benchmarks.workloads import flops, min_bytes

# A made-up device and made-up step times (not measurements): only the arithmetic is under test.
MACHINE = {
    "device": "test device",
    "matmul_n": 8192,
    "matmul_flops": 50e12,
    "copy_mib": 1024,
    "bandwidth_bs": 4e12,
    "launch_s": 5e-6,
    "formula": gpu.FORMULA,
}


def _run(ms: float, mem: float, launches: int = 100) -> dict:
    return {
        "version": "1.0",
        "semantics": "test",
        "times_s": [ms * 1e-3] * 10,
        "peak_mb": mem + 10,
        "peak_delta_mb": mem,
        "launches_per_step": launches,
    }


def test_bound_terms_are_counts_over_measured_rates():
    w = gpu.GPU_WORKLOADS["G1"]
    t = gpu.bound_terms(w, 200, MACHINE)
    assert t["flops_s"] == pytest.approx(flops(w) / 50e12)
    assert t["bytes_s"] == pytest.approx(min_bytes(w) / 4e12)
    assert t["launch_s"] == pytest.approx(200 * 5e-6)
    assert t["bound_s"] == max(t["flops_s"], t["bytes_s"], t["launch_s"])
    assert gpu.bound_terms(w, None, MACHINE)["launch_s"] == 0.0


def test_summary_speedups_and_target_verdicts():
    results = {
        "G1": {"neuromap": _run(1.0, 50), "spikingjelly": _run(2.0, 60), "snntorch": _run(9.0, 40)},
        "G3": {"neuromap": _run(0.4, 5), "spikingjelly": _run(0.35, 6), "norse": {"error": "norse is not installed"}},
        "G5": {"neuromap": _run(2.0, 50), "spikingjelly": _run(85.0, 90), "snntorch": _run(11.0, 80)},
    }
    table = gpu.summarise(results, MACHINE)
    rows = table["G1"]["rows"]
    assert rows["spikingjelly"]["neuromap_speedup"] == pytest.approx(2.0)
    assert rows["neuromap"]["roofline_ratio"] == pytest.approx(1e-3 / rows["neuromap"]["bound"]["bound_s"])
    lines = "\n".join(gpu.check_targets(table))
    assert "G1: neuromap 1.00 ms, 2.00x faster than spikingjelly" in lines and "HOLDS" in lines
    assert "G3: neuromap 0.40 ms, 0.88x faster than spikingjelly" in lines
    assert "G5: neuromap 2.00 ms, 5.50x faster than snntorch (11.00 ms); target >= 5.0x" in lines
    assert "G2: not measured" in lines
    assert "G1 memory: neuromap 50.0 MB vs lowest peer snntorch 40.0 MB: FAILS" in lines
    assert "G5 memory: neuromap 50.0 MB vs lowest peer snntorch 80.0 MB: HOLDS" in lines
    md = gpu.markdown(table, MACHINE, {"date": "d", "torch": "t", "triton": "tr", "steps": 10, "warmup": 3})
    assert "| G3 lif-infer batch 32 | norse | n/a (norse is not installed) |" in md
    assert md.count("\n| G1 ") == 3


# --- the step-loop benchmark (benchmarks/gpu_loops.py) ----------------------------------------------


def test_loop_benchmark_baselines_compute_the_same_thing_on_the_cpu():
    """The hand-written dense PyTorch loop of L1 is the reservoir's computation (same spikes as
    ``simulate``), and the EGRU LM step trains; a GPU run only adds the timing."""
    import dataclasses

    import torch

    from benchmarks import gpu_loops

    w = dataclasses.replace(gpu_loops.WORKLOADS["L1"], T=60, batch=2)
    dense, _ = gpu_loops.lsm_step(w, "torch-dense", device="cpu")
    sim, _ = gpu_loops.lsm_step(w, "neuromap:torch", device="cpu")
    s_dense, s_sim = dense(), sim()
    assert 0.001 < float(s_sim.mean()) < 0.5
    assert float((s_dense != s_sim).float().mean()) < 1e-3  # float sums in another order: rare flips at most
    e = dataclasses.replace(gpu_loops.WORKLOADS["E1"], T=5, batch=2)
    step, _ = gpu_loops.egru_step(e, "neuromap:torch", device="cpu")
    losses = [float(step()) for _ in range(3)]
    assert all(map(torch.isfinite, map(torch.tensor, losses))) and losses[-1] < losses[0]


def test_loop_benchmark_report():
    from benchmarks import gpu_loops

    row = {"median_s": 0.004, "times_s": [0.004] * 10, "peak_delta_mb": 12.0, "launches_per_step": 400,
           "launch_floor_s": 400 * 5e-6, "launch_floor_ratio": 2.0}
    doc = {"machine": {"device": "test device", "launch_s": 5e-6},
           "workloads": {"E1": {"neuromap": row, "neuromap:torch": {**row, "median_s": 0.04},
                                "gru-cudnn": {"error": "x"}}},
           "verify": {"egru": {"max_abs_logit_diff": 1e-6}}, "capture": {}, "compile": {}}
    md = gpu_loops.markdown(doc)
    assert "| E1 egru-lm train (hidden 512, T 100) | neuromap | 4.00 | 10.00x | 12.0 | 400 | 2.00 |" in md
    assert "gru-cudnn | n/a (x)" in md and "max_abs_logit_diff" in md


@pytest.mark.slow
def test_loop_benchmark_device_checks_run_through_the_interpreter():
    """The correctness checks the GPU run makes, on the CPU through Triton's interpreter (tiny sizes)."""
    import dataclasses

    from benchmarks import gpu_loops
    from neuromap.neurons import triton_kernels

    if triton_kernels.unavailable():
        pytest.skip(f"TRITON NOT INSTALLED - the loop checks did not run: {triton_kernels.unavailable()}")
    e = dataclasses.replace(gpu_loops.WORKLOADS["E1"], T=4, batch=2)
    v = gpu_loops.verify_egru("cpu", e)
    assert v["events_identical"] and v["max_abs_logit_diff"] < 1e-5 and v["max_abs_grad_diff"] < 1e-5
    r = gpu_loops.verify_lsm("cpu", T=6, batch=1)
    assert r["spikes_identical"] and r["max_abs_membrane_diff"] == 0.0 and r["spike_rate"] > 0
