"""Shared fixtures and the tiers' markers (registered in pyproject.toml).

Tiers: a test under ``tests/unit/`` is marked ``unit``, one under ``tests/integration/`` ``integration``
(``make test-unit`` / ``make test-integration`` run one tier; ``make test`` runs both). Other markers:
``slow`` (left out unless asked for: ``make test-slow``), ``gpu`` (the GPU code paths: Triton kernels
and no host sync per time step; ``make test-gpu``, with ``NEUROMAP_TEST_DEVICE=cuda`` on a GPU),
``triton`` (needs Triton: skipped loudly without it) and ``cpu_only`` (checks the CPU-side dispatch:
skipped when ``NEUROMAP_TEST_DEVICE=cuda``). Nothing is built while tests are collected: a test that
needs the compiled C++ kernels takes the ``cpp_kernels`` fixture, which builds them on first use. A
test that runs the command line in-process takes ``cli_run``.
"""

import os
from pathlib import Path

import pytest
import torch

from tests.support import DEVICE

torch.set_num_threads(int(os.environ.get("NEUROMAP_TEST_THREADS", "2")))
TIERS = ("unit", "integration")


def pytest_configure(config):
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("NEUROMAP_TEST_DEVICE=cuda but no CUDA device is available")


def pytest_collection_modifyitems(config, items):
    from neuromap.neurons import triton_kernels

    tests_dir = Path(__file__).parent
    for item in items:
        parts = Path(item.path).relative_to(tests_dir).parts
        if parts and parts[0] in TIERS:
            item.add_marker(parts[0])
        if item.get_closest_marker("triton") and triton_kernels.unavailable():
            item.add_marker(pytest.mark.skip(
                reason=f"TRITON NOT INSTALLED - {item.nodeid} did not run: {triton_kernels.unavailable()} "
                       "(install the extra: pip install 'neuromap[gpu]'; `make setup` does)"))
        if item.get_closest_marker("cpu_only") and DEVICE.type == "cuda":
            item.add_marker(pytest.mark.skip(reason="checks the CPU-side dispatch (NEUROMAP_TEST_DEVICE=cuda)"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def cpp_kernels():
    """The compiled C++ neuron and synapse kernels, built (or loaded from the cache) on first use;
    the test is skipped, loudly, where they cannot be built."""
    from neuromap.neurons import kernels

    lib = kernels.load()
    if lib is None:
        pytest.skip(f"LOUD SKIP: compiled kernels unavailable: {kernels.status()}")
    return lib


@pytest.fixture
def cli_run(capsys):
    """``neuromap ARGV`` in-process: ``run(*argv) -> (exit code, stdout, stderr)`` (argparse exits too)."""
    from neuromap import cli

    def run(*argv):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
