"""Hardware targets as data: one TOML per target, loaded and validated into frozen dataclasses.

Every figure in a target file is a small table::

    e_synop = { value = 23.6e-12, unit = "J", source = "Davies et al. 2018 Table 2", confidence = "H" }

``confidence`` is ``H`` (read in code / quoted verbatim), ``M`` (quoted by a second party or two
agreeing secondary sources), ``L`` (recollection or one secondary source) or ``D`` (derived by
arithmetic on cited figures); ``estimate = true`` marks a figure that is an estimate (to be replaced
by a measurement), ``note`` adds a remark. A figure that the sources do not give is written as
``{ missing = "why" }`` and loads with ``value = None``: code that needs it must treat it as
unknown (e.g. "no limit"), never substitute a number.

Units are SI: ``J``, ``W``, ``s``, ``Hz``, ``bit``, ``byte``, ``B/s``, ``S`` (siemens), ``m2``,
``A``, ``Wb`` (weber), ``K``;
``1`` is a dimensionless count or ratio. Model coefficients that are defined in microsiemens by
their source (aihwkit noise models) keep ``uS``.

    >>> from neuromap import hardware
    >>> t = hardware.load("loihi")
    >>> t.core.max_neurons.value
    1024
    >>> hardware.available()[:3]
    ['cpu', 'crossbar-pcm', 'crossbar-rram']
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from neuromap.errors import NeuromapError

__all__ = ["Figure", "Section", "Target", "TargetError", "available", "load", "KINDS", "CONFIDENCE"]

HERE = Path(__file__).resolve().parent
KINDS = ("digital", "crossbar", "conventional", "sfq")
CONFIDENCE = ("H", "M", "L", "D")
UNITS = ("J", "W", "s", "Hz", "bit", "byte", "B/s", "FLOP/s", "S", "uS", "m2", "A", "Wb", "K", "1")
_FIGURE_KEYS = {"value", "unit", "source", "confidence", "estimate", "note", "missing"}


class TargetError(NeuromapError, ValueError):
    """A target name is unknown or a target file is malformed (the message names file and field)."""


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
    """A validated hardware target. Sections: ``core``, ``chip``, ``system``, ``tile``, ``energy``,
    ``timing``, ``numerics``, ``device``, ``periphery``, and for SFQ ``sfq`` and ``cryo`` (absent sections
    are empty)."""

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

    def summary(self) -> dict[str, str]:
        """Key figures as short strings (for ``neuromap targets``)."""
        out: dict[str, str] = {}
        for key in _SUMMARY_KEYS[self.kind]:
            f = self.figure(key)
            if f is not None:
                out[key] = _short(f)
        return out


_SUMMARY_KEYS = {
    "digital": (
        "chip.cores_per_chip", "core.max_neurons", "core.synapse_mem_bits", "core.memory_bits", "core.max_axons_in",
        "numerics.weight_bits", "energy.e_synop", "energy.e_neuron_update", "energy.p_static_chip",
        "energy.p_chip_pes_off", "energy.p_pe_active",
    ),
    "crossbar": ("tile.rows", "tile.cols", "tile.tiles_per_chip", "periphery.adc_bits", "energy.e_core_mvm",
                 "energy.e_cell_op", "timing.t_mvm"),
    "conventional": ("conventional.cost_model", "energy.p_busy", "timing.t_kernel_eager", "energy.e_synop_system",
                     "energy.e_mac", "energy.e_ac"),
    "sfq": ("device.i_c", "device.phi_0", "sfq.junctions_per_synaptic_event", "sfq.junctions_per_neuron_update",
            "timing.clock", "cryo.t_cold", "cryo.wall_plug_factor"),
}


def _short(f: Figure) -> str:
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


# ---------------------------------------------------------------------------------------- schema
@dataclass(frozen=True)
class _Spec:
    unit: str
    type: str = "number"  # number | int | ints | numbers | str | bool
    min: float | None = 0.0
    max: float | None = None
    positive: bool = False


_I1 = _Spec("1", "int", positive=True)
# Known figures: unit, type and range are checked; unknown figures get the generic checks only.
SCHEMA: dict[str, _Spec] = {
    # per core
    "core.max_neurons": _I1,
    "core.memory_bits": _Spec("bit", "int", positive=True),
    "core.synapse_mem_bits": _Spec("bit", "int", positive=True),
    "core.max_axons_in": _I1,
    "core.max_axons_out": _I1,
    "core.max_fan_in": _I1,
    "core.routing_table_bytes": _Spec("byte", "int", positive=True),
    "core.sram_bytes": _Spec("byte", "int", positive=True),
    "core.max_delay_steps": _I1,
    # per chip
    "chip.cores_per_chip": _I1,
    "chip.usable_cores": _I1,
    "chip.cores_per_router": _I1,
    "chip.router_grid": _Spec("1", "ints", positive=True),
    "chip.router_entries": _I1,
    "chip.chip_links": _I1,
    "chip.clock": _Spec("Hz", "numbers", positive=True),
    "chip.dram_bytes": _Spec("byte", "number", positive=True),
    "chip.dram_bandwidth": _Spec("B/s", "number", positive=True),
    "chip.sram_bytes": _Spec("byte", "number", positive=True),
    # system
    "system.chips_per_board": _I1,
    "system.chip_grid": _Spec("1", "ints", positive=True),
    "system.max_chips": _I1,
    # crossbar tile
    "tile.rows": _I1,
    "tile.cols": _I1,
    "tile.tiles_per_chip": _I1,
    # numerics
    "numerics.weight_bits": _Spec("bit", "int", positive=True, max=64),
    "numerics.weight_bits_min": _Spec("bit", "int", positive=True, max=64),
    "numerics.state_bits": _Spec("bit", "int", positive=True, max=64),
    "numerics.decay_bits": _Spec("bit", "int", positive=True, max=64),
    "numerics.threshold_mantissa_bits": _Spec("bit", "int", positive=True, max=64),
    "numerics.threshold_shift": _Spec("bit", "int", max=64),
    "numerics.bias_mantissa_bits": _Spec("bit", "int", positive=True, max=64),
    "numerics.bias_exponent_bits": _Spec("bit", "int", positive=True, max=64),
    "numerics.spike_message_bits": _Spec("bit", "int", positive=True, max=64),
    "numerics.graded_spike_bits": _Spec("bit", "int", positive=True, max=64),
    "periphery.adc_bits": _Spec("bit", "int", positive=True, max=32),
    "periphery.dac_bits": _Spec("bit", "int", positive=True, max=32),
    # energy / power / time
    "energy.e_synop": _Spec("J", positive=True),
    "energy.e_neuron_update": _Spec("J", positive=True),
    "energy.p_static_chip": _Spec("W", positive=True),
    "timing.timestep": _Spec("s", positive=True),
    "timing.t_kernel_eager": _Spec("s", positive=True),
    "timing.t_kernel_graph": _Spec("s", positive=True),
    "energy.p_busy": _Spec("W", "numbers", positive=True),
    "energy.p_idle": _Spec("W", "numbers", positive=True),
    "conventional.cost_model": _Spec("1", "str"),
    # superconducting SFQ (kind = "sfq", neuromap/energy/costs.py sfq())
    "device.i_c": _Spec("A", positive=True),
    "device.phi_0": _Spec("Wb", positive=True),
    "sfq.junctions_per_synaptic_event": _Spec("1", positive=True),
    "sfq.junctions_per_neuron_update": _Spec("1", positive=True),
    "sfq.junctions_per_pulse_min": _Spec("1", "int", positive=True),
    "timing.clock": _Spec("Hz", "numbers", positive=True),
    "cryo.t_cold": _Spec("K", positive=True),
    "cryo.t_ambient": _Spec("K", positive=True),
    "cryo.wall_plug_factor": _Spec("1", positive=True),
    "energy.p_bias_static": _Spec("W", positive=True),
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "digital": (
        "chip.cores_per_chip", "chip.cores_per_router", "chip.router_grid", "core.max_neurons",
        "numerics.weight_bits", "numerics.state_bits", "energy.e_synop", "energy.e_neuron_update",
    ),
    "crossbar": ("tile.rows", "tile.cols", "tile.tiles_per_chip", "numerics.weight_bits"),
    "conventional": ("conventional.cost_model",),
    "sfq": ("device.i_c", "device.phi_0", "sfq.junctions_per_synaptic_event", "sfq.junctions_per_neuron_update",
            "sfq.junctions_per_pulse_min", "timing.clock", "cryo.t_cold", "cryo.t_ambient", "cryo.wall_plug_factor"),
}
# Required figures the mapping arithmetic cannot do without: ``{ missing = ... }`` is refused for these.
NEEDS_VALUE: dict[str, tuple[str, ...]] = {
    "digital": ("chip.cores_per_chip", "chip.cores_per_router", "chip.router_grid", "numerics.weight_bits",
                "numerics.state_bits"),
    "crossbar": ("tile.rows", "tile.cols", "numerics.weight_bits"),
    "conventional": (),
    "sfq": ("device.phi_0", "sfq.junctions_per_pulse_min"),
}


def _err(path: str, where: str, msg: str) -> TargetError:
    return TargetError(f"{path}: {where}: {msg}")


def _check_value(path: str, key: str, raw: Any, spec: _Spec | None, signed: bool = False, unit: str = "") -> None:
    def is_num(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    def check_num(x: Any) -> None:
        if not is_num(x):
            raise _err(path, key, f"expected a number, got {type(x).__name__} {x!r}")
        if not math.isfinite(x):
            raise _err(path, key, f"value {x!r} is not finite")
        lo = (None if signed else 0.0) if spec is None else spec.min
        if lo is not None and x < lo:
            raise _err(path, key, f"value {x!r} is negative" if lo == 0 else f"value {x!r} is below {lo}")
        if spec is not None and spec.positive and x <= 0:
            raise _err(path, key, f"value {x!r} must be > 0")
        if spec is not None and spec.max is not None and x > spec.max:
            raise _err(path, key, f"value {x!r} is above {spec.max}")

    if spec is None:  # generic: numbers (also nested lists) must be finite and non-negative; strings/bools pass
        if unit not in ("", "1") and not (is_num(raw) or isinstance(raw, list)):
            raise _err(path, key, f"a figure in {unit!r} must be a number, got {type(raw).__name__} {raw!r}")
        if isinstance(raw, list):
            for x in raw:
                _check_value(path, key, x, None, signed, unit)
        elif is_num(raw):
            check_num(raw)
        elif not isinstance(raw, str | bool | dict):
            raise _err(path, key, f"unsupported value type {type(raw).__name__}")
        return
    t = spec.type
    if t == "int":
        if not (isinstance(raw, int) and not isinstance(raw, bool)):
            raise _err(path, key, f"expected an integer, got {type(raw).__name__} {raw!r}")
        check_num(raw)
    elif t == "number":
        check_num(raw)
    elif t in ("ints", "numbers"):
        vals = raw if isinstance(raw, list) else [raw]
        if not vals:
            raise _err(path, key, "empty list")
        for x in vals:
            if t == "ints" and not (isinstance(x, int) and not isinstance(x, bool)):
                raise _err(path, key, f"expected integers, got {type(x).__name__} {x!r}")
            check_num(x)
    elif t == "str":
        if not isinstance(raw, str):
            raise _err(path, key, f"expected a string, got {type(raw).__name__}")


def _parse_figure(path: str, key: str, raw: Any) -> Figure:
    if not isinstance(raw, dict):
        raise _err(path, key, "expected a table { value, unit, source, confidence } or { missing = \"reason\" }")
    extra = set(raw) - _FIGURE_KEYS
    if extra:
        raise _err(path, key, f"unknown keys {sorted(extra)} (allowed: {sorted(_FIGURE_KEYS)})")
    spec = SCHEMA.get(key)
    if "missing" in raw:
        if "value" in raw:
            raise _err(path, key, "has both 'value' and 'missing'")
        if not isinstance(raw["missing"], str) or not raw["missing"].strip():
            raise _err(path, key, "'missing' must give a reason (non-empty string)")
        return Figure(None, str(raw.get("unit", spec.unit if spec else "")), str(raw.get("source", "")), "",
                      False, str(raw.get("note", "")), raw["missing"])
    for req in ("value", "unit", "source", "confidence"):
        if req not in raw:
            raise _err(path, key, f"missing field {req!r}")
    unit, source, conf = raw["unit"], raw["source"], raw["confidence"]
    if not isinstance(unit, str) or unit not in UNITS:
        raise _err(path, key, f"unit {unit!r} is not one of {list(UNITS)}")
    if spec is not None and unit != spec.unit:
        raise _err(path, key, f"unit must be {spec.unit!r}, got {unit!r}")
    if not isinstance(source, str) or not source.strip():
        raise _err(path, key, "'source' must be a non-empty string")
    if conf not in CONFIDENCE:
        raise _err(path, key, f"confidence {conf!r} is not one of {list(CONFIDENCE)}")
    est = raw.get("estimate", False)
    if not isinstance(est, bool):
        raise _err(path, key, f"'estimate' must be true/false, got {est!r}")
    # only fitted model coefficients (defined in uS by their source) may be negative
    _check_value(path, key, raw["value"], spec, signed=unit == "uS", unit=unit)
    return Figure(raw["value"], unit, source, conf, est, str(raw.get("note", "")))


def _validate(data: dict[str, Any], path: str) -> Target:
    for req in ("name", "kind"):
        if req not in data:
            raise _err(path, "top level", f"missing field {req!r}")
    name, kind = data["name"], data["kind"]
    if not isinstance(name, str) or not name:
        raise _err(path, "name", "must be a non-empty string")
    if kind not in KINDS:
        raise _err(path, "kind", f"{kind!r} is not one of {list(KINDS)}")
    sections: dict[str, Section] = {}
    for sname, table in data.items():
        if sname in ("name", "kind", "description"):
            continue
        if not isinstance(table, dict):
            raise _err(path, sname, "expected a [section] table of figures")
        figs = {k: _parse_figure(path, f"{sname}.{k}", v) for k, v in table.items()}
        sections[sname] = Section(sname, figs)
    target = Target(name, kind, str(data.get("description", "")), path, MappingProxyType(sections))
    for req in REQUIRED[kind]:
        if target.figure(req) is None:
            hint = "give a value" if req in NEEDS_VALUE[kind] else "give a value or { missing = \"why\" }"
            raise _err(path, req, f"required field for a {kind} target is absent ({hint})")
    for req in NEEDS_VALUE[kind]:
        if target.get(req) is None:
            raise _err(path, req, f"a {kind} target needs a value here (partitioning cannot work without it), "
                                  "not { missing = ... }")
    if kind == "digital":
        grid = target.get("chip.router_grid")
        if grid is not None and len(grid) != 2:
            raise _err(path, "chip.router_grid", f"expected [width, height], got {grid}")
        pos = target.get("chip.router_positions")
        if pos is not None:
            for p in pos:
                if not (isinstance(p, list) and len(p) == 2 and 0 <= p[0] < grid[0] and 0 <= p[1] < grid[1]):
                    raise _err(path, "chip.router_positions", f"position {p} is outside the {grid} grid")
        n_routers = len(pos) if pos is not None else grid[0] * grid[1]
        slots = n_routers * target.get("chip.cores_per_router")
        if slots < target.get("chip.cores_per_chip"):
            raise _err(path, "chip.cores_per_chip",
                       f"{target.get('chip.cores_per_chip')} cores do not fit {n_routers} routers x cores_per_router")
    return target


def available() -> list[str]:
    """Names of the targets shipped with neuromap."""
    return sorted(p.stem for p in HERE.glob("*.toml"))


def load(name_or_path: str | Path | Target) -> Target:
    """Load and validate a target by name (``available()``) or from a TOML file path."""
    if isinstance(name_or_path, Target):
        return name_or_path
    s = str(name_or_path)
    p = Path(s)
    if s.endswith(".toml") or p.exists() or "/" in s:
        if not p.is_file():
            raise TargetError(f"target file {s!r} does not exist")
        path = p
    else:
        path = HERE / f"{s}.toml"
        if not path.is_file():
            raise TargetError(f"unknown target {s!r}; known targets: {', '.join(available())} (or pass a path to a .toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TargetError(f"{path}: not valid TOML: {e}") from e
    except RecursionError as e:  # tomllib recurses per nesting level: a file nested thousands deep
        raise TargetError(f"{path}: nested too deeply to be a target file (tables or arrays inside each other "
                          "thousands of levels deep)") from e
    except OSError as e:
        raise TargetError(f"{path}: cannot read it: {e.strerror or e}") from e
    return _validate(data, str(path))
