"""What the Triton test modules share: skip the module loudly when Triton is missing, and the device
and implementation they test (``NEUROMAP_TEST_DEVICE=cuda``: the compiled kernels on a GPU, as
benchmarks/gpu_check.sh runs them; else the interpreter on the CPU)."""

from __future__ import annotations

import os

import pytest
import torch

from neuromap.neurons import triton_kernels

DEVICE = torch.device(os.environ.get("NEUROMAP_TEST_DEVICE", "cpu"))
IMPL = "triton" if DEVICE.type == "cuda" else "triton_interpret"


def require_triton(what: str) -> None:
    """Skip the calling test module, saying so loudly, when Triton cannot run; fail when a GPU was
    asked for and there is none."""
    if triton_kernels.unavailable():
        pytest.skip(f"TRITON NOT INSTALLED - {what} did not run: {triton_kernels.unavailable()} "
                    "(install the extra: pip install 'neuromap[gpu]'; `make setup` does)", allow_module_level=True)
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        pytest.fail("NEUROMAP_TEST_DEVICE=cuda but no CUDA device is available", pytrace=False)
