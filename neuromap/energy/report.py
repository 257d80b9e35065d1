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
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuromap.atomic import write_text
from neuromap.errors import InputError
from neuromap.estimate import Estimate, Options, fmt_si
from neuromap.pipeline import ALL_TARGETS, map_targets  # noqa: F401  (ALL_TARGETS: "all", every shipped target)
from neuromap.targets import get_kind

from . import neurobench
from .activity import Activity
from .estimates import estimate
from .trust import Trust

SCHEMA_VERSION = 1


LEGEND = ("omitted = terms left out because the target lacks a figure; >= = a lower bound (the model leaves out "
          "parts it has no figure for, or uses a figure that is itself a lower bound, e.g. vendor peak throughput); "
          "range = low - high from the figures' stated confidence (H +-20 %, M x/2, L x/5, D as its inputs; a lower "
          "bound has no upper end); how a number was computed: neuromap report MODEL --target T --explain T "
          "(Report.explain(T) in Python)")


def _marked(row: dict[str, Any]) -> tuple[str, str, str]:
    """Energy / latency per step / latency per inference of a :meth:`Report.rows` row as text, with
    ">=" where the estimate is a lower bound."""
    ge_e = ">=" if row["energy_lower_bound"] else ""
    ge_l = ">=" if row["latency_lower_bound"] and row["latency_per_step_s"] is not None else ""
    return (ge_e + fmt_si(row["energy_per_inference_J"], "J"), ge_l + fmt_si(row["latency_per_step_s"], "s"),
            ge_l + fmt_si(row["latency_per_inference_s"], "s"))


def range_text(low: float | None, high: float | None, unit: str) -> str:
    """A range as text with SI prefixes: ``"60 uJ - 240 uJ"``, ``">= 60 uJ"`` (no upper end), ``""``."""
    if low is None or high is None:
        return ""
    return f">= {fmt_si(low, unit)}" if math.isinf(high) else f"{fmt_si(low, unit)} - {fmt_si(high, unit)}"


def _json_range(low: float | None, high: float | None) -> dict[str, Any] | None:
    """A range for JSON: ``{"low": .., "high": .. or None (no upper end), "lower_bound": bool}``."""
    if low is None or high is None:
        return None
    return {"low": low, "high": None if math.isinf(high) else high, "lower_bound": math.isinf(high)}


_VALIDATION = Path("results") / "validation.json"


def validation_html(path: Path, link: str) -> str:
    """A link (``link``: the href, relative to the HTML file) to ``neuromap validate``'s JSON and,
    when ``path`` is there, its calibration and validation rows (two tables) and its summary line."""
    head = (f"<h2>How far to trust the models</h2><p>Published measurements re-created with these cost models: "
            f"<a href='{html.escape(link)}'>{html.escape(link)}</a> (written by <code>neuromap validate</code>).")
    try:
        doc = json.loads(path.read_text())
        groups = (("Calibration rows (a figure was derived from the measurement: shown, not counted)",
                   doc["calibration"]), ("Validation rows (independent measurements)", doc["validation"]))
        s = doc["summary"]
    except (OSError, ValueError, KeyError, TypeError):
        return head + " Run it to fill these tables.</p>"
    out = head + (f" Validation: {s['within_factor']} of {s['validation_rows']} rows within their factor, "
                  f"{s['inside_range']} inside the estimate's range; {s['calibration_rows']} calibration rows not "
                  "counted.</p>")
    for title, rows in groups:
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
                r["target"], r["case"], r["quantity"], r["unit"], f"{r['published']:.4g}",
                (">=" if r["lower_bound"] else "") + f"{r['modelled']:.4g}",
                f"{r['low']:.3g} - " + ("(no upper end)" if r["high"] is None else f"{r['high']:.3g}"),
                f"{r['ratio']:.3g}", "yes" if r["within"] else "no", "yes" if r["inside"] else "no",
                r.get("reason", ""))) + "</tr>" for r in rows)
        out += (f"<h3>{html.escape(title)}</h3><table><tr><th>target</th><th>case</th><th>quantity</th><th>unit</th>"
                "<th>published</th><th>modelled</th><th>range</th><th>ratio</th><th>within</th><th>inside</th>"
                f"<th>why a miss</th></tr>"
                f"{cells}</table>")
    return out


@dataclass
class Report:
    """Estimates per target for one model and one activity record."""

    model: str
    activity: Activity
    estimates: dict[str, Estimate]
    mappings: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    #: how far to trust each target's estimates, in words (:meth:`with_trust`; None: not summarised)
    trust: Trust | None = None

    # --- views ---------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        out = []
        for name, e in self.estimates.items():
            res = e.resources
            units = get_kind(e.kind).cores_or_tiles(e)
            e_low, e_high = e.energy_per_inference_range()
            lat = e.range("latency") if e.latency_terms else (None, None)
            out.append({
                "target": name,
                "kind": e.kind,
                "energy_per_inference_J": e.energy_per_inference_J,
                "energy_per_inference_low_J": e_low,
                "energy_per_inference_high_J": e_high,
                "latency_per_step_s": e.latency_per_step_s,
                "latency_per_step_low_s": lat[0],
                "latency_per_step_high_s": lat[1],
                "latency_per_inference_s": e.latency_per_inference_s,
                "throughput_per_s": e.throughput_per_s,
                "cores_or_tiles": units,
                "chips": res.get("chips"),
                "omitted": len(e.omitted),
                "latency_lower_bound": e.lower_bound("latency") if e.latency_terms else False,
                "energy_lower_bound": e.lower_bound("energy"),
                "accuracy": self.accuracy.get(name),
                "chip_energy_per_inference_J": res.get("chip_energy_J_per_inference"),
                "cryocooler_energy_per_inference_J": res.get("cryocooler_energy_J_per_inference"),
            })
        return out

    def layers(self, target: str) -> list[dict[str, Any]]:
        """Per population (network order): neurons, the cores the target's mapping gives it, the messages
        it sends per sample (spikes, or graded spikes where ``graded``), its rate (messages per neuron
        per step) and the synaptic events it receives per sample. ``KeyError`` for a target without a
        mapping (a kind whose cost model places no cores)."""
        mapping = self.mappings.get(target)
        if mapping is None:
            raise KeyError(f"target {target!r} has no mapping (its kind places no cores); targets with one: "
                           f"{[k for k, m in self.mappings.items() if m is not None]}")
        a, B = self.activity, self.activity.samples
        received: dict[str, float] = {}
        for proj, (_src, dst) in a.projection_ends.items():
            received[dst] = received.get(dst, 0.0) + a.synops.get(proj, 0.0)
        return [{"layer": pop, "neurons": n, "cores": int(len(np.unique(mapping.core_of(pop)))),
                 "messages_per_sample": a.spikes[pop] / B, "rate": a.spikes[pop] / (B * a.steps * n),
                 "graded": bool(a.graded.get(pop, False)), "synops_per_sample": received.get(pop, 0.0) / B}
                for pop, n in a.neurons.items()]

    def layer_table(self, target: str) -> str:
        """:meth:`layers` as text, with the total of cores (the mapping's, which may share a core between layers)."""
        rows = self.layers(target)
        head = f"{'layer':<16}{'neurons':>9}{'cores':>7}{'messages/sample':>17}{'rate/step':>11}{'synops/sample':>15}"
        lines = [f"{target}: per layer ({self.model})", head, "-" * len(head)]
        for r in rows:
            kind = " graded" if r["graded"] else ""
            lines.append(f"{r['layer']:<16}{r['neurons']:>9,}{r['cores']:>7}{r['messages_per_sample']:>17,.0f}"
                         f"{r['rate']:>11.3f}{r['synops_per_sample']:>15,.0f}{kind}")
        lines.append(f"{'total':<16}{sum(r['neurons'] for r in rows):>9,}{self.mappings[target].n_cores:>7}"
                     "   (graded: the layer sends graded spikes, one message per non-zero change)")
        return "\n".join(lines)

    def energy_splits(self) -> list[str]:
        """The lines each target's kind adds under the table (SFQ: chip and wall-plug energy)."""
        return [line for n, e in self.estimates.items() for line in get_kind(e.kind).report_lines(n, e)]

    def table(self) -> str:
        head = f"{'target':<14}{'kind':<13}{'energy/inf':>12}{'energy range':>24}{'latency/step':>14}" \
               f"{'latency/step range':>24}{'latency/inf':>13}{'cores|tiles':>12}{'chips':>7}{'accuracy':>10}  omitted"
        lines = [f"{self.model}: {self.activity.samples} sample(s) x {self.activity.steps} steps, "
                 f"{self.activity.total_spikes / self.activity.samples:,.0f} spikes/sample", head, "-" * len(head)]
        for r in self.rows():
            acc = "" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f} %"
            energy, lat_step, lat_inf = _marked(r)
            e_rng = range_text(r["energy_per_inference_low_J"], r["energy_per_inference_high_J"], "J")
            l_rng = range_text(r["latency_per_step_low_s"], r["latency_per_step_high_s"], "s")
            lines.append(
                f"{r['target']:<14}{r['kind']:<13}{energy:>12}{e_rng:>24}{lat_step:>14}{l_rng:>24}{lat_inf:>13}"
                f"{str(r['cores_or_tiles'] or ''):>12}{str(r['chips'] or ''):>7}{acc:>10}  {r['omitted'] or ''}"
            )
        lines += self.energy_splits()
        lines.append(f"({LEGEND})")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The per-target table as Markdown (same marks as :meth:`table`)."""
        lines = ["| target | kind | energy / inference | energy range | latency / step | latency / step range "
                 "| latency / inference | accuracy | omitted |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.rows():
            acc = "" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f} %"
            energy, lat_step, lat_inf = _marked(r)
            e_rng = range_text(r["energy_per_inference_low_J"], r["energy_per_inference_high_J"], "J")
            l_rng = range_text(r["latency_per_step_low_s"], r["latency_per_step_high_s"], "s")
            lines.append("| " + " | ".join((r["target"], r["kind"], energy, e_rng, lat_step, l_rng, lat_inf, acc,
                                            str(r["omitted"] or ""))) + " |")
        splits = self.energy_splits()
        return "\n".join(lines + ([""] + splits if splits else []) + ["", f"*{LEGEND}*"]) + "\n"

    def __str__(self) -> str:
        return self.table()

    def with_trust(self, validation: str | os.PathLike | None = None) -> Report:
        """This report with :attr:`trust` set: one sentence per target saying whether its estimates are
        validated and how far, from ``neuromap validate``'s JSON at ``validation`` (None: its cases run
        now, which takes seconds; :func:`neuromap.energy.trust.load_validation`)."""
        from .trust import load_validation, summarise

        doc, source = load_validation(validation)
        self.trust = summarise(doc, list(self.estimates), source)
        return self

    def explain(self, target: str, quantity: str = "energy") -> str:
        """How ``quantity`` (``"energy"`` or ``"latency"``) of ``target`` was computed: each count times
        its cited figure, with the sources (``neuromap report ... --explain TARGET`` prints both)."""
        if target not in self.estimates:
            raise KeyError(f"no estimate for {target!r}; targets: {list(self.estimates)}")
        return self.estimates[target].explain(quantity)

    # --- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        ests = {}
        for name, e in self.estimates.items():
            lat_range = e.range("latency") if e.latency_terms else (None, None)
            lat_inf = e.latency_per_inference_range() or (None, None)
            ests[name] = {
                "kind": e.kind,
                "energy_J": e.energy_J,
                "energy_per_inference_J": e.energy_per_inference_J,
                "energy_lower_bound": e.lower_bound("energy"),
                "latency_lower_bound": e.lower_bound("latency") if e.latency_terms else False,
                "energy_per_inference_range_J": _json_range(*e.energy_per_inference_range()),
                "latency_per_step_range_s": _json_range(*lat_range),
                "latency_per_inference_range_s": _json_range(*lat_inf),
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
                **({"layers": self.layers(name)} if self.mappings.get(name) is not None else {}),
                "terms": [
                    {**{k: getattr(t, k) for k in ("quantity", "name", "count", "count_label", "figure", "value", "unit",
                                                   "source", "confidence", "layer")},
                     "estimate": t.estimate_flag, "result": t.result, "range": _json_range(t.low, t.high)}
                    for t in e.energy_terms + e.latency_terms
                ],
            }
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "samples": self.activity.samples,
            "steps": self.activity.steps,
            "activity": {"rates": self.activity.rates(), "spikes": self.activity.spikes, "synops": self.activity.synops,
                         "neurobench": neurobench.metrics(self.activity)},
            "accuracy": self.accuracy,
            "targets": ests,
            "trust": None if self.trust is None else self.trust.to_dict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=float)

    def to_html(self, validation: str | os.PathLike | None = None, link: str | None = None) -> str:
        """Self-contained HTML; ``validation``: the ``neuromap validate`` JSON to show (when it
        exists), default ``results/validation.json`` relative to the working directory; ``link``: its
        href (default the path as given)."""
        figs = self._figures()
        valid_path = Path(validation) if validation is not None else _VALIDATION
        valid = validation_html(valid_path, link if link is not None else str(valid_path))
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
                r["target"], r["kind"], _marked(r)[0],
                range_text(r["energy_per_inference_low_J"], r["energy_per_inference_high_J"], "J"), *_marked(r)[1:],
                range_text(r["latency_per_step_low_s"], r["latency_per_step_high_s"], "s"),
                r["cores_or_tiles"] or "", r["chips"] or "",
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
<table><tr><th>target</th><th>kind</th><th>energy / inference</th><th>energy range</th><th>latency / step</th>
<th>latency / inference</th><th>latency / step range</th><th>cores / tiles</th><th>chips</th><th>accuracy</th>
<th>omitted</th></tr>{rows}</table>
{"".join(f"<p>{html.escape(line)}</p>" for line in self.energy_splits())}
<p>{html.escape(LEGEND)}.</p>
{imgs}
<p>{html.escape(neurobench.summary_line(neurobench.metrics(self.activity)))} (definitions: neuromap.energy.neurobench).</p>
{self._trust_html()}
{valid}
<h2>How each number was computed</h2>{explains}
<script type="application/json" id="neuromap-report">{html.escape(self.to_json())}</script>
</body></html>"""

    def _trust_html(self) -> str:
        """The validation summary in words (empty when :attr:`trust` is None)."""
        if self.trust is None:
            return ""
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.trust.lines)
        return (f"<h2>What to trust, per target</h2><p>From {html.escape(self.trust.source)}:</p><ul>{items}</ul>")

    def _figures(self) -> list[tuple[str, str]]:
        import matplotlib.pyplot as plt  # no backend switch: headless picks Agg, notebooks keep inline

        out: list[tuple[str, str]] = []

        def grab(fig, caption: str) -> None:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
            plt.close(fig)
            out.append((caption, base64.b64encode(buf.getvalue()).decode()))

        names = list(self.estimates)
        rows = {r["target"]: r for r in self.rows()}
        fig, ax = plt.subplots(figsize=(6, 3.5))
        _range_bars(ax, names, [rows[n]["energy_per_inference_J"] for n in names],
                    [(rows[n]["energy_per_inference_low_J"], rows[n]["energy_per_inference_high_J"]) for n in names],
                    [rows[n]["energy_lower_bound"] for n in names], "tab:blue")
        ax.set_ylabel("energy per inference (J)")
        grab(fig, "Energy per inference (log scale); whiskers: the range from the figures' confidence; hatched, "
                  "with >= and an arrow: a lower bound (no upper end)")
        # the breakdown as shares of each target's total: stacked bars on a log axis would mislead
        shares = _top_shares({n: self.estimates[n].shares() for n in names})
        cats = list(next(iter(shares.values()), {}))
        colors = plt.get_cmap("tab10")
        fig, ax = plt.subplots(figsize=(6, 3.5))
        bottom = [0.0] * len(names)
        for i, c in enumerate(cats):
            vals = [shares[n].get(c, 0.0) for n in names]
            ax.bar(names, vals, bottom=bottom, label=c, color="lightgrey" if c == OTHER else colors(i % 10))
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_ylabel("share of the energy (%)")
        ax.set_ylim(0, 100)
        ax.set_xticks(range(len(names)), [(">= " if rows[n]["energy_lower_bound"] else "") + n for n in names],
                      rotation=30, ha="right")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        grab(fig, "Where the energy goes, per target (>= before a name: its total is a lower bound)")
        lat = [n for n in names if self.estimates[n].latency_per_step_s]
        if lat:
            fig, ax = plt.subplots(figsize=(6, 3.5))
            _range_bars(ax, lat, [rows[n]["latency_per_step_s"] for n in lat],
                        [(rows[n]["latency_per_step_low_s"], rows[n]["latency_per_step_high_s"]) for n in lat],
                        [rows[n]["latency_lower_bound"] for n in lat], "tab:orange")
            ax.set_ylabel("latency per time step (s)")
            grab(fig, "Latency per time step (log scale); whiskers and >= as above")
        rates = self.activity.rates()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.bar(list(rates), list(rates.values()), color="tab:green")
        ax.set_ylabel("spikes / neuron / step")
        ax.set_xticks(range(len(rates)), list(rates), rotation=45, ha="right")
        grab(fig, "Firing rate per layer")
        for n, m in self.mappings.items():
            if m is not None and getattr(m, "mesh", None) and m.n_cores > 1:  # one core: an empty heatmap
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
        content = self.to_html(_VALIDATION, os.path.relpath(_VALIDATION.resolve(), path.parent.resolve())) \
            if fmt == "html" else text()
        return write_text(path, content)


def _range_bars(ax, names: list[str], values: list[float], ranges: list[tuple], bounds: list[bool], color: str) -> None:
    """Bars on a log axis with whiskers from each range's low to its high; a lower bound is hatched,
    labelled ">=" and its whisker ends in an upward arrow (no upper end)."""
    x = list(range(len(names)))
    ax.bar(x, values, color=color, hatch=None)
    for i, (v, (low, high), bound) in enumerate(zip(values, ranges, bounds)):
        if bound:
            ax.bar([i], [v], color=color, hatch="//", edgecolor="white")
            ax.annotate("", xy=(i, v * 10), xytext=(i, max(low, 1e-300)), arrowprops={"arrowstyle": "->", "color": "k"})
            ax.text(i, v, ">=", ha="center", va="bottom", fontsize=8)
        elif low is not None and high is not None:
            ax.plot([i, i], [low, high], color="k", lw=1)
            ax.plot([i - 0.15, i + 0.15], [low, low], color="k", lw=1)
            ax.plot([i - 0.15, i + 0.15], [high, high], color="k", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(x, [(">= " if b else "") + n for n, b in zip(names, bounds)], rotation=30, ha="right")


OTHER = "other"


def _top_shares(shares: dict[str, dict[str, float]], keep: int = 7) -> dict[str, dict[str, float]]:
    """Per target, the shares (%) of the ``keep`` categories that are largest anywhere, in that order,
    and the rest summed as ``"other"`` (a legend of 18 colours cannot be read)."""
    cats = sorted({c for s in shares.values() for c in s}, key=lambda c: -max(s.get(c, 0.0) for s in shares.values()))
    top, rest = cats[:keep], cats[keep:]
    out = {n: {c: s.get(c, 0.0) for c in top} for n, s in shares.items()}
    if rest:
        for n, s in shares.items():
            out[n][OTHER] = sum(s.get(c, 0.0) for c in rest)
    return out


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
