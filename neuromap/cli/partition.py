"""``neuromap partition MODEL.nir --target T [--method metis] [--activity run.npz] [--plot map.png] [-o m.json]``."""

from __future__ import annotations

import argparse

import numpy as np

from neuromap.errors import InputError

from .common import check_outputs, require_file, require_suffix


def add_parser(subparsers) -> argparse.ArgumentParser:
    from neuromap.partition.partition import METHODS
    from neuromap.partition.place import PLACEMENTS

    p = subparsers.add_parser("partition", help="partition and place a model onto a hardware target")
    p.add_argument("model", help="model file (.nir)")
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
    from neuromap.npyfile import load_npz

    require_file(path, "--activity")
    arrays = load_npz(path, f"--activity {path}")
    if "activity" in arrays and arrays["activity"].dtype.kind == "U":
        return Activity.load(path).rates()
    rates = {}
    for k, arr in arrays.items():
        if arr.dtype.kind not in "biuf" or arr.size == 0:
            raise InputError(f"--activity {path}: entry {k!r} is not a non-empty numeric array "
                             "(expected rates per population, or deploy's activity.npz)")
        rate = float(np.mean(arr))
        if not (np.isfinite(rate) and rate >= 0):
            raise InputError(f"--activity {path}: entry {k!r} has mean rate {rate}; rates are finite and >= 0 "
                             "(spikes per neuron per step)")
        rates[k] = rate
    return rates


def print_summary(mapping) -> None:
    rows = mapping.summary()
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")


def check_args(args: argparse.Namespace) -> None:
    """Validate counts and output paths before any work is done."""
    from neuromap.atomic import check_writable
    from neuromap.deploy import check_count
    from neuromap.partition.mapping import plot_format
    from neuromap.targets import load

    load(args.target)  # a bad target fails before the model is read
    if args.weight_bits is not None:
        check_count("--weight-bits", args.weight_bits)
    check_count("--seed", args.seed, 0)
    if args.output:
        check_writable(args.output)
        require_suffix(args.output, "-o", (".json",), "the mapping")
    if args.plot:
        check_writable(args.plot)
        plot_format(args.plot)
    check_outputs(args, o=args.output, plot=args.plot)


def run_netlist(netlist, args: argparse.Namespace) -> int:
    """Partition an already-lowered netlist with the command's options (the part after loading)."""
    from neuromap.partition import partition
    from neuromap.progress import Steps

    check_args(args)
    activity = load_activity(args.activity) if args.activity else None
    with Steps()(f"partitioning {netlist.n_neurons} neurons onto {args.target} ({args.method})"):
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
