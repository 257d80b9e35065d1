"""Character LM on ``pydoc_data.topics``: SpikeGPT vs EGRU vs a dense GRU of about the same size.

    python -m experiments.spikegpt_lm [--epochs 4] [--n-embd 64] [--layers 2] [--hidden 168] [--quick]

All three are trained and measured as in ``experiments/egru_lm.py`` (its ``train_lm`` /
``evaluate_bpc``: the position split 90 / 5 / 5 %, truncated BPTT over 64 streams x 50 characters
with the state carried, Adam with cosine decay and gradient clipping; BPC on the test split with
32 streams x 200 characters, state carried). SpikeGPT (``networks/spikegpt.py``; Zhu et al.,
arXiv 2302.13939): binary embedding, ``--layers`` spiking RWKV blocks of ``--n-embd`` channels.
EGRU and GRU: embedding 32, one layer of ``--hidden`` units (EGRU settings of egru_lm.py); the
default hidden size gives the recurrent LMs about SpikeGPT's parameter count.

Then ``--tokens`` test characters are run at batch 1, and each model's activity is counted on its
netlist (``neuromap.energy.collect``): SpikeGPT traced (``nm.trace``) and lowered
(``Graph.lower``), its activity recorded by ``backends.torch`` (whose logits must equal the
module's); EGRU traced the same way (its core on the host's embeddings, as
experiments/egru_spinnaker2.py does); the GRU on the EGRU's layout with its own (dense) outputs. Reported per token: BPC,
activity sparsity of the spiking / event layers (SpikeGPT: its LIF outputs; EGRU: its events; GRU:
none), NeuroBench activation sparsity over all populations, synaptic operations (events and
dense), and energy per token from the cost models: SpiNNaker2 (``hardware/spinnaker2.toml``,
sequential mapping, real-time 1 ms tick, 0.5 V) and an A100 at batch 1 in eager PyTorch
(``hardware/gpu-a100.toml``: kernel launches x busy power).

Writes ``results/spikegpt_lm.json`` and ``results/spikegpt_lm.png`` (training curves).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from torch import nn

import neuromap as nm
from neuromap import backends, targets, train
from neuromap.data import CharCorpus, char_corpus
from neuromap.deploy import records_with_inputs
from neuromap.energy import Options, collect, estimate
from neuromap.energy.report import ALL_TARGETS, build_report
from neuromap.networks.egru import CharLM
from neuromap.networks.spikegpt import SpikeGPTLM
from neuromap.partition import partition

from ._common import RESULTS, setup_threads, write_result
from .egru_lm import evaluate_bpc, train_lm

LN2 = math.log(2.0)
MODELS = ("spikegpt", "egru", "gru")
GPU = ("gpu-a100", Options(batch=1, gpu_mode="eager"))
SPINNAKER2 = ("spinnaker2", Options(realtime=True))


def build(cell: str, vocab: int, cfg: dict) -> nn.Module:
    if cell == "spikegpt":
        return SpikeGPTLM(vocab, n_embd=cfg["n_embd"], n_layer=cfg["layers"], dropout=cfg["dropout"])
    kwargs = {"thr_mean": cfg["thr_mean"], "gamma": cfg["gamma"], "eps": cfg["eps"]} if cell == "egru" else {}
    return CharLM(vocab, hidden_size=cfg["hidden"], embedding_size=cfg["embedding"], cell=cell, **kwargs)


# --- activity on a netlist ----------------------------------------------------------------------------

def spikegpt_records(lm: SpikeGPTLM, ids: torch.Tensor) -> tuple:
    """SpikeGPT on ``ids [T, 1]`` traced, lowered and run on ``backends.torch``: its netlist, the
    records of every population, whether the backend's logits equal the module's, and the mean
    spike rate of the LIF layers."""
    x = lm.encode(ids)
    with torch.no_grad():
        ref = lm.core(x)
    graph = nm.trace(lm.core, x)
    run = backends.get("torch").compile(graph).run(x)  # records every neuron and unit
    equal = bool(torch.equal(run.output, ref))
    net = graph.lower()
    values = records_with_inputs(graph, run, x)
    lif = [p.name for p in net.populations if p.kind == "lif"]
    rate = sum(float((values[n] != 0).float().mean()) for n in lif) / len(lif)
    return net, {p.name: values[p.name] for p in net.populations}, equal, rate


def _gru_as_egru(gru_lm: CharLM) -> CharLM:
    """An EGRU-cell CharLM carrying the GRU's weights (gates reordered r, z, n -> z, r, g): traced, it
    lays the GRU out exactly as the EGRU (same populations and dense gate projections)."""
    rnn = gru_lm.rnn
    clone = CharLM(gru_lm.vocab_size, hidden_size=rnn.hidden_size, embedding_size=rnn.input_size, cell="egru")
    layer = clone.rnn.layers[0]

    def zrg(w: torch.Tensor) -> torch.Tensor:
        r, z, n = w.chunk(3, 0)
        return torch.cat([z, r, n])

    with torch.no_grad():
        for mine, theirs in (("weight_ih", "weight_ih_l0"), ("weight_hh", "weight_hh_l0"), ("bias_ih", "bias_ih_l0"),
                             ("bias_hh", "bias_hh_l0")):
            getattr(layer, mine).copy_(zrg(getattr(rnn, theirs)))
    clone.embedding.load_state_dict(gru_lm.embedding.state_dict())
    clone.decoder.load_state_dict(gru_lm.decoder.state_dict())
    return clone.eval()


def recurrent_records(lm: CharLM, ids: torch.Tensor) -> tuple:
    """The EGRU / GRU LM on ``ids [T, 1]``: the netlist of its traced core (embeddings from the host,
    as experiments/egru_spinnaker2.py does), the records of every population (the GRU's own outputs
    on the EGRU layout) and the fraction of non-zero outputs of the recurrent layer."""
    with torch.no_grad():
        emb = lm.embedding(ids)
        h, _ = lm.rnn.forward_with_state(emb) if lm.cell == "egru" else lm.rnn(emb)
        logits = lm.decoder(h)
    laid = lm if lm.cell == "egru" else _gru_as_egru(lm)
    graph = nm.trace(nn.Sequential(laid.rnn, laid.drop, laid.decoder), emb)
    net = graph.lower()
    layer = next(p.name for p in net.populations if p.kind == "egru")
    records = {graph.inputs[0]: emb, layer: h, graph.outputs[0]: logits}
    return net, records, float((h != 0).float().mean())


def costs_per_token(net, records: dict, tokens: int) -> dict:
    """Synaptic operations, sparsity and SpiNNaker2 / GPU energy per token from the cost models."""
    act = collect(net, records)
    out = {"synops_per_token": sum(act.synops.values()) / tokens,
           "dense_synops_per_token": sum(act.dense_synops.values()) / tokens,
           "activation_sparsity": act.activation_sparsity, "neurons": sum(act.neurons.values()),
           "synapses": sum(p.synapses_dense() for p in net.projections)}
    for key, (name, opt) in (("spinnaker2", SPINNAKER2), ("gpu", GPU)):
        tgt = targets.load(name)
        mapping = partition(net, tgt, method="sequential", activity=act) if targets.kind_of(tgt).partitions else None
        est = estimate(net, act, tgt, mapping, options=opt)
        out[key] = {"target": name, "energy_J_per_token": est.energy_J / tokens,
                    "latency_per_token_s": est.latency_per_step_s, "breakdown_J_per_token":
                        {k: v / tokens for k, v in est.breakdown().items()},
                    "omitted": est.omitted, "notes": est.notes, "lower_bound": est.energy_lower_bound}
        if mapping is not None:
            out[key]["cores"] = mapping.n_cores
    out["gpu_over_spinnaker2"] = out["gpu"]["energy_J_per_token"] / out["spinnaker2"]["energy_J_per_token"]
    # the report on every shipped target (each target's defaults: batch 1, real time, sequential mapping)
    rep = build_report(net, act, ALL_TARGETS, method="sequential")
    out["every_target"] = {name: {"energy_J_per_token": e.energy_J / tokens, "lower_bound": e.energy_lower_bound}
                           for name, e in rep.estimates.items()}
    return out


def measure(cell: str, model: nn.Module, corpus: CharCorpus, tokens: int) -> dict:
    model.eval()
    ids = corpus.test[: tokens].long()[:, None]
    if cell == "spikegpt":
        net, records, equal, rate = spikegpt_records(model, ids)
        row = {"backend_torch_equals_module": equal}
    else:
        net, records, rate = recurrent_records(model, ids)
        row = {}
    row["spiking_activity"] = rate if cell != "gru" else None
    row["spiking_sparsity"] = 1.0 - rate if cell != "gru" else None
    row.update(costs_per_token(net, records, tokens))
    return row


# --- the run --------------------------------------------------------------------------------------------

def plot(curves: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        steps = [r["step"] for r in curve]
        (line,) = ax.plot(steps, [r["valid_bpc"] for r in curve], "-", label=f"{name} valid")
        ax.plot(steps, [r["train_bpc"] for r in curve], "--", color=line.get_color(), alpha=0.6, label=f"{name} train")
    ax.set_xlabel("training step")
    ax.set_ylabel("bits per character")
    ax.set_title("char LM on pydoc_data.topics")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(epochs: float = 4.0, n_embd: int = 64, layers: int = 2, hidden: int = 168, embedding: int = 32,
        lr: float = 1e-2, lr_rnn: float = 6e-3, dropout: float = 0.0, activity_reg: float = 0.05,
        thr_mean: float = 0.01, gamma: float = 3.6, eps: float = 3.6, tokens: int = 1000, seed: int = 0,
        eval_every: int = 50, eval_batches: int | None = 8, models: tuple[str, ...] = MODELS,
        out_dir: Path = RESULTS, name: str = "spikegpt_lm") -> dict:
    setup_threads(1)  # step loops of small ops: one thread is fastest on a shared machine
    corpus = char_corpus()
    cfg = {"epochs": epochs, "n_embd": n_embd, "layers": layers, "hidden": hidden, "embedding": embedding,
           "lr_spikegpt": lr, "lr_rnn": lr_rnn, "dropout": dropout, "activity_reg": activity_reg,
           "thr_mean": thr_mean, "gamma": gamma, "eps": eps, "batch_size": 64, "bptt": 50, "tokens": tokens,
           "seed": seed, "eval_every": eval_every, "eval_batches": eval_batches}
    result: dict = {"experiment": "spikegpt_lm", "config": cfg,
                    "dataset": {"name": corpus.name, "vocab": len(corpus.vocab), "train": corpus.train.numel(),
                                "valid": corpus.valid.numel(), "test": corpus.test.numel()},
                    "models": {}}
    curves = {}
    for cell in models:
        train.set_seed(seed)
        model = build(cell, len(corpus.vocab), cfg)
        params = sum(p.numel() for p in model.parameters())
        print(f"{cell}: {params} parameters")
        t0 = time.perf_counter()
        curve = train_lm(model, corpus, epochs, 64, 50, lr if cell == "spikegpt" else lr_rnn,
                         activity_reg if cell == "egru" else 0.0, eval_every=eval_every, eval_batches=eval_batches)
        wall = time.perf_counter() - t0
        test = evaluate_bpc(model, corpus, "test")
        row = {"parameters": params, "train_seconds": wall, "test_bpc": test["bpc"], "curve": curve}
        row.update(measure(cell, model, corpus, tokens))
        result["models"][cell] = row
        curves[cell] = curve
        print(f"{cell}: test BPC {test['bpc']:.3f}, synops/token {row['synops_per_token']:.4g}, SpiNNaker2 "
              f"{row['spinnaker2']['energy_J_per_token']:.3g} J/token, GPU {row['gpu']['energy_J_per_token']:.3g} "
              f"J/token ({wall:.0f} s)")
    plot(curves, out_dir / f"{name}.png")
    write_result(result, out_dir / f"{name}.json")
    print(table(result))
    return result


def _fmt(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def table(result: dict) -> str:
    """The README table: one row per model (">=" marks an energy the cost model gives as a lower bound)."""
    names = {"spikegpt": "SpikeGPT", "egru": "EGRU", "gru": "GRU"}
    cfg = result["config"]

    def energy(e: dict) -> str:
        where = f" ({e['cores']} PE{'s' if e['cores'] != 1 else ''}, " if "cores" in e else " ("
        return ((">= " if e["lower_bound"] else "") + f"{e['energy_J_per_token']:.3g}" + where
                + f"{1e3 * e['latency_per_token_s']:.3g} ms)")

    lines = ["| model | parameters | test BPC | activity sparsity | activation sparsity (all units) | synops / token "
             "(dense) | SpiNNaker2 J / token (PEs, time / token) | A100 batch-1 J / token (time / token) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for cell in sorted(result["models"], key=lambda c: MODELS.index(c) if c in MODELS else len(MODELS)):
        r = result["models"][cell]
        lines.append(f"| {names.get(cell, cell)} | {r['parameters']:,} | {r['test_bpc']:.3f} | "
                     f"{_fmt(r['spiking_sparsity'], '.3f')} | {r['activation_sparsity']:.3f} | "
                     f"{r['synops_per_token']:,.0f} ({r['dense_synops_per_token']:,.0f}) | "
                     f"{energy(r['spinnaker2'])} | {energy(r['gpu'])} |")
    sg = result["models"].get("spikegpt", {})
    one_pe = all(r["spinnaker2"].get("cores") == 1 for r in result["models"].values())
    notes = [f"{cfg['epochs']:g} epochs each (SpikeGPT {cfg['layers']} blocks x {cfg['n_embd']} channels, lr "
             f"{cfg['lr_spikegpt']:g}; EGRU / GRU {cfg['hidden']} units, lr {cfg['lr_rnn']:g}); costs on "
             f"{cfg['tokens']} test characters at batch 1. SpiNNaker2: sequential mapping, 1 ms real-time tick at 0.5 V"]
    if one_pe:
        notes.append(" (each model fits one PE, whose synaptic events then take longer than the tick, which stretches "
                     "the step: chip baseline power x time dominates)")
    notes.append("; A100: eager PyTorch, kernel launches x busy power")
    if sg.get("gpu", {}).get("lower_bound"):
        notes.append("; SpikeGPT's LayerNorm / token-shift / WKV / gate units are counted as one kernel each (hence >=)")
    if "backend_torch_equals_module" in sg:
        notes.append(f". backends.torch on the traced SpikeGPT equals the module: {sg['backend_torch_equals_module']}")
    lines += ["", "".join(notes) + "."]
    order = [c for c in MODELS if c in result["models"]]
    every = [result["models"][c].get("every_target", {}) for c in order]
    if all(every):
        def cell(e: dict) -> str:
            return (">=" if e["lower_bound"] else "") + format(e["energy_J_per_token"], ".3g")

        per = [f"{t} {' / '.join(cell(e[t]) for e in every)}" for t in sorted(every[0]) if all(t in e for e in every)]
        lines += ["", f"Every shipped target, J / token ({' / '.join(names[c] for c in order)}; each target's cost model "
                  "and defaults; estimates only: no hardware backend runs SpikeGPT's non-spiking units, priced here as "
                  "neuron updates): " + "; ".join(per) + "."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=4.0)
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=168)
    ap.add_argument("--lr", type=float, default=1e-2, help="SpikeGPT learning rate")
    ap.add_argument("--lr-rnn", type=float, default=6e-3, help="EGRU / GRU learning rate (egru_lm.py's)")
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--quick", action="store_true", help="0.1 epoch, 200 tokens (smoke test)")
    args = ap.parse_args()
    if args.quick:
        run(epochs=0.1, n_embd=32, hidden=64, tokens=200, eval_every=5, eval_batches=2, name="spikegpt_lm_quick")
    else:
        run(args.epochs, args.n_embd, args.layers, args.hidden, lr=args.lr, lr_rnn=args.lr_rnn, tokens=args.tokens,
            seed=args.seed, models=tuple(args.models.split(",")))


if __name__ == "__main__":
    main()
