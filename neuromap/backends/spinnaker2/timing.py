"""Step time of the SpiNNaker2 model from per-PE operation counts, by the PE model of
:mod:`neuromap.devices.spinnaker2` - the same model the cost model prices, so a run's timing and its
report agree.

Per step, PE time = synaptic events / rate + MAC-array MACs / (MACs per cycle x clock) (the device
model), plus, where a caller gives measured Cortex-M4F cycles
(``cycles={"synop": .., "neuron_update": .., "packet_in": .., "packet_out": ..}``), their count x
cycles / clock (a given ``synop`` replaces the published rate); chip DRAM time = chip DRAM bytes /
``chip.dram_bandwidth`` (shared by the chip's PEs); the step time is the slowest PE or chip DRAM
channel. The default clock is the target's default operating point (index 0); the real-time tick is
``timing.timestep`` (1 ms). Without an event rate or cycles the step time is a *lower bound*
(``complete = False``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuromap.devices.spinnaker2 import PE

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


def _pe_parts(counters: dict[str, np.ndarray], pe: PE, cycles: dict[str, float]) -> tuple[dict, list[str]]:
    """Seconds per step of each part of every PE's work ``[T, B, PEs]`` and what could not be timed."""
    parts = {"mla": pe.mac_time(counters["mla_macs"])}
    unavailable = []
    if "synop" not in cycles and pe.rate_hz is not None:
        parts["synop"] = pe.event_time(counters["synops"])  # neuron updates and packets are part of the rate
    for key, counter in CYCLE_KEYS.items():
        if key in cycles:
            parts[key] = counters[counter] * float(cycles[key]) / pe.clock_hz
        elif key not in parts and pe.rate_hz is None:
            unavailable.append(f"{key}: no timing.synop_rate_pe and no Cortex-M4F cycles per operation "
                               f"(pass cycles={{'{key}': ...}})")
    return parts, unavailable


def step_times(counters: dict[str, np.ndarray], chip_of_pe: np.ndarray, target, mode: str = "afap",
               clock_hz: float | None = None, cycles: dict[str, float] | None = None) -> Timing:
    """Per-step timing of a run from its per-PE counters ``[T, B, PEs]`` (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {list(MODES)}")
    cycles = dict(cycles or {})
    unknown = set(cycles) - set(CYCLE_KEYS)
    if unknown:
        raise ValueError(f"cycles has unknown keys {sorted(unknown)}; known: {sorted(CYCLE_KEYS)}")
    pe = PE.of(target, 0, clock_hz)
    bw = target.get("chip.dram_bandwidth")
    ts = float(target.get("timing.timestep", 1e-3))
    parts, unavailable = _pe_parts(counters, pe, cycles)
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
    return Timing(mode, pe.clock_hz, step, not unavailable or all(u.startswith("DRAM") for u in unavailable),
                  bottleneck, ts, parts_mean, unavailable)
