"""Write the tutorial notebooks (``notebooks/*.ipynb``) from the cell lists below.

    python notebooks/_build.py            # (re)write every notebook, without outputs
    python notebooks/_build.py --check    # exit 1 if a notebook differs from what this file builds

The notebooks are generated so that their source stays reviewable as Python and their JSON never
carries outputs. Edit the cells here, then rebuild. ``tests/test_notebooks.py`` executes every
notebook top to bottom (with ``NEUROMAP_NOTEBOOK_SHORT=1``) and checks that this file and the
``.ipynb`` files agree.

Each cell is ``md(...)`` (markdown) or ``code(...)``; the text is dedented and stripped.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3"}


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip())


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip())


SETUP_NOTE = """
    `SHORT` is true when the environment variable `NEUROMAP_NOTEBOOK_SHORT=1` is set (the test suite
    does this): the notebook then trains for fewer epochs and on fewer samples, so it finishes in
    seconds while still showing the same behaviour. Unset it for the full run.
"""

# -------------------------------------------------------------------------------------------------
# 01: neurons, surrogates, training, raster plots
# -------------------------------------------------------------------------------------------------
NB01 = [
    md("""
    # 01 — Spiking neurons, surrogate gradients and training

    This notebook builds up a spiking network from its parts:

    1. the **LIF** and **current-based LIF (CuBa)** neurons, their parameters in physical units and
       their one discretisation;
    2. **surrogate gradients** — how a network whose forward pass is a step function is trained
       with backpropagation;
    3. **training** a spiking MLP on scikit-learn's 8x8 digits (shipped with scikit-learn, no
       download), rate-coded as spikes;
    4. **raster plots** of input, hidden and output spikes.

    Conventions used throughout neuromap: tensors are **time-major** `[T, B, ...]` (time steps,
    batch, neurons); times are in **seconds**; membrane potentials are in arbitrary units with the
    threshold usually at 1.
    """),
    md(SETUP_NOTE),
    code("""
    import os

    import matplotlib.pyplot as plt
    import torch

    from neuromap import data, train
    from neuromap.networks import SpikingMLP
    from neuromap.neurons import LIF, SURROGATES, CubaLIF, CubaLIFParams, LIFParams

    SHORT = os.environ.get("NEUROMAP_NOTEBOOK_SHORT") == "1"
    EPOCHS = 5 if SHORT else 30             # main training run
    EPOCHS_COMPARE = 3 if SHORT else 10     # per surrogate in the comparison
    torch.manual_seed(0)
    print(f"short run: {SHORT}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    """),
    md("""
    ## 1. The LIF neuron

    `LIFParams` holds a neuron in physical units. Per time step of length `dt`, with input `x[t]`:

    ```
    h[t] = beta * v[t-1] + (1 - beta) * v_leak + g * x[t]      beta = exp(-dt / tau_mem)
    s[t] = h[t] > v_th                                          (">=" with threshold_rule=">=")
    v[t] = h[t] - v_th * s[t]     reset="subtract"
         = v_reset if s[t] else h[t]                            reset="zero"
         = h[t]                   reset="none"
    ```

    `beta` is the fraction of the membrane potential kept from one step to the next; `g` is 1
    (snnTorch's `V = beta V + X`) or `1 - beta` with `decay_input=True` (the `V += (X - V)/tau` form of
    SpikingJelly / Norse / Brian2). The same dataclass feeds every backend (float torch, Loihi fixed
    point, Lava, SpiNNaker2, Brian2), so this discretisation is written down exactly once.
    """),
    code("""
    p = LIFParams(tau_mem=20e-3, dt=1e-3, v_th=1.0, reset="subtract")
    print(p)
    print(f"beta = exp(-dt/tau_mem) = {p.beta:.5f} per step, input gain g = {p.input_gain}")
    print(f"from a per-step decay: {LIFParams.from_decay(0.9)}")
    """),
    md("""
    Drive one neuron with a constant input per step and look at the three reset modes. The
    membrane shown is `v[t]`, i.e. after the reset; spikes are drawn as ticks above the threshold
    (dashed). With `reset="none"` the neuron keeps integrating towards its steady state
    `g x / (1 - beta)` and fires on every step once above threshold.
    """),
    code("""
    T = 100
    x = torch.full((T, 1, 1), 0.08)        # [T, B=1, neurons=1]: 0.08 per step
    fig, axes = plt.subplots(3, 1, figsize=(9, 6), sharex=True)
    for ax, reset in zip(axes, ["subtract", "zero", "none"]):
        out = LIF(p.replace(reset=reset)).simulate(x)
        v, s = out.membrane[:, 0, 0], out.spikes[:, 0, 0]
        ax.plot(v.numpy(), label="membrane v[t]")
        ax.vlines(torch.nonzero(s).flatten().numpy(), 1.05, 1.35, color="k", label="spike")
        ax.axhline(p.v_th, ls="--", color="gray", lw=0.8)
        ax.set_ylabel(f"reset={reset!r}")
        ax.set_title(f"{int(s.sum())} spikes in {T} steps", fontsize=9, loc="right")
    axes[0].legend(loc="lower right", fontsize=8)
    axes[-1].set_xlabel("time step (dt = 1 ms)")
    fig.tight_layout()
    """),
    md("""
    Without reset the update is linear, so it has a closed form:
    `v[t] = g x (1 - beta^(t+1)) / (1 - beta)` for a constant input `x` from step 0. The difference
    printed below is the float32 rounding of the fused kernel against that formula.
    """),
    code("""
    out = LIF(p.replace(reset="none", v_th=1e9)).simulate(x)
    t = torch.arange(T, dtype=torch.float64)
    closed = p.input_gain * 0.08 * (1 - p.beta ** (t + 1)) / (1 - p.beta)
    print(f"max |simulated - closed form| = {float((out.membrane[:, 0, 0].double() - closed).abs().max()):.2e}")
    """),
    md("""
    ## 2. Current-based LIF (CuBa)

    A CuBa neuron first low-pass filters its input into a synaptic current, then integrates that
    current into the membrane (Norse / snnTorch order):

    ```
    i[t] = alpha * i[t-1] + x[t]                 alpha = exp(-dt / tau_syn)
    h[t] = beta * v[t-1] + (1 - beta) * v_leak + g * i[t]
    ```

    Below: the response to a single input spike at step 5 (threshold set out of reach, so this is
    the post-synaptic potential). The LIF membrane jumps and decays; the CuBa membrane rises over a
    few `tau_syn` and decays more slowly — its peak time is set by both time constants.
    """),
    code("""
    pulse = torch.zeros(60, 1, 1)
    pulse[5] = 1.0
    lif = LIF(LIFParams(tau_mem=20e-3, v_th=1e9, reset="none"))
    cuba = CubaLIF(CubaLIFParams(tau_mem=20e-3, tau_syn=5e-3, v_th=1e9, reset="none"))
    print(f"CuBa: alpha = {cuba.params.alpha:.4f}, beta = {cuba.params.beta:.4f}")
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.plot(lif.simulate(pulse).membrane[:, 0, 0].numpy(), label="LIF (tau_mem 20 ms)")
    ax.plot(cuba.simulate(pulse).membrane[:, 0, 0].numpy(), label="CuBa (tau_mem 20 ms, tau_syn 5 ms)")
    ax.set_xlabel("time step (ms)")
    ax.set_ylabel("membrane")
    ax.legend()
    fig.tight_layout()
    """),
    md("""
    ## 3. Surrogate gradients

    The spike `s = H(h - v_th)` has zero derivative almost everywhere, so plain backpropagation
    passes nothing through it. Surrogate-gradient training keeps the Heaviside step in the forward
    pass and replaces its derivative in the backward pass with a smooth bump of
    `x = h - v_th`. Each surrogate has a `slope` (sharpness); the defaults follow the library each
    one comes from (SuperSpike / snnTorch `fast_sigmoid`, snnTorch `atan`, SpikingJelly `sigmoid`,
    EGRU `triangle`).
    """),
    code("""
    from neuromap.neurons import Surrogate

    xs = torch.linspace(-1.5, 1.5, 601)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, (_fn, slope) in SURROGATES.items():
        ax.plot(xs.numpy(), Surrogate(name).grad(xs).numpy(), label=f"{name} (slope {slope:g})")
    ax.set_xlabel("h - v_th")
    ax.set_ylabel("dS/dh used in backward")
    ax.set_ylim(0, 1.6)
    ax.legend(fontsize=8)
    fig.tight_layout()
    """),
    md("""
    The gradient reaches the input through the spikes: here the number of spikes a neuron emits in
    100 steps is differentiated with respect to its (constant) input weight. The forward pass — and
    so the spike count — is the same for every surrogate; only the gradient differs.
    """),
    code("""
    for name in ["fast_sigmoid", "atan", "sigmoid", "triangle"]:
        w = torch.tensor(0.08, requires_grad=True)
        count = LIF(p, surrogate=name)(w * torch.ones(T, 1, 1)).sum()
        count.backward()
        print(f"{name:>13}: spikes {int(count):3d}, d(spike count)/dw = {float(w.grad):8.2f}")
    """),
    md("""
    ## 4. Data: digits as spikes

    `data.digits(encoding="rate", steps=25)` turns each 8x8 image (pixel values 0..16) into 25 steps
    of Bernoulli spikes on 64 input channels, spiking with probability `pixel / 16` per step. The
    split is stratified, 75 % train / 25 % test, deterministic under `seed`. `x_train` is stored
    sample-major `[N, T, 64]`; `batches()` yields time-major `[T, B, 64]`.
    """),
    code("""
    digits = data.digits(encoding="rate", steps=25, seed=0)
    print(digits)
    sample = digits.x_test[0]                              # [T, 64]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": [1, 3]})
    a0.imshow(sample.mean(0).reshape(8, 8).numpy(), cmap="gray_r")
    a0.set_title(f"label {int(digits.y_test[0])}: spike rate per pixel", fontsize=9)
    a0.axis("off")
    t_idx, ch = torch.nonzero(sample, as_tuple=True)
    a1.scatter(t_idx.numpy(), ch.numpy(), s=4, c="k")
    a1.set_xlabel("time step")
    a1.set_ylabel("input channel (pixel)")
    a1.set_title(f"input raster: {int(sample.sum())} spikes", fontsize=9)
    fig.tight_layout()
    """),
    md("""
    ## 5. Train a spiking MLP

    `SpikingMLP(64, [128], 10)` is `Linear -> LIF -> Linear -> LIF`. The neurons here reset to zero
    and spike on `v > v_th` — Loihi's convention, so the same model can be deployed on Loihi in
    notebook 03. The loss is cross-entropy on the **output spike counts** (`loss="count_ce"`, the
    default): the predicted class is the output neuron that spikes most. `train.fit` uses Adam and
    returns a per-epoch history; `test_spikes_per_sample` counts the spikes of all spiking layers
    for one test sample (all 25 steps).
    """),
    code("""
    train.set_seed(0)
    model = SpikingMLP(64, [128], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    print(model)
    history = train.fit(model, digits, epochs=EPOCHS, lr=2e-3, progress=False)
    for row in history.epochs:
        print({k: round(v, 4) for k, v in row.items()})
    """),
    code("""
    ep = history["epoch"]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3))
    a0.plot(ep, history["loss"], "o-", label="train")
    a0.plot(ep, history["test_loss"], "s--", label="test")
    a0.set_xlabel("epoch")
    a0.set_ylabel("spike-count cross-entropy")
    a0.legend()
    a1.plot(ep, history["train_acc"], "o-", label="train")
    a1.plot(ep, history["test_acc"], "s--", label="test")
    a1.set_xlabel("epoch")
    a1.set_ylabel("accuracy")
    a1.set_ylim(0, 1)
    a1.legend()
    fig.tight_layout()
    metrics = train.evaluate(model, digits)
    print("test:", {k: round(v, 4) for k, v in metrics.items()})
    """),
    md("""
    ## 6. Raster plots

    Run one test sample through the trained network layer by layer and plot every spike: input
    (64 channels), hidden (128 LIF) and output (10 LIF, one per class). The prediction is the output
    neuron with most spikes.
    """),
    code("""
    x1 = digits.x_test[:1].transpose(0, 1)                 # [T, 1, 64]
    with torch.no_grad():
        hidden = model[1](model[0](x1))
        output = model[3](model[2](hidden))
    counts = output[:, 0].sum(0)
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True, gridspec_kw={"height_ratios": [2, 3, 1.2]})
    for ax, (name, s) in zip(axes, [("input", x1), ("hidden", hidden), ("output", output)]):
        t_idx, n_idx = torch.nonzero(s[:, 0], as_tuple=True)
        ax.scatter(t_idx.numpy(), n_idx.numpy(), s=5, c="k")
        ax.set_ylabel(f"{name} neuron")
        rate = float(s.mean())
        ax.set_title(f"{name}: {int(s.sum())} spikes, {rate:.3f} spikes/neuron/step", fontsize=9, loc="right")
    axes[-1].set_yticks(range(10))
    axes[-1].set_xlabel("time step")
    print(f"label {int(digits.y_test[0])}, output spike counts {counts.int().tolist()} -> predicted {int(counts.argmax())}")
    fig.tight_layout()
    """),
    md("""
    Firing rates over the whole test set: the histogram shows, per hidden neuron, the mean number of
    spikes per step (0 = silent, 1 = fires on every step). Silent neurons cost nothing on
    event-driven hardware but also contribute nothing.
    """),
    code("""
    with torch.no_grad():
        xt = digits.x_test.transpose(0, 1)
        rates = model[1](model[0](xt)).mean((0, 1))
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(rates.numpy(), bins=30)
    ax.set_xlabel("hidden firing rate (spikes / neuron / step)")
    ax.set_ylabel("neurons")
    fig.tight_layout()
    print(f"silent hidden neurons: {int((rates == 0).sum())} of {rates.numel()}; mean rate {float(rates.mean()):.3f}")
    """),
    md("""
    ## 7. Does the surrogate matter?

    The same network trained from the same seed with three surrogates (fewer epochs each). The
    surrogate's shape and slope change the gradient, and so the trajectory and the activity level.
    """),
    code("""
    results = {}
    for name in ["fast_sigmoid", "atan", "triangle"]:
        train.set_seed(0)
        m = SpikingMLP(64, [128], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"), surrogate=name)
        h = train.fit(m, digits, epochs=EPOCHS_COMPARE, lr=2e-3, progress=False)
        results[name] = h.last
        print(f"{name:>13}: test accuracy {h.last['test_acc']:.3f}, spikes/sample {h.last['test_spikes_per_sample']:.0f}")
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(list(results), [r["test_acc"] for r in results.values()])
    ax.set_ylabel(f"test accuracy after {EPOCHS_COMPARE} epoch(s)")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    """),
    md("""
    **Next:** notebook 02 runs the model zoo (spike-driven transformer, spiking LMU, EGRU, LSM);
    notebook 03 deploys a network like this one on Loihi's fixed-point arithmetic through Lava.
    """),
]

# -------------------------------------------------------------------------------------------------
# 02: model zoo
# -------------------------------------------------------------------------------------------------
NB02 = [
    md("""
    # 02 — The model zoo: spike-driven transformer, spiking LMU, EGRU, LSM

    neuromap's zoo (`neuromap.networks`) holds re-implementations of recent spiking architectures,
    all time-major `[T, B, ...]` and built from neuromap's one LIF definition (through presets that
    reproduce the reference code's conventions). Each section trains or runs one of them on digits:

    | section | model | input |
    |---|---|---|
    | 1 | Spike-driven Transformer V1 (`.tiny()`), Meta-SpikeFormer | 8x8 image, its pixels repeated for T = 4 steps |
    | 2 | Spiking LMUFormer (`LMUFormer(spiking=True)`), L2MU | one image row (8 pixels) per step, T = 8 |
    | 3 | EGRU (event-based GRU) | one image row per step, T = 8 |
    | 4 | Liquid state machine (fixed LIF reservoir + trained readout) | column-scanned spikes, T = 40 |

    Training uses `neuromap.train.fit`; these models output logits per step and are trained on the
    mean over time (`loss="membrane_ce"`). Accuracies depend on the number of epochs: the short run
    (see below) trains each model for a few epochs only.
    """),
    md(SETUP_NOTE),
    code("""
    import os

    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from torch import nn

    from neuromap import data, train
    from neuromap.audit import spike_driven_audit
    from neuromap.networks import L2MU, LMUFormer, MetaSpikeFormer, SpikeDrivenTransformer, rowwise_digits
    from neuromap.networks.lmu import LMUMemory, legendre_decoder

    SHORT = os.environ.get("NEUROMAP_NOTEBOOK_SHORT") == "1"
    EPOCHS = {"sdt": 1 if SHORT else 8, "lmu": 4 if SHORT else 30, "egru": 4 if SHORT else 30}
    torch.manual_seed(0)


    def n_params(model):
        return sum(p.numel() for p in model.parameters())
    """),
    md("""
    ## 1. Spike-driven Transformer

    Spike-driven self-attention (SDSA, Yao et al. 2023) works on binary Q, K, V:
    `A = LIF(sum over tokens of K * V)`, `Y = Q * A` — an AND, a popcount and a mask, no
    multiplications. The tiny configuration for 8x8 digits: a conv stem 1 -> 32 -> 64 channels with
    one max-pool (16 tokens), one transformer block with 4 heads. Neurons are SpikingJelly-style LIF
    (tau 2 steps, hard reset, `>=`, sigmoid surrogate).
    """),
    code("""
    digits_img = data.digits(encoding="current", steps=4, flatten=False, seed=0)   # x: [N, T=4, 1, 8, 8]
    train.set_seed(0)
    sdt = SpikeDrivenTransformer.tiny()
    print(f"SpikeDrivenTransformer.tiny(): {n_params(sdt):,} parameters")
    h_sdt = train.fit(sdt, digits_img, epochs=EPOCHS["sdt"], lr=2e-3, batch_size=32, loss="membrane_ce", progress=False)
    print({k: round(v, 3) for k, v in h_sdt.last.items()})
    """),
    md("""
    **Spike-driven audit.** A layer whose input is binary needs only additions (accumulate the
    weights of the active inputs); integer inputs need repeated additions; real inputs need
    multiply-accumulates. `spike_driven_audit` runs a batch and records the values entering every
    conv / linear layer and attention op. `nonzero` is the fraction of non-zero input elements
    (the firing rate for binary inputs). The first conv sees analog pixels, as in the reference.
    """),
    code("""
    x_img = digits_img.x_test[:64].transpose(0, 1)      # [T, B, 1, 8, 8]
    audit = spike_driven_audit(sdt, x_img)
    print(audit)
    print("needs MACs:", audit.non_spike_driven)
    fig, ax = plt.subplots(figsize=(9, 3))
    colors = {"binary": "C2", "integer": "C1", "real": "C3"}
    ax.bar(range(len(audit.layers)), [la.nonzero_fraction for la in audit.layers],
           color=[colors[la.kind] for la in audit.layers])
    ax.set_xticks(range(len(audit.layers)), [la.name.replace(".layers.0", "") for la in audit.layers],
                  rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("non-zero input fraction")
    ax.set_title("green: binary (spike-driven), orange: integer, red: real", fontsize=9)
    fig.tight_layout()
    """),
    md("""
    Meta-SpikeFormer (Spike-driven Transformer V2) uses SDSA-3 attention and re-parameterisable
    convolutions (`RepConv`, a single 3x3 conv at inference, audited as one layer). Its tiny
    configuration is audited here untrained — the audit is about which values reach each layer,
    not about accuracy.
    """),
    code("""
    msf = MetaSpikeFormer.tiny()
    print(f"MetaSpikeFormer.tiny(): {n_params(msf):,} parameters")
    audit_msf = spike_driven_audit(msf, x_img[:, :16])
    print(audit_msf)
    """),
    md("""
    ## 2. Spiking LMU

    A Legendre Memory Unit keeps a sliding window of its input of length `theta` steps in `order`
    state variables: `m[t] = A_bar m[t-1] + B_bar u[t]`, the coefficients of the window in shifted
    Legendre polynomials. Because `u` enters linearly, the whole sequence can be computed as one
    causal convolution (FFT) instead of a loop. Below: an input pulse at step 10 held in a memory
    with `theta = 40` steps, `order = 12`, decoded at several delays — the decoded value shows the
    pulse again when the delay matches.
    """),
    code("""
    mem = LMUMemory(order=12, theta=40.0)
    u = torch.zeros(80, 1, 1)
    u[10:13] = 1.0
    m = mem(u)[:, 0, 0]                                   # [T, order]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 3))
    a0.plot(m.numpy())
    a0.set_xlabel("time step")
    a0.set_title("memory state m[t] (12 Legendre coefficients)", fontsize=9)
    for delay in [0.0, 0.25, 0.5, 0.75]:
        a1.plot((m @ legendre_decoder(12, delay).to(m.dtype).reshape(-1)).numpy(), label=f"delay {delay:g} theta")
    a1.plot(u[:, 0, 0].numpy(), "k:", label="input")
    a1.set_xlabel("time step")
    a1.legend(fontsize=8)
    a1.set_title("decoded window u(t - delay)", fontsize=9)
    fig.tight_layout()
    """),
    md("""
    **Spiking LMUFormer** (Liu et al. 2024): a conv embedding, the LMU as token mixer with LIF
    neurons on `u`, `m` and `h`, a conv channel mixer, membrane residuals. Trained on row-wise
    digits (8 steps of 8 pixels).
    """),
    code("""
    rows = rowwise_digits(seed=0)
    print(rows)
    train.set_seed(0)
    slmu = LMUFormer(8, 10, dim=64, depth=1, theta=8.0, spiking=True)
    print(f"Spiking LMUFormer: {n_params(slmu):,} parameters")
    h_lmu = train.fit(slmu, rows, epochs=EPOCHS["lmu"], lr=2e-3, loss="membrane_ce", progress=False)
    print({k: round(v, 3) for k, v in h_lmu.last.items()})
    """),
    md("""
    **L2MU** (Fra et al. 2024) goes further: every LMU element is a population of snnTorch-style
    LIF neurons communicating only by spikes (`u`, the memory `m` of `memory_size x order`
    neurons, the hidden state `h`, and an output population). Below, an untrained L2MU is run on a
    batch of row-wise digits and the spikes of each population are counted with
    `train.record_spikes` — the populations that make up its activity (and its cost on hardware).
    """),
    code("""
    torch.manual_seed(0)
    l2mu = L2MU(8, order=8, theta=8.0, memory_size=16, hidden=64, n_out=10)
    x_rows = rows.x_test[:64].transpose(0, 1)             # [T=8, B, 8]
    with torch.no_grad(), train.record_spikes(l2mu) as spikes:
        out = l2mu(x_rows)
    sizes = {"lif_u": 16, "lif_m": 16 * 8, "lif_h": 64, "lif_o": 10}
    for name, n in sizes.items():
        rate = spikes.get(name, 0.0) / (n * x_rows.shape[0] * x_rows.shape[1])
        print(f"{name}: {n:4d} neurons, {spikes.get(name, 0.0) / x_rows.shape[1]:7.1f} spikes/sample, rate {rate:.3f}")
    print("output", tuple(out.shape))
    """),
    md("""
    ## 3. EGRU — the event-based GRU

    EGRU (Subramoney et al. 2023) is a GRU whose units emit an **event** only when their internal
    state `c` crosses a learned threshold; the event carries the state (`y = o * c`) and the state
    is reset by subtraction. Silent units send nothing and — outside the support `|c - theta| < 1/eps`
    of the pseudo-derivative — pass no gradient either. `model.rnn.stats` reports per layer the
    **activity** (mean events per unit and step), **activity sparsity** (1 - activity) and
    **backward sparsity** (fraction of unit-steps with zero pseudo-derivative).

    The classifier below is EGRU(8 -> 64) followed by a linear readout on the graded events.
    """),
    code("""
    from neuromap.networks.egru import EGRU


    class EGRUClassifier(nn.Module):
        def __init__(self, n_in, hidden, n_out):
            super().__init__()
            self.rnn = EGRU(n_in, [hidden])
            self.out = nn.Linear(hidden, n_out)

        def forward(self, x):
            return self.out(self.rnn(x))          # logits [T, B, n_out]


    train.set_seed(0)
    egru = EGRUClassifier(8, 64, 10)
    h_egru = train.fit(egru, rows, epochs=EPOCHS["egru"], lr=5e-3, loss="membrane_ce", progress=False)
    print({k: round(v, 3) for k, v in h_egru.last.items() if k != "test_spikes_per_sample"})
    egru.eval()
    with torch.no_grad():
        egru(rows.x_test.transpose(0, 1))
    print("EGRU on the test set:", {k: round(v, 3) for k, v in egru.rnn.stats[0].items()})
    """),
    md("""
    One test sample: the events `o` (which units fire at which step) and the graded outputs
    `y = o * c` that the next layer receives.
    """),
    code("""
    with torch.no_grad():
        layer_out = egru.rnn.layers[0].forward_sequence(rows.x_test[:1].transpose(0, 1))
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 3))
    a0.imshow(layer_out.o[:, 0].T.numpy(), aspect="auto", cmap="gray_r", interpolation="nearest")
    a0.set_title(f"events o: {int(layer_out.o.sum())} of {layer_out.o.numel()} unit-steps", fontsize=9)
    im = a1.imshow(layer_out.y[:, 0].T.numpy(), aspect="auto", cmap="RdBu_r", interpolation="nearest",
                   vmin=-1, vmax=1)
    a1.set_title("graded events y = o * c", fontsize=9)
    for a in (a0, a1):
        a.set_xlabel("time step (image row)")
        a.set_ylabel("unit")
    fig.colorbar(im, ax=a1)
    fig.tight_layout()
    """),
    md("""
    ## 4. Liquid state machine

    A fixed, random, recurrent LIF reservoir (Maass et al. 2002): 200 neurons on a 10x5x4 grid, 20 %
    inhibitory, connection probability `C exp(-(D/lambda)^2)` falling with grid distance `D`,
    Dale's law. Nothing in the reservoir is trained; a linear (ridge) readout is fitted on its
    spike counts. Each digit is **column-scanned**: for 5 steps per image column, input channel `r`
    (image row `r`) spikes with probability `0.8 x pixel intensity` (T = 40 steps), so the image's
    horizontal structure is only present in the *timing* of the input spikes.
    `rec_scale` scales all recurrent weights (0 = no recurrence).
    """),
    code("""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from neuromap.networks.lsm import MAASS_A, Readout, Reservoir, column_scan_encode, maass_connectivity, time_binned_counts
    from neuromap.neurons import LIFParams

    bunch = load_digits()
    u_all = column_scan_encode(torch.tensor(bunch.images / 16.0, dtype=torch.float32), steps_per_column=5, p_max=0.8)
    labels = bunch.target
    tr, te = train_test_split(np.arange(len(labels)), test_size=0.25, random_state=0, stratify=labels)
    print(f"input spikes {tuple(u_all.shape)} [T, N, channels]; train {len(tr)}, test {len(te)}")

    lsm_params = LIFParams(tau_mem=10e-3, dt=1e-3, v_th=1.0, reset="zero", refractory_steps=2)
    amplitudes = {k: v / MAASS_A["EE"] for k, v in MAASS_A.items()}      # E->E = 1
    con = maass_connectivity((10, 5, 4), lam=2.0, amplitudes=amplitudes, seed=0)
    print(f"reservoir: {con.n} neurons, {con.n_synapses} synapses, {int(con.inhibitory.sum())} inhibitory")
    """),
    md("""
    Two readouts, on the input spikes alone and on the reservoir's spikes:

    * **8 time bins**: spike counts of every channel / neuron in 8 windows of 5 steps — the readout
      sees *when* spikes happened;
    * **total counts**: one count per channel / neuron over the whole sequence — all timing is
      lost unless the reservoir has turned it into *which* neurons fire.
    """),
    code("""
    def features(spikes):
        return {"8 time bins": time_binned_counts(spikes, 8), "total counts": spikes.sum(0)}


    def score(feats):
        return Readout("linear", alpha=1000.0).fit(feats[tr], labels[tr]).score(feats[te], labels[te])


    scales = [0.0, 0.1, 0.4]
    table = {"inputs alone": {k: score(f) for k, f in features(u_all).items()}}
    reservoir_spikes = {}
    for g in scales:
        res = Reservoir(8, con, lsm_params, input_weight=0.9, input_fraction=0.3, rec_scale=g, seed=0)
        reservoir_spikes[g] = res(u_all)
        table[f"reservoir, rec_scale {g}"] = {k: score(f) for k, f in features(reservoir_spikes[g]).items()}
        print(f"rec_scale {g}: {float(reservoir_spikes[g].mean()):.3f} spikes/neuron/step")
    print(f"{'test accuracy (ridge readout)':<30}{'8 time bins':>14}{'total counts':>14}")
    for row, accs in table.items():
        print(f"{row:<30}{accs['8 time bins']:>14.3f}{accs['total counts']:>14.3f}")
    """),
    code("""
    s0 = reservoir_spikes[0.1][:, te[0]]                  # one test sample [T, 200]
    t_idx, n_idx = torch.nonzero(s0, as_tuple=True)
    inh = con.inhibitory[n_idx.numpy()]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 3.5), gridspec_kw={"width_ratios": [3, 2]})
    a0.scatter(t_idx.numpy()[~inh], n_idx.numpy()[~inh], s=4, c="C0", label="excitatory")
    a0.scatter(t_idx.numpy()[inh], n_idx.numpy()[inh], s=4, c="C3", label="inhibitory")
    a0.set_xlabel("time step (5 per image column)")
    a0.set_ylabel("reservoir neuron")
    a0.set_title(f"reservoir raster (rec_scale 0.1), label {labels[te[0]]}", fontsize=9)
    a0.legend(fontsize=8, loc="upper right")
    xs = np.arange(len(table))
    for i, kind in enumerate(["8 time bins", "total counts"]):
        a1.bar(xs + 0.4 * i, [accs[kind] for accs in table.values()], width=0.4, label=kind)
    a1.set_xticks(xs + 0.2, [r.replace("reservoir, ", "") for r in table], rotation=30, ha="right", fontsize=8)
    a1.set_ylim(0, 1)
    a1.set_ylabel("test accuracy")
    a1.legend(fontsize=8)
    fig.tight_layout()
    """),
    md("""
    **Summary of this run** (accuracy depends on epochs: the short run trains on a subset for one
    or two epochs, the full run longer).
    """),
    code("""
    summary = {
        "Spike-driven Transformer (tiny)": h_sdt.last["test_acc"],
        "Spiking LMUFormer": h_lmu.last["test_acc"],
        "EGRU": h_egru.last["test_acc"],
        "LSM (rec_scale 0.1, 8 time bins)": table["reservoir, rec_scale 0.1"]["8 time bins"],
    }
    for k, v in summary.items():
        print(f"{k:<34}{100 * v:6.1f} % test accuracy")
    """),
]

# -------------------------------------------------------------------------------------------------
# 03: deploy through Lava
# -------------------------------------------------------------------------------------------------
NB03 = [
    md("""
    # 03 — Quantise, deploy through Lava, check bit-exactness

    A trained network goes to Loihi in three steps:

    1. **trace** the `nn.Module` into neuromap's graph and save it as NIR (`.nir`, HDF5) — the file
       is the contract between training and hardware;
    2. **quantise** it to Loihi's fixed-point arithmetic (8-bit weights with a shared exponent,
       12-bit decays, integer threshold);
    3. **run** it — through Intel's **Lava** (`Loihi2SimCfg(select_tag="fixed_pt")`, the bit-accurate
       CPU model of the chip, `backends.get("lava")`) or through **neuromap's own vectorised
       emulator** of the same arithmetic (`backends.get("loihi")`), which is batched and much faster.

    The two must agree **bit for bit** (spikes, current `u` and voltage `v` of every compartment at
    every step). This notebook checks that on a few samples with Lava, then uses the emulator on the
    whole test set.
    """),
    md(SETUP_NOTE),
    code("""
    import os

    import matplotlib.pyplot as plt
    import nir
    import numpy as np
    import torch

    import neuromap as nm
    from neuromap import backends, data, train
    from neuromap.deploy import deploy, readout_accuracy
    from neuromap.networks import SpikingMLP
    from neuromap.neurons import LIFParams

    SHORT = os.environ.get("NEUROMAP_NOTEBOOK_SHORT") == "1"
    EPOCHS = 5 if SHORT else 30
    LAVA_SAMPLES = 2 if SHORT else 4        # Lava simulates one sample at a time (about a second each)
    torch.manual_seed(0)
    """),
    md("""
    ## 1. Train a Loihi-compatible network

    Loihi resets the membrane to zero after a spike and fires on `v > threshold` (strictly); a
    network trained with those conventions (`reset="zero"`, the default `threshold_rule=">"`) is
    what runs on the chip. A model with another reset is refused by the quantiser with a message
    naming the layer (unless `allow_mismatch=True`).
    """),
    code("""
    digits = data.digits(encoding="rate", steps=25, seed=0)
    train.set_seed(0)
    model = SpikingMLP(64, [128], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    history = train.fit(model, digits, epochs=EPOCHS, lr=2e-3, progress=False)
    print(f"float model after {EPOCHS} epochs: test accuracy {history.last['test_acc']:.3f}")
    """),
    md("""
    ## 2. Trace, save as NIR, load back

    `nm.trace(model, example)` runs the model once on an example `[T, B, ...]` and records its graph
    of NIR nodes (`Affine`, `LIF`, ...); neuron parameters are stored both as NIR's continuous-time
    fields and as neuromap metadata, so the reload is exact. A file with only standard nodes also
    loads in plain `nir.read`.
    """),
    code("""
    x_test = digits.x_test.transpose(0, 1).contiguous()     # [T=25, 450, 64] binary spikes
    y_test = digits.y_test
    nm.save(nm.trace(model, x_test[:, :2]), "digits.nir")
    graph = nm.load("digits.nir")
    print(f"digits.nir: {os.path.getsize('digits.nir') / 1024:.0f} KiB, {graph}")
    print("netlist:", graph.lower())
    print("plain nir.read:", {k: type(v).__name__ for k, v in nir.read("digits.nir").nodes.items()})
    """),
    md("""
    ## 3. Quantisation

    Per layer the quantiser picks a scale `S` (Loihi voltage units per float unit of membrane
    potential) and a weight exponent so that the largest weight uses the full signed 8-bit range:

    * `w_exp`: Loihi adds `W_int << w_exp << 6` to the synaptic current;
    * `du`: current decay, `alpha = 1 - (du + 1)/4096` (`du = 4095`: the current lasts one step,
      as a LIF without synaptic current);
    * `dv`: voltage decay, `beta = 1 - dv/4096`;
    * `vth`: threshold mantissa, the neuron spikes when `v > vth << 6`;
    * `w err`: relative RMS error of the 8-bit weights against the float weights.
    """),
    code("""
    loihi = backends.get("loihi").compile(graph, "loihi2")
    print(loihi.quant.table())
    for name, q in loihi.quant.layers.items():
        print(f"layer {name}: beta error {q.beta_error:.2e} (float beta 0.9 vs 1 - dv/4096 = {1 - q.dv / 4096:.6f})")
    """),
    md("""
    ## 4. Lava vs neuromap's emulator, bit for bit

    The Lava backend builds the same quantised network from Lava processes (LIF + Dense) and runs it
    with `Loihi2SimCfg(select_tag="fixed_pt")`. Each Loihi synapse stage delays spikes by one step,
    so the raw records (`.raw`, `.u`, `.v`) are in Loihi time, `T + depth` steps long; the aligned
    `records` line up with the input. The cell below fails if any spike, current or voltage
    differs.
    """),
    code("""
    x_lava = x_test[:, :LAVA_SAMPLES]
    lava_run = backends.get("lava").compile(graph, "loihi2").run(x_lava)
    emu_run = loihi.run(x_lava)
    for k in lava_run.raw:
        assert np.array_equal(lava_run.raw[k], emu_run.raw[k]), f"spikes of layer {k} differ"
        assert np.array_equal(lava_run.u[k], emu_run.u[k]), f"current u of layer {k} differs"
        assert np.array_equal(lava_run.v[k], emu_run.v[k]), f"voltage v of layer {k} differs"
        print(f"layer {k}: spikes, u and v identical, shape {lava_run.v[k].shape} [Loihi steps, samples, neurons], "
              f"{int(lava_run.raw[k].sum())} spikes")
    print(f"Lava {lava_run.wall_seconds:.2f} s, emulator {emu_run.wall_seconds:.4f} s for {LAVA_SAMPLES} samples "
          f"({lava_run.wall_seconds / max(emu_run.wall_seconds, 1e-9):.0f}x)")
    """),
    md("""
    The integer voltage of a few output compartments, Lava (solid) and emulator (dots): the traces
    coincide. The dashed line is the threshold `vth << 6` of that layer; the voltage drops to 0 after
    each spike.
    """),
    code("""
    out_layer = list(lava_run.v)[-1]
    q = loihi.quant.layers[out_layer]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for n in range(3):
        line, = ax.plot(lava_run.v[out_layer][:, 0, n], label=f"Lava, neuron {n}")
        ax.plot(emu_run.v[out_layer][:, 0, n], ".", color=line.get_color(), label=f"emulator, neuron {n}")
    ax.axhline(q.vth * 64, ls="--", color="gray", lw=0.8)
    ax.set_xlabel("Loihi time step")
    ax.set_ylabel("v (integer)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    """),
    md("""
    ## 5. The whole test set on the emulator

    Fixed point changes some spikes: decays are rounded to 1/4096, weights to 8 bits. The
    **spike agreement** per layer is the fraction of (step, sample, neuron) entries where the Loihi
    spike equals the float model's; the accuracy compares the readout (spike counts).
    """),
    code("""
    ref = backends.get("torch").compile(graph).run(x_test)
    emu = loihi.run(x_test)
    acc_float, acc_loihi = readout_accuracy(ref.output, y_test), readout_accuracy(emu.output, y_test)
    print(f"float (torch backend) accuracy {acc_float:.3f}; Loihi fixed point accuracy {acc_loihi:.3f}")
    agreement = {k: float((emu.records[k] == ref.records[k]).float().mean()) for k in emu.records}
    print("spike agreement per layer:", {k: round(v, 4) for k, v in agreement.items()})
    print(f"emulator: {emu.wall_seconds:.3f} s for {x_test.shape[1]} samples x {x_test.shape[0]} steps")
    """),
    code("""
    k = 0
    fig, axes = plt.subplots(1, 2, figsize=(11, 3), sharey=True)
    for ax, (name, run) in zip(axes, [("float (torch)", ref), ("Loihi fixed point", emu)]):
        s = run.output[:, k]
        t_idx, n_idx = torch.nonzero(s, as_tuple=True)
        ax.scatter(t_idx.numpy(), n_idx.numpy(), s=10, c="k")
        ax.set_title(f"{name}: counts {s.sum(0).int().tolist()}", fontsize=8)
        ax.set_xlabel("time step")
    diff = torch.nonzero(ref.output[:, k] != emu.output[:, k], as_tuple=True)
    axes[1].scatter(diff[0].numpy(), diff[1].numpy(), s=40, facecolors="none", edgecolors="r", label="differs")
    axes[1].legend(fontsize=8)
    axes[0].set_ylabel(f"output neuron (label {int(y_test[k])})")
    axes[0].set_yticks(range(10))
    fig.tight_layout()
    """),
    md("""
    ## 6. `deploy()`: the same in one call, with a cost report

    `deploy(graph, x, backend=...)` compiles, runs, compares with the float model, collects the
    activity (spikes and synaptic operations per layer) and estimates energy and latency on the
    requested targets. Energy per inference is the activity counts times each target's published
    per-operation figures (plus static power over the run time); `explain()` prints every term with
    its source. Notebook 04 goes through the report in detail.
    """),
    code("""
    dep = deploy(graph, x_test, backend="loihi", labels=y_test, report_targets=["loihi2", "loihi"])
    print(dep.summary())
    """),
    code("""
    print(dep.report.explain("loihi2", "energy"))
    """),
]

# -------------------------------------------------------------------------------------------------
# 04: partition and report
# -------------------------------------------------------------------------------------------------
NB04 = [
    md("""
    # 04 — Partitioning onto chips, and energy / latency across targets

    Before a network runs on a many-core chip it is **split** into core-sized pieces, **partitioned**
    (which neurons share a core), **placed** on the chip's mesh of routers and **routed**. The
    result — a `Mapping` — decides how many cores are used and how much spike traffic crosses the
    network-on-chip. The **energy / latency report** then combines the network's measured activity
    with each target's per-operation figures (`hardware/*.toml`, each with a source).

    Targets shipped: `spinnaker2`, `loihi`, `loihi2` (digital neuromorphic), `crossbar-pcm`,
    `crossbar-rram` (analog in-memory), `cpu`, `gpu-a100`, `gpu-h100` (conventional).
    """),
    md(SETUP_NOTE),
    code("""
    import os

    import matplotlib.pyplot as plt
    import numpy as np
    import torch
    from IPython import get_ipython
    from IPython.display import display

    import neuromap as nm
    from neuromap import backends, data, hardware, train
    from neuromap.deploy import readout_accuracy, records_with_inputs
    from neuromap.energy import collect
    from neuromap.energy.report import build_report
    from neuromap.networks import SpikingMLP
    from neuromap.neurons import LIFParams
    from neuromap.partition import partition, synthetic

    SHORT = os.environ.get("NEUROMAP_NOTEBOOK_SHORT") == "1"
    EPOCHS = 5 if SHORT else 30
    torch.manual_seed(0)
    print("targets:", hardware.available())



    def restore_backend():
        \"\"\"Mapping.plot and Report.save select matplotlib's file-only Agg backend; switch back to inline plots.\"\"\"
        get_ipython().run_line_magic("matplotlib", "inline")


    def show_figure(fig):
        restore_backend()
        display(fig)
        plt.close(fig)
    """),
    md("""
    ## 1. What a target says

    A target is a TOML file of constraints and costs; every figure carries a unit, a `source` and
    a confidence level (H: read in code or quoted verbatim, M: quoted by a second party, L: a single
    secondary source or recollection, D: derived). `neuromap targets NAME` prints the same.
    """),
    code("""
    for name in ["spinnaker2", "loihi2", "crossbar-pcm"]:
        t = hardware.load(name)
        print(f"{name} ({t.kind}), energy figures:")
        for key, fig in t.figures():
            if key.startswith("energy."):
                text = str(fig)
                print(f"    {key:<28}{text[:110] + '...' if len(text) > 110 else text}")
    """),
    md("""
    ## 2. Partitioning a convolutional network on SpiNNaker2

    A generated conv net (2x32x32 input, two 3x3 conv layers of 16 and 32 channels, a dense readout;
    about 25,000 neurons and 1.5 million synapses) is partitioned onto SpiNNaker2 with three methods:

    * `metis`: graph partitioning (pymetis) that minimises the spike traffic cut between cores;
    * `sequential`: fill cores in neuron order;
    * `random`: random assignment (a baseline).

    Traffic is counted in **packets per time step**: each spike of a neuron is one multicast packet
    per destination core, times its firing rate (here the default rate, as no activity is given).
    `cut traffic` is the part that leaves its core; `hop-weighted traffic` multiplies each packet by
    the number of router hops it travels on the mesh.
    """),
    code("""
    conv = synthetic.conv_net((2, 32, 32), (16, 32), 10, seed=0)
    print(conv)
    mappings = {m: partition(conv, "spinnaker2", method=m) for m in ["metis", "sequential", "random"]}
    print(f"{'method':<12}{'cores':>7}{'cut traffic':>14}{'hop traffic':>14}{'max link load':>15}")
    for m, mp in mappings.items():
        mt = mp.metrics
        print(f"{m:<12}{mt['cores']:>7}{mt['cut_traffic']:>14.1f}{mt['hop_traffic']:>14.1f}{mt['max_link_load']:>15.2f}")
    """),
    code("""
    for label, value in mappings["metis"].summary():
        print(f"{label:<28}{value}")
    show_figure(mappings["metis"].plot(n_links=20))
    """),
    md("""
    The plot shows each router of the chip's mesh coloured by the utilisation of its cores (the
    maximum over the per-core limits: neurons, synapse memory, ...), and the busiest links as lines
    whose width is proportional to their load. Compare with the random placement:
    """),
    code("""
    show_figure(mappings["random"].plot(n_links=20))
    """),
    md("""
    The same network on Loihi 2 and on a PCM crossbar (where the unit is a tile of rows x columns
    rather than a core):
    """),
    code("""
    for target in ["loihi2", "crossbar-pcm"]:
        mp = partition(conv, target, method="metis")
        print(mp)
    """),
    md("""
    ## 3. A trained network: activity, then energy and latency per target

    Estimates need the network's **activity** — how many spikes each population emits and how many
    synaptic operations (synops: one weight accumulated because of one input spike) each projection
    performs. They are measured by running the traced graph on a backend and counting
    (`energy.collect`).
    """),
    code("""
    digits = data.digits(encoding="rate", steps=25, seed=0)
    train.set_seed(0)
    model = SpikingMLP(64, [256], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
    train.fit(model, digits, epochs=EPOCHS, lr=2e-3, progress=False)
    x_test, y_test = digits.x_test.transpose(0, 1).contiguous(), digits.y_test
    graph = nm.trace(model, x_test[:, :2])
    netlist = graph.lower()
    ref = backends.get("torch").compile(graph).run(x_test)
    activity = collect(netlist, records_with_inputs(graph, ref, x_test))
    accuracy = readout_accuracy(ref.output, y_test)
    print(netlist)
    print(f"float accuracy {accuracy:.3f}; firing rates (spikes/neuron/step):",
          {k: round(v, 4) for k, v in activity.rates().items()})
    print("per sample (NeuroBench-style counts):", {k: round(v, 1) for k, v in activity.per_sample().items()})
    """),
    md("""
    Measured rates also change the mapping's traffic: with `activity=...` the partitioner weighs
    each neuron's packets by its population's measured firing rate instead of the default rate.
    """),
    code("""
    for act in [None, activity]:
        mt = partition(netlist, "spinnaker2", method="metis", activity=act).metrics
        print(f"{'measured rates' if act is not None else 'default rate'}: {mt['cores']} core(s), "
              f"traffic {mt['traffic_total']:.1f} packets/step")
    """),
    md("""
    `build_report(netlist, activity, targets)` maps the network on every target and estimates:

    * **energy / inference** (J): synops x energy per synop + neuron updates x energy per update +
      spikes / hops x their energy (where the target publishes one) + static power x run time,
      divided by the number of samples;
    * **latency / step** and **latency / inference** (s): the time one time step takes on the target
      (the slowest core, or the target's fixed step), times the number of steps;
    * **omitted**: terms left out because the target has no published figure for them (they are
      never replaced by a guess).

    The accuracy column is the float model's accuracy here (the Loihi fixed-point accuracy is
    measured in notebook 03).
    """),
    code("""
    targets = ["loihi2", "loihi", "spinnaker2", "crossbar-pcm", "crossbar-rram", "cpu", "gpu-a100"]
    report = build_report(netlist, activity, targets, model="digits SpikingMLP 64-256-10 (T=25)",
                          accuracy={t: accuracy for t in targets})
    print(report.table())
    """),
    code("""
    rows = [r for r in report.rows() if r["energy_per_inference_J"] is not None]
    names = [r["target"] for r in rows]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 3.5))
    a0.bar(names, [r["energy_per_inference_J"] for r in rows], color="C0")
    a0.set_yscale("log")
    a0.set_ylabel("energy per inference (J)")
    a1.bar(names, [r["latency_per_inference_s"] or np.nan for r in rows], color="C1")
    a1.set_yscale("log")
    a1.set_ylabel("latency per inference (s)")
    for a in (a0, a1):
        a.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    """),
    md("""
    Every number can be traced back: `explain(target, quantity)` lists each term as
    count x figure (with the figure's key, confidence and source) = result.
    """),
    code("""
    print(report.explain("spinnaker2", "energy"))
    print()
    print(report.explain("loihi2", "latency"))
    """),
    md("""
    The report also saves as HTML (tables and plots, one file) or JSON — the same as
    `neuromap report digits.nir --target all --format html -o report.html` on the command line.
    """),
    code("""
    path = report.save("report.html")
    restore_backend()
    print(path, f"{os.path.getsize(path) / 1024:.0f} KiB")
    """),
]

# -------------------------------------------------------------------------------------------------
# 05: crossbar noise
# -------------------------------------------------------------------------------------------------
NB05 = [
    md("""
    # 05 — Memristive crossbars: drift and hardware-aware training

    On an analog in-memory crossbar each weight is stored as the conductance difference of two
    devices (`G+ - G-`) and a matrix-vector product is one read of the array. Phase-change memory
    (PCM) is imperfect in three ways that neuromap's PCM model (after aihwkit's `PCMLikeNoiseModel`)
    reproduces:

    * **programming noise**: the programmed conductance misses its target (std depends on the
      target);
    * **drift**: after programming the conductance decays as `G(t) = G_prog (t / t0)^(-nu)`, with a
      device-to-device random exponent `nu`; `t` is the time since programming in seconds;
    * **read noise** (1/f), growing slowly with `t`.

    **Global drift compensation** rescales each layer's output by a factor measured on the array
    itself (the mean absolute output for a calibration input at programming time vs now).
    **Hardware-aware (HWA) training** injects device-shaped weight noise during training, so that
    the network learns weights that tolerate it. The figures come from `hardware/crossbar-pcm.toml`
    (DAC/ADC bits, output noise, ...).
    """),
    md(SETUP_NOTE),
    code("""
    import dataclasses
    import os

    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from neuromap import data, hardware, train
    from neuromap.crossbar import (
        CrossbarConfig,
        crossbar_layers,
        layer_counters,
        program_model,
        read_at,
        reset_counters,
        tile_summary,
        to_crossbar,
    )
    from neuromap.networks import SpikingMLP

    SHORT = os.environ.get("NEUROMAP_NOTEBOOK_SHORT") == "1"
    EPOCHS = 8 if SHORT else 30
    SEEDS = 2 if SHORT else 5                 # device programming seeds
    N_TEST = 200 if SHORT else None           # test samples evaluated on the crossbar (None = all 450)
    HWA_NOISE = 3.0                           # injected noise, in units of the device programming noise
    torch.manual_seed(0)
    """),
    code("""
    target = hardware.load("crossbar-pcm")
    times = [float(t) for t in target.get("device.t_inference_grid")]
    base = CrossbarConfig.from_target(target)
    print(base)
    print("read times after programming (s):", times)
    digits = data.digits(encoding="rate", steps=25, seed=0)
    eval_data = digits if N_TEST is None else dataclasses.replace(
        digits, x_test=digits.x_test[:N_TEST], y_test=digits.y_test[:N_TEST])
    """),
    md("""
    ## 1. Train twice: standard and hardware-aware

    Both runs start from the same seed. For HWA training the model's `nn.Linear` layers are swapped
    for `CrossbarLinear` layers (`to_crossbar(..., program=False)`): in training mode they add a
    fresh draw of programming-like noise to the weights on every forward pass. The trained weights
    are copied back into a plain model (the parameter names are the same).
    """),
    code("""
    def train_model(hwa_noise):
        train.set_seed(0)
        model = SpikingMLP(64, [128], 10, beta=0.9)
        trained = to_crossbar(model, base.replace(hwa_noise=hwa_noise), program=False) if hwa_noise else model
        train.fit(trained, digits, epochs=EPOCHS, lr=2e-3, progress=False, evaluate_every=0)
        model.load_state_dict(trained.state_dict())
        return model.eval()


    models = {"standard": train_model(0.0), "hwa": train_model(HWA_NOISE)}
    float_acc = {k: train.evaluate(m, eval_data)["accuracy"] for k, m in models.items()}
    print("float (ideal weights) test accuracy:", {k: round(v, 3) for k, v in float_acc.items()})
    """),
    md("""
    ## 2. Programmed weights over time

    Program the standard model on PCM tiles and compare the weights the conductances represent
    (`effective_weight()`) with the trained weights, 1 second and 1 year after programming, without
    and with global drift compensation. Points on the diagonal are exact; the spread is programming
    and read noise; without compensation drift shrinks all weights towards zero.
    """),
    code("""
    w = models["standard"][0].weight.detach()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, comp in zip(axes, [None, "global"]):
        xm = to_crossbar(models["standard"], base.replace(drift_compensation=comp), seed=0)
        for t, color in [(1.0, "C0"), (3.1536e7, "C3")]:
            read_at(xm, t)
            w_eff = crossbar_layers(xm)[0][1].array.effective_weight()
            err = float((w_eff - w).norm() / w.norm())
            ax.scatter(w.flatten().numpy(), w_eff.flatten().numpy(), s=2, alpha=0.4, color=color,
                       label=f"t = {t:g} s, rel. error {err:.2f}")
        lim = float(w.abs().max())
        ax.plot([-lim, lim], [-lim, lim], "k:", lw=0.8)
        ax.set_xlabel("trained weight")
        ax.set_title(f"drift compensation: {comp}", fontsize=9)
        ax.legend(fontsize=8, markerscale=4)
    axes[0].set_ylabel("effective (programmed) weight")
    fig.tight_layout()
    """),
    md("""
    ## 3. Accuracy over time after programming

    For each model, with and without drift compensation, the network is programmed with `SEEDS`
    different device seeds and read at every time of the target's grid (1 s, 1 h, 1 day, 1 year).
    The plot shows mean +- standard deviation over seeds; the grey lines are the float accuracies
    (solid: standard, dashed: HWA). Whether HWA training pays off depends on the injected noise
    level (`HWA_NOISE`), the training length and the read time — compare the curves, and try other
    values.
    """),
    code("""
    acc = {}
    for kind, model in models.items():
        for comp in ["global", None]:
            xm = to_crossbar(model, base.replace(drift_compensation=comp), program=False).eval()
            a = np.zeros((SEEDS, len(times)))
            for s in range(SEEDS):
                program_model(xm, seed=s)
                for k, t in enumerate(times):
                    read_at(xm, t)
                    reset_counters(xm)
                    a[s, k] = train.evaluate(xm, eval_data)["accuracy"]
            acc[kind, comp] = a
            print(f"{kind:>8}, compensation {comp!s:>6}: " + ", ".join(
                f"{t:g} s {100 * m:.1f}±{100 * sd:.1f} %" for t, m, sd in zip(times, a.mean(0), a.std(0))))
    """),
    code("""
    fig, ax = plt.subplots(figsize=(7, 4))
    for (kind, comp), a in acc.items():
        style = "-" if kind == "standard" else "--"
        color = "C0" if comp else "C3"
        ax.errorbar(times, 100 * a.mean(0), yerr=100 * a.std(0), fmt=style + "o", color=color, capsize=3,
                    label=f"{kind}, {'global drift comp.' if comp else 'no comp.'}")
    for kind, style in [("standard", "-"), ("hwa", "--")]:
        ax.axhline(100 * float_acc[kind], color="gray", ls=style, lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("time after programming (s)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    """),
    md("""
    ## 4. What the crossbar did

    For the last crossbar model evaluated above (HWA-trained, no drift compensation),
    `tile_summary` shows how each layer was laid out on 256x256 tiles (utilisation = used cells /
    cells of the tiles), and `layer_counters` counts the operations of its last evaluation:
    matrix-vector products (`mvms`), DAC conversions of the inputs, ADC conversions of the outputs and
    the multiply-accumulates done in the analog domain (`macs`). These counters are what the energy
    estimate of a crossbar target multiplies with its per-operation figures.
    """),
    code("""
    for name, tiles in tile_summary(xm).items():
        for t in tiles:
            print(f"layer {name}: {t['n_out']}x{t['n_in']} on {t['n_tiles']} tile(s) of {t['rows']}x{t['cols']}, "
                  f"utilisation {100 * t['utilisation']:.1f} %")
    for name, c in layer_counters(xm).items():
        print(f"layer {name}:", {k: f"{v:,}" for k, v in c.items()})
    """),
]

# -------------------------------------------------------------------------------------------------
# 06: import NIR from Norse and snnTorch
# -------------------------------------------------------------------------------------------------
NB06 = [
    md("""
    # 06 — Bring in a model from Norse or snnTorch (NIR)

    NIR (the Neuromorphic Intermediate Representation) describes neurons in **continuous time**,
    e.g. a LIF as `tau dv/dt = (v_leak - v) + r I`. Every simulator discretises that differently,
    and exporters differ in what they write into `tau`, `r` and `w_in`. `neuromap.graph.from_nir`
    therefore takes a **convention** that says how the file was written, and maps each neuron onto
    neuromap's one discrete LIF so that the imported graph produces the **same spikes** as the
    exporting library:

    | convention | exporter | discretisation written into neuromap's LIF |
    |---|---|---|
    | `"nir"` | NIR's definition, neuromap's export | Euler at `dt`, reset to `v_reset` |
    | `"norse"` | `norse.torch.to_nir(net, sample, dt)` | `beta = 1 - dt^2 / tau_nir`, gain `1 - beta`, reset to `v_reset` |
    | `"snntorch"` | snnTorch (`dt = 1e-4`) | snnTorch's `beta`, gain 1, subtractive reset one step late |

    (Norse writes `tau_nir = dt / tau_mem_inv`, the time constant multiplied by `dt`.)
    """),
    md(SETUP_NOTE),
    code("""
    import os
    import warnings

    import matplotlib.pyplot as plt
    import nir
    import nirtorch
    import norse.torch as norse
    import numpy as np
    import snntorch as snn
    import torch

    import neuromap as nm
    from neuromap import backends
    from neuromap.graph import from_nir
    from neuromap.graph.neuron import spec_from_nir

    SHORT = os.environ.get("NEUROMAP_NOTEBOOK_SHORT") == "1"
    T = 60 if SHORT else 200                 # time steps simulated for the comparison
    torch.manual_seed(0)


    def raster(ax, s, title):
        t_idx, n_idx = torch.nonzero(s, as_tuple=True)
        ax.scatter(t_idx.numpy(), n_idx.numpy(), s=6, c="k")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time step")
    """),
    md("""
    ## 1. Norse

    A Norse network — `Linear -> LIFBoxCell` (a LIF without synaptic current) `-> Linear -> LIFCell`
    (current-based) — exported with `norse.to_nir(net, sample, dt=1e-3)`. Norse simulates step by
    step with explicit state; its reference output is collected below, then the NIR graph is
    imported with `convention="norse"` and run on neuromap's float backend.
    """),
    code("""
    dt = 1e-3
    norse_net = norse.SequentialState(
        torch.nn.Linear(8, 16), norse.LIFBoxCell(dt=dt), torch.nn.Linear(16, 4), norse.LIFCell(dt=dt)
    )
    x = torch.rand(T, 3, 8) * 30                         # input current [T, B, 8]


    def norse_run(net, x):
        state, outs = None, []
        with torch.no_grad():
            for t in range(x.shape[0]):
                o, state = net(x[t], state)
                outs.append(o)
        return torch.stack(outs)


    norse_out = norse_run(norse_net, x)
    nir_graph = norse.to_nir(norse_net, torch.randn(1, 8), dt=dt)
    print("NIR nodes written by Norse:", {k: type(v).__name__ for k, v in nir_graph.nodes.items()})
    graph = from_nir(nir_graph, convention="norse", dt=dt)
    print(graph)
    """),
    md("""
    What the importer made of Norse's LIF: Euler integration with `decay_input=True` (input gain
    `1 - beta`), reset to zero, `beta = 1 - dt / tau_mem` with Norse's default `tau_mem` of 10 ms.
    """),
    code("""
    spec = spec_from_nir(graph.nodes["1"], "1")
    print(spec.params)
    print(f"beta per neuron: {np.unique(spec.beta)} (1 - dt/tau_mem = {1 - dt / 1e-2:.6f})")
    run = backends.get("torch").compile(graph).run(x)
    assert torch.equal(run.output, norse_out), "imported graph disagrees with Norse"
    print(f"identical output spikes: {int(norse_out.sum())} spikes in {T} steps x 3 samples x 4 neurons")
    """),
    code("""
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
    raster(axes[0], norse_out[:, 0], "Norse (its own simulator), sample 0")
    raster(axes[1], run.output[:, 0], "neuromap (imported NIR), sample 0")
    axes[0].set_ylabel("output neuron")
    fig.tight_layout()
    """),
    md("""
    ## 2. snnTorch

    snnTorch 1.0's `export_to_nir` fails with nir 1.0.8: its final type check sees the batch axis of
    the sample (or a 0-d LIF) as a type mismatch. The cell below shows the error.
    """),
    code("""
    from snntorch.export_nir import _extract_snntorch_module, export_to_nir

    torch.manual_seed(0)
    snn_net = torch.nn.Sequential(
        torch.nn.Linear(8, 16), snn.Leaky(beta=0.9, init_hidden=True), torch.nn.Linear(16, 4),
        snn.Synaptic(alpha=0.7, beta=0.8, init_hidden=True, output=True),
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_to_nir(snn_net, torch.randn(1, 8))
    except ValueError as exc:
        print("export_to_nir failed:", str(exc)[:300])
    """),
    md("""
    The graph snnTorch builds before that check is fine. The workaround is to call the same
    extraction it uses, `nirtorch.extract_nir_graph` with snnTorch's module mapper and
    `ignore_dims=[0]` (drop the batch axis); it returns a `nir.NIRGraph` built with
    `type_check=False`. Import it with `convention="snntorch"`.
    """),
    code("""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snn_nir = nirtorch.extract_nir_graph(snn_net, _extract_snntorch_module, torch.randn(1, 8), model_name="snntorch",
                                             ignore_submodules_of=[snn.RLeaky, snn.RSynaptic], ignore_dims=[0])
    print("NIR nodes written by snnTorch:", {k: type(v).__name__ for k, v in snn_nir.nodes.items()})
    snn_graph = from_nir(snn_nir, convention="snntorch")
    print(spec_from_nir(snn_graph.nodes["1"], "1").params)
    """),
    code("""
    from snntorch import utils as snn_utils


    def snntorch_run(net, x):
        snn_utils.reset(net)
        outs = []
        with torch.no_grad():
            for t in range(x.shape[0]):
                o = net(x[t])
                outs.append(o[0] if isinstance(o, tuple) else o)
        return torch.stack(outs)


    x2 = torch.rand(T, 3, 8) * 2
    snn_out = snntorch_run(snn_net, x2)
    run2 = backends.get("torch").compile(snn_graph).run(x2)
    assert torch.equal(run2.output, snn_out), "imported graph disagrees with snnTorch"
    print(f"identical output spikes: {int(snn_out.sum())} spikes")
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
    raster(axes[0], snn_out[:, 0], "snnTorch, sample 0")
    raster(axes[1], run2.output[:, 0], "neuromap (imported NIR), sample 0")
    axes[0].set_ylabel("output neuron")
    fig.tight_layout()
    """),
    md("""
    ## 3. From here on it is a neuromap graph

    An imported graph saves, loads, lowers and maps like a traced one. Saving keeps the
    discretisation chosen at import as neuromap metadata, so the reloaded graph gives the same spikes
    without the convention. Each backend says up front whether it can run the graph
    (`unsupported()` lists the reasons, empty when it can).
    """),
    code("""
    nm.save(snn_graph, "from_snntorch.nir")
    reloaded = nm.load("from_snntorch.nir")
    assert torch.equal(backends.get("torch").compile(reloaded).run(x2).output, snn_out)
    print("reloaded from_snntorch.nir: same spikes;", reloaded.lower())
    print("plain nir.read of the file:", {k: type(v).__name__ for k, v in nir.read("from_snntorch.nir").nodes.items()})
    for name in ["loihi", "spinnaker2", "crossbar"]:
        problems = backends.get(name).unsupported(reloaded)
        print(f"{name:>10}: {'can run it' if not problems else problems}")
    """),
    md("""
    The snnTorch graph uses snnTorch's delayed subtractive reset, which Loihi does not have (it
    resets to zero). Compiling for Loihi therefore fails at compile time with the layer's name and
    the reason, instead of silently running a different model:
    """),
    code("""
    from neuromap.backends import BackendError

    try:
        backends.get("loihi").compile(reloaded, "loihi2")
    except BackendError as exc:
        print("BackendError:", exc)
    """),
]

NOTEBOOKS = {
    "01_train_snn": NB01,
    "02_zoo": NB02,
    "03_deploy_lava": NB03,
    "04_partition_and_report": NB04,
    "05_crossbar_noise": NB05,
    "06_import_nir": NB06,
}


def build(name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = NOTEBOOKS[name]
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:2]}-{i:02d}"  # stable ids: rebuilding gives byte-identical files
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only check that the .ipynb files are up to date")
    args = ap.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = HERE / f"{name}.ipynb"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run python notebooks/_build.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
