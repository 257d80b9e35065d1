"""Spikformer V2 (tiny: SCS stem, SSA attention, spiking MLP, spike-level residuals) on scikit-learn
digits, T=4 direct (current) encoding, trained on one core.

    python -m experiments.spikformer_digits [--epochs 15] [--seed 0] [--quick]

After training: the spike-driven audit of the trained model on the test images (which products
see binary spikes, which integer spike counts or real values); the inference form with every
BatchNorm folded into its conv (:meth:`Spikformer.fuse_batchnorm`, its test accuracy); and the whole
graph path on 64 test images (trace -> save/load -> ``backends.torch``, whose outputs must equal the
folded module's, -> lower -> the activity estimated on every shipped target, as ``neuromap report
--target all``). Writes ``results/spikformer_digits.json`` (accuracy, per-epoch history, audit,
graph check, per-target report) and ``results/spikformer_digits.png`` (training curve).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

import neuromap as nm
from neuromap import data, targets, train
from neuromap.audit import spike_driven_audit
from neuromap.backends import get
from neuromap.deploy import records_with_inputs
from neuromap.energy import collect
from neuromap.energy.report import build_report
from neuromap.graph.nodes import type_name
from neuromap.networks.spikformer import Spikformer
from neuromap.partition import DoesNotFit

from ._common import RESULTS, setup_threads, training_record, write_result
from ._zoo import plot_curve

NAME = "spikformer_digits"
EPOCHS = 15
LR = 2e-3
GRAPH_SAMPLES = 64  # test images run through the traced graph


def graph_check(model: torch.nn.Module, x: torch.Tensor) -> tuple[dict, dict]:
    """Trace, save, load and run the (BN-folded) ``model`` on ``backends.torch``; compare with the
    module's output (identical: the graph holds the module's own weights); lower the graph and
    estimate the run's activity on every shipped target. Returns ``(graph check, report)``."""
    model.eval()
    graph = nm.trace(model, x)
    with tempfile.TemporaryDirectory() as tmp:
        loaded = nm.load(nm.save(graph, Path(tmp) / "spikformer.nir"))
    run = get("torch").compile(loaded).run(x)
    with torch.no_grad():
        ref = model(x)
    net = loaded.lower()
    check = {
        "samples": int(x.shape[1]),
        "nodes": len(loaded.nodes),
        "node_types": sorted({type_name(v).removeprefix("neuromap.") for v in loaded.nodes.values()}),
        "identical_outputs": bool(torch.equal(run.output, ref)),
        "max_abs_output_difference": float((run.output - ref).abs().max()),
        "output_range": float(ref.max() - ref.min()),
        "same_prediction_fraction": float((run.output.mean(0).argmax(-1) == ref.mean(0).argmax(-1)).float().mean()),
        "netlist_neurons": int(net.n_neurons),
        "netlist_synapses": int(net.n_synapses),
    }
    return check, target_report(loaded, net, run, x)


def target_report(graph, net, run, x: torch.Tensor) -> dict:
    """The run's activity estimated on every shipped target (as ``neuromap report --target all``);
    a target the network does not fit is listed with the partitioner's reason."""
    activity = collect(net, records_with_inputs(graph, run, x))
    rows, unfit = [], {}
    for name in targets.available():
        try:
            rows += build_report(net, activity, [name], model=NAME).rows()
        except DoesNotFit as exc:
            unfit[name] = str(exc)
    return {"samples": int(x.shape[1]), "steps": int(x.shape[0]), "targets": rows, "does_not_fit": unfit}


def audit_summary(model: torch.nn.Module, x: torch.Tensor) -> dict:
    """The spike-driven audit as JSON: one row per product (conv / linear / attention) with the value
    set of its input, and the names grouped by kind."""
    rep = spike_driven_audit(model, x)
    layers = [{"name": la.name, "type": la.layer_type, "kind": la.kind, "max": la.max,
               "nonzero_fraction": la.nonzero_fraction, "values": la.values} for la in rep.layers]
    by_kind = {k: [la.name for la in rep.layers if la.kind == k] for k in ("binary", "integer", "real")}
    return {"layers": layers, "by_kind": by_kind, "spike_driven": len(rep.spike_driven), "total": len(rep)}


def run(epochs: int = EPOCHS, seed: int = 0, out_dir: Path = RESULTS, progress: bool | None = None,
        threads: int = 1) -> dict:
    setup_threads(threads)
    digits = data.digits(encoding="current", steps=4, flatten=False, seed=seed)
    train.set_seed(seed)
    model = Spikformer.tiny()
    parameters = sum(p.numel() for p in model.parameters())  # as trained (BatchNorm included)
    t0 = time.perf_counter()
    history = train.fit(model, digits, epochs=epochs, lr=LR, batch_size=64, loss="membrane_ce", seed=seed,
                        progress=progress, scheduler=None)
    wall = time.perf_counter() - t0
    test = train.evaluate(model, digits, "test", "membrane_ce")
    x_test = digits.x_test.transpose(0, 1)  # [T, N, 1, 8, 8]
    audit = audit_summary(model, x_test)
    model.fuse_batchnorm()  # the inference form the graph holds
    fused = train.evaluate(model, digits, "test", "membrane_ce")
    result = {
        "experiment": NAME,
        "dataset": digits.name,
        "model": type(model).__name__,
        "config": "Spikformer.tiny()",
        "parameters": parameters,
        "lr": LR,
        "best_test_accuracy": max(r.get("test_acc", 0.0) for r in history.epochs),
        **training_record(test, history, epochs, seed, wall),
        "fused_test_accuracy": fused["accuracy"],
        "audit": audit,
    }
    result["graph"], result["report"] = graph_check(model, x_test[:, :GRAPH_SAMPLES])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_result(result, out_dir / f"{NAME}.json")
    plot_curve(history.epochs, out_dir / f"{NAME}.png", f"{NAME}: test acc {100 * test['accuracy']:.1f} %")
    return result


def table(result: dict) -> str:
    """The README block: accuracy and the graph check, then the audit per product."""
    g, a = result["graph"], result["audit"]
    lines = [
        f"{result['config']} ({result['parameters']:,} parameters), {result['dataset']}, "
        f"{result['epochs']} epochs on {result['torch_threads']} torch thread(s), seed {result['seed']}.",
        "",
        "| test accuracy | BN folded | best epoch | spikes / sample | training (s) | `backends.torch` vs "
        f"folded module, {g['samples']} test images |",
        "|---:|---:|---:|---:|---:|---|",
        f"| {100 * result['test_accuracy']:.1f} % | {100 * result['fused_test_accuracy']:.1f} % | "
        f"{100 * result['best_test_accuracy']:.1f} % | {result['spikes_per_sample']:.0f} | "
        f"{result['train_wall_seconds']:.0f} | "
        + ("identical outputs" if g["identical_outputs"] else f"max abs diff {g['max_abs_output_difference']:.2g}")
        + f", {100 * g['same_prediction_fraction']:.0f} % same predictions |",
        "",
        f"Spike-driven audit (test images): {a['spike_driven']}/{a['total']} products see binary spikes.",
        "",
        "| product | type | input | max input | nonzero |",
        "|---|---|---|---:|---:|",
    ]
    for la in a["layers"]:
        lines.append(f"| `{la['name']}` | {la['type']} | {la['kind']} | {la['max']:g} | {la['nonzero_fraction']:.3f} |")
    rep = result["report"]
    lines += ["", f"On every shipped target (`neuromap report --target all`), the activity of {rep['samples']} test "
              f"images x {rep['steps']} steps (>= : a lower bound, the model lacks figures for some parts):", "",
              "| target | kind | energy / inference | latency / inference | cores or tiles |",
              "|---|---|---:|---:|---:|"]
    for r in rep["targets"]:
        lines.append(f"| {r['target']} | {r['kind']} | {_bound(r['energy_per_inference_J'], 'J', r['energy_lower_bound'])} "
                     f"| {_bound(r['latency_per_inference_s'], 's', r['latency_lower_bound'])} | "
                     f"{r['cores_or_tiles'] if r['cores_or_tiles'] is not None else ''} |")
    for name, why in rep["does_not_fit"].items():
        lines.append(f"| {name} | does not fit | {why} | | |")
    return "\n".join(lines)


def _bound(value: float | None, unit: str, lower_bound: bool) -> str:
    """``value`` (SI base unit) with an SI prefix, 3 significant digits, ``>=`` when it is a lower
    bound, blank when the target has no figure."""
    if value is None:
        return ""
    scale, prefix = next(((f, p) for f, p in ((1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n")) if abs(value) >= f),
                         (1e-12, "p"))
    return (">=" if lower_bound else "") + f"{value / scale:.3g} {prefix}{unit}"


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="2 epochs (smoke test)")
    args = ap.parse_args()
    if args.epochs < 1:
        ap.error(f"--epochs must be >= 1, got {args.epochs}")
    r = run(2 if args.quick else args.epochs, args.seed)
    a = r["audit"]
    print(f"{NAME}: test accuracy {100 * r['test_accuracy']:.2f} % ({r['parameters']} parameters), trained in "
          f"{r['train_wall_seconds']:.1f} s; {a['spike_driven']}/{a['total']} products spike-driven "
          f"(integer inputs: {', '.join(a['by_kind']['integer']) or 'none'}) -> {RESULTS / (NAME + '.json')}")


if __name__ == "__main__":
    main()
