"""Arguments and input handling shared by the subcommands (one definition each)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from neuromap.errors import InputError


def add_convention_args(p: argparse.ArgumentParser) -> None:
    """``--convention`` / ``--dt``: how a foreign NIR file's neurons were discretised by its exporter."""
    p.add_argument("--convention", default="nir", choices=["nir", "snntorch", "norse"],
                   help="how foreign neuron nodes were discretised (default: nir)")
    p.add_argument("--dt", type=float, default=None, help="the exporter's time step in seconds")
    p.add_argument("--reset", default=None, choices=["subtract", "zero", "none"],
                   help="snnTorch files only: the model's reset_mechanism, which the file does not record "
                        "(default: snnTorch's 'subtract', with a warning)")


def add_input_args(p: argparse.ArgumentParser, required: bool = True) -> argparse._MutuallyExclusiveGroup:
    """``--input X.npy`` | ``--dataset NAME``, ``--layout``, ``--steps``, ``--samples``, ``--seed``."""
    from neuromap.data import ENV, NAMES
    from neuromap.deploy import LAYOUTS

    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--input", help="input spikes as one .npy array, time-major [T, B, ...] (see --layout)")
    src.add_argument("--dataset", choices=NAMES,
                     help="a data set's test split: digits ships (rate-coded); shd, ssc, nmnist, dvsgesture are read "
                          "from --data-dir")
    p.add_argument("--data-dir", default=None,
                   help=f"folder holding the real data sets' files (default: ${ENV}, else ~/.cache/neuromap/data)")
    p.add_argument("--bin-dt", type=float, default=None,
                   help="event data sets: bin width in seconds (default: the data set's own)")
    p.add_argument("--layout", default="TB", choices=LAYOUTS,
                   help="axis order of --input: TB = [T steps, B samples, ...] (default), BT = [B, T, ...]")
    p.add_argument("--steps", type=int, default=None,
                   help="--dataset digits: encoding steps (default 25); event data sets: bins (default: all)")
    p.add_argument("--samples", type=int, default=64, help="samples of --dataset to run (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --dataset encoding (default 0)")
    events = p.add_mutually_exclusive_group()
    events.add_argument("--counts", dest="binary", action="store_false",
                        help="event data sets: each bin holds its event count (the default; nothing merged)")
    events.add_argument("--binary", dest="binary", action="store_true",
                        help="event data sets: clip each bin to one spike (0/1), as Loihi and Brian2 take them; "
                             "how many events that merges is reported")
    p.set_defaults(binary=False)
    return src


def require_file(path: str, what: str) -> Path:
    """``path`` as a Path if it is an existing file; else an :class:`InputError` naming ``what``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {path}: " + ("is a directory" if p.is_dir() else "no such file"))
    return p


def _warnings_as_lines(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, printing each ``UserWarning`` it raises as one line on stderr
    (``neuromap: warning: ...``), not in Python's two-line warning format."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        out = fn(*args, **kwargs)
    for w in caught:
        print(f"neuromap: warning: {w.message}", file=sys.stderr)
    return out


def load_model(args: argparse.Namespace):
    """The graph named by ``args.model`` (with ``--convention`` / ``--dt`` when the command has them)."""
    from neuromap.graph import load

    require_file(args.model, "model")
    return _warnings_as_lines(load, args.model, convention=getattr(args, "convention", "nir"),
                              dt=getattr(args, "dt", None), reset=getattr(args, "reset", None))


def events_note(args: argparse.Namespace) -> str:
    """What the summary line says about an event data set's bins (``""`` for other inputs): counts (the
    default) or 0/1 spikes (``--binary``)."""
    from neuromap.data import BUILTIN

    if not getattr(args, "dataset", None) or args.dataset in BUILTIN:
        return ""
    if args.binary:
        return "; events per bin: 0/1 spikes (--binary; --counts, the default, keeps counts)"
    return "; events per bin: counts (the default; --binary clips to 0/1 spikes)"


def load_run_inputs(args: argparse.Namespace):
    """``(x [T, B, ...], labels or None)`` from the input arguments (see :func:`add_input_args`)."""
    from neuromap.deploy import load_inputs

    # EventsLost warnings (events outside the window, or merged by --binary) as one line each
    return _warnings_as_lines(load_inputs, args.input, args.dataset, args.steps, args.samples, args.seed, args.layout,
                              args.data_dir, args.bin_dt, args.binary)
