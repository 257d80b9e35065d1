"""Backends: one module per simulator / hardware target behind one protocol (:mod:`.base`).

    from neuromap import backends
    compiled = backends.get("torch").compile(graph)
    result = compiled.run(x)                      # RunResult(outputs, records, wall_seconds, backend)

Backends are imported lazily by name (``BACKEND_MODULES``); a backend module exposes ``BACKEND``,
an object following :class:`.base.Backend` (``name``, ``default_target``, ``target_kinds``,
``compile(graph, target, **options)``, ``unsupported(graph)``) and declares the neuron kinds and
numerics it implements (:class:`.base.Implementations`, ``@implements``). A new backend registers by
adding its module path here or by calling :func:`register` at import time.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from .base import ANY_STEP, Backend, BackendError, Compiled, Implementations, RunResult, load_target

BACKEND_MODULES: dict[str, str] = {
    "torch": "neuromap.backends.torch",
    "spinnaker2": "neuromap.backends.spinnaker2",
    "loihi": "neuromap.backends.loihi.backend",
    "lava": "neuromap.backends.lava",
    "crossbar": "neuromap.backends.crossbar",
    "brian2": "neuromap.backends.brian2",
}
_LOADED: dict[str, Backend] = {}


def register(name: str, backend: Backend) -> None:
    """Make ``backend`` available as ``get(name)``."""
    _LOADED[name] = backend


def get(name: str) -> Backend:
    """The backend called ``name`` (imports its module on first use)."""
    if name not in _LOADED:
        if name not in BACKEND_MODULES:
            raise ValueError(f"unknown backend {name!r}; known: {sorted(set(BACKEND_MODULES) | set(_LOADED))}")
        module = importlib.import_module(BACKEND_MODULES[name])
        _LOADED[name] = module.BACKEND
    return _LOADED[name]


def available() -> list[str]:
    """Names of the known backends (importable or not)."""
    return sorted(set(BACKEND_MODULES) | set(_LOADED))


def compile_on(backend: Backend, graph: Any, target: Any = None, **options: Any) -> Compiled:
    """``backend.compile(graph, target, **options)`` for any backend: the target (None: the backend's
    default) is checked against the kinds it runs, and an option it does not take is refused with
    the options it has (instead of a ``TypeError``)."""
    params = inspect.signature(backend.compile).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            takes = [n for n in params if n not in ("graph", "target")]
            raise BackendError(f"backend {backend.name!r} takes no option {', '.join(unknown)}; its options: {takes}")
    tgt = load_target(backend, target)
    return backend.compile(graph, tgt, **options)


__all__ = ["ANY_STEP", "Backend", "BackendError", "Compiled", "Implementations", "RunResult", "register", "get",
           "available", "compile_on", "load_target", "BACKEND_MODULES"]
