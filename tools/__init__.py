"""Maintenance commands, run from the repository root: ``python -m tools.update_readme`` (every
generated block of the README from the files the experiments, the demo and the benchmarks wrote)
and ``python -m tools.check_wheel`` (the built wheel installed alone in a fresh virtualenv)."""
