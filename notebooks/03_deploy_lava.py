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
# # 03 — Quantise, deploy through Lava, check bit-exactness
#
# A trained network goes to Loihi in three steps:
#
# 1. **trace** the `nn.Module` into neuromap's graph and save it as NIR (`.nir`, HDF5) — the file
#    is the contract between training and hardware;
# 2. **quantise** it to Loihi's fixed-point arithmetic (8-bit weights with a shared exponent,
#    12-bit decays, integer threshold);
# 3. **run** it — through Intel's **Lava** (`Loihi2SimCfg(select_tag="fixed_pt")`, the bit-accurate
#    CPU model of the chip, `backends.get("lava")`) or through **neuromap's own vectorised
#    emulator** of the same arithmetic (`backends.get("loihi")`), which is batched and much faster.
#
# The two must agree **bit for bit** (spikes, current `u` and voltage `v` of every compartment at
# every step). This notebook checks that on a few samples with Lava, then uses the emulator on the
# whole test set.

# %% [markdown]
# `SHORT` is true when the environment variable `NEUROMAP_NOTEBOOK_SHORT=1` is set (the test suite
# does this): the notebook then trains for fewer epochs and on fewer samples, so it finishes in
# seconds while still showing the same behaviour. Unset it for the full run.

# %%
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

# %% [markdown]
# ## 1. Train a Loihi-compatible network
#
# Loihi resets the membrane to zero after a spike and fires on `v > threshold` (strictly); a
# network trained with those conventions (`reset="zero"`, the default `threshold_rule=">"`) is
# what runs on the chip. A model with another reset is refused by the quantiser with a message
# naming the layer (unless `allow_mismatch=True`).

# %%
digits = data.digits(encoding="rate", steps=25, seed=0)
train.set_seed(0)
model = SpikingMLP(64, [128], 10, neuron_params=LIFParams.from_decay(0.9, reset="zero"))
history = train.fit(model, digits, epochs=EPOCHS, lr=2e-3, progress=False)
print(f"float model after {EPOCHS} epochs: test accuracy {history.last['test_acc']:.3f}")

# %% [markdown]
# ## 2. Trace, save as NIR, load back
#
# `nm.trace(model, example)` runs the model once on an example `[T, B, ...]` and records its graph
# of NIR nodes (`Affine`, `LIF`, ...); neuron parameters are stored both as NIR's continuous-time
# fields and as neuromap metadata, so the reload is exact. A file with only standard nodes also
# loads in plain `nir.read`.

# %%
x_test = digits.x_test                                  # [T=25, 450, 64] binary spikes (time-major)
y_test = digits.y_test
nm.save(nm.trace(model, x_test[:, :2]), "digits.nir")
graph = nm.load("digits.nir")
print(f"digits.nir: {os.path.getsize('digits.nir') / 1024:.0f} KiB, {graph}")
print("netlist:", graph.lower())
print("plain nir.read:", {k: type(v).__name__ for k, v in nir.read("digits.nir").nodes.items()})

# %% [markdown]
# ## 3. Quantisation
#
# Per layer the quantiser picks a scale `S` (Loihi voltage units per float unit of membrane
# potential) and a weight exponent so that the largest weight uses the full signed 8-bit range:
#
# * `w_exp`: Loihi adds `W_int << w_exp << 6` to the synaptic current;
# * `du`: current decay, `alpha = 1 - (du + 1)/4096` (`du = 4095`: the current lasts one step,
#   as a LIF without synaptic current);
# * `dv`: voltage decay, `beta = 1 - dv/4096`;
# * `vth`: threshold mantissa, the neuron spikes when `v > vth << 6`;
# * `w err`: relative RMS error of the 8-bit weights against the float weights.

# %%
loihi = backends.get("loihi").compile(graph, "loihi2")
print(loihi.quant.table())
for name, q in loihi.quant.layers.items():
    print(f"layer {name}: beta error {q.beta_error:.2e} (float beta 0.9 vs 1 - dv/4096 = {1 - q.dv / 4096:.6f})")

# %% [markdown]
# ## 4. Lava vs neuromap's emulator, bit for bit
#
# The Lava backend builds the same quantised network from Lava processes (LIF + Dense) and runs it
# with `Loihi2SimCfg(select_tag="fixed_pt")`. Each Loihi synapse stage delays spikes by one step,
# so the raw records (`.raw`, `.u`, `.v`) are in Loihi time, `T + depth` steps long; the aligned
# `records` line up with the input. The cell below fails if any spike, current or voltage
# differs.

# %%
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

# %% [markdown]
# The integer voltage of a few output compartments, Lava (solid) and emulator (dots): the traces
# coincide. The dashed line is the threshold `vth << 6` of that layer; the voltage drops to 0 after
# each spike.

# %%
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

# %% [markdown]
# ## 5. The whole test set on the emulator
#
# Fixed point changes some spikes: decays are rounded to 1/4096, weights to 8 bits. The
# **spike agreement** per layer is the fraction of (step, sample, neuron) entries where the Loihi
# spike equals the float model's; the accuracy compares the readout (spike counts).

# %%
ref = backends.get("torch").compile(graph).run(x_test)
emu = loihi.run(x_test)
acc_float, acc_loihi = readout_accuracy(ref.output, y_test), readout_accuracy(emu.output, y_test)
print(f"float (torch backend) accuracy {acc_float:.3f}; Loihi fixed point accuracy {acc_loihi:.3f}")
agreement = {k: float((emu.records[k] == ref.records[k]).float().mean()) for k in emu.records}
print("spike agreement per layer:", {k: round(v, 4) for k, v in agreement.items()})
print(f"emulator: {emu.wall_seconds:.3f} s for {x_test.shape[1]} samples x {x_test.shape[0]} steps")

# %%
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

# %% [markdown]
# ## 6. `deploy()`: the same in one call, with a cost report
#
# `deploy(graph, x, backend=...)` compiles, runs, compares with the float model, collects the
# activity (spikes and synaptic operations per layer) and estimates energy and latency on the
# requested targets. Energy per inference is the activity counts times each target's published
# per-operation figures (plus static power over the run time); `explain()` prints every term with
# its source. Notebook 04 goes through the report in detail.

# %%
dep = deploy(graph, x_test, backend="loihi", labels=y_test, report_targets=["loihi2", "loihi"])
print(dep.summary())

# %%
print(dep.report.explain("loihi2", "energy"))
