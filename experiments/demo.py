"""The end-to-end demo (what `make demo` runs): train -> .nir -> Lava / Loihi -> other chips -> report.

1. trains a spiking MLP on scikit-learn's digits (rate-coded spikes, Loihi-compatible LIF:
   reset to zero, strict threshold);
2. saves it as ``results/demo/digits.nir`` and loads it back (the file is the contract);
3. deploys it through Lava (``Loihi2SimCfg(select_tag="fixed_pt")``) on a few test samples and
   checks that neuromap's own Loihi emulator gives bit-identical spikes and u/v, then runs the
   emulator on the whole test set;
4. runs it on the other hardware backends that are installed (SpiNNaker2 execution model, PCM
   crossbar) and on the float reference;
5. writes ``results/demo/report.html`` (+ ``report.json``) comparing energy, latency and accuracy
   on every target, and prints a summary table.

    python -m experiments.demo [--quick] [--lava-samples 8]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import neuromap as nm
from neuromap import backends, data, targets, train
from neuromap.atomic import write_text
from neuromap.deploy import readout_accuracy, records_with_inputs
from neuromap.energy import collect
from neuromap.energy.report import build_report
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams

from ._common import RESULTS, setup_threads, write_result

OUT = RESULTS / "demo"


def _step(msg: str) -> float:
    print(f"\n== {msg}", flush=True)
    return time.perf_counter()


def _optional_backend(name: str):
    """A backend that may not be installed in this build; returns None (and says why) if missing."""
    try:
        return backends.get(name)
    except (ImportError, ValueError) as exc:
        print(f"   backend {name!r} unavailable: {exc}")
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer epochs and samples (smoke test)")
    ap.add_argument("--lava-samples", type=int, default=8, help="test samples run through Lava (slow: ~1 s each)")
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    setup_threads(2)
    t_start = time.perf_counter()
    epochs = 3 if args.quick else args.epochs
    lava_samples = 2 if args.quick else args.lava_samples

    t0 = _step(f"1. train a spiking MLP on digits ({epochs} epochs)")
    digits = data.digits(encoding="rate", steps=25, seed=0)
    train.set_seed(0)
    neuron = LIFParams.from_decay(0.9, reset="zero")  # Loihi resets to zero and spikes on v > threshold
    model = SpikingMLP(64, [128], 10, neuron_params=neuron)
    train.fit(model, digits, epochs=epochs, lr=2e-3, seed=0)
    float_acc = train.evaluate(model, digits)["accuracy"]
    print(f"   float test accuracy {100 * float_acc:.2f} % ({time.perf_counter() - t0:.1f} s)")

    t0 = _step("2. save as NIR and load it back")
    OUT.mkdir(parents=True, exist_ok=True)
    x_test = digits.x_test.transpose(0, 1).contiguous()
    y_test = digits.y_test
    path = nm.save(nm.trace(model, x_test[:, :2]), OUT / "digits.nir") or OUT / "digits.nir"
    graph = nm.load(path)
    print(f"   {path} ({Path(path).stat().st_size / 1024:.0f} KiB): {len(graph.nodes)} nodes; "
          f"{graph.lower()}")

    t0 = _step(f"3. deploy through Lava ({lava_samples} samples) and check the emulator bit for bit")
    x_lava = x_test[:, :lava_samples]
    lava_run = backends.get("lava").compile(graph, "loihi2").run(x_lava)
    loihi = backends.get("loihi").compile(graph, "loihi2")
    emu_small = loihi.run(x_lava)
    bit_exact = all(
        np.array_equal(lava_run.raw[k], emu_small.raw[k]) and np.array_equal(lava_run.u[k], emu_small.u[k])
        and np.array_equal(lava_run.v[k], emu_small.v[k]) for k in lava_run.raw
    )
    print(f"   Lava {lava_run.wall_seconds:.2f} s vs neuromap emulator {emu_small.wall_seconds:.4f} s "
          f"({lava_run.wall_seconds / max(emu_small.wall_seconds, 1e-9):.0f}x); bit-exact spikes/u/v: {bit_exact}")
    if not bit_exact:
        raise SystemExit("the Loihi emulator disagrees with Lava: this is a bug, please report it")
    print("   quantisation:\n      " + loihi.quant.table().replace("\n", "\n      "))

    t0 = _step("4. run the whole test set on every backend")
    runs: dict[str, object] = {}
    accuracy: dict[str, float] = {}
    activities = {}
    netlist = graph.lower()
    ref = backends.get("torch").compile(graph).run(x_test)
    runs["torch"] = ref
    accuracy["float (torch)"] = readout_accuracy(ref.output, y_test)
    float_activity = collect(netlist, records_with_inputs(graph, ref, x_test))
    emu = loihi.run(x_test)
    accuracy["loihi emulator"] = readout_accuracy(emu.output, y_test)
    act_loihi = collect(netlist, records_with_inputs(graph, emu, x_test))
    for t in ("loihi", "loihi2"):
        activities[t] = act_loihi
    agreement = {k: float((emu.records[k] == ref.records[k]).float().mean()) for k in emu.records}
    print(f"   Loihi emulator: accuracy {100 * accuracy['loihi emulator']:.2f} %, spike agreement with the float "
          f"model per layer: {', '.join(f'{k} {100 * v:.1f} %' for k, v in agreement.items())}")
    s2 = _optional_backend("spinnaker2")
    if s2 is not None:
        run = s2.compile(graph, "spinnaker2").run(x_test)
        accuracy["spinnaker2"] = readout_accuracy(run.output, y_test)
        activities["spinnaker2"] = collect(netlist, records_with_inputs(graph, run, x_test))
        print(f"   SpiNNaker2 model: accuracy {100 * accuracy['spinnaker2']:.2f} % ({run.wall_seconds:.2f} s)")
    counters = {}
    xb = _optional_backend("crossbar")
    if xb is not None:
        run = xb.compile(graph, "crossbar-pcm", seed=0, t_inference=3600.0).run(x_test)  # read 1 h after programming
        counters["crossbar-pcm"] = run.counters
        accuracy["crossbar-pcm"] = readout_accuracy(run.output, y_test)
        activities["crossbar-pcm"] = collect(netlist, records_with_inputs(graph, run, x_test))
        print(f"   PCM crossbar model (1 h after programming): accuracy {100 * accuracy['crossbar-pcm']:.2f} % "
              f"({run.wall_seconds:.2f} s)")

    t0 = _step("5. energy / latency / accuracy on every target")
    per_target_acc = {}
    float_kinds = backends.get("torch").target_kinds  # targets that run the float model (CPU, GPU)
    for t in targets.available():
        if t in ("loihi", "loihi2"):
            per_target_acc[t] = accuracy["loihi emulator"]
        elif t in accuracy:
            per_target_acc[t] = accuracy[t]
        elif targets.load(t).kind in float_kinds:
            per_target_acc[t] = accuracy["float (torch)"]
    report = build_report(netlist, float_activity, "all", model="digits SpikingMLP 64-128-10 (T=25)",
                          accuracy=per_target_acc, activities=activities, counters=counters)
    report.save(OUT / "report.html")
    report.save(OUT / "report.json")
    print(report.table())
    write_text(OUT / "targets.md", report.markdown())  # README's demo table is pasted from this file
    summary = {
        "float_accuracy": float_acc,
        "accuracy": accuracy,
        "lava_bit_exact": bit_exact,
        "lava_seconds": lava_run.wall_seconds,
        "emulator_seconds_same_samples": emu_small.wall_seconds,
        "loihi_spike_agreement": agreement,
        "targets": {r["target"]: r for r in report.rows()},
        "wall_seconds": time.perf_counter() - t_start,
    }
    write_result(summary, OUT / "summary.json")
    print(f"\nwrote {OUT / 'report.html'}, {OUT / 'report.json'}, {OUT / 'summary.json'} "
          f"(demo took {time.perf_counter() - t_start:.0f} s)")
    print(f"see how a number was computed: neuromap report {path} --target loihi2 --dataset digits --format json, "
          "or Report.explain('loihi2', 'energy')")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
