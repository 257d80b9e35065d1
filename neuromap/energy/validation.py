"""``validate()``: published measurements re-created with the cost models, in two lists.

*Calibration* rows compare the model with a measurement a target figure was derived from (they
show that the derivation is reproduced and are never counted); *validation* rows compare it with
independent measurements (another network, paper or operating point), like for like: each row's
``scope`` says what the measurement included and the model computes that quantity. A validation
row that misses its factor stays in the table with its ``reason``. The summary counts validation
rows only: how many lie within their factor and how many measurements lie inside the estimate's
range (the figures' stated confidence carried through the same arithmetic).

    rows, extra = validate()          # rows as in neuromap.energy.rows; also results/validation.json
    print(format_table(rows, extra))

The cases are :mod:`neuromap.energy.cases`; the measurements, with their sources,
:mod:`neuromap.energy.published`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neuromap import targets
from neuromap.atomic import write_text
from neuromap.errors import NeuromapError
from neuromap.estimate import fmt_si

from . import cases as c
from .published import MEASUREMENTS
from .rows import EXACT, FACTOR, ROW_KEYS, row

__all__ = ["CASES", "DEFAULT_PATH", "EXACT", "ROW_KEYS", "NotIndependent", "calibrated_figures", "check_independent",
           "format_table", "markdown", "row", "summary", "validate", "write_rows"]

DEFAULT_PATH = Path("results") / "validation.json"
#: targets that must have an independent validation row within its factor (issue 28)
REQUIRED = ("loihi", "loihi2", "spinnaker2", "sfq", "gpu-h100")
#: what is missing for a required target that has none, and where it would come from
MISSING = {
    "sfq": "an SFQ measurement independent of SuperSNN: the bias supply voltage of a resistively biased MIT-LL "
           "SFQ5ee circuit (RSFQlib gives each junction's bias current, 0.7 I_c, but no voltage) or a second "
           "fabricated chip's static power and junction count; SuperSNN's dynamic 6.55 fJ per inference needs its "
           "network and activity, which only the paper's body (not read here) gives",
}


def _rows_only(case: Callable[[], list[dict]]) -> Callable[[], tuple[list[dict], list[dict]]]:
    return lambda: (case(), [])


#: name -> a case returning ``(rows, allocation)`` (the cores-per-layer table; only PilotNet has one)
CASES: dict[str, Callable[[], tuple[list[dict], list[dict]]]] = {
    "h200": _rows_only(c.case_h200),
    "blouw2019": _rows_only(c.case_blouw_2019),
    "nazeer2024": _rows_only(c.case_nazeer_2024),
    "pilotnet": c.case_pilotnet,
    "supersnn": _rows_only(c.case_supersnn),
    "hermes": _rows_only(c.case_hermes),
    "sdt": _rows_only(c.case_sdt_formula),
}


class NotIndependent(NeuromapError, ValueError):
    """A validation row compares with a measurement a target figure was derived from, or a row or a
    figure names a measurement that :data:`~neuromap.energy.published.MEASUREMENTS` lacks."""


def calibrated_figures() -> dict[str, str]:
    """``target:section.figure`` -> the measurement it was derived from (its ``calibrated_on``), over
    every shipped target."""
    out = {}
    for name in targets.available():
        for key, fig in targets.load(name).figures():
            if fig.known and fig.calibrated_on:
                out[f"{name}:{key}"] = fig.calibrated_on
    return out


def check_independent(rows: list[dict], calibrated: dict[str, str] | None = None) -> None:
    """Raise :class:`NotIndependent` unless calibration and validation sources are disjoint: no
    validation row uses a figure derived from the measurement it compares with (``calibrated``:
    ``target:section.figure`` -> measurement, default every shipped target's
    :func:`calibrated_figures`), every validation row lists the figures it used, no measurement is
    both a calibration and a validation row, and every measurement named is in ``MEASUREMENTS``."""
    calibrated = calibrated_figures() if calibrated is None else calibrated
    named = {r["measurement"] for r in rows} | set(calibrated.values())
    unknown = sorted(m for m in named if m not in MEASUREMENTS)
    if unknown:
        raise NotIndependent(f"measurement(s) {unknown} are not in neuromap.energy.published.MEASUREMENTS")
    for r in (x for x in rows if x["role"] == "validation"):
        if not r["figures"]:
            raise NotIndependent(f"validation row {r['case']!r} / {r['quantity']!r} lists no figures: its "
                                 "independence cannot be checked")
        own = [f for f in r["figures"] if calibrated.get(f) == r["measurement"]]
        if own:
            raise NotIndependent(f"validation row {r['case']!r} / {r['quantity']!r} uses {own}, derived from the "
                                 f"measurement it compares with ({r['measurement']!r}): it is a calibration row")
    both = {r["measurement"] for r in rows if r["role"] == "validation"} & \
        {r["measurement"] for r in rows if r["role"] == "calibration"}
    if both:
        raise NotIndependent(f"measurement(s) {sorted(both)} appear as calibration and as validation rows")


def validate(path: str | os.PathLike | None = DEFAULT_PATH, cases: list[str] | None = None
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the cases (all by default); write rows, summary and the PilotNet core allocation to
    ``path`` atomically (None: do not write). Returns ``(rows, extra)`` with ``extra`` holding the
    ``summary`` and the ``allocation`` table."""
    names = list(CASES) if cases is None else cases
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise ValueError(f"unknown validation case(s) {unknown}; known: {list(CASES)}")
    rows, allocation = [], []
    for name in names:
        case_rows, case_allocation = CASES[name]()
        rows += case_rows
        allocation += case_allocation
    check_independent(rows)
    extra = {"summary": summary(rows), "allocation": allocation}
    if path is not None:
        write_rows(rows, path, extra)
    return rows, extra


def summary(rows: list[dict]) -> dict[str, Any]:
    """Counts of the validation rows (calibration rows are listed, not counted) and the required
    targets with and without an independent row within its factor."""
    val = [r for r in rows if r["role"] == "validation"]
    good = sorted({r["target"] for r in val if r["within"]})
    ran = {r["target"] for r in rows}
    lacking = [t for t in REQUIRED if t in ran and t not in good]
    return {"validation_rows": len(val), "within_factor": sum(r["within"] for r in val),
            "inside_range": sum(r["inside"] for r in val), "calibration_rows": len(rows) - len(val),
            "outside_3x_without_reason": sum(1 for r in val if not 1 / 3 <= r["ratio"] <= 3 and not r["reason"]),
            "targets_with_validation_within_factor": good,
            "targets_without": {t: MISSING.get(t, "no validation row within its factor") for t in lacking}}


def document(rows: list[dict], extra: dict | None = None) -> dict[str, Any]:
    """``{"schema", "summary", "calibration", "validation", "allocation"}``: what ``validate`` writes."""
    extra = extra or {"summary": summary(rows), "allocation": []}
    return {"schema": list(ROW_KEYS), "summary": extra["summary"],
            "calibration": [r for r in rows if r["role"] == "calibration"],
            "validation": [r for r in rows if r["role"] == "validation"], "allocation": extra["allocation"]}


def write_rows(rows: list[dict], path: str | os.PathLike, extra: dict | None = None) -> Path:
    """:func:`document` as JSON, atomically (the README and the docs render it with :func:`markdown`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, json.dumps(document(rows, extra), indent=2) + "\n")


def summary_line(s: dict[str, Any]) -> str:
    """The summary of the validation rows as one sentence."""
    good = ", ".join(s["targets_with_validation_within_factor"]) or "none"
    return (f"validation: {s['within_factor']} of {s['validation_rows']} rows within their factor, "
            f"{s['inside_range']} inside the estimate's range; {s['calibration_rows']} calibration rows not counted; "
            f"targets with an independent row within its factor: {good}")


def markdown(doc: dict[str, Any]) -> str:
    """A :func:`document` (e.g. ``results/validation.json`` read back) as two Markdown tables
    (calibration, validation; ``>=`` before a lower bound), the summary, what is missing and the
    PilotNet core allocation."""
    out = []
    for role, title in (("calibration", "Calibration rows (a target figure was derived from the measurement: "
                                        "shown, not counted)"),
                        ("validation", "Validation rows (independent measurements)")):
        out += [f"**{title}**", "", "| target | case | quantity | published | modelled | range | ratio | within "
                "| inside | why a miss |", "|---|---|---|---:|---:|---:|---:|---|---|---|"]
        for r in doc[role]:
            ge = ">=" if r["lower_bound"] else ""
            out.append(f"| {r['target']} | {r['case']} | {r['quantity']} | {_value(r['published'], r['unit'])} | "
                       f"{ge}{_value(r['modelled'], r['unit'])} | {_range(r)} | {r['ratio']:.3g} | "
                       f"{'yes' if r['within'] else 'no'} | {'yes' if r['inside'] else 'no'} | "
                       f"{r['reason'].replace('|', '/')} |")
        out.append("")
    s = doc["summary"]
    out.append(summary_line(s) + ".")
    out += [f"No such row for {t}: missing {why}." for t, why in s["targets_without"].items()]
    if doc.get("allocation"):
        out += ["", "| network | layer | neurons | Loihi 2 compiler cores | neuromap cores |", "|---|---|---:|---:|---:|"]
        out += [f"| {a['network']} | {a['layer']} | {a['neurons']:,} | {a['compiler_cores']} | {a['neuromap_cores']} |"
                for a in doc["allocation"]]
    return "\n".join(out) + "\n"


def _value(x: float | None, unit: str) -> str:
    if x is None:
        return "inf"
    return f"{x:.3g}" if unit in ("1", "TOPS", "TOPS/W") else fmt_si(x, unit)


def _range(r: dict) -> str:
    """``low - high``; ``>= low`` with no upper end, ``<= high`` with no lower end (the inverse of a
    lower bound, e.g. TOPS/W from a lower-bound energy)."""
    if r["high"] is None:
        return f">= {_value(r['low'], r['unit'])}"
    if r["low"] == 0:
        return f"<= {_value(r['high'], r['unit'])}"
    return f"{_value(r['low'], r['unit'])} - {_value(r['high'], r['unit'])}"


def _section(title: str, rows: list[dict], start: int) -> list[str]:
    head = (f"{'target':<13}{'case':<31}{'quantity':<31}{'published':>11}{'modelled':>12}{'range':>23}"
            f"{'ratio':>8}  within  inside  [note]")
    lines = [title, head, "-" * len(head)]
    for k, r in enumerate(rows, start):
        ge = ">=" if r["lower_bound"] else ""
        lines.append(f"{r['target']:<13}{r['case'][:30]:<31}{r['quantity'][:30]:<31}{_value(r['published'], r['unit']):>11}"
                     f"{ge + _value(r['modelled'], r['unit']):>12}{_range(r):>23}{r['ratio']:>8.3g}  "
                     f"{'yes' if r['within'] else 'NO':<6}  {'yes' if r['inside'] else 'NO':<6}  [{k}]")
    return lines


def format_table(rows: list[dict], extra: dict | None = None) -> str:
    """Calibration and validation rows as two fixed-width tables, the summary line, the PilotNet
    allocation table, then the numbered notes (scope, note and the reason of a miss)."""
    extra = extra or {"summary": summary(rows), "allocation": []}
    cal = [r for r in rows if r["role"] == "calibration"]
    val = [r for r in rows if r["role"] == "validation"]
    lines = _section("Calibration rows (a target figure was derived from these measurements; shown, not counted)",
                     cal, 1)
    lines += [""] + _section(f"Validation rows (independent measurements; within = ratio inside 1/{FACTOR:g}x - "
                             f"{FACTOR:g}x, inside = the measurement inside the estimate's range)", val, len(cal) + 1)
    s = extra["summary"]
    lines += ["", summary_line(s)]
    lines += [f"  no such row for {t}: missing {why}" for t, why in s["targets_without"].items()]
    if extra.get("allocation"):
        lines += ["", "Cores per layer: the Loihi 2 compiler (lava-dl notebooks) beside neuromap's partition (loihi2)",
                  f"{'network':<15}{'layer':<8}{'neurons':>9}{'compiler':>10}{'neuromap':>10}"]
        lines += [f"{a['network']:<15}{a['layer']:<8}{a['neurons']:>9,}{a['compiler_cores']:>10}{a['neuromap_cores']:>10}"
                  for a in extra["allocation"]]
    lines.append("")
    for k, r in enumerate(cal + val, 1):
        scope = "; ".join(f"{key}: {v}" for key, v in r["scope"].items())
        lines.append(f"[{k}] {r['target']} / {r['case']} / {r['quantity']} ({r['role']}, {r['measurement']}): "
                     f"{r['note']}. Scope: {scope}. Figures: {', '.join(r['figures'])}."
                     + (f" Miss: {r['reason']}." if r["reason"] else ""))
    return "\n".join(lines)

