"""A sweep definition: what to build, train, quantise and price, and which parameters vary.

A :class:`Spec` is read from TOML (:func:`load_spec`) or built in Python (:meth:`Spec.from_dict`)::

    [sweep]
    name = "digits_pareto"
    sampler = "grid"              # grid | random | nsga2 (Optuna's NSGA-II through Ray Tune)
    seed = 0                      # trials without a "seed" parameter use it; random / nsga2 draw with it

    [model]
    builder = "SpikingMLP"        # a name in neuromap.networks, or "package.module:callable"
    n_in = 64                     # every other key is a keyword argument of the builder
    hidden = [64]
    n_out = 10

    [data]
    name = "digits"               # a data set of neuromap.data.load; other keys are its arguments
    steps = 25

    [train]                       # neuromap.train.fit
    epochs = 3
    lr = 2e-3

    [quantize]                    # optional: QAT after the float training (neuromap.quantize)
    bits = 4                      # 1..8, or "float" for none
    epochs = 1

    [[target]]
    name = "loihi2"
    [[target]]
    name = "spinnaker2"
    operating_points = [{ operating_point = 0 }, { operating_point = 1 }]

    [space]                       # dotted paths into the sections above, or "seed"
    "model.hidden" = { choice = [[16], [64]] }
    "data.steps" = { choice = [5, 25] }

    [objectives]                  # what "better" means (the nsga2 sampler and the overall front)
    maximize = ["accuracy"]
    minimize = ["energy@loihi2"]

    [resources]                   # per trial: one Ray task with this request
    cpus = 1
    gpus = 0
    max_retries = 2               # re-runs of a trial whose worker died, then it is recorded as lost

Every trial is a fully resolved, JSON-serialisable configuration (:class:`Trial`); its
:attr:`Trial.key` hashes that configuration, so the same parameters and seed always give the same
key (the results store's file name) and the same numbers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuromap.errors import InputError, NeuromapError

SAMPLERS = ("grid", "random", "nsga2")
SECTIONS = ("sweep", "model", "data", "train", "quantize", "evaluate", "target", "space", "objectives", "resources")
FLOAT = "float"  # quantize.bits value meaning "no quantisation"
#: The defaults of every section's fixed keys (the model's and data set's own arguments are free).
DEFAULTS: dict[str, dict[str, Any]] = {
    "sweep": {"name": "sweep", "sampler": "grid", "seed": 0, "trials": None, "population": None},
    "train": {"epochs": 3, "lr": 2e-3, "batch_size": 64, "loss": "count_ce"},
    "quantize": {"bits": FLOAT, "epochs": 1, "lr": 1e-3, "function": "neuromap.quantize:quantize", "kwargs": {}},
    "evaluate": {"samples": 64},
    "resources": {"cpus": 1, "gpus": 0, "max_retries": 2},
}
DOMAIN_KEYS = ("choice", "int", "float", "log", "step")


class SpecError(InputError):
    """A sweep definition is malformed; the message names the file, the key and what is expected."""


@dataclass(frozen=True)
class Domain:
    """One parameter's values: ``choice`` (a list, any JSON values), or ``int`` / ``float`` ranges
    ``[low, high]`` (inclusive) with ``log`` spacing and an integer ``step``."""

    path: str
    choice: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    integer: bool = False
    log: bool = False
    step: int | None = None

    def sample(self, rng) -> Any:
        """One value drawn with the numpy ``Generator`` ``rng``."""
        if self.choice is not None:
            return self.choice[int(rng.integers(len(self.choice)))]
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            v = rng.uniform(self.low, self.high)
        if not self.integer:
            return float(v)
        step = self.step or 1
        return int(min(self.high, self.low + step * round((v - self.low) / step)))  # on the grid low + k * step


@dataclass(frozen=True)
class TargetPoint:
    """A target at one operating point: ``options`` are :class:`neuromap.energy.Options` fields
    (``batch``, ``gpu_mode``, ``operating_point``, ``realtime``); ``label`` names its column."""

    target: str
    options: Mapping[str, Any]
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "options": dict(self.options), "label": self.label}


@dataclass(frozen=True)
class Trial:
    """One point of the sweep: ``params`` (the varied values), ``seed`` and the whole ``config``."""

    params: dict[str, Any]
    seed: int
    config: dict[str, Any]

    @property
    def key(self) -> str:
        """16 hex digits of the SHA-256 of the canonical JSON of ``config`` (which holds the seed)."""
        return config_key(self.config)


def config_key(config: Mapping[str, Any]) -> str:
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class Spec:
    """A parsed, checked sweep definition (see the module docstring for the TOML form)."""

    sweep: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    train: dict[str, Any]
    quantize: dict[str, Any] | None
    evaluate: dict[str, Any]
    targets: list[TargetPoint]
    space: dict[str, Domain]
    objectives: dict[str, str]  # metric -> "max" | "min", in the order given
    resources: dict[str, Any]
    source: str = "<dict>"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.sweep["name"])

    @property
    def sampler(self) -> str:
        return str(self.sweep["sampler"])

    @property
    def seed(self) -> int:
        return int(self.sweep["seed"])

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "<dict>") -> Spec:
        """Check ``raw`` (the TOML's tables) and fill the defaults; :class:`SpecError` names what is wrong."""
        try:
            raw = json.loads(json.dumps(raw, allow_nan=False))  # a private, JSON-clean copy
        except (TypeError, ValueError) as exc:  # a TOML date, nan or inf: no JSON for the record's key
            raise SpecError(f"{source}: {exc} (a sweep holds strings, numbers, booleans, lists and tables)") from exc
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise SpecError(f"{source}: unknown section(s) {unknown}; a sweep has {list(SECTIONS)}")
        for need in ("model", "data", "target"):
            if need not in raw:
                raise SpecError(f"{source}: the [{need}] section is missing")
        sweep = _fixed(raw, "sweep", source)
        spec = cls(
            sweep=sweep,
            model=_free(raw, "model", "builder", source),
            data=_free(raw, "data", "name", source),
            train=_fixed(raw, "train", source),
            quantize=_fixed(raw, "quantize", source) if "quantize" in raw else None,
            evaluate=_fixed(raw, "evaluate", source),
            targets=_targets(raw["target"], source),
            space=_space(raw.get("space", {}), source),
            objectives=_objectives(raw.get("objectives", {}), source) or {},
            resources=_fixed(raw, "resources", source),
            source=source,
            raw=raw,
        )
        if not spec.objectives:  # the default front: accuracy against energy on the first target
            spec.objectives = {"accuracy": "max", f"energy@{spec.targets[0].label}": "min"}
        spec.check()
        return spec

    def check(self) -> None:
        """Cross-section checks: sampler, counts, parameter paths, objective names."""
        src = self.source
        if self.sampler not in SAMPLERS:
            raise SpecError(f"{src}: sweep.sampler = {self.sampler!r} is not one of {list(SAMPLERS)}")
        _check_int(src, "sweep.seed", self.sweep["seed"], 0)
        for key, low in (("cpus", 0), ("gpus", 0), ("max_retries", 0)):
            value = self.resources[key]
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low):
                raise SpecError(f"{src}: resources.{key} = {value!r}: must be a number >= {low}")
        _check_int(src, "resources.max_retries", self.resources["max_retries"], 0)
        _check_int(src, "evaluate.samples", self.evaluate["samples"], 1)
        if self.sampler == "grid":
            ranged = [p for p, d in self.space.items() if d.choice is None]
            if ranged:
                raise SpecError(f"{src}: the grid sampler needs 'choice' lists; {ranged} are ranges "
                                "(use sampler = 'random' or 'nsga2', or list the values)")
            if self.sweep["trials"] is not None:
                raise SpecError(f"{src}: sweep.trials is for the random / nsga2 samplers; a grid has every combination")
        else:
            _check_int(src, "sweep.trials", self.sweep["trials"], 1)
        if self.sampler == "nsga2":
            if len(self.objectives) < 2:
                raise SpecError(f"{src}: the nsga2 sampler needs at least two [objectives] (maximize / minimize)")
            if self.sweep["population"] is not None:
                _check_int(src, "sweep.population", self.sweep["population"], 2)
        for path in self.space:
            self._check_path(path)
        if self.quantize is not None:
            from neuromap.quantize import BITS as QUANT_BITS

            bits = self.space.get("quantize.bits")
            for b in bits.choice if bits is not None and bits.choice is not None else (self.quantize["bits"],):
                if b != FLOAT and (isinstance(b, bool) or b not in QUANT_BITS):
                    raise SpecError(f"{src}: quantize.bits = {b!r}: must be one of {list(QUANT_BITS)} or {FLOAT!r}")
        seeds = self.space.get("seed")
        if seeds is not None:  # seeds are integers >= 0, whichever domain draws them
            for v in seeds.choice if seeds.choice is not None else (seeds.low,):
                _check_int(src, "seed", v, 0)
            if seeds.choice is None and not seeds.integer:
                raise SpecError(f"{src}: space parameter 'seed' must be a list or an int range")
        known = set(self.metric_names())
        bad = [m for m in self.objectives if m not in known]
        if bad:
            raise SpecError(f"{src}: objective(s) {bad} are not metrics of this sweep; metrics: {sorted(known)}")
        labels = [t.label for t in self.targets]
        if len(set(labels)) != len(labels):
            raise SpecError(f"{src}: two targets have the same label {sorted({x for x in labels if labels.count(x) > 1})}; "
                            "give each operating point a 'label'")

    def _check_path(self, path: str) -> None:
        if path == "seed":
            return
        section, _, key = path.partition(".")
        if not key or "." in key:
            raise SpecError(f"{self.source}: space parameter {path!r} must be 'seed' or 'SECTION.KEY' "
                            "(e.g. 'model.hidden', 'data.steps', 'train.lr', 'quantize.bits')")
        if section in ("model", "data"):
            if key in ("builder", "name"):
                raise SpecError(f"{self.source}: space parameter {path!r}: the {section} {key} cannot vary; "
                                "write one sweep per builder or data set")
            return
        if section == "quantize" and self.quantize is None:
            raise SpecError(f"{self.source}: space parameter {path!r} needs a [quantize] section")
        if section not in ("train", "quantize", "evaluate") or key not in DEFAULTS[section]:
            allowed = [f"{s}.{k}" for s in ("train", "quantize", "evaluate") for k in DEFAULTS[s]]
            raise SpecError(f"{self.source}: space parameter {path!r} is not a sweepable key; use 'seed', "
                            f"'model.<builder argument>', 'data.<data set argument>' or one of {allowed}")

    # --- trials ---------------------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        """Every metric a record carries: accuracy, model size, spikes, and energy / latency per target."""
        out = ["accuracy", "weight_bits", "spikes_per_sample"]
        for t in self.targets:
            out += [f"energy@{t.label}", f"latency@{t.label}"]
        return out

    def base_config(self) -> dict[str, Any]:
        """The configuration every trial starts from (before its parameters are set)."""
        return {
            "model": dict(self.model), "data": dict(self.data), "train": dict(self.train),
            "quantize": dict(self.quantize) if self.quantize is not None else None,
            "evaluate": dict(self.evaluate), "targets": [t.to_dict() for t in self.targets],
            "threads": max(1, int(self.resources["cpus"])), "seed": self.seed,
            "device": "cuda" if self.resources["gpus"] > 0 else "cpu",
        }

    def trial(self, params: Mapping[str, Any]) -> Trial:
        """The :class:`Trial` with ``params`` (``{path: value}``) set into :meth:`base_config`."""
        config = self.base_config()
        for path, value in params.items():
            if path == "seed":
                _check_int(self.source, "seed", value, 0)
                config["seed"] = int(value)
                continue
            section, _, key = path.partition(".")
            config[section][key] = value
        return Trial(dict(params), int(config["seed"]), config)

    def trials(self) -> list[Trial]:
        """Every trial of a grid (in the order of the space's keys) or the ``trials`` draws of the
        random sampler (seeded by ``sweep.seed``); a repeated draw is kept once. For ``nsga2`` the
        trials come from the sampler during the run (:mod:`neuromap.sweep.runner`)."""
        if self.sampler == "nsga2":
            raise ValueError("the nsga2 sampler proposes its trials during the run (neuromap.sweep.run_sweep)")
        if self.sampler == "grid":
            names = list(self.space)
            combos: Iterable[tuple] = itertools.product(*(self.space[n].choice for n in names))
            params = [dict(zip(names, c)) for c in combos]
        else:
            import numpy as np

            rng = np.random.default_rng(self.seed)
            params = [{n: d.sample(rng) for n, d in self.space.items()} for _ in range(int(self.sweep["trials"]))]
        seen, out = set(), []
        for p in params:
            t = self.trial(p)
            if t.key not in seen:
                seen.add(t.key)
                out.append(t)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The checked TOML tables (what :meth:`from_dict` reads back to an equal spec)."""
        return json.loads(json.dumps(self.raw))


# --- parsing helpers ------------------------------------------------------------------------------

def load_spec(path: str | Path) -> Spec:
    """Read and check a sweep TOML file; :class:`SpecError` (an ``InputError``) on any problem."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"sweep spec {path}: " + ("is a directory" if p.is_dir() else "no such file"))
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"sweep spec {path}: not valid TOML ({exc})") from exc
    return Spec.from_dict(raw, str(path))


def _check_int(src: str, name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"{src}: {name} = {value!r}: must be an integer >= {low}")


def _table(raw: Mapping[str, Any], section: str, src: str) -> dict[str, Any]:
    table = raw.get(section, {})
    if not isinstance(table, dict):
        raise SpecError(f"{src}: [{section}] must be a table, got {type(table).__name__}")
    return dict(table)


def _fixed(raw: Mapping[str, Any], section: str, src: str) -> dict[str, Any]:
    """A section with known keys: the defaults overridden by the file; an unknown key is an error."""
    table = _table(raw, section, src)
    unknown = sorted(set(table) - set(DEFAULTS[section]))
    if unknown:
        raise SpecError(f"{src}: unknown key(s) {unknown} in [{section}]; known: {sorted(DEFAULTS[section])}")
    return {**DEFAULTS[section], **table}


def _free(raw: Mapping[str, Any], section: str, required: str, src: str) -> dict[str, Any]:
    """A section of free keyword arguments with one required key (the builder / data set name)."""
    table = _table(raw, section, src)
    if not isinstance(table.get(required), str) or not table[required]:
        raise SpecError(f"{src}: [{section}] needs {required} = \"...\" (a string)")
    return table


def _targets(raw: Any, src: str) -> list[TargetPoint]:
    from neuromap import targets
    from neuromap.energy import Options

    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{src}: give at least one [[target]] with name = \"...\"")
    out = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise SpecError(f"{src}: target #{i + 1} needs name = \"...\" (a shipped target or a TOML path)")
        unknown = sorted(set(t) - {"name", "operating_points"})
        if unknown:
            raise SpecError(f"{src}: target {t['name']!r}: unknown key(s) {unknown}; known: name, operating_points")
        try:
            name = targets.load(t["name"]).name  # a bad name or file fails now, with the loader's message
        except (NeuromapError, OSError) as exc:
            raise SpecError(f"{src}: target #{i + 1}: {exc}") from exc
        points = t.get("operating_points", [{}])
        if not isinstance(points, list) or not points or not all(isinstance(p, dict) for p in points):
            raise SpecError(f"{src}: target {name!r}: operating_points must be a list of tables")
        for p in points:
            opts = {k: v for k, v in p.items() if k != "label"}
            try:
                Options(**opts)
            except TypeError as exc:
                raise SpecError(f"{src}: target {name!r}: operating point {p}: {exc} (fields: batch, gpu_mode, "
                                "operating_point, realtime)") from exc
            except ValueError as exc:
                raise SpecError(f"{src}: target {name!r}: operating point {p}: {exc}") from exc
            label = p.get("label") or (name + ("[" + ",".join(f"{k}={v}" for k, v in opts.items()) + "]" if opts else ""))
            out.append(TargetPoint(t["name"], opts, str(label)))
    return out


def _domain(path: str, raw: Any, src: str) -> Domain:
    if isinstance(raw, list):
        raw = {"choice": raw}
    if not isinstance(raw, dict) or sum(k in raw for k in ("choice", "int", "float")) != 1 \
            or set(raw) - set(DOMAIN_KEYS):
        raise SpecError(f"{src}: space parameter {path!r} must be a list, or one of {{ choice = [...] }}, "
                        "{ int = [low, high] } or { float = [low, high] } (with optional log = true, step = N)")
    if "choice" in raw:
        if not isinstance(raw["choice"], list) or not raw["choice"]:
            raise SpecError(f"{src}: space parameter {path!r}: choice must be a non-empty list")
        return Domain(path, choice=tuple(raw["choice"]))
    integer = "int" in raw
    bounds = raw["int" if integer else "float"]
    ok = isinstance(bounds, list) and len(bounds) == 2 and all(
        isinstance(b, int if integer else (int, float)) and not isinstance(b, bool) for b in bounds)
    if not ok or bounds[0] > bounds[1] or (raw.get("log") and bounds[0] <= 0):
        raise SpecError(f"{src}: space parameter {path!r}: needs [low, high] with low <= high"
                        + (" and low > 0 for log = true" if raw.get("log") else ""))
    step = raw.get("step")
    if step is not None and (not integer or not isinstance(step, int) or step < 1 or raw.get("log")):
        raise SpecError(f"{src}: space parameter {path!r}: step is an integer >= 1 for int ranges without log")
    return Domain(path, low=bounds[0], high=bounds[1], integer=integer, log=bool(raw.get("log")), step=step)


def _space(raw: Any, src: str) -> dict[str, Domain]:
    if not isinstance(raw, dict):
        raise SpecError(f"{src}: [space] must be a table of parameters")
    return {path: _domain(path, d, src) for path, d in raw.items()}


def _objectives(raw: Any, src: str) -> dict[str, str]:
    if not isinstance(raw, dict) or set(raw) - {"maximize", "minimize"}:
        raise SpecError(f"{src}: [objectives] takes maximize = [...] and minimize = [...] (metric names)")
    out: dict[str, str] = {}
    for sense, key in (("max", "maximize"), ("min", "minimize")):
        names = raw.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SpecError(f"{src}: objectives.{key} must be a list of metric names")
        for n in names:
            if n in out:
                raise SpecError(f"{src}: objective {n!r} is listed twice")
            out[n] = sense
    return out
