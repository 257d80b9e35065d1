"""``neuromap partition MODEL.nir --target T [--method metis] [--activity run.npz] [--plot map.png] [-o m.json]``."""

from __future__ import annotations

import argparse
import json
import zipfile

import numpy as np

from neuromap.errors import InputError

from .common import require_file


def add_parser(subparsers) -> argparse.ArgumentParser:
    from neuromap.partition.partition import METHODS
    from neuromap.partition.place import PLACEMENTS

    p = subparsers.add_parser("partition", help="partition and place a model onto a hardware target")
    p.add_argument("model", help="model file (.nir, or a lava-dl .net)")
    p.add_argument("--model-format", default=None, choices=["nir", "netx"],
                   help="the model file's format (default: netx for a .net file, else nir)")
    p.add_argument("--target", required=True, help="target name (see `neuromap targets`) or a .toml path")
    p.add_argument("--method", default="metis", choices=METHODS,
                   help="how neurons are grouped into cores (default metis; sequential without pymetis)")
    p.add_argument("--placement", default=None, choices=PLACEMENTS,
                   help="how cores are placed on the mesh (default: optimised for metis, else as --method)")
    p.add_argument("--activity", default=None,
                   help="activity.npz from `neuromap deploy -o`, or an .npz with one mean rate "
                        "(spikes/neuron/step) per population name")
    p.add_argument("--weight-bits", type=int, default=None, help="override the target's weight bits (>= 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the partitioner and placer (>= 0)")
    p.add_argument("--plot", default=None, help="write a mesh heatmap (.png, .pdf, .svg, ...)")
    p.add_argument("-o", "--output", default=None, help="write the mapping (JSON)")
    p.set_defaults(func=run)
    return p


def load_activity(path: str) -> dict[str, float]:
    """Rates per population from an .npz: a neuromap activity file (``deploy -o``'s ``activity.npz``),
    or arrays named by population (a scalar is the mean rate, an array is averaged)."""
    from neuromap.energy import Activity

    require_file(path, "--activity")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise InputError(f"--activity {path}: is a single .npy array; give an .npz (see --help)")
            if "activity" in z.files and z["activity"].dtype.kind == "U":
                return Activity.load(path).rates()
            rates = {}
            for k in z.files:
                arr = z[k]
                if arr.dtype.kind not in "biuf" or arr.size == 0:
                    raise InputError(f"--activity {path}: entry {k!r} is not a non-empty numeric array "
                                     "(expected rates per population, or deploy's activity.npz)")
                rates[k] = float(np.mean(arr))
            return rates
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"--activity {path}: cannot read it as an .npz of rates ({type(exc).__name__}: {exc})") from exc


def print_summary(mapping) -> None:
    rows = mapping.summary()
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")


def check_args(args: argparse.Namespace) -> None:
    """Validate counts and output paths before any work is done."""
    from neuromap.atomic import check_writable
    from neuromap.deploy import check_count
    from neuromap.hardware import load
    from neuromap.partition.mapping import plot_format

    load(args.target)  # a bad target fails before the model is read
    if args.weight_bits is not None:
        check_count("--weight-bits", args.weight_bits)
    check_count("--seed", args.seed, 0)
    if args.output:
        check_writable(args.output)
    if args.plot:
        check_writable(args.plot)
        plot_format(args.plot)


def run_netlist(netlist, args: argparse.Namespace) -> int:
    """Partition an already-lowered netlist with the command's options (the part after loading)."""
    from neuromap.partition import partition

    check_args(args)
    activity = load_activity(args.activity) if args.activity else None
    m = partition(netlist, args.target, method=args.method, activity=activity, seed=args.seed,
                  placement=args.placement, weight_bits=args.weight_bits)
    print_summary(m)
    if args.output:
        m.save(args.output)
        print(f"  mapping -> {args.output}")
    if args.plot:
        m.plot(args.plot)
        print(f"  plot    -> {args.plot}")
    return 0 if m.feasible else 1


def run(args: argparse.Namespace) -> int:
    from .common import load_model

    check_args(args)
    return run_netlist(load_model(args).lower(), args)
