"""The Heidelberg spiking data sets SHD and SSC (their HDF5 files, read with h5py).

Each file holds ``spikes/times`` (one float array per sample: spike times in seconds),
``spikes/units`` (one integer array per sample: the channel, 0..699, of each spike) and ``labels``
(one integer per sample); SHD has 20 classes (digits 0-9 in English and German), SSC 35 keywords.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from .events import bin_events, check_frames, n_steps
from .files import DatasetError, dataset_dir, missing, reading

DT = 10e-3  # default bin width (s)
DURATION = 1.0  # default window from each sample's start (s)
N_CHANNELS = 700
N_CLASSES = {"shd": 20, "ssc": 35}
SPLIT_FILES = {"train": "train", "test": "test", "valid": "valid"}


def read_events(path: str | Path, max_samples: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """``(times [s] per sample, units per sample, labels)`` from one SHD/SSC HDF5 file. A file whose
    three datasets hold different numbers of samples, or a sample whose times and units differ in
    length, is a :class:`~.files.DatasetError` (not a silently shorter run)."""
    with reading(path, "(an SHD/SSC HDF5 file)"), h5py.File(path, "r") as f:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in f:
                raise DatasetError(f"{path} is not an SHD/SSC file: it has no '{key}' dataset")
        counts = {key: len(f[key]) for key in ("spikes/times", "spikes/units", "labels")}
        if len(set(counts.values())) != 1:
            raise DatasetError(f"{path}: its datasets hold different numbers of samples "
                               f"({', '.join(f'{k} {v}' for k, v in counts.items())}); the file is inconsistent")
        n = counts["labels"] if max_samples is None else min(max_samples, counts["labels"])
        times = [np.asarray(t, dtype=np.float64) for t in f["spikes/times"][:n]]
        units = [np.asarray(u, dtype=np.int64) for u in f["spikes/units"][:n]]
        labels = np.asarray(f["labels"][:n], dtype=np.int64)
    for i, (t, u) in enumerate(zip(times, units)):
        if t.shape != u.shape:
            raise DatasetError(f"{path}: sample {i} has {t.size} spike times but {u.size} units")
        if u.size and (u.min() < 0 or u.max() >= N_CHANNELS):
            raise DatasetError(f"{path}: sample {i} has units in [{u.min()}, {u.max()}], outside the {N_CHANNELS} "
                               "channels of SHD/SSC")
        if not np.all(np.isfinite(t)):
            raise DatasetError(f"{path}: sample {i} has spike times that are NaN or infinite")
    return times, units, labels


def load_split(name: str, split: str, data_dir=None, dt: float = DT, duration: float = DURATION,
               max_samples: int | None = None, binary: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One split of SHD or SSC as ``(x [N, T, 700], y [N])``, ``T = ceil(duration / dt)``.

    ``dt`` and ``duration`` in seconds; spikes at or after ``duration`` are dropped (SHD and SSC
    samples last at most about 1 s). Memory: N x T x 700 x 4 bytes (the SHD training set at
    dt = 10 ms is 2.3 GB; pass ``max_samples`` to read fewer).
    """
    if name not in N_CLASSES:
        raise ValueError(f"{name!r} is not one of {sorted(N_CLASSES)}")
    folder = dataset_dir(name, data_dir)
    path = folder / f"{name}_{SPLIT_FILES[split]}.h5"
    if not path.is_file():
        raise missing(name, folder, path.name)
    times, units, labels = read_events(path, max_samples)
    steps = n_steps(duration, dt)
    check_frames(len(labels), steps, N_CHANNELS, dt, f"{name} {split}")
    x = np.stack([bin_events(t, u, N_CHANNELS, dt, steps, binary) for t, u in zip(times, units)]) if len(labels) \
        else np.zeros((0, steps, N_CHANNELS), dtype=np.float32)
    return torch.from_numpy(x), torch.from_numpy(labels)
