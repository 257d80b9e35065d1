"""How far to trust a report's estimates, said in words, from ``neuromap validate``'s JSON.

``neuromap validate`` re-creates published measurements with the cost models and writes its rows as
JSON (:mod:`neuromap.energy.validation`). A report reads that document through :func:`load_validation`
(a file, or the same cases run now into a temporary file, so a report made anywhere has it) and
:func:`summarise` turns it into one sentence per target of the report: validated (independent
measurements, how many within their factor and by how much), calibration only (a figure was derived
from the measurement: consistency, not validation), or no measurement at all.

Rows are read by their keys, so the summary follows the rows as they grow: ``case``, ``quantity``,
``published``, ``modelled``, ``ratio`` (modelled / published), ``factor``, ``within``; and, where
present, ``target`` (the target whose estimate the row checks), ``role`` (``"validation"`` or
``"calibration"``; a row without one counts as validation) and ``lower_bound``. A document lists its
rows under ``rows``, or under ``calibration`` and ``validation``. Rows that name no target are
summarised per case, with a sentence saying so.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuromap.errors import InputError


@dataclass
class Trust:
    """The summary of one validation document for a report's targets.

    Attributes:
        source: where the rows came from (a path, or ``"computed now by neuromap validate's cases"``).
        lines: the sentences, one per target (then any for rows that name no target).
        targets: target -> ``{"status": "validated" | "partly validated" | "not validated" |
            "calibration only" | "no measurement" | "unknown", "rows": validation rows, "within": those
            within their factor}`` (``unknown``: the document's rows name no targets).
    """

    source: str
    lines: list[str] = field(default_factory=list)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "lines": list(self.lines), "targets": dict(self.targets)}


COMPUTED = "computed now by neuromap validate's cases"


def load_validation(path: str | os.PathLike | None = None) -> tuple[dict[str, Any], str]:
    """``(document, source)``: ``neuromap validate``'s JSON from ``path``, or (``path=None``) its
    cases run now and written to a temporary file, read back the same way (seconds: every case is re-run).

    Raises:
        InputError: ``path`` cannot be read or is not a validation document.
    """
    if path is not None:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"--validation {path}: cannot read it as neuromap validate's JSON ({exc})") from exc
        if not isinstance(doc, dict) or not any(k in doc for k in ("rows", "validation", "calibration")):
            raise InputError(f"--validation {path}: not neuromap validate's JSON (no rows in it)")
        return doc, str(path)
    from .validation import validate

    with tempfile.TemporaryDirectory(prefix="neuromap-validate-") as tmp:
        out = Path(tmp) / "validation.json"
        validate(out)
        return json.loads(out.read_text()), COMPUTED


def rows_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a validation document, each with a ``role`` (``"validation"`` when it has none)."""
    listed = doc.get("rows")
    if listed is None:
        listed = [*doc.get("calibration", []), *doc.get("validation", [])]
    return [{"role": "validation", **r} for r in listed]


def _ratio(r: dict[str, Any]) -> str:
    bound = ">= " if r.get("lower_bound") else ""
    return f"{r['case']}, {r['quantity']}: modelled / published = {bound}{r['ratio']:.2g} (factor {r['factor']:g})"


def _sentence(target: str, rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    val = [r for r in rows if r["role"] == "validation"]
    cal = [r for r in rows if r["role"] != "validation"]
    within = sum(bool(r["within"]) for r in val)
    if val:
        status = "validated" if within == len(val) else "partly validated" if within else "not validated"
        hits = [_ratio(r) for r in val if r["within"]]
        misses = [_ratio(r) for r in val if not r["within"]]
        text = (f"{target}: {status} - {within} of {len(val)} independent measurement(s) within their factor"
                + (f" ({'; '.join(hits)})" if hits else "")
                + (f"; outside: {'; '.join(misses)}" if misses else ""))
    elif cal:
        status = "calibration only"
        text = (f"{target}: not validated - only calibration rows (a figure was derived from the measurement, so "
                f"agreement shows consistency, not accuracy): {'; '.join(_ratio(r) for r in cal)}")
    else:
        status = "no measurement"
        text = (f"{target}: not validated - no published measurement is compared with this target; its estimate "
                "rests on its cited figures alone")
    return text, {"status": status, "rows": len(val), "within": within}


def summarise(doc: dict[str, Any], targets: Iterable[str], source: str = "") -> Trust:
    """One sentence per target in ``targets`` from the rows of ``doc`` (see the module docstring);
    ``source`` says where ``doc`` came from (a path, or :data:`COMPUTED`)."""
    rows = rows_of(doc)
    trust = Trust(source)
    named = any(r.get("target") for r in rows)
    for t in targets:
        if named:
            text, info = _sentence(t, [r for r in rows if r.get("target") == t])
        else:  # a document whose rows do not say which target they check: no per-target claim
            text, info = f"{t}: unknown - the validation rows do not name the targets they check", {"status": "unknown"}
        trust.lines.append(text)
        trust.targets[t] = info
    unnamed = [r for r in rows if not r.get("target")]
    if unnamed:
        cases: dict[str, list[dict[str, Any]]] = {}
        for r in unnamed:
            cases.setdefault(r["case"], []).append(r)
        trust.lines.append("rows that name no target (read per case): " + "; ".join(
            f"{case}: {sum(bool(r['within']) for r in rs)} of {len(rs)} within their factor" for case, rs in cases.items()))
    return trust


__all__ = ["COMPUTED", "Trust", "load_validation", "rows_of", "summarise"]
