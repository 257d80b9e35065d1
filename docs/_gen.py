"""Pages generated from the code at docs build time: CLI reference, target tables, notebook copies."""

from __future__ import annotations

import argparse
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


def write_cli_reference(path: Path) -> None:
    """One section per ``neuromap`` subcommand: its help, usage and options, from the argparse parser."""
    from neuromap.cli import build_parser

    parser = build_parser()
    lines = ["# Command-line reference", "",
             "Generated from the `neuromap` argument parser (`neuromap.cli.build_parser`) when the docs are built.",
             "", "```text", parser.format_usage().strip(), "```", ""]
    for name, sub in sorted(_subcommands(parser).items()):
        lines += [f"## `neuromap {name}`", ""]
        if sub.description:
            lines += ["```text", sub.description.strip(), "```", ""]
        lines += ["```text", sub.format_usage().strip(), "```", "", *_options(sub), ""]
    path.write_text("\n".join(lines))


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
                  "| figure | value | unit | conf. | source |", "|---|---|---|---|---|"]
        for key, fig in t.figures():
            if fig.known:
                value = f"{fig.value}" + (" *(estimate)*" if fig.estimate else "")
                src = fig.source + (f" ({fig.note})" if fig.note else "")
                lines.append(f"| `{key}` | {value} | {fig.unit} | {fig.confidence} | {_cell(src)} |")
            else:
                lines.append(f"| `{key}` | *missing* | {fig.unit} | | {_cell(fig.missing)} |")
        lines.append("")
    path.write_text("\n".join(lines))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def copy_notebooks(src: Path, dst: Path) -> None:
    """The committed ``.ipynb`` tutorials (paired with their jupytext ``.py``), copied into the docs tree."""
    dst.mkdir(parents=True)
    for nb in sorted(src.glob("[0-9][0-9]_*.ipynb")):
        shutil.copy(nb, dst / nb.name)
