"""Read NumPy ``.npy`` / ``.npz`` files given by a user: never unpickle, check before allocating.

``np.load`` on a user's file has three traps: unpickling (numpy's ``allow_pickle``) runs code from the file; a
header may declare far more data than the file holds (numpy allocates the declared size first,
``MemoryError`` for 93 TiB); and anything that is not a ``.npy`` at all (a text file, ``/dev/zero``)
gets numpy's advice to "load it unsafely with allow_pickle". Here the header is read first, and a
file that is not a regular ``.npy``/``.npz``, holds Python objects, is shorter than its header says
or needs more than the memory budget (:mod:`neuromap.memory`) is refused with an
:class:`~neuromap.errors.InputError` that says which.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from neuromap import memory
from neuromap.errors import InputError

ZIP_MAGIC = b"PK\x03\x04"


def _regular(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except OSError as exc:
        raise InputError(f"{what}: cannot read it ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(mode):
        raise InputError(f"{what}: is a directory")
    if not stat.S_ISREG(mode):
        raise InputError(f"{what}: is not a regular file (a device, pipe or socket); give a file written by numpy.save")
    return p


def read_header(fh: BinaryIO, what: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, declared data bytes)`` of the ``.npy`` stream ``fh`` (left at the data's start)."""
    start = fh.read(6)
    fh.seek(-len(start), os.SEEK_CUR)
    if start != b"\x93NUMPY":
        kind = "an .npz archive" if start.startswith(ZIP_MAGIC) else \
            "a text file" if start and all(32 <= c < 127 or c in b"\t\r\n" for c in start) else "not a .npy array"
        raise InputError(f"{what}: is {kind}, not a .npy array (it does not start with numpy's \\x93NUMPY header); "
                         "write arrays with numpy.save")
    try:
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = reader(fh)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise InputError(f"{what}: its .npy header cannot be read ({exc})") from exc
    if dtype.hasobject:
        raise InputError(f"{what}: holds Python objects ({dtype}); reading them needs pickle, which can run code from "
                         "the file, so neuromap does not; save numbers")
    return tuple(int(s) for s in shape), dtype, int(np.prod(shape, dtype=object)) * dtype.itemsize


def _check_size(shape, dtype, declared: int, available: int, what: str, extra_per_element: int) -> int:
    """The bytes reading it needs (its data and ``extra_per_element`` more per element); refuses a header
    that declares more data than the file holds and a need over the memory budget."""
    if declared > available:
        raise InputError(f"{what}: its header declares shape {shape} of {dtype} ({memory.format_size(declared)}) but "
                         f"the file holds {memory.format_size(available)} of data: truncated, or the header is wrong")
    need = declared + int(np.prod(shape, dtype=object)) * extra_per_element
    memory.check(need, f"{what} (shape {shape}, {dtype})")
    return need


def load_npy(path: str | os.PathLike, what: str, extra_per_element: int = 0) -> np.ndarray:
    """The array in the ``.npy`` file ``path``; ``what`` names it in errors (``"--input x.npy"``);
    ``extra_per_element``: bytes per element the caller adds (4 for a float32 copy), counted in the budget."""
    p = _regular(path, what)
    with open(p, "rb") as fh:
        shape, dtype, declared = read_header(fh, what)
        _check_size(shape, dtype, declared, p.stat().st_size - fh.tell(), what, extra_per_element)
    try:
        return np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{what}: cannot read it as a .npy array ({exc})") from exc


def load_npz(path: str | os.PathLike, what: str, extra_per_element: int = 0) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive ``path`` by name, each header checked before any is read."""
    p = _regular(path, what)
    with open(p, "rb") as fh:
        if fh.read(6) == b"\x93NUMPY":
            raise InputError(f"{what}: is a single .npy array, not an .npz archive (numpy.savez)")
    try:
        with zipfile.ZipFile(p) as zf:
            total = 0
            for info in zf.infolist():
                name = info.filename.removesuffix(".npy")
                with zf.open(info) as fh:
                    shape, dtype, declared = read_header(fh, f"{what} entry {name!r}")
                    header = fh.tell()
                total += _check_size(shape, dtype, declared, info.file_size - header, f"{what} entry {name!r}",
                                     extra_per_element)
            memory.check(total, f"{what} (all entries)")
        with np.load(p, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except zipfile.BadZipFile as exc:
        raise InputError(f"{what}: is not an .npz archive ({exc})") from exc
    except (OSError, ValueError, EOFError, KeyError, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise InputError(f"{what}: cannot read it as an .npz archive ({type(exc).__name__}: {exc})") from exc
