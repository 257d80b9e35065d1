"""The driver: trials as Ray tasks, streamed into the results store, retried when a worker dies.

    from neuromap.sweep import load_spec, run_sweep
    result = run_sweep(load_spec("examples/digits_pareto.toml"), "results/sweeps/digits_pareto")

Ray (``pip install 'neuromap[ray]'``) is started embedded on this machine (``address=None``: a new
local instance with ``workers`` CPUs, gone when the sweep ends) or joined (``address="HOST:PORT"``
or ``"auto"``: an existing cluster, e.g. one made by Ray's cluster launcher or KubeRay). A Ray
session that is already initialised in this process (a notebook's) is used as it is.

Every trial is one Ray task (:func:`neuromap.sweep.trial.run_trial`) asking for the spec's
``resources.cpus`` / ``resources.gpus``; Ray schedules as many at once as the cluster has room for.
Results come back as they finish and the driver writes each into the store at once (so the store
needs to be reachable only from the driver). A task whose worker process (or node) dies is
submitted again, up to ``resources.max_retries`` times, then recorded with ``status = "lost"`` and
the errors of every attempt. A trial that raises is recorded with ``status = "error"`` (it would
raise again: it is not retried).

Resuming (``resume=True``) skips every trial with a record in the store (records are keyed by the
trial's whole configuration and seed) and runs the rest; ``retry_failed`` also re-runs the
``error`` and ``lost`` ones. Trials are deterministic from their seed (one torch thread per CPU of
the request), so a resumed sweep ends with the same table as an uninterrupted one.

The ``nsga2`` sampler is Optuna's NSGA-II (multi-objective) through Ray Tune's Optuna integration
(``ray.tune.search.optuna.OptunaSearch``), asked for one generation of ``sweep.population``
trials at a time and told their objectives in trial order once the generation has finished: its
proposals then depend only on the seed and the results, so a resumed run proposes the same trials
and finds their records in the store.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuromap import memory
from neuromap.optional import require

from .spec import Domain, Spec, Trial
from .store import Store
from .trial import provenance, run_trial

Log = Callable[[str], None]
DEFAULT_POPULATION = 8  # nsga2 generation size unless sweep.population says: fixed, so results do not depend on the machine
FINISHED = ("done", "error", "lost")


@dataclass
class SweepResult:
    """What a run left in the store: every trial of the spec with its record (None: not finished)."""

    store: Store
    trials: list[Trial]
    records: list[dict[str, Any] | None]
    ran: int = 0
    reused: int = 0
    retried: int = 0
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r is not None and r["status"] == status)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_ray(address: str | None = None, workers: int | None = None):
    """``(ray, started)``: Ray, initialised in this process (a new embedded local instance with
    ``workers`` CPUs, or the cluster at ``address``); ``started`` tells whether we must shut it down."""
    ray = require("ray", "neuromap sweep (trials run as Ray tasks)")
    if ray.is_initialized():
        return ray, False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": True}
    if address:
        ray.init(address=address, **quiet)
    else:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers={workers!r}: must be an integer >= 1")
        # address="local": a new instance even when another one (someone's `ray start`) runs on this machine
        ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                 object_store_memory=200 * 2**20, **quiet)
    return ray, True


class _Driver:
    """Submits trials, collects their results as they finish, retries lost workers, writes records."""

    def __init__(self, ray, spec: Spec, store: Store, retry_failed: bool, bar, log: Log,
                 on_record: Callable[[dict[str, Any]], None] | None) -> None:
        self.ray, self.spec, self.store, self.bar, self.log, self.on_record = ray, spec, store, bar, log, on_record
        self.retry_failed = retry_failed
        self.task = ray.remote(run_trial)
        # retried here (max_retries=0 for Ray), so that each loss is counted and recorded
        self.request = {"num_cpus": spec.resources["cpus"], "num_gpus": spec.resources["gpus"], "max_retries": 0}
        if env := memory.for_workers():  # --max-memory holds in the trials too, not only in this driver
            self.request["runtime_env"] = {"env_vars": env}
        self.pending: dict[Any, tuple[Trial, int, list[str]]] = {}
        self.ran = self.reused = self.retried = 0
        self.slots = _slots(ray.cluster_resources(), spec.resources)

    def finished(self, trial: Trial) -> dict[str, Any] | None:
        """The trial's record when the store has one that need not run again."""
        record = self.store.get(trial.key)
        if record is None or (self.retry_failed and record["status"] != "done"):
            return None
        return record

    def submit(self, trial: Trial, attempt: int = 1, errors: list[str] | None = None) -> None:
        ref = self.task.options(name=f"neuromap-trial-{trial.key}", **self.request).remote(trial.config)
        self.pending[ref] = (trial, attempt, errors or [])
        self.bar.update_status(len(self.pending), self.slots)

    def run(self, trials: Sequence[Trial]) -> dict[str, dict[str, Any]]:
        """Run ``trials`` (those without a record); returns ``{key: record}`` for all of them."""
        out: dict[str, dict[str, Any]] = {}
        for t in trials:
            if t.key in out:
                continue
            record = self.finished(t)
            if record is not None:
                out[t.key] = record
                self.reused += 1
                self.bar.advance(record, reused=True)
            elif not any(p[0].key == t.key for p in self.pending.values()):
                self.submit(t)
        while self.pending:
            ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=0.5)
            self.bar.refresh()
            for ref in ready:
                record = self.collect(ref)
                if record is not None:
                    out[record["key"]] = record
        return out

    def collect(self, ref) -> dict[str, Any] | None:
        """The record of a finished task (written to the store), or None when it was resubmitted."""
        trial, attempt, errors = self.pending.pop(ref)
        try:
            payload = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            raise
        except self.ray.exceptions.RayError as exc:  # the worker process or its node died
            errors = [*errors, _brief(exc)]
            retries = int(self.spec.resources["max_retries"])
            if attempt <= retries:
                self.retried += 1
                self.bar.write(f"trial {trial.key}: worker lost ({errors[-1]}); retry {attempt}/{retries}")
                self.submit(trial, attempt + 1, errors)
                return None
            payload = {"record": {"status": "lost", "error": f"the worker died on each of {attempt} attempt(s); "
                                  f"last: {errors[-1]}", "provenance": provenance()}, "graph": None}
        record = record_of(trial, payload, attempt, errors)
        self.store.write(record, payload["graph"])
        self.ran += 1
        self.bar.update_status(len(self.pending), self.slots)
        self.bar.advance(record)
        if self.on_record is not None:
            self.on_record(record)
        return record

    def cancel(self) -> None:
        for ref in list(self.pending):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # already finished or its worker gone: nothing left to stop
                pass
        self.pending.clear()


def _slots(cluster: dict[str, float], resources: dict[str, Any]) -> int:
    """How many trials the cluster runs at once (its CPUs / GPUs over one trial's request)."""
    fits = [cluster.get(name, 0.0) // float(resources[key]) for key, name in (("cpus", "CPU"), ("gpus", "GPU"))
            if resources[key]]
    return max(1, int(min(fits))) if fits else 1


def record_of(trial: Trial, payload: dict[str, Any], attempts: int = 1,
              attempt_errors: Sequence[str] = ()) -> dict[str, Any]:
    """The store's record of ``trial`` from :func:`~neuromap.sweep.trial.run_trial`'s ``payload``:
    the trial's key, parameters, seed and configuration, what it measured, and its attempts."""
    return {"key": trial.key, "params": trial.params, "seed": trial.seed, "config": trial.config,
            **payload["record"], "attempts": attempts, "attempt_errors": list(attempt_errors)}


def _brief(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}" + ("..." if len(text) > limit else "")


def run_sweep(spec: Spec, store: str | Path, *, address: str | None = None, workers: int | None = None,
              resume: bool = False, retry_failed: bool = False, progress: bool | None = None,
              log: Log | None = None, on_record: Callable[[dict[str, Any]], None] | None = None) -> SweepResult:
    """Run ``spec`` on Ray, writing every finished trial to the store at ``store``.

    Args:
        address: an existing Ray cluster to join (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:10001"``);
            default: start an embedded local Ray with ``workers`` CPUs (default: all of this machine's).
        resume: continue the store's sweep (skip trials with a record); without it the store must be new.
        retry_failed: with ``resume``, also re-run trials recorded as ``error`` or ``lost``.
        progress: a progress bar (done / running / failed, ETA); default: when stderr is a terminal.
        log: receives one line per finished trial and per retry (default: stderr).
        on_record: called with each record as it is written (e.g. to plot as results arrive).

    Ctrl-C cancels the running tasks and raises ``KeyboardInterrupt``; the records written so far
    stay, and ``resume=True`` continues from them.
    """
    st = Store.create(store, spec, resume=resume)  # holds the store's lock until the run ends
    try:
        ray, started = start_ray(address, workers)
    except BaseException:
        st.close()
        raise
    total = int(spec.sweep["trials"]) if spec.sampler != "grid" else len(spec.trials())
    bar = Progress(total, spec, progress, log or _stderr)
    driver = _Driver(ray, spec, st, retry_failed, bar, bar.write, on_record)
    try:
        if spec.sampler == "nsga2":
            trials, records = _run_nsga2(driver, spec, ray)
        else:
            trials = spec.trials()
            records = driver.run(trials)
    except BaseException:
        driver.cancel()
        raise
    finally:
        bar.close()
        st.close()
        if started:
            ray.shutdown()
    return SweepResult(st, trials, [records.get(t.key) for t in trials], driver.ran, driver.reused, driver.retried)


# --- nsga2: Optuna's NSGA-II through Ray Tune ---------------------------------------------------

def tune_space(space: dict[str, Domain]) -> dict[str, Any]:
    """The parameter space as Optuna distributions, through Ray Tune's domains and Tune's own
    conversion (a choice becomes the index of its value, so lists and tables can be choices too)."""
    tune = require("ray.tune", "the nsga2 sampler (Ray Tune's Optuna integration)")
    from ray.tune.search.optuna import OptunaSearch

    out = {}
    for path, d in space.items():
        if d.choice is not None:
            out[path] = tune.choice(list(range(len(d.choice))))
        elif d.integer and d.log:
            out[path] = tune.lograndint(d.low, d.high + 1)  # upper bound exclusive
        elif d.integer:
            out[path] = tune.qrandint(d.low, d.high, d.step) if d.step else tune.randint(d.low, d.high + 1)
        else:
            out[path] = tune.loguniform(d.low, d.high) if d.log else tune.uniform(d.low, d.high)
    return OptunaSearch.convert_search_space(out)


def from_tune(space: dict[str, Domain], config: dict[str, Any]) -> dict[str, Any]:
    """Parameters from a configuration proposed on :func:`tune_space` (indices back to values)."""
    out = {}
    for path, d in space.items():
        v = config[path]
        out[path] = d.choice[int(v)] if d.choice is not None else (int(v) if d.integer else float(v))
    return out


def objective_values(spec: Spec, record: dict[str, Any] | None) -> dict[str, float] | None:
    """The record's value of every objective, or None when it has none (failed, or a target error)."""
    from .pareto import metrics

    if record is None or record["status"] != "done":
        return None
    values = metrics(record)
    out = {m: values.get(m) for m in spec.objectives}
    return None if any(v is None for v in out.values()) else out


def _run_nsga2(driver: _Driver, spec: Spec, ray) -> tuple[list[Trial], dict[str, dict[str, Any]]]:
    require("optuna", "the nsga2 sampler")
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n = int(spec.sweep["trials"])
    population = int(spec.sweep["population"] or min(n, DEFAULT_POPULATION))
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=spec.seed)
    searcher = OptunaSearch(space=tune_space(spec.space), metric=list(spec.objectives),
                            mode=list(spec.objectives.values()), sampler=sampler, seed=spec.seed)
    trials: list[Trial] = []
    records: dict[str, dict[str, Any]] = {}
    while len(trials) < n:
        batch = []
        for _ in range(min(population, n - len(trials))):
            tid = f"trial-{len(trials) + len(batch)}"
            batch.append((tid, spec.trial(from_tune(spec.space, searcher.suggest(tid)))))
        records.update(driver.run([t for _, t in batch]))
        for tid, t in batch:  # told in trial order: the next generation depends on the results only
            values = objective_values(spec, records.get(t.key))
            searcher.on_trial_complete(tid, result=values, error=values is None)
        trials += [t for _, t in batch]
    return trials, records


# --- progress -------------------------------------------------------------------------------------

class Progress:
    """A tqdm bar ``done / total`` with running / queued / failed counts and the ETA, plus one line per
    finished trial (printed above the bar, or alone when there is no bar)."""

    def __init__(self, total: int, spec: Spec, enabled: bool | None, log: Log) -> None:
        from tqdm import tqdm

        self.spec, self.log, self.total = spec, log, total
        self.done = self.failed = self.running = self.queued = 0
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = tqdm(total=total, desc=f"sweep {spec.name}", unit="trial", disable=not enabled, file=sys.stderr,
                        dynamic_ncols=True)

    def write(self, line: str) -> None:
        if self.bar.disable:
            self.log(line)
        else:
            self.bar.write(line, file=sys.stderr)

    def update_status(self, pending: int, slots: int) -> None:
        """``pending`` submitted trials of which at most ``slots`` run at once (the rest wait in Ray's queue)."""
        self.running, self.queued = min(pending, slots), max(0, pending - slots)
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"running {self.running}, queued {self.queued}, failed {self.failed}", refresh=False)

    def advance(self, record: dict[str, Any], reused: bool = False) -> None:
        from .pareto import summary

        self.done += 1
        self.failed += record["status"] != "done"
        self._postfix()
        self.bar.update(1)
        if not reused:
            self.write(f"[{self.done}/{self.total}] {summary(record, self.spec)}")

    def refresh(self) -> None:
        self.bar.refresh()

    def close(self) -> None:
        if self.done:
            self.write(f"sweep {self.spec.name}: {self.done} of {self.total} trials finished, {self.failed} failed")
        self.bar.close()
