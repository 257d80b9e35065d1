"""The ``neuromap`` command.

    neuromap info MODEL.nir [--convention nir|snntorch|norse] [--dt SECONDS]

Subcommands live in the modules that own them: a module listed in :data:`SUBCOMMAND_MODULES`
exposes ``add_parser(subparsers)``, which adds its parser and sets ``func`` (``args -> exit code``)
with ``parser.set_defaults(func=...)``. A listed module that does not exist is skipped; any other
import error is raised, not hidden.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import numpy as np

# Modules that may contribute subcommands (``targets``, ``partition``, ``report``, ``deploy``): each one
# that exists and defines ``add_parser(subparsers)`` is registered; add yours here.
SUBCOMMAND_MODULES: list[str] = [
    "neuromap.hardware.cli",
    "neuromap.partition.cli",
    "neuromap.energy.cli",
    "neuromap.energy.validate_cli",
    "neuromap.deploy",
]


def _format_info(path: str, convention: str, dt: float | None) -> str:
    from neuromap import backends
    from neuromap.graph import load
    from neuromap.graph.nodes import type_name

    graph = load(path, convention=convention, dt=dt)
    netlist = graph.lower()
    lines = [f"{path}: {len(graph.nodes)} nodes, {len(graph.edges)} edges"
             + (" (recurrent)" if graph.is_recurrent() else "")]
    width = max(len(n) for n in graph.nodes)
    lines.append(f"  {'node':<{width}}  {'type':<18} {'input':<16} {'output':<16} neurons")
    counts = graph.neuron_counts()
    for name in graph.topological_order():
        fi, fo = graph.shapes[name]
        n = str(counts[name]) if name in counts else ""
        lines.append(f"  {name:<{width}}  {type_name(graph.nodes[name]):<18} {str(fi):<16} {str(fo):<16} {n}")
    lines.append(f"edges: {', '.join(f'{a}->{b}' for a, b in graph.edges)}")
    lines.append(f"neurons: {netlist.n_neurons}   synapses: {netlist.n_synapses}   "
                 f"populations: {len(netlist.populations)}   projections: {len(netlist.projections)}")
    for proj in netlist.projections:
        fan_in = proj.fan_in()
        fi = int(np.max(fan_in)) if np.ndim(fan_in) and np.size(fan_in) else int(np.max(fan_in, initial=0))
        lines.append(f"  {proj.src} -> {proj.dst}: {proj.kind}, {proj.synapses} synapses, max fan-in {fi}"
                     + (f", delay {proj.delay}" if proj.delay else ""))
    ext = graph.neuromap_nodes()
    if ext:
        lines.append(f"neuromap extension nodes (other NIR tools cannot read them): {', '.join(ext)}")
    lines.append("backends:")
    for name in backends.available():
        try:
            problems = backends.get(name).unsupported(graph)
        except Exception as exc:  # a backend whose dependencies are missing
            lines.append(f"  {name}: unavailable ({type(exc).__name__}: {exc})")
            continue
        lines.append(f"  {name}: " + ("yes" if not problems else "no — " + "; ".join(problems)))
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> int:
    from neuromap.graph import GraphError

    try:
        print(_format_info(args.model, args.convention, args.dt))
    except (GraphError, ValueError) as exc:
        print(f"neuromap info: error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_info_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="print the nodes, shapes, neuron/synapse counts and usable backends")
    p.add_argument("model", help="a NIR file (.nir)")
    p.add_argument("--convention", default="nir", choices=["nir", "snntorch", "norse"],
                   help="how foreign neuron nodes were discretised (default: nir)")
    p.add_argument("--dt", type=float, default=None, help="the exporter's time step in seconds")
    p.set_defaults(func=_info)


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with ``info`` and every importable subcommand module's parser."""
    parser = argparse.ArgumentParser(prog="neuromap", description="neuromorphic simulation and hardware mapping")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_info_parser(sub)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
