"""SpiNNaker2 backend: an execution model of the chip (per-PE programs, SRAM, routing, timing, energy).

    from neuromap import backends
    compiled = backends.get("spinnaker2").compile(graph, numerics="fp32")     # partitions when no mapping
    res = compiled.run(x)                      # RunResult + per-PE counters, link counts, timing
    res.records["1"], res.timing.to_dict(), res.link_counts[:3], compiled.mapping
    est = res.estimate()                       # neuromap.energy: synops, neuron updates, MAC-array ops

The graph is lowered to a netlist, partitioned (:func:`neuromap.partition.partition`, with the PE
layout as its memory model, :class:`.memory.PEMemoryModel`, so one partition fits) unless a
:class:`~neuromap.partition.Mapping` for ``spinnaker2`` is given, compiled into per-PE programs
(:mod:`.program`, :mod:`.memory`: over-budget PEs raise ``DoesNotFit`` with byte counts or spill
synapse rows to DRAM) and simulated step by step (:mod:`.simulate`) in ``fp32`` (bit-identical to
``backends.torch``) or ``s16.15`` fixed point (:mod:`.numerics`). Timing: :mod:`.timing`.
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

from neuromap.graph import Graph
from neuromap.graph.neuron import has_spec
from neuromap.graph.nodes import AvgPool1d, Neuron, Reshape, type_name
from neuromap.graph.zoo_nodes import EGRU
from neuromap.netlist import Netlist

from ..base import BackendError, RunResult, named_inputs
from . import numerics as numerics_mod
from .memory import PEMemoryModel
from .program import Program, build, netlist_problems
from .simulate import COUNTERS, Simulator
from .timing import Timing, step_times

NAME = "spinnaker2"
SUPPORTED_NODES = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.AvgPool2d, nir.SumPool2d,
                   AvgPool1d, nir.Scale, nir.Flatten, Reshape, nir.Delay, nir.LIF, nir.CubaLIF, nir.LI, Neuron, EGRU)
__all__ = ["BACKEND", "NAME", "SpiNNaker2Backend", "SpiNNaker2Compiled", "SpiNNaker2Result", "Program", "Timing"]


def graph_problems(graph: Graph) -> list[str]:
    out = []
    for name, node in graph.nodes.items():
        if not isinstance(node, SUPPORTED_NODES):
            out.append(f"node {name!r} ({type_name(node)}): the SpiNNaker2 model cannot run it; supported: "
                       f"{sorted(t.__name__ for t in SUPPORTED_NODES)} (neurons LIF / CubaLIF / LI with neuromap "
                       "parameters, a registry kind as neuromap.Neuron, neuromap.EGRU; synapses Affine / Linear / "
                       "Conv / pooling)")
        elif isinstance(node, (nir.LIF, nir.CubaLIF, nir.LI)) and not has_spec(node):
            out.append(f"node {name!r} ({type_name(node)}): no discrete neuron parameters; import it with "
                       "neuromap.graph.from_nir(..., convention='nir'|'snntorch'|'norse', dt=...)")
        elif isinstance(node, nir.Output):
            for p in graph.predecessors(name):
                if isinstance(graph.nodes[p], nir.Delay):
                    out.append(f"node {p!r} (Delay): a delay directly before output {name!r} is not supported; "
                               "put it before the synapses")
    return out


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

    def activity(self):
        from neuromap.energy.activity import collect

        return collect(self.compiled.netlist, self.records)

    def estimate(self):
        """Energy / latency via :func:`neuromap.energy.costs.digital` (MAC-array projections priced per MAC)."""
        from neuromap.energy import costs

        c = self.compiled
        realtime = self.timing is None or self.timing.mode == "realtime"
        est = costs.digital(c.netlist, self.activity(), c.target, c.mapping, mla_projections=c.mla_projections,
                            options=costs.Options(realtime=realtime))
        if self.timing is not None:
            est.notes.append(f"spinnaker2 model step time ({self.timing.mode}): mean {self.timing.step_s.mean():.4g} s"
                             + ("" if self.timing.complete else " (lower bound: CPU cycles per op not in the spec)"))
        return est

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
        self.inputs = [p.name for p in self.netlist.populations if p.kind == "input"]

    def pe_memory(self) -> list[dict]:
        return [pe.memory.to_dict() for pe in self.program.pes]

    def _inputs(self, inputs: Any) -> dict[str, torch.Tensor]:
        out = {}
        TB = None
        for n, x in named_inputs(inputs, self.inputs).items():
            x = torch.as_tensor(x)
            x = x.float() if not x.is_floating_point() else x.to(torch.float32)
            pop = self.netlist.population(n)
            bad = x.dim() < 3 or int(np.prod(x.shape[2:])) != pop.size
            if bad or (self.graph is not None and tuple(x.shape[2:]) != pop.shape):
                want = ", ".join(map(str, pop.shape))
                raise ValueError(f"input {n!r} must have shape [T, B, {want}], got {tuple(x.shape)}")
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"input {n!r} contains NaN or inf")
            if TB is not None and tuple(x.shape[:2]) != TB:
                raise ValueError(f"inputs disagree on [T, B]: {TB} vs {tuple(x.shape[:2])}")
            TB = tuple(x.shape[:2])
            out[n] = x
        return out

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
    counters = COUNTERS

    def unsupported(self, graph: Graph) -> list[str]:
        probs = graph_problems(graph)
        if not probs:
            probs = netlist_problems(graph.lower())
        return probs

    def compile(self, graph: Graph, target: Any = "spinnaker2", mapping: Any = None, numerics: str = "fp32", *,
                allow_dram: bool = False, code_bytes: int = 0, method: str = "metis", activity: Any = None,
                mode: str = "afap", clock_hz: float | None = None, cycles: dict | None = None,
                schedule: str | None = None, seed: int = 0) -> SpiNNaker2Compiled:
        """Compile ``graph`` (partitioning it when ``mapping`` is None). See the module docstring."""
        if not isinstance(graph, Graph):
            raise TypeError(f"compile() needs a neuromap Graph, got {type(graph).__name__}")
        probs = graph_problems(graph)
        if probs:
            raise BackendError("spinnaker2 backend cannot run this graph:\n  " + "\n  ".join(probs))
        net = graph.lower()
        delayed = graph.delayed_edges()
        prev = set()
        for p in net.projections:
            path = [p.src, *p.meta.get("path", []), p.dst]
            if any((a, b) in delayed for a, b in zip(path[:-1], path[1:])):
                prev.add(p.name)
        outputs = {}
        pops = {p.name for p in net.populations}
        for o in graph.outputs:
            n = o
            while n not in pops:
                preds = graph.predecessors(n)
                if len(preds) != 1:
                    raise BackendError(f"output {o!r}: cannot trace it to one population (predecessors {preds})")
                n = preds[0]
            outputs[o] = (n, tuple(graph.shapes[o][1]))
        sched = schedule or ("step" if delayed else "scc")
        return self._compile(net, target, mapping, numerics, graph=graph, outputs=outputs, delayed=prev,
                             allow_dram=allow_dram, code_bytes=code_bytes, method=method, activity=activity, mode=mode,
                             clock_hz=clock_hz, cycles=cycles, schedule=sched, seed=seed)

    def compile_netlist(self, netlist: Netlist, target: Any = "spinnaker2", mapping: Any = None, numerics: str = "fp32",
                        *, allow_dram: bool = False, code_bytes: int = 0, method: str = "metis", activity: Any = None,
                        mode: str = "afap", clock_hz: float | None = None, cycles: dict | None = None,
                        schedule: str = "scc", seed: int = 0) -> SpiNNaker2Compiled:
        """Compile a netlist built without a graph (outputs: populations without outgoing projections)."""
        outputs = {p.name: (p.name, p.shape) for p in netlist.populations
                   if p.kind != "input" and not any(True for _ in netlist.outgoing(p.name))}
        return self._compile(netlist, target, mapping, numerics, graph=None, outputs=outputs, delayed=None,
                             allow_dram=allow_dram, code_bytes=code_bytes, method=method, activity=activity, mode=mode,
                             clock_hz=clock_hz, cycles=cycles, schedule=schedule, seed=seed)

    def _compile(self, net, target, mapping, numerics, *, graph, outputs, delayed, allow_dram, code_bytes, method,
                 activity, mode, clock_hz, cycles, schedule, seed) -> SpiNNaker2Compiled:
        from neuromap import hardware
        from neuromap.partition import partition

        numerics_mod.check(numerics)
        if schedule not in ("scc", "step"):
            raise ValueError(f"schedule={schedule!r} is not one of ['scc', 'step']")
        tgt = hardware.load(target)
        if tgt.kind != "digital" or tgt.get("numerics.mla_macs_per_cycle") is None or tgt.get("core.sram_bytes") is None:
            raise BackendError(f"target {tgt.name!r} is not a SpiNNaker2-like target (needs core.sram_bytes and "
                               "numerics.mla_macs_per_cycle); use target='spinnaker2' or a copy of its TOML")
        probs = netlist_problems(net)
        if probs:
            raise BackendError("spinnaker2 backend cannot run this network:\n  " + "\n  ".join(probs))
        kw = dict(allow_dram=allow_dram, code_bytes=code_bytes, schedule=schedule, delayed_paths=delayed)
        if mapping is not None:
            if getattr(mapping, "target", None) != tgt.name:
                raise BackendError(f"the mapping was made for target {getattr(mapping, 'target', None)!r}, not "
                                   f"{tgt.name!r}; partition the netlist for {tgt.name!r} (neuromap.partition.partition)")
            prog = build(net, mapping, tgt, numerics, **kw)
        else:
            wb = 32 if numerics == "fp32" else int(tgt.get("numerics.weight_bits", 8))
            memory = PEMemoryModel(weight_bytes=numerics_mod.weight_bytes(numerics), code_bytes=code_bytes)
            mapping = partition(net, tgt, method=method, activity=activity, seed=seed, weight_bits=wb, memory=memory)
            prog = build(net, mapping, tgt, numerics, **kw)
        return SpiNNaker2Compiled(prog, graph, outputs, mode, clock_hz, cycles)


BACKEND = SpiNNaker2Backend()


def compile(graph: Graph, target: Any = "spinnaker2", mapping: Any = None, numerics: str = "fp32",  # noqa: A001
            **kw) -> SpiNNaker2Compiled:
    """Module-level shortcut for ``BACKEND.compile``."""
    return BACKEND.compile(graph, target, mapping, numerics, **kw)
