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
# # 06 — Bring in a model from Norse or snnTorch (NIR)
#
# NIR (the Neuromorphic Intermediate Representation) describes neurons in **continuous time**,
# e.g. a LIF as `tau dv/dt = (v_leak - v) + r I`. Every simulator discretises that differently,
# and exporters differ in what they write into `tau`, `r` and `w_in`. `neuromap.graph.from_nir`
# therefore takes a **convention** that says how the file was written, and maps each neuron onto
# neuromap's one discrete LIF so that the imported graph produces the **same spikes** as the
# exporting library:
#
# | convention | exporter | discretisation written into neuromap's LIF |
# |---|---|---|
# | `"nir"` | NIR's definition, neuromap's export | Euler at `dt`, reset to `v_reset` |
# | `"norse"` | `norse.torch.to_nir(net, sample, dt)` | `beta = 1 - dt^2 / tau_nir`, gain `1 - beta`, reset to `v_reset` |
# | `"snntorch"` | snnTorch (`dt = 1e-4`) | snnTorch's `beta`, gain 1, subtractive reset one step late |
#
# (Norse writes `tau_nir = dt / tau_mem_inv`, the time constant multiplied by `dt`.)

# %% [markdown]
# `SHORT` is true when the environment variable `NEUROMAP_NOTEBOOK_SHORT=1` is set (the test suite
# does this): the notebook then trains for fewer epochs and on fewer samples, so it finishes in
# seconds while still showing the same behaviour. Unset it for the full run.

# %%
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


# %% [markdown]
# ## 1. Norse
#
# A Norse network — `Linear -> LIFBoxCell` (a LIF without synaptic current) `-> Linear -> LIFCell`
# (current-based) — exported with `norse.to_nir(net, sample, dt=1e-3)`. Norse simulates step by
# step with explicit state; its reference output is collected below, then the NIR graph is
# imported with `convention="norse"` and run on neuromap's float backend.

# %%
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

# %% [markdown]
# What the importer made of Norse's LIF: Euler integration with `decay_input=True` (input gain
# `1 - beta`), reset to zero, `beta = 1 - dt / tau_mem` with Norse's default `tau_mem` of 10 ms.

# %%
spec = spec_from_nir(graph.nodes["1"], "1")
print(spec.params)
print(f"beta per neuron: {np.unique(spec.beta)} (1 - dt/tau_mem = {1 - dt / 1e-2:.6f})")
run = backends.get("torch").compile(graph).run(x)
assert torch.equal(run.output, norse_out), "imported graph disagrees with Norse"
print(f"identical output spikes: {int(norse_out.sum())} spikes in {T} steps x 3 samples x 4 neurons")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
raster(axes[0], norse_out[:, 0], "Norse (its own simulator), sample 0")
raster(axes[1], run.output[:, 0], "neuromap (imported NIR), sample 0")
axes[0].set_ylabel("output neuron")
fig.tight_layout()

# %% [markdown]
# ## 2. snnTorch
#
# snnTorch 1.0's `export_to_nir` fails with nir 1.0.8: its final type check sees the batch axis of
# the sample (or a 0-d LIF) as a type mismatch. The cell below shows the error.

# %%
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

# %% [markdown]
# The graph snnTorch builds before that check is fine. The workaround is to call the same
# extraction it uses, `nirtorch.extract_nir_graph` with snnTorch's module mapper and
# `ignore_dims=[0]` (drop the batch axis); it returns a `nir.NIRGraph` built with
# `type_check=False`. Import it with `convention="snntorch"`.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    snn_nir = nirtorch.extract_nir_graph(snn_net, _extract_snntorch_module, torch.randn(1, 8), model_name="snntorch",
                                         ignore_submodules_of=[snn.RLeaky, snn.RSynaptic], ignore_dims=[0])
print("NIR nodes written by snnTorch:", {k: type(v).__name__ for k, v in snn_nir.nodes.items()})
snn_graph = from_nir(snn_nir, convention="snntorch")
print(spec_from_nir(snn_graph.nodes["1"], "1").params)

# %%
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

# %% [markdown]
# ## 3. From here on it is a neuromap graph
#
# An imported graph saves, loads, lowers and maps like a traced one. Saving keeps the
# discretisation chosen at import as neuromap metadata, so the reloaded graph gives the same spikes
# without the convention. Each backend says up front whether it can run the graph
# (`unsupported()` lists the reasons, empty when it can).

# %%
nm.save(snn_graph, "from_snntorch.nir")
reloaded = nm.load("from_snntorch.nir")
assert torch.equal(backends.get("torch").compile(reloaded).run(x2).output, snn_out)
print("reloaded from_snntorch.nir: same spikes;", reloaded.lower())
print("plain nir.read of the file:", {k: type(v).__name__ for k, v in nir.read("from_snntorch.nir").nodes.items()})
for name in ["loihi", "spinnaker2", "crossbar"]:
    problems = backends.get(name).unsupported(reloaded)
    print(f"{name:>10}: {'can run it' if not problems else problems}")

# %% [markdown]
# The snnTorch graph uses snnTorch's delayed subtractive reset, which Loihi does not have (it
# resets to zero). Compiling for Loihi therefore fails at compile time with the layer's name and
# the reason, instead of silently running a different model:

# %%
from neuromap.backends import BackendError

try:
    backends.get("loihi").compile(reloaded, "loihi2")
except BackendError as exc:
    print("BackendError:", exc)
