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
from collections.abc import Iterable, Iterator
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


def _within(path: Path, directory: Path) -> bool:
    """``path`` (which may not exist yet) lies in ``directory`` or is it, by device and inode: a symbolic
    link, a bind mount or ``..`` in either name does not hide it."""
    for p in (path, *path.parents):
        with contextlib.suppress(OSError):
            if p.exists() and os.path.samefile(p, directory):
                return True
    return False


def check_not_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], flag: str = "-o",
                    directory: bool = False) -> None:
    """Refuse (:class:`OutputError`, before any work) an output that would overwrite or delete an input.

    ``output`` must not be one of ``inputs`` under any name (the same device and inode: the path
    itself, a symbolic link to it or a hard link), nor lie inside an input directory (a data set's
    folder). With ``directory`` (a run directory that is replaced as a whole) it must not hold an
    input either. ``None`` entries and inputs that do not exist are skipped."""
    out = Path(os.path.abspath(output))
    for given in inputs:
        if given is None or not Path(given).exists():
            continue
        inp = Path(given)
        if inp.is_dir():
            if _within(out, inp):
                raise OutputError(f"{flag} {output}: lies inside the input directory {given}; write it elsewhere")
            if directory and _within(inp, out):
                raise OutputError(f"{flag} {output}: holds the input directory {given}, which replacing it would delete")
            continue
        if out.exists() and os.path.samefile(out, inp):
            how = ("a symbolic link" if out.is_symlink() or inp.is_symlink() else
                   "a hard link" if os.path.realpath(out) != os.path.realpath(inp) else "the same path")
            raise OutputError(f"{flag} {output}: is the input {given} ({how}); writing there would destroy the input, "
                              "give another output path")
        if directory and _within(inp, out):
            raise OutputError(f"{flag} {output}: holds the input {given}, which replacing the directory would delete")


def check_distinct_outputs(outputs: dict[str, str | os.PathLike | None]) -> None:
    """Refuse two output flags naming one file (``-o m.png --plot m.png``): the second would overwrite the first."""
    seen: dict[str, str] = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise OutputError(f"{flag} {path}: is also given as {seen[key]}; each output needs its own path")
        seen[key] = flag


#: Signals held while a writer runs: Ctrl-C, ``kill`` (SIGTERM) and a closed terminal (SIGHUP).
DEFERRED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class _Deferred:
    """Holds :data:`DEFERRED_SIGNALS` while a third-party writer runs: h5py swallows an exception
    raised inside its callbacks ("Exception ignored in ..."), so a signal is recorded and handed on
    afterwards (:meth:`deliver`), before the rename. Only in the main thread (signals go there), and
    only signals whose handler was set from Python and is not ``SIG_IGN`` (an ignored signal stays
    ignored; one whose handler Python does not know cannot be restored, so it is left alone)."""

    def __init__(self) -> None:
        self.previous: dict[int, object] = {}
        self.pending: list[int] = []

    def __enter__(self) -> _Deferred:
        if threading.current_thread() is threading.main_thread():
            for signum in DEFERRED_SIGNALS:
                current = signal.getsignal(signum)
                if current is not None and current != signal.SIG_IGN:
                    self.previous[signum] = signal.signal(signum, self._record)
        return self

    def _record(self, signum: int, frame) -> None:
        self.pending.append(signum)

    def __exit__(self, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def deliver(self, cleanup) -> None:
        """Hand each held signal to the handler found before: a callable is called (it may raise, e.g.
        ``KeyboardInterrupt``, or return, and the write goes on); ``SIG_DFL`` means the default action,
        so ``cleanup()`` runs first and the signal is raised again to end the process as it would have."""
        for signum in dict.fromkeys(self.pending):
            handler = self.previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                cleanup()
                signal.raise_signal(signum)  # default action: the process ends here (SIGINT, SIGTERM, SIGHUP)
                raise KeyboardInterrupt  # not reached unless the signal was blocked


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``.

    For writers that need a file name (``nir.write``, ``np.savez``). ``suffix`` is the temporary
    file's ending (``np.savez`` appends ``.npz`` to names without it). On any exception, including
    ``KeyboardInterrupt``, the temporary file is removed and the old ``path`` is untouched. SIGINT,
    SIGTERM and SIGHUP arriving during the write are held until the writer returns and then handed
    to the handlers found before, whatever they are (a callable, ``SIG_DFL``, ``SIG_IGN``).
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(name)
    held = _Deferred()
    try:
        with held:  # a signal during the write is handed on here, before the rename: the old file stays
            yield tmp
        held.deliver(lambda: tmp.unlink(missing_ok=True))
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
