"""Arguments and input handling shared by the subcommands (one definition each)."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from neuromap.errors import InputError


def add_convention_args(p: argparse.ArgumentParser) -> None:
    """``--convention`` / ``--dt``: how a foreign NIR file's neurons were discretised by its exporter."""
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
    src.add_argument("--dataset", choices=NAMES,
                     help="a data set's test split: digits ships (rate-coded); shd, ssc, nmnist, dvsgesture are read "
                          "from --data-dir")
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
    return src


# Which input each flag of add_input_args applies to: a flag the chosen input would ignore is refused.
_FLAG_USE = {
    "layout": ("--layout", {"input"}, "the axis order of an --input file"),
    "steps": ("--steps", {"builtin", "events"}, "a --dataset's encoding steps or bins"),
    "samples": ("--samples", {"builtin", "events"}, "how many samples of a --dataset run"),
    "seed": ("--seed", {"builtin"}, "the digits encoding and split"),
    "bin_dt": ("--bin-dt", {"events"}, "the bin width of an event data set (shd, ssc, nmnist, dvsgesture)"),
    "data_dir": ("--data-dir", {"events"}, "where the event data sets' files are"),
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
        if getattr(args, attr, None) is not None and source not in used_by:
            raise InputError(f"{flag} {getattr(args, attr)}: sets {what}, which {name} does not use; leave it out")


def require_file(path: str, what: str) -> Path:
    """``path`` as a Path if it is an existing file; else an :class:`InputError` naming ``what``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {path}: " + ("is a directory" if p.is_dir() else "no such file"))
    return p


def load_model(args: argparse.Namespace):
    """The graph named by ``args.model`` (with ``--convention`` / ``--dt`` when the command has them)."""
    from neuromap.io.nir import load

    require_file(args.model, "model")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        graph = load(args.model, convention=getattr(args, "convention", "nir"), dt=getattr(args, "dt", None),
                     reset=getattr(args, "reset", None), reset_delay=_flag(getattr(args, "reset_delay", None)))
    for w in caught:  # one line each, not Python's two-line warning format
        print(f"neuromap: warning: {w.message}", file=sys.stderr)
    return graph


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


def load_run_inputs(args: argparse.Namespace):
    """``(x [T, B, ...], labels or None)`` from the input arguments (see :func:`add_input_args`)."""
    from neuromap.deploy import load_inputs

    check_input_flags(args)
    return load_inputs(args.input, args.dataset, args.steps, args.samples, 0 if args.seed is None else args.seed,
                       args.layout or "TB", args.data_dir, args.bin_dt)


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
