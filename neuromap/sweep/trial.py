"""One trial, as a user would write it: build, train, quantise, trace, run, and report on every target.

:func:`run_trial` takes a trial's resolved configuration (:attr:`neuromap.sweep.spec.Trial.config`)
and returns what the results store keeps: the record's measured part and the traced graph's bytes.
It imports nothing of Ray: the runner ships it to a worker as a Ray task, and the same function runs
in a plain loop (the scaling benchmark's baseline). It never raises for a problem of the trial itself
(a builder that fails, a training error): the record says ``status = "error"`` with the error, so
only the loss of the worker process is left for the runner to handle.

Energy and latency per inference come from the report's public API
(:func:`neuromap.energy.build_report` and :meth:`~neuromap.energy.Report.rows`) for each target and
operating point; a target that cannot take the model (it does not fit, a figure is missing) gets an
``error`` entry and the other targets still get theirs.
"""

from __future__ import annotations

import platform
import socket
import tempfile
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

from neuromap.errors import InputError, NeuromapError

from .spec import FLOAT

#: Record fields that describe a run rather than its result (wall times, host): left out when two
#: runs of the same trial are compared (:func:`comparable`).
RUN_FIELDS = ("timing", "provenance", "attempts", "attempt_errors")


def resolve(name: str, what: str = "builder") -> Any:
    """The object named by ``name``: ``"package.module:attr.sub"``, or a bare (dotted) name exported
    by a registered model package (the zoo ``neuromap.networks`` and any package declared under the
    ``neuromap.extensions`` entry point group), e.g. ``"SpikingMLP"`` or ``"SpikeDrivenTransformer.tiny"``.

    A sweep spec names code to import, as a script does: run only specs you would run as scripts."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            found = [import_module(module_name)]
        except ImportError as exc:
            raise InputError(f"{what} {name!r}: cannot import module {module_name!r} ({exc})") from exc
    else:
        attr, found = name, list(_model_packages())
    for obj in found:
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is not None:
            if not callable(obj):
                raise InputError(f"{what} {name!r} is a {type(obj).__name__}, not a callable")
            return obj
    where = f"module {name.partition(':')[0]!r}" if ":" in name else \
        f"the registered model packages ({', '.join(m.__name__ for m in _model_packages())})"
    raise InputError(f"{what} {name!r}: no such name in {where}; give 'package.module:callable' for your own")


def _model_packages() -> list[Any]:
    """The modules registered under the ``neuromap.extensions`` entry point group (the zoo first)."""
    from neuromap.graph.nodes import PLUGIN_GROUP, load_plugins

    load_plugins()
    from importlib.metadata import distributions

    names = sorted({ep.value.split(":")[0] for d in distributions() for ep in d.entry_points
                    if ep.group == PLUGIN_GROUP}, key=lambda m: (m != "neuromap.networks", m))
    return [import_module(m) for m in names]


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: " + " ".join(str(exc).split())


def with_range(value: float | None, lower_bound: bool) -> dict[str, Any]:
    """A figure with its range: ``low`` / ``high`` equal the value until the estimates carry ranges
    (then this is the one place that reads them); ``lower_bound``: the estimate is a lower bound."""
    return {"value": value, "low": value, "high": value, "lower_bound": bool(lower_bound)}


def _build(config: Mapping[str, Any]):
    model_cfg = dict(config["model"])
    builder = resolve(model_cfg.pop("builder"))
    checkpoint = model_cfg.pop("checkpoint", None)
    model = builder(**model_cfg)
    if checkpoint is not None:  # "or load": start from trained weights (neuromap.train.save_checkpoint)
        from neuromap.train import load_checkpoint

        load_checkpoint(checkpoint, model)
    return model


def _fit(model, data, section: Mapping[str, Any], loss: str, seed: int, device: str) -> list[dict[str, Any]]:
    """``neuromap.train.fit`` for ``section["epochs"]``; the per-epoch losses (without wall times)."""
    from neuromap import train

    train.set_seed(seed)
    history = train.fit(model, data, epochs=int(section["epochs"]), lr=float(section["lr"]),
                        batch_size=int(section["batch_size"]), loss=loss, seed=seed, progress=False,
                        evaluate_every=0, device=device)
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history.epochs]


def _targets(netlist, activity, targets: list[Mapping[str, Any]], model_name: str) -> dict[str, Any]:
    """Energy / latency per inference on every target point, through the report's public API; the
    first operating point's mapping is reused by the others of the same target."""
    from neuromap.energy import Options, build_report

    out: dict[str, Any] = {}
    mappings: dict[str, dict] = {}
    for tp in targets:
        entry: dict[str, Any] = {"target": tp["target"], "options": dict(tp["options"])}
        try:
            rep = build_report(netlist, activity, [tp["target"]], model=model_name, options=Options(**tp["options"]),
                               mappings=mappings.get(tp["target"]))
            mappings.setdefault(tp["target"], rep.mappings)
            row = rep.rows()[0]
            entry.update(kind=row["kind"], energy_J=with_range(row["energy_per_inference_J"], row["energy_lower_bound"]),
                         latency_s=with_range(row["latency_per_inference_s"], row["latency_lower_bound"]),
                         latency_per_step_s=row["latency_per_step_s"], cores_or_tiles=row["cores_or_tiles"],
                         chips=row["chips"], omitted=row["omitted"])
        except (NeuromapError, ValueError) as exc:  # does not fit, a missing figure: this target only
            entry["error"] = _one_line(exc)
        out[tp["label"]] = entry
    return out


def _measure(config: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The trial's work; returns ``(record fields, graph bytes)``. Raises on any failure."""
    import torch

    import neuromap as nm
    from neuromap import backends, train
    from neuromap import quantize as Q
    from neuromap.data import load as load_data
    from neuromap.deploy import records_with_inputs
    from neuromap.energy import collect

    torch.set_num_threads(int(config["threads"]))
    seed, device = int(config["seed"]), str(config.get("device", "cpu"))
    t0, cpu0 = time.perf_counter(), time.process_time()
    data_cfg = dict(config["data"])
    data = load_data(data_cfg.pop("name"), **data_cfg)
    tr = config["train"]
    train.set_seed(seed)
    model = _build(config)
    history = {"train": _fit(model, data, tr, tr["loss"], seed, device)}
    metrics: dict[str, Any] = {}
    q = config.get("quantize")
    if q is not None and q["bits"] != FLOAT:
        metrics["float_accuracy"] = train.evaluate(model, data, "test", tr["loss"]).get("accuracy")
        model = resolve(q["function"], "quantize.function")(model, bits=q["bits"], **q.get("kwargs", {}))
        history["qat"] = _fit(model, data, {**tr, **q}, tr["loss"], seed, device)
    train_s = time.perf_counter() - t0
    test = train.evaluate(model, data, "test", tr["loss"])
    metrics.update(accuracy=test.get("accuracy"), loss=test["loss"], spikes_per_sample=test["spikes_per_sample"],
                   weight_bits=Q.model_size_bits(model)["weight_bits"])
    model = model.cpu().eval()
    x = data.x_test[: int(config["evaluate"]["samples"])].transpose(0, 1).contiguous()
    graph = nm.trace(model, x)
    netlist = graph.lower()
    activity = collect(netlist, records_with_inputs(graph, backends.get("torch").compile(graph).run(x), x))
    targets = _targets(netlist, activity, config["targets"], str(config["model"]["builder"]))
    with tempfile.TemporaryDirectory() as tmp:
        graph_bytes = nm.save(graph, Path(tmp) / "graph.nir").read_bytes()
    fields = {"status": "done", "metrics": metrics, "targets": targets, "history": history,
              "activity": {"samples": activity.samples, "steps": activity.steps,
                           "spikes_per_sample": activity.total_spikes / activity.samples},
              "timing": {"train_s": train_s, "trial_s": time.perf_counter() - t0,
                         "cpu_s": time.process_time() - cpu0}}  # CPU time of the process: how much CPU it got
    return fields, graph_bytes


def run_trial(config: Mapping[str, Any]) -> dict[str, Any]:
    """Run one trial; returns ``{"record": fields, "graph": bytes or None}``. A failure of the trial
    itself gives ``status = "error"`` with the error's type, message and traceback (never raised)."""
    t0 = time.perf_counter()
    try:
        fields, graph = _measure(config)
    except Exception as exc:  # the trial's own failure is part of the result, recorded, not raised
        fields = {"status": "error", "error": _one_line(exc), "traceback": traceback.format_exc(limit=-8),
                  "timing": {"trial_s": time.perf_counter() - t0}}
        graph = None
    fields["provenance"] = provenance()
    return {"record": fields, "graph": graph}


def provenance() -> dict[str, Any]:
    """Where and with what a trial ran: host, process, package versions, the UTC time it finished."""
    import os
    from importlib.metadata import PackageNotFoundError, version

    def v(pkg: str) -> str | None:
        try:
            return version(pkg)
        except PackageNotFoundError:
            return None

    return {"host": socket.gethostname(), "pid": os.getpid(), "python": platform.python_version(),
            "packages": {p: v(p) for p in ("neuromap", "torch", "numpy", "ray")},
            "finished_utc": datetime.now(UTC).isoformat(timespec="seconds")}


def comparable(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` without the fields that describe the run (:data:`RUN_FIELDS`): two runs of the
    same trial give equal ``comparable`` records."""
    return {k: v for k, v in record.items() if k not in RUN_FIELDS}
