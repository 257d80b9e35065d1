"""The ``neuromap`` command: one module per subcommand.

    neuromap [--debug] [--version] COMMAND ...

A module listed in :data:`SUBCOMMAND_MODULES` exposes ``add_parser(subparsers)``, which adds its
parser and sets ``func`` (``args -> exit code``) with ``parser.set_defaults(func=...)``; add a new
subcommand by listing its module here. A listed module that does not exist is skipped; any other
import error is raised, not hidden.

Errors: a subcommand raises; :func:`main` turns every :class:`~neuromap.errors.NeuromapError`
(bad input, a model that does not fit, an output it cannot write) and every ``ValueError`` (the
library's checks of argument values) into one line on stderr and exit code 2, as argparse does
for bad arguments. Tracebacks are printed only with ``--debug``. An
unexpected exception (a bug) gives one line and exit code 1, and a closed pipe (``neuromap report
... | head``) a quiet exit. Ctrl-C (SIGINT), ``kill`` (SIGTERM) and a closed terminal (SIGHUP) stop
the command the same way: every temporary file or directory is removed, one line says so, and the
exit code is ``128 + signum`` (130, 143, 129). A signal the caller ignores (``nohup``) stays ignored.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence

from neuromap import memory
from neuromap.errors import NeuromapError, Terminated

SUBCOMMAND_MODULES: list[str] = [
    "neuromap.cli.info",
    "neuromap.cli.targets",
    "neuromap.cli.partition",
    "neuromap.cli.report",
    "neuromap.cli.deploy",
    "neuromap.cli.validate",
    "neuromap.cli.sweep",
]


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is one ``--help`` away)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neuromap")
    except PackageNotFoundError:
        from neuromap import __version__

        return __version__


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with every importable subcommand module's parser."""
    parser = Parser(prog="neuromap", description="neuromorphic simulation and hardware mapping")
    parser.add_argument("--debug", action="store_true", help="print Python tracebacks for errors")
    parser.add_argument("--version", action="version", version=f"neuromap {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in SUBCOMMAND_MODULES if modules is None else modules:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name and mod.startswith(exc.name):
                continue  # that module does not exist (yet)
            raise
        add = getattr(module, "add_parser", None)
        if callable(add):
            add(sub)
    for command in sub.choices.values():  # one definition, on every subcommand
        command.add_argument("--max-memory", metavar="SIZE", default=None,
                             help="refuse inputs and requests that need more memory than this, e.g. 8G "
                                  "(default: $NEUROMAP_MAX_MEMORY, else half of the memory this process may use)")
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _raise_terminated(signum: int, frame) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` while the command runs (SIGINT already raises
    ``KeyboardInterrupt``); handlers that were ``SIG_IGN`` stay, the previous ones come back after."""
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) not in (signal.SIG_IGN, None):
            previous[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns its exit code (0 ok, 1 infeasible or internal error, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    prog = f"neuromap {args.command}"
    try:
        with _stop_signals(), memory.limited(args.max_memory):
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return code
    except (NeuromapError, ValueError) as exc:  # ValueError: library checks of bad values (documented)
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (``| head``): stop quietly; point stdout at devnull so the
        # interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated as exc:
        if args.debug:
            traceback.print_exc()
        print(f"{prog}: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:  # a bug, not bad input: one line, the traceback with --debug
        if args.debug:
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(rerun with --debug for the traceback, and please report it)", file=sys.stderr)
        return 1
