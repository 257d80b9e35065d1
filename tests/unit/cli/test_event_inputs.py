"""``--dataset`` with an event data set on the command line: the bins keep their event counts unless
``--binary`` is given, the summary line says which, and lost events are reported in one line each."""

from __future__ import annotations

import pytest
import torch

import neuromap as nm
from neuromap import cli
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams
from tests.support import write_shd


@pytest.fixture
def shd_run(tmp_path):
    """A model taking SHD's 700 channels and a one-sample SHD test file: 10 spikes of unit 3 in the first
    10 ms bin, one of unit 4 at 0.05 s and one at 0.5 s (outside a 10-bin window)."""
    (tmp_path / "shd").mkdir()
    write_shd(tmp_path / "shd" / "shd_test.h5", [([0.001 * k for k in range(10)] + [0.05, 0.5], [3] * 10 + [4, 4], 1)])
    model = SpikingMLP(700, [8], 20, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    path = nm.save(nm.trace(model, torch.rand(2, 1, 700)), tmp_path / "shd.nir")
    return str(path), ["--dataset", "shd", "--data-dir", str(tmp_path), "--samples", "1", "--steps", "10"]


def test_counts_are_the_default_and_the_summary_line_says_so(shd_run, capsys):
    model, args = shd_run
    assert cli.main(["report", model, "--target", "loihi2", *args]) == 0
    out, err = capsys.readouterr()
    assert "input: 10 steps x 1 samples x features (700,) (read as TB); events per bin: counts (the default; " \
           "--binary clips to 0/1 spikes)" in out
    warnings = [line for line in err.splitlines() if line.startswith("neuromap: warning:")]
    assert warnings == ["neuromap: warning: shd test: 1 of 12 events (8.3 %) lie outside the 0.1 s window and were "
                        "dropped; a longer duration= (on the command line: more --steps) keeps them"]


def test_spiking_backends_refuse_counts_naming_the_flag_and_binary_reports_what_it_merges(shd_run, capsys):
    model, args = shd_run
    assert cli.main(["deploy", model, "--backend", "loihi", "--compare", "none", *args]) == 2
    assert "--binary on the command line" in capsys.readouterr().err
    assert cli.main(["deploy", model, "--backend", "loihi", "--compare", "none", "--binary", *args]) == 0
    out, err = capsys.readouterr()
    assert "events per bin: 0/1 spikes (--binary; --counts, the default, keeps counts)" in out
    assert "shd test: binary=True merged 9 of 12 events" in err


def test_counts_and_binary_exclude_each_other(shd_run, capsys):
    model, args = shd_run
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", model, "--target", "loihi2", "--counts", "--binary", *args])
    assert exc.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
