"""Activity statistics, cost models per target kind, and reports."""

from .activity import Activity, ActivityError, collect
from .costs import Estimate, MissingFigure, Options, Term, estimate, spike_driven_transformer_energy
from .report import Report, build_report
from .validation import validate

__all__ = [
    "Activity",
    "ActivityError",
    "collect",
    "Estimate",
    "MissingFigure",
    "Options",
    "Term",
    "estimate",
    "spike_driven_transformer_energy",
    "Report",
    "build_report",
    "Options",
    "validate",
]
