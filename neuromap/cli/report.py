"""``neuromap report MODEL.nir --target loihi2 --target spinnaker2 ... [--activity run.npz | --input x.npy
| --dataset digits] [--format table|json|html] [-o FILE]``.

Without ``--activity`` the model runs on ``backends.torch`` with the given input to measure it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neuromap.rst import plain

from .common import (
    add_convention_args,
    add_input_args,
    check_input_flags,
    check_outputs,
    events_note,
    load_model,
    load_run_inputs,
    require_file,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="energy / latency / resources of a .nir model on hardware targets",
        description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a .nir file or a lava-dl netx .net file")
    p.add_argument("--target", action="append", required=True,
                   help="a target name or TOML path; repeat for several; 'all' for every shipped target")
    src = add_input_args(p)
    src.add_argument("--activity", help="an activity .npz recorded on this model (neuromap deploy -o)")
    add_convention_args(p)
    p.add_argument("--method", default="metis", help="partition method for digital targets (default metis)")
    p.add_argument("--format", choices=["table", "json", "html"], default=None,
                   help="output format (default: from the -o suffix .json/.html/.txt, else table)")
    p.add_argument("-o", "--output", help="write the report here (atomically) instead of printing it")
    p.add_argument("--per-layer", action="store_true",
                   help="also print, per target with a core mapping, each layer's cores and activity (table format)")
    p.add_argument("--explain", action="append", default=[], metavar="TARGET",
                   help="also print how TARGET's energy and latency were computed: each count x its cited figure, "
                        "with sources (repeatable)")
    p.add_argument("--validation", default=None, metavar="JSON",
                   help="neuromap validate's rows, summarised per target in the report (default: "
                        "results/validation.json if it exists, else its cases are run now: seconds)")
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
    from neuromap.energy import Activity, collect, neurobench
    from neuromap.energy.report import build_report, report_format
    from neuromap.errors import InputError
    from neuromap.progress import Steps

    if args.output:  # before any work: a bad path or suffix, or an output that is an input, fails now
        check_writable(args.output)
        if args.format is None:
            report_format(args.output)
        check_outputs(args, o=args.output)
    check_input_flags(args)
    if args.explain and "all" not in args.target:  # a target name not asked for fails now (a TOML path: after)
        _check_explain(args.explain, args.target)
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
        note = f"input: {describe_input(x, args.layout or 'TB')}{events_note(args)}"
        with steps(f"running torch: {x.shape[1]} samples x {x.shape[0]} steps"):
            result = backends.get("torch").compile(graph).run(x)
        activity = collect(netlist, records_with_inputs(graph, result, x))
    with steps(f"estimating energy and latency on {', '.join(args.target)}"):
        rep = build_report(netlist, activity, args.target, model=args.model, method=args.method, options=options)
    if args.explain and not args.output and args.format in ("json", "html"):
        raise InputError(f"--explain prints text, which would break the {args.format} on stdout; add -o FILE")
    _check_explain(args.explain, list(rep.estimates))
    with steps("summarising neuromap validate's rows per target"):
        rep.with_trust(_validation_path(args.validation))
    if args.output:
        path = rep.save(args.output, args.format)
        if note:
            print(note)
        print(f"wrote {path}")
    elif args.format in (None, "table"):
        if note:
            print(note)
        print(rep.table())
        if args.per_layer:
            for name, mapping in rep.mappings.items():
                if mapping is not None:
                    print("\n" + rep.layer_table(name))
        print(neurobench.summary_line(neurobench.metrics(rep.activity)))
        print("\nwhat to trust (" + rep.trust.source + "):\n" + "\n".join("  " + line for line in rep.trust.lines))
    elif args.format == "json":
        print(rep.to_json())
    else:
        print(rep.to_html())
    for target in args.explain:
        print(f"\n{rep.explain(target, 'energy')}\n\n{rep.explain(target, 'latency')}")
    return 0


def _check_explain(explain: list[str], targets: list[str]) -> None:
    from neuromap.errors import InputError

    unknown = [t for t in explain if t not in targets and not any(Path(p).stem == t for p in targets)]
    if unknown:
        raise InputError(f"--explain {unknown[0]}: not a target of this report ({', '.join(targets)})")


def _validation_path(given: str | None) -> str | None:
    """``--validation``, else ``results/validation.json`` when it exists, else None (run the cases now)."""
    from neuromap.energy.validation import DEFAULT_PATH

    if given is not None:
        require_file(given, "--validation")
        return given
    return str(DEFAULT_PATH) if DEFAULT_PATH.is_file() else None
