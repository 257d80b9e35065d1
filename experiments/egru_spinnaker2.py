"""The character EGRU LM on the SpiNNaker2 execution model, pruned, next to its GPU / CPU estimate.

    python -m experiments.egru_spinnaker2 [--hidden 192] [--epochs 8] [--finetune 1] [--prune 0.9] [--quick]

1. Train the zoo's ``CharLM(cell="egru")`` on ``pydoc_data.topics`` (experiments/egru_lm.py's loop).
2. Magnitude-prune the recurrent and input weights to ``--prune`` (global per matrix) and fine-tune
   with the mask held fixed (gradual: half the sparsity, fine-tune, full sparsity, fine-tune).
3. Trace the LM's core (EGRU layers + decoder on the host's embeddings: ``neuromap.trace``), compile
   it for the SpiNNaker2 model through the normal path (``backends.spinnaker2``: pruned recurrent
   weights as CSR rows where they are smaller, the graded embedding -> gate matmul on the MAC array,
   the decoder event-driven) and run batch-1 inference on test text in fp32 (must equal the module)
   and s16.15.
4. Report BPC, activity sparsity, PEs / chips, energy and latency per token on SpiNNaker2 (real-time
   1 ms tick, 0.5 V: chip baseline + PE sleep / active power x time) and the same model's batch-1
   A100 (eager and CUDA-graph kernel launches x busy power) and CPU estimates from ``neuromap.energy``.

The paper (Nazeer et al., arXiv 2312.09084; SNUFA 2024 abstract) reports 5-18x less energy than a GPU
for single-batch inference. Writes ``results/egru_spinnaker2.json``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn

from neuromap import backends, targets, train
from neuromap.data import char_corpus
from neuromap.energy import Options, collect, estimate, estimate_run
from neuromap.graph import trace
from neuromap.networks.egru import CharLM

from ._common import RESULTS, setup_threads, write_result
from .egru_lm import evaluate_bpc, train_lm

LN2 = math.log(2.0)


def prune_(model: CharLM, sparsity: float) -> dict[str, torch.Tensor]:
    """Magnitude pruning of every EGRU weight matrix to ``sparsity``; returns the masks."""
    masks = {}
    for k, layer in enumerate(model.rnn.layers):
        for name in ("weight_ih", "weight_hh"):
            w = getattr(layer, name)
            n_zero = int(sparsity * w.numel())
            thr = w.detach().abs().flatten().kthvalue(max(1, n_zero)).values
            m = (w.detach().abs() > thr).float()
            with torch.no_grad():
                w.mul_(m)
            masks[f"{k}.{name}"] = m
    return masks


def hold_masks(model: CharLM, masks: dict[str, torch.Tensor]) -> None:
    """Keep pruned weights at zero during fine-tuning (gradient hook)."""
    for k, layer in enumerate(model.rnn.layers):
        for name in ("weight_ih", "weight_hh"):
            m = masks[f"{k}.{name}"]
            getattr(layer, name).register_hook(lambda g, m=m: g * m)


def _energy_rows(res, net, tokens: int) -> dict:
    """SpiNNaker2 (the run's real-time mode, 0.5 V: baseline + PE sleep / active power x time) and the
    batch-1 conventional baselines per token (one token = one time step)."""
    est = estimate_run(res.compiled, res)
    activity = collect(res.compiled.netlist, res.records)
    row = {"energy_J_per_token": est.energy_J / tokens,
           "energy_breakdown_J_per_token": {k: v / tokens for k, v in est.breakdown().items()},
           "energy_omitted": est.omitted, "energy_notes": est.notes,
           "latency_per_token_s": {"estimate": est.latency_per_step_s,
                                   "backend_realtime": res.timing.latency_per_step_s,
                                   "backend_step_s": float(res.timing.step_s.mean())}}
    base = {}
    for tname, opt in (("gpu-a100", Options(batch=1, gpu_mode="eager")),
                       ("gpu-a100 graph", Options(batch=1, gpu_mode="graph")), ("cpu", None)):
        e = estimate(net, activity, targets.load(tname.split()[0]), options=opt)
        base[tname] = {"energy_J_per_token": e.energy_J / tokens, "latency_per_token_s": e.latency_per_step_s,
                       "omitted": e.omitted}
    row["baselines"] = base
    row["gpu_over_spinnaker2"] = base["gpu-a100"]["energy_J_per_token"] / row["energy_J_per_token"]
    row["gpu_graph_over_spinnaker2"] = base["gpu-a100 graph"]["energy_J_per_token"] / row["energy_J_per_token"]
    return row


def run(hidden: int = 192, embedding: int = 32, epochs: float = 2.0, finetune: float = 0.5, prune: float = 0.9,
        tokens: int = 2000, seed: int = 0, name: str = "egru_spinnaker2") -> dict:
    setup_threads(1)
    train.set_seed(seed)
    corpus = char_corpus()
    model = CharLM(len(corpus.vocab), hidden_size=hidden, embedding_size=embedding, cell="egru", thr_mean=0.05)
    t0 = time.perf_counter()
    train_lm(model, corpus, epochs, 64, 50, 3e-3, 0.02, eval_every=10**9, eval_batches=20)
    dense = evaluate_bpc(model, corpus, "test")
    for frac in (prune / 2, prune):
        masks = prune_(model, frac)
        hold_masks(model, masks)
        train_lm(model, corpus, finetune, 64, 50, 1e-3, 0.02, eval_every=10**9, eval_batches=20)
        prune_(model, frac)  # Adam moments can push masked weights off zero: re-apply
    pruned = evaluate_bpc(model, corpus, "test")
    train_s = time.perf_counter() - t0
    model.eval()
    # batch-1 inference of `tokens` test characters on the chip model
    ids = corpus.test[: tokens + 1].long()
    x, y = ids[:-1, None], ids[1:]
    with torch.no_grad():
        ref = model(x)
        emb = model.embedding(x)
    # the LM's core (EGRU layers + decoder) on the host's embeddings, traced: the normal path
    graph = trace(nn.Sequential(model.rnn, model.drop, model.decoder), emb)
    layers = [f"0.{k}" for k in range(len(model.rnn.layers))]  # the EGRU populations' names
    be = backends.get("spinnaker2")
    out: dict = {"experiment": name, "config": {"hidden": hidden, "embedding": embedding, "epochs": epochs,
                                                 "finetune_epochs_per_stage": finetune, "prune": prune,
                                                 "tokens": tokens, "seed": seed},
                 "train_seconds": train_s, "dense_test": dense, "pruned_test": pruned}
    for numerics in ("fp32", "s16.15"):
        c = be.compile(graph, numerics=numerics, mode="realtime")
        res = c.run(emb)
        logits = res.output[:, 0]
        bpc = float(nn.functional.cross_entropy(logits, y)) / LN2
        events = [res.records[n] for n in layers]
        act = sum(float((e != 0).float().mean()) for e in events) / len(events)
        row = {"bpc": bpc, "activity_sparsity": 1 - act, "pes": c.mapping.n_cores,
               "chips": int(c.mapping.metrics.get("chips") or 1), "summary": res.summary()}
        if numerics == "fp32":
            row["equals_module"] = bool(torch.equal(res.output, ref))
            row.update(_energy_rows(res, c.netlist, tokens))
        out[numerics] = row
    r = out["fp32"]
    lo, hi = targets.load("spinnaker2").get("validation.egru_lm_vs_gpu_energy_ratio")
    out["paper_claim"] = "5-18x less energy than a GPU at batch 1 (Nazeer et al., SNUFA 2024 abstract)"
    out["reproduces_range"] = bool(lo <= r["gpu_over_spinnaker2"] <= hi)
    write_result(out, RESULTS / f"{name}.json")
    print({k: v for k, v in r.items() if k not in ("summary",)})
    print(f"dense BPC {dense['bpc']:.3f} -> pruned {pruned['bpc']:.3f}; chip fp32 BPC {r['bpc']:.3f}, "
          f"s16.15 BPC {out['s16.15']['bpc']:.3f}; energy per token: SpiNNaker2 "
          f"{r['energy_J_per_token']:.3g} J, A100 eager {r['baselines']['gpu-a100']['energy_J_per_token']:.3g} J "
          f"-> GPU/SpiNNaker2 {r['gpu_over_spinnaker2']:.3g}x")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--epochs", type=float, default=8.0)
    ap.add_argument("--finetune", type=float, default=1.0)
    ap.add_argument("--prune", type=float, default=0.9)
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="hidden 128, 0.3 + 2 x 0.1 epochs, 500 tokens")
    args = ap.parse_args()
    if args.quick:
        run(hidden=128, epochs=0.3, finetune=0.1, prune=args.prune, tokens=500, name="egru_spinnaker2_quick")
    else:
        run(args.hidden, epochs=args.epochs, finetune=args.finetune, prune=args.prune, tokens=args.tokens)


if __name__ == "__main__":
    main()
