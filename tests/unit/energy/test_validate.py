"""``neuromap validate``: row schema, atomic JSON, exact and tolerance cases, CLI."""

import json
import time

import pytest

from neuromap.energy.validation import ROW_KEYS, format_table, row, validate


def _check_schema(rows):
    for r in rows:
        assert tuple(r) == ROW_KEYS
        assert isinstance(r["case"], str) and isinstance(r["quantity"], str) and r["note"]
        for k in ("published", "modelled", "ratio", "factor"):
            assert isinstance(r[k], float) and r[k] > 0
        assert r["ratio"] == pytest.approx(r["modelled"] / r["published"])
        assert r["within"] == (1 / r["factor"] <= r["ratio"] <= r["factor"])


def test_row_within_is_symmetric_in_the_factor():
    assert row("c", "q", 10.0, 19.9, 2.0, "J", "n")["within"]
    assert row("c", "q", 10.0, 5.1, 2.0, "J", "n")["within"]
    assert not row("c", "q", 10.0, 4.9, 2.0, "J", "n")["within"]
    assert not row("c", "q", 10.0, 20.1, 2.0, "J", "n")["within"]


def test_hermes_and_sdt_cases_and_json(tmp_path):
    out = tmp_path / "v" / "validation.json"
    rows = validate(out, ["hermes", "sdt"])
    _check_schema(rows)
    assert all(r["within"] for r in rows)
    sdt = next(r for r in rows if r["case"].startswith("Spike-driven"))
    assert sdt["ratio"] == pytest.approx(1.0, rel=1e-12)  # the formula, exactly
    doc = json.loads(out.read_text())
    assert doc["schema"] == list(ROW_KEYS) and doc["rows"] == rows
    assert not [p for p in out.parent.iterdir() if p.name != "validation.json"]  # no temp file left
    assert "HERMES" in format_table(rows)


def test_unknown_case_and_cli(tmp_path, capsys):
    from neuromap.cli import main

    with pytest.raises(ValueError, match="unknown validation case"):
        validate(None, ["nope"])
    out = tmp_path / "validation.json"
    assert main(["validate", "--case", "sdt", "-o", str(out)]) == 0
    assert "Spike-driven Transformer formula" in capsys.readouterr().out and out.exists()
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--case", "nope"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_all_cases_run_under_a_minute(tmp_path):
    t0 = time.perf_counter()
    rows = validate(tmp_path / "validation.json")
    assert time.perf_counter() - t0 < 60
    _check_schema(rows)
    assert {r["case"] for r in rows} >= {"Nazeer 2024 EGRU LM", "Blouw 2019 keyword spotting", "HERMES"}
    for r in rows:
        if not r["within"]:
            assert "Miss" in r["note"]  # a miss says why
