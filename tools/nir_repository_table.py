"""Tabulate the NIR repository's test graphs (tests/unit/io/nir_repository_graphs.py): does each load,
run on backends.torch, and run on each hardware backend (or the first line of its refusal)?

    .venv/bin/python -m tools.nir_repository_table > table.md

Prints a Markdown table (the one in docs/guide/nir.md). Deterministic: the graphs' random values are
seeded per case and the input spikes are seeded.
"""

from __future__ import annotations

import pathlib
import tempfile
import warnings

import nir
import torch

from neuromap.backends import get
from neuromap.io.nir import load
from tests.unit.io.nir_repository_graphs import CASES, build

BACKENDS = ("torch", "loihi", "spinnaker2")


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    text = text.split(": ", 1)[1] if text.startswith(("torch backend", "loihi backend", "spinnaker2 backend")) else text
    return text[:110].replace("|", "/") + ("..." if len(text) > 110 else "")


def row(name: str, folder: pathlib.Path) -> list[str]:
    path = folder / "g.nir"
    nir.write(str(path), build(name), compression=None)
    try:
        graph = load(path)
    except Exception as exc:  # noqa: BLE001 - the table shows every refusal
        return [name, f"refused: {_short(exc)}"] + ["-"] * len(BACKENDS)
    g = torch.Generator().manual_seed(0)
    xs = {n: (torch.rand(20, 2, *graph.shapes[n][1], generator=g) < 0.5).float() for n in graph.inputs}
    x = xs if len(xs) > 1 else next(iter(xs.values()))
    cells = [name, "yes"]
    for backend in BACKENDS:
        try:
            get(backend).compile(graph).run(x)
            cells.append("runs")
        except Exception as exc:  # noqa: BLE001
            cells.append(f"refused: {_short(exc)}")
    return cells


def main() -> None:
    warnings.simplefilter("ignore")
    print("| NIR test | loads | " + " | ".join(BACKENDS) + " |")
    print("|---|---|" + "---|" * len(BACKENDS))
    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            print("| " + " | ".join(row(name, pathlib.Path(tmp))) + " |")


if __name__ == "__main__":
    main()
