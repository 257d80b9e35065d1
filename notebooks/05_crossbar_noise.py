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
# # 05 — Memristive crossbars: drift and hardware-aware training
#
# On an analog in-memory crossbar each weight is stored as the conductance difference of two
# devices (`G+ - G-`) and a matrix-vector product is one read of the array. Phase-change memory
# (PCM) is imperfect in three ways that neuromap's PCM model (after aihwkit's `PCMLikeNoiseModel`)
# reproduces:
#
# * **programming noise**: the programmed conductance misses its target (std depends on the
#   target);
# * **drift**: after programming the conductance decays as `G(t) = G_prog (t / t0)^(-nu)`, with a
#   device-to-device random exponent `nu`; `t` is the time since programming in seconds;
# * **read noise** (1/f), growing slowly with `t`.
#
# **Global drift compensation** rescales each layer's output by a factor measured on the array
# itself (the mean absolute output for a calibration input at programming time vs now).
# **Hardware-aware (HWA) training** injects device-shaped weight noise during training, so that
# the network learns weights that tolerate it. The figures come from `hardware/crossbar-pcm.toml`
# (DAC/ADC bits, output noise, ...).

# %% [markdown]
# `SHORT` is true when the environment variable `NEUROMAP_NOTEBOOK_SHORT=1` is set (the test suite
# does this): the notebook then trains for fewer epochs and on fewer samples, so it finishes in
# seconds while still showing the same behaviour. Unset it for the full run.

# %%
import dataclasses
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

from neuromap import data, targets, train
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

# %%
target = targets.load("crossbar-pcm")
times = [float(t) for t in target.get("device.t_inference_grid")]
base = CrossbarConfig.from_target(target)
print(base)
print("read times after programming (s):", times)
digits = data.digits(encoding="rate", steps=25, seed=0)
eval_data = digits if N_TEST is None else dataclasses.replace(
    digits, x_test=digits.x_test[:N_TEST], y_test=digits.y_test[:N_TEST])


# %% [markdown]
# ## 1. Train twice: standard and hardware-aware
#
# Both runs start from the same seed. For HWA training the model's `nn.Linear` layers are swapped
# for `CrossbarLinear` layers (`to_crossbar(..., program=False)`): in training mode they add a
# fresh draw of programming-like noise to the weights on every forward pass. The trained weights
# are copied back into a plain model (the parameter names are the same).

# %%
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

# %% [markdown]
# ## 2. Programmed weights over time
#
# Program the standard model on PCM tiles and compare the weights the conductances represent
# (`effective_weight()`) with the trained weights, 1 second and 1 year after programming, without
# and with global drift compensation. Points on the diagonal are exact; the spread is programming
# and read noise; without compensation drift shrinks all weights towards zero.

# %%
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

# %% [markdown]
# ## 3. Accuracy over time after programming
#
# For each model, with and without drift compensation, the network is programmed with `SEEDS`
# different device seeds and read at every time of the target's grid (1 s, 1 h, 1 day, 1 year).
# The plot shows mean +- standard deviation over seeds; the grey lines are the float accuracies
# (solid: standard, dashed: HWA). Whether HWA training pays off depends on the injected noise
# level (`HWA_NOISE`), the training length and the read time — compare the curves, and try other
# values.

# %%
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

# %%
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

# %% [markdown]
# ## 4. What the crossbar did
#
# For the last crossbar model evaluated above (HWA-trained, no drift compensation),
# `tile_summary` shows how each layer was laid out on 256x256 tiles (utilisation = used cells /
# cells of the tiles), and `layer_counters` counts the operations of its last evaluation:
# matrix-vector products (`mvms`), DAC conversions of the inputs, ADC conversions of the outputs and
# the multiply-accumulates done in the analog domain (`macs`). These counters are what the energy
# estimate of a crossbar target multiplies with its per-operation figures.

# %%
for name, tiles in tile_summary(xm).items():
    for t in tiles:
        print(f"layer {name}: {t['n_out']}x{t['n_in']} on {t['n_tiles']} tile(s) of {t['rows']}x{t['cols']}, "
              f"utilisation {100 * t['utilisation']:.1f} %")
for name, c in layer_counters(xm).items():
    print(f"layer {name}:", {k: f"{v:,}" for k, v in c.items()})
