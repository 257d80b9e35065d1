"""``neuromap validate [--case NAME ...] [-o results/validation.json]``: published measurements
re-created with the cost models (:mod:`neuromap.energy.validation`). Prints two tables:
calibration rows (a target figure was derived from that measurement: shown, not counted) and
validation rows (independent measurements), each with published, modelled, the estimate's range,
the ratio, whether it is within its factor and whether the measurement lies inside the range; then
the summary of the validation rows, the Loihi 2 compiler's cores per PilotNet layer beside
neuromap's, and the notes (what each measurement included, the figures used, and why a row
misses). Writes them as JSON (atomically); ``make validation`` also renders them into the README.

Before writing, the calibration and validation sources are checked to be disjoint: a validation
row that uses a figure derived from its own measurement (``calibrated_on`` in the target file) is
refused.

Exit code 0 when every comparison ran (a case that misses its factor is a finding, not an error);
2 on bad input (an unknown case, an unwritable output path, a validation row that is not
independent)."""

from __future__ import annotations

import argparse

from neuromap.rst import plain


def add_parser(subparsers) -> None:
    from neuromap.energy.validation import CASES, DEFAULT_PATH

    p = subparsers.add_parser("validate", help="compare the energy models with published measurements",
                              description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", action="append", choices=list(CASES), metavar="NAME",
                   help=f"run only this case (repeatable): {', '.join(CASES)}")
    p.add_argument("-o", "--output", default=str(DEFAULT_PATH), help=f"JSON rows (default {DEFAULT_PATH})")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from neuromap.atomic import check_writable, make_parent
    from neuromap.energy.validation import format_table, validate

    from .common import require_suffix

    require_suffix(args.output, "-o", (".json",), "the validation rows")  # -o m2.nir must not become JSON
    make_parent(args.output)  # results/ in a fresh directory: created, as the default -o needs it
    check_writable(args.output)  # before the work: a bad path fails now (exit 2 through neuromap.cli.main)
    rows, extra = validate(args.output, args.case)
    print(format_table(rows, extra))
    print(f"\nwrote {args.output}")
    return 0
