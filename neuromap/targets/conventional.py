"""``kind = "conventional"``: CPUs and GPUs running the model as software, the whole network on one
device.

Three cost models, chosen by the target's ``conventional.cost_model``:

* ``power_time`` (GPU): per step ``t = max(kernels x t_kernel, FLOPs / peak FLOP/s, bytes / bandwidth)``
  and ``E = busy power x t``; idle power x t is listed, not added (the busy figure is the board's
  draw). A GPU is launch-bound at small batch; the kernels one step launches come from the neuron
  registry (:attr:`neuromap.neurons.registry.NeuronModel.eager_kernels`); batch size and execution
  mode are :class:`~neuromap.estimate.Options`.
* ``per_synop`` (CPU, Degnan et al. 2016 as coded in keras-spiking): ``E = e_synop_system x (dense
  synops + neuron updates)``; a CPU runs every synapse every step (no zero skipping).
* ``per_op`` (the Spike-driven Transformer papers' 45 nm formula): ``E = e_mac x MACs + e_ac x ACs``.
"""

from __future__ import annotations

import numpy as np

from neuromap.estimate import Estimate, Options, fig, missing_why, need, scalar, term
from neuromap.partition.place import linear_layout
from neuromap.partition.split import Limits

from .kind import TargetKind, register_kind
from .schema import ENERGIES, ENERGY, POWER, POWERS, TEXT, TIME, FigureSpec, Target, fail

COST_MODELS = ("power_time", "per_synop", "per_op")
FIGURES = {
    "conventional.cost_model": TEXT.but(required=True),
    "energy.p_busy": POWERS.but(positive=True), "energy.p_idle": POWERS.but(positive=True), "energy.p_max": POWER,
    "energy.peak_flops": FigureSpec("FLOP/s", positive=True), "energy.j_per_flop": ENERGY,
    "energy.e_synop_system": ENERGY, "energy.e_synop_system_arm": ENERGY, "energy.e_mac": ENERGY,
    "energy.e_ac": ENERGY, "energy.e_mac_int8": ENERGY, "energy.e_ac_int8": ENERGY,
    "energy.e_sram_64b_8kb": ENERGY, "energy.e_sram_64b_32kb": ENERGY, "energy.e_sram_64b_1mb": ENERGY,
    "energy.e_dram_64b": ENERGIES,
    "chip.dram_bandwidth": FigureSpec("B/s", positive=True),
    "timing.t_kernel_eager": TIME.but(positive=True), "timing.t_kernel_graph": TIME.but(positive=True),
    "timing.t_op": TIME,
}


class Conventional(TargetKind):
    name = "conventional"
    description = "CPUs and GPUs running the model as software (one device; launch-, compute- or memory-bound)"
    figures = FIGURES
    summary_keys = ("conventional.cost_model", "energy.p_busy", "timing.t_kernel_eager", "energy.e_synop_system",
                    "energy.e_mac", "energy.e_ac")
    fine_atoms = False  # one device: no atoms to group
    partitions = False  # the cost model prices the whole network on one device
    prices_reductions = True  # the kernel count includes the pooling op

    def check(self, target: Target) -> None:
        model = target.get("conventional.cost_model")
        if model is not None and model not in COST_MODELS:
            raise fail(target.path, "conventional.cost_model", f"{model!r} is not one of {list(COST_MODELS)}")

    # --- partition: the whole network on one device ------------------------------------------
    def limits(self, target: Target, weight_bits: int | None = None) -> Limits:
        return Limits("conventional") if weight_bits is None else Limits("conventional", weight_bits=int(weight_bits))

    def split(self, run) -> None:
        run.bounds = [np.array([0, n], dtype=np.int64) for n in run.sizes]

    def resources(self, run) -> None:
        run.res_names, run.res, run.limits = [], np.zeros((len(run.a_pop), 0)), np.zeros(0)

    def assign(self, run) -> None:
        run.assign = np.zeros(len(run.a_pop), dtype=np.int64)

    def place(self, run, placement: str, time_budget: float, metrics: dict, violations: list[str]):
        metrics.update(chips=1, hop_traffic=None, max_link_load=None, max_offchip_link_load=None)
        run.notes.append("conventional target: the whole network runs on one device")
        return linear_layout(np.ones(run.traffic.shape[0], dtype=np.int64), None), [], None

    # --- cost model --------------------------------------------------------------------------
    def estimate(self, netlist, activity, target: Target, mapping, counters: dict | None,
                 options: Options | None) -> Estimate:
        """CPU / GPU cost (see the module docstring)."""
        opt = options or Options()
        est = Estimate(target.name, target.kind, activity.samples, activity.steps)
        model = need(target, "conventional.cost_model", "a conventional estimate").value
        if model == "per_op":
            _per_op_terms(activity, target, est)
        elif model == "per_synop":
            _per_synop_terms(activity, target, est)
        else:
            _power_time_terms(netlist, activity, target, est, opt)
        if not est.latency_terms and "latency" not in " ".join(est.omitted):
            est.omitted.append(f"latency: the {model} model of {target.name!r} has no time figure")
        return est


def kernels_per_step(netlist, mode: str) -> tuple[int, list[str]]:
    """GPU kernels launched per time step by the graph (``mode`` as in :class:`~neuromap.estimate.Options`),
    and the populations whose kind has no known count (counted as one kernel each)."""
    unknown: list[str] = []
    n = sum(1 for proj in netlist.projections if proj.kind != "identity")  # one matmul / conv each
    for pop in netlist.populations:
        if pop.is_input:
            continue
        if mode == "fused":
            n += 1
            continue
        count = pop.model.eager_kernels
        if count is None:
            unknown.append(f"{pop.name} ({pop.kind})")
            n += 1
            continue
        n += count(pop.params)
    return n, unknown


def _per_op_terms(activity, target, est: Estimate) -> None:
    e_mac = need(target, "energy.e_mac", "the per_op model")
    e_ac = need(target, "energy.e_ac", "the per_op model")
    for proj, (_src, dst) in activity.projection_ends.items():
        est.energy_terms.append(term("energy", "MACs", activity.macs[proj], f"effective MACs ({proj})", e_mac,
                                      "energy.e_mac", dst))
        est.energy_terms.append(term("energy", "ACs", activity.acs[proj], f"effective ACs ({proj})", e_ac,
                                      "energy.e_ac", dst))
    est.notes.append("per-op 45 nm arithmetic energy only (no memory, control or static power): the Spike-driven "
                     "Transformer papers' formula, not a measurement of any processor")
    est.energy_lower_bound = True


def _per_synop_terms(activity, target, est: Estimate) -> None:
    e = need(target, "energy.e_synop_system", "the per_synop model")
    for proj, (_src, dst) in activity.projection_ends.items():
        est.energy_terms.append(term("energy", "synaptic ops (dense)", activity.dense_synops[proj],
                                      f"synapse-steps ({proj})", e, "energy.e_synop_system", dst))
    for pop, n in activity.updates_dense.items():
        est.energy_terms.append(term("energy", "neuron updates", n, f"neuron-steps ({pop})", e,
                                      "energy.e_synop_system", pop))
    est.notes.append("system-level energy per synaptic op and per neuron update, charged for every synapse every "
                     "step (keras-spiking's model of a non-spiking device)")


def _power_time_terms(netlist, activity, target, est: Estimate, opt: Options) -> None:
    T, B = activity.steps, activity.samples
    t_key = "timing.t_kernel_eager" if opt.gpu_mode == "eager" else "timing.t_kernel_graph"
    t_kernel = need(target, t_key, f"gpu_mode={opt.gpu_mode!r}")
    p_busy = need(target, "energy.p_busy", "the power x time model")
    kernels, unknown = kernels_per_step(netlist, opt.gpu_mode)
    if unknown:
        est.omitted.append(f"kernel count of populations {', '.join(unknown)}: counted as one kernel each")
        est.latency_lower_bound = est.energy_lower_bound = True
    dense_per_inf_step = sum(activity.dense_synops.values()) / (T * B)
    flops_batch = 2.0 * dense_per_inf_step * opt.batch
    candidates = [("kernel launches", kernels, f"kernels per step ({opt.gpu_mode}, batch {opt.batch})", t_kernel,
                   t_key, scalar(t_kernel))]
    peak = fig(target, "energy.peak_flops")
    if peak is not None:
        candidates.append(("FLOPs at peak throughput", flops_batch, f"FLOP per step (batch {opt.batch})", peak,
                           "energy.peak_flops", 1.0 / scalar(peak)))
    bw = fig(target, "chip.dram_bandwidth")
    if bw is not None:
        weight_bytes = 4.0 * sum(proj.synapses_dense() for proj in netlist.projections if proj.kind != "identity")
        state_bytes = 4.0 * 2 * sum(activity.neurons.values()) * opt.batch  # read + write of one state per neuron
        candidates.append(("memory traffic", weight_bytes + state_bytes, "bytes per step (fp32 weights + state)", bw,
                           "chip.dram_bandwidth", 1.0 / scalar(bw)))
    else:
        est.omitted.append("bytes / bandwidth: target lacks chip.dram_bandwidth")
    name, count, label, bound, key, value = max(candidates, key=lambda c: c[1] * c[5])
    per_batch_step = count * value
    # latency is one batch's step; the device time of the run is shared by `batch` inferences
    est.latency_terms.append(term("latency", f"{name} (the largest of {len(candidates)} bounds)", count, label, bound,
                                  key, value=value))
    busy_s = per_batch_step * T * B / opt.batch
    est.energy_terms.append(term("energy", "busy power x time", busy_s, f"device-seconds (batch {opt.batch})",
                                 p_busy, "energy.p_busy"))
    est.batch = opt.batch
    est.resources = {"kernels_per_step": kernels, "gpu_mode": opt.gpu_mode, "batch": opt.batch,
                     "bounds_s_per_batch_step": {c[0]: c[1] * c[5] for c in candidates}}
    _idle_and_bound(activity, target, est, busy_s, dense_per_inf_step)
    est.notes.append("host-side time (input copy, synchronisation) is not modelled separately: the per-kernel time "
                     "of eager PyTorch already includes its Python dispatch")


def _idle_and_bound(activity, target, est: Estimate, busy_s: float, dense_per_inf_step: float) -> None:
    """Idle power x time (listed, not added) and the old FLOPs / peak figure as a labelled lower bound."""
    p_idle = fig(target, "energy.p_idle")
    if p_idle is not None:
        idle_J = busy_s * scalar(p_idle) / activity.samples
        est.resources["idle_energy_J_per_inference"] = idle_J
        est.notes.append(f"idle power x time = {idle_J:.4g} J per inference (part of the busy power, listed separately)")
    else:
        est.omitted.append("idle power (listed separately, not added): target lacks energy.p_idle"
                           f"{missing_why(target, 'energy.p_idle')}")
    peak, p_max = fig(target, "energy.peak_flops"), fig(target, "energy.p_max")
    if peak is not None and p_max is not None:
        t_lb = 2.0 * dense_per_inf_step / scalar(peak)
        lb = {"latency_per_step_s": t_lb, "energy_per_inference_J": t_lb * activity.steps * scalar(p_max)}
        est.resources["lower_bound_at_peak"] = lb
        est.notes.append(f"lower bound at peak FLOP/s and full board power: >= {lb['latency_per_step_s']:.3g} s per step, "
                         f">= {lb['energy_per_inference_J']:.3g} J per inference (not a prediction)")


register_kind(Conventional())
