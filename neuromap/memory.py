"""The memory budget: the size of a large allocation is checked before it is made.

A file or an argument can ask for far more memory than its own size (a 68 kB NIR file declaring a
gzip-compressed 2.56 GB weight, ``--steps 100000000``, an ``.npy`` header declaring 93 TiB): such a
request is refused with its size and the limit - a :class:`MemoryBudgetError`, bad input (exit 2 on
the command line) - instead of ending in a ``MemoryError``, a swapping machine or the kernel's
OOM killer.

The limit, in bytes, is the first of:

* :func:`limited` (the command line's ``--max-memory SIZE``);
* ``$NEUROMAP_MAX_MEMORY`` (same syntax);
* :data:`DEFAULT_FRACTION` (one half) of :func:`available_memory`: the smallest of the machine's
  physical memory, the cgroup's ``memory.max`` (containers) and this process's ``RLIMIT_AS`` /
  ``RLIMIT_DATA`` (``ulimit -v``).

Sizes are written as a number of bytes with an optional unit: ``K``, ``M``, ``G``, ``T`` (powers of
1024; ``KiB`` ... and a trailing ``B`` are accepted), e.g. ``--max-memory 8G``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

from neuromap.errors import InputError

ENV = "NEUROMAP_MAX_MEMORY"
#: The default limit is this fraction of :func:`available_memory`.
DEFAULT_FRACTION = 0.5
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_override: list[tuple[int, str]] = []  # (bytes, where it came from), innermost last


class MemoryBudgetError(InputError):
    """A request needs more memory than the limit; the message gives both sizes and how to raise the limit."""


def parse_size(text: str, what: str = "--max-memory") -> int:
    """Bytes from ``"8G"``, ``"512MiB"``, ``"1.5T"`` or ``"1000000"``; :class:`InputError` otherwise."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise InputError(f"{what} {text}: not a size (a number of bytes with an optional unit K, M, G or T, e.g. 8G)")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not math.isfinite(value) or value < 1:
        raise InputError(f"{what} {text}: must be at least one byte")
    return int(value)


def format_size(nbytes: float) -> str:
    """``"2.56 GiB"``: a byte count for a message."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        with contextlib.suppress(OSError, ValueError):
            text = Path(path).read_text().strip()
            if text != "max" and int(text) < 1 << 60:  # cgroup v1 writes a huge number for "no limit"
                return int(text)
    return None


def available_memory() -> int:
    """Bytes this process may use at most: physical memory, the cgroup limit, ``RLIMIT_AS`` and
    ``RLIMIT_DATA``, whichever is smallest (those that cannot be read are left out)."""
    sizes = []
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    cgroup = _cgroup_limit()
    if cgroup:
        sizes.append(cgroup)
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource

        for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
            soft = resource.getrlimit(which)[0]
            if soft != resource.RLIM_INFINITY and soft > 0:
                sizes.append(soft)
    return min(sizes) if sizes else 1 << 34  # nothing readable: assume 16 GiB


def limit() -> tuple[int, str]:
    """``(bytes, where the limit comes from)``; see the module docstring for the order."""
    if _override:
        return _override[-1]
    env = os.environ.get(ENV, "").strip()
    if env:
        return parse_size(env, f"${ENV}"), f"${ENV}"
    total = available_memory()
    return int(DEFAULT_FRACTION * total), f"the default, half of the {format_size(total)} this process may use"


@contextlib.contextmanager
def limited(nbytes: int | str | None, source: str = "--max-memory") -> Iterator[None]:
    """Use ``nbytes`` (or a size string) as the limit inside the block; None keeps the current one."""
    if nbytes is None:
        yield
        return
    value = parse_size(nbytes, source) if isinstance(nbytes, str) else int(nbytes)
    _override.append((value, source))
    try:
        yield
    finally:
        _override.pop()


def for_workers() -> dict[str, str]:
    """Environment variables that carry a limit set in this process (:func:`limited`, ``--max-memory``)
    to worker processes it starts (a sweep's Ray tasks): ``{"NEUROMAP_MAX_MEMORY": "<bytes>"}``, or
    ``{}`` when none is set here (a worker then reads ``$NEUROMAP_MAX_MEMORY`` or its default)."""
    return {ENV: str(_override[-1][0])} if _override else {}


def over(nbytes: float) -> str | None:
    """None when ``nbytes`` fit the limit, else why not: ``"needs 2.56 GiB, more than the memory limit of
    1 GiB (--max-memory)"``, for a caller that raises its own error (a target file's field)."""
    cap, source = limit()
    if nbytes <= cap:
        return None
    return f"needs {format_size(nbytes)}, more than the memory limit of {format_size(cap)} ({source})"


def check(nbytes: float, what: str) -> None:
    """Refuse (:class:`MemoryBudgetError`) a request of ``nbytes`` over the limit; ``what`` names it in the
    user's terms ("--input x.npy (shape (..), float64)")."""
    if (why := over(nbytes)) is not None:
        raise MemoryBudgetError(f"{what} {why}; ask for less, or raise the limit with --max-memory or ${ENV}")


@functools.cache
def _malloc_trim():
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


def release_free_pages() -> bool:
    """Hand the C heap's free pages back to the operating system (glibc's ``malloc_trim(0)``, over all
    arenas); False where there is no such call (not glibc). glibc keeps freed blocks below its mmap
    threshold (which raises itself up to 32 MB) mapped, so after a stage that freed many temporaries of
    tens of MB the resident memory stays where they left it; the partitioner calls this between its
    large stages, so the next stage's peak does not stack on memory already freed."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
