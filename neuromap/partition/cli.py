"""``neuromap partition MODEL.nir --target T [--method metis] [--activity run.npz] [--plot map.png] [-o m.json]``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .partition import METHODS
from .place import PLACEMENTS


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("partition", help="partition and place a model onto a hardware target")
    p.add_argument("model", help="model file (.nir)")
    p.add_argument("--target", required=True, help="target name (see `neuromap targets`) or a .toml path")
    p.add_argument("--method", default="metis", choices=METHODS,
                   help="how neurons are grouped into cores (default metis; sequential without pymetis)")
    p.add_argument("--placement", default=None, choices=PLACEMENTS,
                   help="how cores are placed on the mesh (default: optimised for metis, else as --method)")
    p.add_argument("--activity", default=None, help=".npz with one mean rate (spikes/neuron/step) per population name")
    p.add_argument("--weight-bits", type=int, default=None, help="override the target's weight bits")
    p.add_argument("--seed", type=int, default=0, help="seed of the random and METIS steps (default 0)")
    p.add_argument("--plot", default=None, help="write a mesh heatmap (PNG)")
    p.add_argument("-o", "--output", default=None, help="write the mapping (JSON)")
    p.set_defaults(func=run)
    return p


def load_activity(path: str) -> dict[str, float]:
    """Rates from an .npz: arrays named by population; a scalar is the mean rate, an array is averaged."""
    with np.load(path) as z:
        return {k: float(np.mean(z[k])) for k in z.files}


def print_summary(mapping) -> None:
    rows = mapping.summary()
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k:<{w}}  {v}")


def run_netlist(netlist, args: argparse.Namespace) -> int:
    """Partition an already-lowered netlist with the command's options (the part after loading)."""
    from neuromap.hardware import TargetError

    from . import DoesNotFit, partition

    activity = load_activity(args.activity) if args.activity else None
    try:
        m = partition(netlist, args.target, method=args.method, activity=activity, seed=args.seed,
                      placement=args.placement, weight_bits=args.weight_bits)
    except (DoesNotFit, TargetError) as e:
        print(f"error: {e}")
        return 2
    print_summary(m)
    if args.output:
        m.save(args.output)
        print(f"  mapping -> {args.output}")
    if args.plot:
        m.plot(args.plot)
        print(f"  plot    -> {args.plot}")
    return 0 if m.feasible else 1


def run(args: argparse.Namespace) -> int:
    path = Path(args.model)
    if not path.is_file():
        print(f"error: model file {str(path)!r} does not exist")
        return 2
    from neuromap import graph  # lazily: neuromap.graph provides load(path).lower() -> Netlist

    netlist = graph.load(path).lower()
    return run_netlist(netlist, args)
