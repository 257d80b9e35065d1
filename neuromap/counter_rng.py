"""A counter-based random generator shared by the compiled kernels and numpy: splitmix64's output mixer
(Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators") applied to keys built from
a seed and counters, so any draw is a pure function of ``(seed, counters)``. The C++ side is
``neuromap/neurons/_counter_hash.h``; tests pin that both give the same bits.

    h = mix64(base + k * GOLDEN)       # the k-th draw of a stream keyed by ``base``
    u = unit(h)                        # uniform in [0, 1) from its top 53 bits
"""

from __future__ import annotations

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
SEED_SALT = 0x632BE59BD9B4E019


def mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's output mixer on uint64 arrays (wrapping arithmetic), as ``mix64`` in the C++ header."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def unit(h: np.ndarray) -> np.ndarray:
    """Uniform in [0, 1) from the top 53 bits (exact in float64)."""
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def salt(seed: int) -> np.uint64:
    """The key of a seed: ``mix64(seed + SEED_SALT)`` (mod 2^64)."""
    return mix64(np.array([(int(seed) + SEED_SALT) % 2**64], dtype=np.uint64))[0]


def stream_base(counter: np.ndarray, seed: int) -> np.ndarray:
    """The base of the stream of each ``counter`` (uint64): ``mix64(counter * GOLDEN ^ salt(seed))``."""
    return mix64(np.asarray(counter, dtype=np.uint64) * GOLDEN ^ salt(seed))
