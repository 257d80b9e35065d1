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
    p.add_argument("--convention", default="nir", choices=["nir", "snntorch", "norse"],
                   help="how foreign neuron nodes were discretised (default: nir)")
    p.add_argument("--dt", type=float, default=None, help="the exporter's time step in seconds")
    p.add_argument("--reset", default=None, choices=["subtract", "zero", "none"],
                   help="snnTorch files only: the model's reset_mechanism, which the file does not record "
                        "(default: snnTorch's 'subtract', with a warning)")


def add_input_args(p: argparse.ArgumentParser, required: bool = True) -> argparse._MutuallyExclusiveGroup:
    """``--input X.npy`` | ``--dataset NAME``, ``--layout``, ``--steps``, ``--samples``, ``--seed``."""
    from neuromap.datasets import ENV, NAMES
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
    return src


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


def load_model(args: argparse.Namespace):
    """The graph named by ``args.model`` (with ``--convention`` / ``--dt`` when the command has them;
    a lava-dl netx file by ``.net`` extension or ``--model-format netx``)."""
    from neuromap.graph import load

    require_file(args.model, "model")
    if model_format(args) == "netx":
        from neuromap.io.netx import load_netx

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            graph = load_netx(args.model)
        for w in caught:
            print(f"neuromap: warning: {w.message}", file=sys.stderr)
        return graph
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        graph = load(args.model, convention=getattr(args, "convention", "nir"), dt=getattr(args, "dt", None),
                     reset=getattr(args, "reset", None))
    for w in caught:  # one line each, not Python's two-line warning format
        print(f"neuromap: warning: {w.message}", file=sys.stderr)
    return graph


def load_run_inputs(args: argparse.Namespace):
    """``(x [T, B, ...], labels or None)`` from the input arguments (see :func:`add_input_args`)."""
    from neuromap.deploy import load_inputs

    return load_inputs(args.input, args.dataset, args.steps, args.samples, args.seed, args.layout,
                       args.data_dir, args.bin_dt)
