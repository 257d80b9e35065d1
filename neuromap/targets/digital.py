"""``kind = "digital"``: digital neuromorphic chips (SpiNNaker2, Loihi, Loihi 2): cores holding
neurons and their synapses, a mesh of routers, spikes as packets.

Partition: populations are split by the additive per-core limits (neurons, synapse memory, shared
memory), slices with too many distinct inputs are halved (``core.max_axons_in``), cores are placed
on the chips' router mesh and routed X then Y (:mod:`neuromap.partition.place`, ``.route``).

Cost model (every number a count times a cited figure)::

    E = synops x e_synop + neuron updates x e_neuron_update + spike packets x e_spike
        + packet hops x e_hop + static power x chips x time
        + embedded x86 power x chips x time                    (system term, where given)
    latency / step = slowest core's work (synops x t_synop + neuron updates x t_neuron)
                     + NoC (longest route x t_hop) + barrier
                     + x86 / host I/O per step                 (system term, where given)

The system terms are what a measured chip spends beside its cores: Loihi's embedded x86
(Lakemont) cores drive the mesh every step and the host feeds inputs and reads outputs through
them (``timing.t_host_step``: seconds per step; ``energy.p_x86``: their power while a model runs).
A target that gives neither leaves them out and says so (``omitted``).

The per-core work comes from the :class:`~neuromap.partition.Mapping` (which neuron sits on which
core) and the per-neuron counts of the activity, so the latency depends on the mapping, not just on
totals. A target with per-PE power figures (SpiNNaker2) is priced as power x time by the PE model
of :mod:`neuromap.devices.spinnaker2` instead of per synaptic event plus static power; projections
a backend ran on a MAC array (``Options.mac_array``) are priced per MAC (``energy.e_mac_mla``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from neuromap import memory
from neuromap.devices import spinnaker2 as pe_model
from neuromap.estimate import (
    Estimate,
    MissingFigure,
    Options,
    at,
    fig,
    missing_why,
    operating_point,
    per_core_sum,
    scalar,
    term,
)
from neuromap.partition.errors import DoesNotFit
from neuromap.partition.place import Mesh, hop_cost, place
from neuromap.partition.route import flow_blocks, link_loads, router_entries
from neuromap.partition.split import Limits, SharedMemory, group_connectivity

from .kind import TargetKind, register_kind
from .schema import (
    ANY,
    BITS,
    BYTES,
    COUNT,
    ENERGIES,
    ENERGY,
    FREQUENCIES,
    POWER,
    POWERS,
    RATIO,
    TEXT,
    TIME,
    TIMES,
    FigureSpec,
    Target,
    fail,
)

_BITS = FigureSpec("bit", "int", positive=True)
_INTS = FigureSpec("1", "ints", positive=True)
FIGURES = {
    # per core
    "core.max_neurons": COUNT.but(required=True), "core.memory_bits": _BITS, "core.synapse_mem_bits": _BITS,
    "core.max_axons_in": COUNT, "core.max_axons_out": COUNT, "core.max_fan_in": COUNT,
    "core.routing_table_bytes": BYTES, "core.sram_bytes": BYTES, "core.max_delay_steps": COUNT,
    "core.compartment_configs": COUNT, "core.synapse_configs": COUNT, "core.threshold_configs": COUNT,
    # per chip
    "chip.cores_per_chip": COUNT.but(required=True, needs_value=True), "chip.usable_cores": COUNT,
    "chip.cores_per_router": COUNT.but(required=True, needs_value=True),
    "chip.router_grid": _INTS.but(required=True, needs_value=True), "chip.router_positions": ANY,
    "chip.router_entries": COUNT, "chip.chip_links": COUNT, "chip.max_cores_mesh": COUNT,
    "chip.clock": FREQUENCIES, "chip.operating_points": ANY, "chip.noc": TEXT,
    "chip.dram_bytes": FigureSpec("byte", positive=True), "chip.dram_bandwidth": FigureSpec("B/s", positive=True),
    "chip.sram_bytes": FigureSpec("byte", positive=True), "chip.neurons_per_chip": COUNT,
    "chip.synapses_per_chip": COUNT, "chip.transistors": RATIO, "chip.die_area": FigureSpec("m2", positive=True),
    "chip.x86_cores": COUNT,
    # system
    "system.chips_per_board": COUNT, "system.chip_grid": _INTS, "system.max_chips": COUNT,
    "system.boards_per_rack": COUNT,
    # numerics
    "numerics.weight_bits": BITS.but(required=True, needs_value=True), "numerics.weight_bits_min": BITS,
    "numerics.state_bits": BITS.but(required=True, needs_value=True), "numerics.decay_bits": BITS,
    "numerics.threshold_mantissa_bits": BITS, "numerics.threshold_shift": FigureSpec("bit", "int", max=64),
    "numerics.bias_mantissa_bits": BITS, "numerics.bias_exponent_bits": BITS, "numerics.spike_message_bits": BITS,
    "numerics.graded_spike_bits": BITS, "numerics.graded_spike_bits_hw": BITS,
    "numerics.compartment_input_bits": BITS, "numerics.synapse_accumulator_bits": BITS,
    "numerics.weight_exp_offset": FigureSpec("1", "int", signed=True), "numerics.refractory_max_steps": COUNT,
    "numerics.mla_array": _INTS, "numerics.mla_macs_per_cycle": COUNT,
    "numerics.mla_precision_bits": FigureSpec("bit", "ints", positive=True, max=64),
    "numerics.exp_log_latency_cycles": _INTS,
    # energy (J per event) and power (W)
    "energy.e_synop": ENERGY.but(positive=True, required=True), "energy.e_synop_upper": ENERGY,
    "energy.e_synop_silicon": ENERGY, "energy.e_synop_learning": ENERGY,
    "energy.e_neuron_update": ENERGY.but(positive=True, required=True), "energy.e_neuron_update_upper": ENERGY,
    "energy.e_neuron_inactive": ENERGY, "energy.e_spike": ENERGY, "energy.e_spike_within_tile": ENERGY,
    "energy.e_graded_spike": ENERGY,
    "energy.e_hop": ENERGY, "energy.e_hop_ew": ENERGY, "energy.e_hop_ns": ENERGY,
    "energy.e_axon_out_silicon": ENERGY, "energy.e_packet_spinnaker1": ENERGY, "energy.e_mac_mla": ENERGIES,
    "energy.e_mac_mla_band": ENERGIES, "energy.e_mac_dnn_best": ENERGY,
    "energy.p_static_chip": POWER.but(positive=True), "energy.p_chip_typ": POWER, "energy.p_chip_max": POWER,
    "energy.p_chip_pes_off": POWER, "energy.p_chip_pes_asleep": POWERS, "energy.p_chip_coremark": POWERS,
    "energy.p_pe_active": POWERS, "energy.p_pe_sleep": POWERS, "energy.p_idle_blouw2019": POWER,
    "energy.p_x86": POWER,
    # timing (s per event, per step)
    "timing.timestep": TIME.but(positive=True), "timing.timestep_unthrottled": TIMES, "timing.t_step_typical": TIME,
    "timing.t_synop": TIME, "timing.t_synop_learning": TIME, "timing.t_neuron_update": TIME,
    "timing.t_neuron_active": TIME, "timing.t_neuron_inactive": TIME, "timing.t_spike_within_tile": TIME,
    "timing.t_hop": TIME, "timing.t_hop_ew": TIME, "timing.t_hop_ns": TIME, "timing.t_barrier": TIMES,
    "timing.t_barrier_multichip": TIMES, "timing.synop_rate_pe": FREQUENCIES, "timing.t_host_step": TIME,
    "timing.spike_bandwidth_per_tile": FigureSpec("Hz", positive=True),
    # the simulator that models the chip, and published measurements kept for validation
    "sim.lava_run_cfg": TEXT, "sim.lava_select_tag": TEXT,
    "validation.dvs_gesture_acc_onchip": RATIO, "validation.egru_lm_vs_gpu_energy_ratio": FigureSpec("1", "numbers"),
    "validation.pilotnet_lif_energy_per_frame": ENERGY, "validation.pilotnet_lif_dynamic_energy_per_frame": ENERGY,
}
# bytes per router the placer allocates: 4 link-load arrays of float64 (+ a generated [x, y] list entry)
_ROUTER_BYTES, _POSITION_BYTES = 32, 144


class Digital(TargetKind):
    name = "digital"
    description = "digital neuromorphic chips: cores of neurons and synapses on a router mesh (SpiNNaker2, Loihi)"
    figures = FIGURES
    summary_keys = ("chip.cores_per_chip", "core.max_neurons", "core.synapse_mem_bits", "core.memory_bits",
                    "core.max_axons_in", "numerics.weight_bits", "energy.e_synop", "energy.e_neuron_update",
                    "energy.p_static_chip", "energy.p_chip_pes_off", "energy.p_pe_active")

    # --- schema ------------------------------------------------------------------------------
    def check(self, target: Target) -> None:
        """The router grid holds the chip's cores, its positions lie inside it, and the placer's mesh
        arrays for it fit the memory budget."""
        path, grid = target.path, target.get("chip.router_grid")
        if len(grid) != 2:
            raise fail(path, "chip.router_grid", f"expected [width, height], got {grid}")
        pos = target.get("chip.router_positions")
        if pos is not None:
            for p in pos:
                if not (isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) for v in p)
                        and 0 <= p[0] < grid[0] and 0 <= p[1] < grid[1]):
                    raise fail(path, "chip.router_positions", f"position {p} is outside the {grid} grid")
        n_routers = len(pos) if pos is not None else grid[0] * grid[1]
        cpc = target.get("chip.cores_per_chip")
        if n_routers * target.get("chip.cores_per_router") < cpc:
            raise fail(path, "chip.cores_per_chip", f"{cpc} cores do not fit {n_routers} routers x cores_per_router")
        need = grid[0] * grid[1] * _ROUTER_BYTES + (0 if pos is not None else n_routers * _POSITION_BYTES)
        if (why := memory.over(need)) is not None:
            raise fail(path, "chip.router_grid", f"a {grid[0]:,} x {grid[1]:,} router grid {why}; "
                       f"a smaller grid, or a higher limit with --max-memory or ${memory.ENV}")

    # --- partition ---------------------------------------------------------------------------
    def limits(self, target: Target, weight_bits: int | None = None) -> Limits:
        g = target.get
        wb = int(weight_bits if weight_bits is not None else g("numerics.weight_bits"))
        lim = Limits("digital", g("core.max_neurons"), g("core.synapse_mem_bits"), g("core.memory_bits"),
                     g("core.max_axons_in"), g("core.max_axons_out"), wb, int(g("numerics.state_bits")))
        if lim.max_neurons is None and lim.memory_bits is None and lim.synapse_mem_bits is None:
            raise ValueError(f"target {target.name!r} gives no per-core neuron or memory limit; cannot split populations")
        return lim

    def split(self, run) -> None:
        super().split(run)
        if run.lim.max_axons_in is not None:
            run.bounds = _slice_axons(run.netlist, run.pops, run.index, run.bounds, run.lim)

    def core_memory(self, run, n_cores: int, conn: sp.csr_matrix) -> np.ndarray | None:
        """Memory bits per core: its atoms' neuron bits, one slice overhead per population it holds and
        one routing entry per (source population, source core) sending to it (``conn``: source atoms x
        cores); None when the memory model has neither overhead or the target no memory limit."""
        if "core.memory_bits" not in run.res_names:
            return None
        model = run.lim.memory or SharedMemory()
        slice_bits = np.array([int(c["slice_bits"]) for c in run.cost], dtype=np.float64)
        per_source = float(model.source_bits(run.lim))
        if not slice_bits.any() and not per_source:
            return None
        mem = np.bincount(run.assign, weights=run.res[:, run.res_names.index("core.memory_bits")], minlength=n_cores)
        pairs, pair_of_atom = np.unique(run.assign * len(run.pops) + run.a_pop, return_inverse=True)
        mem += np.bincount(pairs // len(run.pops), weights=slice_bits[pairs % len(run.pops)], minlength=n_cores)
        if per_source:
            hot = sp.csr_matrix((np.ones(len(run.a_pop)), (pair_of_atom, np.arange(len(run.a_pop)))),
                                shape=(len(pairs), len(run.a_pop)))
            sends = ((hot @ (conn > 0).astype(np.float64)) > 0).astype(np.float64)  # (pop, core) pair -> cores
            mem += per_source * np.asarray(sends.sum(axis=0)).ravel()
        return mem

    def add_usage(self, run, usage: dict[str, list], limits: dict[str, float | None]) -> None:
        usage["core.max_axons_in"] = run.ax_in.tolist()
        limits["core.max_axons_in"] = run.lim.max_axons_in
        usage["core.max_axons_out"] = run.ax_out.tolist()
        limits["core.max_axons_out"] = run.lim.max_axons_out

    def place(self, run, placement: str, time_budget: float, metrics: dict, violations: list[str]):
        """Cores on the chips' router mesh (optimised / sequential / random), links loaded X then Y."""
        tgt, traffic = run.tgt, run.traffic
        mesh = Mesh.for_target(tgt, traffic.shape[0])
        slot_of = place(traffic, mesh, placement, run.seed, time_budget)
        s = mesh.slots()
        X, Y = s["X"].astype(np.int64), s["Y"].astype(np.int64)
        cores = {k: s[k][slot_of].tolist() for k in ("chip", "x", "y", "sub", "X", "Y")}
        cores["tiles"] = [1] * traffic.shape[0]
        all_links = link_loads(traffic, X, Y, slot_of, mesh.global_shape, mesh.grid[0], mesh.grid[1]).links()
        links = sorted(all_links, key=lambda lk: -lk[2])[:64]
        metrics.update(chips=len(set(cores["chip"])), hop_traffic=hop_cost(traffic, X, Y, slot_of),
                       max_link_load=max((lk[2] for lk in all_links), default=0.0),
                       max_offchip_link_load=max((lk[2] for lk in all_links if lk[3]), default=0.0),
                       offchip_traffic=float(_offchip(traffic, np.asarray(cores["chip"]))))
        _graded_metrics(run, metrics, violations, lambda t: hop_cost(t, X, Y, slot_of))
        if tgt.get("chip.router_entries") is not None:
            ent = router_entries(traffic, np.asarray(cores["chip"]), mesh.chip_grid, mesh.n_chips)
            metrics["router_entries_max"] = int(ent.max(initial=0))
            metrics["router_entries_limit"] = int(tgt.get("chip.router_entries"))
            if ent.max(initial=0) > tgt.get("chip.router_entries"):
                violations.append(f"chip.router_entries: {int(ent.max())} > {tgt.get('chip.router_entries')}")
        mesh_info = {"grid": list(mesh.grid), "chip_grid": list(mesh.chip_grid), "n_chips": mesh.n_chips,
                     "cores_per_router": mesh.cores_per_router, "router_positions": mesh.router_positions.tolist()}
        run.notes.append("mesh: chips in a near-square grid joined into one 2-D mesh; X-then-Y routes; link loads are "
                         "unicast-equivalent (multicast trees share links, so real loads are at most these)")
        return cores, links, mesh_info

    # --- cost model --------------------------------------------------------------------------
    def estimate(self, netlist, activity, target: Target, mapping, counters: dict | None,
                 options: Options | None) -> Estimate:
        """See the module docstring; needs the mapping the run used (or a partition of the netlist)."""
        if mapping is None:
            raise ValueError(f"target {target.name!r} is digital: the estimate needs a Mapping (neuromap.partition)")
        opt = options or Options()
        est = Estimate(target.name, target.kind, activity.samples, activity.steps)
        pe_power = pe_model.prices(target)
        e_syn = fig(target, "energy.e_synop", required=True)
        e_upd = fig(target, "energy.e_neuron_update", required=True)
        mla = _mac_array_terms(activity, target, opt.mac_array, est, operating_point(target, opt))
        for proj, (_src, dst) in activity.projection_ends.items():
            if proj in mla or pe_power:
                continue
            est.energy_terms.append(term("energy", "synaptic ops", activity.synops[proj], f"synops ({proj})", e_syn,
                                         "energy.e_synop", dst))
        _neuron_terms(activity, target, est, e_upd)
        _packet_terms(activity, target, mapping, est)
        chips = int(mapping.metrics.get("chips") or 1)
        if pe_power:
            pe_model.price(activity, target, mapping, est, opt, mla)
        else:
            est.latency_terms, est.per_core = _latency(activity, target, mapping, est)
            _host_step_term(target, est)
            _static_term(target, est, chips)
            _x86_term(target, est, chips)
            est.per_core.update(_per_core_energy(activity, mapping, e_syn, e_upd))
        est.resources = {"cores": mapping.n_cores, "chips": chips, "feasible": mapping.feasible,
                         "utilisation": mapping.metrics.get("utilisation"),
                         "memory_per_core": {k: v for k, v in mapping.usage.items() if "mem" in k or "sram" in k},
                         **{k: mapping.metrics[k] for k in GRADED_METRICS if k in mapping.metrics}, **est.resources}
        return est


# --- partition helpers ---------------------------------------------------------------------------
def _slice_axons(net, pops, index, bounds, lim) -> list[np.ndarray]:
    """Split slices whose distinct input sources exceed ``max_axons_in`` (halving until they fit)."""
    for _ in range(32):
        groups, off = [], 0
        for b in bounds:
            groups.append(np.repeat(np.arange(len(b) - 1) + off, np.diff(b)))
            off += len(b) - 1
        conn = group_connectivity(net, index, groups, off)
        ax_in = np.asarray(conn.sum(axis=0)).ravel()
        bad = ax_in > lim.max_axons_in
        if not bad.any():
            return bounds
        new, off = [], 0
        for p, b in enumerate(bounds):
            nb = [int(b[0])]
            for s in range(len(b) - 1):
                lo, hi = int(b[s]), int(b[s + 1])
                if bad[off + s]:
                    if hi - lo == 1:
                        raise DoesNotFit(pops[p].name, "core.max_axons_in", float(ax_in[off + s]), lim.max_axons_in,
                                         [f"fan-in <= {lim.max_axons_in:,} distinct sources per neuron"])
                    nb.append((lo + hi) // 2)
                nb.append(hi)
            new.append(np.asarray(nb, dtype=np.int64))
            off += len(b) - 1
        bounds = new
    return bounds


#: What a mapping says about graded spikes (per step): packets, payload bits (packets x graded_spike_bits), hops.
GRADED_METRICS = ("graded_traffic_total", "graded_payload_bits", "graded_hop_traffic", "graded_spike_bits")


def _graded_metrics(run, metrics: dict, violations: list[str], hops) -> None:
    """Graded spikes on the mesh: their packets per step, their payload bits per step (packets x the
    target's ``numerics.graded_spike_bits``) and packet-hops; a target without that figure sends binary
    spikes only, so graded traffic on it is a violation that names the populations."""
    graded = float(run.graded_traffic.sum()) if run.graded_traffic is not None else 0.0
    if graded == 0:
        return
    bits = run.tgt.get("numerics.graded_spike_bits")
    if bits is None:
        pops = [p.name for p in run.pops if p.model.graded]
        violations.append(f"numerics.graded_spike_bits: populations {pops[:4]} send graded spikes, which target "
                          f"{run.tgt.name!r} cannot carry{missing_why(run.tgt, 'numerics.graded_spike_bits')}")
        return
    metrics.update(graded_payload_bits=graded * int(bits), graded_hop_traffic=float(hops(run.graded_traffic)),
                   graded_spike_bits=int(bits))


def _offchip(traffic: sp.csr_matrix, chip_of_core: np.ndarray) -> float:
    return float(sum(float(val[chip_of_core[src] != chip_of_core[dst]].sum()) for src, dst, val in flow_blocks(traffic)))


# --- cost model helpers --------------------------------------------------------------------------
def _neuron_terms(activity, target: Target, est: Estimate, e_upd) -> None:
    """Neuron updates x e_neuron_update (active and inactive separately where the target prices an
    inactive compartment: Loihi)."""
    e_inactive = fig(target, "energy.e_neuron_inactive")
    for pop in activity.neurons:
        if e_inactive is not None:
            active = activity.updates_event[pop]
            inactive = activity.updates_dense[pop] - active
            est.energy_terms.append(term("energy", "neuron updates", active, f"active neuron-steps ({pop})", e_upd,
                                         "energy.e_neuron_update", pop))
            est.energy_terms.append(term("energy", "neuron updates", inactive, f"inactive neuron-steps ({pop})",
                                         e_inactive, "energy.e_neuron_inactive", pop))
        else:
            est.energy_terms.append(term("energy", "neuron updates", activity.updates_dense[pop],
                                         f"neuron-steps ({pop})", e_upd, "energy.e_neuron_update", pop))


def _packet_terms(activity, target: Target, mapping, est: Estimate) -> None:
    """Spike packets x e_spike, graded-spike packets x e_graded_spike (:func:`_graded_terms`) and
    packet hops x e_hop (mean of the E-W / N-S figures)."""
    T, B = activity.steps, activity.samples
    graded = float(mapping.metrics.get("graded_traffic_total") or 0.0) * T * B
    packets = float(mapping.metrics.get("traffic_total") or 0.0) * T * B - graded
    hops = mapping.metrics.get("hop_traffic")
    e_spike = fig(target, "energy.e_spike_within_tile") or fig(target, "energy.e_spike")
    name = "energy.e_spike_within_tile" if target.figure("energy.e_spike_within_tile") else "energy.e_spike"
    if e_spike is not None:
        est.energy_terms.append(term("energy", "spike packets", packets, "packets (rate x destination cores)",
                                     e_spike, name))
    else:
        est.omitted.append("spike packet energy: target has no e_spike figure")
    if graded:
        _graded_terms(target, mapping, est, graded, e_spike, name)
    hop_figs = [(k, fig(target, k)) for k in ("energy.e_hop", "energy.e_hop_ew", "energy.e_hop_ns")]
    hop_figs = [(k, f) for k, f in hop_figs if f is not None]
    if hops is None:
        est.omitted.append("hop energy: the mapping has no mesh (no hop counts)")
    elif hop_figs:
        mean = float(np.mean([scalar(f) for _, f in hop_figs]))
        k, f = hop_figs[0]
        t = term("energy", "packet hops", float(hops) * T * B, "packet-hops", f, "+".join(k for k, _ in hop_figs),
                 value=mean)
        if len(hop_figs) > 1:
            est.notes.append("hops priced at the mean of the E-W and N-S figures (the mapping counts hops, not directions)")
        est.energy_terms.append(t)
        if mapping.metrics.get("graded_hop_traffic"):  # a payload per hop, priced as a bare packet's hop
            est.energy_lower_bound = True
            est.notes.append("graded-spike packets' hops priced as bare packets' hops: a lower bound (no published "
                             "per-hop energy of a packet with a payload)")
    else:
        est.omitted.append(f"hop energy: target lacks e_hop{missing_why(target, 'energy.e_hop')}")


def _run_seconds(target: Target, est: Estimate) -> tuple[float, tuple[float, float]]:
    """Seconds the run lasts and their relative range: latency per step x steps, or the real-time
    timestep where the model has no latency."""
    if est.latency_per_step_s:
        return est.run_seconds()
    step = fig(target, "timing.timestep")
    return _timestep(target) * est.steps * est.samples, (step.spread if step is not None else (1.0, 1.0))


def _graded_terms(target: Target, mapping, est: Estimate, packets: float, e_spike, spike_name: str) -> None:
    """Graded-spike packets (a ``numerics.graded_spike_bits`` payload each) x ``energy.e_graded_spike``;
    without that figure, x the target's bare spike-packet energy as a marked lower bound (the payload
    costs more, by an unpublished amount); a target that cannot carry graded spikes is refused."""
    bits = target.get("numerics.graded_spike_bits")
    if bits is None:
        raise MissingFigure(f"target {target.name!r} ({target.path}) has no numerics.graded_spike_bits"
                            f"{missing_why(target, 'numerics.graded_spike_bits')}: it cannot carry the graded spikes "
                            f"this network sends ({packets:,.0f} packets); estimate it on a target that can (loihi2)")
    label = f"graded-spike packets ({bits}-bit payload each)"
    e_graded = fig(target, "energy.e_graded_spike")
    if e_graded is not None:
        est.energy_terms.append(term("energy", "graded-spike packets", packets, label, e_graded,
                                     "energy.e_graded_spike"))
        return
    why = f"target lacks energy.e_graded_spike{missing_why(target, 'energy.e_graded_spike')}"
    if e_spike is None:
        est.omitted.append(f"graded-spike packet energy ({packets:,.0f} packets): {why} and a spike-packet figure")
        return
    est.energy_terms.append(term("energy", "graded-spike packets", packets, label + ", priced as bare spikes",
                                 e_spike, spike_name))
    est.energy_lower_bound = True
    est.notes.append(f"graded spikes priced at a bare spike packet's {spike_name}: a lower bound ({why})")


def _static_term(target: Target, est: Estimate, chips: int) -> None:
    """Static power x chips x run time (the run lasts latency per step x steps)."""
    p_static = fig(target, "energy.p_static_chip")
    if p_static is None:
        est.omitted.append(f"static power: target lacks p_static_chip{missing_why(target, 'energy.p_static_chip')}")
        return
    seconds, spread = _run_seconds(target, est)
    est.energy_terms.append(term("energy", "static power", chips * seconds, "chip-seconds", p_static,
                                 "energy.p_static_chip", count_spread=spread))
    est.notes.append(f"static power: {p_static.value} W per chip ({p_static.source})")


def _host_step_term(target: Target, est: Estimate) -> None:
    """System term: the x86 / host I/O time of every step (``timing.t_host_step``), added to the
    mesh's own step time; left out (and said) where the target does not give it."""
    f = fig(target, "timing.t_host_step")
    if f is None:
        if target.figure("timing.t_host_step") is not None:
            est.omitted.append(f"x86 / host I/O time per step: target lacks timing.t_host_step"
                               f"{missing_why(target, 'timing.t_host_step')}")
        return
    est.latency_terms.append(term("latency", "x86 / host I/O per step", 1, "step", f, "timing.t_host_step"))


def _x86_term(target: Target, est: Estimate, chips: int) -> None:
    """System term: the embedded x86 cores' power while a model runs x chips x run time
    (``energy.p_x86``); left out (and said) where the target does not give it."""
    f = fig(target, "energy.p_x86")
    if f is None:
        if target.figure("energy.p_x86") is not None:
            est.omitted.append(f"embedded x86 power: target lacks energy.p_x86{missing_why(target, 'energy.p_x86')}")
        return
    seconds, spread = _run_seconds(target, est)
    est.energy_terms.append(term("energy", "embedded x86 cores (running)", chips * seconds, "chip-seconds", f,
                                 "energy.p_x86", count_spread=spread))


def _per_core_energy(activity, mapping, e_syn, e_upd) -> dict[str, list[float]]:
    """Dynamic energy per core over the run (J): synaptic events delivered to the core's neurons x
    e_synop + the core's neuron updates x e_neuron_update (spike, hop and static terms are not per core)."""
    syn = np.zeros(mapping.n_cores)
    upd = np.zeros(mapping.n_cores)
    for pop in activity.neurons:
        syn += per_core_sum(mapping, pop, activity.synops_per_neuron[pop])
        upd += np.bincount(mapping.core_of(pop), minlength=mapping.n_cores).astype(np.float64)
    upd *= activity.steps * activity.samples
    return {"dynamic_energy_J": (syn * scalar(e_syn) + upd * scalar(e_upd)).tolist()}


def _mac_array_terms(activity, target: Target, mac_array: frozenset[str], est: Estimate, op: int = 0) -> set[str]:
    """Price projections run on a MAC array: every weight every step (the array does not skip
    zeros), ``dense_synops x energy.e_mac_mla``. Returns the projections so priced."""
    if not mac_array:
        return set()
    f = fig(target, "energy.e_mac_mla")
    if f is None:
        est.omitted.append("MAC-array projections priced per synop: target lacks energy.e_mac_mla")
        return set()
    done = set()
    for proj, (_src, dst) in activity.projection_ends.items():
        if proj in mac_array:
            est.energy_terms.append(term("energy", "MAC-array MACs", activity.dense_synops[proj],
                                         f"MACs ({proj}, dense)", f, "energy.e_mac_mla", dst, value=at(f, op)))
            done.add(proj)
    return done


def _timestep(target: Target) -> float:
    f = target.figure("timing.timestep")
    return scalar(f) if f is not None and f.value is not None else 1e-3


def mesh_span(mapping) -> tuple[int, int]:
    """(routers / tiles, chips) that the mapping's used cores occupy."""
    c = mapping.cores
    tiles = {(int(c["chip"][k]), int(c["x"][k]), int(c["y"][k])) for k in range(mapping.n_cores)}
    return len(tiles), len({t[0] for t in tiles})


def _barrier_term(target: Target, mapping, est: Estimate):
    """Barrier time from the mapped mesh span: a ``[t_1 tile, t_all tiles]`` figure is interpolated
    linearly in the tiles spanned (Davies 2018 Table 2 gives 113-465 ns for 1-32 tiles; linear is
    this model's assumption); a multi-chip mapping takes ``timing.t_barrier_multichip`` (its smallest
    value) where the target gives it."""
    barrier = fig(target, "timing.t_barrier")
    if barrier is None:
        est.omitted.append("barrier synchronisation: target lacks timing.t_barrier")
        return None
    tiles, chips = mesh_span(mapping) if mapping.cores.get("x") is not None else (1, 1)
    multi = fig(target, "timing.t_barrier_multichip")
    if chips > 1 and multi is not None:
        v = multi.value
        return term("latency", "barrier synchronisation", 1, f"barrier ({chips} chips)", multi,
                    "timing.t_barrier_multichip", value=float(min(v)) if isinstance(v, (list, tuple)) else float(v))
    v = barrier.value
    if not isinstance(v, (list, tuple)):
        return term("latency", "barrier synchronisation", 1, "barrier", barrier, "timing.t_barrier")
    grid = target.get("chip.router_grid") or [1, 1]
    n_tiles = len(target.get("chip.router_positions") or []) or int(np.prod(grid))
    frac = 0.0 if n_tiles <= 1 else min(1.0, (tiles - 1) / (n_tiles - 1))
    if chips > 1:
        frac = 1.0
        est.notes.append(f"barrier: the mapping spans {chips} chips; the whole-chip value is used (no multi-chip figure)")
    value = float(v[0]) + frac * (float(v[-1]) - float(v[0]))
    return term("latency", "barrier synchronisation", 1, f"barrier ({tiles} of {n_tiles} tiles spanned)", barrier,
                "timing.t_barrier", value=value)


def _core_loads(activity, mapping) -> tuple[np.ndarray, np.ndarray]:
    """Per core over the run: synaptic events delivered and neuron updates."""
    T, B = activity.steps, activity.samples
    syn_core = np.zeros(mapping.n_cores)
    neu_core = np.zeros(mapping.n_cores)
    for pop in activity.neurons:
        syn_core += per_core_sum(mapping, pop, activity.synops_per_neuron[pop])
        neu_core += np.bincount(mapping.core_of(pop), minlength=mapping.n_cores).astype(np.float64) * T * B
    return syn_core, neu_core


def _latency(activity, target: Target, mapping, est: Estimate):
    """Latency terms per step (the busiest core's work + NoC + barrier, or the real-time timestep)
    and per-core loads."""
    T, B = activity.steps, activity.samples
    t_syn = fig(target, "timing.t_synop")
    t_neu = fig(target, "timing.t_neuron_active") or fig(target, "timing.t_neuron_update")
    syn_core, neu_core = _core_loads(activity, mapping)
    if t_syn is None or t_neu is None:
        step = fig(target, "timing.timestep")
        if step is None:
            est.omitted.append("latency: target has neither per-operation times nor a timestep")
            return [], {}
        est.notes.append(
            "latency = the target's real-time timestep (no per-operation timing figures in the spec); "
            "the mapping-dependent core load is reported but not converted to time"
        )
        return [term("latency", "real-time timestep", 1, "step", step, "timing.timestep")], {
            "synops_per_step": (syn_core / (T * B)).tolist()
        }
    work = syn_core * scalar(t_syn) + neu_core * scalar(t_neu)
    busiest = int(np.argmax(work)) if len(work) else 0
    terms = [
        term("latency", "busiest core: synaptic ops", syn_core[busiest] / (T * B),
             f"synops per step on core {busiest}", t_syn, "timing.t_synop"),
        term("latency", "busiest core: neuron updates", neu_core[busiest] / (T * B),
             f"neuron updates per step on core {busiest}", t_neu,
             "timing.t_neuron_active" if target.figure("timing.t_neuron_active") else "timing.t_neuron_update"),
    ]
    hop_t = [f for f in (fig(target, "timing.t_hop_ew"), fig(target, "timing.t_hop_ns"), fig(target, "timing.t_hop"))
             if f is not None]
    max_hops = mapping.metrics.get("max_hops")
    if hop_t and max_hops is not None:
        terms.append(term("latency", "NoC: longest route", float(max_hops), "hops", hop_t[0], "timing.t_hop_*",
                          value=max(scalar(f) for f in hop_t)))
    elif hop_t:
        est.omitted.append("NoC latency: the mapping reports no route lengths")
    barrier = _barrier_term(target, mapping, est)
    if barrier is not None:
        terms.append(barrier)
    return terms, {"synops_per_step": (syn_core / (T * B)).tolist(), "work_s_per_step": (work / (T * B)).tolist()}


register_kind(Digital())
