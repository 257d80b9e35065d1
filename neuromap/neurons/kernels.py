"""Compiled C++/OpenMP path of the fused neuron kernels, built on first use and cached.

:func:`neuromap.neurons.neuron_sequence` runs the LIF / CuBa recurrence either in a pure-PyTorch
per-step loop or in ``_kernels.cpp`` (same operations in the same order, compiled without fused
multiply-add, so the forward results are bit-identical and the gradients agree to rounding). The
compiled path is used when it is available and supports the case (CPU, float32/float64, no
refractory period, a built-in surrogate); everything else runs the pure-PyTorch loop.

The cache holds one library per :func:`build_key`: a hash of what the binary depends on - the
sources, the compiler flags, the C++ compiler (its resolved path and ``--version``), torch (version,
git revision, C++ ABI) and the Python ABI - and of nothing else. A cached library is loaded
directly (``torch.ops.load_library``, about 0.15 s), without ninja: a new virtualenv, another
checkout or another ``ninja`` on ``PATH`` with the same compiler and torch reuses it. A missing
library is compiled (``torch.utils.cpp_extension.load`` with g++ and ninja) in a private staging
directory and renamed into place, so concurrent builds never see half a library; the build is
announced before it starts and its measured duration reported after it (through ``announce``,
stderr by default).

The cache is ``$NEUROMAP_KERNEL_CACHE``, else ``~/.cache/neuromap/kernels``, else (not writable)
``$TMPDIR/neuromap-kernels-<uid>``. A directory neuromap creates there is made with mode 0700; an
existing one (and a cached library) is used only if it is a real directory owned by this user and
not writable by group or others - anything else could hold a library planted by another user,
whose constructor would run on load - and is otherwise refused with a message naming it (the
pure-PyTorch path then serves). A failed build (no compiler, no ninja) is recorded once and the
pure path serves.

Environment:
    ``NEUROMAP_NO_CPP=1``     never build or use the compiled path.
    ``NEUROMAP_KERNEL_CACHE`` cache directory root.

``use("torch" | "cpp" | "auto")`` (a context manager) selects the implementation for a block of
code; ``"cpp"`` raises if the extension cannot be built or does not support a call, instead of
falling back.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from neuromap.errors import NeuromapError

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
_LDFLAGS = ["-fopenmp"]
IMPLS = ("auto", "torch", "cpp", "triton", "triton_interpret")

#: Announced (on stderr by default) before the extension is compiled; never when a cached build is loaded.
ANNOUNCEMENT = "neuromap: building the fused CPU kernels once (a minute or more; later runs load the cached build)"
_lock = threading.Lock()
_state: dict = {"ops": None, "error": None, "build_s": None, "built": False}
_impl = threading.local()


class KernelCacheError(NeuromapError):
    """The kernel cache directory (or a library in it) is not safe to load code from; names it and why."""


def disabled() -> bool:
    """``NEUROMAP_NO_CPP`` is set to something other than ``""``/``0``."""
    return os.environ.get("NEUROMAP_NO_CPP", "").strip() not in ("", "0")


@functools.cache
def compiler_identity() -> str:
    """The C++ compiler torch builds with (``$CXX``, else ``c++``): its resolved path and first
    ``--version`` line; a compiler that cannot be run is named as such (the build then fails)."""
    from torch.utils.cpp_extension import get_cxx_compiler

    cxx = get_cxx_compiler()
    path = shutil.which(cxx) or cxx
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, check=False)
        version = (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else ""
    except (OSError, subprocess.SubprocessError) as exc:
        version = f"not runnable ({type(exc).__name__})"
    return f"{os.path.realpath(path)} {version}"


def build_key() -> dict[str, str]:
    """Everything the compiled library depends on (and nothing else: not the virtualenv's path, not
    the ``ninja`` on ``PATH``): hashed into :func:`_build_name`."""
    return {
        "sources": hashlib.sha256(b"".join(src.read_bytes() for src in _SOURCES + _HEADERS)).hexdigest(),
        "cflags": " ".join(_CFLAGS),
        "ldflags": " ".join(_LDFLAGS),
        "compiler": compiler_identity(),
        "torch": f"{torch.__version__} {torch.version.git_version} cxx11abi={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
        "python": str(sysconfig.get_config_var("SOABI") or sys.implementation.cache_tag),
    }


def _build_name() -> str:
    digest = hashlib.sha1(repr(sorted(build_key().items())).encode())
    return f"neuromap_kernels_{digest.hexdigest()[:12]}"


def _uid() -> int:
    return os.geteuid()


def check_private(path: Path, what: str = "kernel cache") -> Path:
    """``path`` if it is a real directory or file (not a symlink) owned by this user and not writable
    by group or others; else :class:`KernelCacheError` naming it and why."""
    st = os.lstat(path)
    problem = None
    if stat.S_ISLNK(st.st_mode):
        problem = "is a symbolic link"
    elif st.st_uid != _uid():
        problem = f"is owned by uid {st.st_uid}, not by this user (uid {_uid()})"
    elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"is writable by others than its owner (mode {stat.S_IMODE(st.st_mode):04o})"
    if problem:
        raise KernelCacheError(f"{what} {path} {problem}: neuromap does not load compiled code from it (another user "
                               f"could have put a library there). Remove it, or set $NEUROMAP_KERNEL_CACHE to a "
                               f"directory of your own; the pure-PyTorch kernels run meanwhile")
    return path


def _private_dir(path: Path) -> Path:
    """Create ``path`` with mode 0700 (its missing parents as usual), or check the existing one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    return check_private(path)


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError:
        return False
    return True


def cache_root() -> Path:
    """The cache root: ``$NEUROMAP_KERNEL_CACHE``, ``~/.cache/neuromap/kernels`` or, when that is not
    writable, ``$TMPDIR/neuromap-kernels-<uid>`` (created 0700; refused if someone else's)."""
    root = os.environ.get("NEUROMAP_KERNEL_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "neuromap" / "kernels"
    if root or _writable(base if base.is_dir() else base.parent):  # the probe never creates base itself
        return _private_dir(base)
    return _private_dir(Path(tempfile.gettempdir()) / f"neuromap-kernels-{_uid()}")


def cache_dir() -> Path:
    """The entry of this build (one subdirectory of :func:`cache_root` per :func:`build_key`)."""
    return _private_dir(cache_root() / _build_name())


def _stage_sources(build_dir: Path) -> list[Path]:
    """The kernel sources (and the headers they include) copied into the private build directory (the
    build never reads a path another checkout could change while it runs); returns the sources' copies."""
    staged = []
    for src in _HEADERS + _SOURCES:
        dst = build_dir / src.name
        dst.write_bytes(src.read_bytes())
        if src in _SOURCES:
            staged.append(dst)
    return staged


def _compile(entry: Path, library: Path, announce: Callable[[str], None]) -> float:
    """Compile the extension in a fresh directory inside ``entry`` and rename it to ``library``;
    returns the seconds it took (announced before and after)."""
    from torch.utils.cpp_extension import load as _load

    announce(f"{ANNOUNCEMENT} (cache: {entry})")
    t0 = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=entry))
    name = _build_name()
    try:  # copies of the flag lists: torch's load() appends to the lists it is given
        _load(name=name, sources=[str(p) for p in _stage_sources(staging)], extra_cflags=list(_CFLAGS),
              extra_ldflags=list(_LDFLAGS), build_directory=str(staging), is_python_module=False,
              verbose=os.environ.get("NEUROMAP_KERNEL_VERBOSE", "") not in ("", "0"))
        os.replace(staging / f"{name}.so", library)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = time.perf_counter() - t0
    announce(f"neuromap: built the fused CPU kernels in {seconds:.1f} s")
    return seconds


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _build(announce: Callable[[str], None] = _stderr) -> None:
    """Load the cached library, or compile it; record the ops or the error."""
    t0 = time.perf_counter()
    try:
        entry = cache_dir()
        library = entry / f"{_build_name()}.so"
        if library.exists():
            torch.ops.load_library(str(check_private(library, "cached kernel library")))
        else:
            _compile(entry, library, announce)
            _state["built"] = True
        ops = torch.ops.neuromap_kernels
        ops.lif_forward  # noqa: B018 - raises if registration failed
        _state["ops"] = ops
    except KernelCacheError as exc:  # refused: say so once, then the pure path serves
        _state["error"] = str(exc)
        announce(f"neuromap: warning: {exc}")
    except Exception as exc:  # no compiler, no ninja, build error: the pure path serves
        _state["error"] = f"{type(exc).__name__}: {exc}"
    _state["build_s"] = time.perf_counter() - t0


def load(announce: Callable[[str], None] | None = None):
    """The compiled ops (``torch.ops.neuromap_kernels``), loading or building them on the first call;
    None when ``NEUROMAP_NO_CPP`` is set or the build failed (the reason is in :func:`status`).
    ``announce`` receives the build's announcement and measured duration (default: stderr)."""
    if disabled():
        return None
    if _state["ops"] is not None or _state["error"] is not None:
        return _state["ops"]
    with _lock:
        if _state["ops"] is None and _state["error"] is None:
            _build(announce or _stderr)
    return _state["ops"]


def ensure_built(announce: Callable[[str], None] | None = None) -> dict:
    """Build (or load the cached build of) the compiled kernels now and return :func:`status`.

    Call it before timing anything that runs neurons (``neuromap deploy``, benchmarks) so the one-off
    build - announced with its measured duration, see :data:`ANNOUNCEMENT` - is not counted in a
    reported run time."""
    load(announce)
    return status()


def status() -> dict:
    """``available``, ``disabled``, ``error``, ``build_s`` (seconds the build or cached load took) and
    ``built`` (True when this process compiled the library rather than loading a cached one)."""
    return {
        "available": _state["ops"] is not None,
        "disabled": disabled(),
        "error": _state["error"],
        "build_s": _state["build_s"],
        "built": _state["built"],
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
