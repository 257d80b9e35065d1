import os

import pytest
import torch

torch.set_num_threads(int(os.environ.get("NEUROMAP_TEST_THREADS", "2")))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


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
