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
from neuromap.progress import Steps, quiet


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

    compare: str | None = None  # the reference backend's name

    def _reference_name(self) -> str:
        return "float model (torch)" if self.compare == "torch" else f"{self.compare} reference"

    def summary(self) -> str:
        lines = [f"backend {self.backend} on {self.target}: ran in {self.result.wall_seconds:.3f} s"]
        if self.reference is not None:
            lines.append(f"{self._reference_name()} ran in {self.reference.wall_seconds:.3f} s")
        if self.agreement:
            lines.append(f"spike agreement with the {self._reference_name()}, per layer:")
            lines += [f"  {k:<16} {100 * v:6.2f} %" for k, v in self.agreement.items()]
        if self.difference:
            lines.append(f"non-spiking layers (membrane), max |difference| from the {self._reference_name()}:")
            span = "float range" if self.compare == "torch" else "reference's range"
            lines += [f"  {k:<16} {d:.4g}" + (f" ({100 * d / r:.2f} % of the {span} {r:.4g})" if r > 0 else "")
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
    from neuromap.npyfile import load_npy

    if layout not in LAYOUTS:
        raise InputError(f"--layout {layout}: must be one of {list(LAYOUTS)}")
    arr = load_npy(path, f"--input {path}", extra_per_element=4)  # and its float32 tensor
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


def load_inputs(input_path: str | None, dataset: str | None, steps: int | None, samples: int | None, seed: int = 0,
                layout: str = "TB", data_dir: str | None = None, bin_dt: float | None = None):
    """``(x [T, B, ...] float tensor, labels or None)`` from an ``.npy`` file or a named data set
    (:data:`neuromap.data.NAMES`: the shipped digits, or SHD / SSC / N-MNIST / DVS Gesture read
    from ``data_dir`` or ``$NEUROMAP_DATA``).

    ``layout`` says how the file is laid out: ``"TB"`` (time-major, the default) or ``"BT"``
    (batch-major, transposed here). ``steps``: the digits' encoding length (default 25), or the
    number of ``bin_dt``-second bins of an event data set (default: its whole duration). ``samples``
    (default 64): how many of the data set's test split to run; a split with fewer is refused. Counts
    are checked: ``steps``/``samples`` >= 1, ``seed`` >= 0. Arguments the chosen source does not use
    must be left at None (or their defaults); ``neuromap.cli.common.check_input_flags`` names them.
    """
    if (input_path is None) == (dataset is None):
        raise InputError("give exactly one of --input X.npy and --dataset NAME")
    if input_path is not None:
        return read_input_array(input_path, layout), None
    from neuromap import data

    if dataset not in data.NAMES:
        raise InputError(f"--dataset {dataset}: not one of {list(data.NAMES)}")
    samples = check_count("--samples", 64 if samples is None else samples)
    seed = check_count("--seed", seed, 0)
    steps = None if steps is None else check_count("--steps", steps)
    if bin_dt is not None and not (np.isfinite(bin_dt) and bin_dt > 0):
        raise InputError(f"--bin-dt {bin_dt}: must be a positive number of seconds")
    return data.inputs(dataset, samples=samples, data_dir=data_dir, steps=steps, dt=bin_dt, seed=seed)


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
    """Spike-count (or mean-membrane) argmax accuracy of an output sequence ``[T, B, C]``; one label per
    sample (``B`` of them) or an :class:`InputError` (never a broadcast)."""
    if output.dim() < 2 or labels.dim() != 1 or len(labels) != output.shape[1]:
        raise InputError(f"{len(labels)} labels for an output of {output.shape[1] if output.dim() > 1 else '?'} "
                         "samples; accuracy needs one label per sample")
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
    """Build or load the C++ neuron kernels now (not inside a timed run); returns the seconds it took
    (0 when they were ready, disabled or failed before). ``announce`` receives the build's
    announcement and its measured duration (default: stderr); a cached load says nothing."""
    from neuromap.neurons import kernels

    st = kernels.status()
    if kernels.disabled() or st["available"] or st["error"]:
        return 0.0
    t0 = time.perf_counter()
    kernels.load(announce)
    return time.perf_counter() - t0


def resolve_compare(backend: str, compare: str | None) -> str | None:
    """The reference backend for ``deploy``: ``"auto"`` -> torch (None when ``backend`` is torch);
    ``"none"``/None -> None; the backend itself -> :class:`InputError` (100 % agreement, nothing measured)."""
    if compare == "auto":
        return None if backend == "torch" else "torch"
    if compare in (None, "none"):
        return None
    if compare == backend:
        raise InputError(f"--compare {compare}: is the backend being deployed; comparing it with itself measures "
                         "nothing (compare with torch, the float model, or with another backend)")
    return compare


def deploy(
    graph,
    x: torch.Tensor,
    backend: str = "lava",
    target: str | None = None,
    labels: torch.Tensor | None = None,
    compare: str | None = "auto",
    report_targets: list[str] | None = None,
    allow_mismatch: bool = False,
    model_name: str | None = None,
    announce: Callable[[str], None] | None = None,
    steps: Steps | None = None,
) -> Deployment:
    """Run ``graph`` on ``backend`` (for ``target``, default: the backend's own), compare with
    ``compare`` and report. A target of a kind the backend cannot run is refused with both named;
    ``allow_mismatch`` is passed to backends that take it (Loihi) and refused by the others.

    ``compare`` names the reference backend: ``"auto"`` (default) is torch, the float model, except
    when ``backend`` is torch (then none); ``None``: no comparison. Comparing a backend with itself
    is refused (it would report 100 % agreement and measure nothing). The C++ neuron kernels
    are built (or loaded) before anything is timed, so the first run in a fresh environment does not
    count the compiler's time; ``announce`` receives the build's announcement and duration (default:
    stderr). ``steps`` (:class:`neuromap.progress.Steps`) shows each long step with its elapsed time.
    """
    from neuromap import backends
    from neuromap.energy import collect
    from neuromap.energy.report import build_report

    compare = resolve_compare(backend, compare)
    steps = steps or quiet()
    check_input(graph, x)
    be = backends.get(backend)
    tgt = backends.load_target(be, target)
    target = tgt.name
    prepare_kernels(announce)
    options: dict[str, Any] = {"allow_mismatch": True} if allow_mismatch else {}
    with steps(f"compiling for {backend} ({target})"):
        compiled = backends.compile_on(be, graph, tgt, **options)
    with steps(f"running {backend}: {x.shape[1]} samples x {x.shape[0]} steps"):
        result = compiled.run(x)
    netlist = getattr(compiled, "netlist", None) or graph.lower()
    activity = collect(netlist, records_with_inputs(graph, result, x))
    dep_accuracy: dict[str, float] = {}
    agreement: dict[str, float] = {}
    difference: dict[str, tuple[float, float]] = {}
    reference = None
    if compare:
        with steps(f"running the {compare} reference"):
            reference = backends.get(compare).compile(graph).run(x)
        agreement, difference = compare_records(reference.records, result.records)
        if labels is not None:
            dep_accuracy[f"{compare} (float)" if compare == "torch" else f"{compare} (reference)"] = \
                readout_accuracy(reference.output, labels)
    if labels is not None:
        dep_accuracy[backend] = readout_accuracy(result.output, labels)
    targets = report_targets or [tgt]
    acc_for_report = {target: dep_accuracy[backend]} if backend in dep_accuracy else {}
    counters = {target: result.counters} if getattr(result, "counters", None) else None
    with steps(f"estimating energy and latency on {', '.join(str(getattr(t, 'name', t)) for t in targets)}"):
        rep = build_report(netlist, activity, targets, model=model_name or str(graph.metadata.get("name", "model")),
                           accuracy=acc_for_report, counters=counters,
                           mappings=pipeline.run_mappings(compiled, result))
    return Deployment(backend, target, result, activity, rep, agreement, dep_accuracy, reference, difference,
                      compare)


MANIFEST = "manifest.json"
#: The manifest's format marker: a run directory neuromap wrote says so, and lists every file in it.
RUN_FORMAT = "neuromap-run"
RUN_FORMAT_VERSION = 1
RUN_FILES = ("outputs.npz", "activity.npz", "report.html", "report.json")
_MANIFEST_MAX_BYTES = 1 << 20  # a real one is a few kB


def _not_our_run(out: Path) -> str | None:
    """Why the existing, non-empty directory ``out`` is not a run directory neuromap wrote, or None.

    Ours: ``manifest.json`` is a JSON object with ``format = "neuromap-run"`` and a ``files`` list of
    plain names, and the directory holds exactly those files and the manifest, all regular files."""
    manifest = out / MANIFEST
    if not manifest.is_file() or manifest.is_symlink():
        return f"it has no {MANIFEST} written by neuromap"
    try:
        if manifest.stat().st_size > _MANIFEST_MAX_BYTES:
            return f"its {MANIFEST} is not one neuromap writes ({manifest.stat().st_size} bytes)"
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"its {MANIFEST} is not one neuromap writes ({type(exc).__name__})"
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("format") != RUN_FORMAT or not isinstance(files, list) \
            or not all(isinstance(f, str) and f and Path(f).name == f and f not in (".", "..") for f in files):
        return f"its {MANIFEST} has no neuromap run marker (format \"{RUN_FORMAT}\" and a list of its files)"
    extra = sorted(p.name for p in out.iterdir() if p.name not in {*files, MANIFEST})
    if extra:
        return f"it holds files its {MANIFEST} does not list ({', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''})"
    odd = sorted(p.name for p in out.iterdir() if p.is_symlink() or not p.is_file())
    if odd:
        return f"it holds entries that are not plain files ({', '.join(odd[:5])})"
    return None


def check_run_dir(out_dir: str | os.PathLike, inputs: tuple = ()) -> Path:
    """Check, before a run, that ``out_dir`` can receive a run's files: its parent is a writable
    directory; ``out_dir`` is absent, empty, or a run directory neuromap wrote (its ``manifest.json``
    has the run format marker and lists every file in it, and nothing else is there), which is
    replaced as a whole; it is none of ``inputs`` and holds none of
    them (:func:`neuromap.atomic.check_not_input`). Anything else is refused, naming the path."""
    from neuromap.atomic import check_not_input, check_writable

    out = check_writable(Path(out_dir).resolve(), directory=True)  # resolved: "-o ." has a name to rename
    check_not_input(out, inputs, directory=True)
    if out.is_dir() and any(out.iterdir()):
        why = _not_our_run(out)
        if why:
            raise OutputError(f"-o {out}: is a directory neuromap did not write ({why}); neuromap replaces only a "
                              f"run directory it wrote, so give a new or empty directory")
    return out


def _manifest(dep: Deployment, provenance: dict[str, Any] | None) -> dict[str, Any]:
    from neuromap import __version__

    versions = {"neuromap": __version__, "torch": torch.__version__, "numpy": np.__version__}
    return {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "backend": dep.backend, "target": dep.target,
            "files": list(RUN_FILES), "versions": versions, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **(provenance or {})}


def save(dep: Deployment, out_dir: str | os.PathLike, provenance: dict[str, Any] | None = None,
         inputs: tuple = ()) -> list[Path]:
    """Write a run to the directory ``out_dir``: ``outputs.npz``, ``activity.npz``, ``report.html``,
    ``report.json`` and ``manifest.json`` (the run format marker, the list of files, backend, target,
    versions and ``provenance``, e.g. the model and input that produced them). An existing
    ``out_dir`` is replaced only when it is a run directory neuromap wrote and holds none of
    ``inputs`` (:func:`check_run_dir`).

    The files are written into a fresh hidden directory beside ``out_dir``, which is then renamed
    into place as a whole; an earlier run there is moved aside first and removed after. An
    interruption (error, full disk, Ctrl-C) leaves the earlier run as it was and no partial one.
    """
    out = check_run_dir(out_dir, inputs)  # again: the directory may have changed during the run
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
    return [out / name for name in [*RUN_FILES, MANIFEST]]
