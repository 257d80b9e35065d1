"""``neuromap report MODEL.nir --target loihi2 --target spinnaker2 ... [--activity run.npz | --input x.npy
| --dataset digits] [--format table|json|html] [-o FILE]``.

Without ``--activity`` the model runs on ``backends.torch`` with the given input to measure it.
"""

from __future__ import annotations

import argparse
import sys

from neuromap.rst import plain


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="energy / latency / resources of a .nir model on hardware targets",
        description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a .nir file")
    p.add_argument("--target", action="append", required=True,
                   help="a target name or TOML path; repeat for several; 'all' for every shipped target")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--activity", help="an activity .npz recorded on this model (neuromap deploy -o)")
    src.add_argument("--input", help="time-major input [T, B, ...] .npy to run on backends.torch")
    src.add_argument("--dataset", choices=["digits"], help="run the float model on a shipped data set")
    p.add_argument("--steps", type=int, default=25, help="time steps per sample with --dataset (default 25)")
    p.add_argument("--samples", type=int, default=64, help="test samples to run with --dataset (default 64)")
    p.add_argument("--method", default="metis", help="partition method for digital targets (default metis)")
    p.add_argument("--format", choices=["table", "json", "html"], default=None,
                   help="output format (default: from the -o suffix, else table)")
    p.add_argument("-o", "--output", help="write the report here (atomically) instead of printing it")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from neuromap import backends
    from neuromap.deploy import load_inputs, records_with_inputs
    from neuromap.graph import GraphError, load

    from .activity import Activity, ActivityError, collect
    from .report import build_report

    try:
        graph = load(args.model)
        netlist = graph.lower()
        if args.activity:
            activity = Activity.load(args.activity)
        else:
            x, _ = load_inputs(args.input, args.dataset, args.steps, args.samples)
            result = backends.get("torch").compile(graph).run(x)
            activity = collect(netlist, records_with_inputs(graph, result, x))
        rep = build_report(netlist, activity, args.target, model=args.model, method=args.method)
    except (GraphError, ActivityError, ValueError, OSError) as exc:
        print(f"neuromap report: {exc}", file=sys.stderr)
        return 2
    if args.output:
        path = rep.save(args.output, args.format)
        print(f"wrote {path}")
    elif args.format in (None, "table"):
        print(rep.table())
    elif args.format == "json":
        print(rep.to_json())
    else:
        print(rep.to_html())
    return 0
