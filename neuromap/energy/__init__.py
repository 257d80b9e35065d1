"""Activity statistics, cost models per target kind, and reports."""

from .activity import Activity, ActivityError, collect
from .costs import Estimate, MissingFigure, Term, estimate, spike_driven_transformer_energy
from .report import Report, build_report

__all__ = [
    "Activity",
    "ActivityError",
    "collect",
    "Estimate",
    "MissingFigure",
    "Term",
    "estimate",
    "spike_driven_transformer_energy",
    "Report",
    "build_report",
]
