"""``neuromap validate``: calibration and validation rows, like for like; the row schema, ranges and
lower bounds; the summary counts validation rows only; JSON written atomically; the CLI."""

import json
import math
import time

import pytest

from neuromap.energy import cases, published
from neuromap.energy.validation import REQUIRED, ROW_KEYS, format_table, row, summary, validate


def _check_schema(rows):
    for r in rows:
        assert tuple(r) == ROW_KEYS
        assert r["role"] in ("calibration", "validation") and r["note"] and r["scope"]
        for k in ("published", "modelled", "ratio", "factor"):
            assert isinstance(r[k], float) and r[k] > 0
        assert r["ratio"] == pytest.approx(r["modelled"] / r["published"])
        assert r["within"] == (1 / r["factor"] <= r["ratio"] <= r["factor"])
        assert r["low"] <= r["modelled"] * (1 + 1e-9)
        assert r["lower_bound"] == (r["high"] is None)
        if r["high"] is not None:
            assert r["modelled"] <= r["high"] * (1 + 1e-9)


def test_row_within_is_symmetric_in_the_factor():
    def ratio_row(modelled):
        return row("c", "validation", "t", "q", 10.0, modelled, modelled / 2, modelled * 2, "J", {"level": "x"}, "n")

    assert ratio_row(19.9)["within"] and ratio_row(5.1)["within"]
    assert not ratio_row(4.9)["within"] and not ratio_row(20.1)["within"]
    with pytest.raises(ValueError, match="role='measured'"):
        row("c", "measured", "t", "q", 1.0, 1.0, 1.0, 1.0, "J", {}, "n")


def test_row_inside_its_range_and_one_sided_for_a_lower_bound():
    r = row("c", "validation", "t", "q", 10.0, 4.0, 2.0, 8.0, "J", {}, "n")
    assert not r["inside"] and not r["lower_bound"]
    r = row("c", "validation", "t", "q", 10.0, 4.0, 2.0, math.inf, "J", {}, "n")  # a lower bound: no upper end
    assert r["inside"] and r["lower_bound"] and r["high"] is None
    assert not row("c", "validation", "t", "q", 1.0, 4.0, 2.0, math.inf, "J", {}, "n")["inside"]  # below the bound
    assert json.loads(json.dumps(r))["high"] is None  # valid JSON, no Infinity


def test_summary_counts_validation_rows_only():
    rows = [row("a", "calibration", "loihi", "q", 1.0, 1.0, 0.5, 2.0, "J", {}, "n"),
            row("b", "validation", "loihi", "q", 1.0, 1.5, 0.5, 2.0, "J", {}, "n"),
            row("c", "validation", "sfq", "q", 1.0, 5.0, 4.0, 6.0, "J", {}, "n", reason="sourced"),
            row("d", "validation", "sfq", "q", 1.0, 0.1, 0.05, 0.2, "J", {}, "n")]
    s = summary(rows)
    assert (s["validation_rows"], s["within_factor"], s["inside_range"], s["calibration_rows"]) == (3, 1, 1, 1)
    assert s["outside_3x_without_reason"] == 1  # the 0.1x row has no reason; the 5x row has one
    assert s["targets_with_validation_within_factor"] == ["loihi"]
    assert "sfq" in s["targets_without"] and "SuperSNN" in s["targets_without"]["sfq"]
    table = format_table(rows)
    assert table.index("Calibration rows") < table.index("Validation rows") < table.index("validation: 1 of 3 rows")


def test_consistency_cases_are_calibration_rows_and_the_json_holds_both_lists(tmp_path):
    out = tmp_path / "v" / "validation.json"
    rows, extra = validate(out, ["hermes", "sdt", "supersnn"])
    _check_schema(rows)
    assert all(r["role"] == "calibration" and r["within"] and r["inside"] for r in rows)
    sdt = next(r for r in rows if r["case"].startswith("Spike-driven"))
    assert sdt["ratio"] == pytest.approx(1.0, rel=1e-12)  # the formula, exactly
    s3 = next(r for r in rows if r["case"] == "SuperSNN")
    assert s3["modelled"] == pytest.approx(5822 * 3.693e-7, rel=1e-12)  # junctions x the per-junction figure
    doc = json.loads(out.read_text())
    assert doc["schema"] == list(ROW_KEYS) and doc["calibration"] == rows and doc["validation"] == []
    assert doc["summary"] == extra["summary"] and doc["summary"]["validation_rows"] == 0
    assert not [p for p in out.parent.iterdir() if p.name != "validation.json"]  # no temp file left
    assert "HERMES" in format_table(rows, extra)


def test_h200_calibration_reproduces_its_figures_and_the_egru_validates_them():
    """The per-kernel times were derived with neuromap's 24 kernels per step for the SNN: the
    calibration rows reproduce the measurement; the EGRU (23 kernels per token) is independent."""
    rows = cases.case_h200()
    _check_schema(rows)
    cal = [r for r in rows if r["role"] == "calibration"]
    val = [r for r in rows if r["role"] == "validation"]
    assert {r["scope"]["kernels_per_step"] for r in cal} == {24} and {r["scope"]["kernels_per_step"] for r in val} == {23}
    assert all(r["ratio"] == pytest.approx(1.0, abs=0.015) for r in cal)
    assert len(val) == 4 and all(r["within"] and r["inside"] for r in val)


def test_pilotnet_published_activity_and_the_compiler_allocation(monkeypatch):
    monkeypatch.setattr(cases, "pilotnet_simulated_rows", lambda run, scope: [])  # step (b): test_validation_rows
    run = published.PILOTNET_LIF
    net = cases.pilotnet_netlist(run)
    act = cases.published_activity(net, run)
    assert (act.steps, act.samples) == (16, 625)  # 10,000 steps, 16 per frame
    assert act.total_synops == pytest.approx(sum(layer.synops for layer in run.layers))
    assert act.updates_dense["conv0"] == 76032 * 10000
    assert sum(layer.compiler_cores for layer in run.layers) == 74  # the notebook's "Total | 74"
    assert sum(layer.compiler_cores for layer in published.PILOTNET_SDNN.layers) == 61
    rows, allocation = cases.case_pilotnet()
    _check_schema(rows)
    assert [a["layer"] for a in allocation if a["network"] == "PilotNet LIF"] == [la.name for la in run.layers]
    lif = [r for r in rows if r["case"].startswith("lava-dl PilotNet LIF (a)")]
    assert lif and all(r["lower_bound"] and r["inside"] and r["reason"] for r in lif)  # vendor peak: >=, sourced miss
    static = next(r for r in rows if r["case"] == "lava-dl PilotNet SDNN")
    assert static["role"] == "validation" and static["within"]  # another notebook's reading of the same quantity


def test_unknown_case_and_cli(tmp_path, capsys):
    from neuromap.cli import main

    with pytest.raises(ValueError, match="unknown validation case"):
        validate(None, ["nope"])
    out = tmp_path / "validation.json"
    assert main(["validate", "--case", "sdt", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Spike-driven Transformer formula" in printed and "Calibration rows" in printed and out.exists()
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--case", "nope"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_every_target_is_validated_like_for_like_or_says_what_is_missing(tmp_path):
    t0 = time.perf_counter()
    rows, extra = validate(tmp_path / "validation.json")
    assert time.perf_counter() - t0 < 120
    _check_schema(rows)
    s = extra["summary"]
    assert s["validation_rows"] >= 5 and s["outside_3x_without_reason"] == 0
    for target in REQUIRED:
        assert target in s["targets_with_validation_within_factor"] or target in s["targets_without"]
    assert set(s["targets_with_validation_within_factor"]) >= {"loihi", "loihi2", "spinnaker2", "gpu-h100"}
    for r in rows:
        if r["role"] == "validation" and not r["within"]:
            assert r["reason"]  # a miss says why
    for r in rows:
        assert {"level", "power"} <= set(r["scope"]) or r["target"] == "sdt-45nm"
