"""Copy the latest benchmark table (benchmarks/results/latest.md) into README.md between the
``<!-- bench:start -->`` / ``<!-- bench:end -->`` markers, so the README shows measured numbers only;
with ``--gpu``, the GPU table (benchmarks/results/gpu-latest.md) between ``<!-- bench-gpu:start -->`` /
``<!-- bench-gpu:end -->``; with ``--scale``, the recurrent-network and partitioner tables
(:mod:`benchmarks.scale_report`, from the committed JSONs) between ``<!-- bench-scale:start -->`` /
``<!-- bench-scale:end -->``.

    python -m benchmarks.update_readme [--gpu | --scale]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "benchmarks" / "results" / "latest.md"
README = ROOT / "README.md"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    gpu = "--gpu" in args
    if "--scale" in args:
        from benchmarks import scale_report

        tag, block = "bench-scale", scale_report.markdown()
    else:
        latest, tag = (LATEST.with_name("gpu-latest.md"), "bench-gpu") if gpu else (LATEST, "bench")
        if not latest.exists():
            print(f"{latest} does not exist: run `{'python -m benchmarks.run --device cuda' if gpu else 'make bench'}` "
                  "first", file=sys.stderr)
            return 1
        block = latest.read_text().strip()
    text = README.read_text()
    new, n = re.subn(rf"(<!-- {tag}:start -->\n).*?(\n<!-- {tag}:end -->)", lambda m: m.group(1) + block + m.group(2),
                     text, flags=re.S)
    if n != 1:
        print(f"README.md has no <!-- {tag}:start --> ... <!-- {tag}:end --> block", file=sys.stderr)
        return 1
    tmp = README.with_suffix(".md.tmp")
    tmp.write_text(new)
    tmp.replace(README)
    print(f"README.md block {tag} updated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
