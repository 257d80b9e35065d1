"""Read per-core counts off a Loihi 2 profiler plot (the PNG a lava-dl benchmark notebook commits).

lava-dl's PilotNet benchmark notebooks (``tutorials/lava/lib/dl/netx/pilotnet_snn|pilotnet_sdnn/
benchmark.ipynb``) print the power and the time but only *plot* the profiler's per-core activity
(``plt.plot(core_idx, syn_ops)`` etc., matplotlib's default colours C0-C3). This tool recovers the
plotted values: the axis ticks (dark marks left of and below the frame) give the pixel -> data map
by least squares, and every segment between two cores is read at two columns (a quarter and three
quarters of the way) as the centre of its colour's run, so each core's value is the mean of the
values its two segments extrapolate to it. A series hidden under a later-drawn line there (the
lines overlap near zero) is read as the hiding line's value. Each value comes with its reading
uncertainty (half the line width plus the tick fit's residual, in data units).

    python -m tools.digitise_profiler_plot PNG --x-ticks 0 10 20 --y-ticks 0 2e8 4e8 --cores 74

writes JSON ``{series: {"values": [...], "uncertainty": u}}`` to stdout. The numbers neuromap's
validation uses (:mod:`neuromap.energy.published`) were read with it from lava-dl commit d825ac5.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

#: matplotlib's default colour cycle C0-C3, in the order the notebooks plot the series
SERIES = {"syn_ops": (0.122, 0.467, 0.706), "dendrite_updates": (1.0, 0.498, 0.055),
          "axon_out": (0.173, 0.627, 0.173), "spikes_in": (0.839, 0.153, 0.157)}
DARK = 1.5  # sum of RGB below which a pixel is a tick / frame mark
COLOUR_TOL = 0.12  # max per-channel distance of a line pixel from its colour


def _frame(dark: np.ndarray) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) pixel of the axes frame: its longest dark column and row pairs."""
    cols = np.argsort(dark.sum(axis=0))[-2:]
    rows = np.argsort(dark.sum(axis=1))[-2:]
    return int(cols.min()), int(cols.max()), int(rows.min()), int(rows.max())


def _ticks(dark: np.ndarray, frame: tuple[int, int, int, int]) -> tuple[list[float], list[float]]:
    """Pixel positions of the y ticks (marks left of the frame) and x ticks (marks below it)."""
    left, right, top, bottom = frame
    ys = [r for r in range(top, bottom + 1) if dark[r, left - 4:left].all()]
    xs = [c for c in range(left, right + 1) if dark[bottom + 1:bottom + 4, c].all()]
    return _centres(ys), _centres(xs)


def _centres(pixels: list[int]) -> list[float]:
    """Centres of runs of adjacent pixels."""
    runs: list[list[int]] = []
    for p in pixels:
        if runs and p == runs[-1][-1] + 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return [float(np.mean(r)) for r in runs]


def _fit(pixels: list[float], values: list[float]) -> tuple[np.ndarray, float]:
    """Least-squares ``value = a * pixel + b`` and its largest residual (data units)."""
    if len(pixels) != len(values):
        raise SystemExit(f"found {len(pixels)} ticks but {len(values)} tick values were given")
    coef = np.polyfit(pixels, values, 1)
    return coef, float(np.abs(np.polyval(coef, pixels) - np.asarray(values)).max())


def _legend_box(text: np.ndarray, frame: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """(left, right, top, bottom) of the legend: the dark text inside the frame, widened to the left
    over its line samples; None when the frame holds no text."""
    left, right, top, bottom = frame
    rows, cols = np.nonzero(text[top + 2:bottom - 1, left + 2:right - 1])
    if len(rows) == 0:
        return None
    return (int(cols.min()) + left + 2 - 50, right, int(rows.min()) + top + 2 - 8, int(rows.max()) + top + 2 + 8)


def _run_centre(mask_col: np.ndarray) -> float | None:
    """The centre row of the largest run of True in one pixel column, or None."""
    rows = np.flatnonzero(mask_col)
    if len(rows) == 0:
        return None
    groups = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    best = max(groups, key=len)
    return float(best.mean())


def digitise(png: str, x_ticks: list[float], y_ticks: list[float], cores: int) -> dict:
    """Per-core values of every series in ``png`` (see the module docstring)."""
    import matplotlib.image as mpimg

    im = np.asarray(mpimg.imread(png))[..., :3].astype(np.float64)
    dark = im.sum(axis=2) < DARK
    frame = _frame(dark)
    ty, tx = _ticks(dark, frame)
    (ay, by), res_y = _fit(ty, y_ticks)
    (ax, bx), _ = _fit(tx, x_ticks)
    masks = {name: (np.abs(im - np.asarray(rgb)).max(axis=2) < COLOUR_TOL) for name, rgb in SERIES.items()}
    box = _legend_box(im.max(axis=2) < 0.35, frame)  # black text (the lines are coloured)
    if box is not None:  # the legend's line samples are not data
        for m in masks.values():
            m[box[2]:box[3], box[0]:box[1]] = False
    order = list(SERIES)
    out = {}
    for name in order:
        later = order[order.index(name) + 1:]
        estimates: list[list[float]] = [[] for _ in range(cores)]
        for i in range(cores - 1):
            xs = [(i + f - bx) / ax for f in (0.25, 0.75)]
            vals = []
            for xp in xs:
                col = int(round(xp))
                row = _run_centre(masks[name][frame[2]:frame[3], col])
                if row is None:  # hidden under a later-drawn line: read the last-drawn line there instead
                    rows = [r for r in (_run_centre(masks[o][frame[2]:frame[3], col]) for o in later) if r is not None]
                    row = rows[-1] if rows else None
                vals.append(None if row is None else ay * (row + frame[2]) + by)
            if None in vals:
                continue
            slope = (vals[1] - vals[0]) / 0.5
            estimates[i].append(vals[0] - 0.25 * slope)
            estimates[i + 1].append(vals[1] + 0.25 * slope)
        values = [float(np.mean(e)) if e else float("nan") for e in estimates]
        out[name] = {"values": values, "uncertainty": abs(ay) * 1.5 + res_y}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("png")
    ap.add_argument("--x-ticks", type=float, nargs="+", required=True, help="the x tick labels, left to right")
    ap.add_argument("--y-ticks", type=float, nargs="+", required=True, help="the y tick labels, bottom to top")
    ap.add_argument("--cores", type=int, required=True, help="number of cores plotted (x = 0 .. cores - 1)")
    args = ap.parse_args(argv)
    json.dump(digitise(args.png, args.x_ticks, sorted(args.y_ticks, reverse=True), args.cores), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
