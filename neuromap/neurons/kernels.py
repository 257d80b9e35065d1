"""Compiled C++/OpenMP path of the fused neuron kernels, built on first use and cached.

:func:`neuromap.neurons.neuron_sequence` runs the LIF / CuBa recurrence either in a pure-PyTorch
per-step loop or in ``_kernels.cpp`` (same operations in the same order, compiled without fused
multiply-add, so the forward results are bit-identical and the gradients agree to rounding). The
compiled path is used when it is available and supports the case (CPU, float32/float64, no
refractory period, a built-in surrogate); everything else runs the pure-PyTorch loop.

Building (``torch.utils.cpp_extension.load`` with g++ and ninja) takes about 7 s on 2 cores and
happens once per source/flags/torch version, on the first call that can use it (announced on
stderr), or ahead of time with :func:`ensure_built`; later processes load the cached library in
~0.15 s. The cache is ``$NEUROMAP_KERNEL_CACHE`` or ``~/.cache/neuromap/kernels`` (a temporary
directory if that is not writable), one entry per hash of the source, flags and torch version - not
per checkout: the source is compiled from a copy inside the entry, so two checkouts of the same
source share one build. torch's lock file there serialises concurrent builds, and a lock left by a
killed build is removed after 10 minutes.
A failed build (no compiler, no ninja) is recorded once and the pure path serves.

Environment:
    ``NEUROMAP_NO_CPP=1``     never build or use the compiled path.
    ``NEUROMAP_KERNEL_CACHE`` build directory root.

``use("torch" | "cpp" | "auto")`` (a context manager) selects the implementation for a block of
code; ``"cpp"`` raises if the extension cannot be built or does not support a call, instead of
falling back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import torch

_SOURCE = Path(__file__).with_name("_kernels.cpp")
# Event-driven synapse ops (neuromap.synapses), the recurrent step loop (neuromap.neurons.recurrent) and the
# partitioner's connectivity counts (neuromap.partition.split), compiled into the same extension; headers
# are staged beside them (and hashed) but not compiled on their own.
_SOURCES = (_SOURCE, *(Path(__file__).with_name(n) for n in ("_synapse_kernels.cpp", "_recurrent_kernels.cpp",
                                                               "_connectivity_kernels.cpp")))
_HEADERS = (Path(__file__).with_name("_counter_hash.h"),)
# -ffp-contract=off: no fused multiply-add, so results equal the PyTorch loop bit for bit; -fno-trapping-math only
# lets the compiler if-convert and vectorise the threshold comparison (IEEE results are unchanged).
_CFLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math", "-fopenmp"]
IMPLS = ("auto", "torch", "cpp", "triton", "triton_interpret")

_STALE_LOCK_S = 600.0
#: Printed on stderr when the extension is compiled (not when a cached build is loaded).
ANNOUNCEMENT = "neuromap: building fused CPU kernels, once, about 15 s (later runs load the cached build)"
_lock = threading.Lock()
_state: dict = {"ops": None, "error": None, "build_s": None}
_impl = threading.local()


def disabled() -> bool:
    """``NEUROMAP_NO_CPP`` is set to something other than ``""``/``0``."""
    return os.environ.get("NEUROMAP_NO_CPP", "").strip() not in ("", "0")


def _build_name() -> str:
    digest = hashlib.sha1(b"".join(src.read_bytes() for src in _SOURCES + _HEADERS))
    digest.update(" ".join(_CFLAGS).encode())
    digest.update(torch.__version__.encode())
    return f"neuromap_kernels_{digest.hexdigest()[:12]}"


def cache_dir() -> Path:
    """Where the extension is built (one subdirectory per source/flags/torch version)."""
    root = os.environ.get("NEUROMAP_KERNEL_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "neuromap" / "kernels"
    try:
        base.mkdir(parents=True, exist_ok=True)
        probe = base / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError:
        base = Path(tempfile.gettempdir()) / f"neuromap-kernels-{os.getuid()}"
        base.mkdir(parents=True, exist_ok=True)
    path = base / _build_name()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _staged_sources(build_dir: Path) -> list[Path]:
    """The kernel sources copied into their cache entry, so that every checkout compiles the same paths:
    ninja rebuilds when a path in the compile command changes, so two checkouts compiling their own
    copies would rebuild each other's library on every switch. The entry is keyed by the sources'
    hash, so the copies there are identical and are rewritten (atomically) only if missing."""
    staged_paths = []
    for src in _HEADERS + _SOURCES:  # the headers first; the sources' staged paths are returned
        staged = build_dir / src.name
        data = src.read_bytes()
        if not staged.is_file() or staged.read_bytes() != data:
            tmp = staged.with_name(f".{staged.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, staged)
        if src in _SOURCES:
            staged_paths.append(staged)
    return staged_paths


def _build() -> None:
    """Compile (or load the cached build of) the extension; record the ops or the error."""
    t0 = time.perf_counter()
    try:
        from torch.utils.cpp_extension import load as _load

        build_dir = cache_dir()
        lock = build_dir / "lock"  # torch's FileBaton; a build killed mid-way leaves it behind forever
        if lock.exists() and time.time() - lock.stat().st_mtime > _STALE_LOCK_S:
            lock.unlink(missing_ok=True)
        if not (build_dir / f"{_build_name()}.so").exists():
            print(ANNOUNCEMENT, file=sys.stderr, flush=True)
        _load(
            name=_build_name(),
            sources=[str(p) for p in _staged_sources(build_dir)],
            extra_cflags=_CFLAGS,
            extra_ldflags=["-fopenmp"],
            build_directory=str(build_dir),
            is_python_module=False,
            verbose=os.environ.get("NEUROMAP_KERNEL_VERBOSE", "") not in ("", "0"),
        )
        ops = torch.ops.neuromap_kernels
        ops.lif_forward  # noqa: B018 - raises if registration failed
        _state["ops"] = ops
    except Exception as exc:  # no compiler, no ninja, build error: the pure path serves
        _state["error"] = f"{type(exc).__name__}: {exc}"
    _state["build_s"] = time.perf_counter() - t0


def load():
    """The compiled ops (``torch.ops.neuromap_kernels``), building them on the first call; None when
    ``NEUROMAP_NO_CPP`` is set or the build failed (the reason is in :func:`status`)."""
    if disabled():
        return None
    if _state["ops"] is not None or _state["error"] is not None:
        return _state["ops"]
    with _lock:
        if _state["ops"] is None and _state["error"] is None:
            _build()
    return _state["ops"]


def ensure_built() -> dict:
    """Build (or load the cached build of) the compiled kernels now and return :func:`status`.

    Call it before timing anything that runs neurons (``neuromap deploy``, benchmarks) so the one-off
    build - announced on stderr, see :data:`ANNOUNCEMENT` - is not counted in a reported run time."""
    load()
    return status()


def status() -> dict:
    """``available``, ``disabled``, ``error`` and ``build_s`` (seconds the build or cached load took)."""
    return {
        "available": _state["ops"] is not None,
        "disabled": disabled(),
        "error": _state["error"],
        "build_s": _state["build_s"],
    }


def current_impl() -> str:
    return getattr(_impl, "value", "auto")


@contextlib.contextmanager
def use(impl: str) -> Iterator[None]:
    """Select the kernel implementation in this thread: ``"auto"`` (on the CPU the compiled C++
    kernel, on CUDA the Triton kernels, when available and the case is supported; else the PyTorch
    loop), ``"torch"`` (pure PyTorch), ``"cpp"`` (compiled C++; raises if it cannot be built or a
    call is unsupported), ``"triton"`` (Triton on CUDA; raises likewise) or ``"triton_interpret"``
    (the Triton kernels through Triton's interpreter on CPU tensors: slow, for tests)."""
    if impl not in IMPLS:
        raise ValueError(f"impl={impl!r} is not one of {list(IMPLS)}")
    if impl == "cpp" and load() is None:
        reason = "NEUROMAP_NO_CPP is set" if disabled() else _state["error"]
        raise RuntimeError(f"the compiled neuron kernels are unavailable: {reason}")
    if impl.startswith("triton"):
        from . import triton_kernels  # lazy: triton_kernels imports nothing heavy, but keep the order clear

        reason = triton_kernels.unavailable()
        if reason:
            raise RuntimeError(f"the Triton neuron kernels are unavailable: {reason}")
    previous = current_impl()
    _impl.value = impl
    try:
        yield
    finally:
        _impl.value = previous
