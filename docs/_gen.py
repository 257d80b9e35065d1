"""Pages generated from the code at docs build time: CLI reference, target tables, API pages (one per
module), notebook copies."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    # argparse has no public way to list subparsers; this is the attribute sphinx-argparse reads too.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| option | default | help |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(action.option_strings) or action.dest
        if action.choices and not isinstance(action.choices, dict):
            name += " {" + ", ".join(map(str, action.choices)) + "}"
        default = "" if action.default in (None, argparse.SUPPRESS, False) or not action.option_strings \
            else f"`{action.default}`"
        text = (action.help or "").replace("|", "\\|").replace("%(default)s", str(action.default))
        rows.append(f"| `{name.replace('|', '/')}` | {default} | {text} |")
    return rows


#: Columns of the usage and description blocks: they fit the page's code blocks without a scroll bar.
WIDTH = 80


def write_cli_reference(path: Path) -> None:
    """One section per ``neuromap`` subcommand: its help, usage and options, from the argparse parser;
    usage wrapped at :data:`WIDTH` columns, whatever the terminal the docs are built in."""
    import os
    from unittest import mock

    from neuromap.cli import build_parser

    with mock.patch.dict(os.environ, {"COLUMNS": str(WIDTH + 2)}):  # argparse wraps at COLUMNS - 2
        _write_cli_reference(path, build_parser())


def _write_cli_reference(path: Path, parser: argparse.ArgumentParser) -> None:
    lines = ["# Command-line reference", "",
             "Generated from the `neuromap` argument parser (`neuromap.cli.build_parser`) when the docs are built.",
             "", "```text", parser.format_usage().strip(), "```", ""]
    for name, sub in sorted(_subcommands(parser).items()):
        lines += [f"## `neuromap {name}`", ""]
        if sub.description:
            lines += ["```text", *_wrap(sub.description.strip()), "```", ""]
        lines += ["```text", sub.format_usage().strip(), "```", "", *_options(sub), ""]
    path.write_text("\n".join(lines))


def _wrap(text: str) -> list[str]:
    """``text``'s lines wrapped at :data:`WIDTH`, each keeping its indentation."""
    import textwrap

    out = []
    for line in text.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        out += textwrap.wrap(line, WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [""]
    return out


def write_targets(path: Path) -> None:
    """Every hardware target's figures with value, unit, confidence and source (from ``hardware/*.toml``)."""
    from neuromap import targets

    lines = ["# Hardware targets and their figures", "",
             "Generated from `hardware/*.toml` when the docs are built. Confidence: H read in code or quoted "
             "verbatim; M quoted by a second party; L recollection or a single secondary source; D derived by "
             "arithmetic on cited figures (shown in the source). *estimate* marks a figure to be replaced by a "
             "measurement; *missing* a figure no source gives, which is never replaced by a number.", ""]
    for name in targets.available():
        t = targets.load(name)
        lines += [f"## `{name}` ({t.kind})", "", t.description, "",
                  "| figure | value | unit | conf. | range | source |", "|---|---|---|---|---|---|"]
        for key, fig in t.figures():
            if fig.known:
                value = f"{fig.value}" + (" *(estimate)*" if fig.estimate else "")
                src = fig.source + (f" ({fig.note})" if fig.note else "")
                lines.append(f"| `{key}` | {value} | {fig.unit} | {fig.confidence} | {_spread(fig.spread)} | {_cell(src)} |")
            else:
                lines.append(f"| `{key}` | *missing* | {fig.unit} | | | {_cell(fig.missing)} |")
        lines.append("")
    path.write_text("\n".join(lines))


def _spread(spread: tuple[float, float]) -> str:
    """A figure's relative range as ``x0.8 - x1.2`` (``x0.2 - no upper end`` for a lower bound)."""
    low, high = spread
    return f"x{low:.3g} - " + ("no upper end" if high == float("inf") else f"x{high:.3g}")


def write_validation(results: Path, path: Path) -> None:
    """``results/validation.json`` (written by ``neuromap validate``) as Markdown tables, or a line
    saying how to make it."""
    import json

    from neuromap.energy.validation import markdown

    src = results / "validation.json"
    path.write_text(markdown(json.loads(src.read_text())) if src.exists()
                    else "*Run `neuromap validate` to fill this table.*\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def copy_notebooks(src: Path, dst: Path) -> None:
    """The committed ``.ipynb`` tutorials (paired with their jupytext ``.py``), copied into the docs tree."""
    dst.mkdir(parents=True)
    for nb in sorted(src.glob("[0-9][0-9]_*.ipynb")):
        shutil.copy(nb, dst / nb.name)


def write_api_pages(src: Path, dst: Path) -> None:
    """One page per module from ``src`` (``docs/api_modules.txt``: reST section titles, each followed by
    ``.. automodule::`` directives with their options), and ``dst/index.rst`` listing them by section.
    A page shows the module's public names (its ``__all__``, else the names without ``_``)."""
    dst.mkdir(parents=True)
    sections: list[tuple[str, list[str]]] = []
    lines = src.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1]) and line.strip():
            sections.append((line.strip(), []))
            i += 2
            continue
        found = re.match(r"\.\. automodule:: (\S+)", line)
        if found:
            block = [line]
            while i + 1 < len(lines) and lines[i + 1].startswith("   "):
                i += 1
                block.append(lines[i])
            module = found.group(1)
            title = f"``{module}``"
            (dst / f"{module}.rst").write_text("\n".join([title, "=" * len(title), "", *block, ""]))
            sections[-1][1].append(module)
        i += 1
    index = ["API reference", "=============", "",
             "Generated from the docstrings: one page per module, its public names only.", ""]
    for title, modules in sections:
        index += [title, "-" * len(title), "", ".. toctree::", "   :maxdepth: 1", "",
                  *[f"   {m}" for m in modules], ""]
    (dst / "index.rst").write_text("\n".join(index))
