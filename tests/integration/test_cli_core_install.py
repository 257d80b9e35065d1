"""The command line on a core install (``pip install neuromap-snn``, no extra): every optional
integration is made unimportable in a subprocess (:func:`tests.support.run_without_extras`).

A plain ``neuromap deploy MODEL --dataset digits`` runs (the default backend is the Loihi emulator, in
the core); a backend whose extra is missing is a user error - exit 2, one line naming the extra and the
command that installs it, never "internal error"; ``neuromap info`` says what is importable here.
"""

from __future__ import annotations

import pytest

from tests.support import run_without_extras

pytestmark = pytest.mark.integration


def _cli(tmp_path, *argv: str):
    """``neuromap ARGV`` with the extras hidden, in ``tmp_path``, after saving a small Loihi-ready model there."""
    return run_without_extras(
        f"""
        import torch
        import neuromap as nm
        from neuromap.cli import main
        from neuromap.networks import SpikingMLP
        from neuromap.neurons import LIFParams
        torch.manual_seed(0)
        model = SpikingMLP(64, [16], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
        nm.save(nm.trace(model, torch.rand(2, 1, 64)), "digits.nir")
        sys.exit(main({list(argv)!r}))
        """,
        cwd=tmp_path,
    )


def test_default_deploy_runs_on_a_core_install(tmp_path):
    proc = _cli(tmp_path, "deploy", "digits.nir", "--dataset", "digits", "--samples", "8")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "backend loihi on loihi2" in proc.stdout
    assert "accuracy" in proc.stdout


@pytest.mark.parametrize(("backend", "hint"), [
    ("lava", "pip install 'neuromap-snn[lava]' && pip install --no-deps --ignore-requires-python lava-nc==0.10.0"),
    ("brian2", "pip install 'neuromap-snn[brian2]'"),
])
def test_missing_extra_is_a_user_error_naming_the_install_command(tmp_path, backend, hint):
    proc = _cli(tmp_path, "deploy", "digits.nir", "--backend", backend, "--dataset", "digits", "--samples", "4")
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("neuromap deploy: error: ") and hint in errors[0]
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_info_reports_what_is_importable_not_what_is_declared(tmp_path):
    proc = _cli(tmp_path, "info", "digits.nir")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = {line.split(":")[0].strip(): line for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert "unavailable" in lines["lava"] and "pip install 'neuromap-snn[lava]'" in lines["lava"]
    assert "unavailable" in lines["brian2"] and "pip install 'neuromap-snn[brian2]'" in lines["brian2"]
    assert lines["loihi"].strip() == "loihi: yes" and lines["torch"].strip() == "torch: yes"
    assert "brian2 not installed" in proc.stdout and "pymetis not installed" in proc.stdout
