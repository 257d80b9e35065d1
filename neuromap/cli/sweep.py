"""``neuromap sweep SPEC.toml [--store DIR] [--resume] [--address HOST:PORT] [--workers N] [--report]``.

Runs a design-space sweep (models x data x training x quantisation x targets and operating points)
as Ray tasks - an embedded local Ray unless ``--address`` names a cluster - writing one record per
finished trial into the store directory, then the report there (``report.html`` with the Pareto
front per target, ``results.json``, ``results.csv``, ``pareto.png``).

    neuromap sweep examples/digits_pareto.toml                   # store: results/sweeps/NAME
    neuromap sweep examples/digits_pareto.toml --resume          # after Ctrl-C or a crash: the rest
    neuromap sweep examples/digits_pareto.toml --report          # only (re)write the report
    neuromap sweep --report --store results/sweeps/digits_pareto # the same, from the store's own spec
    neuromap sweep spec.toml --address auto                      # on the cluster this machine is part of

Needs the ray extra: pip install 'neuromap[ray]'. The spec's format is in neuromap.sweep.spec. Exit
code 0 when every trial is done, 1 when some are recorded as error or lost, 2 for bad input, 130
after Ctrl-C (the finished trials stay in the store; --resume continues).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuromap.errors import InputError
from neuromap.optional import MissingExtra
from neuromap.rst import plain

DEFAULT_ROOT = Path("results") / "sweeps"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep", help="design-space sweep on Ray: train, quantise and price every trial, Pareto report",
        description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", nargs="?", help="the sweep's TOML file (optional with --report --store)")
    p.add_argument("--store", help=f"results directory (default: {DEFAULT_ROOT}/NAME, NAME from the spec)")
    p.add_argument("--resume", action="store_true",
                   help="continue the store's sweep: skip finished trials, run the rest")
    p.add_argument("--retry-failed", action="store_true",
                   help="with --resume: also re-run trials recorded as error or lost")
    p.add_argument("--address", help="join this Ray cluster (HOST:PORT, ray://HOST:10001 or auto) instead of "
                                     "starting a local Ray")
    p.add_argument("--workers", type=int, default=None,
                   help="local Ray: CPUs to use (default: all of this machine's); trials at once = workers / "
                        "the spec's resources.cpus")
    p.add_argument("--report", action="store_true", help="only write the report from the store's records")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one line per finished trial)")
    p.set_defaults(func=_main)


def _store_path(args: argparse.Namespace, spec) -> Path:
    return Path(args.store) if args.store else DEFAULT_ROOT / spec.name


def _report(store, spec=None, result=None) -> None:
    from neuromap.sweep import write_report

    if result is not None:
        paths = write_report(store, spec, [t.key for t in result.trials], result.records)
    else:
        paths = write_report(store, spec)
    print(f"wrote {paths['report.html']} (and results.json, results.csv, pareto.png)")


def _main(args: argparse.Namespace) -> int:
    from neuromap.sweep import Store, load_spec, run_sweep

    if args.spec is None and not (args.report and args.store):
        raise InputError("give the sweep's SPEC.toml (or --report --store DIR to report on a store)")
    if args.retry_failed and not args.resume:
        raise InputError("--retry-failed goes with --resume")
    if args.workers is not None and args.address:
        raise InputError("--workers sizes a local Ray; a cluster given with --address has its own workers")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers {args.workers}: must be an integer >= 1")
    spec = load_spec(args.spec) if args.spec else None
    if args.report:
        store = Store.open(_store_path(args, spec) if spec else Path(args.store))
        _report(store, spec)
        return 0
    path = _store_path(args, spec)
    try:
        result = run_sweep(spec, path, address=args.address, workers=args.workers, resume=args.resume,
                           retry_failed=args.retry_failed, progress=False if args.no_progress else None)
    except MissingExtra as exc:  # bad set-up, not a bug: one line naming the install command, exit 2
        raise InputError(str(exc)) from exc
    except KeyboardInterrupt:
        print(f"neuromap sweep: stopped; the finished trials are in {path}; continue with: neuromap sweep "
              f"{args.spec} --store {path} --resume", file=sys.stderr)
        raise
    print(f"{len(result.trials)} trials: {result.ran} run now, {result.reused} from the store, "
          f"{result.count('error')} error, {result.count('lost')} lost, {result.retried} retried after a lost worker")
    _report(result.store, spec, result)
    return 0 if all(r is not None and r["status"] == "done" for r in result.records) else 1
