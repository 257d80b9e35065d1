"""Step time of the SpiNNaker2 model from per-PE operation counts - the same model as the energy
estimate (:func:`neuromap.energy.costs.digital`), so a run's timing and its report agree.

What the spec gives (``hardware/spinnaker2.toml``): the per-PE synaptic event rate
``timing.synop_rate_pe`` at each operating point (Scholze et al.: up to 12 M events/s per PE at
300 MHz; the CPU time of neuron updates and packets is not published separately and is taken as
part of that rate, as in the cost model), the MAC array's ``numerics.mla_macs_per_cycle`` (64) at
``chip.clock``, the chip's DRAM bandwidth ``chip.dram_bandwidth`` (shared by the chip's PEs) and the
real-time tick ``timing.timestep`` (1 ms). A caller with measured Cortex-M4F cycles may pass
``cycles={"synop": .., "neuron_update": .., "packet_in": .., "packet_out": ..}``: a given
``synop`` replaces the published rate, the others add their time.

Per step, PE time = synaptic events / rate (or x cycles / f) + MAC-array cycles / f (+ other given
cycles x counts / f); chip DRAM time = chip DRAM bytes / bandwidth; the step time is the slowest PE
or chip DRAM channel. The default clock is the target's default operating point (index 0). Without
an event rate or cycles the step time is a *lower bound* (``complete = False``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CYCLE_KEYS = {"synop": "synops", "neuron_update": "neuron_updates", "packet_in": "packets_in", "packet_out": "packets_out"}
MODES = ("afap", "realtime")


@dataclass
class Timing:
    """Per-step timing of one run (steps x samples)."""

    mode: str
    clock_hz: float
    step_s: np.ndarray  # [T, B]: slowest PE / DRAM channel per step (lower bound when not complete)
    complete: bool  # True when CPU cycles per operation were given
    bottleneck_pe: np.ndarray  # [T, B]
    timestep_s: float  # real-time step (1 ms)
    parts: dict[str, float] = field(default_factory=dict)  # mean seconds per step of each part on the slowest PE
    unavailable: list[str] = field(default_factory=list)

    @property
    def latency_per_step_s(self) -> float:
        """Mean wall time per step: the real-time step (if no overrun) or the model's step time."""
        if self.mode == "realtime":
            return float(np.maximum(self.step_s, self.timestep_s).mean())
        return float(self.step_s.mean())

    @property
    def overruns(self) -> int:
        return int((self.step_s > self.timestep_s).sum())

    @property
    def slack_s(self) -> float:
        """Minimum real-time slack over the run (negative: overrun)."""
        return float(self.timestep_s - self.step_s.max())

    def to_dict(self) -> dict:
        return {"mode": self.mode, "clock_hz": self.clock_hz, "complete": self.complete,
                "step_s_mean": float(self.step_s.mean()), "step_s_max": float(self.step_s.max()),
                "latency_per_step_s": self.latency_per_step_s, "timestep_s": self.timestep_s,
                "realtime_overruns": self.overruns, "realtime_min_slack_s": self.slack_s, "parts_s": self.parts,
                "unavailable": self.unavailable}


def _synop_rate(target, f: float) -> tuple[float | None, str]:
    """Synaptic events per second per PE at clock ``f`` (the published value at that operating point,
    else scaled by the clock from the fastest one) and how it was obtained."""
    rates, clocks = target.get("timing.synop_rate_pe"), target.get("chip.clock")
    if rates is None:
        return None, ""
    rates = rates if isinstance(rates, list) else [rates]
    clocks = clocks if isinstance(clocks, list) else [clocks]
    if f in clocks:
        return float(rates[clocks.index(f)]), "timing.synop_rate_pe"
    return float(rates[-1]) * f / float(clocks[-1]), f"timing.synop_rate_pe scaled to {f:.4g} Hz (derived)"


def step_times(counters: dict[str, np.ndarray], chip_of_pe: np.ndarray, target, mode: str = "afap",
               clock_hz: float | None = None, cycles: dict[str, float] | None = None) -> Timing:
    """Per-step timing of a run from its per-PE counters ``[T, B, PEs]`` (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {list(MODES)}")
    clocks = target.get("chip.clock")
    f = float(clock_hz if clock_hz is not None else (clocks[0] if isinstance(clocks, list) else clocks))
    macs_per_cycle = float(target.get("numerics.mla_macs_per_cycle"))
    bw = target.get("chip.dram_bandwidth")
    ts = float(target.get("timing.timestep", 1e-3))
    parts = {"mla": counters["mla_macs"] / macs_per_cycle / f}
    unavailable = []
    cycles = dict(cycles or {})
    unknown = set(cycles) - set(CYCLE_KEYS)
    if unknown:
        raise ValueError(f"cycles has unknown keys {sorted(unknown)}; known: {sorted(CYCLE_KEYS)}")
    rate, _ = _synop_rate(target, f)
    if "synop" not in cycles and rate is not None:
        parts["synop"] = counters["synops"] / rate  # neuron updates and packets are part of the published rate
    for key, counter in CYCLE_KEYS.items():
        if key in cycles:
            parts[key] = counters[counter] * float(cycles[key]) / f
        elif key not in parts and rate is None:
            unavailable.append(f"{key}: no timing.synop_rate_pe and no Cortex-M4F cycles per operation "
                               f"(pass cycles={{'{key}': ...}})")
    pe_time = sum(parts.values())  # [T, B, C]
    step = pe_time.max(axis=-1)
    bottleneck = pe_time.argmax(axis=-1)
    if bw:
        n_chips = int(chip_of_pe.max()) + 1 if len(chip_of_pe) else 1
        chip_bytes = np.stack([counters["dram_bytes"][..., chip_of_pe == k].sum(-1) for k in range(n_chips)], -1)
        dram = chip_bytes.max(-1) / float(bw)
        step = np.maximum(step, dram)
        parts_mean = {"dram_busiest_chip": float(dram.mean())}
    else:
        parts_mean = {}
        unavailable.append("DRAM: no chip.dram_bandwidth")
    T, B = step.shape
    tt, bb = np.meshgrid(np.arange(T), np.arange(B), indexing="ij")
    for k, v in parts.items():
        parts_mean[k] = float(v[tt, bb, bottleneck].mean())
    return Timing(mode, f, step, not unavailable or all(u.startswith("DRAM") for u in unavailable), bottleneck, ts,
                  parts_mean, unavailable)
