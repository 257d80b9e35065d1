"""``neuromap deploy``: run a saved model on a backend, compare it with the float model, report its cost.

    neuromap deploy MODEL.nir --backend lava --target loihi2 --dataset digits --compare torch
    neuromap deploy MODEL.nir --backend loihi --input x.npy [--layout BT] -o results/run1

``-o DIR`` receives ``outputs.npz``, ``activity.npz``, ``report.html``, ``report.json`` and
``manifest.json`` as a whole (see :func:`neuromap.deploy.save`). DIR must be new, empty or a run
directory neuromap wrote (its manifest lists every file in it and nothing else is there), and it
must not be or hold an input; this is checked before the run starts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from neuromap.rst import plain

from .common import add_convention_args, add_input_args, check_input_flags, input_paths, load_model, load_run_inputs


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "deploy", help="run a .nir model on a backend, compare with the float model, report energy/latency",
        description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a .nir file (neuromap.save or any NIR exporter)")
    p.add_argument("--backend", default="lava", help="lava | loihi | spinnaker2 | crossbar | torch (default: lava)")
    p.add_argument("--target", default=None, help="hardware target (default: loihi2 for lava/loihi)")
    add_input_args(p)
    add_convention_args(p)
    p.add_argument("--compare", default="auto",
                   help="reference backend: default torch (the float model), none when --backend is torch; "
                        "'none' to skip; never the backend itself")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="quantise even where Loihi semantics differ from the model's (reported)")
    p.add_argument("-o", "--output", help="directory for outputs.npz, activity.npz, report.html/json, manifest.json")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from neuromap import backends
    from neuromap.deploy import check_run_dir, deploy, describe_input, prepare_kernels, resolve_compare, save
    from neuromap.errors import InputError
    from neuromap.neurons import kernels
    from neuromap.progress import Steps

    for flag, name in (("--backend", args.backend), ("--compare", args.compare)):
        if name not in backends.available() and not (flag == "--compare" and name in ("none", "auto")):
            raise InputError(f"{flag} {name}: not one of {backends.available()}")
    compare = resolve_compare(args.backend, args.compare)  # before the run: --compare X --backend X is refused now
    backends.load_target(backends.get(args.backend), args.target)  # a bad target fails now, before the kernel build
    check_input_flags(args)
    inputs = tuple(input_paths(args))
    if args.output:
        check_run_dir(args.output, inputs)  # before the run: a bad -o fails now, not after it
    steps = Steps()
    with steps(f"loading {args.model}"):
        graph = load_model(args)
    with steps("reading the input"):
        x, labels = load_run_inputs(args)
    print(f"input: {describe_input(x, args.layout or 'TB')}")
    build_s = prepare_kernels(lambda msg: print(msg, file=sys.stderr, flush=True))  # before the clock starts
    t0 = time.perf_counter()
    dep = deploy(graph, x, args.backend, args.target, labels, compare,
                 allow_mismatch=args.allow_mismatch, model_name=Path(args.model).stem, steps=steps)
    print(dep.summary())
    built = f"; the kernel build before it took {build_s:.1f} s, not counted" if kernels.status()["built"] else ""
    print(f"(total {time.perf_counter() - t0:.2f} s{built})")
    if args.output:
        provenance = {"model": str(Path(args.model).resolve()), "input": args.input or f"dataset {args.dataset}",
                      "input_shape": list(x.shape), "layout": args.layout or "TB", "argv": sys.argv[1:]}
        for path in save(dep, args.output, provenance, inputs):
            print(f"wrote {path}")
    return 0
