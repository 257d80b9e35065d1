"""Find, read and validate target files: the shipped ones (``hardware/*.toml``, installed as the
package data of ``neuromap.hardware`` and read with :mod:`importlib.resources`) or a user's TOML
path. Validation is the target kind's schema (:mod:`.kind`): no kind is named here.

``hardware/`` holds data only (no ``__init__.py``), so an installed wheel has it as the namespace
package ``neuromap.hardware``. setuptools' editable install cannot import a namespace package that
lives outside its parent's folder, so a source checkout installed with ``pip install -e`` reads the
same files from the checkout's ``hardware/`` beside ``neuromap/``.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .kind import get_kind, kinds
from .schema import Section, Target, TargetError, fail, parse_figure

SHIPPED = "neuromap.hardware"  # the package whose data files are the shipped target TOMLs
_TOP = ("name", "kind", "description")
MAX_BYTES = 1 << 20  # a target file is a page of figures; anything larger is not one


def folder():
    """The folder of the shipped target files (a :mod:`importlib.resources` traversable; copy a file
    from here to start your own)."""
    try:
        return resources.files(SHIPPED)
    except ModuleNotFoundError:  # an editable install of the source tree (see the module docstring)
        return Path(__file__).resolve().parents[2] / "hardware"


def _shipped() -> dict[str, Any]:
    """``{name: resource}`` of the shipped target files."""
    return {r.name[: -len(".toml")]: r for r in folder().iterdir() if r.name.endswith(".toml")}


def available() -> list[str]:
    """Names of the targets shipped with neuromap."""
    return sorted(_shipped())


def _read(where: str, read) -> dict[str, Any]:
    try:
        text = read()
    except (UnicodeDecodeError, ValueError) as e:
        raise TargetError(f"{where}: not valid TOML: {e}") from e
    except OSError as e:
        raise TargetError(f"{where}: cannot read it: {e.strerror or e}") from e
    if len(text) > MAX_BYTES:
        raise TargetError(f"{where}: {len(text):,} characters is not a target file (at most {MAX_BYTES:,})")
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as e:
        raise TargetError(f"{where}: not valid TOML: {e if not isinstance(e, RecursionError) else 'nested too deep'}") \
            from e


def load(name_or_path: str | Path | Target) -> Target:
    """Load and validate a target by name (:func:`available`) or from a TOML file path."""
    if isinstance(name_or_path, Target):
        return name_or_path
    s = str(name_or_path)
    p = Path(s)
    if s.endswith(".toml") or p.exists() or "/" in s:
        if p.is_dir():
            raise TargetError(f"target {s!r} is a directory, not a target file (.toml)")
        if not p.is_file():
            raise TargetError(f"target file {s!r} does not exist")
        return validate(_read(str(p), lambda: p.read_text(encoding="utf-8")), str(p))
    shipped = _shipped()
    if s not in shipped:
        raise TargetError(f"unknown target {s!r}; known targets: {', '.join(sorted(shipped))} (or pass a path to a .toml)")
    res = shipped[s]
    return validate(_read(str(res), lambda: res.read_text(encoding="utf-8")), str(res))


def validate(data: dict[str, Any], path: str) -> Target:
    """A :class:`Target` from a parsed TOML document, checked against its kind's schema: every
    figure a known name with its unit, dimension, type and range; required figures present; the
    kind's structural checks. Raises :class:`TargetError` naming ``path`` and the field."""
    for req in ("name", "kind"):
        if req not in data:
            raise fail(path, "top level", f"missing field {req!r}")
    name, kind_name = data["name"], data["kind"]
    if not isinstance(name, str) or not name:
        raise fail(path, "name", "must be a non-empty string")
    if not isinstance(kind_name, str):
        raise fail(path, "kind", f"{kind_name!r} is not one of {kinds()}")
    try:
        kind = get_kind(kind_name)
    except TargetError:
        raise fail(path, "kind", f"{kind_name!r} is not one of {kinds()} (a kind of your own: import its module "
                                 "first, or declare it under the neuromap.extensions entry point)") from None
    sections: dict[str, Section] = {}
    for sname, table in data.items():
        if sname in _TOP:
            continue
        if not isinstance(table, dict):
            raise fail(path, sname, "expected a [section] table of figures")
        figs = {k: parse_figure(path, f"{sname}.{k}", v, kind.spec(path, f"{sname}.{k}")) for k, v in table.items()}
        sections[sname] = Section(sname, figs)
    target = Target(name, kind_name, str(data.get("description", "")), path, MappingProxyType(sections))
    for key, spec in kind.figures.items():
        if spec.required and target.figure(key) is None:
            hint = "give a value" if spec.needs_value else "give a value or { missing = \"why\" }"
            raise fail(path, key, f"required field for a {kind_name} target is absent ({hint})")
        if spec.needs_value and target.get(key) is None:
            raise fail(path, key, f"a {kind_name} target needs a value here (partitioning cannot work without it), "
                                  "not { missing = ... }")
    kind.check(target)
    return target
