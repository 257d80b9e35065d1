"""One comparison of a model with a published measurement: the row ``neuromap validate`` shows.

Row keys (:data:`ROW_KEYS`): ``case``; ``role`` (``calibration``: a target figure was derived from
this measurement, shown and never counted; ``validation``: an independent measurement);
``measurement`` (the id of the measurement in :data:`neuromap.energy.published.MEASUREMENTS`); ``target``;
``quantity``; ``published``; ``modelled`` with its range ``low`` - ``high`` (from the figures'
stated confidence, :mod:`neuromap.estimate`; ``high`` is None where the estimate is a lower bound:
it has no upper end); ``ratio`` (modelled / published); ``factor`` (the tolerance: ``within`` when
``1/factor <= ratio <= factor``); ``inside`` (the published value lies in the range); ``lower_bound``;
``unit``; ``scope`` (what the measurement included: chip or board, static or dynamic power, host
I/O, idle chips, batch, steps per inference, network, input, operating point, source); ``figures``
(the ``target:section.figure`` names the modelled value used); ``note``;
``reason`` (why a row misses, with its source; empty when it does not).
"""

from __future__ import annotations

import math
from typing import Any

ROW_KEYS = ("case", "role", "measurement", "target", "quantity", "published", "modelled", "low", "high", "ratio",
            "factor", "within", "inside", "lower_bound", "unit", "scope", "figures", "note", "reason")
ROLES = ("calibration", "validation")
EXACT = 1.0 + 1e-9  # the factor of a consistency row that must match to rounding
FACTOR = 2.0  # the tolerance of a validation row


def row(case: str, role: str, target: str, quantity: str, published: float, modelled: float, low: float,
        high: float, unit: str, scope: dict[str, Any], note: str, factor: float = FACTOR,
        reason: str = "", measurement: str = "", figures: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """One comparison (see the module docstring); ``high = inf`` for a lower bound."""
    if role not in ROLES:
        raise ValueError(f"role={role!r} is not one of {list(ROLES)}")
    ratio = modelled / published
    bound = math.isinf(high)
    inside = bool(low <= published * (1 + 1e-12) and (bound or published <= high * (1 + 1e-12)))
    return {"case": case, "role": role, "measurement": measurement, "target": target, "quantity": quantity,
            "published": float(published), "modelled": float(modelled), "low": float(low),
            "high": None if bound else float(high),
            "ratio": float(ratio), "factor": float(factor), "within": bool(1.0 / factor <= ratio <= factor),
            "inside": inside, "lower_bound": bound, "unit": unit, "scope": dict(scope),
            "figures": sorted(set(figures)), "note": note, "reason": reason}
