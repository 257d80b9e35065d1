"""``neuromap validate [--case NAME ...] [-o results/validation.json]``: published measurements
re-created with the cost models (:mod:`neuromap.energy.validation`); prints published, modelled, ratio,
factor and whether each is within it, and writes the rows as JSON (atomically).

Exit code 0 when every comparison ran (a case that misses its factor is a finding, not an error);
2 on bad input (an unknown case, an unwritable output path)."""

from __future__ import annotations

import argparse

from neuromap.rst import plain


def add_parser(subparsers) -> None:
    from neuromap.energy.validation import CASES, DEFAULT_PATH

    p = subparsers.add_parser("validate", help="compare the energy models with published measurements",
                              description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", action="append", choices=list(CASES), help="run only this case (repeatable)")
    p.add_argument("-o", "--output", default=str(DEFAULT_PATH), help=f"JSON rows (default {DEFAULT_PATH})")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from neuromap.atomic import check_writable
    from neuromap.energy.validation import format_table, validate

    from .common import require_suffix

    check_writable(args.output)  # before the work: a bad path fails now (exit 2 through neuromap.cli.main)
    require_suffix(args.output, "-o", (".json",), "the validation rows")  # -o m2.nir must not become JSON
    rows = validate(args.output, args.case)
    print(format_table(rows))
    print(f"\nwrote {args.output}")
    return 0
