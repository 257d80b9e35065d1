"""A target as data: :class:`Figure`, :class:`Section`, :class:`Target`, and the checks of one figure
against its :class:`FigureSpec` (unit, type, range).

Every figure in a target file is a small table::

    e_synop = { value = 23.6e-12, unit = "J", source = "Davies et al. 2018 Table 2", confidence = "H" }

``confidence`` is ``H`` (read in code / quoted verbatim), ``M`` (quoted by a second party or two
agreeing secondary sources), ``L`` (recollection or one secondary source) or ``D`` (derived by
arithmetic on cited figures); ``estimate = true`` marks a figure that is an estimate (to be replaced
by a measurement), ``note`` adds a remark. A figure that the sources do not give is written as
``{ missing = "why" }`` and loads with ``value = None``: code that needs it must treat it as
unknown (e.g. "no limit"), never substitute a number.

Units are SI (:data:`UNITS`, each with its dimension in :data:`DIMENSIONS`); ``1`` is a
dimensionless count or ratio. Model coefficients that are defined in microsiemens by their source
(aihwkit noise models) keep ``uS``. Which figures a target may hold, with their units, is its
kind's schema (:attr:`neuromap.targets.TargetKind.figures`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from neuromap.errors import NeuromapError

CONFIDENCE = ("H", "M", "L", "D")
#: unit -> the dimension it measures (named in errors: "unit must be 'J' (energy), got 's' (time)")
DIMENSIONS = {"J": "energy", "W": "power", "s": "time", "Hz": "frequency", "bit": "information",
              "byte": "information", "B/s": "bandwidth", "FLOP/s": "arithmetic rate", "S": "conductance",
              "uS": "conductance", "m2": "area", "A": "current", "Wb": "magnetic flux", "K": "temperature",
              "1": "a count or ratio"}
UNITS = tuple(DIMENSIONS)
FIGURE_KEYS = {"value", "unit", "source", "confidence", "estimate", "note", "missing"}
TYPES = ("number", "int", "ints", "numbers", "str", "any")


class TargetError(NeuromapError, ValueError):
    """A target name is unknown or a target file is malformed (the message names file and field)."""


@dataclass(frozen=True)
class FigureSpec:
    """What a kind accepts for one figure: its ``unit``, value ``type`` (``number``, ``int``, a list
    of them ``numbers`` / ``ints``, ``str``, or ``any``: numbers anywhere inside, finite), and range
    (``min`` / ``max`` inclusive, ``positive``: > 0; ``signed``: negative values allowed).
    ``required``: the file must name it; ``needs_value``: ``{ missing = ... }`` is refused (the
    mapping arithmetic cannot do without it)."""

    unit: str
    type: str = "number"
    min: float | None = 0.0
    max: float | None = None
    positive: bool = False
    signed: bool = False
    required: bool = False
    needs_value: bool = False

    def __post_init__(self) -> None:
        if self.unit not in UNITS or self.type not in TYPES:
            raise ValueError(f"FigureSpec: unit {self.unit!r} / type {self.type!r} not in {UNITS} / {TYPES}")

    def but(self, **changes: Any) -> FigureSpec:
        """A copy with ``changes`` (e.g. ``required=True`` for one kind)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Figure:
    """One hardware figure with its provenance. ``value`` is None when the figure is missing."""

    value: Any
    unit: str
    source: str
    confidence: str
    estimate: bool = False
    note: str = ""
    missing: str = ""

    @property
    def known(self) -> bool:
        return self.value is not None

    def __str__(self) -> str:
        if not self.known:
            return f"missing ({self.missing})"
        est = ", estimate" if self.estimate else ""
        unit = "" if self.unit == "1" else f" {self.unit}"
        return f"{self.value}{unit} [{self.confidence}{est}; {self.source}]"


class Section(Mapping[str, Figure]):
    """A frozen, attribute-accessible mapping ``name -> Figure`` (one ``[table]`` of the TOML)."""

    __slots__ = ("_name", "_figures")

    def __init__(self, name: str, figures: dict[str, Figure]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_figures", MappingProxyType(dict(figures)))

    def __getitem__(self, key: str) -> Figure:
        return self._figures[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._figures)

    def __len__(self) -> int:
        return len(self._figures)

    def __getattr__(self, key: str) -> Figure:
        try:
            return self._figures[key]
        except KeyError:
            raise AttributeError(f"section [{self._name}] has no figure {key!r}; it has {sorted(self._figures)}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("Section is frozen")

    def value(self, key: str, default: Any = None) -> Any:
        """The figure's value, or ``default`` when it is absent or missing."""
        fig = self._figures.get(key)
        return default if fig is None or fig.value is None else fig.value

    def __repr__(self) -> str:
        return f"Section({self._name!r}, {sorted(self._figures)})"


@dataclass(frozen=True)
class Target:
    """A validated hardware target: its ``kind`` (a registered :class:`~neuromap.targets.TargetKind`)
    says which sections and figures it may hold (absent sections are empty)."""

    name: str
    kind: str
    description: str
    path: str
    sections: Mapping[str, Section] = field(repr=False)

    def __getattr__(self, key: str) -> Section:
        # only called for names that are not dataclass fields
        sections = object.__getattribute__(self, "sections")
        if key in sections:
            return sections[key]
        if key.startswith("_"):
            raise AttributeError(key)
        return Section(key, {})

    def get(self, dotted: str, default: Any = None) -> Any:
        """Value of ``"section.figure"`` or ``default`` when absent or missing."""
        sec, _, key = dotted.partition(".")
        s = self.sections.get(sec)
        return default if s is None else s.value(key, default)

    def figure(self, dotted: str) -> Figure | None:
        sec, _, key = dotted.partition(".")
        s = self.sections.get(sec)
        return None if s is None else s.get(key)

    def with_value(self, dotted: str, value: float, note: str) -> Target:
        """A copy with figure ``"section.figure"`` set to ``value`` (a what-if study, e.g. a smaller
        core memory); ``note`` says why, on the figure, so a report shows it was changed."""
        sec, _, key = dotted.partition(".")
        old = self.figure(dotted)
        if old is None:
            raise KeyError(f"target {self.name!r} has no figure {dotted!r}")
        figs = dict(self.sections[sec])
        figs[key] = dataclasses.replace(old, value=value, note=note)
        sections = {**self.sections, sec: Section(sec, figs)}
        return dataclasses.replace(self, sections=MappingProxyType(sections))

    def figures(self) -> Iterator[tuple[str, Figure]]:
        for sname, sec in self.sections.items():
            for k, f in sec.items():
                yield f"{sname}.{k}", f


def short(f: Figure) -> str:
    """A figure as a short string for listings: ``"23.6e-12 J (H)"``, ``"missing"``."""
    if not f.known:
        return "missing"
    v = f.value
    if isinstance(v, float):
        txt = f"{v:.3g}"
    elif isinstance(v, list):
        flat = len(v) <= 3 and all(not isinstance(x, list) for x in v)
        txt = "x".join(f"{x:.3g}" if isinstance(x, float) else str(x) for x in v) if flat else f"[{len(v)}]"
    else:
        txt = str(v)
    unit = "" if f.unit == "1" else f" {f.unit}"
    return f"{txt}{unit} ({f.confidence}{'*' if f.estimate else ''})"


# ---------------------------------------------------------------------------------------- checks
def fail(path: str, where: str, msg: str) -> TargetError:
    """The error for a bad field: ``"FILE: section.figure: what is wrong"``."""
    return TargetError(f"{path}: {where}: {msg}")


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _check_number(path: str, key: str, x: Any, spec: FigureSpec, integer: bool) -> None:
    if integer and not (isinstance(x, int) and not isinstance(x, bool)):
        raise fail(path, key, f"expected an integer, got {type(x).__name__} {x!r}")
    if not _is_num(x):
        raise fail(path, key, f"expected a number, got {type(x).__name__} {x!r}")
    if not math.isfinite(x):
        raise fail(path, key, f"value {x!r} is not finite")
    lo = None if spec.signed else spec.min
    if lo is not None and x < lo:
        raise fail(path, key, f"value {x!r} is negative" if lo == 0 else f"value {x!r} is below {lo}")
    if spec.positive and x <= 0:
        raise fail(path, key, f"value {x!r} must be > 0")
    if spec.max is not None and x > spec.max:
        raise fail(path, key, f"value {x!r} is above {spec.max}")


def _check_any(path: str, key: str, raw: Any, spec: FigureSpec, depth: int = 0) -> None:
    """Numbers anywhere inside (nested lists) finite and in range; strings and booleans pass."""
    if depth > 8:
        raise fail(path, key, "lists nested more than 8 deep")
    if spec.unit != "1" and not (_is_num(raw) or isinstance(raw, list)):
        raise fail(path, key, f"a figure in {spec.unit!r} must be a number, got {type(raw).__name__} {raw!r}")
    if isinstance(raw, list):
        for x in raw:
            _check_any(path, key, x, spec, depth + 1)
    elif _is_num(raw):
        _check_number(path, key, raw, spec, integer=False)
    elif not isinstance(raw, str | bool):
        raise fail(path, key, f"unsupported value type {type(raw).__name__}")


def check_value(path: str, key: str, raw: Any, spec: FigureSpec) -> None:
    """Raise :class:`TargetError` unless ``raw`` fits ``spec``'s type and range."""
    t = spec.type
    if t == "any":
        _check_any(path, key, raw, spec)
    elif t in ("int", "number"):
        _check_number(path, key, raw, spec, integer=t == "int")
    elif t in ("ints", "numbers"):
        vals = raw if isinstance(raw, list) else [raw]
        if not vals:
            raise fail(path, key, "empty list")
        for x in vals:
            _check_number(path, key, x, spec, integer=t == "ints")
    elif not isinstance(raw, str):
        raise fail(path, key, f"expected a string, got {type(raw).__name__}")


def _check_unit(path: str, key: str, unit: Any, spec: FigureSpec) -> None:
    if not isinstance(unit, str) or unit not in UNITS:
        raise fail(path, key, f"unit {unit!r} is not one of {list(UNITS)}")
    if unit != spec.unit:
        raise fail(path, key, f"unit must be {spec.unit!r} ({DIMENSIONS[spec.unit]}), got {unit!r} "
                              f"({DIMENSIONS[unit]})")


def parse_figure(path: str, key: str, raw: Any, spec: FigureSpec) -> Figure:
    """One figure's table checked against ``spec`` (fields, unit and dimension, value)."""
    if not isinstance(raw, dict):
        raise fail(path, key, "expected a table { value, unit, source, confidence } or { missing = \"reason\" }")
    extra = set(raw) - FIGURE_KEYS
    if extra:
        raise fail(path, key, f"unknown keys {sorted(extra)} (allowed: {sorted(FIGURE_KEYS)})")
    if "missing" in raw:
        if "value" in raw:
            raise fail(path, key, "has both 'value' and 'missing'")
        if not isinstance(raw["missing"], str) or not raw["missing"].strip():
            raise fail(path, key, "'missing' must give a reason (non-empty string)")
        if "unit" in raw:
            _check_unit(path, key, raw["unit"], spec)
        return Figure(None, spec.unit, str(raw.get("source", "")), "", False, str(raw.get("note", "")), raw["missing"])
    for req in ("value", "unit", "source", "confidence"):
        if req not in raw:
            raise fail(path, key, f"missing field {req!r}")
    unit, source, conf = raw["unit"], raw["source"], raw["confidence"]
    _check_unit(path, key, unit, spec)
    if not isinstance(source, str) or not source.strip():
        raise fail(path, key, "'source' must be a non-empty string")
    if conf not in CONFIDENCE:
        raise fail(path, key, f"confidence {conf!r} is not one of {list(CONFIDENCE)}")
    est = raw.get("estimate", False)
    if not isinstance(est, bool):
        raise fail(path, key, f"'estimate' must be true/false, got {est!r}")
    check_value(path, key, raw["value"], spec)
    return Figure(raw["value"], unit, source, conf, est, str(raw.get("note", "")))


# Common figure specs (a kind lists its figures with these, so a unit is written once per meaning).
COUNT = FigureSpec("1", "int", positive=True)  # cores, neurons, entries, ...
RATIO = FigureSpec("1")  # a dimensionless number >= 0
TEXT = FigureSpec("1", "str")  # a name or a choice
ANY = FigureSpec("1", "any")  # a list (of numbers or names)
BITS = FigureSpec("bit", "int", positive=True, max=64)
BYTES = FigureSpec("byte", "int", positive=True)
ENERGY = FigureSpec("J", positive=True)  # J per event
ENERGIES = FigureSpec("J", "numbers", positive=True)  # J per event: a range or one per operating point
POWER = FigureSpec("W", positive=True)
POWERS = FigureSpec("W", "numbers", positive=True)
TIME = FigureSpec("s", positive=True)
TIMES = FigureSpec("s", "numbers", positive=True)
FREQUENCIES = FigureSpec("Hz", "numbers", positive=True)
REFERENCE = FigureSpec("1", "any")  # a published measurement kept for validation (dimensionless)
