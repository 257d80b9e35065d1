"""Activity statistics, cost models per target kind, and reports."""

from .activity import Activity, ActivityError, collect

__all__ = ["Activity", "ActivityError", "collect"]
