"""Deploy a saved model on a backend, compare it with the float model, and report its cost.

In Python: :func:`deploy` returns a :class:`Deployment` (run result, activity, agreement per
layer, accuracy, report); :func:`save` writes a run directory. The command line
(``neuromap deploy``) is :mod:`neuromap.cli.deploy`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuromap import pipeline
from neuromap.atomic import atomic_path, write_text
from neuromap.errors import InputError, OutputError


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
    difference: dict[str, tuple[float, float]] = field(default_factory=dict)  # graded layers: (max |diff|, range)

    def summary(self) -> str:
        lines = [f"backend {self.backend} on {self.target}: ran in {self.result.wall_seconds:.3f} s"]
        if self.reference is not None:
            lines.append(f"float reference (torch) ran in {self.reference.wall_seconds:.3f} s")
        if self.agreement:
            lines.append("spike agreement with the float model, per layer:")
            lines += [f"  {k:<16} {100 * v:6.2f} %" for k, v in self.agreement.items()]
        if self.difference:
            lines.append("non-spiking layers (membrane), max |difference| from the float model:")
            lines += [f"  {k:<16} {d:.4g}" + (f" ({100 * d / r:.2f} % of the float range {r:.4g})" if r > 0 else "")
                      for k, (d, r) in self.difference.items()]
        for k, v in self.accuracy.items():
            lines.append(f"accuracy ({k}): {100 * v:.2f} %")
        lines.append("")
        lines.append(self.report.table())
        return "\n".join(lines)


LAYOUTS = ("TB", "BT")


def check_count(name: str, value: int, minimum: int = 1) -> int:
    """``value`` if it is an integer ``>= minimum``; else an :class:`InputError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} {value}: must be an integer >= {minimum}")
    return int(value)


def read_input_array(path: str, layout: str = "TB") -> torch.Tensor:
    """A ``.npy`` input as a float tensor ``[T, B, ...]``; ``layout="BT"`` reads ``[B, T, ...]``."""
    if layout not in LAYOUTS:
        raise InputError(f"--layout {layout}: must be one of {list(LAYOUTS)}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"--input {path}: cannot read it as a .npy array ({exc})") from exc
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise InputError(f"--input {path}: is an .npz archive; --input takes one array saved with numpy.save (.npy)")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"--input {path}: holds {arr.dtype} values; it must be numbers (spikes or currents)")
    if arr.ndim < 3:
        raise InputError(f"--input {path}: must be [T, B, features...] (or [B, T, ...] with --layout BT), "
                         f"got shape {arr.shape}")
    if layout == "BT":
        arr = np.swapaxes(arr, 0, 1)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"--input {path}: has {arr.shape[0]} steps x {arr.shape[1]} samples (layout {layout}); "
                         "both must be at least 1")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"--input {path}: contains NaN or inf")
    return torch.as_tensor(np.ascontiguousarray(arr), dtype=torch.float32)


def load_inputs(input_path: str | None, dataset: str | None, steps: int | None, samples: int, seed: int = 0,
                layout: str = "TB", data_dir: str | None = None, bin_dt: float | None = None, binary: bool = False):
    """``(x [T, B, ...] float tensor, labels or None)`` from an ``.npy`` file or a named data set
    (:data:`neuromap.data.NAMES`: the shipped digits, or SHD / SSC / N-MNIST / DVS Gesture read
    from ``data_dir`` or ``$NEUROMAP_DATA``).

    ``layout`` says how the file is laid out: ``"TB"`` (time-major, the default) or ``"BT"``
    (batch-major, transposed here). ``steps``: the digits' encoding length (default 25), or the
    number of ``bin_dt``-second bins of an event data set (default: its whole duration). ``binary``:
    an event data set's bins hold 0/1 spikes instead of their event counts (the default). Counts are
    checked: ``steps``/``samples`` >= 1, ``seed`` >= 0.
    """
    if (input_path is None) == (dataset is None):
        raise InputError("give exactly one of --input X.npy and --dataset NAME")
    if input_path is not None:
        return read_input_array(input_path, layout), None
    from neuromap import data

    if dataset not in data.NAMES:
        raise InputError(f"--dataset {dataset}: not one of {list(data.NAMES)}")
    samples, seed = check_count("--samples", samples), check_count("--seed", seed, 0)
    steps = None if steps is None else check_count("--steps", steps)
    if bin_dt is not None and not (np.isfinite(bin_dt) and bin_dt > 0):
        raise InputError(f"--bin-dt {bin_dt}: must be a positive number of seconds")
    if dataset != "digits":
        return data.inputs(dataset, samples=samples, data_dir=data_dir, steps=steps, dt=bin_dt, seed=seed,
                           binary=binary)
    d = data.digits(encoding="rate", steps=25 if steps is None else steps, seed=seed)
    if samples > len(d.y_test):
        raise InputError(f"--samples {samples}: the {dataset} test split has {len(d.y_test)} samples")
    return d.samples("test", samples)


def check_input(graph, x: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``x [T, B, ...]`` fits the graph's single input (in the user's
    terms: steps, samples, and the feature shape the model takes)."""
    if len(graph.inputs) != 1:
        return  # several inputs: each backend checks its own mapping
    want = tuple(graph.shapes[graph.inputs[0]][1])
    got = tuple(x.shape[2:])
    if x.dim() < 3 or got != want:
        raise InputError(f"input has {x.shape[0]} steps x {x.shape[1]} samples x features {got}, but the model's "
                         f"input {graph.inputs[0]!r} takes features {want}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InputError(f"input has {x.shape[0]} steps x {x.shape[1]} samples; both must be at least 1")


def describe_input(x: torch.Tensor, layout: str = "TB") -> str:
    """``"25 steps x 40 samples x features (64,) (read as TB)"``: how an input was read."""
    return f"{x.shape[0]} steps x {x.shape[1]} samples x features {tuple(x.shape[2:])} (read as {layout})"


def readout_accuracy(output: torch.Tensor, labels: torch.Tensor) -> float:
    """Spike-count (or mean-membrane) argmax accuracy of an output sequence ``[T, B, C]``."""
    scores = output.reshape(output.shape[0], output.shape[1], -1).sum(0)
    return float((scores.argmax(-1) == labels).float().mean())


def records_with_inputs(graph, result, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """A run's records plus the graph input's spikes (the sources of the first projections) and its
    outputs (an output fed through synapses is a population of the lowered graph)."""
    recs = dict(result.records)
    for name in graph.inputs:
        recs.setdefault(name, x)
    for name, out in result.outputs.items():
        recs.setdefault(name, out)
    return recs


def _binary(t: torch.Tensor) -> bool:
    return bool(torch.all((t == 0) | (t == 1)))


def compare_records(reference: dict[str, torch.Tensor], records: dict[str, torch.Tensor]
                    ) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Per layer present in both with one shape: spike layers (0/1 in both) get the fraction of equal
    entries; graded layers (membrane readouts, where ``==`` on floats means nothing) get
    ``(max |difference|, float range max - min)``."""
    agreement: dict[str, float] = {}
    difference: dict[str, tuple[float, float]] = {}
    for name, rec in records.items():
        ref = reference.get(name)
        if ref is None or ref.shape != rec.shape or ref.numel() == 0:
            continue
        if _binary(ref) and _binary(rec):
            agreement[name] = float((ref == rec).float().mean())
        else:
            r, x = ref.double(), rec.double()
            difference[name] = (float((r - x).abs().max()), float(r.max() - r.min()))
    return agreement, difference


def prepare_kernels(announce: Callable[[str], None] | None = None) -> float:
    """Build or load the C++ neuron kernels now (not inside a timed run); returns the seconds it took.
    ``announce`` is told when a build (not just a cached load) is about to happen."""
    from neuromap.neurons import kernels

    st = kernels.status()
    if kernels.disabled() or st["available"] or st["error"]:
        return 0.0
    if announce is not None and not any(kernels.cache_dir().glob("*.so")):
        announce(f"building the C++ neuron kernels once (cached in {kernels.cache_dir()}; not counted in run times) ...")
    t0 = time.perf_counter()
    kernels.load()
    return time.perf_counter() - t0


def deploy(
    graph,
    x: torch.Tensor,
    backend: str = "loihi",
    target: str | None = None,
    labels: torch.Tensor | None = None,
    compare: str | None = "torch",
    report_targets: list[str] | None = None,
    allow_mismatch: bool = False,
    model_name: str | None = None,
    announce: Callable[[str], None] | None = None,
) -> Deployment:
    """Run ``graph`` on ``backend`` (for ``target``, default: the backend's own), compare with
    ``compare`` and report. A target of a kind the backend cannot run is refused with both named;
    ``allow_mismatch`` is passed to backends that take it (Loihi) and refused by the others.

    The C++ neuron kernels are built (or loaded) before anything is timed, so the first run in a
    fresh environment does not count the compiler's time; ``announce`` receives a note when that
    build happens.
    """
    from neuromap import backends
    from neuromap.energy import collect
    from neuromap.energy.report import build_report

    check_input(graph, x)
    be = backends.get(backend)
    tgt = backends.load_target(be, target)
    target = tgt.name
    prepare_kernels(announce)
    options: dict[str, Any] = {"allow_mismatch": True} if allow_mismatch else {}
    compiled = backends.compile_on(be, graph, tgt, **options)
    result = compiled.run(x)
    netlist = getattr(compiled, "netlist", None) or graph.lower()
    activity = collect(netlist, records_with_inputs(graph, result, x))
    dep_accuracy: dict[str, float] = {}
    agreement: dict[str, float] = {}
    difference: dict[str, tuple[float, float]] = {}
    reference = None
    if compare:
        reference = backends.get(compare).compile(graph).run(x)
        agreement, difference = compare_records(reference.records, result.records)
        if labels is not None:
            dep_accuracy[f"{compare} (float)"] = readout_accuracy(reference.output, labels)
    if labels is not None:
        dep_accuracy[backend] = readout_accuracy(result.output, labels)
    targets = report_targets or [tgt]
    acc_for_report = {target: dep_accuracy[backend]} if backend in dep_accuracy else {}
    counters = {target: result.counters} if getattr(result, "counters", None) else None
    rep = build_report(netlist, activity, targets, model=model_name or str(graph.metadata.get("name", "model")),
                       accuracy=acc_for_report, counters=counters, mappings=pipeline.run_mappings(compiled, result))
    return Deployment(backend, target, result, activity, rep, agreement, dep_accuracy, reference, difference)


MANIFEST = "manifest.json"


def check_run_dir(out_dir: str | os.PathLike) -> Path:
    """Check, before a run, that ``out_dir`` can receive a run's files: its parent is a writable
    directory and ``out_dir`` is absent, empty or an earlier neuromap run (it holds ``manifest.json``),
    which is replaced as a whole. Anything else (a file, a directory of other files) is refused."""
    from neuromap.atomic import check_writable

    out = check_writable(Path(out_dir).resolve(), directory=True)  # resolved: "-o ." has a name to rename
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise OutputError(f"-o {out}: is a directory that is not a neuromap run (no {MANIFEST}); "
                          "give a new or empty directory")
    return out


def _manifest(dep: Deployment, provenance: dict[str, Any] | None) -> dict[str, Any]:
    from neuromap import __version__

    versions = {"neuromap": __version__, "torch": torch.__version__, "numpy": np.__version__}
    return {"backend": dep.backend, "target": dep.target, "files": ["outputs.npz", "activity.npz", "report.html",
            "report.json"], "versions": versions, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(provenance or {})}


def save(dep: Deployment, out_dir: str | os.PathLike, provenance: dict[str, Any] | None = None) -> list[Path]:
    """Write a run to the directory ``out_dir``: ``outputs.npz``, ``activity.npz``, ``report.html``,
    ``report.json`` and ``manifest.json`` (backend, target, versions and ``provenance``, e.g. the model
    and input that produced them).

    The files are written into a fresh hidden directory beside ``out_dir``, which is then renamed
    into place as a whole; an earlier run there is moved aside first and removed after. An
    interruption (error, full disk, Ctrl-C) leaves the earlier run as it was and no partial one.
    """
    out = check_run_dir(out_dir)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".new", dir=parent))
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    old = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(fresh, 0o777 & ~umask)  # mkdtemp makes 0700; give the usual permissions
        with atomic_path(fresh / "outputs.npz", suffix=".npz") as tmp:
            np.savez(tmp, **{k: v.numpy() for k, v in dep.result.outputs.items()})
        dep.activity.save(fresh / "activity.npz")
        dep.report.save(fresh / "report.html")
        dep.report.save(fresh / "report.json")
        write_text(fresh / MANIFEST, json.dumps(_manifest(dep, provenance), indent=1))
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
            os.replace(out, old / "run")
        os.replace(fresh, out)
    except OSError as exc:
        if old is not None and not out.exists():
            os.replace(old / "run", out)  # put the earlier run back
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        if old is not None and not out.exists():
            os.replace(old / "run", out)
        raise
    finally:
        for leftover in (fresh, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    return [out / name for name in _manifest(dep, None)["files"] + [MANIFEST]]
