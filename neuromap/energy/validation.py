"""``validate()``: published measurements re-created with the cost models and compared.

Each case builds the published workload from the paper's description (network sizes, time steps,
batch), runs it through :func:`neuromap.energy.estimate` with the shipped targets and puts the
model's figure next to the published one. Nothing is fitted to a case: where the paper does not say
something the model needs (a firing rate, the execution mode), the case states the assumption in its
note. A case that misses its factor stays in the table, marked ``within = False``, with the reason.

    rows = validate()                       # list of dicts, also written to results/validation.json
    print(format_table(rows))

Row schema (``ROW_KEYS``): ``case, quantity, published, modelled, ratio (modelled / published),
factor (the case's tolerance: within when 1/factor <= ratio <= factor), within, unit, note``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from neuromap import targets
from neuromap.atomic import write_text
from neuromap.estimate import Estimate, Options
from neuromap.netlist import Netlist, Population, Projection

from .activity import Activity, collect
from .estimates import estimate, spike_driven_transformer_energy

ROW_KEYS = ("case", "quantity", "published", "modelled", "ratio", "factor", "within", "unit", "note")
DEFAULT_PATH = Path("results") / "validation.json"
EXACT = 1.0 + 1e-9  # the factor of a case that must match to rounding


def row(case: str, quantity: str, published: float, modelled: float, factor: float, unit: str, note: str) -> dict:
    """One comparison; ``within`` when ``1/factor <= modelled/published <= factor``."""
    ratio = modelled / published
    return {"case": case, "quantity": quantity, "published": float(published), "modelled": float(modelled),
            "ratio": float(ratio), "factor": float(factor), "within": bool(1.0 / factor <= ratio <= factor),
            "unit": unit, "note": note}


# --- workloads -----------------------------------------------------------------------------------

def _events(rng: np.random.Generator, steps: int, n: int, rate: float, graded: bool = False) -> torch.Tensor:
    """``[steps, 1, n]`` events at ``rate`` per unit and step (graded: the value of the event, in (0, 1])."""
    on = rng.random((steps, 1, n)) < rate
    values = rng.uniform(0.05, 1.0, (steps, 1, n)) if graded else np.ones((steps, 1, n))
    return torch.as_tensor(np.where(on, values, 0.0), dtype=torch.float32)


def _mlp(name: str, sizes: list[int], kind: str) -> Netlist:
    net = Netlist(name)
    net.add_population(Population("in", "input", (sizes[0],)))
    rng = np.random.default_rng(0)
    prev = "in"
    for k, n in enumerate(sizes[1:]):
        pop = f"l{k + 1}"
        hidden = k < len(sizes) - 2
        net.add_population(Population(pop, kind if hidden else "identity", (n,),
                                      {"reset": "zero"} if hidden else None, hidden))
        net.add_projection(Projection(f"{prev}->{pop}", prev, pop, "dense", weight=rng.normal(size=(n, sizes[k]))))
        prev = pop
    return net


def _egru_lm(hidden: tuple[int, ...], embedding: int, density: float) -> Netlist:
    """Three EGRU layers with pruned (``density`` kept) CSR weights per gate, laid out as the traced
    ``CharLM`` core lowers them (one projection per gate and role); the decoder is left out (see the
    case note)."""
    net = Netlist("egru_lm")
    net.add_population(Population("embedding", "input", (embedding,), {}, False))
    rng = np.random.default_rng(0)
    src = "embedding"
    for k, h in enumerate(hidden):
        name = f"egru{k}"
        net.add_population(Population(name, "egru", (h,), {}, False))
        for role, s in (("input", src), ("recurrent", name)):
            n_src = embedding if s == "embedding" else (hidden[k - 1] if s != name else h)
            for gate in "zrg":
                w = sp.random(h, n_src, density=density, format="csr", random_state=rng, dtype=np.float32)
                net.add_projection(Projection(f"{s}->{name}/{role}/{gate}", s, name, "sparse", weight=w))
        src = name
    return net


def _run(net: Netlist, records: dict[str, torch.Tensor]) -> Activity:
    return collect(net, records)


def _est(net: Netlist, act: Activity, target: str, options: Options | None = None) -> Estimate:
    from neuromap.partition import partition

    tgt = targets.load(target)
    mapping = partition(net, tgt, method="sequential", activity=act) if targets.kind_of(tgt).partitions else None
    return estimate(net, act, tgt, mapping, options=options)


# --- cases ---------------------------------------------------------------------------------------

def case_nazeer_2024() -> list[dict]:
    """Nazeer et al. 2024 (Language Modeling on a SpiNNaker2 Neuromorphic Chip, AICAS 2024, arXiv
    2312.09084): about 65 mJ on SpiNNaker2 vs 1.19 J on an A100, 18x (read through a transcription, M);
    the SNUFA 2024 abstract says 5-18x for batch-1 inference (H)."""
    hidden, emb, density, activity_rate, tokens = (1350, 1350, 750), 750, 0.05, 0.25, 20
    net = _egru_lm(hidden, emb, density)
    rng = np.random.default_rng(1)
    rec = {"embedding": _events(rng, tokens, emb, 1.0, graded=True)}
    rec.update({f"egru{k}": _events(rng, tokens, h, activity_rate, graded=True) for k, h in enumerate(hidden)})
    act = _run(net, rec)
    s2 = _est(net, act, "spinnaker2", Options(realtime=True))
    gpu = _est(net, act, "gpu-a100", Options(batch=1, gpu_mode="eager"))
    ratio = gpu.energy_per_inference_J / s2.energy_per_inference_J
    note = (f"3 EGRU layers {hidden}, embedding {emb} (EGRU WikiText-2 configuration, Subramoney et al. ICLR 2023), "
            f"95 % of weights pruned (Nazeer 2024), activity 25 % (EGRU LM papers report 70-80 % activity "
            f"sparsity; assumed), batch 1, {tokens} tokens, decoder left out on both sides; SpiNNaker2 in real-time "
            f"mode (1 ms per token, 0.5 V), A100 eager PyTorch ({gpu.resources['kernels_per_step']} kernels per "
            f"token). Model: GPU {gpu.energy_per_inference_J / tokens:.3g} J and {gpu.latency_per_step_s:.3g} s per "
            f"token, SpiNNaker2 {s2.energy_per_inference_J / tokens:.3g} J and {s2.latency_per_step_s:.3g} s per token "
            f"on {s2.resources['pes_used']} PEs (sequential mapping; the busiest PE overruns the tick when its events "
            f"take longer), so SpiNNaker2 is {s2.latency_per_step_s / gpu.latency_per_step_s:.3g}x slower (paper: "
            "about 8x).")
    r = row("Nazeer 2024 EGRU LM", "A100 / SpiNNaker2 energy ratio", 1.19 / 0.065, ratio, 2.0, "1", note)
    if not r["within"]:
        p_s2 = s2.energy_per_inference_J / (s2.latency_per_step_s * tokens)
        r["note"] += (f" Miss, driven by the power ratio: the model's GPU draws 120 W (p_busy) and its SpiNNaker2 "
                      f"{p_s2:.3g} W (chip baseline + PE sleep / active power at 0.5 V, Scholze 2026); the paper's "
                      "18x energy at 8x the time implies a power ratio of about 144, not "
                      f"{120.0 / p_s2:.3g}. Its per-token unit, SpiNNaker2 operating point and board-level power "
                      "accounting were not read, so the gap cannot be attributed further.")
    return [r]


def case_blouw_2019() -> list[dict]:
    """Blouw et al. 2019 (Benchmarking keyword spotting efficiency on neuromorphic hardware, NICE 2019,
    arXiv 1812.01739), table: dynamic energy per inference Loihi 0.27 mJ (0.081 W / 296 inf/s), CPU
    6.3 mJ (11.47 W / 1813.63), GPU 29.8 mJ (22.86 W / 770.39)."""
    sizes, steps, rate = [390, 256, 256, 29], 10, 0.1
    net = _mlp("kws", sizes, "lif")
    rng = np.random.default_rng(2)
    rec = {"in": _events(rng, steps, 390, rate)}
    rec.update({"l1": _events(rng, steps, 256, rate), "l2": _events(rng, steps, 256, rate),
                "l3": torch.as_tensor(rng.normal(size=(steps, 1, 29)), dtype=torch.float32)})
    act = _run(net, rec)
    base = (f"390-256-256-29 network (nengo-loihi keyword-spotting example: n_inputs 390, n_neurons 256, "
            f"n_outputs 29), {steps} steps per inference (its p_time = 10), firing rate {rate} per neuron per step "
            "(not reported; assumed), batch 1.")
    loihi = _est(net, act, "loihi")
    dyn = sum(t.result for t in loihi.energy_terms if t.name != "static power") / act.samples
    rows = [row("Blouw 2019 keyword spotting", "Loihi dynamic energy per inference", 0.081 / 296.0, dyn, 2.0, "J",
                base + " Modelled: synops, neuron updates, spikes, hops (Davies 2018 Table 2), static power excluded "
                "as in the paper's dynamic figure.")]
    if not rows[0]["within"]:
        rows[0]["note"] += (f" Miss: the model's Loihi step takes {loihi.latency_per_step_s:.3g} s of core work, "
                            "the paper's inference 3.4 ms: its dynamic power includes the embedded x86 / host I/O "
                            "that feed inputs and read outputs every step, which the per-op figures do not price.")
    rows.append(row("Blouw 2019 keyword spotting", "Loihi time per inference", 1.0 / 296.0,
                    loihi.latency_per_inference_s, 2.0, "s",
                    base + " Modelled: the busiest core's synops and updates, hops and the barrier of the tiles "
                    "spanned (Davies 2018 Table 2), 10 steps."))
    if not rows[-1]["within"]:
        rows[-1]["note"] += " Miss: as above, the measured 296 inferences/s include host I/O every step."
    cpu = _est(net, act, "cpu")
    rows.append(row("Blouw 2019 keyword spotting", "CPU energy per inference", 11.47 / 1813.63,
                    cpu.energy_per_inference_J, 2.0, "J",
                    base + " Modelled: 8.6 nJ per synapse-step and per neuron-step (Degnan et al. 2016 via "
                    "keras-spiking), every synapse every step; the paper's CPU is not the i7-4960X of that figure."))
    h100 = targets.load("gpu-h100")
    gpu = _est(net, act, "gpu-h100")
    p_busy, p_idle = float(np.mean(h100.get("energy.p_busy"))), float(h100.get("energy.p_idle"))
    gpu_dyn = gpu.energy_per_inference_J * (p_busy - p_idle) / p_busy
    rows.append(row("Blouw 2019 keyword spotting", "GPU dynamic energy per inference", 22.86 / 770.39, gpu_dyn, 2.0,
                    "J", base + f" Modelled: gpu-h100 eager, {gpu.resources['kernels_per_step']} kernels per step x "
                    f"9 us, dynamic power = busy - idle = {p_busy - p_idle:g} W (H200 measurement); the paper's GPU "
                    "and its software (Nengo DL / TensorFlow) differ, so this checks the launch-bound form only."))
    drivers = ("8.6 nJ per synaptic op (Degnan et al. 2016, a 2013 i7-4960X) x every synapse of all 10 steps",
               "9 us per eager op (H200 PyTorch measurement) x 42 W dynamic; Nengo DL on the paper's GPU may fuse or "
               "batch the steps")
    for r, why in zip(rows[2:], drivers):
        if not r["within"]:
            r["note"] += f" Miss, driven by {why}; the paper's device and software differ (see above)."
    return rows


def case_hermes() -> list[dict]:
    """HERMES (Le Gallo et al. 2023, Nat. Electron.; Khaddam-Aljameh et al. 2022): 63.1 TOPS at
    9.76 TOPS/W (1-phase, 8-bit I/O), 64 cores of 256x256."""
    net = Netlist("hermes_core")
    net.add_population(Population("in", "input", (256,), {}, False))
    net.add_population(Population("out", "identity", (256,), {}, False))
    net.add_projection(Projection("in->out", "in", "out", "dense", weight=np.ones((256, 256))))
    rng = np.random.default_rng(3)
    x = torch.as_tensor(rng.uniform(0.1, 1.0, (1, 1, 256)), dtype=torch.float32)
    act = _run(net, {"in": x, "out": x})
    est = _est(net, act, "crossbar-pcm")
    reads = est.resources["tile_reads"]
    e_mvm = est.energy_J / reads
    ops = 2 * 256 * 256
    tgt = targets.load("crossbar-pcm")
    tops = int(tgt.get("tile.tiles_per_chip")) * ops / est.latency_per_step_s
    note = ("one full 256x256 layer, one real-valued input vector, through the crossbar cost model; the published "
            "energy per core MVM is derived from the paper's 9.76 TOPS/W, the same figure the target uses, so this "
            "checks that no converter energy is added on top and that a core is priced whole")
    return [row("HERMES", "energy per core MVM", ops / 9.76e12, e_mvm, 1.5, "J", note),
            row("HERMES", "TOPS/W", 9.76, ops / e_mvm / 1e12, 1.5, "TOPS/W", note),
            row("HERMES", "TOPS (64 cores)", 63.1, tops / 1e12, 1.5, "TOPS",
                "64 cores x one 256x256 MVM per t_mvm (133 ns, derived from the same 63.1 TOPS)")]


def case_sdt_formula() -> list[dict]:
    """The Spike-driven Transformer papers' formula (Yao et al. NeurIPS 2023 / ICLR 2024) vs the
    ``sdt-45nm`` target on the same counts: must match exactly."""
    net = Netlist("sdt_toy")
    net.add_population(Population("in", "input", (16,), {}, False))
    net.add_population(Population("h", "lif", (32,)))
    net.add_population(Population("o", "lif", (8,)))
    rng = np.random.default_rng(4)
    net.add_projection(Projection("in->h", "in", "h", "dense", weight=rng.normal(size=(32, 16)) + 5.0))
    net.add_projection(Projection("h->o", "h", "o", "dense", weight=rng.normal(size=(8, 32)) + 5.0))
    T, B = 4, 3
    x = torch.as_tensor(rng.uniform(0.5, 1.0, (T, B, 16)), dtype=torch.float32)  # real-valued: MACs
    h = torch.as_tensor((rng.random((T, B, 32)) < 0.2).astype(np.float32))
    o = torch.as_tensor((rng.random((T, B, 8)) < 0.1).astype(np.float32))
    act = _run(net, {"in": x, "h": h, "o": o})
    est = _est(net, act, "sdt-45nm")
    rate_h = act.spikes["h"] / (32 * T * B)
    formula = spike_driven_transformer_energy(act.macs["in->h"] / B, {"h->o": 32 * 8}, {"h->o": rate_h}, T)
    return [row("Spike-driven Transformer formula", "energy per inference", formula, est.energy_per_inference_J, EXACT,
                "J", "E = 4.6 pJ x MACs(first layer) + 0.9 pJ x T x rate x FLOPs, against the sdt-45nm target on the "
                "same counts (exact)")]


CASES: dict[str, Callable[[], list[dict]]] = {
    "nazeer2024": case_nazeer_2024,
    "blouw2019": case_blouw_2019,
    "hermes": case_hermes,
    "sdt": case_sdt_formula,
}


def validate(path: str | os.PathLike | None = DEFAULT_PATH, cases: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the cases (all by default), write the rows to ``path`` atomically (None: do not write)."""
    names = list(CASES) if cases is None else cases
    unknown = [c for c in names if c not in CASES]
    if unknown:
        raise ValueError(f"unknown validation case(s) {unknown}; known: {list(CASES)}")
    rows = [r for name in names for r in CASES[name]()]
    if path is not None:
        write_rows(rows, path)
    return rows


def write_rows(rows: list[dict], path: str | os.PathLike) -> Path:
    """``{"schema": ..., "rows": [...]}`` as JSON, atomically (:func:`neuromap.atomic.write_text`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"schema": list(ROW_KEYS), "rows": rows}
    return write_text(path, json.dumps(doc, indent=2) + "\n")


def format_table(rows: list[dict]) -> str:
    """The rows as a fixed-width table (notes below it)."""
    head = f"{'case':<33}{'quantity':<36}{'published':>11}{'modelled':>11}{'ratio':>9}{'factor':>8}  within"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['case']:<33}{r['quantity']:<36}{r['published']:>11.4g}{r['modelled']:>11.4g}"
                     f"{r['ratio']:>9.3g}{r['factor']:>8.3g}  {'yes' if r['within'] else 'NO'}")
    lines.append("")
    lines += [f"[{k + 1}] {r['case']} / {r['quantity']}: {r['note']}" for k, r in enumerate(rows)]
    return "\n".join(lines)
