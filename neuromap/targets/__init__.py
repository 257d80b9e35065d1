"""Hardware targets: one TOML per target (data, in ``hardware/``), one module per target kind (code).

    >>> from neuromap import targets
    >>> t = targets.load("loihi")                 # a shipped name, or a path to your own TOML
    >>> t.core.max_neurons.value
    1024
    >>> targets.available()[:3]
    ['cpu', 'crossbar-pcm', 'crossbar-rram']
    >>> targets.kinds()
    ['conventional', 'crossbar', 'digital', 'sfq']

A target file names its ``kind``; the kind (:class:`TargetKind`, registered with
:func:`register_kind`) holds the figures such a file may contain with their units
(:mod:`.schema`), the partition strategy, the cost model and the report lines. The built-in kinds
are the other modules of this package (:mod:`.digital`, :mod:`.crossbar`, :mod:`.conventional`,
:mod:`.sfq`), each imported here so that it registers itself: a new built-in kind is one module here
plus its TOML in ``hardware/``. A kind of your own is one module with a :class:`TargetKind` subclass
and a ``register_kind`` call, imported before its TOML is loaded (or declared under the
``neuromap.extensions`` entry point of its package, for the command line).
"""

import importlib as _importlib
import pkgutil as _pkgutil

from .kind import TargetKind, get_kind, kind_of, kinds, register_kind
from .loader import available, folder, load, validate
from .schema import CONFIDENCE, DIMENSIONS, UNITS, Figure, FigureSpec, Section, Target, TargetError

_INFRASTRUCTURE = {"kind", "loader", "schema"}  # every other module of this package is a kind
for _module in sorted(m.name for m in _pkgutil.iter_modules(__path__) if m.name not in _INFRASTRUCTURE):
    _importlib.import_module(f"{__name__}.{_module}")

__all__ = ["CONFIDENCE", "DIMENSIONS", "UNITS", "Figure", "FigureSpec", "Section", "Target", "TargetError",
           "TargetKind", "available", "folder", "get_kind", "kind_of", "kinds", "load", "register_kind", "validate"]
