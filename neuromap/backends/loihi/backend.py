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
from . import integers
from .emulator import LoihiLIF, LoihiRecord, LoihiSigmaDelta
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
    sigma: dict[str, np.ndarray] = field(default_factory=dict)  # sigma-delta populations' decoder state (raw time)


def _depths(netlist, direct: dict[str, str] | None = None) -> dict[str, int]:
    """Synapse stages from the inputs to each population (an input read directly adds none)."""
    direct = direct or {}
    g = nx.DiGraph()
    g.add_nodes_from(p.name for p in netlist.populations)
    for p in netlist.projections:
        if p.src != p.dst:
            g.add_edge(p.src, p.dst, weight=0 if direct.get(p.dst) == p.src else 1)
    inputs = [p.name for p in netlist.populations if p.is_input]
    depth: dict[str, int] = {}
    for src in inputs:
        for node, d in nx.single_source_dijkstra_path_length(g, src).items():
            depth[node] = int(min(depth.get(node, d), d))
    return depth


@dataclass(frozen=True)
class RunOptions:
    """How the Loihi network runs (lava-dl ``netx.hdf5.Network``'s options).

    Attributes:
        reset_interval: zero every LIF's ``u`` and ``v`` every this many steps (0: never; Lava's
            ``LIFReset``), population ``p`` at step ``reset_offset + depth(p) (mod reset_interval)`` of
            the raw (unaligned) time, so every layer starts each sample of the aligned time afresh.
        reset_offset: the phase of the resets.
        spike_exp: fraction bits of a graded spike (lava-dl's ``spike_exp``, 6).
    """

    reset_interval: int = 0
    reset_offset: int = 0
    spike_exp: int = integers.DEFAULT_SPIKE_EXP

    def __post_init__(self) -> None:
        if self.reset_interval < 0 or self.reset_offset < 0 or not 0 <= self.spike_exp <= 7:
            raise ValueError(f"reset_interval and reset_offset must be >= 0 and spike_exp in 0..7, got {self}")


class LoihiCompiled:
    """A graph quantised for Loihi, mapped onto the target, ready to run."""

    def __init__(self, lowered: pipeline.Lowered, runner: str, weight_bits: int | None, allow_mismatch: bool,
                 options: RunOptions | None = None) -> None:
        self.graph, self.target, self.runner = lowered.graph, lowered.target, runner
        self.netlist, self.mapping = lowered.netlist, lowered.mapping
        self.options = options or RunOptions()
        if weight_bits is None:  # the target's numerics decide (a 9-bit figure counts the sign: 8 + sign)
            weight_bits = min(int(self.target.get("numerics.weight_bits")), MAX_WEIGHT_BITS)
        try:
            self.network, self.quant = quantize(self.netlist, weight_bits=weight_bits, allow_mismatch=allow_mismatch,
                                                spike_exp=self.options.spike_exp)
        except QuantizationError as exc:
            raise BackendError(f"{runner} backend: {exc}") from exc
        self._check_graded()
        self.depth = _depths(self.netlist, self.network.direct)
        for p in self.network.populations:
            if isinstance(p, LoihiLIF) and self.options.reset_interval:
                p.reset_interval = self.options.reset_interval
                p.reset_phase = (self.options.reset_offset + self.depth.get(p.name, 0)) % self.options.reset_interval
        self.max_depth = max((self.depth.get(p.name, 0) for p in self.network.populations), default=0)
        self.input_names = list(self.network.inputs)
        pops = {p.name for p in self.network.populations}
        self.output_pops = {o: pop for o, (pop, _) in lowered.outputs.items() if pop in pops}

    @property
    def report(self) -> QuantReport:
        return self.quant

    def _check_graded(self) -> None:
        graded = [p.name for p in self.network.populations if isinstance(p, LoihiSigmaDelta)]
        if graded and self.target.get("numerics.graded_spike_bits") is None:
            raise BackendError(f"{self.runner} backend: populations {graded[:3]} send graded spikes, which target "
                               f"{self.target.name!r} has no figure for (numerics.graded_spike_bits; Loihi 1 sends "
                               "binary spikes only): use target loihi2")

    def _spikes_in(self, inputs: Any) -> dict[str, np.ndarray]:
        out = {}
        shapes = {n: (int(self.network.inputs[n]),) for n in self.input_names}
        direct = set(self.network.direct.values())
        for name, x in check_inputs(inputs, shapes, flat=True).items():
            a = x.detach().cpu().numpy()
            a = a.reshape(a.shape[0], a.shape[1], -1)
            if name in direct:
                out[name] = _direct_values(name, a, self.network)
                continue
            if not np.all((a == 0) | (a == 1)):
                raise ValueError(
                    f"input {name!r} is not binary: Loihi is driven by spikes; encode it first "
                    "(neuromap.data.rate / latency; an event data set's counts per bin: --binary on the command "
                    "line, binary=True in neuromap.data)"
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
        # spikes end with silence; an input read directly (a bias, a_in) holds its last value, as lava-dl's bias does
        direct = set(self.network.direct.values())
        padded = {k: np.concatenate([v, np.repeat(v[-1:], pad, 0) if k in direct else np.zeros((pad, *v.shape[1:]),
                                                                                              v.dtype)])
                  for k, v in spikes.items()}
        t0 = time.perf_counter()
        rec = self._simulate(padded)
        wall = time.perf_counter() - t0
        records: dict[str, torch.Tensor] = {}
        for p in self.network.populations:
            d = self.depth.get(p.name, 0)
            aligned = rec.spikes[p.name][d:d + T]
            if isinstance(p, LoihiSigmaDelta):  # graded spikes: the decoded value in float units, as the graph's
                sent = rec.spikes[p.name].astype(np.float64)
                decoded = sent if p.mode == "sigma" else np.cumsum(sent, axis=0)
                aligned = decoded[d:d + T] / integers.records_scale(p)
            elif self.quant.layers[p.name].readout:  # non-spiking readout: the membrane in float units
                aligned = rec.v[p.name][d:d + T] / self.quant.layers[p.name].scale
            records[p.name] = torch.as_tensor(np.asarray(aligned, dtype=np.float32))
        outputs = {o: records[p] for o, p in self.output_pops.items() if p in records}
        return LoihiRunResult(
            outputs=outputs, records=records, wall_seconds=wall, backend=self.runner,
            raw={k: v for k, v in rec.spikes.items()}, u=rec.u, v=rec.v, depth=dict(self.depth), mapping=self.mapping,
            sigma=rec.sigma,
        )


def _direct_values(name: str, a: np.ndarray, network) -> np.ndarray:
    """An input read directly by neurons: integers (a LIF's bias mantissa: 13 bits, signed)."""
    if np.any(a != np.round(a)):
        raise ValueError(f"input {name!r} feeds neurons directly (a bias or a_in of Loihi integers): it must hold "
                         "integers")
    lif = any(isinstance(p, LoihiLIF) and network.direct.get(p.name) == name for p in network.populations)
    if lif and (a.min(initial=0) < -(2**12) or a.max(initial=0) > 2**12 - 1):
        raise ValueError(f"input {name!r} is a bias mantissa and must lie in [-4096, 4095] (13 bits), got "
                         f"[{a.min():g}, {a.max():g}]")
    return a.astype(np.int64)


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
            if integers.handles(pop):  # Loihi integers (a netx file) or sigma-delta: quantised by .integers
                continue
            why = IMPLEMENTATIONS.problem(pop, NUMERICS, self.name)
            if why is not None:
                problems.append(why)
            elif not pop.is_input and not allow_mismatch:
                try:
                    compartment(pop).semantics(pop, allow_mismatch=False)
                except QuantizationError as exc:
                    problems.append(str(exc))
        for proj in netlist.projections:
            direct = proj.kind == "identity" and netlist.population(proj.src).is_input
            if proj.kind not in ("dense", "sparse", "conv") and not (direct and integers.handles(
                    netlist.population(proj.dst))):
                problems.append(f"projection {proj.name!r} ({proj.kind}): the Loihi path runs dense/sparse/conv synapses")
        return problems

    def compile(self, graph, target: Any = None, weight_bits: int | None = None,
                allow_mismatch: bool = False, method: str = "metis", mapping: Any = None,
                options: RunOptions | None = None) -> LoihiCompiled:
        """Quantise and map ``graph`` for ``target`` (default loihi2; partitioned unless ``mapping`` is
        given); ``weight_bits`` defaults to the target's ``numerics.weight_bits``, a 9-bit figure
        (8 + sign) taken as :data:`MAX_WEIGHT_BITS` (a custom target's numerics are used, not ignored;
        numerics Loihi cannot hold are refused: :func:`check_target`); ``options``: resets and
        graded-spike precision (:class:`RunOptions`)."""
        tgt = check_target(self, target)
        problems = self.unsupported(graph, allow_mismatch)
        if problems:
            raise BackendError(
                f"{self.name} backend cannot run this graph:\n  " + "\n  ".join(problems)
                + "\n  (run those parts on backends.torch, or use a hybrid split)"
            )
        lowered = pipeline.prepare(graph, tgt, mapping, method=method, weight_bits=weight_bits)
        return self.compile_lowered(lowered, weight_bits, allow_mismatch, options)

    def compile_lowered(self, lowered: pipeline.Lowered, weight_bits: int | None = None,
                        allow_mismatch: bool = False, options: RunOptions | None = None) -> LoihiCompiled:
        """Quantise ``(netlist, mapping, target)`` (:class:`neuromap.pipeline.Lowered`) for this runner."""
        check_target(self, lowered.target)
        return LoihiCompiled(lowered, self.runner, weight_bits, allow_mismatch, options)


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
    """``backends.get("lava")``: the same network built as Lava processes, run by Lava (the ``lava``
    extra; without it, compiling raises :class:`~neuromap.optional.MissingExtra` naming the install
    command, before any work)."""

    name = "lava"
    runner = "lava"

    def check_installed(self) -> str:
        """``"lava-nc VERSION"`` when Lava imports here (through neuromap's Python 3.11 shim); else
        :class:`~neuromap.compat.lava.LavaUnavailable` (a ``MissingExtra``) with the install command."""
        from neuromap.compat.lava import ensure_lava
        from neuromap.optional import package_version

        ensure_lava()
        return f"lava-nc {package_version('lava') or '(version unknown)'}"

    def compile(self, graph, target: Any = None, weight_bits: int | None = None,
                allow_mismatch: bool = False, method: str = "metis", mapping: Any = None,
                options: RunOptions | None = None) -> LoihiCompiled:
        """As :meth:`LoihiBackend.compile`, after checking that Lava is installed (before partitioning)."""
        self.check_installed()
        return super().compile(graph, target, weight_bits, allow_mismatch, method, mapping, options)

    def compile_lowered(self, lowered: pipeline.Lowered, weight_bits: int | None = None,
                        allow_mismatch: bool = False, options: RunOptions | None = None) -> LoihiCompiled:
        """As :meth:`LoihiBackend.compile_lowered`, after checking that Lava is installed."""
        self.check_installed()
        return super().compile_lowered(lowered, weight_bits, allow_mismatch, options)


BACKEND = LoihiBackend()
LAVA_BACKEND = LavaBackend()
