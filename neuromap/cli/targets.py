"""``neuromap targets [NAME|FILE.toml]``: list the hardware targets with their key figures."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("targets", help="list hardware targets and their key figures")
    p.add_argument("name", nargs="?", help="show every figure of one target (a name or a .toml path)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from neuromap.hardware import available, load

    if args.name:
        t = load(args.name)
        print(f"{t.name} ({t.kind}): {t.description}\n  file: {t.path}")
        for key, fig in t.figures():
            print(f"  {key:38s} {fig}")
        return 0
    for name in available():
        t = load(name)
        figs = ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in t.summary().items())
        print(f"{name:14s} {t.kind:12s} {figs}")
    print("\n(confidence: H high, M medium, L low, D derived; * = estimate)")
    return 0
