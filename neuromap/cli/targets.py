"""``neuromap targets [NAME|FILE.toml] [--kind KIND]``: the hardware targets with their key figures,
the target kinds, and the figures a kind's files may hold."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("targets", help="list hardware targets, their key figures and the target kinds")
    p.add_argument("name", nargs="?", help="show every figure of one target (a name or a .toml path)")
    p.add_argument("--kind", default=None,
                   help="list the figures a target of this kind may hold, with their units (see the kinds below)")
    p.set_defaults(func=run)
    return p


def _kind_figures(name: str) -> None:
    from neuromap.targets import DIMENSIONS, get_kind

    kind = get_kind(name)
    print(f"{kind.name}: {kind.description}\n  figures ({len(kind.figures)}; * required, ! needs a value):")
    for key, spec in sorted(kind.figures.items()):
        flag = "!" if spec.needs_value else "*" if spec.required else " "
        print(f"  {flag} {key:40s} {spec.unit:7s} {spec.type:8s} ({DIMENSIONS[spec.unit]})")


def run(args: argparse.Namespace) -> int:
    from neuromap.targets import available, get_kind, kinds, load
    from neuromap.targets.schema import short

    if args.kind:
        _kind_figures(args.kind)
        return 0
    if args.name:
        t = load(args.name)
        print(f"{t.name} ({t.kind}): {t.description}\n  file: {t.path}")
        for key, fig in t.figures():
            print(f"  {key:38s} {fig}")
        return 0
    for name in available():
        t = load(name)
        figs = ", ".join(f"{k.split('.', 1)[1]}={short(v)}" for k, v in get_kind(t.kind).summary(t).items())
        print(f"{name:14s} {t.kind:12s} {figs}")
    print("\nkinds (`neuromap targets --kind KIND` lists a kind's figures):")
    for name in kinds():
        print(f"  {name:14s} {get_kind(name).description}")
    print("\n(confidence: H high, M medium, L low, D derived; * = estimate)")
    return 0
