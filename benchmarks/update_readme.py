"""Copy the latest benchmark table (benchmarks/results/latest.md) into README.md between the
``<!-- bench:start -->`` / ``<!-- bench:end -->`` markers, so the README shows measured numbers only.

    python -m benchmarks.update_readme
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATEST = ROOT / "benchmarks" / "results" / "latest.md"
README = ROOT / "README.md"


def main() -> int:
    if not LATEST.exists():
        print(f"{LATEST} does not exist: run `make bench` first", file=sys.stderr)
        return 1
    text = README.read_text()
    block = LATEST.read_text().strip()
    new, n = re.subn(r"(<!-- bench:start -->\n).*?(\n<!-- bench:end -->)", lambda m: m.group(1) + block + m.group(2),
                     text, flags=re.S)
    if n != 1:
        print("README.md has no <!-- bench:start --> ... <!-- bench:end --> block", file=sys.stderr)
        return 1
    tmp = README.with_suffix(".md.tmp")
    tmp.write_text(new)
    tmp.replace(README)
    print(f"README.md benchmark table updated from {LATEST}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
