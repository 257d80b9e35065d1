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

``backends.get("brian2")`` is a netlist backend: a lowered graph of spike inputs and LIF / CuBa
populations (dense, sparse, conv and identity projections, biases, delays, self-loops) is simulated
population by population in topological order, each driven by its sources' recorded spikes
(:func:`driven_population`), one sample at a time. It needs no target (a simulator, not hardware).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neuromap.neurons import CubaEIParams, CubaLIFParams, LIFParams
from neuromap.optional import require

from .base import Implementations

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


def neuron_model(params: LIFParams, bias: bool = False) -> NeuronModel:
    """Equations, threshold, reset, refractoriness and method for ``params`` (see module docstring);
    ``bias``: a per-neuron constant ``b`` the group adds to its jump variable every step."""
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
    two = isinstance(params, CubaEIParams)  # a second current "I_inh" that inhibitory synapses jump into
    total = "(I + I_inh)" if two else jump
    model = f"dv/dt = (v_leak - v + k_in * {total}) / tau_mem : 1{ref_flag}\n"
    if cuba:
        model += "dI/dt = -I / tau_syn : 1\n"
    else:
        model += "x : 1\n"
    if two:
        model += "dI_inh/dt = -I_inh / tau_syn_inh : 1\n"
    if bias:
        model += "b : 1 (constant)\n"
    ns: dict[str, Any] = {
        "v_leak": float(params.v_leak),
        "v_th": float(params.v_th),
        "v_reset": float(params.v_reset),
        "k_in": float(k),
        "tau_mem": float(params.tau_mem) * b2.second,
    }
    if cuba:
        ns["tau_syn"] = float(params.tau_syn) * b2.second
    if two:
        ns["tau_syn_inh"] = float(params.tau_syn_inh) * b2.second
    threshold = "v >= v_th" if params.threshold_rule == ">=" else "v > v_th"
    if params.refractory_steps:
        reset = "v = v_reset"  # neuromap clamps the membrane to v_reset while refractory
        refractory = (params.refractory_steps + 1) * params.dt * b2.second
    else:
        reset = {"zero": "v = v_reset", "subtract": "v = v - v_th", "none": None}[params.reset]
        refractory = False
    return NeuronModel(model, threshold, reset, refractory, method_for(params), ns, jump)


def neuron_group(params: LIFParams, n: int, name: str = "neurons", bias: np.ndarray | None = None):
    """A Brian2 ``NeuronGroup`` of ``n`` neurons with ``params`` at rest (``v = v_leak``).

    Spikes from :func:`synapses` add to ``group.<jump_variable>``; for a LIF group the accumulator is
    cleared after each state update (a ``run_regularly`` operation attached to the group). ``bias``
    (``[n]``) is added to the jump variable at the end of every step, for the next state update."""
    b2 = _b2()
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    m = neuron_model(params, bias is not None)
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
    if bias is not None:
        group.b = np.asarray(bias, dtype=np.float64)
        group.run_regularly(f"{m.jump_variable} += b", when="end", name=f"{name}_bias")
    group.add_attribute("neuromap_jump_variable")
    group.neuromap_jump_variable = m.jump_variable
    return group


def synapses(pre, post, weights, name: str | None = None, target: str | None = None,
             delays: np.ndarray | None = None):
    """``Synapses`` from ``pre`` to ``post`` with weights given as a scipy sparse / dense matrix
    ``[post, pre]`` (neuromap's layout); a spike adds ``w`` to ``target`` (default: the post group's
    jump variable). ``delays``: neuromap delays in steps (``>= 1``) per stored entry of
    ``weights.tocsr()``; a delay of ``d`` steps is Brian2's ``(d - 1) dt`` (its synapses slot of step
    ``t`` already feeds the update of ``t + 1``)."""
    import scipy.sparse as sp

    b2 = _b2()
    W = sp.csr_matrix(weights)
    W.sort_indices()
    if W.shape != (len(post), len(pre)):
        raise ValueError(f"weights have shape {W.shape}, expected [post, pre] = {(len(post), len(pre))}")
    var = target or getattr(post, "neuromap_jump_variable", "I")
    kw = {"name": name} if name else {}
    S = b2.Synapses(pre, post, "w : 1", on_pre=f"{var}_post += w", dt=post.clock.dt, **kw)
    if W.nnz:
        rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
        S.connect(i=W.indices.astype(np.int32), j=rows.astype(np.int32))
        S.w[:] = W.data.astype(np.float64)
        if delays is not None:
            S.delay[:] = (np.asarray(delays, dtype=np.float64) - 1.0) * float(post.clock.dt) * b2.second
    return S


def spikes_from_monitor(monitor, n: int, steps: int, dt: float) -> np.ndarray:
    """Boolean raster ``[steps, n]`` from a ``SpikeMonitor``."""
    b2 = _b2()
    raster = np.zeros((steps, n), dtype=bool)
    t = np.asarray(monitor.t / b2.second)
    i = np.asarray(monitor.i)
    raster[np.rint(t / dt).astype(np.int64), i] = True
    return raster


def driven_population(params: LIFParams, n: int, drives: list[tuple[Any, np.ndarray, int]],
                      bias: np.ndarray | None = None, recurrent: Any = None, name: str = "neurons"):
    """Brian2 objects for a population driven by known source spike rasters, with neuromap's timing.

    ``drives``: ``(weights [n, n_src] (scipy / dense), raster [T, n_src] 0/1, delay in steps)``. The
    drive of step ``t`` (``sum W s[t - delay] + bias``) must sit in the jump variable when the state
    update of step ``t`` runs, so step 0's is the group's initial value and a spike of source step
    ``s`` is generated at step ``s + delay - 1`` (the synapses slot adds it for the next update).
    ``recurrent``: the population's own weights ``[n, n]`` (previous step's spikes, as neuromap's
    self-loops). Returns ``(objects, group, spike_monitor)``; run them for ``T * dt`` seconds.
    """
    import scipy.sparse as sp

    b2 = _b2()
    group = neuron_group(params, n, name=name, bias=bias)
    jump = group.neuromap_jump_variable
    initial = np.zeros(n) if bias is None else np.asarray(bias, dtype=np.float64).copy()
    objects: list[Any] = [group]
    for k, (w, raster, delay) in enumerate(drives):
        raster = np.asarray(raster)
        if delay == 0:
            initial += sp.csr_matrix(w) @ raster[0].astype(np.float64)
        steps, chans = np.nonzero(raster[1:] if delay == 0 else raster)
        steps = steps + (1 if delay == 0 else 0) + delay - 1
        keep = steps < raster.shape[0]
        if keep.any():
            gen = b2.SpikeGeneratorGroup(raster.shape[1], chans[keep].astype(np.int32),
                                         steps[keep] * params.dt * b2.second, dt=params.dt * b2.second,
                                         name=f"{name}_in{k}")
            objects += [gen, synapses(gen, group, w, name=f"{name}_syn{k}")]
    setattr(group, jump, initial)
    if recurrent is not None and sp.csr_matrix(recurrent).nnz:
        objects.append(synapses(group, group, recurrent, name=f"{name}_recurrent"))
    mon = b2.SpikeMonitor(group, name=f"{name}_spikes")
    objects.append(mon)
    return objects, group, mon


def reservoir_objects(reservoir, u: np.ndarray, external_poisson: tuple[int, float, float] | None = None):
    """Brian2 objects for a :class:`neuromap.networks.lsm.Reservoir` driven by one input sequence.

    ``u``: ``[T, n_inputs]`` binary input spikes (one sample). ``external_poisson``: optional
    ``(n_sources, rate_hz, weight)`` independent Poisson input per neuron (``PoissonInput``).
    Returns ``(objects, group, spike_monitor)``; add ``objects`` to a ``Network`` and run
    ``T * dt`` seconds.
    """
    b2 = _b2()
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
    bias = np.full(reservoir.n, float(reservoir.bias)) if reservoir.bias else None
    objects, group, mon = driven_population(reservoir.params, reservoir.n, [(reservoir._w_in64.numpy(), u, 0)], bias,
                                            None, name="reservoir")
    objects[-1:-1] = _reservoir_synapses(reservoir, group)  # before the monitor
    if external_poisson is not None:
        n_src, rate, w = external_poisson
        objects.append(b2.PoissonInput(group, group.neuromap_jump_variable, int(n_src), float(rate) * b2.Hz,
                                       weight=float(w)))
    return objects, group, mon


def _reservoir_synapses(reservoir, group) -> list:
    """The recurrent ``Synapses`` of a reservoir with their delays; with ``CubaEIParams`` the synapses of
    inhibitory neurons jump into the second current ``I_inh``."""
    import scipy.sparse as sp

    con = reservoir.connectivity
    W = (con.weights * reservoir.rec_scale).tocsr()
    W.sort_indices()
    delays = con.delays if con.delays is not None else np.ones(W.nnz, dtype=np.int64)
    second = con.inhibitory[W.indices] if isinstance(reservoir.params, CubaEIParams) else np.zeros(W.nnz, dtype=bool)
    out = []
    for flag, target in ((False, None), (True, "I_inh")):
        keep = second == flag
        if not keep.any():
            continue
        rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))[keep]
        part = sp.csr_matrix((W.data[keep], (rows, W.indices[keep])), shape=W.shape)  # same order: rows, then pre
        name = "reservoir_recurrent" + ("_inh" if flag else "")
        out.append(synapses(group, group, part, name=name, target=target,
                            delays=delays[keep] if con.delays is not None else None))
    return out


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


# --- the netlist backend ---------------------------------------------------------------------------

NAME = "brian2"
NUMERICS = "float64"
IMPLEMENTATIONS = Implementations(NAME)


@IMPLEMENTATIONS.implements("lif", numerics=NUMERICS)
@IMPLEMENTATIONS.implements("cuba", numerics=NUMERICS)
def group_params(pop) -> LIFParams:
    """A LIF or CuBa-LIF population is one ``NeuronGroup`` built from its parameter dataclass
    (:func:`neuron_model` reads the kind from the class: a CuBa group has a current ``I``)."""
    return pop.params.neuron


def netlist_problems(net) -> list[str]:
    """Reasons the Brian2 backend cannot run ``net`` (neuron kinds it does not implement, per-neuron
    parameters, projections, cycles between populations)."""
    import networkx as nx

    out = []
    for p in net.populations:
        why = IMPLEMENTATIONS.problem(p, NUMERICS)
        if why is not None:
            out.append(why)
        elif not p.is_input and p.params.overrides():
            out.append(f"population {p.name!r}: per-neuron {sorted(p.params.overrides())} have no Brian2 "
                       "NeuronGroup form here (one parameter set per group)")
        elif not p.is_input and p.params.neuron.reset_delay:
            out.append(f"population {p.name!r}: reset_delay=True (snnTorch's delayed reset) has no Brian2 form")
        elif not p.is_input and p.params.neuron.reset_signal != "spike":
            out.append(f"population {p.name!r}: reset_signal='membrane' (snnTorch's immediate reset) has no Brian2 form")
        elif not p.is_input and not 0.0 < p.params.neuron.beta < 1.0:
            out.append(f"population {p.name!r}: beta = {p.params.neuron.beta:g} (NIR's IF or Threshold) has no "
                       "Brian2 equation here (the membrane ODE needs a finite, non-zero tau)")
    for pr in net.projections:
        if pr.src == pr.dst and pr.delay:
            out.append(f"projection {pr.name!r}: a delayed self-loop is not supported")
    g = nx.DiGraph((pr.src, pr.dst) for pr in net.projections if pr.src != pr.dst)
    if not nx.is_directed_acyclic_graph(g):
        out.append("the populations form a cycle: the Brian2 backend runs them one after another "
                   "(self-loops are fine)")
    return out


class Brian2Compiled:
    """A netlist ready to simulate in Brian2, population by population in topological order, one
    sample at a time (each population is driven by the recorded spikes of its sources with
    neuromap's timing: :func:`driven_population`), so spike trains equal ``backends.torch``'s in float64."""

    def __init__(self, netlist, outputs: dict[str, tuple[str, tuple[int, ...]]], codegen: str = "numpy") -> None:
        import networkx as nx

        if codegen not in ("numpy", "cython"):
            raise ValueError(f"codegen={codegen!r} is not one of ['numpy', 'cython'] (runtime mode)")
        self.netlist, self.outputs, self.codegen = netlist, outputs, codegen
        self.inputs = [p.name for p in netlist.populations if p.is_input]
        g = nx.DiGraph()
        g.add_nodes_from(p.name for p in netlist.populations)
        g.add_edges_from((pr.src, pr.dst) for pr in netlist.projections if pr.src != pr.dst)
        self.order = list(nx.topological_sort(g))

    def _weights(self, proj, n_src: int, n_dst: int):
        import scipy.sparse as sp

        from neuromap.graph.matrices import conv_matrix

        if proj.kind == "identity":
            return sp.identity(n_dst, format="csr")
        if proj.kind == "conv":
            return conv_matrix(np.asarray(proj.weight, dtype=np.float64), proj.conv)
        return sp.csr_matrix(proj.weight, dtype=np.float64)

    def _sample(self, xs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        b2 = _b2()
        b2.prefs.codegen.target = self.codegen
        rasters = dict(xs)
        for name in self.order:
            pop = self.netlist.population(name)
            if pop.is_input:
                continue
            drives, bias, rec = [], None, None
            for pr in self.netlist.incoming(name):
                w = self._weights(pr, self.netlist.population(pr.src).size, pop.size)
                if pr.src == name:
                    rec = w
                else:
                    drives.append((w, rasters[pr.src], int(pr.delay)))
                if pr.bias is not None:
                    bias = (0.0 if bias is None else bias) + np.asarray(pr.bias, dtype=np.float64)
            T = next(iter(xs.values())).shape[0]
            params = IMPLEMENTATIONS.get(pop, NUMERICS)(pop)
            objects, _, mon = driven_population(params, pop.size, drives, bias, rec, name="p")
            b2.Network(*objects).run(T * params.dt * b2.second, namespace={})
            rasters[name] = spikes_from_monitor(mon, pop.size, T, params.dt)
        return rasters

    def run(self, inputs: Any):
        import time

        import torch

        from .base import RunResult, check_inputs

        shapes = {n: self.netlist.population(n).shape for n in self.inputs}
        xs = check_inputs(inputs, shapes, flat=True)
        for n, x in xs.items():
            if not bool(((x == 0) | (x == 1)).all()):
                raise ValueError(f"input {n!r} is not binary: Brian2 is driven by spikes here; encode it first "
                                 "(an event data set's counts per bin: --binary on the command line, binary=True in "
                                 "neuromap.data)")
        T, B = next(iter(xs.values())).shape[:2]
        start = time.perf_counter()
        per_sample = [self._sample({n: x[:, b].reshape(T, -1).numpy() for n, x in xs.items()}) for b in range(B)]
        wall = time.perf_counter() - start
        records = {p.name: torch.from_numpy(np.stack([r[p.name] for r in per_sample], axis=1).astype(np.float32))
                   .reshape(T, B, *p.shape) for p in self.netlist.populations if not p.is_input}
        outputs = {o: records[pop].reshape(T, B, *shape) for o, (pop, shape) in self.outputs.items()}
        return RunResult(outputs=outputs, records=records, wall_seconds=wall, backend=NAME)


class Brian2Backend:
    """``backends.get("brian2")``: a netlist simulated in Brian2 (a reference simulator on the CPU, so
    its runs are priced on conventional targets, ``cpu`` by default)."""

    name = NAME
    default_target = "cpu"
    target_kinds = ("conventional",)
    implementations = IMPLEMENTATIONS

    def check_installed(self) -> str:
        """``"brian2 VERSION"`` when Brian2 imports here; else :class:`~neuromap.optional.MissingExtra`
        with the install command."""
        return f"brian2 {_b2().__version__}"

    def unsupported(self, graph) -> list[str]:
        try:
            return netlist_problems(graph.lower())
        except Exception as exc:  # noqa: BLE001 - report any lowering problem as a reason
            return [str(exc)]

    def compile(self, graph, target: Any = None, codegen: str = "numpy") -> Brian2Compiled:
        """Lower ``graph`` and prepare it for Brian2 (``target``, when given, must be a kind it runs: it
        only prices the run; Brian2 is a simulator)."""
        from neuromap import pipeline

        from .base import load_target

        if target is not None:
            load_target(self, target)
        return self.compile_netlist(graph.lower(), codegen, pipeline.output_populations(graph, graph.lower()))

    def compile_netlist(self, netlist, codegen: str = "numpy",
                        outputs: dict[str, tuple[str, tuple[int, ...]]] | None = None) -> Brian2Compiled:
        """Prepare a netlist (outputs: the given ones, else populations without outgoing projections)."""
        from neuromap import pipeline

        from .base import BackendError

        _b2()
        problems = netlist_problems(netlist)
        if problems:
            raise BackendError("brian2 backend cannot run this network:\n  " + "\n  ".join(problems))
        return Brian2Compiled(netlist, outputs or pipeline.netlist_outputs(netlist), codegen)


BACKEND = Brian2Backend()
