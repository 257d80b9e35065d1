"""Hardware-aware design-space sweeps on Ray, with a results store that survives the driver and
Pareto reports (``pip install 'neuromap[ray]'``; the command is ``neuromap sweep``).

    from neuromap.sweep import load_spec, run_sweep, write_report
    spec = load_spec("examples/digits_pareto.toml")     # model x data x training x bits x targets
    result = run_sweep(spec, "results/sweeps/digits_pareto")   # embedded local Ray, or address=...
    write_report(result.store, spec)               # report.html, results.json / .csv, pareto.png

Modules: :mod:`~neuromap.sweep.spec` (the definition and its trials), :mod:`~neuromap.sweep.trial`
(one trial through the library: train, quantise, trace, report per target),
:mod:`~neuromap.sweep.store` (one atomic JSON record per finished trial), :mod:`~neuromap.sweep.runner`
(Ray tasks, retries, resume, the NSGA-II sampler), :mod:`~neuromap.sweep.pareto` (metrics, fronts)
and :mod:`~neuromap.sweep.report` (HTML / JSON / CSV, the figure). Only the runner needs Ray.
"""

from .pareto import front, fronts, metrics, non_dominated
from .report import write_report
from .runner import SweepResult, run_sweep, start_ray
from .spec import Spec, SpecError, Trial, load_spec
from .store import Store
from .trial import comparable, run_trial

__all__ = ["Spec", "SpecError", "Store", "SweepResult", "Trial", "comparable", "front", "fronts", "load_spec",
           "metrics", "non_dominated", "run_sweep", "run_trial", "start_ray", "write_report"]
