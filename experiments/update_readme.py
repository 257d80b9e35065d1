"""Regenerate the experiment result tables in README.md from the experiments' JSON files, so no
figure in the README can drift from what the command produced.

    python experiments/update_readme.py [--results DIR] [--readme README.md] [--check]

Each table sits between ``<!-- experiment:NAME:start -->`` and ``<!-- experiment:NAME:end -->``
and is rendered by the experiment's own ``table(result)`` from ``results/NAME.json`` (written by
``python experiments/NAME.py``), followed by a provenance line (command, commit, package versions,
time). Blocks whose JSON is absent are left as they are and listed. ``--check`` changes nothing
and exits 1 when a table differs from its JSON (0 when all present ones match).
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT  # noqa: E402

# Experiments with a README table: the module in experiments/ whose ``table(result) -> str`` renders it.
TABLES = ("crossbar_drift", "lsm_digits", "crossbar_lsm", "dvs_bars", "spikformer_digits", "spikegpt_lm",
          "qsd_digits")
_BLOCK = r"(<!-- experiment:{name}:start -->\n).*?(\n<!-- experiment:{name}:end -->)"


def provenance_line(result: dict, json_name: str) -> str:
    """One line naming the run a table came from (from the JSON's ``provenance``)."""
    p = result.get("provenance")
    if not p:
        return f"_From `results/{json_name}` (written before runs recorded their provenance)._"
    commit = (p.get("commit") or "unknown")[:10] + (" + uncommitted changes" if p.get("dirty") else "")
    pk = p.get("packages", {})
    versions = ", ".join(f"{k} {v}" for k, v in pk.items() if v and k in ("torch", "numpy", "scikit-learn"))
    return (f"_Generated from `results/{json_name}`: `{p.get('command')}` at commit {commit}, "
            f"{p.get('written_utc', '?')}, {versions}, {p.get('torch_threads')} torch threads._")


def render(name: str, result: dict) -> str:
    """The markdown block of experiment ``name`` (its table, then the provenance line)."""
    module = importlib.import_module(name)
    return module.table(result).strip() + "\n\n" + provenance_line(result, f"{name}.json")


def update(text: str, results: Path) -> tuple[str, list[str], list[str]]:
    """``(new_text, updated, skipped)``: every README block whose JSON exists re-rendered."""
    updated, skipped = [], []
    for name in TABLES:
        pattern = _BLOCK.format(name=re.escape(name))
        if not re.search(pattern, text, flags=re.S):
            raise ValueError(f"README has no <!-- experiment:{name}:start --> ... <!-- experiment:{name}:end --> block")
        path = results / f"{name}.json"
        if not path.exists():
            skipped.append(name)
            continue
        block = render(name, json.loads(path.read_text()))
        text = re.sub(pattern, lambda m, b=block: m.group(1) + b + m.group(2), text, flags=re.S)
        updated.append(name)
    return text, updated, skipped


_DEMO_BLOCK = r"(<!-- demo-targets:start[^>]*-->\n).*?(\n<!-- demo-targets:end -->)"


def update_demo(text: str, results: Path) -> tuple[str, bool]:
    """The README's demo per-target table from ``results/demo/targets.md`` (written by
    ``experiments/demo.py``, i.e. ``make demo``); unchanged (False) when that file is absent."""
    path = results / "demo" / "targets.md"
    if not path.exists() or not re.search(_DEMO_BLOCK, text, flags=re.S):
        return text, False
    table = path.read_text().strip()
    return re.sub(_DEMO_BLOCK, lambda m: m.group(1) + table + m.group(2), text, flags=re.S), True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of the experiments' JSON files")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if a table differs from its JSON; write nothing")
    args = ap.parse_args(argv)
    if not args.readme.exists():
        print(f"{args.readme} does not exist", file=sys.stderr)
        return 2
    text = args.readme.read_text()
    try:
        new, updated, skipped = update(text, args.results)
        new, demo = update_demo(new, args.results)
        if demo:
            updated.append("demo targets")
    except (ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"cannot update {args.readme}: {e}", file=sys.stderr)
        return 2
    for name in skipped:
        print(f"{args.results / (name + '.json')} absent: run `python experiments/{name}.py`; its table is unchanged",
              file=sys.stderr)
    if args.check:
        stale = new != text
        print(f"README experiment tables {'differ from' if stale else 'match'} the JSON files ({', '.join(updated)})")
        return 1 if stale else 0
    if new != text:
        from neuromap.atomic import write_text

        write_text(args.readme, new)
    print(f"README experiment tables regenerated from {args.results}: {', '.join(updated) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
