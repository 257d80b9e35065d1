"""Backends: one module per simulator / hardware target behind one protocol (:mod:`.base`).

    from neuromap import backends
    compiled = backends.get("torch").compile(graph)
    result = compiled.run(x)                      # RunResult(outputs, records, wall_seconds, backend)

Backends are imported lazily by name (``BACKEND_MODULES``); a backend module exposes ``BACKEND``,
an object following :class:`.base.Backend`. A new backend registers by adding its module path here
or by calling :func:`register` at import time.
"""

from __future__ import annotations

import importlib

from .base import Backend, BackendError, Compiled, RunResult

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


__all__ = ["Backend", "BackendError", "Compiled", "RunResult", "register", "get", "available", "BACKEND_MODULES"]
