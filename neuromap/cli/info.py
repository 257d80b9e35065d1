"""``neuromap info MODEL.nir [--convention nir|snntorch|norse|spikingjelly] [--dt SECONDS]``: nodes, shapes,
neuron/synapse counts and the backends that can run the model."""

from __future__ import annotations

import argparse

import numpy as np

from .common import add_convention_args, load_model


def _format_info(args: argparse.Namespace) -> str:
    from neuromap import backends
    from neuromap.graph.nodes import type_name

    path = args.model
    graph = load_model(args)
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
    print(_format_info(args))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="print the nodes, shapes, neuron/synapse counts and usable backends")
    p.add_argument("model", help="a NIR file (.nir)")
    add_convention_args(p)
    p.set_defaults(func=_info)
