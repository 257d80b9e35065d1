"""Compatibility shims for third-party packages (applied at import time, never by editing them)."""
