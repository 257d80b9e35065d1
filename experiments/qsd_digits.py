"""Quantized Spike-driven Transformer (Qiu et al., ICLR 2025) on scikit-learn digits: accuracy vs weight bits.

    python -m experiments.qsd_digits [--teacher-epochs 4] [--qat-epochs 2] [--bits 8 4 2 1] [--no-distill] [--quick]

1. A float teacher: ``SpikeDrivenTransformer.tiny()`` (the configuration of ``experiments/sdt_digits.py``),
   T = 4 direct (current) encoding, trained with the mean-membrane cross-entropy.
2. For each weight width: a QSD student (``networks.qsd.qsd_sdt``: a copy of the teacher with LSQ
   weights on every Linear / Conv (per-layer step, symmetric range, :mod:`neuromap.quantize`) and IE-LIF attention
   neurons with 4 integer spike levels) fine-tuned with QAT, once with plain cross-entropy and once
   with the teacher's logits distillation (:class:`neuromap.distill.Distiller`, Hinton et al. 2015; the
   paper's fine-grained attention distillation is not public, see that module).
3. Each model is traced (the Graph records the bit width), run by ``backends.torch`` on test inputs,
   and priced by ``neuromap.energy`` on ``crossbar-rram`` (8-bit weights in 1-bit cells: a b-bit
   QAT weight takes fewer bit slices), ``crossbar-pcm`` (analog cells: no change expected) and
   ``loihi2`` (its estimate needs a partition of the SDT; a failure is recorded, not hidden). The
   crossbar backend is checked to program the QAT integers as they are.

Writes ``results/qsd_digits.json`` and ``results/qsd_digits.png`` (test accuracy vs weight bits).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import neuromap as nm
from neuromap import backends, data, targets, train
from neuromap import quantize as Q
from neuromap.backends.base import BackendError
from neuromap.deploy import readout_accuracy, records_with_inputs
from neuromap.distill import Distiller
from neuromap.energy import collect, estimate
from neuromap.networks import SpikingMLP
from neuromap.networks.qsd import ATTENTION_LEVELS, qsd_sdt
from neuromap.networks.sdt import SDSA, SpikeDrivenTransformer
from neuromap.neurons import LIFParams
from neuromap.partition import partition

from ._common import RESULTS, setup_threads, training_record, write_result

TEACHER_EPOCHS, QAT_EPOCHS, BITS = 4, 2, (8, 4, 2, 1)
MLP_EPOCHS, MLP_QAT_EPOCHS = 8, 3
# Integer range [-Q_p, Q_p] (ours, see neuromap.quantize): a b-bit weight then fits b-bit sign-magnitude
# crossbar cells and Loihi's 8-bit mixed-sign weights at every width (the reference's [-Q_p - 1, Q_p]
# needs b + 1 sign-magnitude bits, so its 8-bit weights fit neither).
SYMMETRIC = True
TARGETS = ("crossbar-rram", "crossbar-pcm", "loihi2")
ENERGY_SAMPLES = 32
KD = {"readout": "mean", "temperature": 2.0, "alpha": 0.5}


def _fit(model, digits, epochs: int, lr: float, loss, seed: int, progress) -> tuple[Any, float]:
    t0 = time.perf_counter()
    history = train.fit(model, digits, epochs=epochs, lr=lr, batch_size=64, loss=loss, seed=seed,
                        progress=progress, evaluate_every=epochs)
    return history, time.perf_counter() - t0


def _attention_levels(model, x: torch.Tensor) -> dict[str, float]:
    """Share of the attention neuron's outputs at each value (binary LIF: 0/1; IE-LIF: 0..levels)."""
    outs = []
    hooks = [m.neuron.register_forward_hook(lambda mod, a, o: outs.append(o.detach().flatten()))
             for m in model.modules() if isinstance(m, SDSA)]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    v = torch.cat(outs)
    vals, counts = torch.unique(v, return_counts=True)
    return {f"{float(a):g}": float(c) / v.numel() for a, c in zip(vals, counts)}


def _energy(model, x: torch.Tensor) -> dict[str, Any]:
    """Trace, run on ``backends.torch`` (recording every population) and estimate per target."""
    graph = nm.trace(model.eval(), x)
    net = graph.lower()
    activity = collect(net, records_with_inputs(graph, backends.get("torch").compile(graph).run(x), x))
    bits = Q.graph_weight_bits(graph)
    stored = None
    if bits:
        grid = Q.grid_of(next(n.metadata for n in graph.nodes.values() if Q.grid_of(getattr(n, "metadata", None))))
        stored = Q.sign_magnitude_bits(grid["qmin"], grid["qmax"])
    out: dict[str, Any] = {"graph_weight_bits": sorted(set(bits.values())) or None, "targets": {}}
    for name in TARGETS:
        tgt = targets.load(name)
        try:
            mapping = partition(net, tgt, weight_bits=stored) if tgt.kind == "digital" else None
            est = estimate(net, activity, tgt, mapping)
            out["targets"][name] = {"energy_per_inference_J": est.energy_per_inference_J,
                                    "breakdown_J": est.breakdown(), "resources": {k: v for k, v in est.resources.items()
                                                                                 if isinstance(v, (int, float, str))}}
        except Exception as exc:  # a target that cannot price this graph: recorded with its reason
            out["targets"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    if bits:  # the same graph and activity with its weights stored at the target's full width
        floats = graph.lower()
        for proj in floats.projections:
            proj.meta.pop("node_metadata", None)
        est = estimate(floats, activity, targets.load("crossbar-rram"), None)
        out["crossbar_rram_float_weights_same_activity_J"] = est.energy_per_inference_J
    out["crossbar_rram"] = _crossbar_check(graph)
    return out


def _crossbar_check(graph) -> dict[str, Any]:
    """The crossbar backend's programmed weights against the graph's QAT integers, and its bit slices."""
    try:
        compiled = backends.get("crossbar").compile(graph, "crossbar-rram")
    except BackendError as exc:  # e.g. a QAT range wider than the target's weights: recorded, not hidden
        return {"slices_per_weight": [], "programmed_equals_qat_integers": None, "error": str(exc)}
    slices, exact, checked = [], True, 0
    for name in compiled.crossbar_nodes:
        op = compiled.ops[name]
        arrays = list(op.engine.arrays) if op.conv else [op.engine]
        slices.append(arrays[0].layout.slices)
        found = Q.grid_integers(graph.nodes[name].weight, graph.nodes[name].metadata, name)
        if found is not None:
            ints = found[0].reshape(found[0].shape[0], -1)
            groups = len(arrays)
            per = ints.shape[0] // groups
            programmed = np.concatenate([a.cmap.weight().numpy() for a in arrays], 0).reshape(groups * per, -1)
            exact &= bool(np.allclose(programmed, ints, atol=1e-4))
            checked += 1
    return {"slices_per_weight": sorted(set(slices)), "programmed_equals_qat_integers": exact if checked else None}


def loihi_mlp(seed: int = 0, epochs: int = MLP_EPOCHS, qat_epochs: int = MLP_QAT_EPOCHS, bits: int = 4) -> dict:
    """The SDT cannot be partitioned for Loihi here (see the README), so Loihi's consumption of QAT
    weights is shown on the digits MLP (64-64-10 LIF, reset to zero, rate-coded, T = 25): float and
    ``bits``-bit QAT models compiled by ``backends.loihi`` (weights ``q x 2^k`` exactly, stored in
    ``bits + 1`` sign-magnitude bits vs the target's 8), their Loihi accuracy, cores and energy."""
    d = data.digits(encoding="rate", steps=25, seed=seed)
    x, y = d.x_test.transpose(0, 1).contiguous(), d.y_test
    train.set_seed(seed)
    model = SpikingMLP(64, [64], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    train.fit(model, d, epochs=epochs, lr=3e-3, seed=seed, progress=False, evaluate_every=epochs)
    student = Q.quantize(copy.deepcopy(model), bits=bits)
    train.fit(student, d, epochs=qat_epochs, lr=1e-3, seed=seed, progress=False, evaluate_every=qat_epochs)
    rows = {}
    for name, m, wb in (("float", model, None), (f"{bits}-bit QAT", student, Q.sign_magnitude_bits(*Q.quant_range(bits)))):
        graph = nm.trace(m.eval(), x)
        compiled = backends.get("loihi").compile(graph, "loihi", weight_bits=wb)
        res = compiled.run(x)
        activity = collect(compiled.netlist, records_with_inputs(graph, res, x))
        est = estimate(compiled.netlist, activity, compiled.target, compiled.mapping)
        rows[name] = {"torch_accuracy": train.evaluate(m, d)["accuracy"], "loihi_accuracy": readout_accuracy(res.output, y),
                      "loihi_weight_bits": wb or int(compiled.target.get("numerics.weight_bits")),
                      "cores": compiled.mapping.n_cores, "energy_per_inference_J": est.energy_per_inference_J,
                      "weight_rel_rms_error": max(q.weight_rel_rms_error for q in compiled.quant.layers.values()),
                      "notes": sorted({n for q in compiled.quant.layers.values() for n in q.notes}),
                      "model_size_bits": Q.model_size_bits(m)["weight_bits"] if name != "float"
                      else Q.model_size_bits(m)["float32_bits"]}
    return {"model": "SpikingMLP(64, [64], 10), LIF beta 0.9, reset zero", "dataset": d.name, "epochs": epochs,
            "qat_epochs": qat_epochs, "runs": rows}


def run(teacher_epochs: int = TEACHER_EPOCHS, qat_epochs: int = QAT_EPOCHS, bits=BITS, distill: bool = True,
        seed: int = 0, out_dir: Path = RESULTS, progress: bool | None = None) -> dict:
    setup_threads(2)
    digits = data.digits(encoding="current", steps=4, flatten=False, seed=seed)
    x_energy = digits.x_test[:ENERGY_SAMPLES].transpose(0, 1).contiguous()
    train.set_seed(seed)
    teacher = SpikeDrivenTransformer.tiny()
    history, wall = _fit(teacher, digits, teacher_epochs, 2e-3, "membrane_ce", seed, progress)
    test = train.evaluate(teacher, digits, "test", "membrane_ce")
    rows = [{"model": "float teacher", "bits": 32, "distill": False, **training_record(test, history, teacher_epochs,
                                                                                       seed, wall),
             "size": {"weight_bits": Q.model_size_bits(teacher)["float32_bits"]},
             "attention_levels": _attention_levels(teacher, x_energy), "energy": _energy(teacher, x_energy)}]
    for b in bits:
        for kd in ((False, True) if distill else (False,)):
            student = qsd_sdt(teacher, bits=b, levels=ATTENTION_LEVELS, symmetric=SYMMETRIC)
            train.set_seed(seed)
            if kd:
                with Distiller(student, teacher, **KD) as loss:
                    history, wall = _fit(student, digits, qat_epochs, 1e-3, loss, seed, progress)
            else:
                history, wall = _fit(student, digits, qat_epochs, 1e-3, "membrane_ce", seed, progress)
            test = train.evaluate(student, digits, "test", "membrane_ce")
            rows.append({"model": f"QSD {b}-bit" + (" + KD" if kd else ""), "bits": b, "distill": kd,
                         **training_record(test, history, qat_epochs, seed, wall), "size": Q.model_size_bits(student),
                         "attention_levels": _attention_levels(student, x_energy),
                         "energy": _energy(student, x_energy)})
            print(f"{rows[-1]['model']}: test accuracy {100 * test['accuracy']:.1f} %", flush=True)
    result = {
        "experiment": "qsd_digits", "dataset": digits.name, "model": "SpikeDrivenTransformer.tiny()",
        "student": f"networks.qsd.qsd_sdt(bits, levels={ATTENTION_LEVELS}, symmetric={SYMMETRIC}): LSQ per-layer "
                   "weights, IE-LIF attention",
        "teacher_epochs": teacher_epochs, "qat_epochs": qat_epochs, "seed": seed, "distillation": KD,
        "energy_inputs": f"first {ENERGY_SAMPLES} test samples, T=4", "runs": rows,
        "test_accuracy": rows[0]["test_accuracy"], "loihi_mlp": loihi_mlp(seed),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_result(result, out_dir / "qsd_digits.json")
    plot(result, out_dir / "qsd_digits.png")
    return result


def plot(result: dict, path: Path) -> Path:
    """Test accuracy against weight bits (QAT, QAT + distillation) with the float teacher as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.axhline(100 * runs[0]["test_accuracy"], color="k", ls="--", label="float teacher (32 bit)")
    for kd, style, label in ((False, "C0o-", "QAT (LSQ) + IE-LIF"), (True, "C1s-", "QAT + IE-LIF + logits KD")):
        pts = sorted((r["bits"], 100 * r["test_accuracy"]) for r in runs[1:] if r["distill"] == kd)
        if pts:
            ax.plot(*zip(*pts), style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks([b for b in sorted({r["bits"] for r in runs[1:]})])
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("weight bits")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"QSD SDT on digits ({result['teacher_epochs']} + {result['qat_epochs']} epochs)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _energy_cell(row: dict, target: str, ref: dict) -> str:
    t = row["energy"]["targets"].get(target, {})
    if "energy_per_inference_J" not in t:
        return "n/a"
    e, e0 = t["energy_per_inference_J"], ref["energy"]["targets"][target].get("energy_per_inference_J")
    return f"{1e6 * e:.2f}" + (f" ({e / e0:.2f}x)" if e0 and row is not ref else "")


def table(result: dict) -> str:
    """Markdown: accuracy, model size and energy per inference per weight width."""
    runs = result["runs"]
    ref = runs[0]
    lines = [f"{result['model']} on {result['dataset']}; float teacher {result['teacher_epochs']} epochs, then "
             f"{result['qat_epochs']} QAT epochs per row ({result['student']}); energy on "
             f"{result['energy_inputs']}; in brackets: energy relative to the float teacher.", "",
             "| model | test accuracy (%) | weights (kbit) | compression | crossbar-rram µJ / inference | "
             "rram bit slices | crossbar-pcm µJ / inference | loihi2 µJ / inference (estimate) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        size = r["size"]["weight_bits"]
        comp = ref["size"]["weight_bits"] / size
        loihi = r["energy"]["targets"].get("loihi2", {})
        loihi_cell = f"{1e6 * loihi['energy_per_inference_J']:.2f} µJ" if "energy_per_inference_J" in loihi else \
            f"not estimated ({loihi.get('error', 'no row')})"
        lines.append(f"| {r['model']} | {100 * r['test_accuracy']:.1f} | {size / 1000:.1f} | {comp:.1f}x | "
                     f"{_energy_cell(r, 'crossbar-rram', ref)} | "
                     f"{', '.join(map(str, r['energy']['crossbar_rram']['slices_per_weight']))} | "
                     f"{_energy_cell(r, 'crossbar-pcm', ref)} | {loihi_cell} |")
    same = [(r["model"], r["energy"]) for r in runs[1:] if "crossbar_rram_float_weights_same_activity_J" in r["energy"]]
    if same:
        reads = {r["model"]: r["energy"]["targets"]["crossbar-rram"].get("resources", {}).get("tile_reads")
                 for r in (ref, runs[1])}
        lines += ["", "The students' activity differs from the teacher's: the IE-LIF attention emits integer spikes, "
                  "so the projections it feeds get non-binary inputs, which the crossbar estimate prices as bit-serial "
                  "input planes (target `activation_bits` / `dac_bits`); tile reads "
                  + " vs ".join(f"{m} {v:.0f}" for m, v in reads.items() if v) + ". "
                  "Weight width alone on `crossbar-rram` (the same QSD graph and activity, weights stored at the "
                  "target's 8 bits vs the QAT width): " + "; ".join(
                      f"{m}: {1e6 * e['crossbar_rram_float_weights_same_activity_J']:.2f} -> "
                      f"{1e6 * e['targets']['crossbar-rram']['energy_per_inference_J']:.2f} µJ" for m, e in same) + "."]
    mlp = result.get("loihi_mlp")
    if mlp:
        lines += ["", f"Loihi (`backends.loihi`, bit-accurate emulator) on {mlp['model']}, {mlp['dataset']} "
                  f"({mlp['epochs']} float + {mlp['qat_epochs']} QAT epochs):", "",
                  "| model | torch accuracy (%) | Loihi accuracy (%) | Loihi weight bits | weight error vs model | "
                  "cores | Loihi µJ / inference | weights (kbit) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, r in sorted(mlp["runs"].items(), key=lambda kv: kv[0] != "float"):  # float first
            lines.append(f"| {name} | {100 * r['torch_accuracy']:.1f} | {100 * r['loihi_accuracy']:.1f} | "
                         f"{r['loihi_weight_bits']} | {100 * r['weight_rel_rms_error']:.2g} % | {r['cores']} | "
                         f"{1e6 * r['energy_per_inference_J']:.2f} | {r['model_size_bits'] / 1000:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher-epochs", type=int, default=TEACHER_EPOCHS)
    ap.add_argument("--qat-epochs", type=int, default=QAT_EPOCHS)
    ap.add_argument("--bits", type=int, nargs="+", default=list(BITS), choices=Q.BITS)
    ap.add_argument("--no-distill", action="store_true", help="QAT only (half the runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="1 teacher + 1 QAT epoch, 4 bits, no distillation")
    args = ap.parse_args()
    for name in ("teacher_epochs", "qat_epochs"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.quick:
        r = run(1, 1, (4,), False, args.seed)
    else:
        r = run(args.teacher_epochs, args.qat_epochs, tuple(args.bits), not args.no_distill, args.seed)
    print(table(r))
    print(f"-> {RESULTS / 'qsd_digits.json'}")


if __name__ == "__main__":
    main()
