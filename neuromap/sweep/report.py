"""The sweep's report: Pareto fronts per target, the table of all trials, as HTML, JSON and CSV.

    paths = write_report(Store.open("results/sweeps/digits_pareto"))
    # STORE/report.html   the figure, the table (non-dominated trials marked), how to read it
    # STORE/results.json  the same rows and fronts as data;  STORE/results.csv  one row per trial
    # STORE/pareto.png    the figure alone (accuracy vs energy per inference, one panel per target)

Energy error bars span each estimate's ``low`` - ``high`` range (equal to the value until the
estimates carry ranges); an estimate that is a lower bound is drawn as a right-pointing triangle and
written with ``>=``. Only records of the spec's own trials are shown (a store resumed with a changed
spec keeps the older records, which the report leaves out).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from neuromap.atomic import atomic_open, write_bytes, write_text

from .pareto import format_si, fronts, metrics, params_text, rows, target_objectives
from .spec import Spec
from .store import Store
from .trial import provenance

FILES = ("report.html", "results.json", "results.csv", "pareto.png")
MAX_LABELS = 24  # points per panel up to which each is labelled with its parameter values


def spec_records(store: Store, spec: Spec) -> tuple[list[str], list[dict[str, Any] | None]]:
    """``(keys, records)`` of the spec's trials: a grid / random sweep's trials in order (None where
    a trial has not finished); for ``nsga2`` (whose trials are proposed during the run) every
    record in the store that belongs to this spec, ordered by parameters and seed."""
    if spec.sampler != "nsga2":
        trials = spec.trials()
        return [t.key for t in trials], [store.get(t.key) for t in trials]
    mine = []
    for key in store.keys():
        r = store.get(key)
        if r is not None and "params" in r and _belongs(spec, r):
            mine.append(r)
    mine.sort(key=lambda r: (params_text(r["params"]), r.get("seed", 0)))
    return [r["key"] for r in mine], mine


def _belongs(spec: Spec, record: Mapping[str, Any]) -> bool:
    try:
        return spec.trial(record["params"]).key == record["key"]
    except (KeyError, TypeError, ValueError):
        return False


def pareto_figure(records: Sequence[Mapping[str, Any] | None], spec: Spec):
    """Accuracy (%) against energy per inference (J; a log axis where it spans decades) per target point: every finished
    trial, the non-dominated ones joined as the front, the energy range as horizontal error bars."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels = [t.label for t in spec.targets]
    ncols = min(3, len(labels))
    nrows = -(-len(labels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False)
    marks = fronts(records, spec)
    for ax, label in zip(axes.flat, labels):
        _panel(ax, records, marks[label], label, list(spec.space))
    for ax in list(axes.flat)[len(labels):]:
        ax.set_visible(False)
    names = ", ".join(spec.space) or "no parameters"
    fig.suptitle(f"sweep {spec.name}: accuracy vs energy per inference (front: non-dominated trials; "
                 f"points labelled {names})")
    fig.tight_layout()
    return fig


def _panel(ax, records, on_front: list[bool], label: str, order: Sequence[str]) -> None:
    pts = []
    for r, front in zip(records, on_front):
        if r is None or r.get("status") != "done":
            continue
        e = r["targets"].get(label, {}).get("energy_J")
        acc = metrics(r).get("accuracy")
        if e is None or e["value"] is None or acc is None:
            continue
        pts.append((e["value"], e["low"], e["high"], 100 * acc, front, e["lower_bound"], _short(r.get("params", {}), order)))
    ax.set_title(label)
    ax.set_xlabel("energy per inference (J)")
    ax.set_ylabel("test accuracy (%)")
    if not pts:
        ax.text(0.5, 0.5, "no estimate on this target", ha="center", va="center", transform=ax.transAxes)
        return
    for v, lo, hi, acc, front, lb, text in pts:
        ax.errorbar([v], [acc], xerr=[[v - lo], [hi - v]], fmt=">" if lb else "o", ms=5,
                    color="tab:red" if front else "0.6", ecolor="0.75", elinewidth=1, capsize=2, zorder=3 if front else 2)
        if len(pts) <= MAX_LABELS:
            ax.annotate(text, (v, acc), textcoords="offset points", xytext=(4, 3), fontsize=6, color="0.3")
    fr = sorted((v, acc) for v, _, _, acc, front, _, _ in pts if front)
    # the front as a staircase: what is attainable at each energy (a straight line would promise more)
    ax.step([p[0] for p in fr], [p[1] for p in fr], where="post", color="tab:red", lw=1.2, label="front", zorder=1)
    ax.plot([], [], "o", color="0.6", label="dominated")
    if any(p[5] for p in pts):
        ax.plot([], [], ">", color="0.3", label="lower bound (>=)")
    from matplotlib.ticker import EngFormatter, MaxNLocator, NullFormatter

    lo, hi = min(p[1] for p in pts), max(p[2] for p in pts)
    if lo > 0 and hi / lo > 20:  # a log axis only where the energies span decades
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.xaxis.set_major_formatter(EngFormatter(unit="J"))
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="best")  # not over a point


def _short(params: Mapping[str, Any], order: Sequence[str]) -> str:
    """A point's label: its parameter values in the spec's order, e.g. ``[64] 10`` (names in the title)."""
    return " ".join(str(params[k]).replace(" ", "") for k in order if k in params)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _cell(row: Mapping[str, Any], label: str) -> str:
    v = row.get(f"energy@{label}")
    if v is None:
        err = row.get(f"error@{label}")
        return f"<td title='{html.escape(str(err or ''))}'>n/a</td>"
    ge = "&ge;" if row.get(f"energy_lower_bound@{label}") else ""
    star = " &#9733;" if row.get(f"non_dominated@{label}") else ""
    return f"<td>{ge}{html.escape(format_si(v, 'J'))}{star}</td>"


def _table(table: list[dict[str, Any]], spec: Spec) -> str:
    params = list(spec.space) if spec.space else []
    head = "".join(f"<th>{html.escape(p)}</th>" for p in params) + "<th>seed</th><th>status</th><th>accuracy</th>" \
        + "<th>weights (kbit)</th>" + "".join(f"<th>energy @ {html.escape(t.label)}</th>" for t in spec.targets) \
        + f"<th>front ({html.escape(', '.join(f'{k} {v}' for k, v in spec.objectives.items()))})</th>"
    body = []
    for r in table:
        cells = "".join(f"<td>{html.escape(str(r.get(f'param:{p}', '')))}</td>" for p in params)
        cells += f"<td>{r.get('seed', '')}</td><td>{html.escape(r['status'])}</td>"
        if r["status"] == "done":
            acc = r.get("accuracy")
            cells += f"<td>{'' if acc is None else f'{100 * acc:.1f} %'}</td><td>{r['weight_bits'] / 1000:.1f}</td>"
            cells += "".join(_cell(r, t.label) for t in spec.targets)
            cells += f"<td>{'non-dominated' if r['non_dominated'] else 'dominated'}</td>"
        else:
            span = 3 + len(spec.targets)
            cells += f"<td colspan='{span}' style='text-align:left'>{html.escape(str(r.get('error') or ''))}</td>"
        body.append(f"<tr class='{'front' if r.get('non_dominated') else ''}'>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def report_data(spec: Spec, keys: list[str], records: list[dict[str, Any] | None]) -> dict[str, Any]:
    """What ``results.json`` holds: the spec, counts, objectives, the rows and the fronts' keys."""
    table = rows(records, spec, keys)
    counts = {s: sum(1 for r in table if r["status"] == s) for s in ("done", "error", "lost", "pending")}
    marks = fronts(records, spec)
    return {
        "sweep": spec.name, "sampler": spec.sampler, "spec": spec.to_dict(), "counts": counts,
        "objectives": spec.objectives,
        "fronts": {name: [k for k, m in zip(keys, mask) if m] for name, mask in marks.items()},
        "front_objectives": {"objectives": spec.objectives,
                             **{t.label: target_objectives(t.label) for t in spec.targets}},
        "energy_range_note": "energy_low / energy_high equal the value until the estimates carry ranges",
        "rows": table, "provenance": provenance(),
    }


def write_report(store: Store, spec: Spec | None = None, keys: Sequence[str] | None = None,
                 records: Sequence[dict[str, Any] | None] | None = None) -> dict[str, Path]:
    """Write :data:`FILES` into the store (atomically); returns ``{name: path}``. ``keys`` and
    ``records`` (a run's trial keys and records, in its order; None for a trial without one) default
    to the store's records of ``spec`` (default: the store's spec)."""
    spec = spec or store.spec()
    if keys is not None and records is not None:
        keys, recs = list(keys), list(records)
    else:
        keys, recs = spec_records(store, spec)
    data = report_data(spec, keys, recs)
    png = _png(pareto_figure(recs, spec))
    paths = {name: store.path / name for name in FILES}
    write_bytes(paths["pareto.png"], png)
    write_text(paths["results.json"], json.dumps(data, indent=1, allow_nan=True) + "\n")
    columns = list(dict.fromkeys(k for r in data["rows"] for k in r))
    with atomic_open(paths["results.csv"], "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, columns)
        w.writeheader()
        w.writerows(data["rows"])
    write_text(paths["report.html"], _html(spec, data, png))
    return paths


def _html(spec: Spec, data: dict[str, Any], png: bytes) -> str:
    c = data["counts"]
    status = ", ".join(f"{n} {s}" for s, n in c.items() if n)
    img = base64.b64encode(png).decode()
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>neuromap sweep: {html.escape(spec.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right}}tr.front td{{background:#fff3f0}}img{{max-width:100%}}
</style></head><body>
<h1>neuromap sweep: {html.escape(spec.name)}</h1>
<p>{len(data['rows'])} trials ({html.escape(status)}); sampler {html.escape(spec.sampler)}, seed {spec.seed};
model {html.escape(str(spec.model['builder']))} on data set {html.escape(str(spec.data['name']))}.
Accuracy: the test split of the trained{' and quantised' if spec.quantize else ''} model (torch).
Energy per inference: neuromap's estimate on each target (counts of the trial's own run times the
target's cited figures; <code>neuromap report</code> on the trial's graph explains each number);
&ge; marks a lower bound; the error bars span each estimate's range.</p>
<figure><img src="data:image/png;base64,{img}"/><figcaption>Per target: the non-dominated trials
(accuracy up, energy down) in red, joined as the front; dominated trials in grey.</figcaption></figure>
<h2>All trials</h2>
<p>&#9733; = on that target's front (accuracy vs energy); the last column is the front on the spec's
objectives. Rows with a shaded background are on that front.</p>
{_table(data['rows'], spec)}
<script type="application/json" id="neuromap-sweep">{html.escape(json.dumps(data, allow_nan=True))}</script>
</body></html>"""
