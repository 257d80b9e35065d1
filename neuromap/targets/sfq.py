"""``kind = "sfq"``: superconducting single-flux-quantum (SFQ) circuits, a pulse-rate network after
Krylov, Edwards, Friedman and Friedman, "Deep Neuromorphic Networks with Superconducting Single Flux
Quanta" (arXiv:2311.10721, 2023).

A spike is an SFQ pulse, one 2 pi phase slip of a Josephson junction, which dissipates
``I_c x Phi_0``. Energy on the chip = junction switches x I_c x Phi_0 (synaptic events x junctions
per event, event-driven neuron updates x junctions per update) + static bias power x time; the
cryocooler's wall-plug energy is its own term, chip heat x wall-plug factor (the Carnot bound where
no practical factor is given). Time: one model step = one pulse slot = one clock period, and the
pulses of a step cross the network's layers in a pipeline (depth - 1 periods of fill). The kind has
no core model, so it is not partitioned.
"""

from __future__ import annotations

from neuromap.estimate import Estimate, Options, Term, fig, fmt_si, missing_why, need, scalar, term

from .kind import TargetKind, register_kind
from .schema import COUNT, FREQUENCIES, POWER, REFERENCE, FigureSpec, Target

_JUNCTIONS = FigureSpec("1", positive=True, required=True)
FIGURES = {
    "device.i_c": FigureSpec("A", positive=True, required=True), "device.i_c_unit": FigureSpec("A", positive=True),
    "device.phi_0": FigureSpec("Wb", positive=True, required=True, needs_value=True),
    "sfq.junctions_per_synaptic_event": _JUNCTIONS, "sfq.junctions_per_neuron_update": _JUNCTIONS,
    "sfq.junctions_per_pulse_min": COUNT.but(required=True, needs_value=True),
    "timing.clock": FREQUENCIES.but(required=True), "energy.p_bias_static": POWER.but(positive=True),
    "cryo.t_cold": FigureSpec("K", positive=True, required=True),
    "cryo.t_ambient": FigureSpec("K", positive=True, required=True),
    "cryo.wall_plug_factor": FigureSpec("1", positive=True, required=True),
    "validation.xor_margin": REFERENCE,
}


class SFQ(TargetKind):
    name = "sfq"
    description = "superconducting single-flux-quantum pulse circuits at 4 K, with the cryocooler priced"
    figures = FIGURES
    summary_keys = ("device.i_c", "device.phi_0", "sfq.junctions_per_synaptic_event",
                    "sfq.junctions_per_neuron_update", "timing.clock", "cryo.t_cold", "cryo.wall_plug_factor")
    partitions = False

    def estimate(self, netlist, activity, target: Target, mapping, counters: dict | None,
                 options: Options | None) -> Estimate:
        """SFQ cost (see the module docstring). A missing junction count for synaptic events is priced
        at ``sfq.junctions_per_pulse_min`` and a missing neuron count, bias power or practical wall-plug
        factor is left out (the Carnot bound replaces the latter); each marks the energy a lower bound
        and is listed in :attr:`Estimate.omitted`. No option changes an SFQ estimate. Energies in J,
        latency in s per step."""
        est = Estimate(target.name, target.kind, activity.samples, activity.steps)
        pulse = _pulse_term(target)
        _synapse_terms(activity, target, est, pulse)
        _neuron_terms(activity, target, est, pulse)
        _latency(netlist, activity, target, est)
        _static(target, est)
        chip_J = est.energy_J
        _cryo_term(target, est, chip_J)
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

    def report_lines(self, name: str, est: Estimate) -> list[str]:
        """``"sfq: chip X + cryocooler Y (wall-plug factor F) = Z per inference"``: the cooling is its
        own term, so the report prints chip and wall-plug energy side by side."""
        chip = est.resources.get("chip_energy_J_per_inference")
        cryo = est.resources.get("cryocooler_energy_J_per_inference")
        if chip is None or cryo is None:
            return []
        ge = ">=" if est.energy_lower_bound else ""
        factor = f"{est.resources.get('wall_plug_factor', float('nan')):.3g} J/J, " \
                 f"{est.resources.get('wall_plug_factor_from', '')}"
        return [f"{name}: chip {ge}{fmt_si(chip, 'J')} + cryocooler {ge}{fmt_si(cryo, 'J')} (wall-plug factor "
                f"{factor}) = {ge}{fmt_si(chip + cryo, 'J')} per inference"]


def _pulse_term(target: Target) -> Term:
    """A template term for one junction switch: ``I_c x Phi_0`` joules (count 1)."""
    i_c = need(target, "device.i_c", "the SFQ switching energy I_c x Phi_0")
    phi_0 = need(target, "device.phi_0", "the SFQ switching energy I_c x Phi_0")
    return Term("energy", "junction switch", 1.0, "junction switch", "device.i_c*device.phi_0",
                float(i_c.value) * float(phi_0.value), "J",
                f"I_c x Phi_0 = {i_c.value:g} A x {phi_0.value:.10g} Wb; I_c: {i_c.source}"
                + (f" (note: {i_c.note})" if i_c.note else "") + f"; Phi_0: {phi_0.source}",
                "D", bool(i_c.estimate or phi_0.estimate))


def _switch_term(pulse: Term, name: str, switches: float, label: str, layer: str | None) -> Term:
    return Term("energy", name, float(switches), label, pulse.figure, pulse.value, pulse.unit, pulse.source,
                pulse.confidence, pulse.estimate_flag, layer)


def _synapse_terms(activity, target: Target, est: Estimate, pulse: Term) -> None:
    """Synaptic events x junctions switched per event (the minimum of one pulse where the circuit's
    count is missing)."""
    f = fig(target, "sfq.junctions_per_synaptic_event")
    if f is None:
        f = need(target, "sfq.junctions_per_pulse_min", "an SFQ estimate without junctions_per_synaptic_event")
        est.omitted.append("junctions per synaptic event: target lacks sfq.junctions_per_synaptic_event"
                           f"{missing_why(target, 'sfq.junctions_per_synaptic_event')}; priced at the "
                           f"{f.value}-junction minimum of sfq.junctions_per_pulse_min")
    per_event = scalar(f)
    for proj, (_src, dst) in activity.projection_ends.items():
        est.energy_terms.append(_switch_term(pulse, "SFQ pulses (synapses)", activity.synops[proj] * per_event,
                                             f"junction switches ({proj}: synaptic events x {per_event:g})", dst))


def _neuron_terms(activity, target: Target, est: Estimate, pulse: Term) -> None:
    """Event-driven neuron updates x junctions switched per update (an SFQ circuit dissipates only
    when a fluxon moves, so idle neurons cost nothing); left out where the count is missing."""
    f = fig(target, "sfq.junctions_per_neuron_update")
    if f is None:
        est.omitted.append("neuron circuit switching: target lacks sfq.junctions_per_neuron_update"
                           f"{missing_why(target, 'sfq.junctions_per_neuron_update')}")
        return
    per_update = scalar(f)
    for pop in activity.neurons:
        est.energy_terms.append(_switch_term(pulse, "SFQ pulses (neurons)", activity.updates_event[pop] * per_update,
                                             f"junction switches ({pop}: neuron updates x {per_update:g})", pop))


def _static(target, est: Estimate) -> None:
    """Static bias power x run time (latency per inference x samples); left out where missing."""
    p = fig(target, "energy.p_bias_static")
    if p is None:
        est.omitted.append(f"static bias power: target lacks energy.p_bias_static"
                           f"{missing_why(target, 'energy.p_bias_static')}")
        return
    if est.latency_per_inference_s is None:
        est.omitted.append("static bias power: no latency (timing.clock) to charge it over")
        return
    est.energy_terms.append(term("energy", "static bias power", est.latency_per_inference_s * est.samples,
                                  "seconds of operation", p, "energy.p_bias_static"))


def _cryo_term(target, est: Estimate, chip_J: float) -> None:
    """Heat dissipated at ``cryo.t_cold`` x the cryocooler's wall-plug factor (W of wall power per W
    removed); the Carnot bound ``t_ambient / t_cold - 1`` where no practical factor is given."""
    f = fig(target, "cryo.wall_plug_factor")
    if f is not None:
        cryo = term("energy", "cryocooler (wall-plug)", chip_J, "J dissipated on the chip", f, "cryo.wall_plug_factor")
        cryo.unit = "J/J"
        est.resources.update({"wall_plug_factor": cryo.value, "wall_plug_factor_from": "cryo.wall_plug_factor"})
        est.energy_terms.append(cryo)
        return
    t_cold = need(target, "cryo.t_cold", "the cryocooler's Carnot bound")
    t_amb = need(target, "cryo.t_ambient", "the cryocooler's Carnot bound")
    carnot = float(t_amb.value) / float(t_cold.value) - 1.0
    est.energy_terms.append(Term(
        "energy", "cryocooler (wall-plug)", chip_J, "J dissipated on the chip", "cryo.t_ambient/cryo.t_cold-1", carnot,
        "J/J", f"Carnot bound on the work per unit heat lifted from {t_cold.value:g} K to {t_amb.value:g} K "
        f"(second law): {t_amb.value:g} / {t_cold.value:g} - 1; t_cold: {t_cold.source}; t_ambient: {t_amb.source}",
        "D", bool(t_cold.estimate or t_amb.estimate)))
    est.resources.update({"wall_plug_factor": carnot, "wall_plug_factor_from": "Carnot bound"})
    est.omitted.append("practical cryocooler efficiency: target lacks cryo.wall_plug_factor"
                       f"{missing_why(target, 'cryo.wall_plug_factor')}; priced at the Carnot bound (a real "
                       "cryocooler needs more)")


def network_depth(netlist) -> int:
    """Neuron populations on the longest input-to-output path; a recurrent group of populations
    counts once (pulses cross it once per step)."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(p.name for p in netlist.populations if not p.is_input)
    g.add_edges_from((p.src, p.dst) for p in netlist.projections if p.src in g and p.dst in g and p.src != p.dst)
    if g.number_of_nodes() == 0:
        return 0
    return int(nx.dag_longest_path_length(nx.condensation(g))) + 1


def _latency(netlist, activity, target: Target, est: Estimate) -> None:
    """One clock period per step plus the pipeline fill, ``depth - 1`` periods spread over the steps,
    so latency per inference = (steps + depth - 1) / clock (the slowest clock where a range is given)."""
    f = fig(target, "timing.clock")
    if f is None:
        est.omitted.append(f"latency: target lacks timing.clock{missing_why(target, 'timing.clock')}")
        return
    clocks = f.value if isinstance(f.value, (list, tuple)) else [f.value]
    period = 1.0 / float(min(clocks))
    depth = network_depth(netlist)
    terms = [term("latency", "clock period", 1.0, "pulse slot per step", f, "timing.clock", value=period)]
    if depth > 1:
        terms.append(term("latency", "pipeline fill", (depth - 1) / activity.steps,
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


register_kind(SFQ())
