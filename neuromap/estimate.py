"""The arithmetic every cost model shares: a :class:`Term` is a count times a cited figure, an
:class:`Estimate` sums them, and the helpers here read figures off a target so that each term
carries the figure's value, unit, source and confidence.

This module sits low in the import graph (it imports only :mod:`neuromap.errors` and numpy) so
that the target kinds (:mod:`neuromap.targets`, whose modules hold the cost models), the device
models (:mod:`neuromap.devices`) and the reports (:mod:`neuromap.energy`) all use it without a
cycle. A new term, e.g. a system-level power (a host CPU, sleeping cores), is one more
``term("energy", name, count, label, figure, "section.figure")`` in the kind's cost model: the
figure's confidence travels with it.

Units: energies in J, times in s, powers in W; a count's unit is in its ``count_label``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neuromap.errors import NeuromapError

GPU_MODES = ("eager", "graph", "fused")


class MissingFigure(NeuromapError, ValueError):
    """The target lacks a figure that the estimate cannot do without (names target and figure)."""


@dataclass
class Term:
    """One product of a count and a spec figure: ``result = count x value``."""

    quantity: str  # "energy" or "latency"
    name: str  # e.g. "synaptic ops"
    count: float
    count_label: str  # what was counted, with its unit
    figure: str  # "energy.e_synop"
    value: float  # the figure's value (J, s, W ...)
    unit: str
    source: str
    confidence: str
    estimate_flag: bool = False
    layer: str | None = None

    @property
    def result(self) -> float:
        return self.count * self.value

    def explain(self) -> str:
        est = ", estimate" if self.estimate_flag else ""
        return (
            f"{self.name}: {self.count:,.6g} {self.count_label} x {self.value:.4g} {self.unit} "
            f"({self.figure} [{self.confidence}{est}]: {self.source}) = {self.result:.6g}"
        )


@dataclass
class Estimate:
    """Energy and latency of one run on one target (totals over the run unless 'per')."""

    target: str
    kind: str
    samples: int
    steps: int
    energy_terms: list[Term] = field(default_factory=list)
    latency_terms: list[Term] = field(default_factory=list)  # per time step
    omitted: list[str] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)
    per_core: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    batch: int = 1  # inferences processed together (conventional targets); latency is one batch's
    latency_lower_bound: bool = False  # True where latency leaves out parts of the step (marked ">=")
    energy_lower_bound: bool = False  # True where energy leaves out terms that matter (marked ">=")

    @property
    def energy_J(self) -> float:
        return float(sum(t.result for t in self.energy_terms))

    @property
    def energy_per_inference_J(self) -> float:
        return self.energy_J / self.samples

    @property
    def latency_per_step_s(self) -> float | None:
        return float(sum(t.result for t in self.latency_terms)) if self.latency_terms else None

    @property
    def latency_per_inference_s(self) -> float | None:
        lat = self.latency_per_step_s
        return None if lat is None else lat * self.steps

    @property
    def throughput_per_s(self) -> float | None:
        lat = self.latency_per_inference_s
        return None if not lat else self.batch / lat

    def breakdown(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.energy_terms:
            out[t.name] = out.get(t.name, 0.0) + t.result
        return out

    def shares(self) -> dict[str, float]:
        """Percent of the energy per category (sums to 100; a share of the per-inference energy is
        the same as a share of the run's total, since both are divided by the same sample count)."""
        total = self.energy_J
        if total <= 0:
            return {}
        return {k: 100.0 * v / total for k, v in self.breakdown().items()}

    def per_layer(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for t in self.energy_terms:
            key = t.layer or "(whole system)"
            out[key] = out.get(key, 0.0) + t.result
        return out

    def explain(self, quantity: str = "energy") -> str:
        if quantity not in ("energy", "latency"):
            raise ValueError(f"quantity={quantity!r} is not one of ['energy', 'latency']")
        terms = self.energy_terms if quantity == "energy" else self.latency_terms
        unit = "J" if quantity == "energy" else "s per step"
        lines = [f"{self.target} ({self.kind}) {quantity}, {self.samples} sample(s) x {self.steps} steps:"]
        lines += ["  " + t.explain() for t in terms]
        total = sum(t.result for t in terms)
        lines.append(f"  total = {' + '.join(f'{t.result:.4g}' for t in terms) or '0'} = {total:.6g} {unit}")
        if quantity == "energy":
            lines.append(f"  per inference = {total:.6g} / {self.samples} = {total / self.samples:.6g} J")
        if (self.energy_lower_bound if quantity == "energy" else self.latency_lower_bound):
            lines.append(f"  >= this {quantity} is a lower bound (see omitted / notes)")
        lines += [f"  omitted: {o}" for o in self.omitted]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


@dataclass(frozen=True)
class Options:
    """How the model is run, where the cost depends on it.

    ``batch``: samples processed together on a conventional target (>= 1); ``gpu_mode``: ``eager``
    (one kernel per op, launched from Python), ``graph`` (the same kernels replayed from a CUDA graph)
    or ``fused`` (one kernel per projection and one per population per step, replayed);
    ``operating_point``: index into a target's ``chip.operating_points`` (SpiNNaker2: 0 = 0.5 V /
    150 MHz, 1 = 0.8 V / 300 MHz); ``realtime``: a real-time digital target charges the whole
    ``timing.timestep`` tick per step (False: as fast as possible); ``mac_array``: projections a
    backend ran on a per-core MAC array (SpiNNaker2's MLA), priced per MAC instead of per synaptic
    event (empty: every projection per synaptic event)."""

    batch: int = 1
    gpu_mode: str = "eager"
    operating_point: int = 0
    realtime: bool = True
    mac_array: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ValueError(f"batch={self.batch!r}: must be an integer >= 1")
        if self.gpu_mode not in GPU_MODES:
            raise ValueError(f"gpu_mode={self.gpu_mode!r} is not one of {list(GPU_MODES)}")
        if isinstance(self.operating_point, bool) or not isinstance(self.operating_point, int) \
                or self.operating_point < 0:
            raise ValueError(f"operating_point={self.operating_point!r}: must be an integer >= 0")
        object.__setattr__(self, "mac_array", frozenset(self.mac_array))


# --- reading figures off a target ----------------------------------------------------------------

def fig(target, dotted: str, required: bool = False):
    """The :class:`~neuromap.targets.Figure` ``"section.figure"`` when it has a value, else None
    (:class:`MissingFigure` when ``required``)."""
    f = target.figure(dotted)
    if f is None or f.value is None:
        if required:
            raise MissingFigure(f"target {target.name!r} lacks figure {dotted!r}{missing_why(target, dotted)}, "
                                "which this estimate needs")
        return None
    return f


def need(target, dotted: str, why: str):
    """A figure the chosen model cannot do without: :class:`MissingFigure` naming figure and file."""
    f = target.figure(dotted)
    if f is None or f.value is None:
        path = getattr(target, "path", "") or target.name
        raise MissingFigure(f"target {target.name!r} ({path}) lacks figure {dotted!r}{missing_why(target, dotted)}, "
                            f"which {why} needs")
    return f


def missing_why(target, dotted: str) -> str:
    """`` (the reason)`` of a figure written ``{ missing = "reason" }``, else ``""``."""
    f = target.figure(dotted)
    return f" ({f.missing})" if f is not None and f.missing else ""


def scalar(f) -> float:
    """A figure's value as one number (the mean of a list)."""
    v = f.value
    if isinstance(v, (list, tuple)):
        return float(np.mean(v))
    return float(v)


def at(f, op: int) -> float:
    """A figure's value at operating point ``op`` (a list is indexed by operating point)."""
    v = f.value
    return float(v[op]) if isinstance(v, (list, tuple)) else float(v)


def term(quantity: str, name: str, count: float, label: str, f, dotted: str, layer: str | None = None,
         value: float | None = None) -> Term:
    """``count x`` figure ``f`` (named ``dotted``) as a :class:`Term`; ``value`` replaces the figure's
    value where the model derives one from it (an operating point's entry, a mean)."""
    return Term(
        quantity=quantity,
        name=name,
        count=float(count),
        count_label=label,
        figure=dotted,
        value=scalar(f) if value is None else value,
        unit=f.unit,
        source=f.source + (f" (note: {f.note})" if f.note else ""),
        confidence=f.confidence,
        estimate_flag=bool(f.estimate),
        layer=layer,
    )


def per_core_sum(mapping, pop: str, per_neuron) -> np.ndarray:
    """``per_neuron`` values of population ``pop`` summed per core of ``mapping``."""
    cores = mapping.core_of(pop)
    vals = np.asarray(per_neuron, dtype=np.float64)
    n = min(len(cores), len(vals))
    return np.bincount(cores[:n], weights=vals[:n], minlength=mapping.n_cores)


def operating_point(target, options: Options) -> int:
    """``options.operating_point`` checked against the target's ``chip.operating_points`` (0 when
    the target lists none)."""
    points = target.get("chip.operating_points")
    if points is None:
        return 0
    if options.operating_point >= len(points):
        raise ValueError(f"operating_point={options.operating_point} but {target.name!r} has {len(points)}: "
                         + ", ".join(f"{i} = {p}" for i, p in enumerate(points)))
    return options.operating_point


def fmt_si(x: float | None, unit: str) -> str:
    """``x`` with an SI prefix and 3 significant digits: ``"567 nJ"``; ``"n/a"`` for None."""
    if x is None:
        return "n/a"
    if x == 0:
        return f"0 {unit}"
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"), (1e-18, "a")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"
