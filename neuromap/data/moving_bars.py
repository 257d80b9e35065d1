"""Synthetic DVS-like event streams (no download): moving bars with ON/OFF polarity.

    data = moving_bars()            # SequenceData, x: [T, B, 2, 16, 16] events, y: 8 classes
"""

from __future__ import annotations

import numpy as np
import torch

from .sequences import SequenceData

DIRECTIONS = ("right", "left", "down", "up")


def moving_bars(
    n_samples: int = 1200,
    size: int = 16,
    steps: int = 20,
    speeds: tuple[float, ...] = (0.5, 1.0),
    bar_width: int = 2,
    noise: float = 0.02,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> SequenceData:
    """Bars moving in 4 directions at ``len(speeds)`` speeds (px/step): class = direction x speed.

    Frames are binary bar images; a pixel that turns on emits an ON event (channel 0), one that
    turns off an OFF event (channel 1); ``noise`` is the per-pixel, per-step probability of a
    spurious event in each channel. The bar starts at a random position; at the first step only
    the bar's appearance (ON events) is visible.
    """
    if not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    if not (0.0 <= noise <= 1.0):
        raise ValueError(f"noise is a probability in [0, 1], got {noise!r}")
    if not (0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    n_classes = len(DIRECTIONS) * len(speeds)
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    x = np.zeros((n_samples, steps, 2, size, size), dtype=np.float32)
    coords = np.arange(size)
    for k, label in enumerate(y):
        direction, speed = DIRECTIONS[label % 4], speeds[label // 4]
        sign = 1 if direction in ("right", "down") else -1
        travel = speed * (steps - 1)
        lo = 0.0 if sign > 0 else travel
        hi = size - bar_width - (travel if sign > 0 else 0.0)
        start = rng.uniform(lo, max(lo, hi)) if hi > lo else rng.uniform(0, size - bar_width)
        prev = np.zeros((size, size), dtype=bool)
        for t in range(steps):
            pos = int(np.floor(start + sign * speed * t))
            line = (coords >= pos) & (coords < pos + bar_width)
            frame = np.broadcast_to(line[None, :], (size, size)) if direction in ("right", "left") else \
                np.broadcast_to(line[:, None], (size, size))
            x[k, t, 0] = frame & ~prev
            x[k, t, 1] = prev & ~frame
            prev = frame
    if noise:
        x = np.maximum(x, (rng.random(x.shape) < noise).astype(np.float32))
    idx = rng.permutation(n_samples)
    n_test = int(round(test_fraction * n_samples))
    te, tr = np.sort(idx[:n_test]), np.sort(idx[n_test:])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    return SequenceData(
        name=f"moving-bars-{size}x{size}-T{steps}",
        x_train=xt[tr], y_train=yt[tr], x_test=xt[te], y_test=yt[te], n_classes=n_classes,
        description=f"synthetic DVS moving bars: 4 directions x speeds {speeds}, ON/OFF events, {noise:.0%} noise",
    )
