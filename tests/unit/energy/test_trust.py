"""What a report says about trusting its estimates (:mod:`neuromap.energy.trust`), its plots' legend,
the CLI's ``--explain`` and ``--validation``, and ``neuromap validate`` creating its output folder."""

from __future__ import annotations

import json

import pytest
import torch

import neuromap as nm
from neuromap import cli
from neuromap.energy.report import OTHER, _top_shares
from neuromap.energy.trust import load_validation, summarise
from neuromap.errors import InputError
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams


def _row(target: str, role: str, ratio: float, lower_bound: bool = False) -> dict:
    return {"case": f"case-{target}", "quantity": "energy per inference", "published": 1.0, "modelled": ratio,
            "ratio": ratio, "factor": 2.0, "within": 0.5 <= ratio <= 2.0, "target": target, "role": role,
            "lower_bound": lower_bound}


# issue 28's document: calibration and validation rows in two lists, each naming its target
DOC = {"calibration": [_row("crossbar-pcm", "calibration", 1.0)],
       "validation": [_row("loihi", "validation", 1.3), _row("loihi", "validation", 3.1),
                      _row("spinnaker2", "validation", 0.8), _row("sfq", "validation", 0.2, lower_bound=True)]}


def test_summary_says_per_target_whether_and_how_far_its_estimates_are_validated():
    trust = summarise(DOC, ["loihi", "spinnaker2", "crossbar-pcm", "sfq", "cpu"], "doc.json")
    status = {t: info["status"] for t, info in trust.targets.items()}
    assert status == {"loihi": "partly validated", "spinnaker2": "validated", "crossbar-pcm": "calibration only",
                      "sfq": "not validated", "cpu": "no measurement"}
    loihi, s2, pcm, sfq, cpu = trust.lines
    assert loihi.startswith("loihi: partly validated - 1 of 2 independent measurement(s) within their factor")
    assert "modelled / published = 1.3 (factor 2)" in loihi and "outside: case-loihi, energy per inference: " \
           "modelled / published = 3.1" in loihi
    assert "consistency, not accuracy" in pcm and "no published measurement" in cpu
    assert "modelled / published = >= 0.2" in sfq  # a lower bound keeps its mark in words too


def test_rows_without_targets_are_not_claimed_for_any_target():
    trust = summarise({"rows": [{k: v for k, v in _row("loihi", "validation", 1.0).items() if k != "target"}]},
                      ["loihi"])
    assert trust.targets["loihi"]["status"] == "unknown"
    assert trust.lines[-1] == "rows that name no target (read per case): case-loihi: 1 of 1 within their factor"


def test_a_file_that_is_not_validation_json_is_an_input_error(tmp_path):
    bad = tmp_path / "v.json"
    bad.write_text(json.dumps({"something": []}))
    with pytest.raises(InputError, match="not neuromap validate's JSON"):
        load_validation(bad)
    assert load_validation(_write(tmp_path))[0] == DOC


def test_breakdown_legend_keeps_seven_categories_and_sums_the_rest():
    shares = {"a": {f"c{i}": float(i) for i in range(12)}, "b": {"c0": 100.0}}
    top = _top_shares(shares)
    assert list(top["a"]) == ["c0", "c11", "c10", "c9", "c8", "c7", "c6", OTHER]  # c0: 100 % on b
    assert top["a"][OTHER] == sum(range(6)) and sum(top["a"].values()) == sum(range(12))


def _write(tmp_path):
    path = tmp_path / "validation.json"
    path.write_text(json.dumps(DOC))
    return path


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    net = SpikingMLP(64, [8], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    return str(nm.save(nm.trace(net, torch.rand(2, 1, 64)), tmp_path / "m.nir"))


def test_cli_report_says_what_to_trust_and_explains_a_target(model, tmp_path, capsys):
    argv = ["report", model, "--target", "loihi", "--target", "cpu", "--dataset", "digits", "--samples", "2",
            "--steps", "3", "--validation", str(_write(tmp_path))]
    assert cli.main([*argv, "--explain", "loihi"]) == 0
    out = capsys.readouterr().out
    assert f"what to trust ({tmp_path / 'validation.json'}):" in out
    assert "  loihi: partly validated - 1 of 2" in out and "  cpu: not validated - no published measurement" in out
    assert "neuromap report MODEL --target T --explain T" in out  # the footer names the command
    assert "loihi (digital) energy, 2 sample(s)" in out and "loihi (digital) latency, 2 sample(s)" in out
    assert cli.main([*argv, "-o", str(tmp_path / "r.json")]) == 0
    saved = json.loads((tmp_path / "r.json").read_text())["trust"]
    assert saved["targets"]["loihi"]["status"] == "partly validated" and saved["source"] == str(tmp_path / "validation.json")
    assert cli.main([*argv, "--explain", "loihi2"]) == 2
    assert "--explain loihi2: not a target of this report (loihi, cpu)" in capsys.readouterr().err


def test_validate_creates_its_output_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["validate", "--case", "sdt", "-o", "fresh/dir/v.json"]) == 0
    assert json.loads((tmp_path / "fresh" / "dir" / "v.json").read_text())
    (tmp_path / "file").write_text("a file, not a folder")
    assert cli.main(["validate", "--case", "sdt", "-o", "file/v.json"]) == 2
    assert "cannot create directory file" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "a file, not a folder"


def test_html_report_has_the_summary_in_words():
    from neuromap.energy.report import Report

    rep = Report("m", activity=None, estimates={}, trust=summarise(DOC, ["loihi"], "doc.json"))
    page = rep._trust_html()
    assert page.startswith("<h2>What to trust, per target</h2><p>From doc.json:</p>")
    assert "<li>loihi: partly validated - 1 of 2 independent measurement(s)" in page
    assert Report("m", activity=None, estimates={})._trust_html() == ""


def test_a_mapping_on_one_core_gets_no_heatmap():
    from types import SimpleNamespace

    from neuromap.energy import collect
    from neuromap.energy.report import Report
    from tests.support import small_net

    x = torch.tensor([[[1.0, 0.0, 1.0]], [[0.0, 1.0, 0.0]]])
    act = collect(small_net(), {"in": x, "h": torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]),
                                "o": torch.tensor([[[0.0]], [[1.0]]])})

    def plot():
        raise AssertionError("a one-core mapping was drawn")

    one = SimpleNamespace(mesh={"grid": (4, 4)}, n_cores=1, plot=plot)
    captions = [cap for cap, _ in Report("m", act, {}, mappings={"loihi2": one})._figures()]
    assert captions and not any("Core utilisation" in c for c in captions)
