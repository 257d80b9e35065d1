"""``neuromap report MODEL.nir --target loihi2 --target spinnaker2 ... [--activity run.npz | --input x.npy
| --dataset digits] [--format table|json|html] [-o FILE]``.

Without ``--activity`` the model runs on ``backends.torch`` with the given input to measure it.
"""

from __future__ import annotations

import argparse

from neuromap.rst import plain

from .common import (
    add_convention_args,
    add_input_args,
    check_input_flags,
    check_outputs,
    load_model,
    load_run_inputs,
    require_file,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="energy / latency / resources of a .nir model on hardware targets",
        description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a .nir file")
    p.add_argument("--target", action="append", required=True,
                   help="a target name or TOML path; repeat for several; 'all' for every shipped target")
    src = add_input_args(p)
    src.add_argument("--activity", help="an activity .npz recorded on this model (neuromap deploy -o)")
    add_convention_args(p)
    p.add_argument("--method", default="metis", help="partition method for digital targets (default metis)")
    p.add_argument("--format", choices=["table", "json", "html"], default=None,
                   help="output format (default: from the -o suffix .json/.html/.txt, else table)")
    p.add_argument("-o", "--output", help="write the report here (atomically) instead of printing it")
    add_estimate_options(p)
    p.set_defaults(func=_main)


# --- estimate options (kept separate so a moved CLI module can reuse them as they are) -------------
def add_estimate_options(p: argparse.ArgumentParser) -> None:
    """``--batch`` and ``--gpu-mode``: how a conventional target runs the model."""
    from neuromap.estimate import GPU_MODES

    p.add_argument("--batch", type=int, default=1,
                   help="samples per batch on CPU/GPU targets (default 1: single-sample inference)")
    p.add_argument("--gpu-mode", choices=GPU_MODES, default="eager",
                   help="GPU execution: eager (one kernel per op, default), graph (CUDA graph replay), "
                        "fused (one kernel per layer and step)")


def options_from_args(args: argparse.Namespace):
    """:class:`~neuromap.estimate.Options` from the parsed flags (ValueError on a bad value)."""
    from neuromap.estimate import Options

    return Options(batch=args.batch, gpu_mode=args.gpu_mode)


def _main(args: argparse.Namespace) -> int:
    from neuromap import backends, targets
    from neuromap.atomic import check_writable
    from neuromap.deploy import check_input, describe_input, records_with_inputs
    from neuromap.energy import Activity, collect
    from neuromap.energy.report import build_report, report_format
    from neuromap.progress import Steps

    if args.output:  # before any work: a bad path or suffix, or an output that is an input, fails now
        check_writable(args.output)
        if args.format is None:
            report_format(args.output)
        check_outputs(args, o=args.output)
    check_input_flags(args)
    for name in args.target:  # a bad target file fails now too
        if name != "all":
            targets.load(name)
    options = options_from_args(args)
    steps = Steps()
    with steps(f"loading {args.model}"):
        graph = load_model(args)
        netlist = graph.lower()
    if args.activity:
        require_file(args.activity, "--activity")
        activity = Activity.load(args.activity)
        note = None
    else:
        x, _ = load_run_inputs(args)
        check_input(graph, x)
        note = f"input: {describe_input(x, args.layout or 'TB')}"
        with steps(f"running torch: {x.shape[1]} samples x {x.shape[0]} steps"):
            result = backends.get("torch").compile(graph).run(x)
        activity = collect(netlist, records_with_inputs(graph, result, x))
    with steps(f"estimating energy and latency on {', '.join(args.target)}"):
        rep = build_report(netlist, activity, args.target, model=args.model, method=args.method, options=options)
    if args.output:
        path = rep.save(args.output, args.format)
        if note:
            print(note)
        print(f"wrote {path}")
    elif args.format in (None, "table"):
        if note:
            print(note)
        print(rep.table())
    elif args.format == "json":
        print(rep.to_json())
    else:
        print(rep.to_html())
    return 0
