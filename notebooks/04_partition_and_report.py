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
# # 04 — Partitioning onto chips, and energy / latency across targets
#
# Before a network runs on a many-core chip it is **split** into core-sized pieces, **partitioned**
# (which neurons share a core), **placed** on the chip's mesh of routers and **routed**. The
# result — a `Mapping` — decides how many cores are used and how much spike traffic crosses the
# network-on-chip. The **energy / latency report** then combines the network's measured activity
# with each target's per-operation figures (`hardware/*.toml`, each with a source).
#
# Targets shipped: `spinnaker2`, `loihi`, `loihi2` (digital neuromorphic), `crossbar-pcm`,
# `crossbar-rram` (analog in-memory), `cpu`, `gpu-a100`, `gpu-h100` (conventional).

# %% [markdown]
# `SHORT` is true when the environment variable `NEUROMAP_NOTEBOOK_SHORT=1` is set (the test suite
# does this): the notebook then trains for fewer epochs and on fewer samples, so it finishes in
# seconds while still showing the same behaviour. Unset it for the full run.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython import get_ipython
from IPython.display import display

import neuromap as nm
from neuromap import backends, data, targets, train
from neuromap.deploy import readout_accuracy, records_with_inputs
from neuromap.energy import collect
from neuromap.energy.report import build_report
from neuromap.networks import SpikingMLP
from neuromap.neurons import LIFParams
from neuromap.partition import partition, synthetic

SHORT = os.environ.get("NEUROMAP_NOTEBOOK_SHORT") == "1"
EPOCHS = 5 if SHORT else 30
torch.manual_seed(0)
print("targets:", targets.available())



def restore_backend():
    """Mapping.plot and Report.save select matplotlib's file-only Agg backend; switch back to inline plots."""
    get_ipython().run_line_magic("matplotlib", "inline")


def show_figure(fig):
    restore_backend()
    display(fig)
    plt.close(fig)


# %% [markdown]
# ## 1. What a target says
#
# A target is a TOML file of constraints and costs; every figure carries a unit, a `source` and
# a confidence level (H: read in code or quoted verbatim, M: quoted by a second party, L: a single
# secondary source or recollection, D: derived). `neuromap targets NAME` prints the same.

# %%
for name in ["spinnaker2", "loihi2", "crossbar-pcm"]:
    t = targets.load(name)
    print(f"{name} ({t.kind}), energy figures:")
    for key, fig in t.figures():
        if key.startswith("energy."):
            text = str(fig)
            print(f"    {key:<28}{text[:110] + '...' if len(text) > 110 else text}")

# %% [markdown]
# ## 2. Partitioning a convolutional network on SpiNNaker2
#
# A generated conv net (2x32x32 input, two 3x3 conv layers of 16 and 32 channels, a dense readout;
# about 25,000 neurons and 1.5 million synapses) is partitioned onto SpiNNaker2 with three methods:
#
# * `metis`: graph partitioning (pymetis) that minimises the spike traffic cut between cores;
# * `sequential`: fill cores in neuron order;
# * `random`: random assignment (a baseline).
#
# Traffic is counted in **packets per time step**: each spike of a neuron is one multicast packet
# per destination core, times its firing rate (here the default rate, as no activity is given).
# `cut traffic` is the part that leaves its core; `hop-weighted traffic` multiplies each packet by
# the number of router hops it travels on the mesh.

# %%
conv = synthetic.conv_net((2, 32, 32), (16, 32), 10, seed=0)
print(conv)
mappings = {m: partition(conv, "spinnaker2", method=m) for m in ["metis", "sequential", "random"]}
print(f"{'method':<12}{'cores':>7}{'cut traffic':>14}{'hop traffic':>14}{'max link load':>15}")
for m, mp in mappings.items():
    mt = mp.metrics
    print(f"{m:<12}{mt['cores']:>7}{mt['cut_traffic']:>14.1f}{mt['hop_traffic']:>14.1f}{mt['max_link_load']:>15.2f}")

# %%
for label, value in mappings["metis"].summary():
    print(f"{label:<28}{value}")
show_figure(mappings["metis"].plot(n_links=20))

# %% [markdown]
# The plot shows each router of the chip's mesh coloured by the utilisation of its cores (the
# maximum over the per-core limits: neurons, synapse memory, ...), and the busiest links as lines
# whose width is proportional to their load. Compare with the random placement:

# %%
show_figure(mappings["random"].plot(n_links=20))

# %% [markdown]
# The same network on Loihi 2 and on a PCM crossbar (where the unit is a tile of rows x columns
# rather than a core):

# %%
for target in ["loihi2", "crossbar-pcm"]:
    mp = partition(conv, target, method="metis")
    print(mp)

# %% [markdown]
# ## 3. A trained network: activity, then energy and latency per target
#
# Estimates need the network's **activity** — how many spikes each population emits and how many
# synaptic operations (synops: one weight accumulated because of one input spike) each projection
# performs. They are measured by running the traced graph on a backend and counting
# (`energy.collect`).

# %%
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

# %% [markdown]
# Measured rates also change the mapping's traffic: with `activity=...` the partitioner weighs
# each neuron's packets by its population's measured firing rate instead of the default rate.

# %%
for act in [None, activity]:
    mt = partition(netlist, "spinnaker2", method="metis", activity=act).metrics
    print(f"{'measured rates' if act is not None else 'default rate'}: {mt['cores']} core(s), "
          f"traffic {mt['traffic_total']:.1f} packets/step")

# %% [markdown]
# `build_report(netlist, activity, targets)` maps the network on every target and estimates:
#
# * **energy / inference** (J): synops x energy per synop + neuron updates x energy per update +
#   spikes / hops x their energy (where the target publishes one) + static power x run time,
#   divided by the number of samples;
# * **latency / step** and **latency / inference** (s): the time one time step takes on the target
#   (the slowest core, or the target's fixed step), times the number of steps;
# * **omitted**: terms left out because the target has no published figure for them (they are
#   never replaced by a guess).
#
# The accuracy column is the float model's accuracy here (the Loihi fixed-point accuracy is
# measured in notebook 03).

# %%
names = ["loihi2", "loihi", "spinnaker2", "crossbar-pcm", "crossbar-rram", "cpu", "gpu-a100"]
report = build_report(netlist, activity, names, model="digits SpikingMLP 64-256-10 (T=25)",
                      accuracy={t: accuracy for t in names})
print(report.table())

# %%
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

# %% [markdown]
# Every number can be traced back: `explain(target, quantity)` lists each term as
# count x figure (with the figure's key, confidence and source) = result.

# %%
print(report.explain("spinnaker2", "energy"))
print()
print(report.explain("loihi2", "latency"))

# %% [markdown]
# The report also saves as HTML (tables and plots, one file) or JSON — the same as
# `neuromap report digits.nir --target all --format html -o report.html` on the command line.

# %%
path = report.save("report.html")
restore_backend()
print(path, f"{os.path.getsize(path) / 1024:.0f} KiB")
