"""Activity statistics, estimates by the target kinds' cost models, validation, and reports."""

from neuromap.estimate import Estimate, MissingFigure, Options, Term

from .activity import Activity, ActivityError, collect
from .estimates import estimate, estimate_run, spike_driven_transformer_energy
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
    "estimate_run",
    "spike_driven_transformer_energy",
    "Report",
    "build_report",
    "validate",
]
