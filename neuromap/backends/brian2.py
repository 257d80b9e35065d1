"""Brian2 as the reference simulator: neuromap's LIF / CuBa-LIF networks as ``NeuronGroup`` /
``Synapses`` built from the same parameter dataclasses (one definition, DESIGN.md).

neuromap's discretisation (:mod:`neuromap.neurons.params`) maps onto Brian2 exactly:

* ``integrator="exp"`` <-> ``method="exponential_euler"``, ``integrator="euler"`` <-> ``method="euler"``:
  with the input held over a step both give ``v <- beta v + (1 - beta)(v_leak + k I)``, and the
  synaptic current decays by ``alpha``. ``k = g / (1 - beta)`` turns Brian2's ``(v_leak - v + k I)/tau``
  form into neuromap's input gain ``g`` (``k = 1`` for ``decay_input=True``).
* Input and recurrent spikes jump into the current in Brian2's ``synapses`` slot of step ``t``
  and are used by the state update of step ``t + 1`` — exactly neuromap's ``x[t+1] = W s[t] + ...``.
  A CuBa neuron uses its current ``I`` as the jump target; a LIF neuron an accumulator ``x`` that
  is cleared after each state update.
* Threshold ``v > v_th`` (or ``>=``) then reset in the same step; neuromap's ``refractory_steps = R``
  (membrane clamped to ``v_reset``, spikes blocked for R steps) is Brian2's ``refractory=(R+1)*dt``
  with ``(unless refractory)`` and a reset to ``v_reset``.

With these choices a reservoir gives identical spike trains in neuromap and Brian2 (float64, the
``numpy`` code-generation target); tests pin it. ``reset_delay`` (snnTorch) has no Brian2 form and
is rejected with an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuromap.neurons import CubaLIFParams, LIFParams
from neuromap.optional import require

TARGETS = ("numpy", "cython", "cpp_standalone")


def _b2():
    return require("brian2", "the Brian2 backend")


def method_for(params: LIFParams) -> str:
    """Brian2 integration method that reproduces ``params.integrator`` exactly."""
    return "exponential_euler" if params.integrator == "exp" else "euler"


@dataclass(frozen=True)
class NeuronModel:
    """Brian2 ``NeuronGroup`` arguments for one neuron parameter set."""

    model: str
    threshold: str
    reset: str | None
    refractory: Any
    method: str
    namespace: dict[str, Any]
    jump_variable: str  # variable that input / recurrent spikes add to ("I" for CuBa, "x" for LIF)


def neuron_model(params: LIFParams) -> NeuronModel:
    """Equations, threshold, reset, refractoriness and method for ``params`` (see module docstring)."""
    b2 = _b2()
    if not isinstance(params, LIFParams):
        raise ValueError(f"params must be LIFParams or CubaLIFParams, got {type(params).__name__}")
    if params.reset_delay:
        raise ValueError("reset_delay=True (snnTorch's delayed reset) has no Brian2 equivalent; use reset_delay=False")
    cuba = isinstance(params, CubaLIFParams)
    beta = params.beta
    k = params.input_gain / (1.0 - beta)
    ref_flag = " (unless refractory)" if params.refractory_steps else ""
    jump = "I" if cuba else "x"
    model = f"dv/dt = (v_leak - v + k_in * {jump}) / tau_mem : 1{ref_flag}\n"
    if cuba:
        model += "dI/dt = -I / tau_syn : 1\n"
    else:
        model += "x : 1\n"
    ns: dict[str, Any] = {
        "v_leak": float(params.v_leak),
        "v_th": float(params.v_th),
        "v_reset": float(params.v_reset),
        "k_in": float(k),
        "tau_mem": float(params.tau_mem) * b2.second,
    }
    if cuba:
        ns["tau_syn"] = float(params.tau_syn) * b2.second
    threshold = "v >= v_th" if params.threshold_rule == ">=" else "v > v_th"
    if params.refractory_steps:
        reset = "v = v_reset"  # neuromap clamps the membrane to v_reset while refractory
        refractory = (params.refractory_steps + 1) * params.dt * b2.second
    else:
        reset = {"zero": "v = v_reset", "subtract": "v = v - v_th", "none": None}[params.reset]
        refractory = False
    return NeuronModel(model, threshold, reset, refractory, method_for(params), ns, jump)


def neuron_group(params: LIFParams, n: int, name: str = "neurons"):
    """A Brian2 ``NeuronGroup`` of ``n`` neurons with ``params`` at rest (``v = v_leak``).

    Spikes from :func:`synapses` add to ``group.<jump_variable>``; for a LIF group the accumulator is
    cleared after each state update (a ``run_regularly`` operation attached to the group)."""
    b2 = _b2()
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    m = neuron_model(params)
    kwargs = {"reset": m.reset} if m.reset is not None else {}
    if m.refractory is not False:
        kwargs["refractory"] = m.refractory
    group = b2.NeuronGroup(
        n, m.model, threshold=m.threshold, method=m.method, namespace=dict(m.namespace), name=name,
        dt=params.dt * b2.second, **kwargs,
    )
    group.v = params.v_leak
    if m.jump_variable == "x":
        group.run_regularly("x = 0", when="after_groups", name=f"{name}_clear_x")
    group.add_attribute("neuromap_jump_variable")
    group.neuromap_jump_variable = m.jump_variable
    return group


def synapses(pre, post, weights, name: str | None = None):
    """``Synapses`` from ``pre`` to ``post`` with weights given as a scipy sparse / dense matrix
    ``[post, pre]`` (neuromap's layout); a spike adds ``w`` to the post group's jump variable."""
    import scipy.sparse as sp

    b2 = _b2()
    W = sp.coo_matrix(weights)
    if W.shape != (len(post), len(pre)):
        raise ValueError(f"weights have shape {W.shape}, expected [post, pre] = {(len(post), len(pre))}")
    var = getattr(post, "neuromap_jump_variable", "I")
    kw = {"name": name} if name else {}
    S = b2.Synapses(pre, post, "w : 1", on_pre=f"{var}_post += w", dt=post.clock.dt, **kw)
    if W.nnz:
        S.connect(i=W.col.astype(np.int32), j=W.row.astype(np.int32))
        S.w[:] = W.data.astype(np.float64)
    return S


def spikes_from_monitor(monitor, n: int, steps: int, dt: float) -> np.ndarray:
    """Boolean raster ``[steps, n]`` from a ``SpikeMonitor``."""
    b2 = _b2()
    raster = np.zeros((steps, n), dtype=bool)
    t = np.asarray(monitor.t / b2.second)
    i = np.asarray(monitor.i)
    raster[np.rint(t / dt).astype(np.int64), i] = True
    return raster


def reservoir_objects(reservoir, u: np.ndarray, external_poisson: tuple[int, float, float] | None = None):
    """Brian2 objects for a :class:`neuromap.networks.lsm.Reservoir` driven by one input sequence.

    ``u``: ``[T, n_inputs]`` binary input spikes (one sample). ``external_poisson``: optional
    ``(n_sources, rate_hz, weight)`` independent Poisson input per neuron (``PoissonInput``).
    Returns ``(objects, group, spike_monitor)``; add ``objects`` to a ``Network`` and run
    ``T * dt`` seconds.
    """
    b2 = _b2()
    p = reservoir.params
    u = np.asarray(u, dtype=np.float64)
    if u.ndim == 3:
        if u.shape[1] != 1:
            raise ValueError("the Brian2 reservoir runs one sample at a time: u must be [T, n_inputs] or [T, 1, n_inputs]")
        u = u[:, 0]
    if u.ndim != 2 or u.shape[1] != reservoir.n_inputs:
        raise ValueError(f"u must have shape [T, {reservoir.n_inputs}], got {u.shape}")
    if u.shape[0] == 0:
        raise ValueError("zero-length input sequence (T = 0)")
    if not np.isin(u, (0.0, 1.0)).all():
        raise ValueError("the Brian2 reservoir input must be binary spikes (0/1)")
    N = reservoir.n
    group = neuron_group(p, N, name="reservoir")
    jump = group.neuromap_jump_variable
    w_in = reservoir._w_in64.numpy()
    # step 0's drive is the initial jump-variable value; later steps' spikes jump one step early
    setattr(group, jump, w_in @ u[0] + reservoir.bias)
    objects: list[Any] = [group]
    steps, chans = np.nonzero(u[1:])
    if steps.size:
        gen = b2.SpikeGeneratorGroup(reservoir.n_inputs, chans.astype(np.int32), steps * p.dt * b2.second,
                                     dt=p.dt * b2.second, name="inputs")
        objects += [gen, synapses(gen, group, w_in, name="input_synapses")]
    if reservoir.bias:
        group.run_regularly(f"{jump} += {reservoir.bias!r}", when="end", name="bias")  # contained in the group
    W = reservoir.connectivity.weights * reservoir.rec_scale
    if W.nnz:
        objects.append(synapses(group, group, W, name="recurrent"))
    if external_poisson is not None:
        n_src, rate, w = external_poisson
        objects.append(b2.PoissonInput(group, jump, int(n_src), float(rate) * b2.Hz, weight=float(w)))
    mon = b2.SpikeMonitor(group, name="spikes")
    objects.append(mon)
    return objects, group, mon


def simulate_reservoir(reservoir, u, target: str = "numpy") -> np.ndarray:
    """Run a reservoir on one binary input sequence ``u [T, n_inputs]`` in Brian2 (runtime mode,
    ``target`` = ``"numpy"`` or ``"cython"``). Returns the boolean spike raster ``[T, N]``."""
    b2 = _b2()
    if target not in ("numpy", "cython"):
        raise ValueError(f"target={target!r}: simulate_reservoir runs in runtime mode ('numpy' or 'cython'); "
                         "see benchmarks/lsm_brian2.py for cpp_standalone")
    if hasattr(u, "detach"):
        u = u.detach().cpu().numpy()
    u = np.asarray(u)
    b2.prefs.codegen.target = target
    objects, group, mon = reservoir_objects(reservoir, u)
    net = b2.Network(*objects)
    T = u.shape[0]
    net.run(T * reservoir.params.dt * b2.second, namespace={})
    return spikes_from_monitor(mon, reservoir.n, T, reservoir.params.dt)


def firing_rates(raster: np.ndarray, dt: float) -> np.ndarray:
    """Per-neuron firing rate (Hz) of a ``[T, N]`` raster."""
    raster = np.asarray(raster)
    return raster.sum(0) / (raster.shape[0] * dt)


def isclose_rates(a: np.ndarray, b: np.ndarray, rel: float = 0.05) -> bool:
    """Whether two population mean rates agree within ``rel``."""
    ma, mb = float(np.mean(a)), float(np.mean(b))
    return math.isclose(ma, mb, rel_tol=rel)
