"""SpiNNaker2 backend: an execution model of the chip (per-PE programs, SRAM, routing, timing, energy).

    from neuromap import backends
    compiled = backends.get("spinnaker2").compile(graph, numerics="fp32")     # partitions when no mapping
    res = compiled.run(x)                      # RunResult + per-PE counters, link counts, timing
    res.records["1"], res.timing.to_dict(), res.link_counts[:3], compiled.mapping
    est = neuromap.energy.estimate_run(compiled, res)   # priced as it ran: MAC-array ops, real-time mode

The graph is lowered to a netlist, partitioned (:func:`neuromap.partition.partition`, with the PE
layout as its memory model, :class:`.memory.PEMemoryModel`, so one partition fits) unless a
:class:`~neuromap.partition.Mapping` for ``spinnaker2`` is given, compiled into per-PE programs
(:mod:`.program`, :mod:`.memory`: over-budget PEs raise ``DoesNotFit`` with byte counts or spill
synapse rows to DRAM) and simulated step by step (:mod:`.simulate`) in ``fp32`` (bit-identical to
``backends.torch``) or ``s16.15`` fixed point (:mod:`.numerics`); the neuron kinds it implements in
each are declared in :mod:`.neurons`. Timing: :mod:`.timing`, by the PE model of
:mod:`neuromap.devices.spinnaker2` (the cost model's).
A traced EGRU (the ``CharLM`` core: EGRU layers + decoder on the host's embeddings) compiles through
:meth:`SpiNNaker2Backend.compile` like any graph; netlists without a graph (an LSM reservoir) compile
with :meth:`SpiNNaker2Backend.compile_netlist`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch

from neuromap import pipeline
from neuromap.estimate import Options
from neuromap.graph import Graph
from neuromap.graph.neuron import has_spec
from neuromap.graph.nodes import AvgPool1d, Neuron, Reshape, type_name
from neuromap.graph.units import Unit
from neuromap.netlist import Netlist

from ..base import BackendError, RunResult, check_inputs, delayed_outputs, load_target
from . import numerics as numerics_mod
from .memory import PEMemoryModel
from .program import Program, build, netlist_problems
from .simulate import COUNTERS, Simulator
from .timing import Timing, step_times

NAME = "spinnaker2"
SUPPORTED_NODES = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d,
                   AvgPool1d, nir.Scale, nir.Flatten, Reshape, nir.Delay, nir.LIF, nir.CubaLIF, nir.LI, nir.IF, nir.I,
                   nir.CubaLI, nir.Threshold, Neuron, Unit)
NEURON_NODES = (nir.LIF, nir.CubaLIF, nir.LI, nir.IF, nir.I, nir.CubaLI, nir.Threshold)
__all__ = ["BACKEND", "NAME", "SpiNNaker2Backend", "SpiNNaker2Compiled", "SpiNNaker2Result", "Program", "Timing"]


def graph_problems(graph: Graph) -> list[str]:
    out = []
    for name, node in graph.nodes.items():
        if not isinstance(node, SUPPORTED_NODES):
            out.append(f"node {name!r} ({type_name(node)}): the SpiNNaker2 model cannot run it; supported: "
                       f"{sorted(t.__name__ for t in SUPPORTED_NODES)} (neurons LIF / CubaLIF / LI / CubaLI / IF / I / "
                       "Threshold with neuromap parameters, a registry kind as neuromap.Neuron, a unit lowering to "
                       "a population kind the PEs run, "
                       "e.g. neuromap.EGRU; synapses Affine / Linear / "
                       "Conv / pooling)")
        elif isinstance(node, NEURON_NODES) and not has_spec(node):
            out.append(f"node {name!r} ({type_name(node)}): no discrete neuron parameters; import it with "
                       "neuromap.graph.from_nir(..., convention='nir'|'snntorch'|'norse', dt=...)")
    return out + delayed_outputs(graph)


@dataclass
class SpiNNaker2Result(RunResult):
    """RunResult plus the chip model's per-PE counters, link counts and timing."""

    counters: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [T, B, PEs]
    link_counts: list = field(default_factory=list)  # [((x0, y0), (x1, y1), packets, off_chip)] over the run
    flows: Any = None  # scipy [PE, PE] packets source -> destination over the run
    timing: Timing | None = None
    compiled: Any = None

    def per_pe(self) -> dict[str, list[float]]:
        """Per-PE totals over the run (a user multiplies these by measured cycles per op)."""
        return {k: v.sum(axis=(0, 1)).tolist() for k, v in self.counters.items()}

    def estimate_options(self) -> Options:
        """How this run is priced (:func:`neuromap.energy.estimate_run`): its real-time or
        as-fast-as-possible mode, and the projections it ran on the PEs' MAC arrays (per MAC)."""
        realtime = self.timing is None or self.timing.mode == "realtime"
        return Options(realtime=realtime, mac_array=frozenset(self.compiled.mla_projections))

    def summary(self) -> dict:
        c = self.compiled
        tot = {k: float(v.sum()) for k, v in self.counters.items()}
        return {"numerics": c.numerics, "pes": c.mapping.n_cores, "chips": int(c.mapping.metrics.get("chips") or 1),
                "sram_max_bytes": max(pe.memory.sram_bytes for pe in c.program.pes),
                "dram_spilled_pes": sum(bool(pe.memory.spilled) for pe in c.program.pes), "totals": tot,
                "link_packet_hops": float(sum(lk[2] for lk in self.link_counts)),
                "timing": None if self.timing is None else self.timing.to_dict()}


class SpiNNaker2Compiled:
    """Per-PE programs ready to run (``.program``, ``.mapping``, ``.pe_memory()``)."""

    def __init__(self, program: Program, graph: Graph | None, outputs: dict[str, tuple[str, tuple]], mode: str,
                 clock_hz: float | None, cycles: dict | None) -> None:
        self.program = program
        self.netlist, self.mapping = program.netlist, program.mapping
        self.target, self.numerics = program.target, program.numerics
        self.graph = graph
        self.outputs = outputs
        self.mode, self.clock_hz, self.cycles = mode, clock_hz, cycles
        self.sim = Simulator(program)
        self.mla_projections = {p.name for p in program.projections if p.engine == "mla"}
        self.inputs = [p.name for p in self.netlist.populations if p.is_input]

    def pe_memory(self) -> list[dict]:
        return [pe.memory.to_dict() for pe in self.program.pes]

    def _inputs(self, inputs: Any) -> dict[str, torch.Tensor]:
        shapes = {n: self.netlist.population(n).shape for n in self.inputs}
        return {n: x.to(torch.float32) for n, x in check_inputs(inputs, shapes, flat=self.graph is None).items()}

    @torch.no_grad()
    def run(self, inputs: Any, mode: str | None = None, cycles: dict | None = None) -> SpiNNaker2Result:
        xs = self._inputs(inputs)
        start = time.perf_counter()
        sim = self.sim.run(xs)
        wall = time.perf_counter() - start
        T, B = next(iter(xs.values())).shape[:2]
        pops = {p.name: p for p in self.netlist.populations}
        records = {n: v.reshape(T, B, *pops[n].shape) for n, v in sim.values.items()}
        outputs = {o: records[pop].reshape(T, B, *shape) for o, (pop, shape) in self.outputs.items()}
        chip = np.asarray(self.mapping.cores["chip"])
        timing = step_times(sim.counters, chip, self.target, mode or self.mode, self.clock_hz,
                            cycles if cycles is not None else self.cycles)
        links = []
        mesh = self.mapping.mesh
        if mesh is not None and sim.flows.nnz:
            from neuromap.partition.route import link_loads

            X, Y = np.asarray(self.mapping.cores["X"]), np.asarray(self.mapping.cores["Y"])
            shape = (mesh["chip_grid"][0] * mesh["grid"][0], mesh["chip_grid"][1] * mesh["grid"][1])
            links = link_loads(sim.flows, X, Y, np.arange(len(X)), shape, mesh["grid"][0], mesh["grid"][1]).links()
        return SpiNNaker2Result(outputs=outputs, records=records, wall_seconds=wall, backend=NAME, counters=sim.counters,
                                link_counts=links, flows=sim.flows, timing=timing, compiled=self)


class SpiNNaker2Backend:
    """``backends.get("spinnaker2")``."""

    name = NAME
    default_target = "spinnaker2"
    target_kinds = ("digital",)
    counters = COUNTERS

    def unsupported(self, graph: Graph) -> list[str]:
        probs = graph_problems(graph)
        if not probs:
            probs = netlist_problems(graph.lower())
        return probs

    def compile(self, graph: Graph, target: Any = None, mapping: Any = None, numerics: str = "fp32", *,
                allow_dram: bool = False, code_bytes: int = 0, method: str = "metis", activity: Any = None,
                mode: str = "afap", clock_hz: float | None = None, cycles: dict | None = None,
                schedule: str | None = None, seed: int = 0) -> SpiNNaker2Compiled:
        """Compile ``graph`` (partitioning it when ``mapping`` is None). See the module docstring."""
        if not isinstance(graph, Graph):
            raise TypeError(f"compile() needs a neuromap Graph, got {type(graph).__name__}")
        probs = graph_problems(graph)
        if probs:
            raise BackendError("spinnaker2 backend cannot run this graph:\n  " + "\n  ".join(probs))
        tgt = _target(target)
        part = _partition_options(tgt, numerics, code_bytes, method, activity, seed)
        lowered = pipeline.prepare(graph, tgt, mapping, **part)
        sched = schedule or ("step" if graph.delayed_edges() else "scc")
        return self.compile_lowered(lowered, numerics, allow_dram=allow_dram, code_bytes=code_bytes, mode=mode,
                                    clock_hz=clock_hz, cycles=cycles, schedule=sched)

    def compile_netlist(self, netlist: Netlist, target: Any = None, mapping: Any = None, numerics: str = "fp32",
                        *, allow_dram: bool = False, code_bytes: int = 0, method: str = "metis", activity: Any = None,
                        mode: str = "afap", clock_hz: float | None = None, cycles: dict | None = None,
                        schedule: str = "scc", seed: int = 0) -> SpiNNaker2Compiled:
        """Compile a netlist built without a graph (outputs: populations without outgoing projections)."""
        tgt = _target(target)
        part = _partition_options(tgt, numerics, code_bytes, method, activity, seed)
        lowered = pipeline.prepare_netlist(netlist, tgt, mapping, **part)
        return self.compile_lowered(lowered, numerics, allow_dram=allow_dram, code_bytes=code_bytes, mode=mode,
                                    clock_hz=clock_hz, cycles=cycles, schedule=schedule)

    def compile_lowered(self, lowered: pipeline.Lowered, numerics: str = "fp32", *, allow_dram: bool = False,
                        code_bytes: int = 0, mode: str = "afap", clock_hz: float | None = None,
                        cycles: dict | None = None, schedule: str = "scc") -> SpiNNaker2Compiled:
        """Per-PE programs from ``(netlist, mapping, target)`` (:class:`neuromap.pipeline.Lowered`)."""
        numerics_mod.check(numerics)
        if schedule not in ("scc", "step"):
            raise ValueError(f"schedule={schedule!r} is not one of ['scc', 'step']")
        _check_weight_bits(lowered.target, numerics)
        probs = netlist_problems(lowered.netlist, numerics)
        if probs:
            raise BackendError("spinnaker2 backend cannot run this network:\n  " + "\n  ".join(probs))
        prog = build(lowered.netlist, lowered.mapping, _target(lowered.target), numerics, allow_dram=allow_dram,
                     code_bytes=code_bytes, schedule=schedule,
                     delayed_paths=lowered.delayed if lowered.graph is not None else None)
        return SpiNNaker2Compiled(prog, lowered.graph, lowered.outputs, mode, clock_hz, cycles)


def _target(target: Any):
    """The target (default spinnaker2), refused unless it is digital with a PE's SRAM and MAC array."""
    tgt = load_target(BACKEND, target)
    missing = [k for k in ("core.sram_bytes", "numerics.mla_macs_per_cycle", "chip.clock") if tgt.get(k) is None]
    if missing:
        raise BackendError(f"target {tgt.name!r} is not a SpiNNaker2-like target (it lacks {', '.join(missing)}); "
                           "use target='spinnaker2' or a copy of its TOML")
    if tgt.get("numerics.state_bits") != 32:
        raise BackendError(f"target {tgt.name!r} gives numerics.state_bits = {tgt.get('numerics.state_bits')}, but "
                           "the SpiNNaker2 model keeps each state variable in a 32-bit word (fp32 or s16.15)")
    return tgt


def _check_weight_bits(tgt, numerics: str) -> None:
    """s16.15 weights are signed integers of ``numerics.weight_bits`` (py-spinnaker2: 8); above 8 bits
    the model's float64 accumulation of s16.15 x weight products is no longer exact, so it is refused.
    fp32 keeps float32 weights whatever the target says."""
    wb = tgt.get("numerics.weight_bits")
    if numerics == "s16.15" and not 2 <= wb <= 8:
        raise BackendError(f"target {tgt.name!r} gives numerics.weight_bits = {wb}; the SpiNNaker2 model's s16.15 "
                           "weights are signed integers of 2 to 8 bits (py-spinnaker2 uses 8); use numerics='fp32' "
                           "for float weights")


def _partition_options(tgt, numerics: str, code_bytes: int, method: str, activity: Any, seed: int) -> dict:
    """The partitioner's options for the PE layout (weights as the numerics store them)."""
    _check_weight_bits(tgt, numerics_mod.check(numerics))
    wb = 32 if numerics_mod.check(numerics) == "fp32" else int(tgt.get("numerics.weight_bits"))
    memory = PEMemoryModel(weight_bytes=numerics_mod.weight_bytes(numerics), code_bytes=code_bytes)
    return dict(method=method, activity=activity, seed=seed, weight_bits=wb, memory=memory)


BACKEND = SpiNNaker2Backend()


def compile(graph: Graph, target: Any = None, mapping: Any = None, numerics: str = "fp32",  # noqa: A001
            **kw) -> SpiNNaker2Compiled:
    """Module-level shortcut for ``BACKEND.compile``."""
    return BACKEND.compile(graph, target, mapping, numerics, **kw)
