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
are :mod:`.digital`, :mod:`.crossbar`, :mod:`.conventional` and :mod:`.sfq`; a new kind is one module
with a :class:`TargetKind` subclass and a ``register_kind`` call, imported before its TOML is loaded.
"""

from .kind import TargetKind, get_kind, kind_of, kinds, register_kind
from .loader import available, folder, load, validate
from .schema import CONFIDENCE, DIMENSIONS, UNITS, Figure, FigureSpec, Section, Target, TargetError

# the built-in kinds register themselves (after the registry and the loader exist)
from . import conventional, crossbar, digital, sfq  # noqa: E402, F401  isort: skip

__all__ = ["CONFIDENCE", "DIMENSIONS", "UNITS", "Figure", "FigureSpec", "Section", "Target", "TargetError",
           "TargetKind", "available", "folder", "get_kind", "kind_of", "kinds", "load", "register_kind", "validate"]
