"""``backends.loihi`` (neuromap's bit-accurate emulator) and ``backends.lava`` (Lava itself).

Both compile a Graph the same way: :func:`neuromap.pipeline.prepare` lowers it to a netlist and
maps it onto the target's cores (the per-core limits are checked there; a given Mapping is checked
instead; it is part of the result), then :meth:`LoihiBackend.compile_lowered` converts it to Loihi
fixed point (:mod:`.float_to_fixed`; the kinds a compartment implements: :mod:`.neurons`) and builds
a :class:`~.emulator.LoihiNetwork`. They
differ only in who runs that network: the vectorised emulator (batched, fast) or Lava's
``Loihi2SimCfg(select_tag="fixed_pt")`` (one sample at a time); their outputs are bit-identical.

Timing: every Loihi synapse stage delays spikes by one step, so population ``p`` at depth ``d``
(projections from the input) sees input step ``t`` at step ``t + d``. ``run`` appends ``max depth``
silent steps and returns records re-aligned to the input's time axis (``records[p][t]`` is the
response to input step ``t``), so they compare one-to-one with ``backends.torch``;
``RunResult.raw`` keeps the unaligned Loihi-time records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import torch

from neuromap import pipeline

from ..base import BackendError, RunResult, check_inputs, delayed_outputs, load_target
from .emulator import LoihiRecord
from .float_to_fixed import QuantReport, quantize
from .neurons import IMPLEMENTATIONS, NUMERICS, QuantizationError, compartment

DEFAULT_TARGET = "loihi2"
# Lava's num_weight_bits (the weight magnitude; the sign is extra) is at most 8 on Loihi 1 and 2;
# loihi.toml's "9 bits" counts the sign (Davies 2018 p. 87): 8 magnitude bits + sign is the most.
MAX_WEIGHT_BITS = 8
STATE_BITS = 24  # u and v: 24-bit signed in Lava's bit-accurate LIF (and in the emulator)


@dataclass
class LoihiRunResult(RunResult):
    """RunResult plus the raw Loihi-time records and the integer state traces."""

    raw: dict[str, np.ndarray] = field(default_factory=dict)
    u: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)
    mapping: Any = None  # the neuromap.partition.Mapping the network was placed with


def _depths(netlist) -> dict[str, int]:
    g = nx.DiGraph()
    g.add_nodes_from(p.name for p in netlist.populations)
    g.add_edges_from((p.src, p.dst) for p in netlist.projections if p.src != p.dst)
    inputs = [p.name for p in netlist.populations if p.is_input]
    depth: dict[str, int] = {}
    for src in inputs:
        for node, d in nx.single_source_shortest_path_length(g, src).items():
            depth[node] = min(depth.get(node, d), d)
    return depth


class LoihiCompiled:
    """A graph quantised for Loihi, mapped onto the target, ready to run."""

    def __init__(self, lowered: pipeline.Lowered, runner: str, weight_bits: int | None, allow_mismatch: bool) -> None:
        self.graph, self.target, self.runner = lowered.graph, lowered.target, runner
        self.netlist, self.mapping = lowered.netlist, lowered.mapping
        if weight_bits is None:  # the target's numerics decide (a 9-bit figure counts the sign: 8 + sign)
            weight_bits = min(int(self.target.get("numerics.weight_bits")), MAX_WEIGHT_BITS)
        try:
            self.network, self.quant = quantize(self.netlist, weight_bits=weight_bits, allow_mismatch=allow_mismatch)
        except QuantizationError as exc:
            raise BackendError(f"{runner} backend: {exc}") from exc
        self.depth = _depths(self.netlist)
        self.max_depth = max((self.depth.get(p.name, 0) for p in self.network.populations), default=0)
        self.input_names = list(self.network.inputs)
        pops = {p.name for p in self.network.populations}
        self.output_pops = {o: pop for o, (pop, _) in lowered.outputs.items() if pop in pops}

    @property
    def report(self) -> QuantReport:
        return self.quant

    def _spikes_in(self, inputs: Any) -> dict[str, np.ndarray]:
        out = {}
        shapes = {n: (int(self.network.inputs[n]),) for n in self.input_names}
        for name, x in check_inputs(inputs, shapes, flat=True).items():
            a = x.detach().cpu().numpy()
            a = a.reshape(a.shape[0], a.shape[1], -1)
            if not np.all((a == 0) | (a == 1)):
                raise ValueError(
                    f"input {name!r} is not binary: Loihi is driven by spikes; encode it first "
                    "(neuromap.data.rate / latency)"
                )
            out[name] = a.astype(bool)
        return out

    def _simulate(self, spikes: dict[str, np.ndarray]) -> LoihiRecord:
        if self.runner == "lava":
            from neuromap.backends.lava_runner import run_lava

            return run_lava(self.network, spikes)
        return self.network.run(spikes)

    def run(self, inputs: Any) -> LoihiRunResult:
        spikes = self._spikes_in(inputs)
        T = next(iter(spikes.values())).shape[0]
        pad = self.max_depth
        padded = {k: np.concatenate([v, np.zeros((pad, *v.shape[1:]), bool)]) for k, v in spikes.items()}
        t0 = time.perf_counter()
        rec = self._simulate(padded)
        wall = time.perf_counter() - t0
        records: dict[str, torch.Tensor] = {}
        for p in self.network.populations:
            d = self.depth.get(p.name, 0)
            aligned = rec.spikes[p.name][d:d + T]
            if self.quant.layers[p.name].readout:  # non-spiking readout: the membrane in float units
                aligned = rec.v[p.name][d:d + T] / self.quant.layers[p.name].scale
            records[p.name] = torch.as_tensor(np.asarray(aligned, dtype=np.float32))
        outputs = {o: records[p] for o, p in self.output_pops.items() if p in records}
        return LoihiRunResult(
            outputs=outputs, records=records, wall_seconds=wall, backend=self.runner,
            raw={k: v for k, v in rec.spikes.items()}, u=rec.u, v=rec.v, depth=dict(self.depth), mapping=self.mapping,
        )


class LoihiBackend:
    """``backends.get("loihi")``: neuromap's vectorised Loihi fixed-point emulator."""

    name = "loihi"
    runner = "loihi"
    default_target = DEFAULT_TARGET
    target_kinds = ("digital",)
    implementations = IMPLEMENTATIONS

    def unsupported(self, graph, allow_mismatch: bool = False) -> list[str]:
        try:
            netlist = graph.lower()
        except Exception as exc:  # noqa: BLE001 - report any lowering problem as a reason
            return [str(exc)]
        problems = delayed_outputs(graph)
        for pop in netlist.populations:
            why = IMPLEMENTATIONS.problem(pop, NUMERICS, self.name)
            if why is not None:
                problems.append(why)
            elif not pop.is_input and not allow_mismatch:
                try:
                    compartment(pop).semantics(pop, allow_mismatch=False)
                except QuantizationError as exc:
                    problems.append(str(exc))
        for proj in netlist.projections:
            if proj.kind not in ("dense", "sparse", "conv"):
                problems.append(f"projection {proj.name!r} ({proj.kind}): the Loihi path runs dense/sparse/conv synapses")
        return problems

    def compile(self, graph, target: Any = None, weight_bits: int | None = None,
                allow_mismatch: bool = False, method: str = "metis", mapping: Any = None) -> LoihiCompiled:
        """Quantise and map ``graph`` for ``target`` (default loihi2; partitioned unless ``mapping`` is
        given); ``weight_bits`` defaults to the target's ``numerics.weight_bits``, a 9-bit figure
        (8 + sign) taken as :data:`MAX_WEIGHT_BITS` (a custom target's numerics are used, not ignored;
        numerics Loihi cannot hold are refused: :func:`check_target`)."""
        tgt = check_target(self, target)
        problems = self.unsupported(graph, allow_mismatch)
        if problems:
            raise BackendError(
                f"{self.name} backend cannot run this graph:\n  " + "\n  ".join(problems)
                + "\n  (run those parts on backends.torch, or use a hybrid split)"
            )
        lowered = pipeline.prepare(graph, tgt, mapping, method=method, weight_bits=weight_bits)
        return self.compile_lowered(lowered, weight_bits, allow_mismatch)

    def compile_lowered(self, lowered: pipeline.Lowered, weight_bits: int | None = None,
                        allow_mismatch: bool = False) -> LoihiCompiled:
        """Quantise ``(netlist, mapping, target)`` (:class:`neuromap.pipeline.Lowered`) for this runner."""
        check_target(self, lowered.target)
        return LoihiCompiled(lowered, self.runner, weight_bits, allow_mismatch)


def check_target(backend, target: Any):
    """``target`` loaded and refused unless Loihi's compartment can hold its numerics: a digital
    target (:func:`~neuromap.backends.base.load_target`) with 24-bit state (u, v) and at most 8
    weight bits plus sign."""
    tgt = load_target(backend, target)
    state, wb = tgt.get("numerics.state_bits"), tgt.get("numerics.weight_bits")
    if state != STATE_BITS:
        raise BackendError(f"{backend.name} backend cannot run target {tgt.name!r}: numerics.state_bits = {state}, but "
                           f"Loihi's compartment (and Lava's bit-accurate LIF) holds u and v in {STATE_BITS} bits")
    if wb > MAX_WEIGHT_BITS + 1:
        raise BackendError(f"{backend.name} backend cannot run target {tgt.name!r}: numerics.weight_bits = {wb}, but "
                           f"Loihi's synapses hold at most {MAX_WEIGHT_BITS} magnitude bits plus a sign "
                           f"({MAX_WEIGHT_BITS + 1} counting the sign, as loihi.toml does)")
    return tgt


class LavaBackend(LoihiBackend):
    """``backends.get("lava")``: the same network built as Lava processes, run by Lava."""

    name = "lava"
    runner = "lava"


BACKEND = LoihiBackend()
LAVA_BACKEND = LavaBackend()
