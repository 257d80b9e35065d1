"""``Report``: one model's energy, latency and resources on several targets, side by side.

    rep = nm.report(graph, targets=["loihi2", "spinnaker2", "crossbar-pcm"], activity=run.activity)
    print(rep)                                  # terminal table
    print(rep.explain("loihi2", "energy"))      # counts x spec figures (with sources) = numbers
    rep.save("report.html")                     # self-contained HTML with plots (.json: data)
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuromap.atomic import write_text
from neuromap.errors import InputError
from neuromap.estimate import Estimate, Options, fmt_si
from neuromap.pipeline import ALL_TARGETS, map_targets  # noqa: F401  (ALL_TARGETS: "all", every shipped target)
from neuromap.targets import get_kind

from .activity import Activity
from .estimates import estimate

SCHEMA_VERSION = 1


LEGEND = ("omitted = terms left out because the target lacks a figure; >= = a lower bound (the model leaves out "
          "parts it has no figure for); see explain()")


def _marked(row: dict[str, Any]) -> tuple[str, str, str]:
    """Energy / latency per step / latency per inference of a :meth:`Report.rows` row as text, with
    ">=" where the estimate is a lower bound."""
    ge_e = ">=" if row["energy_lower_bound"] else ""
    ge_l = ">=" if row["latency_lower_bound"] and row["latency_per_step_s"] is not None else ""
    return (ge_e + fmt_si(row["energy_per_inference_J"], "J"), ge_l + fmt_si(row["latency_per_step_s"], "s"),
            ge_l + fmt_si(row["latency_per_inference_s"], "s"))


_VALIDATION = Path("results") / "validation.json"


def _validation_html(link: Path) -> str:
    """A link to the validation rows (``neuromap validate``) and, when the file is there, its table."""
    head = (f"<h2>How far to trust the models</h2><p>Published measurements re-created with these cost models: "
            f"<a href='{html.escape(str(link))}'>{html.escape(str(link))}</a> (written by <code>neuromap validate</code>).")
    path = link if link.is_absolute() else _VALIDATION
    try:
        rows = json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError, TypeError):
        return head + " Run it to fill this table.</p>"
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r["case"], r["quantity"], f"{r['published']:.4g}", f"{r['modelled']:.4g}", f"{r['ratio']:.3g}",
            f"{r['factor']:.3g}", "yes" if r["within"] else "no")) + "</tr>" for r in rows)
    return (head + "</p><table><tr><th>case</th><th>quantity</th><th>published</th><th>modelled</th><th>ratio</th>"
            f"<th>factor</th><th>within</th></tr>{cells}</table>")


@dataclass
class Report:
    """Estimates per target for one model and one activity record."""

    model: str
    activity: Activity
    estimates: dict[str, Estimate]
    mappings: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)

    # --- views ---------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        out = []
        for name, e in self.estimates.items():
            res = e.resources
            units = get_kind(e.kind).cores_or_tiles(e)
            out.append({
                "target": name,
                "kind": e.kind,
                "energy_per_inference_J": e.energy_per_inference_J,
                "latency_per_step_s": e.latency_per_step_s,
                "latency_per_inference_s": e.latency_per_inference_s,
                "throughput_per_s": e.throughput_per_s,
                "cores_or_tiles": units,
                "chips": res.get("chips"),
                "omitted": len(e.omitted),
                "latency_lower_bound": e.latency_lower_bound,
                "energy_lower_bound": e.energy_lower_bound,
                "accuracy": self.accuracy.get(name),
                "chip_energy_per_inference_J": res.get("chip_energy_J_per_inference"),
                "cryocooler_energy_per_inference_J": res.get("cryocooler_energy_J_per_inference"),
            })
        return out

    def energy_splits(self) -> list[str]:
        """The lines each target's kind adds under the table (SFQ: chip and wall-plug energy)."""
        return [line for n, e in self.estimates.items() for line in get_kind(e.kind).report_lines(n, e)]

    def table(self) -> str:
        head = f"{'target':<14}{'kind':<13}{'energy/inf':>12}{'latency/step':>14}{'latency/inf':>13}{'cores|tiles':>12}" \
               f"{'chips':>7}{'accuracy':>10}  omitted"
        lines = [f"{self.model}: {self.activity.samples} sample(s) x {self.activity.steps} steps, "
                 f"{self.activity.total_spikes / self.activity.samples:,.0f} spikes/sample", head, "-" * len(head)]
        for r in self.rows():
            acc = "" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f} %"
            energy, lat_step, lat_inf = _marked(r)
            lines.append(
                f"{r['target']:<14}{r['kind']:<13}{energy:>12}{lat_step:>14}{lat_inf:>13}"
                f"{str(r['cores_or_tiles'] or ''):>12}{str(r['chips'] or ''):>7}{acc:>10}  {r['omitted'] or ''}"
            )
        lines += self.energy_splits()
        lines.append(f"({LEGEND})")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The per-target table as Markdown (same marks as :meth:`table`)."""
        lines = ["| target | kind | energy / inference | latency / step | latency / inference | accuracy | omitted |",
                 "|---|---|---:|---:|---:|---:|---:|"]
        for r in self.rows():
            acc = "" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f} %"
            lines.append("| " + " | ".join((r["target"], r["kind"], *_marked(r), acc, str(r["omitted"] or ""))) + " |")
        splits = self.energy_splits()
        return "\n".join(lines + ([""] + splits if splits else [])) + "\n"

    def __str__(self) -> str:
        return self.table()

    def explain(self, target: str, quantity: str = "energy") -> str:
        if target not in self.estimates:
            raise KeyError(f"no estimate for {target!r}; targets: {list(self.estimates)}")
        return self.estimates[target].explain(quantity)

    # --- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        ests = {}
        for name, e in self.estimates.items():
            ests[name] = {
                "kind": e.kind,
                "energy_J": e.energy_J,
                "energy_per_inference_J": e.energy_per_inference_J,
                "energy_lower_bound": e.energy_lower_bound,
                "latency_lower_bound": e.latency_lower_bound,
                "energy_breakdown_J": e.breakdown(),
                "energy_shares_percent": e.shares(),
                "energy_per_layer_J": e.per_layer(),
                "latency_per_step_s": e.latency_per_step_s,
                "latency_per_inference_s": e.latency_per_inference_s,
                "throughput_per_s": e.throughput_per_s,
                "resources": e.resources,
                "per_core": e.per_core,
                "omitted": e.omitted,
                "notes": e.notes,
                "terms": [
                    {**{k: getattr(t, k) for k in ("quantity", "name", "count", "count_label", "figure", "value", "unit",
                                                   "source", "confidence", "layer")},
                     "estimate": t.estimate_flag, "result": t.result}
                    for t in e.energy_terms + e.latency_terms
                ],
            }
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "samples": self.activity.samples,
            "steps": self.activity.steps,
            "activity": {"rates": self.activity.rates(), "spikes": self.activity.spikes, "synops": self.activity.synops,
                         "neurobench": self.activity.per_sample()},
            "accuracy": self.accuracy,
            "targets": ests,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=float)

    def to_html(self, validation: str | os.PathLike | None = None) -> str:
        """Self-contained HTML; ``validation``: the ``neuromap validate`` JSON to link to (and show,
        when it exists), default ``results/validation.json`` relative to the working directory."""
        figs = self._figures()
        valid = _validation_html(Path(validation) if validation is not None else _VALIDATION)
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
                r["target"], r["kind"], *_marked(r), r["cores_or_tiles"] or "", r["chips"] or "",
                "" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f} %", r["omitted"] or "")) + "</tr>"
            for r in self.rows()
        )
        explains = "".join(
            f"<h3>{html.escape(n)}</h3><pre>{html.escape(e.explain('energy'))}\n\n{html.escape(e.explain('latency'))}</pre>"
            for n, e in self.estimates.items()
        )
        imgs = "".join(f"<figure><img src='data:image/png;base64,{b64}'/><figcaption>{html.escape(cap)}</figcaption>"
                       f"</figure>" for cap, b64 in figs)
        return f"""<!doctype html><html><head><meta charset="utf-8"><title>neuromap report: {html.escape(self.model)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}pre{{background:#f6f6f6;padding:8px;overflow-x:auto;
font-size:12px}}figure{{display:inline-block;margin:8px}}img{{max-width:520px}}</style></head><body>
<h1>neuromap report: {html.escape(self.model)}</h1>
<p>{self.activity.samples} sample(s) x {self.activity.steps} time steps;
{self.activity.total_spikes / self.activity.samples:,.0f} spikes per sample. Every number below is a count from
the run times a figure of the target spec; the sources are listed under each target.</p>
<table><tr><th>target</th><th>kind</th><th>energy / inference</th><th>latency / step</th><th>latency / inference</th>
<th>cores / tiles</th><th>chips</th><th>accuracy</th><th>omitted</th></tr>{rows}</table>
{"".join(f"<p>{html.escape(line)}</p>" for line in self.energy_splits())}
<p>{html.escape(LEGEND)}.</p>
{imgs}
{valid}
<h2>How each number was computed</h2>{explains}
<script type="application/json" id="neuromap-report">{html.escape(self.to_json())}</script>
</body></html>"""

    def _figures(self) -> list[tuple[str, str]]:
        import matplotlib.pyplot as plt  # no backend switch: headless picks Agg, notebooks keep inline

        out: list[tuple[str, str]] = []

        def grab(fig, caption: str) -> None:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
            plt.close(fig)
            out.append((caption, base64.b64encode(buf.getvalue()).decode()))

        names = list(self.estimates)
        totals = [self.estimates[n].energy_per_inference_J for n in names]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(names, totals, color="tab:blue")
        ax.set_yscale("log")
        ax.set_ylabel("energy per inference (J)")
        ax.tick_params(axis="x", rotation=30)
        grab(fig, "Energy per inference (log scale)")
        # the breakdown as shares of each target's total: stacked bars on a log axis would mislead
        cats = sorted({k for e in self.estimates.values() for k in e.breakdown()})
        colors = plt.get_cmap("tab20")
        shares = {n: self.estimates[n].shares() for n in names}
        fig, ax = plt.subplots(figsize=(6, 3.5))
        bottom = [0.0] * len(names)
        for i, c in enumerate(cats):
            vals = [shares[n].get(c, 0.0) for n in names]
            ax.bar(names, vals, bottom=bottom, label=c, color=colors(i % 20))
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_ylabel("share of the energy (%)")
        ax.set_ylim(0, 100)
        ax.tick_params(axis="x", rotation=30)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        grab(fig, "Where the energy goes, per target")
        lat = [(n, self.estimates[n].latency_per_step_s) for n in names if self.estimates[n].latency_per_step_s]
        if lat:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.bar([n for n, _ in lat], [v for _, v in lat], color="tab:orange")
            ax.set_yscale("log")
            ax.set_ylabel("latency per time step (s)")
            ax.tick_params(axis="x", rotation=30)
            grab(fig, "Latency per time step")
        rates = self.activity.rates()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(list(rates), list(rates.values()), color="tab:green")
        ax.set_ylabel("spikes / neuron / step")
        ax.tick_params(axis="x", rotation=45)
        grab(fig, "Firing rate per layer")
        for n, m in self.mappings.items():
            if m is not None and getattr(m, "mesh", None):
                buf = io.BytesIO()
                fig = m.plot()
                fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
                plt.close(fig)
                out.append((f"Core utilisation and busiest links on {n}", base64.b64encode(buf.getvalue()).decode()))
        return out

    def save(self, path: str | os.PathLike, format: str | None = None) -> Path:
        """Write ``table`` / ``json`` / ``html`` (chosen from the suffix when ``format`` is None), atomically."""
        path = Path(path)
        fmt = format or report_format(path)
        text = {"json": self.to_json, "html": self.to_html, "table": self.table}.get(fmt)
        if text is None:
            raise InputError(f"format={fmt!r} is not one of ['table', 'json', 'html']")
        content = self.to_html(os.path.relpath(_VALIDATION.resolve(), path.parent.resolve())) if fmt == "html" \
            else text()
        return write_text(path, content)


FORMATS = {".json": "json", ".html": "html", ".htm": "html", ".txt": "table", "": "table"}


def report_format(path: str | os.PathLike) -> str:
    """The report format for an output path from its suffix; raises ``InputError`` for any other
    suffix (``-o r.pdf`` must not quietly write a text table)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"-o {path}: a report is written as .json, .html or .txt (table), not {suffix}")
    return FORMATS[suffix]


def build_report(netlist, activity: Activity, targets: list[str] | str, model: str = "model",
                 method: str = "metis", counters: dict[str, dict] | None = None, accuracy: dict | None = None,
                 activities: dict[str, Activity] | None = None, options: Options | None = None,
                 mappings: dict | None = None) -> Report:
    """Estimate ``activity`` on each target (``"all"`` for every shipped target). ``activities``
    overrides the activity per target (e.g. the one recorded on that target's own backend);
    ``counters[target]`` are a crossbar backend's measured per-projection counters for that target;
    ``options`` (:class:`~neuromap.estimate.Options`): batch size, GPU mode, operating point,
    real-time mode (defaults: batch 1, eager, the target's default operating point, real time);
    ``mappings[target]`` is the Mapping a run used on that target (:func:`neuromap.pipeline.run_mappings`).
    The targets and their mappings come from :func:`neuromap.pipeline.map_targets` (the run's
    mapping where there is one, else one partition with ``method`` for kinds whose cost model reads
    a mapping); the report only prices them."""
    activity.check_matches(netlist)
    estimates, used = {}, {}
    for tgt, mapping in map_targets(netlist, targets, mappings, method, activities or {}, activity):
        act = (activities or {}).get(tgt.name, activity)
        estimates[tgt.name] = estimate(netlist, act, tgt, mapping, (counters or {}).get(tgt.name), options)
        used[tgt.name] = mapping
    return Report(model, activity, estimates, used, dict(accuracy or {}))
