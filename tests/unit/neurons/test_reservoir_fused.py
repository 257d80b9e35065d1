"""The fused reservoir step (neuromap.neurons.sparse_recurrent: CSR row gather + neuron update in one
Triton kernel, run through the interpreter on the CPU) against the sparse-matmul step loop.

Pinned: spikes, membrane and final state bit-identical to ``method="csr"`` in float32 and float64
for LIF / CuBa, every reset, ``>=``, refractoriness and carried state (on a GPU within rounding:
cuSPARSE's summation order is its own); with Poisson events the
spikes are identical and the membrane equal to rounding (the events are added before the recurrent
input instead of after). ``auto`` picks the fused step on CUDA (here: under
``NEUROMAP_TRITON_INTERPRET=1``) and falls back to csr, logged, when Triton cannot run.
``NEUROMAP_TEST_DEVICE=cuda`` runs the comparisons with the compiled kernel on a GPU.
"""

import logging

import pytest
import torch

from neuromap.networks.lsm import Reservoir, maass_connectivity
from neuromap.neurons import CubaLIFParams, LIFParams, kernels, sparse_recurrent, triton_kernels
from tests.support import DEVICE

pytestmark = [pytest.mark.gpu, pytest.mark.triton]

PARAMS = [
    CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, decay_input=True, reset="zero"),
    LIFParams(tau_mem=15e-3, reset="subtract", v_leak=0.1, threshold_rule=">="),
    CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, integrator="euler", reset="subtract", refractory_steps=2),
    LIFParams(tau_mem=10e-3, reset="none", v_th=0.5, refractory_steps=1),
]


def _reservoir(params, seed=0):
    return Reservoir(8, maass_connectivity((6, 5, 4), seed=seed), params, input_weight=0.7, rec_scale=0.01,
                     bias=0.02, seed=1)


def _input(T=40, B=2, dtype=torch.float32):
    return (torch.rand(T, B, 8, generator=torch.Generator().manual_seed(5)) < 0.15).to(dtype=dtype, device=DEVICE)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", range(len(PARAMS)))
def test_fused_step_is_bit_identical_to_the_csr_loop(k, dtype):
    res = _reservoir(PARAMS[k])
    u = _input(T=24, dtype=dtype)
    ref = res.simulate(u, record_membrane=True, method="csr")
    got = res.simulate(u, record_membrane=True, method="fused")
    assert 0.01 < float(ref.spikes.mean()) < 0.95
    assert got.spikes.dtype == dtype and got.spikes.device == u.device
    if DEVICE.type == "cuda":  # cuSPARSE may sum a row in another order than the kernel: rounding
        assert float((got.spikes != ref.spikes).float().mean()) <= 1e-3
        torch.testing.assert_close(got.membrane, ref.membrane, rtol=1e-4, atol=1e-4)
        return
    assert torch.equal(got.spikes, ref.spikes) and torch.equal(got.membrane, ref.membrane)
    for a, b in zip(ref.state, got.state):
        assert (a is None and b is None) or torch.equal(a, b)
    if dtype == torch.float64:
        return
    # the state carries across calls exactly as the loop's does
    half = res.simulate(u[:10], method="fused")
    rest = res.simulate(u[10:], state=half.state, method="fused")
    ref2 = res.simulate(u[10:], state=res.simulate(u[:10], method="csr").state, method="csr")
    assert torch.equal(rest.spikes, ref2.spikes)


def test_poisson_events_on_the_device():
    res = _reservoir(PARAMS[0])
    u = _input(T=30)
    ref = res.simulate(u, record_membrane=True, method="csr", poisson=(5, 20.0, 0.1), seed=3)
    got = res.simulate(u, record_membrane=True, method="fused", poisson=(5, 20.0, 0.1), seed=3)
    assert torch.equal(got.spikes, ref.spikes)
    torch.testing.assert_close(got.membrane, ref.membrane, rtol=1e-5, atol=1e-6)


def test_forced_fused_step_refuses_what_it_cannot_run():
    res = _reservoir(PARAMS[1])
    with pytest.raises(ValueError, match="float32 and float64"):
        res.simulate(_input(dtype=torch.bfloat16), method="fused")
    with pytest.raises(ValueError, match="kernels.use\\('torch'\\)"):
        with kernels.use("torch"):
            res.simulate(_input(), method="fused")


@pytest.mark.cpu_only
def test_auto_takes_the_fused_step_and_falls_back_logged(monkeypatch, caplog):
    monkeypatch.setenv("NEUROMAP_TRITON_INTERPRET", "1")  # auto treats CPU tensors like CUDA ones
    monkeypatch.setattr(triton_kernels, "_warned", set())
    monkeypatch.setattr(sparse_recurrent, "_failed", [])
    res = _reservoir(PARAMS[2])
    u = _input(T=12)
    calls = []
    real = sparse_recurrent.CSRStep.__call__
    monkeypatch.setattr(sparse_recurrent.CSRStep, "__call__", lambda *a: calls.append(1) or real(*a))
    ref = res.simulate(u, method="csr")
    assert torch.equal(res.simulate(u).spikes, ref.spikes) and len(calls) == 12

    def broken(*a):
        raise RuntimeError("PTX compile error (test)")

    monkeypatch.setattr(sparse_recurrent.CSRStep, "__call__", broken)
    with caplog.at_level(logging.WARNING, logger="neuromap.neurons"):
        out = res.simulate(u, poisson=(5, 20.0, 0.1))  # the fallback replays the same events
        res.simulate(u)
    assert torch.equal(out.spikes, res.simulate(u, method="csr", poisson=(5, 20.0, 0.1)).spikes)
    msgs = [r.getMessage() for r in caplog.records if "PTX compile error (test)" in r.getMessage()]
    assert len(msgs) == 1 and "reservoir step" in msgs[0]
    assert sparse_recurrent.select(u) is None  # switched off for the rest of the process
