"""Cost models by target kind: every number is a count times a spec figure, kept as a :class:`Term`.

* ``digital`` (SpiNNaker2, Loihi, Loihi 2)::

      E = synops x e_synop + neuron updates x e_neuron_update + spike packets x e_spike
          + packet hops x e_hop + static power x chips x time
      latency / step = slowest core's work (synops x t_synop + neuron updates x t_neuron)
                       + NoC (longest route x t_hop) + barrier

  The per-core work comes from the :class:`~neuromap.partition.Mapping` (which neuron sits on which
  core) and the per-neuron counts of the :class:`~neuromap.energy.Activity`, so the latency depends
  on the mapping, not just on totals.
* ``crossbar`` (PCM, RRAM): per matrix-vector multiplication (MVM) of a tile,
  ``E = DAC conversions x e_dac + cell MACs x e_mac + ADC conversions x e_adc`` (+ digital neuron
  updates where the target gives a figure); latency per step = the layers' MVM rounds in sequence,
  tiles of a layer in parallel (``t_mvm`` each).
* ``sfq`` (superconducting single flux quantum; see :func:`sfq`): junction switches x I_c x Phi_0
  on the chip, plus the cryocooler's wall-plug energy as its own term; latency from the clock.
* ``conventional`` (CPU, GPU; see :func:`conventional`): a GPU is launch-bound at small batch, so
  per step ``t = max(kernels x t_kernel, FLOPs / peak, bytes / bandwidth)`` and ``E = busy power x t``
  (batch size and execution mode from :class:`Options`); a CPU is priced per synaptic op (Degnan et
  al. 2016); the Spike-driven Transformer 45 nm formula is its own target (``sdt-45nm``).

A figure the model needs but the target lacks is either fatal (:class:`MissingFigure`, for the
dominant terms) or the term is omitted and the omission listed in :attr:`Estimate.omitted`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuromap.errors import NeuromapError
from neuromap.netlist import Netlist

from .activity import Activity


class MissingFigure(NeuromapError, ValueError):
    """The target lacks a figure that the estimate cannot do without (names target and figure)."""


@dataclass
class Term:
    """One product of a count and a spec figure: ``result = count x value``."""

    quantity: str  # "energy" or "latency"
    name: str  # e.g. "synaptic ops"
    count: float
    count_label: str  # what was counted, with its unit
    figure: str  # "energy.e_synop"
    value: float  # the figure's value (J, s, W ...)
    unit: str
    source: str
    confidence: str
    estimate_flag: bool = False
    layer: str | None = None

    @property
    def result(self) -> float:
        return self.count * self.value

    def explain(self) -> str:
        est = ", estimate" if self.estimate_flag else ""
        return (
            f"{self.name}: {self.count:,.6g} {self.count_label} x {self.value:.4g} {self.unit} "
            f"({self.figure} [{self.confidence}{est}]: {self.source}) = {self.result:.6g}"
        )


@dataclass
class Estimate:
    """Energy and latency of one run on one target (totals over the run unless 'per')."""

    target: str
    kind: str
    samples: int
    steps: int
    energy_terms: list[Term] = field(default_factory=list)
    latency_terms: list[Term] = field(default_factory=list)  # per time step
    omitted: list[str] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)
    per_core: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    batch: int = 1  # inferences processed together (conventional targets); latency is one batch's
    latency_lower_bound: bool = False  # True where latency leaves out parts of the step (marked ">=")
    energy_lower_bound: bool = False  # True where energy leaves out terms that matter (marked ">=")

    @property
    def energy_J(self) -> float:
        return float(sum(t.result for t in self.energy_terms))

    @property
    def energy_per_inference_J(self) -> float:
        return self.energy_J / self.samples

    @property
    def latency_per_step_s(self) -> float | None:
        return float(sum(t.result for t in self.latency_terms)) if self.latency_terms else None

    @property
    def latency_per_inference_s(self) -> float | None:
        lat = self.latency_per_step_s
        return None if lat is None else lat * self.steps

    @property
    def throughput_per_s(self) -> float | None:
        lat = self.latency_per_inference_s
        return None if not lat else self.batch / lat

    def breakdown(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.energy_terms:
            out[t.name] = out.get(t.name, 0.0) + t.result
        return out

    def shares(self) -> dict[str, float]:
        """Percent of the energy per category (sums to 100; a share of the per-inference energy is
        the same as a share of the run's total, since both are divided by the same sample count)."""
        total = self.energy_J
        if total <= 0:
            return {}
        return {k: 100.0 * v / total for k, v in self.breakdown().items()}

    def per_layer(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.energy_terms:
            key = t.layer or "(whole system)"
            out[key] = out.get(key, 0.0) + t.result
        return out

    def explain(self, quantity: str = "energy") -> str:
        if quantity not in ("energy", "latency"):
            raise ValueError(f"quantity={quantity!r} is not one of ['energy', 'latency']")
        terms = self.energy_terms if quantity == "energy" else self.latency_terms
        unit = "J" if quantity == "energy" else "s per step"
        lines = [f"{self.target} ({self.kind}) {quantity}, {self.samples} sample(s) x {self.steps} steps:"]
        lines += ["  " + t.explain() for t in terms]
        total = sum(t.result for t in terms)
        lines.append(f"  total = {' + '.join(f'{t.result:.4g}' for t in terms) or '0'} = {total:.6g} {unit}")
        if quantity == "energy":
            lines.append(f"  per inference = {total:.6g} / {self.samples} = {total / self.samples:.6g} J")
        if (self.energy_lower_bound if quantity == "energy" else self.latency_lower_bound):
            lines.append(f"  >= this {quantity} is a lower bound (see omitted / notes)")
        lines += [f"  omitted: {o}" for o in self.omitted]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --- helpers ------------------------------------------------------------------------------------

def _fig(target, dotted: str, required: bool = False):
    f = target.figure(dotted)
    if f is None or f.value is None:
        if required:
            why = f" ({f.missing})" if f is not None and f.missing else ""
            raise MissingFigure(f"target {target.name!r} lacks figure {dotted!r}{why}, which this estimate needs")
        return None
    return f


def _scalar(f) -> float:
    v = f.value
    if isinstance(v, (list, tuple)):
        return float(np.mean(v))
    return float(v)


def _term(quantity: str, name: str, count: float, label: str, f, dotted: str, layer: str | None = None,
          value: float | None = None) -> Term:
    return Term(
        quantity=quantity,
        name=name,
        count=float(count),
        count_label=label,
        figure=dotted,
        value=_scalar(f) if value is None else value,
        unit=f.unit,
        source=f.source + (f" (note: {f.note})" if f.note else ""),
        confidence=f.confidence,
        estimate_flag=bool(f.estimate),
        layer=layer,
    )


def _per_core_sum(mapping, pop: str, per_neuron: list[float]) -> np.ndarray:
    cores = mapping.core_of(pop)
    vals = np.asarray(per_neuron, dtype=np.float64)
    n = min(len(cores), len(vals))
    return np.bincount(cores[:n], weights=vals[:n], minlength=mapping.n_cores)


# --- digital neuromorphic -----------------------------------------------------------------------

def digital(netlist: Netlist, activity: Activity, target, mapping, mla_projections: set[str] | None = None,
            options: Options | None = None) -> Estimate:
    """``mla_projections``: projections a backend ran on a per-core MAC array (SpiNNaker2), priced by
    :func:`_mla_terms` instead of per synaptic event; None (default) prices every projection per synop.
    A target with per-PE power figures (``energy.p_pe_active``: SpiNNaker2) is priced as power x time
    (:func:`_pe_power_model`) instead of per synaptic event plus static power."""
    opt = options or Options()
    est = Estimate(target.name, target.kind, activity.samples, activity.steps)
    T, B = activity.steps, activity.samples
    pe_power = _fig(target, "energy.p_pe_active") is not None
    e_syn = _fig(target, "energy.e_synop", required=True)
    e_upd = _fig(target, "energy.e_neuron_update", required=True)
    e_inactive = _fig(target, "energy.e_neuron_inactive")
    mla = _mla_terms(activity, target, mla_projections, est, _op_index(target, opt))
    for proj, (_src, dst) in activity.projection_ends.items():
        if proj in mla or pe_power:
            continue
        est.energy_terms.append(
            _term("energy", "synaptic ops", activity.synops[proj], f"synops ({proj})", e_syn, "energy.e_synop", dst)
        )
    for pop in activity.neurons:
        if e_inactive is not None:
            active = activity.updates_event[pop]
            inactive = activity.updates_dense[pop] - active
            est.energy_terms.append(_term("energy", "neuron updates", active, f"active neuron-steps ({pop})", e_upd,
                                          "energy.e_neuron_update", pop))
            est.energy_terms.append(_term("energy", "neuron updates", inactive, f"inactive neuron-steps ({pop})",
                                          e_inactive, "energy.e_neuron_inactive", pop))
        else:
            est.energy_terms.append(_term("energy", "neuron updates", activity.updates_dense[pop],
                                          f"neuron-steps ({pop})", e_upd, "energy.e_neuron_update", pop))
    _packet_terms(activity, target, mapping, est)
    chips = int(mapping.metrics.get("chips") or 1)
    if pe_power:
        _pe_power_model(activity, target, mapping, est, opt, mla)
    else:
        est.latency_terms, est.per_core = _digital_latency(activity, target, mapping, est)
        _static_term(target, est, chips, T * B)
        est.per_core.update(_per_core_energy(activity, mapping, e_syn, e_upd))
    est.resources = {"cores": mapping.n_cores, "chips": chips, "feasible": mapping.feasible,
                     "utilisation": mapping.metrics.get("utilisation"),
                     "memory_per_core": {k: v for k, v in mapping.usage.items() if "mem" in k or "sram" in k},
                     **est.resources}
    return est


def _packet_terms(activity: Activity, target, mapping, est: Estimate) -> None:
    """Spike packets x e_spike and packet hops x e_hop (mean of the E-W / N-S figures)."""
    T, B = activity.steps, activity.samples
    packets = float(mapping.metrics.get("traffic_total") or 0.0) * T * B
    hops = mapping.metrics.get("hop_traffic")
    e_spike = _fig(target, "energy.e_spike_within_tile") or _fig(target, "energy.e_spike")
    if e_spike is not None:
        name = "energy.e_spike_within_tile" if target.figure("energy.e_spike_within_tile") else "energy.e_spike"
        est.energy_terms.append(_term("energy", "spike packets", packets, "packets (rate x destination cores)",
                                      e_spike, name))
    else:
        est.omitted.append("spike packet energy: target has no e_spike figure")
    hop_figs = [(k, _fig(target, k)) for k in ("energy.e_hop", "energy.e_hop_ew", "energy.e_hop_ns")]
    hop_figs = [(k, f) for k, f in hop_figs if f is not None]
    if hops is None:
        est.omitted.append("hop energy: the mapping has no mesh (no hop counts)")
    elif hop_figs:
        mean = float(np.mean([_scalar(f) for _, f in hop_figs]))
        k, f = hop_figs[0]
        t = _term("energy", "packet hops", float(hops) * T * B, "packet-hops", f, "+".join(k for k, _ in hop_figs),
                  value=mean)
        if len(hop_figs) > 1:
            est.notes.append("hops priced at the mean of the E-W and N-S figures (the mapping counts hops, not directions)")
        est.energy_terms.append(t)
    else:
        fig = target.figure("energy.e_hop")
        why = f" ({fig.missing})" if fig is not None and fig.missing else ""
        est.omitted.append(f"hop energy: target lacks e_hop{why}")


def _static_term(target, est: Estimate, chips: int, steps_total: int) -> None:
    """Static power x chips x run time (the run lasts latency per step x steps)."""
    p_static = _fig(target, "energy.p_static_chip")
    if p_static is None:
        fig = target.figure("energy.p_static_chip")
        why = f" ({fig.missing})" if fig is not None and fig.missing else ""
        est.omitted.append(f"static power: target lacks p_static_chip{why}")
        return
    run_time = (est.latency_per_step_s or _timestep(target)) * steps_total
    est.energy_terms.append(_term("energy", "static power", chips * run_time, "chip-seconds", p_static,
                                  "energy.p_static_chip"))
    est.notes.append(f"static power: {p_static.value} W per chip ({p_static.source})")


# --- per-PE power x time (SpiNNaker2) -------------------------------------------------------------

def _op_index(target, opt: Options) -> int:
    """The operating point's index, checked against the target's ``chip.operating_points``."""
    points = target.get("chip.operating_points")
    if points is None:
        return 0
    if opt.operating_point >= len(points):
        raise ValueError(f"operating_point={opt.operating_point} but {target.name!r} has {len(points)}: "
                         + ", ".join(f"{i} = {p}" for i, p in enumerate(points)))
    return opt.operating_point


def _at(f, op: int) -> float:
    """A figure's value at operating point ``op`` (a list is indexed by operating point)."""
    v = f.value
    return float(v[op]) if isinstance(v, (list, tuple)) else float(v)


def _pe_work(activity: Activity, mapping, mla: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per core, per step: synaptic events handled by the PE's CPU and MAC-array MACs. Events into a
    population from MAC-array projections are removed in proportion to their share of its events."""
    T, B = activity.steps, activity.samples
    syn = np.zeros(mapping.n_cores)
    macs = np.zeros(mapping.n_cores)
    for pop in activity.neurons:
        into = [p for p, (_s, d) in activity.projection_ends.items() if d == pop]
        total = sum(activity.synops[p] for p in into)
        cpu = sum(activity.synops[p] for p in into if p not in mla)
        if total > 0:
            syn += _per_core_sum(mapping, pop, activity.synops_per_neuron[pop]) * (cpu / total)
        dense = sum(activity.dense_synops[p] for p in into if p in mla)
        if dense:
            n = activity.neurons[pop]
            macs += _per_core_sum(mapping, pop, [dense / n] * n)
    return syn / (T * B), macs / (T * B)


def _pe_power_model(activity: Activity, target, mapping, est: Estimate, opt: Options, mla: set[str]) -> None:
    """SpiNNaker2: step time = the busiest PE's synaptic events / per-PE event rate + its MAC-array
    cycles; energy = chip baseline (PEs off) x chips x time + PE sleep power x used PEs x time +
    PE active power x busy PE-time (+ neuron updates, MAC-array MACs, packets as priced above)."""
    T, B = activity.steps, activity.samples
    op = _op_index(target, opt)
    rate = _need(target, "timing.synop_rate_pe", "the per-PE step-time model")
    clock = _at(_need(target, "chip.clock", "the MAC-array time"), op)
    syn, macs = _pe_work(activity, mapping, mla)
    per_cycle = float(target.get("numerics.mla_macs_per_cycle", 1))
    busy = syn / _at(rate, op)
    work = busy + macs / (per_cycle * clock)
    b = int(np.argmax(work)) if len(work) else 0
    terms = [_term("latency", "busiest PE: synaptic events", syn[b], f"events per step on PE {b}", rate,
                   "timing.synop_rate_pe", value=1.0 / _at(rate, op))]
    if macs.any():
        terms.append(Term("latency", "busiest PE: MAC-array cycles", macs[b] / per_cycle, f"cycles per step on PE {b}",
                          "chip.clock", 1.0 / clock, "s", target.figure("chip.clock").source,
                          target.figure("chip.clock").confidence))
    step = float(work[b]) if len(work) else 0.0
    tick = _fig(target, "timing.timestep")
    if opt.realtime and tick is not None and step <= _scalar(tick):
        est.latency_terms = [_term("latency", "real-time tick (the PEs idle after their work)", 1, "tick", tick,
                                   "timing.timestep")]
    else:
        est.latency_terms = terms
        if opt.realtime and tick is not None:
            est.notes.append(f"real-time overrun: the busiest PE needs {step:.4g} s > the {_scalar(tick):g} s tick")
    est.notes.append(f"operating point {target.get('chip.operating_points')[op]}; "
                     + ("real-time mode: every step lasts the whole tick" if opt.realtime else "as fast as possible")
                     + "; neuron-update CPU time is not published separately (taken as part of the per-PE event rate)")
    run_s = float(est.latency_per_step_s) * T * B
    used = int(np.count_nonzero(np.bincount(np.concatenate([mapping.core_of(p) for p in activity.neurons]),
                                            minlength=mapping.n_cores)))
    chips = int(mapping.metrics.get("chips") or 1)
    f_base = _need(target, "energy.p_chip_pes_off", "the chip baseline power")
    f_sleep = _need(target, "energy.p_pe_sleep", "the PE power model")
    f_active = _need(target, "energy.p_pe_active", "the PE power model")
    est.energy_terms += [
        _term("energy", "chip baseline power", chips * run_s, "chip-seconds", f_base, "energy.p_chip_pes_off"),
        _term("energy", "PE sleep power", used * run_s, f"PE-seconds ({used} PEs used; unused PEs off)", f_sleep,
              "energy.p_pe_sleep", value=_at(f_sleep, op)),
        _term("energy", "PE active power", float(busy.sum()) * T * B, "busy PE-seconds (synaptic events)", f_active,
              "energy.p_pe_active", value=_at(f_active, op)),
    ]
    upd = np.zeros(mapping.n_cores)
    for pop in activity.neurons:
        upd += np.bincount(mapping.core_of(pop), minlength=mapping.n_cores).astype(np.float64) * T * B
    dynamic = busy * T * B * _at(f_active, op) + upd * _scalar(_need(target, "energy.e_neuron_update", "digital"))
    est.per_core = {"synops_per_step": syn.tolist(), "work_s_per_step": work.tolist(),
                    "dynamic_energy_J": dynamic.tolist()}
    est.resources = {"operating_point": target.get("chip.operating_points")[op], "realtime": opt.realtime,
                     "pes_used": used, "step_time_s": step}


def _per_core_energy(activity: Activity, mapping, e_syn, e_upd) -> dict[str, list[float]]:
    """Dynamic energy per core over the run (J): synaptic events delivered to the core's neurons x
    e_synop + the core's neuron updates x e_neuron_update (spike, hop and static terms are not per core)."""
    syn = np.zeros(mapping.n_cores)
    upd = np.zeros(mapping.n_cores)
    for pop in activity.neurons:
        syn += _per_core_sum(mapping, pop, activity.synops_per_neuron[pop])
        upd += np.bincount(mapping.core_of(pop), minlength=mapping.n_cores).astype(np.float64)
    upd *= activity.steps * activity.samples
    return {"dynamic_energy_J": (syn * _scalar(e_syn) + upd * _scalar(e_upd)).tolist()}


# --- SpiNNaker2 MAC array (added for backends.spinnaker2) ---------------------------------------
def _mla_terms(activity: Activity, target, mla_projections: set[str] | None, est: Estimate, op: int = 0) -> set[str]:
    """Price projections run on the MAC array: every weight every step (the array does not skip
    zeros), ``dense_synops x energy.e_mac_mla``. Returns the projections so priced."""
    if not mla_projections:
        return set()
    f = _fig(target, "energy.e_mac_mla")
    if f is None:
        est.omitted.append("MAC-array projections priced per synop: target lacks energy.e_mac_mla")
        return set()
    done = set()
    for proj, (_src, dst) in activity.projection_ends.items():
        if proj in mla_projections:
            est.energy_terms.append(_term("energy", "MAC-array MACs", activity.dense_synops[proj],
                                          f"MACs ({proj}, dense)", f, "energy.e_mac_mla", dst, value=_at(f, op)))
            done.add(proj)
    return done


def _timestep(target) -> float:
    f = target.figure("timing.timestep")
    return _scalar(f) if f is not None and f.value is not None else 1e-3


def mesh_span(mapping) -> tuple[int, int]:
    """(routers / tiles, chips) that the mapping's used cores occupy."""
    c = mapping.cores
    tiles = {(int(c["chip"][k]), int(c["x"][k]), int(c["y"][k])) for k in range(mapping.n_cores)}
    return len(tiles), len({t[0] for t in tiles})


def _barrier_term(target, mapping, est: Estimate) -> Term | None:
    """Barrier time from the mapped mesh span: a ``[t_1 tile, t_all tiles]`` figure is interpolated
    linearly in the tiles spanned (Davies 2018 Table 2 gives 113-465 ns for 1-32 tiles; linear is
    this model's assumption); a multi-chip mapping takes ``timing.t_barrier_multichip`` (its smallest
    value) where the target gives it."""
    barrier = _fig(target, "timing.t_barrier")
    if barrier is None:
        est.omitted.append("barrier synchronisation: target lacks timing.t_barrier")
        return None
    tiles, chips = mesh_span(mapping) if mapping.cores.get("x") is not None else (1, 1)
    multi = _fig(target, "timing.t_barrier_multichip")
    if chips > 1 and multi is not None:
        v = multi.value
        return _term("latency", "barrier synchronisation", 1, f"barrier ({chips} chips)", multi,
                     "timing.t_barrier_multichip", value=float(min(v)) if isinstance(v, (list, tuple)) else float(v))
    v = barrier.value
    if not isinstance(v, (list, tuple)):
        return _term("latency", "barrier synchronisation", 1, "barrier", barrier, "timing.t_barrier")
    grid = target.get("chip.router_grid") or [1, 1]
    n_tiles = len(target.get("chip.router_positions") or []) or int(np.prod(grid))
    frac = 0.0 if n_tiles <= 1 else min(1.0, (tiles - 1) / (n_tiles - 1))
    if chips > 1:
        frac = 1.0
        est.notes.append(f"barrier: the mapping spans {chips} chips; the whole-chip value is used (no multi-chip figure)")
    value = float(v[0]) + frac * (float(v[-1]) - float(v[0]))
    return _term("latency", "barrier synchronisation", 1, f"barrier ({tiles} of {n_tiles} tiles spanned)", barrier,
                 "timing.t_barrier", value=value)


def _digital_latency(activity: Activity, target, mapping, est: Estimate) -> tuple[list[Term], dict[str, list[float]]]:
    T, B = activity.steps, activity.samples
    t_syn = _fig(target, "timing.t_synop")
    t_neu = _fig(target, "timing.t_neuron_active") or _fig(target, "timing.t_neuron_update")
    if t_syn is None or t_neu is None:
        step = _fig(target, "timing.timestep")
        if step is None:
            est.omitted.append("latency: target has neither per-operation times nor a timestep")
            return [], {}
        est.notes.append(
            "latency = the target's real-time timestep (no per-operation timing figures in the spec); "
            "the mapping-dependent core load is reported but not converted to time"
        )
        syn_core = np.zeros(mapping.n_cores)
        for pop in activity.neurons:
            syn_core += _per_core_sum(mapping, pop, activity.synops_per_neuron[pop])
        return [_term("latency", "real-time timestep", 1, "step", step, "timing.timestep")], {
            "synops_per_step": (syn_core / (T * B)).tolist()
        }
    syn_core = np.zeros(mapping.n_cores)
    neu_core = np.zeros(mapping.n_cores)
    for pop in activity.neurons:
        syn_core += _per_core_sum(mapping, pop, activity.synops_per_neuron[pop])
        neu_core += np.bincount(mapping.core_of(pop), minlength=mapping.n_cores).astype(np.float64) * T * B
    work = syn_core * _scalar(t_syn) + neu_core * _scalar(t_neu)
    busiest = int(np.argmax(work)) if len(work) else 0
    terms = [
        _term("latency", "busiest core: synaptic ops", syn_core[busiest] / (T * B),
              f"synops per step on core {busiest}", t_syn, "timing.t_synop"),
        _term("latency", "busiest core: neuron updates", neu_core[busiest] / (T * B),
              f"neuron updates per step on core {busiest}", t_neu,
              "timing.t_neuron_active" if target.figure("timing.t_neuron_active") else "timing.t_neuron_update"),
    ]
    hop_t = [f for f in (_fig(target, "timing.t_hop_ew"), _fig(target, "timing.t_hop_ns"), _fig(target, "timing.t_hop"))
             if f is not None]
    max_hops = mapping.metrics.get("max_hops")
    if hop_t and max_hops is not None:
        terms.append(_term("latency", "NoC: longest route", float(max_hops), "hops", hop_t[0], "timing.t_hop_*",
                           value=max(_scalar(f) for f in hop_t)))
    elif hop_t:
        est.omitted.append("NoC latency: the mapping reports no route lengths")
    barrier = _barrier_term(target, mapping, est)
    if barrier is not None:
        terms.append(barrier)
    return terms, {"synops_per_step": (syn_core / (T * B)).tolist(), "work_s_per_step": (work / (T * B)).tolist()}


# --- analog crossbar ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Tiling:
    """How one projection's matrix lies on ``rows x cols`` crossbar tiles (inputs on rows)."""

    in_features: int  # matrix rows driven per MVM (conv: C_in/groups x kh x kw, im2col)
    out_features: int  # matrix columns read per MVM (conv: C_out / groups)
    groups: int
    vectors_per_step: int  # input vectors per time step (conv: output positions)
    row_tiles: int
    col_tiles: int

    @property
    def n_tiles(self) -> int:
        return self.row_tiles * self.col_tiles * self.groups


def tiling_of(proj, rows: int, cols: int, devices_per_weight: int = 1) -> Tiling:
    """Tiles of a dense / sparse (stored dense) / conv (unrolled by geometry) projection; a signed
    weight on a differential pair takes ``devices_per_weight`` columns."""
    if proj.kind == "conv":
        g = proj.conv
        fan_in = (g.in_shape[0] // g.groups) * g.kernel[0] * g.kernel[1]
        out = g.out_shape[0] // g.groups
        vectors = g.out_shape[1] * g.out_shape[2]
        groups = g.groups
    else:
        out, fan_in = proj.weight.shape
        vectors, groups = 1, 1
    eff_cols = max(1, cols // devices_per_weight)
    return Tiling(fan_in, out, groups, vectors, -(-fan_in // rows), -(-out // eff_cols))


def crossbar(netlist: Netlist, activity: Activity, target, mapping=None, counters: dict | None = None) -> Estimate:
    """Crossbar cost from MVM counters (from ``backends.crossbar``) or, without them, from the
    geometry (one MVM per layer per time step per sample, per output position for conv).

    A target with ``energy.e_core_mvm`` (HERMES: a whole-core figure that includes its converters) is
    priced per tile read: a core fires as a whole, whatever share of its cells a layer uses. Otherwise
    the figures are per cell and per conversion (ISAAC / PUMA / NeuroSim): cell reads, ADC and DAC
    conversions and shift-adds, with ``numerics.cell_bits`` bit slicing (columns per weight) and
    bit-serial input planes (``numerics.activation_bits`` / ``periphery.dac_bits``; one plane for
    spikes). Latency per step: the layers in sequence, the tiles of a layer in parallel, each tile read
    ``max(t_mvm, cols_per_adc x t_adc_conv)`` (columns sharing an ADC convert one after another)."""
    est = Estimate(target.name, target.kind, activity.samples, activity.steps)
    rows, cols = int(target.get("tile.rows")), int(target.get("tile.cols"))
    core = _fig(target, "energy.e_core_mvm")
    t_read = _tile_read_time(target, est)
    step_reads = 0.0
    tiles_total, tile_reads = 0, 0.0
    for proj in netlist.projections:
        if proj.kind == "identity" or proj.reduces:  # a reduction (max pooling) is not an MVM
            continue
        c = _crossbar_counts(proj, activity, target, rows, cols, (counters or {}).get(proj.name))
        tiles_total += c["tiles"]
        tile_reads += c["tile_reads"]
        step_reads += c["planes"] * c["vectors_per_step"]
        if core is not None:
            est.energy_terms.append(_term("energy", "core MVMs", c["tile_reads"], f"full-core MVMs ({proj.name})", core,
                                          "energy.e_core_mvm", proj.dst))
        else:
            _cell_terms(est, target, proj, c)
    if core is not None:
        est.notes.append("whole-core MVM energy (converters included): no separate ADC / DAC / cell terms")
    _crossbar_neuron_terms(activity, target, est)
    if t_read is not None:
        est.latency_terms.append(Term("latency", "tile reads in sequence (layers in sequence, tiles in parallel)",
                                      step_reads, "tile reads per step", "timing.t_mvm", t_read,
                                      "s", target.figure("timing.t_mvm").source, target.figure("timing.t_mvm").confidence))
    est.resources = {"tiles": tiles_total, "tile": f"{rows}x{cols}", "tile_reads": tile_reads}
    if mapping is not None:
        est.resources.update(cores=mapping.n_cores, utilisation=mapping.metrics.get("utilisation"))
    return est


def _tile_read_time(target, est: Estimate) -> float | None:
    """Seconds per tile read: the array's MVM time or, when slower, the shared ADC's conversions."""
    t_mvm = _fig(target, "timing.t_mvm")
    if t_mvm is None:
        est.omitted.append("latency: target lacks t_mvm")
        return None
    t = _scalar(t_mvm)
    t_adc, share = _fig(target, "timing.t_adc_conv"), target.get("periphery.cols_per_adc")
    if t_adc is not None and share:
        t = max(t, int(share) * _scalar(t_adc))
    return t


def _stored_weight_bits(proj, target) -> int | None:
    """Sign-magnitude bits a sliced crossbar stores for ``proj``: the target's ``numerics.weight_bits``,
    or fewer for quantisation-aware-trained weights whose recorded range needs fewer (as
    ``backends.crossbar`` programs them; a wider range is refused there)."""
    from neuromap.quantize import grid_of, sign_magnitude_bits

    bits = target.get("numerics.weight_bits")
    grid = grid_of(proj.meta)
    if grid is None or bits is None:
        return bits
    return min(int(bits), sign_magnitude_bits(grid["qmin"], grid["qmax"]))


def _crossbar_counts(proj, activity: Activity, target, rows: int, cols: int, measured: dict | None) -> dict:
    """Per-projection counts over the run: tile reads, cell reads, ADC / DAC conversions, input planes."""
    from neuromap.crossbar.tiles import n_slices

    T, B = activity.steps, activity.samples
    cell_bits = target.get("numerics.cell_bits")
    slices = n_slices(_stored_weight_bits(proj, target), cell_bits) if cell_bits is not None else 1
    devices = int(target.get("numerics.devices_per_weight", 1))
    tiling = tiling_of(proj, rows, cols)
    phys_cols = tiling.out_features * slices
    col_tiles = -(-phys_cols * devices // cols)
    n_tiles = tiling.row_tiles * col_tiles * tiling.groups
    act_bits, dac_bits = target.get("numerics.activation_bits"), target.get("periphery.dac_bits")
    binary = activity.spiking_input.get(proj.name, False)
    planes = 1 if binary or not (act_bits and dac_bits) else -(-int(act_bits) // int(dac_bits))
    vectors = tiling.vectors_per_step * T * B
    out = {"tiles": n_tiles, "planes": planes, "vectors_per_step": tiling.vectors_per_step}
    if measured:
        out.update(tile_reads=measured["tile_reads"], adc=measured["adc_conversions"],
                   dac=measured["dac_conversions"], cells=measured.get("cell_reads", measured["cell_macs"]))
        return out
    out.update(tile_reads=vectors * planes * n_tiles, adc=vectors * planes * tiling.row_tiles * phys_cols * tiling.groups,
               dac=vectors * planes * tiling.in_features * col_tiles * tiling.groups,
               cells=vectors * planes * tiling.in_features * phys_cols * devices * tiling.groups)
    return out


def _cell_terms(est: Estimate, target, proj, c: dict) -> None:
    """Per-cell pricing: cell reads, ADC / DAC conversions and the shift-add of every conversion."""
    e_cell = _fig(target, "energy.e_cell_op") or _fig(target, "energy.e_mac")
    if e_cell is None:
        raise MissingFigure(f"target {target.name!r} ({target.path}) lacks energy.e_core_mvm, energy.e_cell_op and "
                            "energy.e_mac: a crossbar estimate needs one")
    cell_key = "energy.e_cell_op" if target.figure("energy.e_cell_op") else "energy.e_mac"
    e_adc = _fig(target, "energy.e_adc_conv", required=True)
    est.energy_terms.append(_term("energy", "cell reads", c["cells"], f"device reads ({proj.name}, all slices and "
                                  f"{c['planes']} input plane(s))", e_cell, cell_key, proj.dst))
    est.energy_terms.append(_term("energy", "ADC conversions", c["adc"], f"conversions ({proj.name}, every sliced column)",
                                  e_adc, "energy.e_adc_conv", proj.dst))
    e_dac = _fig(target, "energy.e_dac_conv")
    if e_dac is not None:
        est.energy_terms.append(_term("energy", "DAC conversions", c["dac"], f"row drives ({proj.name})", e_dac,
                                      "energy.e_dac_conv", proj.dst))
    elif "DAC energy: target lacks e_dac_conv" not in est.omitted:
        est.omitted.append("DAC energy: target lacks e_dac_conv")
    e_sa = _fig(target, "energy.e_shift_add")
    if e_sa is not None:
        est.energy_terms.append(_term("energy", "shift-and-add", c["adc"], f"conversions shift-added ({proj.name})",
                                      e_sa, "energy.e_shift_add", proj.dst))


def _crossbar_neuron_terms(activity: Activity, target, est: Estimate) -> None:
    e_upd = _fig(target, "energy.e_neuron_update")
    if e_upd is None:
        est.omitted.append("digital neuron updates: the crossbar target has no neuron-update energy figure")
        return
    for pop in activity.neurons:
        est.energy_terms.append(_term("energy", "neuron updates", activity.updates_dense[pop],
                                      f"neuron-steps ({pop})", e_upd, "energy.e_neuron_update", pop))


# --- conventional ---------------------------------------------------------------------------------
#
# Three cost models, chosen by the target's ``conventional.cost_model``:
#   ``power_time`` (GPU): per step t = max(kernels x t_kernel, FLOPs / peak FLOP/s, bytes / bandwidth),
#       E = busy power x t; idle power x t is listed, not added (the busy figure is the board's draw).
#   ``per_synop`` (CPU, Degnan et al. 2016 as coded in keras-spiking): E = e_synop_system x (dense
#       synops + neuron updates); a CPU runs every synapse every step (no zero skipping).
#   ``per_op`` (the Spike-driven Transformer papers' 45 nm formula): E = e_mac x MACs + e_ac x ACs.

GPU_MODES = ("eager", "graph", "fused")
COST_MODELS = ("power_time", "per_synop", "per_op")

# Kernels one population's step launches in eager PyTorch: the aten ops that
# ``neuromap.neurons.functional.neuron_step`` (LIF / CuBa, no refractoriness) and the EGRU update
# (``neuromap.neurons.egru.egru_candidate`` + event, output, reset) dispatch, views excluded;
# tests/test_energy_report.py re-counts them with torch's dispatch mode so this table cannot drift.
_RESET_OPS = {"subtract": 2, "zero": 4, "none": 0}
_BASE_OPS = {"lif": 7, "cuba": 9, "li": 4, "egru": 17, "relu": 1, "identity": 0}


@dataclass(frozen=True)
class Options:
    """How the model is run, where the cost depends on it.

    ``batch``: samples processed together on a conventional target (>= 1); ``gpu_mode``: ``eager``
    (one kernel per op, launched from Python), ``graph`` (the same kernels replayed from a CUDA graph)
    or ``fused`` (one kernel per projection and one per population per step, replayed);
    ``operating_point``: index into a target's ``chip.operating_points`` (SpiNNaker2: 0 = 0.5 V /
    150 MHz, 1 = 0.8 V / 300 MHz); ``realtime``: a real-time digital target charges the whole
    ``timing.timestep`` tick per step (False: as fast as possible)."""

    batch: int = 1
    gpu_mode: str = "eager"
    operating_point: int = 0
    realtime: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ValueError(f"batch={self.batch!r}: must be an integer >= 1")
        if self.gpu_mode not in GPU_MODES:
            raise ValueError(f"gpu_mode={self.gpu_mode!r} is not one of {list(GPU_MODES)}")
        if isinstance(self.operating_point, bool) or not isinstance(self.operating_point, int) \
                or self.operating_point < 0:
            raise ValueError(f"operating_point={self.operating_point!r}: must be an integer >= 0")


def kernels_per_step(netlist: Netlist, mode: str) -> tuple[int, list[str]]:
    """GPU kernels launched per time step by the graph (``mode`` as in :class:`Options`), and the
    populations whose kind has no known count (counted as one kernel each)."""
    unknown: list[str] = []
    n = sum(1 for p in netlist.projections if p.kind != "identity")  # one matmul / conv each
    for pop in netlist.populations:
        if pop.kind == "input":
            continue
        if mode == "fused":
            n += 1
            continue
        ops = _BASE_OPS.get(pop.kind)
        if ops is None:
            unknown.append(f"{pop.name} ({pop.kind})")
            n += 1
            continue
        if pop.kind in ("lif", "cuba"):
            neuron = getattr(pop.params, "neuron", None)  # typed SpikingParams; None when not known
            ops += _RESET_OPS.get(str(getattr(neuron, "reset", "subtract")), 2)
        n += ops
    return n, unknown


def _need(target, dotted: str, why: str):
    """A figure the chosen mode cannot do without: :class:`MissingFigure` naming figure and file."""
    f = target.figure(dotted)
    if f is None or f.value is None:
        reason = f" ({f.missing})" if f is not None and f.missing else ""
        path = getattr(target, "path", "") or target.name
        raise MissingFigure(f"target {target.name!r} ({path}) lacks figure {dotted!r}{reason}, which {why} needs")
    return f


def _cost_model(target) -> str:
    model = _need(target, "conventional.cost_model", "a conventional estimate").value
    if model not in COST_MODELS:
        raise MissingFigure(f"target {target.name!r} ({target.path}): conventional.cost_model={model!r} is not one "
                            f"of {list(COST_MODELS)}")
    return model


def conventional(netlist: Netlist, activity: Activity, target, mapping=None, options: Options | None = None) -> Estimate:
    """CPU / GPU cost (see the comment above :data:`GPU_MODES`)."""
    opt = options or Options()
    est = Estimate(target.name, target.kind, activity.samples, activity.steps)
    model = _cost_model(target)
    if model == "per_op":
        _per_op_terms(activity, target, est)
    elif model == "per_synop":
        _per_synop_terms(activity, target, est)
    else:
        _power_time_terms(netlist, activity, target, est, opt)
    if not est.latency_terms and "latency" not in " ".join(est.omitted):
        est.omitted.append(f"latency: the {model} model of {target.name!r} has no time figure")
    return est


def _per_op_terms(activity: Activity, target, est: Estimate) -> None:
    e_mac = _need(target, "energy.e_mac", "the per_op model")
    e_ac = _need(target, "energy.e_ac", "the per_op model")
    for proj, (_src, dst) in activity.projection_ends.items():
        est.energy_terms.append(_term("energy", "MACs", activity.macs[proj], f"effective MACs ({proj})", e_mac,
                                      "energy.e_mac", dst))
        est.energy_terms.append(_term("energy", "ACs", activity.acs[proj], f"effective ACs ({proj})", e_ac,
                                      "energy.e_ac", dst))
    est.notes.append("per-op 45 nm arithmetic energy only (no memory, control or static power): the Spike-driven "
                     "Transformer papers' formula, not a measurement of any processor")
    est.energy_lower_bound = True


def _per_synop_terms(activity: Activity, target, est: Estimate) -> None:
    e = _need(target, "energy.e_synop_system", "the per_synop model")
    for proj, (_src, dst) in activity.projection_ends.items():
        est.energy_terms.append(_term("energy", "synaptic ops (dense)", activity.dense_synops[proj],
                                      f"synapse-steps ({proj})", e, "energy.e_synop_system", dst))
    for pop, n in activity.updates_dense.items():
        est.energy_terms.append(_term("energy", "neuron updates", n, f"neuron-steps ({pop})", e,
                                      "energy.e_synop_system", pop))
    est.notes.append("system-level energy per synaptic op and per neuron update, charged for every synapse every "
                     "step (keras-spiking's model of a non-spiking device)")


def _power_time_terms(netlist: Netlist, activity: Activity, target, est: Estimate, opt: Options) -> None:
    T, B = activity.steps, activity.samples
    t_key = "timing.t_kernel_eager" if opt.gpu_mode == "eager" else "timing.t_kernel_graph"
    t_kernel = _need(target, t_key, f"gpu_mode={opt.gpu_mode!r}")
    p_busy = _need(target, "energy.p_busy", "the power x time model")
    kernels, unknown = kernels_per_step(netlist, opt.gpu_mode)
    if unknown:
        est.omitted.append(f"kernel count of populations {', '.join(unknown)}: counted as one kernel each")
        est.latency_lower_bound = est.energy_lower_bound = True
    dense_per_inf_step = sum(activity.dense_synops.values()) / (T * B)
    flops_batch = 2.0 * dense_per_inf_step * opt.batch
    candidates = [("kernel launches", kernels, f"kernels per step ({opt.gpu_mode}, batch {opt.batch})", t_kernel,
                   t_key, _scalar(t_kernel))]
    peak = _fig(target, "energy.peak_flops")
    if peak is not None:
        candidates.append(("FLOPs at peak throughput", flops_batch, f"FLOP per step (batch {opt.batch})", peak,
                           "energy.peak_flops", 1.0 / _scalar(peak)))
    bw = _fig(target, "chip.dram_bandwidth")
    if bw is not None:
        weight_bytes = 4.0 * sum(p.synapses_dense() for p in netlist.projections if p.kind != "identity")
        state_bytes = 4.0 * 2 * sum(activity.neurons.values()) * opt.batch  # read + write of one state per neuron
        candidates.append(("memory traffic", weight_bytes + state_bytes, "bytes per step (fp32 weights + state)", bw,
                           "chip.dram_bandwidth", 1.0 / _scalar(bw)))
    else:
        est.omitted.append("bytes / bandwidth: target lacks chip.dram_bandwidth")
    name, count, label, fig, key, value = max(candidates, key=lambda c: c[1] * c[5])
    per_batch_step = count * value
    # latency is one batch's step; the device time of the run is shared by `batch` inferences
    est.latency_terms.append(_term("latency", f"{name} (the largest of {len(candidates)} bounds)", count, label, fig,
                                   key, value=value))
    busy_s = per_batch_step * T * B / opt.batch
    est.energy_terms.append(_term("energy", "busy power x time", busy_s, f"device-seconds (batch {opt.batch})",
                                  p_busy, "energy.p_busy"))
    est.batch = opt.batch
    est.resources = {"kernels_per_step": kernels, "gpu_mode": opt.gpu_mode, "batch": opt.batch,
                     "bounds_s_per_batch_step": {c[0]: c[1] * c[5] for c in candidates}}
    _idle_and_bound(activity, target, est, busy_s, dense_per_inf_step)
    est.notes.append("host-side time (input copy, synchronisation) is not modelled separately: the per-kernel time "
                     "of eager PyTorch already includes its Python dispatch")


def _idle_and_bound(activity: Activity, target, est: Estimate, busy_s: float, dense_per_inf_step: float) -> None:
    """Idle power x time (listed, not added) and the old FLOPs / peak figure as a labelled lower bound."""
    p_idle = _fig(target, "energy.p_idle")
    if p_idle is not None:
        idle_J = busy_s * _scalar(p_idle) / activity.samples
        est.resources["idle_energy_J_per_inference"] = idle_J
        est.notes.append(f"idle power x time = {idle_J:.4g} J per inference (part of the busy power, listed separately)")
    else:
        fig = target.figure("energy.p_idle")
        why = f" ({fig.missing})" if fig is not None and fig.missing else ""
        est.omitted.append(f"idle power (listed separately, not added): target lacks energy.p_idle{why}")
    peak, p_max = _fig(target, "energy.peak_flops"), _fig(target, "energy.p_max")
    if peak is not None and p_max is not None:
        t_lb = 2.0 * dense_per_inf_step / _scalar(peak)
        lb = {"latency_per_step_s": t_lb, "energy_per_inference_J": t_lb * activity.steps * _scalar(p_max)}
        est.resources["lower_bound_at_peak"] = lb
        est.notes.append(f"lower bound at peak FLOP/s and full board power: >= {lb['latency_per_step_s']:.3g} s per step, "
                         f">= {lb['energy_per_inference_J']:.3g} J per inference (not a prediction)")


# --- superconducting SFQ --------------------------------------------------------------------------
#
# A pulse-rate SFQ network (Krylov et al. 2023, arXiv:2311.10721): a spike is an SFQ pulse, i.e. one
# 2 pi phase slip of a Josephson junction, which dissipates I_c x Phi_0. Energy on the chip = junction
# switches x I_c x Phi_0 (synaptic events x junctions per event, event-driven neuron updates x
# junctions per update) + static bias power x time; the cryocooler's wall-plug energy is its own
# term, chip heat x wall-plug factor. Time: one model step = one pulse slot = one clock period, and
# the pulses of a step cross the network's layers in a pipeline (depth - 1 periods of fill).

def sfq(netlist: Netlist, activity: Activity, target, options: Options | None = None) -> Estimate:
    """SFQ cost (see the comment above). A missing junction count for synaptic events is priced at
    ``sfq.junctions_per_pulse_min`` and a missing neuron count, bias power or practical wall-plug
    factor is left out (the Carnot bound replaces the latter); each marks the energy a lower bound
    and is listed in :attr:`Estimate.omitted`. ``options`` is taken for the common signature (no
    option changes an SFQ estimate). Energies in J, latency in s per step."""
    est = Estimate(target.name, target.kind, activity.samples, activity.steps)
    pulse = _sfq_pulse_term(target)
    _sfq_synapse_terms(activity, target, est, pulse)
    _sfq_neuron_terms(activity, target, est, pulse)
    _sfq_latency(netlist, activity, target, est)
    _sfq_static(target, est)
    chip_J = est.energy_J
    _sfq_cryo_term(target, est, chip_J)
    switches = sum(t.count for t in est.energy_terms if t.figure == pulse.figure)
    est.resources.update({
        "junction_switches_per_inference": switches / activity.samples,
        "energy_per_switch_J": pulse.value,
        "chip_energy_J_per_inference": chip_J / activity.samples,
        "cryocooler_energy_J_per_inference": (est.energy_J - chip_J) / activity.samples,
    })
    est.omitted.append("I/O: DC-to-SFQ input and SFQ-to-DC output converters are not priced (no figure)")
    est.energy_lower_bound = True
    return est


def _sfq_pulse_term(target) -> Term:
    """A template term for one junction switch: ``I_c x Phi_0`` joules (count 1)."""
    i_c = _need(target, "device.i_c", "the SFQ switching energy I_c x Phi_0")
    phi_0 = _need(target, "device.phi_0", "the SFQ switching energy I_c x Phi_0")
    return Term("energy", "junction switch", 1.0, "junction switch", "device.i_c*device.phi_0",
                float(i_c.value) * float(phi_0.value), "J",
                f"I_c x Phi_0 = {i_c.value:g} A x {phi_0.value:.10g} Wb; I_c: {i_c.source}"
                + (f" (note: {i_c.note})" if i_c.note else "") + f"; Phi_0: {phi_0.source}",
                "D", bool(i_c.estimate or phi_0.estimate))


def _switch_term(pulse: Term, name: str, switches: float, label: str, layer: str | None) -> Term:
    return Term("energy", name, float(switches), label, pulse.figure, pulse.value, pulse.unit, pulse.source,
                pulse.confidence, pulse.estimate_flag, layer)


def _missing_why(target, dotted: str) -> str:
    fig = target.figure(dotted)
    return f" ({fig.missing})" if fig is not None and fig.missing else ""


def _sfq_synapse_terms(activity: Activity, target, est: Estimate, pulse: Term) -> None:
    """Synaptic events x junctions switched per event (the minimum of one pulse where the circuit's
    count is missing)."""
    f = _fig(target, "sfq.junctions_per_synaptic_event")
    if f is None:
        f = _need(target, "sfq.junctions_per_pulse_min", "an SFQ estimate without junctions_per_synaptic_event")
        est.omitted.append("junctions per synaptic event: target lacks sfq.junctions_per_synaptic_event"
                           f"{_missing_why(target, 'sfq.junctions_per_synaptic_event')}; priced at the "
                           f"{f.value}-junction minimum of sfq.junctions_per_pulse_min")
    per_event = _scalar(f)
    for proj, (_src, dst) in activity.projection_ends.items():
        est.energy_terms.append(_switch_term(pulse, "SFQ pulses (synapses)", activity.synops[proj] * per_event,
                                             f"junction switches ({proj}: synaptic events x {per_event:g})", dst))


def _sfq_neuron_terms(activity: Activity, target, est: Estimate, pulse: Term) -> None:
    """Event-driven neuron updates x junctions switched per update (an SFQ circuit dissipates only
    when a fluxon moves, so idle neurons cost nothing); left out where the count is missing."""
    f = _fig(target, "sfq.junctions_per_neuron_update")
    if f is None:
        est.omitted.append("neuron circuit switching: target lacks sfq.junctions_per_neuron_update"
                           f"{_missing_why(target, 'sfq.junctions_per_neuron_update')}")
        return
    per_update = _scalar(f)
    for pop in activity.neurons:
        est.energy_terms.append(_switch_term(pulse, "SFQ pulses (neurons)", activity.updates_event[pop] * per_update,
                                             f"junction switches ({pop}: neuron updates x {per_update:g})", pop))


def _sfq_static(target, est: Estimate) -> None:
    """Static bias power x run time (latency per inference x samples); left out where missing."""
    p = _fig(target, "energy.p_bias_static")
    if p is None:
        est.omitted.append(f"static bias power: target lacks energy.p_bias_static"
                           f"{_missing_why(target, 'energy.p_bias_static')}")
        return
    if est.latency_per_inference_s is None:
        est.omitted.append("static bias power: no latency (timing.clock) to charge it over")
        return
    est.energy_terms.append(_term("energy", "static bias power", est.latency_per_inference_s * est.samples,
                                  "seconds of operation", p, "energy.p_bias_static"))


def _sfq_cryo_term(target, est: Estimate, chip_J: float) -> None:
    """Heat dissipated at ``cryo.t_cold`` x the cryocooler's wall-plug factor (W of wall power per W
    removed); the Carnot bound ``t_ambient / t_cold - 1`` where no practical factor is given."""
    f = _fig(target, "cryo.wall_plug_factor")
    if f is not None:
        term = _term("energy", "cryocooler (wall-plug)", chip_J, "J dissipated on the chip", f, "cryo.wall_plug_factor")
        term.unit = "J/J"
        est.resources.update({"wall_plug_factor": term.value, "wall_plug_factor_from": "cryo.wall_plug_factor"})
        est.energy_terms.append(term)
        return
    t_cold = _need(target, "cryo.t_cold", "the cryocooler's Carnot bound")
    t_amb = _need(target, "cryo.t_ambient", "the cryocooler's Carnot bound")
    carnot = float(t_amb.value) / float(t_cold.value) - 1.0
    est.energy_terms.append(Term(
        "energy", "cryocooler (wall-plug)", chip_J, "J dissipated on the chip", "cryo.t_ambient/cryo.t_cold-1", carnot,
        "J/J", f"Carnot bound on the work per unit heat lifted from {t_cold.value:g} K to {t_amb.value:g} K "
        f"(second law): {t_amb.value:g} / {t_cold.value:g} - 1; t_cold: {t_cold.source}; t_ambient: {t_amb.source}",
        "D", bool(t_cold.estimate or t_amb.estimate)))
    est.resources.update({"wall_plug_factor": carnot, "wall_plug_factor_from": "Carnot bound"})
    est.omitted.append("practical cryocooler efficiency: target lacks cryo.wall_plug_factor"
                       f"{_missing_why(target, 'cryo.wall_plug_factor')}; priced at the Carnot bound (a real "
                       "cryocooler needs more)")


def network_depth(netlist: Netlist) -> int:
    """Neuron populations on the longest input-to-output path; a recurrent group of populations
    counts once (pulses cross it once per step)."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(p.name for p in netlist.populations if p.kind != "input")
    g.add_edges_from((p.src, p.dst) for p in netlist.projections if p.src in g and p.dst in g and p.src != p.dst)
    if g.number_of_nodes() == 0:
        return 0
    return int(nx.dag_longest_path_length(nx.condensation(g))) + 1


def _sfq_latency(netlist: Netlist, activity: Activity, target, est: Estimate) -> None:
    """One clock period per step plus the pipeline fill, ``depth - 1`` periods spread over the steps,
    so latency per inference = (steps + depth - 1) / clock (the slowest clock where a range is given)."""
    f = _fig(target, "timing.clock")
    if f is None:
        est.omitted.append(f"latency: target lacks timing.clock{_missing_why(target, 'timing.clock')}")
        return
    clocks = f.value if isinstance(f.value, (list, tuple)) else [f.value]
    period = 1.0 / float(min(clocks))
    depth = network_depth(netlist)
    terms = [_term("latency", "clock period", 1.0, "pulse slot per step", f, "timing.clock", value=period)]
    if depth > 1:
        terms.append(_term("latency", "pipeline fill", (depth - 1) / activity.steps,
                           f"clock periods per step ({depth - 1} of fill over {activity.steps} steps)", f,
                           "timing.clock", value=period))
    for t in terms:
        t.unit = "s (1 / clock)"
    est.latency_terms += terms
    est.resources.update({"depth": depth, "clock_Hz": float(min(clocks))})
    if len(clocks) > 1:
        est.notes.append(f"clock: the slowest of the range {', '.join(f'{c:.3g}' for c in clocks)} Hz (timing.clock)")
    est.notes.append("one model time step = one pulse slot of one clock period; a neuron emits at most one SFQ pulse "
                     "per slot (pulse-rate coding)")


MODELS = {"digital": digital, "crossbar": crossbar, "conventional": conventional, "sfq": sfq}


def estimate(netlist: Netlist, activity: Activity, target, mapping=None, counters: dict | None = None,
             options: Options | None = None) -> Estimate:
    """Dispatch on ``target.kind``; digital targets need a mapping (partition with the activity);
    ``options`` (:class:`Options`) sets batch, GPU mode, operating point and real-time mode."""
    activity.check_matches(netlist)
    kind = target.kind
    if kind == "digital":
        if mapping is None:
            raise ValueError(f"target {target.name!r} is digital: the estimate needs a Mapping (neuromap.partition)")
        est = digital(netlist, activity, target, mapping, options=options)
    elif kind == "crossbar":
        est = crossbar(netlist, activity, target, mapping, counters)
    elif kind == "conventional":
        est = conventional(netlist, activity, target, mapping, options)
    elif kind == "sfq":
        est = sfq(netlist, activity, target, options)
    else:
        raise ValueError(f"unknown target kind {kind!r}")
    reductions = sorted(p.name for p in netlist.projections if p.reduces)
    if reductions and kind != "conventional":  # conventional kernels count the pooling op itself
        est.omitted.append(f"reductions (max pooling: {len(reductions)} projection(s)) are not priced: "
                           "no per-comparison figure for this target")
    return est


def spike_driven_transformer_energy(
    mac_flops: float, ac_flops: dict[str, float], rates: dict[str, float], steps: int,
    e_mac: float = 4.6e-12, e_ac: float = 0.9e-12,
) -> float:
    """The Spike-driven Transformer papers' estimate (J):
    ``E = e_mac * FLOPs(first, real-valued layer) + e_ac * T * sum_l fr_l * FLOPs_l``, with
    ``FLOPs_l`` the ANN-equivalent MAC count of layer ``l`` and ``fr_l`` the firing rate of its
    input. Defaults: Horowitz 45 nm FP32 (4.6 pJ MAC, 0.9 pJ AC)."""
    if set(ac_flops) != set(rates):
        raise ValueError(f"ac_flops and rates must name the same layers: {sorted(ac_flops)} vs {sorted(rates)}")
    return e_mac * mac_flops + e_ac * steps * sum(rates[k] * ac_flops[k] for k in ac_flops)


