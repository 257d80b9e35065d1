"""The one README generator: every generated block of README.md is rewritten from the file a command
wrote, so no figure in the README can drift from what the command produced.

    python -m tools.update_readme [--results DIR] [--bench-results DIR] [--readme README.md] [--check]

The blocks, each between ``<!-- TAG:start ... -->`` and ``<!-- TAG:end -->``:

* ``experiment:NAME``: rendered by the experiment's own ``table(result)`` (``experiments/NAME.py``)
  from ``results/NAME.json`` (written by ``python -m experiments.NAME``), followed by a provenance
  line (command, commit, package versions, time). Every experiment of :data:`TABLES` must have its
  block (a missing one is an error, exit 2).
* ``demo-targets``: ``results/demo/targets.md`` (written by ``make demo``, with a line naming the machine);
  a run on the reader's machine, so ``--check`` leaves it out (:data:`LOCAL_RUNS`).
* ``validation``: ``results/validation.json`` (written by ``neuromap validate``) rendered by
  :func:`neuromap.energy.validation.markdown`.
* ``bench`` / ``bench-gpu``: ``benchmarks/results/latest.md`` (``make bench``) and
  ``gpu-latest.md`` (``python -m benchmarks.run --device cuda``).
* ``bench-scale``: ``benchmarks/results/scale-latest.md`` (``python -m benchmarks.scale_report``, which
  ``benchmarks.lsm_brian2``, ``reservoir_zoo`` and ``partition_bench`` run after writing their JSON).

A block whose source file is absent is left as it is and listed; the demo and benchmark blocks are
optional in ``--readme FILE``. ``--check`` changes nothing and exits 1 when a block differs from its
source, naming those blocks (0 when all present ones match). The README is written atomically.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

from experiments._common import RESULTS, ROOT

BENCH_RESULTS = ROOT / "benchmarks" / "results"
# Experiments with a README table: the module in experiments/ whose ``table(result) -> str`` renders it.
TABLES = ("crossbar_drift", "lsm_digits", "crossbar_lsm", "dvs_bars", "spikformer_digits", "spikegpt_lm",
          "qsd_digits")
_BLOCK = r"(<!-- experiment:{name}:start -->\n).*?(\n<!-- experiment:{name}:end -->)"
# Blocks copied from a file: tag -> (path under --results or --bench-results, command that writes it); a Markdown
# file verbatim, a JSON file rendered by its tag's function in RENDER.
COPIED = {"demo-targets": ("results", "demo/targets.md", "make demo"),
          "validation": ("results", "validation.json", "neuromap validate"),
          "bench": ("bench", "latest.md", "make bench"),
          "bench-gpu": ("bench", "gpu-latest.md", "python -m benchmarks.run --device cuda"),
          "bench-scale": ("bench", "scale-latest.md", "python -m benchmarks.scale_report")}


def _validation_markdown(doc: dict) -> str:
    from neuromap.energy.validation import markdown

    return markdown(doc)


RENDER = {"validation": _validation_markdown}
# Blocks from a run on the reader's own machine (``make demo``): their floats depend on the CPU (AVX2 vs
# AVX-512 round differently), so ``--check`` does not compare them; writing copies them, machine line included.
LOCAL_RUNS = ("demo-targets",)
_ANY_BLOCK = r"<!-- ([\w:.-]+):start(?: [^>]*)?-->\n(.*?)\n<!-- \1:end -->"


def blocks(text: str) -> dict[str, str]:
    """Every generated block of ``text``: tag (``experiment:lsm_digits``, ``bench``, ...) -> its content."""
    return {m.group(1): m.group(2) for m in re.finditer(_ANY_BLOCK, text, flags=re.S)}


def differing(old: str, new: str) -> list[str]:
    """The tags of the blocks whose content differs between ``old`` and ``new``."""
    a, b = blocks(old), blocks(new)
    return [tag for tag in b if a.get(tag) != b[tag]]


def provenance_line(result: dict, json_name: str) -> str:
    """One line naming the run a table came from (from the JSON's ``provenance``)."""
    p = result.get("provenance")
    if not p:
        return f"_From `results/{json_name}` (written before runs recorded their provenance)._"
    commit = (p.get("commit") or "unknown")[:10] + (" + uncommitted changes" if p.get("dirty") else "")
    pk = p.get("packages", {})
    versions = ", ".join(f"{k} {v}" for k, v in pk.items() if v and k in ("torch", "numpy", "scikit-learn"))
    machine = f" on {p['cpu']}" if p.get("cpu") else ""
    return (f"_Generated from `results/{json_name}`: `{p.get('command')}` at commit {commit}, "
            f"{p.get('written_utc', '?')}{machine}, {versions}, {p.get('torch_threads')} torch threads._")


def render(name: str, result: dict) -> str:
    """The markdown block of experiment ``name`` (its table, then the provenance line)."""
    module = importlib.import_module(f"experiments.{name}")
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


def _copied_block(tag: str) -> str:
    # the start marker may carry a note after the tag (e.g. where the block comes from)
    return rf"(<!-- {re.escape(tag)}:start(?: [^>]*)?-->\n).*?(\n<!-- {re.escape(tag)}:end -->)"


def update_copied(text: str, results: Path, bench_results: Path,
                  local_runs: bool = True) -> tuple[str, list[str], list[str]]:
    """``(new_text, updated, skipped)`` for the blocks copied from Markdown files (:data:`COPIED`): a
    block is rewritten when it is in ``text`` and its file exists; ``skipped`` says why another was not.
    ``local_runs=False`` leaves the blocks of :data:`LOCAL_RUNS` as they are."""
    updated, skipped = [], []
    for tag, (where, name, command) in COPIED.items():
        path = (results if where == "results" else bench_results) / name
        pattern = _copied_block(tag)
        if tag in LOCAL_RUNS and not local_runs:
            skipped.append(f"{tag}: not compared (a `{command}` run on this machine; its floats depend on the CPU)")
        elif not re.search(pattern, text, flags=re.S):
            skipped.append(f"{tag}: no <!-- {tag}:start --> block in the file")
        elif not path.exists():
            skipped.append(f"{tag}: {path} absent (run `{command}`); the block is unchanged")
        else:
            block = (RENDER[tag](json.loads(path.read_text())) if path.suffix == ".json" else path.read_text()).strip()
            text = re.sub(pattern, lambda m, b=block: m.group(1) + b + m.group(2), text, flags=re.S)
            updated.append(tag)
    return text, updated, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of the experiments' JSON files")
    ap.add_argument("--bench-results", type=Path, default=BENCH_RESULTS, help="folder of the benchmark tables")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 if a block differs from its source; write nothing")
    args = ap.parse_args(argv)
    if not args.readme.exists():
        print(f"{args.readme} does not exist", file=sys.stderr)
        return 2
    text = args.readme.read_text()
    try:
        new, updated, skipped = update(text, args.results)
        new, copied, not_copied = update_copied(new, args.results, args.bench_results, local_runs=not args.check)
    except (ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"cannot update {args.readme}: {e}", file=sys.stderr)
        return 2
    for name in skipped:
        print(f"{args.results / (name + '.json')} absent: run `python -m experiments.{name}`; its table is unchanged",
              file=sys.stderr)
    for line in not_copied:
        print(line, file=sys.stderr)
    updated += copied
    if args.check:
        stale = differing(text, new)
        if stale:
            print(f"{args.readme.name}: these generated blocks differ from their sources: {', '.join(stale)} "
                  "(`make readme` rewrites them)")
            return 1
        print(f"{args.readme.name}: generated blocks match their sources ({', '.join(updated)})")
        return 0
    if new != text:
        from neuromap.atomic import write_text

        write_text(args.readme, new)
    print(f"{args.readme.name}: generated blocks rewritten: {', '.join(updated) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
