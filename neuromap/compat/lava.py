"""Make lava-nc 0.10.0 import on Python 3.11.

lava-nc 0.10.0 (the last release; the Lava repositories are archived) declares Python < 3.11. On
3.11 it fails at import with ``ValueError: mutable default <class '...var_model.ByteEncoder'> for
field x is not allowed``: Python 3.11's dataclass check rejects a default whose class is unhashable,
and ``ByteEncoder`` is a plain ``@dataclass`` (``eq=True`` sets ``__hash__ = None``) used as the
default of ``CoreEncoder.x`` etc.

The fix here is an import hook for exactly one module, ``lava.magma.compiler.var_model``: it
compiles that module's source with ``@dataclass(unsafe_hash=True)`` on ``ByteEncoder`` (so the
class is hashable and the defaults are accepted) and changes nothing else. site-packages is never
touched: the patched code is compiled in memory, and the module's bytecode cache is bypassed::

    from neuromap.compat.lava import ensure_lava
    ensure_lava()                      # installs the hook, imports lava, or raises LavaUnavailable
    from lava.proc.lif.process import LIF

lava-nc is the ``lava`` extra: ``pip install 'neuromap-snn[lava]'`` brings its installable dependencies
(asteval), and lava-nc itself goes in with ``pip install --no-deps --ignore-requires-python
lava-nc==0.10.0`` because its metadata excludes Python 3.11. Python 3.11 is the version this shim is
tested on; the ``loihi`` backend (the emulator) needs none of it.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import multiprocessing
import sys
from types import ModuleType

from neuromap.optional import MissingExtra, install_hint

PATCHED_MODULE = "lava.magma.compiler.var_model"
_ORIGINAL = "@dataclass\nclass ByteEncoder:"
_PATCHED = "@dataclass(unsafe_hash=True)  # neuromap.compat.lava: hashable for Python 3.11\nclass ByteEncoder:"


#: What works where: the one sentence every Lava error carries.
SUPPORT = ("the shim is tested on Python 3.11 only; on 3.12 and later lava-nc 0.10.0 is unchecked, and the "
           "`loihi` backend (neuromap's emulator, bit-exact with Lava's fixed_pt model, no extra) runs on every Python")


class LavaUnavailable(MissingExtra):
    """lava-nc is not installed, or cannot be imported even with the shim."""


class _PatchedVarModelLoader(importlib.machinery.SourceFileLoader):
    def get_code(self, fullname: str):  # noqa: D401 - importlib protocol
        source = self.get_data(self.path).decode("utf-8")
        if _ORIGINAL in source:
            source = source.replace(_ORIGINAL, _PATCHED, 1)
        # Compile from the patched source every time: the cached .pyc holds the unpatched code.
        return compile(source, self.path, "exec", dont_inherit=True)


class _VarModelFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != PATCHED_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            return spec
        return importlib.util.spec_from_file_location(
            fullname, spec.origin, loader=_PatchedVarModelLoader(fullname, spec.origin)
        )


def install() -> None:
    """Register the import hook (idempotent). Must run before lava's compiler is imported."""
    if not any(isinstance(f, _VarModelFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _VarModelFinder())


def is_patched() -> bool:
    """True when the loaded ``var_model`` came through the hook (or needs no patch)."""
    mod = sys.modules.get(PATCHED_MODULE)
    return mod is not None and getattr(mod.ByteEncoder, "__hash__", None) is not None


@contextlib.contextmanager
def _tolerant_start_method():
    """Lava's runtime calls ``multiprocessing.set_start_method('fork')`` at import time, which
    raises ``RuntimeError: context has already been set`` when anything in the process fixed the
    start method first. During that import only, a request for the method already in force is a
    no-op, and any other is forced (Lava needs 'fork')."""
    original = multiprocessing.set_start_method

    def set_start_method(method, force=False):
        current = multiprocessing.get_start_method(allow_none=True)
        if current == method:
            return None
        return original(method, force=True)

    multiprocessing.set_start_method = set_start_method
    try:
        yield
    finally:
        multiprocessing.set_start_method = original


def ensure_lava() -> ModuleType:
    """Install the shim and import lava; raise :class:`LavaUnavailable` with the reason if it fails."""
    install()
    try:
        with _tolerant_start_method():
            import lava  # noqa: F401
            import lava.magma.compiler.var_model  # noqa: F401
            import lava.magma.core.process.process  # noqa: F401  (imports the runtime)
            import lava.magma.core.run_configs  # noqa: F401
    except ImportError as exc:
        missing = (exc.name or "lava").split(".")[0]
        what = "lava-nc 0.10.0 is not installed" if missing == "lava" else f"lava-nc's dependency {missing} is missing"
        raise LavaUnavailable(f"the Lava backend needs lava-nc; {what}: {install_hint('lava')} "
                              f"(checked on Python 3.11; {SUPPORT})") from exc
    except ValueError as exc:
        raise LavaUnavailable(f"lava-nc failed to import even with neuromap's Python 3.11 shim: {exc} ({SUPPORT})") from exc
    return sys.modules["lava"]
