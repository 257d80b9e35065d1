"""``DoesNotFit``: a network cannot be mapped onto a target; the error says what, by how much and what would fit."""

from __future__ import annotations

from dataclasses import dataclass, field

from neuromap.errors import NeuromapError


@dataclass
class DoesNotFit(NeuromapError, ValueError):
    """Raised when a population (or the whole network) cannot be mapped under a target's limits.

    Attributes:
        population: the population that does not fit (``None`` for a whole-network limit).
        limit: the limit's name (e.g. ``"core.max_axons_in"``, ``"system.max_chips"``).
        needed: what the network needs under that limit.
        available: what the target offers.
        suggestions: what would fit (split factor, sparsity, weight bits, more chips, ...).
        target: target name.
    """

    population: str | None
    limit: str
    needed: float
    available: float
    suggestions: list[str] = field(default_factory=list)
    target: str = ""

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        who = f"population {self.population!r}" if self.population else "the network"
        on = f" on {self.target}" if self.target else ""
        msg = f"{who} does not fit{on}: {self.limit} needs {_fmt(self.needed)} but {_fmt(self.available)} is available"
        if self.suggestions:
            msg += "; would fit with: " + "; ".join(self.suggestions)
        return msg


def _fmt(x: float) -> str:
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:.4g}"
