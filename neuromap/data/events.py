"""Binning of event streams (spike times with channel indices) into time-major count frames.

Nothing is lost without a word: by default a bin holds the *count* of its events (``binary=False``);
``binary=True`` clips each bin to one spike, as hardware driven by 0/1 spikes needs. Events before 0
or at/after the window's end cannot be binned and are dropped. A loader tallies both per split
(:class:`Binning`) and warns (:class:`EventsLost`) with the numbers and how to keep them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np


class EventsLost(UserWarning):
    """Events of a data set fell outside the binning window (dropped), or were merged into a spike
    already in their bin by ``binary=True``; the message gives the counts and how to keep them."""


@dataclass
class Binning:
    """What binning did to the events of one split (counts of events, not of samples).

    Attributes:
        events: events read.
        outside: events before 0 s or at/after the window's end (``steps * dt``): dropped.
        merged: events that ``binary=True`` merged into a spike already in their bin.
    """

    events: int = 0
    outside: int = 0
    merged: int = 0

    def report(self, where: str, window_s: float, binary: bool,
               keep: str = "a longer duration= (on the command line: more --steps)") -> None:
        """Warn (:class:`EventsLost`) when events were dropped or merged; ``where`` names the data set and
        split, ``window_s`` is the window (s), ``binary`` whether bins were clipped to 0/1 (merges are
        reported only then), ``keep`` says how to keep the dropped events."""
        share = (lambda n: f"{n:,} of {self.events:,} events ({100 * n / self.events:.2g} %)") if self.events else str
        if self.outside:
            warnings.warn(EventsLost(f"{where}: {share(self.outside)} lie outside the {window_s:g} s window and were "
                                     f"dropped; {keep} keeps them"), stacklevel=3)
        if binary and self.merged:
            warnings.warn(EventsLost(f"{where}: binary=True merged {share(self.merged)} into a spike already in their "
                                     "bin (binary=False, the default, keeps the counts)"), stacklevel=3)


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
               binary: bool = False, tally: Binning | None = None) -> np.ndarray:
    """Events -> frames ``[steps, n_channels]`` (float32).

    Args:
        times: event times in seconds from the sample's start (any order).
        channels: flat channel index of each event, in ``[0, n_channels)``.
        n_channels: channels per time step.
        dt: bin width in seconds; event at time t falls in bin ``floor(t / dt)`` (within 1e-9 of a bin).
        steps: number of bins; events before 0 s or at/after ``steps * dt`` are dropped (counted in ``tally``).
        binary: False (default): each bin holds its event count; True: 1 where a bin holds at least
            one event (a spike train), the others counted in ``tally.merged``.
        tally: a :class:`Binning` to add this sample's counts to (None: not counted).
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
    clipped = np.minimum(out, 1.0) if binary else out
    if tally is not None:
        kept = int(keep.sum())
        tally.events += int(times.size)
        tally.outside += int(times.size) - kept
        tally.merged += kept - int(clipped.sum()) if binary else 0
    return clipped
