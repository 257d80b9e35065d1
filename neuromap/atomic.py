"""Atomic file writes: every file neuromap writes goes through here.

A writer gets a temporary file in the target's directory; only when it finished without error is
the file flushed to disk (``fsync``) and renamed over the target, so a full disk, a crash or Ctrl-C
leaves either the old file or the new one, never half of one, and never a leftover temporary file.
New files get the usual permissions (``0666`` minus the umask, as ``open`` gives); a replaced file
keeps its own. An ``OSError`` comes back as :class:`~neuromap.errors.OutputError` naming the user's
path, not the temporary one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from neuromap.errors import OutputError


def _mode_for(path: Path) -> int:
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_writable(path: str | os.PathLike, directory: bool = False) -> Path:
    """Fail early (before a long run) if ``path`` cannot be written: its parent must be an existing,
    writable directory; an existing ``path`` must be a file (or, with ``directory``, a directory)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.exists() and path.is_dir() != directory:
        kind = "a directory" if path.is_dir() else "a file"
        raise OutputError(f"cannot write {path}: it is {kind}")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: directory {parent} does not exist")
    try:  # a real probe: os.access says yes to root on a read-only mount
        fd, probe = tempfile.mkstemp(prefix=".neuromap-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: directory {parent} is not writable ({exc.strerror or exc})") from exc
    return path


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) while a third-party writer runs: h5py swallows a ``KeyboardInterrupt``
    raised inside its callbacks ("Exception ignored in ..."), so the signal is recorded and handed
    to the previous handler (normally: ``KeyboardInterrupt``) once the writer has returned, before
    the rename. Only in the main thread (signals go there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if got and callable(previous):
            previous(signal.SIGINT, None)  # the default handler raises KeyboardInterrupt here
        elif got and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    For writers that need a file name (``nir.write``, ``np.savez``). ``suffix`` is the temporary
    file's ending (``np.savez`` appends ``.npz`` to names without it). On any exception, including
    ``KeyboardInterrupt``, the temporary file is removed and the old ``path`` is untouched.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(name)
    try:
        with _sigint_deferred():  # a Ctrl-C during the write is raised here: the old file stays
            yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` that writes a temporary file and renames it into place on success."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes files; mode={mode!r} must start with 'w'")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)
