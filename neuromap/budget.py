"""A memory budget checked before a large allocation, so that input which would need more memory
than the machine has is refused with the size and the limit instead of a ``MemoryError``.

The limit is ``$NEUROMAP_MAX_MEMORY`` bytes when set (a number, optionally with a ``K`` / ``M`` /
``G`` / ``T`` suffix, powers of 1024), else half of this machine's physical memory.
"""

from __future__ import annotations

import os

from neuromap.errors import InputError

ENV = "NEUROMAP_MAX_MEMORY"
DEFAULT_FRACTION = 0.5
_SUFFIX = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def limit_bytes() -> int:
    """The budget in bytes (see the module docstring)."""
    raw = os.environ.get(ENV, "").strip()
    if raw:
        num, suffix = raw.rstrip("KMGTkmgtBb"), raw[len(raw.rstrip("KMGTkmgtBb")):].upper().rstrip("B")
        try:
            value = float(num) * _SUFFIX[suffix]
        except (ValueError, KeyError):
            raise InputError(f"${ENV}={raw!r}: expected a number of bytes, optionally with K, M, G or T") from None
        if value <= 0:
            raise InputError(f"${ENV}={raw!r}: must be positive")
        return int(value)
    return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * DEFAULT_FRACTION)


def describe_limit() -> str:
    """``"6 GiB ($NEUROMAP_MAX_MEMORY)"`` or ``"6 GiB (half of this machine's memory; set $NEUROMAP_MAX_MEMORY)"``."""
    why = f"${ENV}" if os.environ.get(ENV, "").strip() else f"half of this machine's memory; set ${ENV} to change it"
    return f"{fmt_bytes(limit_bytes())} ({why})"


def fmt_bytes(n: float) -> str:
    """Bytes with a binary prefix: ``"1.5 GiB"``."""
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:,.3g} {unit}"
    return f"{n:,.0f} bytes"


def over(nbytes: float) -> str | None:
    """None when ``nbytes`` fit the budget, else ``"needs about X; the limit is Y"``."""
    if nbytes <= limit_bytes():
        return None
    return f"needs about {fmt_bytes(nbytes)}; the limit is {describe_limit()}"
