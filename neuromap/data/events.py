"""Binning of event streams (spike times with channel indices) into time-major count frames."""

from __future__ import annotations

import math

import numpy as np


def n_steps(duration: float, dt: float) -> int:
    """Number of time bins of width ``dt`` (s) that cover ``duration`` (s)."""
    if not (dt > 0 and duration > 0):
        raise ValueError(f"dt and duration must be positive seconds, got dt={dt!r}, duration={duration!r}")
    return max(1, math.ceil(round(duration / dt, 9)))


def check_frames(samples: int, steps: int, per_step: int, dt: float, what: str, copies: int = 1) -> None:
    """Refuse (:class:`~neuromap.memory.MemoryBudgetError`) binning ``samples`` x ``steps`` bins of ``dt``
    seconds x ``per_step`` channels as float32 (``copies`` times) when that is over the memory budget."""
    from neuromap import memory

    memory.check(4 * copies * samples * steps * per_step,
                 f"{what}: {samples} samples x {steps} bins of {dt:g} s x {per_step} channels (float32)")


def bin_events(times: np.ndarray, channels: np.ndarray, n_channels: int, dt: float, steps: int,
               binary: bool = True) -> np.ndarray:
    """Events -> frames ``[steps, n_channels]`` (float32).

    Args:
        times: event times in seconds from the sample's start (any order).
        channels: flat channel index of each event, in ``[0, n_channels)``.
        dt: bin width in seconds; event at time t falls in bin ``floor(t / dt)`` (within 1e-9 of a bin).
        steps: number of bins; events at or after ``steps * dt`` are dropped.
        binary: 1 where a bin holds at least one event (a spike train); False: the event count.
    """
    times = np.asarray(times, dtype=np.float64)
    channels = np.asarray(channels, dtype=np.int64)
    if times.shape != channels.shape:
        raise ValueError(f"times {times.shape} and channels {channels.shape} differ in shape")
    if channels.size and (channels.min() < 0 or channels.max() >= n_channels):
        raise ValueError(f"channel indices must lie in [0, {n_channels}), got [{channels.min()}, {channels.max()}]")
    # + 1e-9 bins: an event on a bin edge (t = k * dt, e.g. 100000 us * 1e-6 / 10e-3) lands in bin k despite rounding
    t_bin = np.floor(times / dt + 1e-9).astype(np.int64)
    keep = (t_bin >= 0) & (t_bin < steps)
    out = np.zeros(steps * n_channels, dtype=np.float32)
    np.add.at(out, t_bin[keep] * n_channels + channels[keep], 1.0)
    out = out.reshape(steps, n_channels)
    return np.minimum(out, 1.0) if binary else out
