"""Deploy a saved model on a backend, compare it with the float model, and report its cost.

    neuromap deploy MODEL.nir --backend lava --target loihi2 --dataset digits --compare torch
    neuromap deploy MODEL.nir --backend loihi --input x.npy -o results/run1

In Python: :func:`deploy` returns a :class:`Deployment` (run result, activity, agreement per
layer, accuracy, report).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuromap.rst import plain

DEFAULT_TARGETS = {"lava": "loihi2", "loihi": "loihi2", "spinnaker2": "spinnaker2", "crossbar": "crossbar-pcm",
                   "torch": "cpu"}
DATASETS = ("digits",)


@dataclass
class Deployment:
    backend: str
    target: str
    result: Any  # RunResult
    activity: Any  # neuromap.energy.Activity
    report: Any  # neuromap.energy.report.Report
    agreement: dict[str, float] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)
    reference: Any = None  # the torch RunResult when compared

    def summary(self) -> str:
        lines = [f"backend {self.backend} on {self.target}: ran in {self.result.wall_seconds:.3f} s"]
        if self.reference is not None:
            lines.append(f"float reference (torch) ran in {self.reference.wall_seconds:.3f} s")
        if self.agreement:
            lines.append("spike agreement with the float model, per layer:")
            lines += [f"  {k:<16} {100 * v:6.2f} %" for k, v in self.agreement.items()]
        for k, v in self.accuracy.items():
            lines.append(f"accuracy ({k}): {100 * v:.2f} %")
        lines.append("")
        lines.append(self.report.table())
        return "\n".join(lines)


def load_inputs(input_path: str | None, dataset: str | None, steps: int, samples: int, seed: int = 0):
    """``(x [T, B, ...] float tensor, labels or None)`` from an ``.npy`` file or a shipped data set."""
    if (input_path is None) == (dataset is None):
        raise ValueError("give exactly one of --input X.npy and --dataset NAME")
    if input_path is not None:
        try:
            arr = np.load(input_path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read input {input_path}: {exc}") from exc
        if arr.ndim < 3:
            raise ValueError(f"input {input_path} must be a time-major array [T, B, ...], got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"input {input_path} contains NaN or inf")
        return torch.as_tensor(arr, dtype=torch.float32), None
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r} is not one of {list(DATASETS)}")
    from neuromap import data

    d = data.digits(encoding="rate", steps=steps, seed=seed)
    n = min(samples, len(d.y_test))
    return d.x_test[:n].transpose(0, 1).contiguous(), d.y_test[:n]


def readout_accuracy(output: torch.Tensor, labels: torch.Tensor) -> float:
    """Spike-count (or mean-membrane) argmax accuracy of an output sequence ``[T, B, C]``."""
    scores = output.reshape(output.shape[0], output.shape[1], -1).sum(0)
    return float((scores.argmax(-1) == labels).float().mean())


def records_with_inputs(graph, result, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """A run's records plus the graph input's spikes (the sources of the first projections)."""
    recs = dict(result.records)
    for name in graph.inputs:
        recs.setdefault(name, x)
    return recs


def deploy(
    graph,
    x: torch.Tensor,
    backend: str = "lava",
    target: str | None = None,
    labels: torch.Tensor | None = None,
    compare: str | None = "torch",
    report_targets: list[str] | None = None,
    allow_mismatch: bool = False,
    model_name: str | None = None,
) -> Deployment:
    """Run ``graph`` on ``backend`` (for ``target``), compare with ``compare`` and report."""
    from neuromap import backends
    from neuromap.energy import collect
    from neuromap.energy.report import build_report

    target = target or DEFAULT_TARGETS.get(backend, "cpu")
    be = backends.get(backend)
    kwargs: dict[str, Any] = {}
    if backend in ("lava", "loihi"):
        kwargs["allow_mismatch"] = allow_mismatch
    compiled = be.compile(graph, target, **kwargs) if backend != "torch" else be.compile(graph)
    result = compiled.run(x)
    netlist = getattr(compiled, "netlist", None) or graph.lower()
    activity = collect(netlist, records_with_inputs(graph, result, x))
    dep_accuracy: dict[str, float] = {}
    agreement: dict[str, float] = {}
    reference = None
    if compare:
        reference = backends.get(compare).compile(graph).run(x)
        for name, rec in result.records.items():
            if name in reference.records and reference.records[name].shape == rec.shape:
                agreement[name] = float((reference.records[name] == rec).float().mean())
        if labels is not None:
            dep_accuracy[f"{compare} (float)"] = readout_accuracy(reference.output, labels)
    if labels is not None:
        dep_accuracy[backend] = readout_accuracy(result.output, labels)
    targets = report_targets or [target]
    acc_for_report = {target: dep_accuracy[backend]} if backend in dep_accuracy else {}
    counters = {target: result.counters} if getattr(result, "counters", None) else None
    rep = build_report(netlist, activity, targets, model=model_name or str(graph.metadata.get("name", "model")),
                       accuracy=acc_for_report, counters=counters)
    return Deployment(backend, target, result, activity, rep, agreement, dep_accuracy, reference)


def save(dep: Deployment, out_dir: str | Path) -> list[Path]:
    """Write outputs (``outputs.npz``), ``activity.npz``, ``report.html`` / ``report.json``."""
    import os
    import tempfile

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".outputs.", suffix=".npz")
    os.close(fd)
    np.savez(tmp, **{k: v.numpy() for k, v in dep.result.outputs.items()})
    os.replace(tmp, out / "outputs.npz")
    paths = [out / "outputs.npz", dep.activity.save(out / "activity.npz"),
             dep.report.save(out / "report.html"), dep.report.save(out / "report.json")]
    return paths


# --- command line -----------------------------------------------------------------------------

def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "deploy", help="run a .nir model on a backend, compare with the float model, report energy/latency",
        description=plain(__doc__), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="a .nir file (neuromap.save or any NIR exporter)")
    p.add_argument("--backend", default="lava", help="lava | loihi | spinnaker2 | crossbar | torch (default: lava)")
    p.add_argument("--target", default=None, help="hardware target (default: loihi2 for lava/loihi)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help="time-major input spikes [T, B, ...] as .npy")
    src.add_argument("--dataset", choices=DATASETS, help="a shipped data set (test split, rate-coded)")
    p.add_argument("--steps", type=int, default=25, help="time steps for --dataset (default 25)")
    p.add_argument("--samples", type=int, default=64, help="samples of --dataset to run (default 64)")
    p.add_argument("--compare", default="torch", help="reference backend ('none' to skip; default torch)")
    p.add_argument("--allow-mismatch", action="store_true",
                   help="quantise even where Loihi semantics differ from the model's (reported)")
    p.add_argument("-o", "--output", help="directory for outputs.npz, activity.npz, report.html/json")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from neuromap.graph import GraphError, load

    try:
        graph = load(args.model)
        x, labels = load_inputs(args.input, args.dataset, args.steps, args.samples)
        t0 = time.perf_counter()
        dep = deploy(graph, x, args.backend, args.target, labels,
                     None if args.compare == "none" else args.compare, allow_mismatch=args.allow_mismatch,
                     model_name=Path(args.model).stem)
    except (GraphError, ValueError, OSError) as exc:
        print(f"neuromap deploy: {exc}", file=sys.stderr)
        return 2
    print(dep.summary())
    print(f"(total {time.perf_counter() - t0:.2f} s)")
    if args.output:
        for path in save(dep, args.output):
            print(f"wrote {path}")
    return 0
