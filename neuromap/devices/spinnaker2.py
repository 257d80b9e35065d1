"""SpiNNaker2's processing element (PE): its time and power model, written once.

The backend's timing (:mod:`neuromap.backends.spinnaker2.timing`: per PE and per step, from a run's
counters) and the digital cost model (:func:`price`: from an activity and a mapping) both call
it, so a run's step time and its report agree by construction.

Time, from the target's figures (``hardware/spinnaker2.toml``): a PE handles synaptic events at
``timing.synop_rate_pe`` per second at each operating point (Scholze et al.: up to 12 M events/s
per PE at 300 MHz; the CPU time of neuron updates and packets is not published separately and is
taken as part of that rate), and its MAC array does ``numerics.mla_macs_per_cycle`` MACs per cycle
of ``chip.clock``::

    PE time per step (s) = synaptic events / rate + MAC-array MACs / (MACs per cycle x clock)

A clock that is not one of the target's operating points scales the fastest point's rate by the
clock (derived, and said so).

Power (W, each figure per operating point): the chip's baseline with its PEs off
(``energy.p_chip_pes_off``) x chips x time + PE sleep power (``energy.p_pe_sleep``) x PEs used x
time + PE active power (``energy.p_pe_active``) x busy PE-time (the events' share of the step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromap.estimate import (
    Estimate,
    MissingFigure,
    Options,
    Term,
    at,
    fig,
    need,
    operating_point,
    per_core_sum,
    scalar,
    term,
)

#: figures whose presence marks a target priced by this PE model instead of per synaptic event
POWER_FIGURES = ("energy.p_pe_active", "energy.p_pe_sleep", "energy.p_chip_pes_off")


@dataclass(frozen=True)
class PE:
    """One PE at one clock: ``clock_hz``, its synaptic event rate ``rate_hz`` (events/s; None when
    the target gives none) and where that came from, MAC-array ``macs_per_cycle`` (None: not given)."""

    clock_hz: float
    rate_hz: float | None
    rate_from: str
    macs_per_cycle: float | None

    @classmethod
    def of(cls, target, op: int = 0, clock_hz: float | None = None) -> PE:
        """The PE of ``target`` at operating point ``op``, or at ``clock_hz`` when given."""
        clocks = need(target, "chip.clock", "the SpiNNaker2 PE model").value
        clocks = clocks if isinstance(clocks, list) else [clocks]
        f = float(clock_hz if clock_hz is not None else clocks[op])
        rate, rate_from = _synop_rate(target, f, clocks)
        per_cycle = target.get("numerics.mla_macs_per_cycle")
        return cls(f, rate, rate_from, None if per_cycle is None else float(per_cycle))

    def event_time(self, synops):
        """Seconds the PE's CPU spends on ``synops`` synaptic events (arrays: per PE / per step)."""
        if self.rate_hz is None:
            raise MissingFigure("the SpiNNaker2 PE model needs timing.synop_rate_pe (or Cortex-M4F cycles per "
                                "synaptic event) to time synaptic events")
        return synops / self.rate_hz

    def mac_time(self, macs):
        """Seconds the PE's MAC array spends on ``macs`` MACs."""
        if self.macs_per_cycle is None:
            if not np.any(macs):
                return macs * 0.0
            raise MissingFigure("the SpiNNaker2 PE model needs numerics.mla_macs_per_cycle to time MAC-array MACs")
        return macs / (self.macs_per_cycle * self.clock_hz)


def _synop_rate(target, f: float, clocks: list) -> tuple[float | None, str]:
    """Synaptic events per second per PE at clock ``f`` (the published value at that operating point,
    else scaled by the clock from the fastest one) and how it was obtained."""
    rates = target.get("timing.synop_rate_pe")
    if rates is None:
        return None, ""
    rates = rates if isinstance(rates, list) else [rates]
    if f in clocks:
        return float(rates[clocks.index(f)]), "timing.synop_rate_pe"
    return float(rates[-1]) * f / float(clocks[-1]), f"timing.synop_rate_pe scaled to {f:.4g} Hz (derived)"


def prices(target) -> bool:
    """Whether ``target`` is priced by this PE model (it gives per-PE power figures)."""
    return fig(target, "energy.p_pe_active") is not None


def pe_work(activity, mapping, mac_array: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per core, per step: synaptic events handled by the PE's CPU and MAC-array MACs. Events into a
    population from MAC-array projections are removed in proportion to their share of its events."""
    T, B = activity.steps, activity.samples
    syn = np.zeros(mapping.n_cores)
    macs = np.zeros(mapping.n_cores)
    for pop in activity.neurons:
        into = [p for p, (_s, d) in activity.projection_ends.items() if d == pop]
        total = sum(activity.synops[p] for p in into)
        cpu = sum(activity.synops[p] for p in into if p not in mac_array)
        if total > 0:
            syn += per_core_sum(mapping, pop, activity.synops_per_neuron[pop]) * (cpu / total)
        dense = sum(activity.dense_synops[p] for p in into if p in mac_array)
        if dense:
            n = activity.neurons[pop]
            macs += per_core_sum(mapping, pop, [dense / n] * n)
    return syn / (T * B), macs / (T * B)


def price(activity, target, mapping, est: Estimate, opt: Options, mac_array: set[str]) -> None:
    """Step time = the busiest PE's synaptic events / per-PE event rate + its MAC-array cycles;
    energy = chip baseline (PEs off) x chips x time + PE sleep power x used PEs x time + PE active
    power x busy PE-time (the caller adds neuron updates, MAC-array MACs and packets)."""
    T, B = activity.steps, activity.samples
    op = operating_point(target, opt)
    rate = need(target, "timing.synop_rate_pe", "the per-PE step-time model")
    clock = need(target, "chip.clock", "the MAC-array time")
    pe = PE.of(target, op)
    syn, macs = pe_work(activity, mapping, mac_array)
    busy = pe.event_time(syn)
    work = busy + pe.mac_time(macs)
    b = int(np.argmax(work)) if len(work) else 0
    terms = [term("latency", "busiest PE: synaptic events", syn[b], f"events per step on PE {b}", rate,
                  "timing.synop_rate_pe", value=1.0 / pe.rate_hz)]
    if macs.any():
        terms.append(Term("latency", "busiest PE: MAC-array cycles", macs[b] / pe.macs_per_cycle,
                          f"cycles per step on PE {b}", "chip.clock", 1.0 / pe.clock_hz, "s", clock.source,
                          clock.confidence))
    step = float(work[b]) if len(work) else 0.0
    _step_latency(target, est, opt, terms, step)
    est.notes.append(f"operating point {target.get('chip.operating_points')[op]}; "
                     + ("real-time mode: every step lasts the whole tick" if opt.realtime else "as fast as possible")
                     + "; neuron-update CPU time is not published separately (taken as part of the per-PE event rate)")
    run_s = float(est.latency_per_step_s) * T * B
    used = int(np.count_nonzero(np.bincount(np.concatenate([mapping.core_of(p) for p in activity.neurons]),
                                            minlength=mapping.n_cores)))
    chips = int(mapping.metrics.get("chips") or 1)
    est.energy_terms += power_terms(target, op, chips, used, run_s, float(busy.sum()) * T * B)
    upd = np.zeros(mapping.n_cores)
    for pop in activity.neurons:
        upd += np.bincount(mapping.core_of(pop), minlength=mapping.n_cores).astype(np.float64) * T * B
    f_active = need(target, "energy.p_pe_active", "the PE power model")
    dynamic = busy * T * B * at(f_active, op) + upd * scalar(need(target, "energy.e_neuron_update", "digital"))
    est.per_core = {"synops_per_step": syn.tolist(), "work_s_per_step": work.tolist(),
                    "dynamic_energy_J": dynamic.tolist()}
    est.resources = {"operating_point": target.get("chip.operating_points")[op], "realtime": opt.realtime,
                     "pes_used": used, "step_time_s": step}


def _step_latency(target, est: Estimate, opt: Options, terms: list[Term], step: float) -> None:
    """A real-time step lasts the whole tick when the busiest PE finishes within it; else the work."""
    tick = fig(target, "timing.timestep")
    if opt.realtime and tick is not None and step <= scalar(tick):
        est.latency_terms = [term("latency", "real-time tick (the PEs idle after their work)", 1, "tick", tick,
                                  "timing.timestep")]
    else:
        est.latency_terms = terms
        if opt.realtime and tick is not None:
            est.notes.append(f"real-time overrun: the busiest PE needs {step:.4g} s > the {scalar(tick):g} s tick")


def power_terms(target, op: int, chips: int, used: int, run_s: float, busy_pe_s: float) -> list[Term]:
    """Chip baseline x chip-seconds, PE sleep power x PE-seconds of the used PEs, PE active power x
    busy PE-seconds (J)."""
    f_base = need(target, "energy.p_chip_pes_off", "the chip baseline power")
    f_sleep = need(target, "energy.p_pe_sleep", "the PE power model")
    f_active = need(target, "energy.p_pe_active", "the PE power model")
    return [
        term("energy", "chip baseline power", chips * run_s, "chip-seconds", f_base, "energy.p_chip_pes_off"),
        term("energy", "PE sleep power", used * run_s, f"PE-seconds ({used} PEs used; unused PEs off)", f_sleep,
             "energy.p_pe_sleep", value=at(f_sleep, op)),
        term("energy", "PE active power", busy_pe_s, "busy PE-seconds (synaptic events)", f_active,
             "energy.p_pe_active", value=at(f_active, op)),
    ]
