"""``estimate()``: one run's energy and latency on one target, by the target kind's cost model.

The cost models live with their kind (:mod:`neuromap.targets.digital`, ``.crossbar``,
``.conventional``, ``.sfq``); the arithmetic they share (:class:`~neuromap.estimate.Term`,
:class:`~neuromap.estimate.Estimate`) is :mod:`neuromap.estimate`. This module dispatches, applies
what holds for every kind (the activity must fit the netlist; a product that overflows is refused;
unpriced reductions are listed) and keeps the Spike-driven Transformer papers' formula.
"""

from __future__ import annotations

import math

import numpy as np

from neuromap.estimate import Estimate, Options
from neuromap.netlist import Netlist
from neuromap.targets import TargetError, kind_of

from .activity import Activity


def estimate(netlist: Netlist, activity: Activity, target, mapping=None, counters: dict | None = None,
             options: Options | None = None) -> Estimate:
    """Price ``activity`` on ``target`` (a loaded :class:`~neuromap.targets.Target`) with its kind's
    cost model. Kinds that read the mapping (digital, crossbar) need the run's ``mapping`` (or a
    partition of the netlist); ``counters`` are a backend's measured counts (crossbar MVMs);
    ``options`` (:class:`~neuromap.estimate.Options`) sets batch, GPU mode, operating point,
    real-time mode and MAC-array projections."""
    activity.check_matches(netlist)
    kind = kind_of(target)
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, naming the figure
        est = kind.estimate(netlist, activity, target, mapping, counters, options)
    reductions = sorted(p.name for p in netlist.projections if p.reduces)
    if reductions and not kind.prices_reductions:
        est.omitted.append(f"reductions (max pooling: {len(reductions)} projection(s)) are not priced: "
                           "no per-comparison figure for this target")
    _check_finite(est, target)
    return est


def _check_finite(est: Estimate, target) -> None:
    """Refuse an estimate whose product of a count and a figure overflowed (a figure far outside any
    real value, e.g. ``e_synop = 1e308``): the term and the figure are named."""
    for t in est.energy_terms + est.latency_terms:
        if not math.isfinite(t.result):
            raise TargetError(f"target {target.name!r} ({target.path}): {t.quantity} term {t.name!r} = "
                                f"{t.count:.4g} {t.count_label} x {t.value:.4g} {t.unit} ({t.figure}) is not finite; "
                                "check that figure's value")
    for quantity, total in (("energy", est.energy_J), ("latency", est.latency_per_step_s or 0.0)):
        if not math.isfinite(total):
            raise TargetError(f"target {target.name!r} ({target.path}): the {quantity} terms sum to {total} "
                                "(an overflow); check the figures' values")


def spike_driven_transformer_energy(
    mac_flops: float, ac_flops: dict[str, float], rates: dict[str, float], steps: int,
    e_mac: float = 4.6e-12, e_ac: float = 0.9e-12,
) -> float:
    """The Spike-driven Transformer papers' estimate (J):
    ``E = e_mac * FLOPs(first, real-valued layer) + e_ac * T * sum_l fr_l * FLOPs_l``, with
    ``FLOPs_l`` the ANN-equivalent MAC count of layer ``l`` and ``fr_l`` the firing rate of its
    input. Defaults: Horowitz 45 nm FP32 (4.6 pJ MAC, 0.9 pJ AC)."""
    if set(ac_flops) != set(rates):
        raise ValueError(f"ac_flops and rates must name the same layers: {sorted(ac_flops)} vs {sorted(rates)}")
    return e_mac * mac_flops + e_ac * steps * sum(rates[k] * ac_flops[k] for k in ac_flops)


def estimate_run(compiled, result, options: Options | None = None) -> Estimate:
    """A backend's run priced as it ran: the activity of its records on the netlist it compiled, its
    target and mapping, its measured counters (crossbar MVMs) and the options the run reports
    (``result.estimate_options()``: SpiNNaker2's real-time mode and MAC-array projections), unless
    ``options`` is given."""
    from .activity import collect

    activity = collect(compiled.netlist, result.records)
    if options is None and callable(getattr(result, "estimate_options", None)):
        options = result.estimate_options()
    counters = getattr(result, "counters", None)
    return estimate(compiled.netlist, activity, compiled.target, getattr(compiled, "mapping", None),
                    counters if isinstance(counters, dict) else None, options)
