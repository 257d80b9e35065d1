"""N-MNIST (Orchard et al. 2015): MNIST digits recorded by an ATIS sensor on a moving platform.

Its binary format: one file per sample, 5 bytes per event: byte 0 = x, byte 1 = y (0..33),
byte 2 bit 7 = polarity (1 = ON), byte 2 bits 6-0, byte 3, byte 4 = a 23-bit timestamp in
microseconds (big-endian). Files lie in ``Train/<digit>/`` and ``Test/<digit>/``.
"""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

import numpy as np
import torch

from .events import bin_events, check_frames, n_steps
from .files import DatasetError, dataset_dir, missing, reading

DT = 1e-3  # default bin width (s)
DURATION = 0.3  # default window from each sample's start (s)
SIZE = 34  # pixels per side
FOLDERS = {"train": "Train", "test": "Test"}


def read_events(path: str | Path) -> dict[str, np.ndarray]:
    """``{"x", "y", "p", "t"}`` of one N-MNIST ``.bin`` file (t in microseconds, p in {0, 1})."""
    with reading(path, "(an N-MNIST event file)"):
        if not Path(path).is_file():
            raise IsADirectoryError(path) if Path(path).is_dir() else FileNotFoundError(path)
        raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise DatasetError(f"{path}: {raw.size} bytes is not a whole number of 5-byte N-MNIST events")
    ev = raw.reshape(-1, 5).astype(np.int64)
    if ev.size and max(ev[:, 0].max(), ev[:, 1].max()) >= SIZE:
        raise DatasetError(f"{path}: events at x up to {ev[:, 0].max()}, y up to {ev[:, 1].max()}, outside N-MNIST's "
                           f"{SIZE}x{SIZE} sensor; not an N-MNIST event file?")
    return {
        "x": ev[:, 0],
        "y": ev[:, 1],
        "p": ev[:, 2] >> 7,
        "t": ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4],
    }


def frames(events: dict[str, np.ndarray], dt: float, steps: int, binary: bool = True) -> np.ndarray:
    """Events -> ``[T, 2, 34, 34]`` (channel 0 OFF, 1 ON)."""
    channel = (events["p"] * SIZE + events["y"]) * SIZE + events["x"]
    return bin_events(events["t"] * 1e-6, channel, 2 * SIZE * SIZE, dt, steps, binary).reshape(steps, 2, SIZE, SIZE)


def load_split(split: str, data_dir=None, dt: float = DT, duration: float = DURATION, max_samples: int | None = None,
               binary: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as ``(x [N, T, 2, 34, 34], y [N])``; ``dt``, ``duration`` in seconds (a sample's three
    saccades last about 0.3 s). Samples are taken in digit order, ``max_samples`` spread over the digits
    in turn so a small subset holds every class. Memory: N x T x 9,248 bytes."""
    folder = dataset_dir("nmnist", data_dir)
    root = folder / FOLDERS[split]
    per_digit = [sorted((root / str(d)).glob("*.bin")) for d in range(10)]
    if not any(per_digit):
        raise missing("nmnist", folder, f"{FOLDERS[split]}/<digit>/*.bin")
    order = [(d, f) for row in zip_longest(*[[(d, f) for f in files] for d, files in enumerate(per_digit)])
             for d, f in (pair for pair in row if pair is not None)]
    if max_samples is not None:
        order = order[:max_samples]
    steps = n_steps(duration, dt)
    check_frames(len(order), steps, 2 * SIZE * SIZE, dt, f"nmnist {split}")
    x = np.zeros((len(order), steps, 2, SIZE, SIZE), dtype=np.float32)
    for i, (_, f) in enumerate(order):
        x[i] = frames(read_events(f), dt, steps, binary)
    return torch.from_numpy(x), torch.tensor([d for d, _ in order], dtype=torch.long)

