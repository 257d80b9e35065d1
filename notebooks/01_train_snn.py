# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 — Spiking neurons, surrogate gradients and training
#
# This notebook builds up a spiking network from its parts:
#
# 1. the **LIF** and **current-based LIF (CuBa)** neurons, their parameters in physical units and
#    their one discretisation;
# 2. **surrogate gradients** — how a network whose forward pass is a step function is trained
#    with backpropagation;
# 3. **training** a spiking MLP on scikit-learn's 8x8 digits (shipped with scikit-learn, no
#    download), rate-coded as spikes;
# 4. **raster plots** of input, hidden and output spikes.
#
# Conventions used throughout neuromap: tensors are **time-major** `[T, B, ...]` (time steps,
# batch, neurons); times are in **seconds**; membrane potentials are in arbitrary units with the
# threshold usually at 1.

# %% [markdown]
# `SHORT` is true when the environment variable `NEUROMAP_NOTEBOOK_SHORT=1` is set (the test suite
# does this): the notebook then trains for fewer epochs and on fewer samples, so it finishes in
# seconds while still showing the same behaviour. Unset it for the full run.

# %%
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

# %% [markdown]
# ## 1. The LIF neuron
#
# `LIFParams` holds a neuron in physical units. Per time step of length `dt`, with input `x[t]`:
#
# ```
# h[t] = beta * v[t-1] + (1 - beta) * v_leak + g * x[t]      beta = exp(-dt / tau_mem)
# s[t] = h[t] > v_th                                          (">=" with threshold_rule=">=")
# v[t] = h[t] - v_th * s[t]     reset="subtract"
#      = v_reset if s[t] else h[t]                            reset="zero"
#      = h[t]                   reset="none"
# ```
#
# `beta` is the fraction of the membrane potential kept from one step to the next; `g` is 1
# (snnTorch's `V = beta V + X`) or `1 - beta` with `decay_input=True` (the `V += (X - V)/tau` form of
# SpikingJelly / Norse / Brian2). The same dataclass feeds every backend (float torch, Loihi fixed
# point, Lava, SpiNNaker2, Brian2), so this discretisation is written down exactly once.

# %%
p = LIFParams(tau_mem=20e-3, dt=1e-3, v_th=1.0, reset="subtract")
print(p)
print(f"beta = exp(-dt/tau_mem) = {p.beta:.5f} per step, input gain g = {p.input_gain}")
print(f"from a per-step decay: {LIFParams.from_decay(0.9)}")

# %% [markdown]
# Drive one neuron with a constant input per step and look at the three reset modes. The
# membrane shown is `v[t]`, i.e. after the reset; spikes are drawn as ticks above the threshold
# (dashed). With `reset="none"` the neuron keeps integrating towards its steady state
# `g x / (1 - beta)` and fires on every step once above threshold.

# %%
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

# %% [markdown]
# Without reset the update is linear, so it has a closed form:
# `v[t] = g x (1 - beta^(t+1)) / (1 - beta)` for a constant input `x` from step 0. The difference
# printed below is the float32 rounding of the fused kernel against that formula.

# %%
out = LIF(p.replace(reset="none", v_th=1e9)).simulate(x)
t = torch.arange(T, dtype=torch.float64)
closed = p.input_gain * 0.08 * (1 - p.beta ** (t + 1)) / (1 - p.beta)
print(f"max |simulated - closed form| = {float((out.membrane[:, 0, 0].double() - closed).abs().max()):.2e}")

# %% [markdown]
# ## 2. Current-based LIF (CuBa)
#
# A CuBa neuron first low-pass filters its input into a synaptic current, then integrates that
# current into the membrane (Norse / snnTorch order):
#
# ```
# i[t] = alpha * i[t-1] + x[t]                 alpha = exp(-dt / tau_syn)
# h[t] = beta * v[t-1] + (1 - beta) * v_leak + g * i[t]
# ```
#
# Below: the response to a single input spike at step 5 (threshold set out of reach, so this is
# the post-synaptic potential). The LIF membrane jumps and decays; the CuBa membrane rises over a
# few `tau_syn` and decays more slowly — its peak time is set by both time constants.

# %%
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

# %% [markdown]
# ## 3. Surrogate gradients
#
# The spike `s = H(h - v_th)` has zero derivative almost everywhere, so plain backpropagation
# passes nothing through it. Surrogate-gradient training keeps the Heaviside step in the forward
# pass and replaces its derivative in the backward pass with a smooth bump of
# `x = h - v_th`. Each surrogate has a `slope` (sharpness); the defaults follow the library each
# one comes from (SuperSpike / snnTorch `fast_sigmoid`, snnTorch `atan`, SpikingJelly `sigmoid`,
# EGRU `triangle`).

# %%
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

# %% [markdown]
# The gradient reaches the input through the spikes: here the number of spikes a neuron emits in
# 100 steps is differentiated with respect to its (constant) input weight. The forward pass — and
# so the spike count — is the same for every surrogate; only the gradient differs.

# %%
for name in ["fast_sigmoid", "atan", "sigmoid", "triangle"]:
    w = torch.tensor(0.08, requires_grad=True)
    count = LIF(p, surrogate=name)(w * torch.ones(T, 1, 1)).sum()
    count.backward()
    print(f"{name:>13}: spikes {int(count):3d}, d(spike count)/dw = {float(w.grad):8.2f}")

# %% [markdown]
# ## 4. Data: digits as spikes
#
# `data.digits(encoding="rate", steps=25)` turns each 8x8 image (pixel values 0..16) into 25 steps
# of Bernoulli spikes on 64 input channels, spiking with probability `pixel / 16` per step. The
# split is stratified, 75 % train / 25 % test, deterministic under `seed`. Like every array in
# neuromap, `x_train` and `x_test` are time-major `[T, N, 64]`; `batches()` yields `[T, B, 64]` and
# `samples("test", n)` the first `n` test samples.

# %%
digits = data.digits(encoding="rate", steps=25, seed=0)
print(digits)
sample = digits.x_test[:, 0]                           # [T, 64]: the first test sample
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

# %% [markdown]
# ## 5. Train a spiking MLP
#
# `SpikingMLP(64, [128], 10)` is `Linear -> LIF -> Linear -> LIF`. The neurons here reset to zero
# and spike on `v > v_th` — Loihi's convention, so the same model can be deployed on Loihi in
# notebook 03. The loss is cross-entropy on the **output spike counts** (`loss="count_ce"`, the
# default): the predicted class is the output neuron that spikes most. `train.fit` uses Adam and
# returns a per-epoch history; `test_spikes_per_sample` counts the spikes of all spiking layers
# for one test sample (all 25 steps).

# %%
train.set_seed(0)
model = SpikingMLP(64, [128], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
print(model)
history = train.fit(model, digits, epochs=EPOCHS, lr=2e-3, progress=False)
for row in history.epochs:
    print({k: round(v, 4) for k, v in row.items()})

# %%
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

# %% [markdown]
# ## 6. Raster plots
#
# Run one test sample through the trained network layer by layer and plot every spike: input
# (64 channels), hidden (128 LIF) and output (10 LIF, one per class). The prediction is the output
# neuron with most spikes.

# %%
x1, _ = digits.samples("test", 1)                      # [T, 1, 64]
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

# %% [markdown]
# Firing rates over the whole test set: the histogram shows, per hidden neuron, the mean number of
# spikes per step (0 = silent, 1 = fires on every step). Silent neurons cost nothing on
# event-driven hardware but also contribute nothing.

# %%
with torch.no_grad():
    xt = digits.x_test                                 # [T, N, 64]
    rates = model[1](model[0](xt)).mean((0, 1))
fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(rates.numpy(), bins=30)
ax.set_xlabel("hidden firing rate (spikes / neuron / step)")
ax.set_ylabel("neurons")
fig.tight_layout()
print(f"silent hidden neurons: {int((rates == 0).sum())} of {rates.numel()}; mean rate {float(rates.mean()):.3f}")

# %% [markdown]
# ## 7. Does the surrogate matter?
#
# The same network trained from the same seed with three surrogates (fewer epochs each). The
# surrogate's shape and slope change the gradient, and so the trajectory and the activity level.

# %%
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

# %% [markdown]
# **Next:** notebook 02 runs the model zoo (spike-driven transformer, spiking LMU, EGRU, LSM);
# notebook 03 deploys a network like this one on Loihi's fixed-point arithmetic through Lava.
