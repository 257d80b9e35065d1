"""``Mapping``: slices -> cores -> (chip, x, y), with metrics; JSON save/load and a mesh plot."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neuromap.atomic import atomic_path, write_text
from neuromap.errors import InputError

FORMAT = "neuromap.mapping/1"


@dataclass
class Mapping:
    """The result of :func:`neuromap.partition.partition`.

    Attributes:
        target, target_kind: the target's name and kind (:func:`neuromap.targets.kinds`).
        method, placement: partition method and placement strategy used.
        rates: firing rate per population (spikes / neuron / step) used for the traffic estimates;
            ``rate_source[pop]`` says whether it came from the given activity or the default.
        default_rate: the rate used where no activity was given.
        slices: ``{"pop", "start", "stop", "core"}`` dicts: contiguous neuron ranges and their core.
        cores: per core (lists, index = core id): ``chip``, ``x``, ``y`` (router within the chip),
            ``sub`` (core within the router), ``X``, ``Y`` (global mesh coordinates), ``tiles``
            (crossbar tiles the core stands for, 1 on other targets).
        usage, limits: per-core use of each enforced limit (``core.max_neurons``, ...) and the limit.
        metrics: cores, chips, utilisation, traffic (packets / step), hop-weighted traffic, link loads,
            feasibility; ``None`` where the target has no figures to compute it (e.g. no mesh).
        links: the busiest links ``[(x0, y0), (x1, y1), load, off_chip]``.
        mesh: ``{"grid", "chip_grid", "n_chips", "cores_per_router", "router_positions"}`` or ``None``.
        notes: modelling choices that affect the numbers.
    """

    target: str
    target_kind: str
    method: str
    placement: str
    default_rate: float
    rates: dict[str, float]
    rate_source: dict[str, str]
    slices: list[dict[str, Any]]
    cores: dict[str, list]
    usage: dict[str, list]
    limits: dict[str, float | None]
    metrics: dict[str, Any]
    links: list = field(default_factory=list)
    mesh: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    # ----------------------------------------------------------------------------------------- access
    @property
    def n_cores(self) -> int:
        return int(self.metrics["cores"])

    @property
    def feasible(self) -> bool:
        return bool(self.metrics["feasible"])

    def core_of(self, pop: str) -> np.ndarray:
        """Core id of every neuron of population ``pop``."""
        sl = [s for s in self.slices if s["pop"] == pop]
        if not sl:
            raise KeyError(f"no population {pop!r} in this mapping")
        n = max(s["stop"] for s in sl)
        out = np.full(n, -1, dtype=np.int64)
        for s in sl:
            out[s["start"]:s["stop"]] = s["core"]
        return out

    def placement_of(self, core: int) -> tuple[int, int, int]:
        """(chip, x, y) of a core."""
        return int(self.cores["chip"][core]), int(self.cores["x"][core]), int(self.cores["y"][core])

    def summary(self) -> list[tuple[str, str]]:
        m = self.metrics

        def f(v: Any, fmt: str = "{:,.4g}") -> str:
            return "n/a" if v is None else fmt.format(v)

        rows = [
            ("target", f"{self.target} ({self.target_kind})"),
            ("method / placement", f"{self.method} / {self.placement}"),
            ("tiles", f"{m['tiles']:,}") if "tiles" in m else ("cores", f"{m['cores']:,}"),  # crossbar: tiles
            ("chips", f(m.get("chips"), "{:,}")),
            ("rates", f"default {self.default_rate} /step" + (" (activity given)" if "activity" in
                                                              self.rate_source.values() else "")),
        ]
        for k, v in m.get("utilisation", {}).items():
            rows.append((f"util {k}", f"max {v['max']:.1%}, mean {v['mean']:.1%}"))
        rows += [
            ("traffic total (pkt/step)", f(m.get("traffic_total"))),
            ("cut traffic (pkt/step)", f(m.get("cut_traffic"))),
            ("hop-weighted traffic", f(m.get("hop_traffic"))),
            ("max link load (pkt/step)", f(m.get("max_link_load"))),
            ("feasible", "yes" if m["feasible"] else "NO: " + "; ".join(m.get("violations", []))),
            ("time (s)", f(m.get("time_s"), "{:.2f}")),
        ]
        return rows

    def __repr__(self) -> str:
        m = self.metrics
        return (f"Mapping({self.target}, {self.method}: {m['cores']} cores, chips={m.get('chips')}, "
                f"cut={m.get('cut_traffic')}, hop={m.get('hop_traffic')}, feasible={m['feasible']})")

    # ----------------------------------------------------------------------------------------- I/O
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = FORMAT
        return _jsonable(d)

    def save(self, path: str | Path) -> Path:
        return write_text(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Mapping:
        d = json.loads(Path(path).read_text())
        if d.pop("format", None) != FORMAT:
            raise ValueError(f"{path}: not a neuromap mapping file (format {FORMAT!r})")
        d["links"] = [[tuple(a), tuple(b), ld, off] for a, b, ld, off in d.get("links", [])]
        return cls(**d)

    # ----------------------------------------------------------------------------------------- plot
    def plot(self, path: str | Path | None = None, n_links: int = 20):
        """Heatmap of per-router utilisation on the global mesh with the busiest links drawn.
        Targets without a mesh get a tile grid. Returns the matplotlib figure (saved when ``path``)."""
        import matplotlib.pyplot as plt  # no backend switch: headless picks Agg, notebooks keep inline

        util = np.zeros(len(self.cores["chip"]))
        for k, vals in self.usage.items():
            lim = self.limits.get(k)
            if lim:
                util = np.maximum(util, np.asarray(vals, dtype=float) / float(lim))
        fig, ax = plt.subplots(figsize=(7, 6))
        if self.mesh is not None:
            gx = self.mesh["chip_grid"][0] * self.mesh["grid"][0]
            gy = self.mesh["chip_grid"][1] * self.mesh["grid"][1]
            heat = np.full((gy, gx), np.nan)
            cnt = np.zeros((gy, gx))
            acc = np.zeros((gy, gx))
            np.add.at(acc, (np.asarray(self.cores["Y"]), np.asarray(self.cores["X"])), util)
            np.add.at(cnt, (np.asarray(self.cores["Y"]), np.asarray(self.cores["X"])), 1)
            m = cnt > 0
            heat[m] = acc[m] / self.mesh["cores_per_router"]
            im = ax.imshow(heat, origin="lower", cmap="viridis", vmin=0, vmax=1)
            top = sorted(self.links, key=lambda lk: -lk[2])[:n_links]
            if top:
                mx = top[0][2]
                for (x0, y0), (x1, y1), load, off in top:
                    ax.plot([x0, x1], [y0, y1], color="red" if off else "orange", lw=1 + 5 * load / mx, alpha=0.8)
            for cx in range(1, self.mesh["chip_grid"][0]):
                ax.axvline(cx * self.mesh["grid"][0] - 0.5, color="white", lw=1)
            for cy in range(1, self.mesh["chip_grid"][1]):
                ax.axhline(cy * self.mesh["grid"][1] - 0.5, color="white", lw=1)
            ax.set_xlabel("router x (global)")
            ax.set_ylabel("router y (global)")
            ax.set_title(f"{self.target} / {self.method}: {self.metrics['cores']} cores, "
                         f"hop traffic {self.metrics.get('hop_traffic', 0):.4g}")
        else:
            n = len(util)
            w = int(np.ceil(np.sqrt(n)))
            heat = np.full((int(np.ceil(n / w)), w), np.nan)
            heat.flat[:n] = util
            im = ax.imshow(heat, origin="lower", cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"{self.target} / {self.method}: {n} cores/tiles (no mesh model)")
        fig.colorbar(im, ax=ax, label="utilisation (max over limits)")
        fig.tight_layout()
        if path is not None:
            try:
                fmt = plot_format(path)
                with atomic_path(path, suffix=Path(path).suffix) as tmp:
                    fig.savefig(tmp, dpi=100, format=fmt)
            finally:
                plt.close(fig)
        return fig


def plot_format(path: str | Path) -> str:
    """The image format for ``path`` from its suffix (``png`` without one); raises ``InputError`` for a
    suffix matplotlib cannot write, so a run can check its ``--plot`` path before it starts."""
    from matplotlib.figure import Figure

    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    supported = Figure().canvas.get_supported_filetypes()
    if fmt not in supported:
        raise InputError(f"--plot {path}: cannot write a .{fmt} image; use one of {sorted(supported)}")
    return fmt


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x
