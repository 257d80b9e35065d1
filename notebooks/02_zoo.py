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
# # 02 — The model zoo: spike-driven transformer, spiking LMU, EGRU, LSM
#
# neuromap's zoo (`neuromap.networks`) holds re-implementations of recent spiking architectures,
# all time-major `[T, B, ...]` and built from neuromap's one LIF definition (through presets that
# reproduce the reference code's conventions). Each section trains or runs one of them on digits:
#
# | section | model | input |
# |---|---|---|
# | 1 | Spike-driven Transformer V1 (`.tiny()`), Meta-SpikeFormer | 8x8 image, its pixels repeated for T = 4 steps |
# | 2 | Spiking LMUFormer (`LMUFormer(spiking=True)`), L2MU | one image row (8 pixels) per step, T = 8 |
# | 3 | EGRU (event-based GRU) | one image row per step, T = 8 |
# | 4 | Liquid state machine (fixed LIF reservoir + trained readout) | column-scanned spikes, T = 40 |
#
# Training uses `neuromap.train.fit`; these models output logits per step and are trained on the
# mean over time (`loss="membrane_ce"`). Accuracies depend on the number of epochs: the short run
# (see below) trains each model for a few epochs only.

# %% [markdown]
# `SHORT` is true when the environment variable `NEUROMAP_NOTEBOOK_SHORT=1` is set (the test suite
# does this): the notebook then trains for fewer epochs and on fewer samples, so it finishes in
# seconds while still showing the same behaviour. Unset it for the full run.

# %%
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


# %% [markdown]
# ## 1. Spike-driven Transformer
#
# Spike-driven self-attention (SDSA, Yao et al. 2023) works on binary Q, K, V:
# `A = LIF(sum over tokens of K * V)`, `Y = Q * A` — an AND, a popcount and a mask, no
# multiplications. The tiny configuration for 8x8 digits: a conv stem 1 -> 32 -> 64 channels with
# one max-pool (16 tokens), one transformer block with 4 heads. Neurons are SpikingJelly-style LIF
# (tau 2 steps, hard reset, `>=`, sigmoid surrogate).

# %%
digits_img = data.digits(encoding="current", steps=4, flatten=False, seed=0)   # x: [N, T=4, 1, 8, 8]
train.set_seed(0)
sdt = SpikeDrivenTransformer.tiny()
print(f"SpikeDrivenTransformer.tiny(): {n_params(sdt):,} parameters")
h_sdt = train.fit(sdt, digits_img, epochs=EPOCHS["sdt"], lr=2e-3, batch_size=32, loss="membrane_ce", progress=False)
print({k: round(v, 3) for k, v in h_sdt.last.items()})

# %% [markdown]
# **Spike-driven audit.** A layer whose input is binary needs only additions (accumulate the
# weights of the active inputs); integer inputs need repeated additions; real inputs need
# multiply-accumulates. `spike_driven_audit` runs a batch and records the values entering every
# conv / linear layer and attention op. `nonzero` is the fraction of non-zero input elements
# (the firing rate for binary inputs). The first conv sees analog pixels, as in the reference.

# %%
x_img = digits_img.x_test[:, :64]                   # [T, B, 1, 8, 8]
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

# %% [markdown]
# Meta-SpikeFormer (Spike-driven Transformer V2) uses SDSA-3 attention and re-parameterisable
# convolutions (`RepConv`, a single 3x3 conv at inference, audited as one layer). Its tiny
# configuration is audited here untrained — the audit is about which values reach each layer,
# not about accuracy.

# %%
msf = MetaSpikeFormer.tiny()
print(f"MetaSpikeFormer.tiny(): {n_params(msf):,} parameters")
audit_msf = spike_driven_audit(msf, x_img[:, :16])
print(audit_msf)

# %% [markdown]
# ## 2. Spiking LMU
#
# A Legendre Memory Unit keeps a sliding window of its input of length `theta` steps in `order`
# state variables: `m[t] = A_bar m[t-1] + B_bar u[t]`, the coefficients of the window in shifted
# Legendre polynomials. Because `u` enters linearly, the whole sequence can be computed as one
# causal convolution (FFT) instead of a loop. Below: an input pulse at step 10 held in a memory
# with `theta = 40` steps, `order = 12`, decoded at several delays — the decoded value shows the
# pulse again when the delay matches.

# %%
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

# %% [markdown]
# **Spiking LMUFormer** (Liu et al. 2024): a conv embedding, the LMU as token mixer with LIF
# neurons on `u`, `m` and `h`, a conv channel mixer, membrane residuals. Trained on row-wise
# digits (8 steps of 8 pixels).

# %%
rows = rowwise_digits(seed=0)
print(rows)
train.set_seed(0)
slmu = LMUFormer(8, 10, dim=64, depth=1, theta=8.0, spiking=True)
print(f"Spiking LMUFormer: {n_params(slmu):,} parameters")
h_lmu = train.fit(slmu, rows, epochs=EPOCHS["lmu"], lr=2e-3, loss="membrane_ce", progress=False)
print({k: round(v, 3) for k, v in h_lmu.last.items()})

# %% [markdown]
# **L2MU** (Fra et al. 2024) goes further: every LMU element is a population of snnTorch-style
# LIF neurons communicating only by spikes (`u`, the memory `m` of `memory_size x order`
# neurons, the hidden state `h`, and an output population). Below, an untrained L2MU is run on a
# batch of row-wise digits and the spikes of each population are counted with
# `train.record_spikes` — the populations that make up its activity (and its cost on hardware).

# %%
torch.manual_seed(0)
l2mu = L2MU(8, order=8, theta=8.0, memory_size=16, hidden=64, n_out=10)
x_rows = rows.x_test[:, :64]                          # [T=8, B, 8]
with torch.no_grad(), train.record_spikes(l2mu) as spikes:
    out = l2mu(x_rows)
sizes = {"lif_u": 16, "lif_m": 16 * 8, "lif_h": 64, "lif_o": 10}
for name, n in sizes.items():
    rate = spikes.get(name, 0.0) / (n * x_rows.shape[0] * x_rows.shape[1])
    print(f"{name}: {n:4d} neurons, {spikes.get(name, 0.0) / x_rows.shape[1]:7.1f} spikes/sample, rate {rate:.3f}")
print("output", tuple(out.shape))

# %% [markdown]
# ## 3. EGRU — the event-based GRU
#
# EGRU (Subramoney et al. 2023) is a GRU whose units emit an **event** only when their internal
# state `c` crosses a learned threshold; the event carries the state (`y = o * c`) and the state
# is reset by subtraction. Silent units send nothing and — outside the support `|c - theta| < 1/eps`
# of the pseudo-derivative — pass no gradient either. `model.rnn.stats` reports per layer the
# **activity** (mean events per unit and step), **activity sparsity** (1 - activity) and
# **backward sparsity** (fraction of unit-steps with zero pseudo-derivative).
#
# The classifier below is EGRU(8 -> 64) followed by a linear readout on the graded events.

# %%
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
    egru(rows.x_test)
print("EGRU on the test set:", {k: round(v, 3) for k, v in egru.rnn.stats[0].items()})

# %% [markdown]
# One test sample: the events `o` (which units fire at which step) and the graded outputs
# `y = o * c` that the next layer receives.

# %%
with torch.no_grad():
    layer_out = egru.rnn.layers[0].forward_sequence(rows.x_test[:, :1])
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

# %% [markdown]
# ## 4. Liquid state machine
#
# A fixed, random, recurrent LIF reservoir (Maass et al. 2002): 200 neurons on a 10x5x4 grid, 20 %
# inhibitory, connection probability `C exp(-(D/lambda)^2)` falling with grid distance `D`,
# Dale's law. Nothing in the reservoir is trained; a linear (ridge) readout is fitted on its
# spike counts. Each digit is **column-scanned**: for 5 steps per image column, input channel `r`
# (image row `r`) spikes with probability `0.8 x pixel intensity` (T = 40 steps), so the image's
# horizontal structure is only present in the *timing* of the input spikes.
# `rec_scale` scales all recurrent weights (0 = no recurrence).

# %%
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


# %% [markdown]
# Two readouts, on the input spikes alone and on the reservoir's spikes:
#
# * **8 time bins**: spike counts of every channel / neuron in 8 windows of 5 steps — the readout
#   sees *when* spikes happened;
# * **total counts**: one count per channel / neuron over the whole sequence — all timing is
#   lost unless the reservoir has turned it into *which* neurons fire.

# %%
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

# %%
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

# %% [markdown]
# **Summary of this run** (accuracy depends on epochs: the short run trains on a subset for one
# or two epochs, the full run longer).

# %%
summary = {
    "Spike-driven Transformer (tiny)": h_sdt.last["test_acc"],
    "Spiking LMUFormer": h_lmu.last["test_acc"],
    "EGRU": h_egru.last["test_acc"],
    "LSM (rec_scale 0.1, 8 time bins)": table["reservoir, rec_scale 0.1"]["8 time bins"],
}
for k, v in summary.items():
    print(f"{k:<34}{100 * v:6.1f} % test accuracy")
