"""Progress of long steps with their elapsed time, for the command line (``neuromap deploy`` ...).

    steps = Steps()                          # live on a terminal, silent otherwise
    with steps("running loihi on 64 samples"):
        ...                                   # "neuromap: running loihi on 64 samples ... 12 s" ticks
    # then "neuromap: running loihi on 64 samples: 14.31 s"

On a terminal (``stream.isatty()``) a step shows a line whose elapsed time ticks every second and
ends with the step's measured duration; on a pipe or a log file nothing is written (as tqdm does),
so an error stays the one line the command prints. Library code takes a ``Steps`` (or nothing) and
never decides on its own to print.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO


class Steps:
    """Announces steps on ``stream`` (default stderr) with their elapsed time, in seconds.

    ``live``: show them (default: when ``stream`` is a terminal). ``tick``: seconds between updates
    of the running time."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None, tick: float = 1.0,
                 prefix: str = "neuromap") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(self.stream.isatty()) if live is None else live
        self.tick, self.prefix = tick, prefix
        self.durations: dict[str, float] = {}

    def note(self, message: str) -> None:
        """One line (when live)."""
        if self.live:
            print(f"{self.prefix}: {message}", file=self.stream, flush=True)

    @contextlib.contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        """Time the block; when live, tick its elapsed time and end with its duration."""
        t0 = time.perf_counter()
        done = threading.Event()
        ticker = None
        if self.live:
            print(f"{self.prefix}: {what} ...", end="", file=self.stream, flush=True)
            ticker = threading.Thread(target=self._tick, args=(what, t0, done), daemon=True)
            ticker.start()
        try:
            yield
        finally:
            done.set()
            if ticker is not None:
                ticker.join()
            seconds = time.perf_counter() - t0
            self.durations[what] = seconds
            if self.live:
                print(f"\r{self.prefix}: {what}: {seconds:.2f} s", file=self.stream, flush=True)

    def _tick(self, what: str, t0: float, done: threading.Event) -> None:
        while not done.wait(self.tick):
            print(f"\r{self.prefix}: {what} ... {time.perf_counter() - t0:.0f} s", end="", file=self.stream,
                  flush=True)


def quiet() -> Steps:
    """Steps that time but never print (the default of library functions)."""
    return Steps(live=False)
