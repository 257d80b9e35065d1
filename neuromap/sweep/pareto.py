"""Metrics of a trial record, Pareto fronts (non-dominated trials) and the table of all trials.

A trial's metrics are ``accuracy`` (test split, the trained - and quantised - torch model),
``weight_bits`` (model size), ``spikes_per_sample``, and per target point ``energy@LABEL`` (J per
inference) and ``latency@LABEL`` (s per inference). A trial is *dominated* when another is at least
as good in every objective and better in one; the non-dominated trials form the front.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .spec import Spec


def metrics(record: Mapping[str, Any]) -> dict[str, float | None]:
    """Every metric of a ``done`` record (None where a target could not price the model)."""
    m = record.get("metrics", {})
    out: dict[str, float | None] = {k: m.get(k) for k in ("accuracy", "weight_bits", "spikes_per_sample")}
    for label, t in record.get("targets", {}).items():
        out[f"energy@{label}"] = t.get("energy_J", {}).get("value")
        out[f"latency@{label}"] = t.get("latency_s", {}).get("value")
    return out


def dominates(a: Sequence[float], b: Sequence[float], senses: Sequence[str]) -> bool:
    """True when ``a`` is at least as good as ``b`` in every objective and better in one."""
    better = False
    for x, y, s in zip(a, b, senses):
        if (x < y) if s == "max" else (x > y):
            return False
        better |= (x > y) if s == "max" else (x < y)
    return better


def non_dominated(points: Sequence[Sequence[float] | None], senses: Sequence[str]) -> list[bool]:
    """For each point (None: no value, never on the front) whether no other point dominates it.
    Equal points do not dominate each other: both stay on the front."""
    valid = [p for p in points if p is not None]
    return [p is not None and not any(dominates(q, p, senses) for q in valid) for p in points]


def front(records: Sequence[Mapping[str, Any] | None], objectives: Mapping[str, str]) -> list[bool]:
    """Non-dominated marks of ``records`` (None or failed: False) on ``objectives`` (metric -> max/min)."""
    points: list[list[float] | None] = []
    for r in records:
        m = metrics(r) if r is not None and r.get("status") == "done" else {}
        vals = [m.get(k) for k in objectives]
        points.append(None if any(v is None for v in vals) else [float(v) for v in vals])
    return non_dominated(points, list(objectives.values()))


def target_objectives(label: str) -> dict[str, str]:
    """The per-target front's objectives: accuracy (max) against energy per inference (min)."""
    return {"accuracy": "max", f"energy@{label}": "min"}


def fronts(records: Sequence[Mapping[str, Any] | None], spec: Spec) -> dict[str, list[bool]]:
    """``{"objectives": marks on the spec's objectives, LABEL: marks on accuracy vs energy there}``."""
    out = {"objectives": front(records, spec.objectives)}
    for t in spec.targets:
        out[t.label] = front(records, target_objectives(t.label))
    return out


def format_si(x: float | None, unit: str) -> str:
    if x is None:
        return "n/a"
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def params_text(params: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items()) or "(no parameters)"


def summary(record: Mapping[str, Any], spec: Spec) -> str:
    """One line: key, parameters and the result (accuracy, energy per target) or the error."""
    params = record.get("params", {})
    head = f"{record['key']} {params_text(params)}" + ("" if "seed" in params else f" seed={record.get('seed')}")
    if record["status"] != "done":
        return f"{head}: {record['status'].upper()} {record.get('error', '')}"
    m = metrics(record)
    acc = m.get("accuracy")
    parts = [f"accuracy {100 * acc:.1f} %" if acc is not None else "accuracy n/a"]
    for t in spec.targets:
        entry = record["targets"].get(t.label, {})
        if "error" in entry:
            parts.append(f"{t.label} n/a ({entry['error'][:60]})")
        else:
            ge = ">=" if entry["energy_J"]["lower_bound"] else ""
            parts.append(f"{t.label} {ge}{format_si(m.get(f'energy@{t.label}'), 'J')}")
    secs = record.get("timing", {}).get("trial_s")
    return f"{head}: " + ", ".join(parts) + (f" ({secs:.1f} s)" if secs is not None else "")


def _target_cells(record: Mapping[str, Any], spec: Spec) -> dict[str, Any]:
    """Per target point: the energy range and lower-bound flag, or the target's error."""
    out: dict[str, Any] = {}
    for t in spec.targets:
        e = record["targets"].get(t.label, {})
        if "energy_J" not in e:
            out[f"error@{t.label}"] = e.get("error")
            continue
        out[f"energy_low@{t.label}"] = e["energy_J"]["low"]
        out[f"energy_high@{t.label}"] = e["energy_J"]["high"]
        out[f"energy_lower_bound@{t.label}"] = e["energy_J"]["lower_bound"]
    return out


def rows(records: Sequence[Mapping[str, Any] | None], spec: Spec, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The table of all trials (one flat row each, in spec order): parameters, seed, status,
    metrics with ``energy_low`` / ``energy_high`` per target, and the front marks."""
    marks = fronts(records, spec)
    out = []
    for i, (key, r) in enumerate(zip(keys, records)):
        row: dict[str, Any] = {"key": key, "status": r["status"] if r is not None else "pending"}
        if r is not None:
            row.update({f"param:{k}": v for k, v in r.get("params", {}).items()}, seed=r.get("seed"))
            if r["status"] == "done":
                row.update(metrics(r))
                row.update(_target_cells(r, spec))
            else:
                row["error"] = r.get("error")
        row["non_dominated"] = marks["objectives"][i]
        row.update({f"non_dominated@{t.label}": marks[t.label][i] for t in spec.targets})
        out.append(row)
    return out
