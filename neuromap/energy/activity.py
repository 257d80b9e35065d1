"""Activity: what a run did, counted per population and per projection.

Collected from any backend's recordings (``{population name: output sequence [T, B, ...]}``) on
the netlist the backend ran, these counts are what every cost model multiplies by its spec
figures. Definitions (per run, summed over time steps ``T`` and samples ``B``):

* ``spikes[pop]``: non-zero outputs of a population (binary spikes; graded events count once).
* ``synops[proj]``: synaptic events = sum over time of each non-zero source output times its
  number of non-zero outgoing weights in that projection (conv: exact taps from the geometry).
* ``dense_synops[proj]``: ``T * B * synapses`` (every synapse every step; NeuroBench "Dense").
* ``updates_dense[pop]``: ``T * B * neurons`` (a clock-driven core updates every neuron each step).
* ``updates_event[pop]``: neuron-steps with non-zero synaptic input (an event-driven core).
* ``macs[proj]`` / ``acs[proj]``: NeuroBench effective MACs / ACs: the synaptic events of
  projections whose inputs are real-valued (MAC) or all in {-1, 0, 1} (AC); zero weights and zero
  inputs are skipped.
* ``spikes_per_neuron[pop]`` / ``synops_per_neuron[pop]``: the same counts per neuron (outputs
  emitted; synaptic events delivered to it over all incoming projections), which the latency
  models need to find the busiest core of a mapping.
* ``activation_sparsity``: zeros / all outputs over every neuron population (NeuroBench).
* ``connection_sparsity``: zero weights / all weights over every projection (NeuroBench).
* ``footprint_bytes``: weights + biases (+ per-neuron parameters) at 4 bytes each (float32).

NeuroBench reports per-sample numbers: :meth:`Activity.per_sample` divides by ``B``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from neuromap.atomic import atomic_path
from neuromap.errors import InputError, NeuromapError
from neuromap.netlist import Netlist, Projection

SCHEMA_VERSION = 1
FLOAT_BYTES = 4


class ActivityError(NeuromapError, ValueError):
    """Activity does not fit the netlist (names, shapes) or holds impossible counts."""


@dataclass
class Activity:
    """Counts of one run (see the module docstring for the definitions)."""

    steps: int
    samples: int
    neurons: dict[str, int]
    spikes: dict[str, float]
    updates_dense: dict[str, float]
    updates_event: dict[str, float]
    synops: dict[str, float]
    dense_synops: dict[str, float]
    macs: dict[str, float]
    acs: dict[str, float]
    spiking_input: dict[str, bool]
    graded: dict[str, bool] = field(default_factory=dict)
    projection_ends: dict[str, tuple[str, str]] = field(default_factory=dict)
    input_spikes: dict[str, float] = field(default_factory=dict)
    input_neurons: dict[str, int] = field(default_factory=dict)
    spikes_per_neuron: dict[str, list[float]] = field(default_factory=dict)
    synops_per_neuron: dict[str, list[float]] = field(default_factory=dict)
    activation_sparsity: float = 0.0
    connection_sparsity: float = 0.0
    footprint_bytes: int = 0
    netlist_name: str = ""

    def __post_init__(self) -> None:
        for name in ("steps", "samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ActivityError(f"{name} = {value!r}: must be a positive integer")
        for name in ("neurons", "input_neurons"):  # rates divide by them
            for key, value in self._mapping(name).items():
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                    raise ActivityError(f"{name}[{key!r}] = {value!r}: a population has a positive integer "
                                        "number of neurons")
        for name in ("spikes", "updates_dense", "updates_event", "synops", "dense_synops", "macs", "acs",
                     "input_spikes"):
            for key, value in self._mapping(name).items():
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                        or not np.isfinite(value) or value < 0:
                    raise ActivityError(f"{name}[{key!r}] = {value!r}: counts must be finite and non-negative numbers")
        for counts, sizes in (("spikes", "neurons"), ("input_spikes", "input_neurons")):
            unsized = sorted(set(getattr(self, counts)) - set(getattr(self, sizes)))
            if unsized:
                raise ActivityError(f"{counts} of {unsized} without their {sizes}")

    def _mapping(self, name: str) -> dict:
        value = getattr(self, name)
        if not isinstance(value, dict):
            raise ActivityError(f"{name} must be a mapping of names to values, got {type(value).__name__}")
        return value

    # --- derived ---------------------------------------------------------------------------
    def rates(self) -> dict[str, float]:
        """Mean spikes per neuron per time step, per population and input (the partitioner's traffic weights)."""
        n = self.steps * self.samples
        out = {p: self.input_spikes[p] / (self.input_neurons[p] * n) for p in self.input_spikes}
        out.update({p: self.spikes[p] / (self.neurons[p] * n) for p in self.spikes})
        return out

    @property
    def total_spikes(self) -> float:
        return float(sum(self.spikes.values()))

    @property
    def total_synops(self) -> float:
        return float(sum(self.synops.values()))

    def per_sample(self) -> dict[str, float]:
        """NeuroBench-style per-sample totals."""
        b = self.samples
        return {
            "Effective_MACs": sum(self.macs.values()) / b,
            "Effective_ACs": sum(self.acs.values()) / b,
            "Dense": sum(self.dense_synops.values()) / b,
            "spikes": self.total_spikes / b,
            "activation_sparsity": self.activation_sparsity,
            "connection_sparsity": self.connection_sparsity,
            "footprint_bytes": self.footprint_bytes,
        }

    def check_matches(self, netlist: Netlist) -> None:
        """Raise :class:`ActivityError` unless this activity was recorded on ``netlist``."""
        pops = {p.name: p.size for p in netlist.populations if not p.is_input}
        projs = {p.name for p in netlist.projections}
        if set(self.neurons) != set(pops):
            raise ActivityError(
                f"activity populations {sorted(self.neurons)} do not match the graph's {sorted(pops)}"
            )
        for name, n in pops.items():
            if self.neurons[name] != n:
                raise ActivityError(f"population {name!r}: activity has {self.neurons[name]} neurons, graph {n}")
        if set(self.synops) != projs:
            raise ActivityError(f"activity projections {sorted(self.synops)} do not match the graph's {sorted(projs)}")

    # --- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["projection_ends"] = {k: list(v) for k, v in self.projection_ends.items()}
        d["schema_version"] = SCHEMA_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Activity:
        d = dict(d)
        version = d.pop("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ActivityError(f"activity schema version {version} is not supported (expected {SCHEMA_VERSION})")
        d["projection_ends"] = {k: tuple(v) for k, v in d.get("projection_ends", {}).items()}
        try:
            return cls(**d)
        except TypeError as exc:
            raise ActivityError(f"malformed activity record: {exc}") from exc

    def save(self, path: str | os.PathLike) -> Path:
        """Write as ``.npz`` (one JSON document inside), atomically."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, activity=np.array(json.dumps(self.to_dict())))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Activity:
        """An activity file written by :meth:`save` (``deploy -o``'s ``activity.npz``); anything else is
        an :class:`ActivityError` saying why (headers checked before reading: :mod:`neuromap.npyfile`)."""
        from neuromap.npyfile import load_npz

        try:
            arrays = load_npz(path, str(path))
            doc = json.loads(str(arrays["activity"]))
        except (InputError, KeyError, ValueError) as exc:
            raise ActivityError(f"{path} is not a neuromap activity file: {type(exc).__name__}: {exc}") from exc
        if not isinstance(doc, dict):
            raise ActivityError(f"{path} is not a neuromap activity file: its record is a JSON {type(doc).__name__}, "
                                "not an object")
        try:
            return cls.from_dict(doc)
        except ActivityError as exc:
            raise ActivityError(f"{path}: {exc}") from exc


def _as_tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


def _nonzero_mask(proj: Projection):
    w = proj.weight
    if sp.issparse(w):
        m = w.copy().tocsr()
        m.data = (m.data != 0).astype(np.float64)
        m.eliminate_zeros()
        return m
    return (np.asarray(w) != 0).astype(np.float64)


def _projection_events(proj: Projection, src: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Synaptic events, the per-target 'received input' indicator ``[T*B, n_dst]`` and the events
    delivered to each target neuron ``[n_dst]`` for one projection, from the source outputs
    ``[T, B, *shape]``."""
    T, B = src.shape[:2]
    nz = (src != 0).to(torch.float64).reshape(T * B, -1)
    if proj.kind == "conv":
        g = proj.conv
        k = torch.as_tensor((np.asarray(proj.weight) != 0).astype(np.float64))
        x = nz.reshape(T * B, *g.in_shape)
        y = F.conv2d(x, k, stride=g.stride, padding=g.padding, dilation=g.dilation, groups=g.groups)
        y = y.reshape(T * B, -1)
        return float(y.sum()), y > 0, y.sum(0)
    if proj.kind == "identity":
        return float(nz.sum()), nz > 0, nz.sum(0)
    mask = _nonzero_mask(proj)
    if sp.issparse(mask):
        nz_np = nz.numpy()
        received = torch.as_tensor(np.asarray((mask @ nz_np.T).T))
        fan_out = torch.as_tensor(np.asarray(mask.sum(axis=0)).ravel())
    else:
        mt = torch.as_tensor(mask)
        received = nz @ mt.T
        fan_out = mt.sum(0)
    return float((nz @ fan_out).sum()), received > 0, received.sum(0)


def collect(netlist: Netlist, records: dict[str, object]) -> Activity:
    """Count the activity of a run from its recordings ``{population name: [T, B, ...]}``.

    Every population that is the source of a projection (input populations included) and every
    neuron population must be recorded.
    """
    pops = {p.name: p for p in netlist.populations}
    missing = [n for n, p in pops.items() if n not in records and (not p.is_input or any(netlist.outgoing(n)))]
    if missing:
        raise ActivityError(f"no recording for populations {missing}; recorded: {sorted(records)}")
    seqs = {n: _as_tensor(records[n]) for n in pops if n in records}
    T = B = None
    for n, s in seqs.items():
        if s.dim() < 3:
            raise ActivityError(f"recording of {n!r} must be [T, B, ...], got shape {tuple(s.shape)}")
        if int(np.prod(s.shape[2:])) != pops[n].size:
            raise ActivityError(
                f"recording of {n!r} has {int(np.prod(s.shape[2:]))} neurons per step, the graph {pops[n].size}"
            )
        if T is None:
            T, B = s.shape[:2]
        elif s.shape[:2] != (T, B):
            raise ActivityError(f"recording of {n!r} has [T, B] = {tuple(s.shape[:2])}, others {(T, B)}")
    if T is None:
        raise ActivityError("no recordings")
    neurons, spikes, upd_d, upd_e, graded, spn, synpn = {}, {}, {}, {}, {}, {}, {}
    synops, dense, macs, acs, spiking_in, ends = {}, {}, {}, {}, {}, {}
    received: dict[str, torch.Tensor] = {}
    delivered: dict[str, torch.Tensor] = {}
    zeros_out = total_out = 0.0
    w_zero = w_total = 0
    footprint = 0
    for proj in netlist.projections:
        src = seqs[proj.src]
        events, got, per_target = _projection_events(proj, src)
        delivered[proj.dst] = per_target if proj.dst not in delivered else delivered[proj.dst] + per_target
        binary = bool(torch.all((src == 0) | (src.abs() == 1)))
        if proj.reduces:  # a unit's digital reduction (max pooling): no synaptic events (Projection.reduces)
            events = 0.0
        synops[proj.name] = events
        dense[proj.name] = 0.0 if proj.reduces else float(T * B * proj.synapses_dense())
        (acs if binary else macs)[proj.name] = events
        (macs if binary else acs)[proj.name] = 0.0
        spiking_in[proj.name] = binary
        ends[proj.name] = (proj.src, proj.dst)
        received[proj.dst] = got if proj.dst not in received else (received[proj.dst] | got)
        n_w, n_zero = proj.weight_counts()
        w_total += n_w
        w_zero += n_zero
        footprint += FLOAT_BYTES * (n_w + (0 if proj.bias is None else int(np.size(proj.bias))))
    in_spikes, in_neurons = {}, {}
    for name, pop in pops.items():
        if pop.is_input:
            if name in seqs:
                in_spikes[name] = float((seqs[name] != 0).sum())
                in_neurons[name] = pop.size
            continue
        out = seqs[name]
        nz = float((out != 0).sum())
        neurons[name] = pop.size
        spikes[name] = nz
        spn[name] = (out != 0).reshape(T * B, -1).sum(0).tolist()
        synpn[name] = delivered[name].tolist() if name in delivered else [0.0] * pop.size
        graded[name] = not bool(torch.all((out == 0) | (out == 1)))
        upd_d[name] = float(T * B * pop.size)
        upd_e[name] = float(received[name].sum()) if name in received else 0.0
        zeros_out += out.numel() - nz
        total_out += out.numel()
        footprint += FLOAT_BYTES * pop.size  # one float of state per neuron (NeuroBench footprint)
    return Activity(
        steps=int(T),
        samples=int(B),
        neurons=neurons,
        spikes=spikes,
        updates_dense=upd_d,
        updates_event=upd_e,
        synops=synops,
        dense_synops=dense,
        macs=macs,
        acs=acs,
        spiking_input=spiking_in,
        graded=graded,
        projection_ends=ends,
        input_spikes=in_spikes,
        input_neurons=in_neurons,
        spikes_per_neuron=spn,
        synops_per_neuron=synpn,
        activation_sparsity=zeros_out / total_out if total_out else 0.0,
        connection_sparsity=round(w_zero / w_total, 4) if w_total else 0.0,
        footprint_bytes=int(footprint),
        netlist_name=str(netlist.graph.graph.get("name", "")),
    )
