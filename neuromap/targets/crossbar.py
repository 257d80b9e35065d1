"""``kind = "crossbar"``: analog in-memory computing on memristive crossbar tiles (PCM, RRAM).

Partition: a *core* is a tile of ``tile.rows x tile.cols`` cells; a population slice uses one column
per neuron and one row per distinct input (conv: ``C_in/groups * kh * kw`` rows, the unrolled
kernel); a slice with more inputs than rows spans ``ceil(rows / tile rows)`` tiles (partial sums).
Tiles are laid out in order, ``tile.tiles_per_chip`` to a chip; there is no mesh model.

Cost model, per matrix-vector multiplication (MVM) of a tile: a whole-core figure
(``energy.e_core_mvm``, HERMES: converters included) per tile read, else per cell and conversion
(ISAAC / PUMA / NeuroSim)::

    E = DAC conversions x e_dac + cell reads x e_cell + ADC conversions x e_adc (+ shift-adds)
        (+ digital neuron updates where the target gives a figure)
    latency / step = the layers' tile reads in sequence (tiles of a layer in parallel), each
                     max(t_mvm, columns per ADC x t_adc_conv)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neuromap.estimate import Estimate, MissingFigure, Options, Term, fig, scalar, term
from neuromap.partition.place import linear_layout
from neuromap.partition.split import Limits, crossbar_rows

from .kind import TargetKind, register_kind
from .schema import BITS, COUNT, ENERGY, RATIO, TEXT, TIME, TIMES, FigureSpec, Target, fail

_CONDUCTANCE = FigureSpec("S", positive=True)
_COEFFICIENTS = FigureSpec("uS", "numbers", signed=True)  # fitted model coefficients (aihwkit), may be negative
FIGURES = {
    "tile.rows": COUNT.but(required=True, needs_value=True), "tile.cols": COUNT.but(required=True, needs_value=True),
    "tile.tiles_per_chip": COUNT.but(required=True),
    "numerics.weight_bits": BITS.but(required=True, needs_value=True), "numerics.cell_bits": BITS,
    "numerics.activation_bits": BITS, "numerics.devices_per_weight": COUNT,
    "periphery.adc_bits": BITS.but(max=32), "periphery.dac_bits": BITS.but(max=32), "periphery.cols_per_adc": COUNT,
    "periphery.out_bound": RATIO, "periphery.out_noise": RATIO, "periphery.w_noise_pcm_read": RATIO,
    "device.model": TEXT, "device.drift_compensation": TEXT, "device.g_max": _CONDUCTANCE,
    "device.g_min": FigureSpec("S"), "device.on_off_ratio": FigureSpec("1", positive=True),
    "device.d2d_rel": RATIO, "device.read_noise_k": RATIO, "device.acceptance_range": RATIO,
    "device.prog_coeff": _COEFFICIENTS, "device.relaxation_std": _COEFFICIENTS,
    "device.relaxation_mean_per_ln_t": FigureSpec("uS", signed=True), "device.t0": TIME, "device.t_read": TIME,
    "device.t_inference_grid": TIMES, "device.hermes_g_max_2dev": _CONDUCTANCE, "device.hermes_t0_2dev": TIME,
    "device.hermes_t_read": TIME,
    "energy.e_core_mvm": ENERGY, "energy.e_core_mvm_4phase": ENERGY, "energy.e_cell_op": ENERGY,
    "energy.e_cell_op_lumped": ENERGY, "energy.e_mac": ENERGY, "energy.e_mac_4phase": ENERGY,
    "energy.e_adc_conv": ENERGY, "energy.e_adc_conv_isaac": ENERGY, "energy.e_adc_conv_neurram": ENERGY,
    "energy.e_dac_conv": ENERGY, "energy.e_shift_add": ENERGY, "energy.e_neuron_update": ENERGY,
    "timing.t_mvm": TIME, "timing.t_mvm_4phase": TIME, "timing.t_adc_conv": TIME,
}


class Crossbar(TargetKind):
    name = "crossbar"
    description = "memristive crossbar tiles computing matrix-vector products in the analog domain (PCM, RRAM)"
    figures = FIGURES
    summary_keys = ("tile.rows", "tile.cols", "tile.tiles_per_chip", "periphery.adc_bits", "energy.e_core_mvm",
                    "energy.e_cell_op", "timing.t_mvm")

    def check(self, target: Target) -> None:
        """Bit slicing stores a weight in whole cells: ``cell_bits`` may not exceed ``weight_bits``."""
        cell, wb = target.get("numerics.cell_bits"), target.get("numerics.weight_bits")
        if cell is not None and cell > wb:
            raise fail(target.path, "numerics.cell_bits", f"{cell} bits per cell exceed the {wb}-bit weights "
                                                          "(numerics.weight_bits) they slice")

    # --- partition ---------------------------------------------------------------------------
    def limits(self, target: Target, weight_bits: int | None = None) -> Limits:
        g = target.get
        wb = int(weight_bits if weight_bits is not None else g("numerics.weight_bits"))
        return Limits("crossbar", max_neurons=int(g("tile.cols")), rows=int(g("tile.rows")), cols=int(g("tile.cols")),
                      weight_bits=wb)

    def split(self, run) -> None:
        lim = run.lim
        for p in run.pops:
            r = crossbar_rows(run.netlist, p)
            run.pop_rows.append(r)
            run.wide_tiles[run.index[p.name]] = max(1, math.ceil(r / lim.rows))
            run.bounds.append(np.unique(np.r_[np.arange(0, p.size, lim.cols), p.size]).astype(np.int64))
        run.notes.append("crossbar: a core is a tile; a slice uses one column per neuron and one row per distinct "
                         "input; slices with more inputs than rows span ceil(rows/tile rows) tiles (partial sums)")

    def resources(self, run) -> None:
        lim, a_pop = run.lim, run.a_pop
        rows = np.array([min(run.pop_rows[p], lim.rows) if run.wide_tiles[p] == 1 else lim.rows for p in a_pop])
        # populations without inputs (spike sources) drive rows of other tiles and use no columns
        colsz = np.where(np.asarray(run.pop_rows)[a_pop] > 0, run.a_stop - run.a_start, 0)
        run.res_names = ["tile.rows", "tile.cols"]
        run.res = np.stack([rows, colsz], axis=1).astype(np.float64)
        run.limits = np.array([lim.rows, lim.cols], dtype=np.float64)

    def place(self, run, placement: str, time_budget: float, metrics: dict, violations: list[str]):
        """Tiles in order, ``tile.tiles_per_chip`` to a chip (all on one device when not given)."""
        lim, n_cores = run.lim, run.traffic.shape[0]
        tiles = np.ones(n_cores, dtype=np.int64)
        np.maximum.at(tiles, run.assign, run.wide_tiles[run.a_pop])
        n_tiles = int(tiles.sum())
        tpc = run.tgt.get("tile.tiles_per_chip")
        cells = float((np.asarray(run.pop_rows)[run.a_pop] * (run.a_stop - run.a_start)).sum())
        metrics.update(chips=math.ceil(n_tiles / tpc) if tpc else None, hop_traffic=None, max_link_load=None,
                       max_offchip_link_load=None, tiles=n_tiles,
                       array_utilisation=cells / (n_tiles * lim.rows * lim.cols))
        if not tpc:
            run.notes.append("crossbar: tiles per chip not in the sources; chips not counted, no mesh model")
        return linear_layout(tiles, tpc), [], None

    # --- cost model and report ---------------------------------------------------------------
    def estimate(self, netlist, activity, target: Target, mapping, counters: dict | None,
                 options: Options | None) -> Estimate:
        """Crossbar cost from MVM counters (from ``backends.crossbar``) or, without them, from the
        geometry (one MVM per layer per time step per sample, per output position for conv).

        A target with ``energy.e_core_mvm`` (HERMES: a whole-core figure that includes its converters)
        is priced per tile read: a core fires as a whole, whatever share of its cells a layer uses.
        Otherwise the figures are per cell and per conversion (ISAAC / PUMA / NeuroSim): cell reads,
        ADC and DAC conversions and shift-adds, with ``numerics.cell_bits`` bit slicing (columns per
        weight) and bit-serial input planes (``numerics.activation_bits`` / ``periphery.dac_bits``; one
        plane for spikes). Latency per step: the layers in sequence, the tiles of a layer in parallel,
        each tile read ``max(t_mvm, cols_per_adc x t_adc_conv)``."""
        est = Estimate(target.name, target.kind, activity.samples, activity.steps)
        rows, cols = int(target.get("tile.rows")), int(target.get("tile.cols"))
        core = fig(target, "energy.e_core_mvm")
        t_read = _tile_read_time(target, est)
        step_reads = 0.0
        tiles_total, tile_reads = 0, 0.0
        for proj in netlist.projections:
            if proj.kind == "identity" or proj.reduces:  # a reduction (max pooling) is not an MVM
                continue
            c = _counts(proj, activity, target, rows, cols, (counters or {}).get(proj.name))
            tiles_total += c["tiles"]
            tile_reads += c["tile_reads"]
            step_reads += c["planes"] * c["vectors_per_step"]
            if core is not None:
                est.energy_terms.append(term("energy", "core MVMs", c["tile_reads"], f"full-core MVMs ({proj.name})",
                                             core, "energy.e_core_mvm", proj.dst))
            else:
                _cell_terms(est, target, proj, c)
        if core is not None:
            est.notes.append("whole-core MVM energy (converters included): no separate ADC / DAC / cell terms")
        _neuron_terms(activity, target, est)
        if t_read is not None:
            t_mvm = target.figure("timing.t_mvm")
            est.latency_terms.append(Term("latency", "tile reads in sequence (layers in sequence, tiles in parallel)",
                                          step_reads, "tile reads per step", "timing.t_mvm", t_read, "s",
                                          t_mvm.source, t_mvm.confidence))
        est.resources = {"tiles": tiles_total, "tile": f"{rows}x{cols}", "tile_reads": tile_reads}
        if mapping is not None:
            est.resources.update(cores=mapping.n_cores, utilisation=mapping.metrics.get("utilisation"))
        return est

    def cores_or_tiles(self, est):
        return est.resources.get("tiles")


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


def _tile_read_time(target: Target, est: Estimate) -> float | None:
    """Seconds per tile read: the array's MVM time or, when slower, the shared ADC's conversions."""
    t_mvm = fig(target, "timing.t_mvm")
    if t_mvm is None:
        est.omitted.append("latency: target lacks t_mvm")
        return None
    t = scalar(t_mvm)
    t_adc, share = fig(target, "timing.t_adc_conv"), target.get("periphery.cols_per_adc")
    if t_adc is not None and share:
        t = max(t, int(share) * scalar(t_adc))
    return t


def _stored_weight_bits(proj, target: Target) -> int | None:
    """Sign-magnitude bits a sliced crossbar stores for ``proj``: the target's ``numerics.weight_bits``,
    or fewer for quantisation-aware-trained weights whose recorded range needs fewer (as
    ``backends.crossbar`` programs them; a wider range is refused there)."""
    from neuromap.quantize import grid_of, sign_magnitude_bits

    bits = target.get("numerics.weight_bits")
    grid = grid_of(proj.meta)
    if grid is None or bits is None:
        return bits
    return min(int(bits), sign_magnitude_bits(grid["qmin"], grid["qmax"]))


def _counts(proj, activity, target: Target, rows: int, cols: int, measured: dict | None) -> dict:
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


def _cell_terms(est: Estimate, target: Target, proj, c: dict) -> None:
    """Per-cell pricing: cell reads, ADC / DAC conversions and the shift-add of every conversion."""
    e_cell = fig(target, "energy.e_cell_op") or fig(target, "energy.e_mac")
    if e_cell is None:
        raise MissingFigure(f"target {target.name!r} ({target.path}) lacks energy.e_core_mvm, energy.e_cell_op and "
                            "energy.e_mac: a crossbar estimate needs one")
    cell_key = "energy.e_cell_op" if target.figure("energy.e_cell_op") else "energy.e_mac"
    e_adc = fig(target, "energy.e_adc_conv", required=True)
    est.energy_terms.append(term("energy", "cell reads", c["cells"], f"device reads ({proj.name}, all slices and "
                                 f"{c['planes']} input plane(s))", e_cell, cell_key, proj.dst))
    est.energy_terms.append(term("energy", "ADC conversions", c["adc"], f"conversions ({proj.name}, every sliced column)",
                                 e_adc, "energy.e_adc_conv", proj.dst))
    e_dac = fig(target, "energy.e_dac_conv")
    if e_dac is not None:
        est.energy_terms.append(term("energy", "DAC conversions", c["dac"], f"row drives ({proj.name})", e_dac,
                                     "energy.e_dac_conv", proj.dst))
    elif "DAC energy: target lacks e_dac_conv" not in est.omitted:
        est.omitted.append("DAC energy: target lacks e_dac_conv")
    e_sa = fig(target, "energy.e_shift_add")
    if e_sa is not None:
        est.energy_terms.append(term("energy", "shift-and-add", c["adc"], f"conversions shift-added ({proj.name})",
                                     e_sa, "energy.e_shift_add", proj.dst))


def _neuron_terms(activity, target: Target, est: Estimate) -> None:
    e_upd = fig(target, "energy.e_neuron_update")
    if e_upd is None:
        est.omitted.append("digital neuron updates: the crossbar target has no neuron-update energy figure")
        return
    for pop in activity.neurons:
        est.energy_terms.append(term("energy", "neuron updates", activity.updates_dense[pop],
                                     f"neuron-steps ({pop})", e_upd, "energy.e_neuron_update", pop))


register_kind(Crossbar())
