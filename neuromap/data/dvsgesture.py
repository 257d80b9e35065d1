"""IBM DVS128 Gesture (Amir et al. 2017): 11 hand gestures by 29 subjects under 5 lightings, 128x128.

Two layouts are read from ``<data_dir>/dvsgesture``:

* IBM's original ``DvsGesture/`` folder: one AEDAT 3.1 file per recording
  (``userNN_<lighting>.aedat``) with ``userNN_<lighting>_labels.csv`` (``class,startTime_usec,
  endTime_usec``; classes 1..11) and ``trials_to_train.txt`` / ``trials_to_test.txt`` naming the
  recordings of each split. Parsed here (no extra needed). Each labelled interval is one sample.
* tonic's extracted layout ``DVSGesture/ibmGestureTrain|ibmGestureTest/userNN_<lighting>/<class>.npy``
  (classes 0..10; rows ``x, y, p, t`` with t in ms), as ``tonic.datasets.DVSGesture`` leaves it; read
  with numpy, so tonic need not be installed.

AEDAT 3.1 (iniVation's format): ASCII header lines starting with ``#`` up to ``#!END-HEADER\\r\\n``,
then packets: a 28-byte little-endian header (int16 type, int16 source, int32 event size, int32
timestamp offset, int32 timestamp overflow, int32 capacity, int32 number, int32 valid) and
``number x size`` bytes of events. Polarity events (type 1) are 8 bytes: uint32 data (bit 0 valid,
bit 1 polarity, bits 2-16 y, bits 17-31 x) and int32 timestamp (us); the full time is
``overflow << 31 | timestamp``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .events import bin_events, check_frames, n_steps
from .files import dataset_dir, missing, reading

DT = 10e-3  # default bin width (s)
DURATION = 1.5  # default window from each sample's start (s)
SIZE = 128
N_CLASSES = 11
POLARITY_EVENT = 1
_HEADER = np.dtype([("type", "<i2"), ("source", "<i2"), ("size", "<i4"), ("ts_offset", "<i4"),
                    ("ts_overflow", "<i4"), ("capacity", "<i4"), ("number", "<i4"), ("valid", "<i4")])
_POLARITY = np.dtype([("data", "<u4"), ("t", "<i4")])
TONIC_FOLDERS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}


def read_aedat31(path: str | Path) -> dict[str, np.ndarray]:
    """Valid polarity events ``{"x", "y", "p", "t"}`` (t in microseconds) of one AEDAT 3.1 file."""
    with reading(path, "(an AEDAT 3.1 recording)"):
        raw = Path(path).read_bytes()
    end = raw.find(b"#!END-HEADER")
    if not raw.startswith(b"#!AER-DAT3") or end < 0:
        raise ValueError(f"{path} is not an AEDAT 3.x file (no '#!AER-DAT3' ... '#!END-HEADER' header)")
    pos = raw.index(b"\n", end) + 1
    chunks = []
    while pos + _HEADER.itemsize <= len(raw):
        head = np.frombuffer(raw, _HEADER, 1, pos)[0]
        pos += _HEADER.itemsize
        size = int(head["number"]) * int(head["size"])
        if pos + size > len(raw):
            raise ValueError(f"{path}: truncated packet at byte {pos}")
        if head["type"] == POLARITY_EVENT:
            if head["size"] != _POLARITY.itemsize:
                raise ValueError(f"{path}: polarity events of {head['size']} bytes, expected 8")
            ev = np.frombuffer(raw, _POLARITY, int(head["number"]), pos)
            t = (np.int64(head["ts_overflow"]) << 31) | ev["t"].astype(np.int64)
            chunks.append((ev["data"][(ev["data"] & 1) == 1], t[(ev["data"] & 1) == 1]))
        pos += size
    data = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, np.uint32)
    t = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros(0, np.int64)
    return {"x": ((data >> 17) & 0x7FFF).astype(np.int64), "y": ((data >> 2) & 0x7FFF).astype(np.int64),
            "p": ((data >> 1) & 1).astype(np.int64), "t": t}


def _samples_aedat(folder: Path, split: str) -> list[tuple[dict[str, np.ndarray], int]]:
    """(events from the interval's start, class 0..10) for each labelled interval of the split's recordings."""
    trials = folder / f"trials_to_{split}.txt"
    if not trials.is_file():
        raise missing("dvsgesture", folder.parent, f"DvsGesture/{trials.name}")
    out = []
    for name in trials.read_text().split():
        ev = read_aedat31(folder / name)
        labels = folder / name.replace(".aedat", "_labels.csv")
        with reading(labels, "(a DVS Gesture labels file)"):
            rows = np.loadtxt(labels, delimiter=",", skiprows=1, ndmin=2)
        for cls, start, stop in rows.astype(np.int64):
            sel = (ev["t"] >= start) & (ev["t"] < stop)
            out.append(({k: v[sel] for k, v in ev.items()} | {"t": ev["t"][sel] - start}, int(cls) - 1))
    return out


def _samples_tonic(folder: Path) -> list[tuple[dict[str, np.ndarray], int]]:
    """Samples of tonic's extracted layout: ``userNN_<lighting>/<class>.npy``, rows ``x, y, p, t`` (t in ms).

    Read here rather than through ``tonic.datasets.DVSGesture``, which also wants its downloaded archive
    next to the extracted files and starts a download when it is absent."""
    from neuromap.npyfile import load_npy

    out = []
    for f in sorted(folder.glob("user*/*.npy")):
        ev = load_npy(f, str(f))
        if ev.ndim != 2 or ev.shape[1] != 4:
            raise ValueError(f"{f}: expected rows of (x, y, p, t), got shape {ev.shape}")
        t = np.rint(ev[:, 3] * 1000).astype(np.int64)  # ms -> us
        out.append(({"x": ev[:, 0].astype(np.int64), "y": ev[:, 1].astype(np.int64), "p": ev[:, 2].astype(np.int64),
                     "t": t - (t.min() if t.size else 0)}, int(f.stem)))
    return out


def load_split(split: str, data_dir=None, dt: float = DT, duration: float = DURATION, downsample: int = 4,
               max_samples: int | None = None, binary: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as ``(x [N, T, 2, 128/downsample, 128/downsample], y [N])``.

    ``dt``, ``duration`` in seconds from each gesture's start (gestures last about 6 s; later events
    are dropped); ``downsample`` pools pixels ``downsample x downsample`` (summed, then clipped to 1
    when ``binary``). Channel 0 is OFF, 1 ON.
    """
    if SIZE % downsample:
        raise ValueError(f"downsample must divide {SIZE}, got {downsample}")
    folder = dataset_dir("dvsgesture", data_dir)
    if (folder / "DvsGesture").is_dir():
        samples = _samples_aedat(folder / "DvsGesture", split)
    elif (folder / "DVSGesture" / TONIC_FOLDERS[split]).is_dir():
        samples = _samples_tonic(folder / "DVSGesture" / TONIC_FOLDERS[split])
    else:
        raise missing("dvsgesture", folder, "DvsGesture/ (or tonic's DVSGesture/ibmGesture*/)")
    samples = samples[:max_samples] if max_samples is not None else samples
    side, steps = SIZE // downsample, n_steps(duration, dt)
    check_frames(len(samples), steps, 2 * side * side, dt, f"dvsgesture {split}")
    x = np.zeros((len(samples), steps, 2, side, side), dtype=np.float32)
    for i, (ev, _) in enumerate(samples):
        channel = (ev["p"] * side + ev["y"] // downsample) * side + ev["x"] // downsample
        x[i] = bin_events(ev["t"] * 1e-6, channel, 2 * side * side, dt, steps, binary).reshape(steps, 2, side, side)
    return torch.from_numpy(x), torch.tensor([c for _, c in samples], dtype=torch.long)
