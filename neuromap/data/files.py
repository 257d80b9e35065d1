"""Where real data sets live on disk, and what to say when they are not there.

Nothing is downloaded: the files are read from ``data_dir`` (an argument), else ``$NEUROMAP_DATA``,
else ``~/.cache/neuromap/data``, under one sub-folder per data set (``SOURCES[name].folder``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from neuromap.errors import NeuromapError

ENV = "NEUROMAP_DATA"
DEFAULT_ROOT = Path.home() / ".cache" / "neuromap" / "data"


@dataclass(frozen=True)
class Source:
    """Where a data set comes from and which files neuromap reads."""

    title: str
    reference: str
    url: str
    folder: str
    files: str  # the layout expected under ``<data_dir>/<folder>``


SOURCES: dict[str, Source] = {
    "shd": Source(
        "Spiking Heidelberg Digits (SHD)",
        "Cramer, Stradmann, Schemmel & Zenke, IEEE TNNLS 33(7), 2022",
        "https://zenkelab.org/datasets/",
        "shd",
        "shd_train.h5 and shd_test.h5 (unpack the downloaded .h5.gz / .h5.zip)",
    ),
    "ssc": Source(
        "Spiking Speech Commands (SSC)",
        "Cramer, Stradmann, Schemmel & Zenke, IEEE TNNLS 33(7), 2022",
        "https://zenkelab.org/datasets/",
        "ssc",
        "ssc_train.h5 and ssc_test.h5 (ssc_valid.h5 is optional; unpack the downloaded .h5.gz / .h5.zip)",
    ),
    "nmnist": Source(
        "N-MNIST",
        "Orchard, Jayawant, Cohen & Thakor, Front. Neurosci. 9:437, 2015",
        "https://www.garrickorchard.com/datasets/n-mnist (also on Mendeley Data, doi:10.17632/468j46mzdv.1)",
        "nmnist",
        "Train/<digit>/<id>.bin and Test/<digit>/<id>.bin (unpack Train.zip and Test.zip)",
    ),
    "dvsgesture": Source(
        "IBM DVS128 Gesture",
        "Amir et al., CVPR 2017",
        "https://research.ibm.com/interactive/dvsgesture/ (DvsGesture.tar.gz)",
        "dvsgesture",
        "DvsGesture/ with userNN_<lighting>.aedat, userNN_<lighting>_labels.csv, trials_to_train.txt and "
        "trials_to_test.txt; or tonic's extracted DVSGesture/ibmGestureTrain/ and DVSGesture/ibmGestureTest/",
    ),
}


class DatasetMissing(NeuromapError, FileNotFoundError):
    """A real data set's files are not on disk; the message says where to get them and where to put them."""


class DatasetError(NeuromapError, ValueError):
    """A data set's file is there but cannot be used (truncated, corrupt, inconsistent, too few samples);
    the message names the file and what is wrong."""


@contextlib.contextmanager
def reading(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn the errors of reading ``path`` (h5py's ``OSError`` on a truncated file, a directory where a
    file should be, a missing key) into a :class:`DatasetError` naming it as ``what``."""
    try:
        yield
    except (NeuromapError, MemoryError):
        raise
    except (OSError, KeyError, RuntimeError, TypeError, IndexError) as exc:
        reason = "is a directory, not a file" if Path(path).is_dir() else \
            f"cannot be read ({type(exc).__name__}: {exc}); truncated or corrupt?"
        raise DatasetError(f"{path}: {what} {reason}") from exc


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir``, else ``$NEUROMAP_DATA``, else ``~/.cache/neuromap/data``."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV, "").strip()
    return Path(env).expanduser() if env else DEFAULT_ROOT


def dataset_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder data set ``name`` is read from (which may not exist)."""
    return data_root(data_dir) / SOURCES[name].folder


def missing(name: str, folder: Path, what: str) -> DatasetMissing:
    """The error for data set ``name`` whose ``what`` is not in ``folder``."""
    src = SOURCES[name]
    return DatasetMissing(
        f"{src.title}: {what} not found in {folder}. No download happens here: get it from {src.url} "
        f"({src.reference}) and put {src.files} in {folder} (the folder is <data_dir>/{src.folder}; "
        f"data_dir is the data_dir argument, else ${ENV}, else {DEFAULT_ROOT})."
    )
