"""Named data sets, resolved by :func:`load`: the built-in ones (no files needed) and real ones read
from a local directory (no download happens)::

    from neuromap import data
    d = data.load("shd", data_dir="~/data", dt=10e-3, max_samples=512)       # SequenceData
    for x, y in d.batches("train", batch_size=32):                           # x [T, B, 700]
        ...

================  =====================================================  ==================  ==================
name              what                                                   x per sample        files
================  =====================================================  ==================  ==================
``digits``        scikit-learn's 8x8 digits as spikes (:func:`.digits`)  ``[T, 64]``         none
``moving-bars``   synthetic DVS-like bars (:mod:`.moving_bars`)          ``[T, 2, 16, 16]``  none
``shd``, ``ssc``  Spiking Heidelberg Digits / Speech Commands (HDF5)     ``[T, 700]``        :mod:`.heidelberg`
``nmnist``        N-MNIST (binary event files)                           ``[T, 2, 34, 34]``  :mod:`.nmnist`
``dvsgesture``    IBM DVS128 Gesture (AEDAT 3.1, or tonic's layout)      ``[T, 2, 32, 32]``  :mod:`.dvsgesture`
================  =====================================================  ==================  ==================

``data_dir`` defaults to ``$NEUROMAP_DATA``, then ``~/.cache/neuromap/data``; a missing data set
raises :class:`DatasetMissing` saying where to get it and where to put it. Event data sets are
binned to ``T = ceil(duration / dt)`` steps of ``dt`` seconds (keyword arguments of :func:`load`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import dvsgesture, heidelberg, nmnist
from .events import check_frames, n_steps
from .files import SOURCES, DatasetError, dataset_dir
from .moving_bars import moving_bars
from .sequences import SequenceData, digits, digits_inputs

BUILTIN = ("digits", "moving-bars")
NAMES = BUILTIN + tuple(SOURCES)
#: Default bin width (s) of each event data set's loader.
DEFAULT_DT = {"shd": heidelberg.DT, "ssc": heidelberg.DT, "nmnist": nmnist.DT, "dvsgesture": dvsgesture.DT}
_ALIASES = {"dvs-gesture": "dvsgesture", "n-mnist": "nmnist", "bars": "moving-bars"}


def _key(name: str) -> str:
    key = name.lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in NAMES:
        raise ValueError(f"unknown data set {name!r}; known: {list(NAMES)}")
    return key


def _builtin(name: str, kwargs: dict[str, Any]) -> SequenceData:
    return digits(**kwargs) if name == "digits" else moving_bars(**kwargs)


def _event_loader(name: str) -> tuple[Callable[..., Any], int]:
    """(split loader taking ``split`` and keyword arguments, number of classes)."""
    if name in ("shd", "ssc"):
        return (lambda split, **kw: heidelberg.load_split(name, split, **kw)), heidelberg.N_CLASSES[name]
    if name == "nmnist":
        return nmnist.load_split, 10
    return dvsgesture.load_split, dvsgesture.N_CLASSES


def load(name: str, data_dir: str | os.PathLike | None = None, **kwargs: Any) -> SequenceData:
    """The data set ``name`` (one of :data:`NAMES`) as :class:`~neuromap.data.sequences.SequenceData`.

    Args:
        name: ``digits``, ``moving-bars``, ``shd``, ``ssc``, ``nmnist`` or ``dvsgesture``.
        data_dir: root folder of the real data sets (default ``$NEUROMAP_DATA``, then
            ``~/.cache/neuromap/data``); ignored by the built-in ones.
        kwargs: passed on: for the built-ins, their function's arguments (e.g. ``steps``); for the
            event data sets ``dt`` (s, bin width), ``duration`` (s), ``max_samples`` (per split),
            ``binary`` and, for ``dvsgesture``, ``downsample``.
    Raises:
        DatasetMissing: the files are not in ``data_dir`` (the message says where to get them).
        ValueError: an unknown name.
    """
    key = _key(name)
    if key in BUILTIN:
        return _builtin(key, kwargs)
    loader, n_classes = _event_loader(key)
    x_train, y_train = loader("train", data_dir=data_dir, **kwargs)
    x_test, y_test = loader("test", data_dir=data_dir, **kwargs)
    dt = kwargs.get("dt")
    return SequenceData(
        name=key + (f"-dt{dt * 1e3:g}ms" if dt else ""),
        x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, n_classes=n_classes,
        description=f"{SOURCES[key].title} ({SOURCES[key].reference}), read from {dataset_dir(key, data_dir)}",
    )


#: Channels per time step of each event data set's frames (dvsgesture at its default 4x4 pooling).
FRAME_SIZE = {"shd": heidelberg.N_CHANNELS, "ssc": heidelberg.N_CHANNELS, "nmnist": 2 * nmnist.SIZE ** 2,
              "dvsgesture": 2 * (dvsgesture.SIZE // 4) ** 2}
DEFAULT_DURATION = {"shd": heidelberg.DURATION, "ssc": heidelberg.DURATION, "nmnist": nmnist.DURATION,
                    "dvsgesture": dvsgesture.DURATION}


def inputs(name: str, samples: int = 64, split: str = "test", data_dir: str | os.PathLike | None = None,
           steps: int | None = None, dt: float | None = None, seed: int = 0) -> tuple[Any, Any]:
    """``(x [T, B, ...], labels [B])``: the first ``samples`` of one split of data set ``name``, time-major,
    for running a model (``neuromap deploy --dataset NAME``); only that split, and only those samples, are read
    (and, for digits, encoded).

    ``steps``: for the built-ins, the encoding length (default 25); for event data sets, the number of
    bins of ``dt`` seconds (default: the data set's whole ``duration``). ``dt``: event bin width (s;
    default per data set). ``seed``: the built-ins' encoding and split. A split with fewer than
    ``samples`` samples is refused (:class:`DatasetError`), as is a request over the memory budget
    (:mod:`neuromap.memory`), before anything is read.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    key = _key(name)
    if key == "digits":
        return digits_inputs(samples, steps=25 if steps is None else steps, seed=seed, split=split)
    if key in BUILTIN:
        d = _builtin(key, {"steps": 25 if steps is None else steps, "seed": seed})
        x, y = d.split(split)
        _check_samples(key, split, samples, len(y), "built in")
        return x[:samples].transpose(0, 1).contiguous(), y[:samples]
    loader, _ = _event_loader(key)
    kw: dict[str, Any] = {"max_samples": samples}
    if dt is not None:
        kw["dt"] = dt
    if steps is not None:
        kw["duration"] = steps * kw.get("dt", DEFAULT_DT[key])
    bins = n_steps(kw.get("duration", DEFAULT_DURATION[key]), kw.get("dt", DEFAULT_DT[key]))
    check_frames(samples, bins, FRAME_SIZE[key], kw.get("dt", DEFAULT_DT[key]), f"--dataset {key}", copies=2)
    x, y = loader(split, data_dir=data_dir, **kw)
    _check_samples(key, split, samples, len(y), f"in {dataset_dir(key, data_dir)}")
    return x.transpose(0, 1).contiguous(), y


def _check_samples(key: str, split: str, asked: int, found: int, where: str) -> None:
    if found < asked:
        raise DatasetError(f"--samples {asked}: the {key} {split} split {where} has only {found} samples; "
                           f"ask for at most {found}")
