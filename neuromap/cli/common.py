"""Arguments and input handling shared by the subcommands (one definition each)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from neuromap.errors import InputError

MODEL_FORMATS = ("nir", "netx")


def add_convention_args(p: argparse.ArgumentParser) -> None:
    """``--convention`` / ``--dt``: how a foreign NIR file's neurons were discretised by its exporter;
    ``--model-format``: NIR or lava-dl netx (default: from the extension, ``.net`` is netx)."""
    p.add_argument("--model-format", default=None, choices=MODEL_FORMATS,
                   help="the model file's format (default: netx for a .net file, else nir)")
    p.add_argument("--convention", default="nir", choices=["nir", "snntorch", "norse", "spikingjelly"],
                   help="how foreign neuron nodes were discretised (default: nir)")
    p.add_argument("--dt", type=float, default=None, help="the exporter's time step in seconds")
    p.add_argument("--reset", default=None, choices=["subtract", "zero", "none"],
                   help="snnTorch files: the model's reset_mechanism, which the file does not record (default: "
                        "snnTorch's 'subtract', with a warning); SpikingJelly files: 'subtract' for a soft reset")
    p.add_argument("--reset-delay", default=None, choices=["true", "false"],
                   help="snnTorch files only: the model's reset_delay, which the file does not record (default: "
                        "snnTorch's true)")


def add_input_args(p: argparse.ArgumentParser, required: bool = True) -> argparse._MutuallyExclusiveGroup:
    """``--input X.npy`` | ``--dataset NAME``, ``--layout``, ``--steps``, ``--samples``, ``--seed``."""
    from neuromap.data import ENV, NAMES
    from neuromap.deploy import LAYOUTS

    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--input", help="input spikes as one .npy array, time-major [T, B, ...] (see --layout)")
    src.add_argument("--dataset", choices=NAMES, metavar="NAME",
                     help=f"a data set's test split, one of {', '.join(NAMES)}: digits (rate-coded) and moving-bars "
                          "ship; shd, ssc, nmnist, dvsgesture are read from --data-dir")
    p.add_argument("--data-dir", default=None,
                   help=f"folder holding the real data sets' files (default: ${ENV}, else ~/.cache/neuromap/data)")
    p.add_argument("--bin-dt", type=float, default=None,
                   help="event data sets: bin width in seconds (default: the data set's own)")
    p.add_argument("--layout", default=None, choices=LAYOUTS,
                   help="axis order of --input: TB = [T steps, B samples, ...] (default), BT = [B, T, ...]")
    p.add_argument("--steps", type=int, default=None,
                   help="--dataset digits: encoding steps (default 25); event data sets: bins (default: all)")
    p.add_argument("--samples", type=int, default=None, help="samples of --dataset to run (default 64)")
    p.add_argument("--seed", type=int, default=None, help="seed of the digits encoding and split (default 0)")
    events = p.add_mutually_exclusive_group()
    events.add_argument("--counts", dest="binary", action="store_const", const=False, default=None,
                        help="event data sets: each bin holds its event count (the default; nothing merged)")
    events.add_argument("--binary", dest="binary", action="store_const", const=True, default=None,
                        help="event data sets: clip each bin to one spike (0/1), as Loihi and Brian2 take them; "
                             "how many events that merges is reported")
    return src


# Which input each flag of add_input_args applies to: a flag the chosen input would ignore is refused.
_FLAG_USE = {
    "layout": ("--layout", {"input"}, "the axis order of an --input file"),
    "steps": ("--steps", {"builtin", "events"}, "a --dataset's encoding steps or bins"),
    "samples": ("--samples", {"builtin", "events"}, "how many samples of a --dataset run"),
    "seed": ("--seed", {"builtin"}, "the digits encoding and split"),
    "bin_dt": ("--bin-dt", {"events"}, "the bin width of an event data set (shd, ssc, nmnist, dvsgesture)"),
    "data_dir": ("--data-dir", {"events"}, "where the event data sets' files are"),
    "binary": ("--binary", {"events"}, "what an event data set's bins hold"),
}


def check_input_flags(args: argparse.Namespace) -> None:
    """Refuse (before any work) input flags the chosen input ignores: ``--steps``/``--samples`` with
    ``--input``, ``--layout`` with ``--dataset``, ``--bin-dt`` with digits, any of them with ``--activity``."""
    from neuromap.data import BUILTIN

    if getattr(args, "activity", None):
        source, name = "activity", f"--activity {args.activity}"
    elif getattr(args, "input", None):
        source, name = "input", f"--input {args.input}"
    else:
        source = "builtin" if args.dataset in BUILTIN else "events"
        name = f"--dataset {args.dataset}"
    for attr, (flag, used_by, what) in _FLAG_USE.items():
        value = getattr(args, attr, None)
        if value is not None and source not in used_by:
            given = ("--binary" if value else "--counts") if attr == "binary" else f"{flag} {value}"
            raise InputError(f"{given}: sets {what}, which {name} does not use; leave it out")


def require_file(path: str, what: str) -> Path:
    """``path`` as a Path if it is an existing file; else an :class:`InputError` naming ``what``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {path}: " + ("is a directory" if p.is_dir() else "no such file"))
    return p


def model_format(args: argparse.Namespace) -> str:
    """``nir`` or ``netx``: ``--model-format``, else from the model's extension."""
    given = getattr(args, "model_format", None)
    return given or ("netx" if Path(args.model).suffix.lower() == ".net" else "nir")


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
    """The graph named by ``args.model`` (with ``--convention`` / ``--dt`` when the command has them;
    a lava-dl netx file by ``.net`` extension or ``--model-format netx``)."""
    from neuromap.io.nir import load

    require_file(args.model, "model")
    if model_format(args) == "netx":
        from neuromap.io.netx import load_netx

        return _warnings_as_lines(load_netx, args.model)
    return _warnings_as_lines(load, args.model, convention=getattr(args, "convention", "nir"),
                              dt=getattr(args, "dt", None), reset=getattr(args, "reset", None),
                              reset_delay=_flag(getattr(args, "reset_delay", None)))


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


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

    check_input_flags(args)
    # EventsLost warnings (events outside the window, or merged by --binary) as one line each
    return _warnings_as_lines(load_inputs, args.input, args.dataset, args.steps, args.samples,
                              0 if args.seed is None else args.seed, args.layout or "TB", args.data_dir, args.bin_dt,
                              bool(args.binary))


def input_paths(args: argparse.Namespace) -> list[str]:
    """Every path the command reads: the model, ``--input``, ``--activity``, target TOML files and a
    real data set's folder (outputs are checked against them: :func:`neuromap.atomic.check_not_input`)."""
    paths = [getattr(args, name, None) for name in ("model", "input", "activity")]
    targets = getattr(args, "target", None)
    for t in targets if isinstance(targets, list) else [targets]:
        if t is not None and Path(t).is_file():
            paths.append(t)
    dataset = getattr(args, "dataset", None)
    if dataset is not None:
        from neuromap.data import SOURCES, dataset_dir

        if dataset in SOURCES:
            paths.append(str(dataset_dir(dataset, args.data_dir)))
    return [p for p in paths if p is not None]


def check_outputs(args: argparse.Namespace, **outputs: str | None) -> None:
    """Refuse, before any work, outputs that are inputs (or inside an input data set's folder) and two
    output flags naming one file. ``outputs``: flag name without dashes (``o``, ``plot``) -> path."""
    from neuromap.atomic import check_distinct_outputs, check_not_input

    flags = {("-o" if k == "o" else f"--{k.replace('_', '-')}"): v for k, v in outputs.items()}
    check_distinct_outputs(flags)
    inputs = input_paths(args)
    for flag, path in flags.items():
        if path is not None:
            check_not_input(path, inputs, flag)


def require_suffix(path: str, flag: str, suffixes: tuple[str, ...], what: str) -> None:
    """An :class:`InputError` unless ``path`` ends in one of ``suffixes`` (``-o m.nir`` must not
    receive JSON)."""
    if Path(path).suffix.lower() not in suffixes:
        raise InputError(f"{flag} {path}: {what} is written as {' or '.join(suffixes)}, not "
                         f"{Path(path).suffix or 'a name without a suffix'}")
