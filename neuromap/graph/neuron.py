"""Neuron nodes: neuromap's discrete LIF / CuBa-LIF / LI stored as standard NIR nodes.

A neuromap neuron layer is written as a standard ``nir.LIF`` / ``nir.CubaLIF`` / ``nir.LI`` so that
any NIR tool can read it, **plus** the exact discrete parameters in the node's metadata so that
neuromap's own backends reproduce the trained model bit-exactly.

Continuous parameters (the "Euler-exact" mapping). With per-step decays ``beta`` (membrane) and
``alpha`` (synapse), step ``dt`` (s) and input gain ``g`` (1, or ``1 - beta`` with
``decay_input=True``; see :mod:`neuromap.neurons.params`)::

    tau     = dt / (1 - beta)          r    = g / (1 - beta)      (seconds, dimensionless)
    tau_syn = dt / (1 - alpha)         w_in = 1 / (1 - alpha)     (CubaLIF only)
    v_leak, v_threshold, v_reset       copied (per neuron)

A consumer that integrates NIR's ODE ``tau dv/dt = (v_leak - v) + r I`` with forward Euler at the
same ``dt`` gets ``v <- beta v + (1 - beta) v_leak + g I`` and ``I <- alpha I + x`` exactly: the
discrete dynamics of the trained model (this is also snnTorch's export convention). For
``integrator="exp"`` the stored ``tau`` is therefore the Euler-equivalent time constant, not
``tau_mem``; the exact ``tau_mem`` is in the metadata.

What NIR leaves open goes into ``node.metadata["neuromap"]`` (a dict that ``nir.write`` stores
as an HDF5 group and ``nir.read`` returns unchanged — checked in the tests):

* ``"model"``: ``"lif"``, ``"cuba"`` or ``"li"``;
* ``"params"``: ``json.dumps(LIFParams.to_dict())`` — dt, reset mode, v_reset, threshold rule,
  decay_input, reset_delay, refractory steps, integrator, ... (JSON keeps floats exact and avoids
  HDF5's scalar-type quirks);
* ``"beta"`` / ``"v_th"`` / ``"alpha"``: optional float32 arrays (learned per-neuron values,
  already clamped) that override the params' scalars, broadcast against the neuron shape;
* for ``"li"``: ``"params"`` is ``json.dumps({"beta", "gain", "v_leak", "dt"})``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

import nir
import numpy as np

from neuromap.neurons import registry
from neuromap.neurons.params import CubaLIFParams, LIFParams, params_from_dict

from .errors import GraphError
from .nodes import Neuron

META_KEY = "neuromap"
OVERRIDES = ("beta", "v_th", "alpha")


@dataclass
class LIFSpec:
    """A discrete LIF / CuBa-LIF layer: parameters plus optional per-neuron overrides.

    Attributes:
        shape: neuron shape (without time and batch axes).
        params: :class:`LIFParams` or :class:`CubaLIFParams` (dt in s, potentials arbitrary units).
        beta, v_th, alpha: float32 arrays broadcastable to ``shape`` overriding the params' values.
    """

    shape: tuple[int, ...]
    params: LIFParams
    beta: np.ndarray | None = None
    v_th: np.ndarray | None = None
    alpha: np.ndarray | None = None

    @property
    def model(self) -> str:
        return "cuba" if isinstance(self.params, CubaLIFParams) else "lif"

    def values(self, name: str) -> np.ndarray:
        """Per-neuron ``beta`` / ``v_th`` / ``alpha`` as a float64 array of ``shape``."""
        override = getattr(self, name)
        base = getattr(self.params, name)
        arr = np.asarray(override, dtype=np.float64) if override is not None else np.asarray(base, dtype=np.float64)
        return np.broadcast_to(arr, self.shape).astype(np.float64)


@dataclass
class LISpec:
    """A non-spiking leaky integrator ``v[t] = beta v[t-1] + (1 - beta) v_leak + gain x[t]``; with
    ``alpha`` a current-based one (NIR's ``CubaLI``: ``i[t] = alpha i[t-1] + x[t]`` feeds ``gain i[t]``).

    ``beta`` is stored exactly as the float32 value the module multiplies with. Each of ``beta``,
    ``gain``, ``v_leak`` and ``alpha`` is a float or float32 per-neuron values (broadcast to ``shape``).
    """

    shape: tuple[int, ...]
    beta: registry.LIValue
    gain: registry.LIValue = 1.0
    v_leak: registry.LIValue = 0.0
    dt: float = 1e-3
    alpha: registry.LIValue | None = None

    @property
    def model(self) -> str:
        return "li" if self.alpha is None else "cubali"

    def params(self) -> registry.LIParams:
        """The registry's typed parameters."""
        return registry.LIParams(self.beta, self.gain, self.v_leak, self.dt, self.alpha)

    def values(self, name: str) -> np.ndarray:
        """``beta`` / ``gain`` / ``v_leak`` / ``alpha`` per neuron (float64, ``shape``)."""
        return self.params().values(name, tuple(self.shape))


NeuronSpec = LIFSpec | LISpec


def _f32(a: Any) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float32)
    return arr.reshape(1) if arr.ndim == 0 else arr.copy()


def _safe_div(num: np.ndarray | float, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den == 0, np.inf, np.asarray(num, dtype=np.float64) / np.where(den == 0, 1.0, den))


def _li_to_nir(spec: LISpec, node_type: type | None) -> nir.NIRNode:
    shape, dt = tuple(spec.shape), spec.dt
    beta, gain, v_leak = spec.values("beta"), spec.values("gain"), spec.values("v_leak")
    meta = {META_KEY: {"model": spec.model, "params": json.dumps(spec.params().to_dict())}}
    if spec.alpha is not None:
        alpha = spec.values("alpha")
        return nir.CubaLI(tau_syn=_safe_div(dt, 1.0 - alpha), tau_mem=_safe_div(dt, 1.0 - beta),
                          r=_safe_div(gain, 1.0 - beta), v_leak=v_leak, w_in=_safe_div(np.ones(shape), 1.0 - alpha),
                          metadata=meta)
    if node_type is nir.I:  # dv/dt = R I: forward Euler adds dt R x
        return nir.I(r=gain / dt, metadata=meta)
    return nir.LI(tau=_safe_div(dt, 1.0 - beta), r=_safe_div(gain, 1.0 - beta), v_leak=v_leak, metadata=meta)


def spec_to_nir(spec: NeuronSpec, node_type: type | None = None) -> nir.NIRNode:
    """The standard NIR node of a neuron spec, with the exact discrete spec in its metadata.

    ``node_type``: the NIR node to write (default ``LIF`` / ``CubaLIF`` / ``LI`` / ``CubaLI``); an
    imported ``IF``, ``Threshold`` or ``I`` keeps its type (its spec has ``beta = 1``, ``0``, ``1``).
    """
    shape = tuple(spec.shape)
    if isinstance(spec, LISpec):
        return _li_to_nir(spec, node_type)
    p = spec.params
    beta = spec.values("beta")
    gain = (1.0 - beta) if p.decay_input else np.ones(shape)
    meta: dict[str, Any] = {"model": spec.model, "params": json.dumps(p.to_dict())}
    for name in OVERRIDES:
        if getattr(spec, name) is not None:
            meta[name] = _f32(getattr(spec, name))
    if node_type is nir.Threshold:  # beta = 0: the input itself is compared with the threshold
        return nir.Threshold(threshold=spec.values("v_th"), metadata={META_KEY: meta})
    if node_type is nir.IF:  # dv/dt = R I: forward Euler adds dt R x (the input gain is 1)
        return nir.IF(r=np.full(shape, 1.0 / p.dt), v_threshold=spec.values("v_th"),
                      v_reset=np.full(shape, p.v_reset, dtype=np.float64), metadata={META_KEY: meta})
    common = dict(
        r=_safe_div(gain, 1.0 - beta),
        v_leak=np.full(shape, p.v_leak, dtype=np.float64),
        v_threshold=spec.values("v_th"),
        v_reset=np.full(shape, p.v_reset, dtype=np.float64),
        metadata={META_KEY: meta},
    )
    if spec.model == "lif":
        return nir.LIF(tau=_safe_div(p.dt, 1.0 - beta), **common)
    alpha = spec.values("alpha")
    return nir.CubaLIF(
        tau_mem=_safe_div(p.dt, 1.0 - beta),
        tau_syn=_safe_div(p.dt, 1.0 - alpha),
        w_in=_safe_div(1.0, 1.0 - alpha),
        **common,
    )


def population_params(spec: NeuronSpec) -> registry.SpikingParams | registry.LIParams:
    """The typed population parameters (:mod:`neuromap.neurons.registry`) of a neuron spec."""
    if isinstance(spec, LISpec):
        return spec.params()
    return registry.SpikingParams(spec.params, spec.beta, spec.v_th, spec.alpha)


def registered_node(module: Any, shape: tuple[int, ...]) -> Neuron | None:
    """The ``neuromap.Neuron`` node of a registry module (e.g. :class:`neuromap.neurons.ALIF`), or None."""
    model = registry.for_module(module)
    if model is None:
        return None
    params = model.from_module(module)
    return Neuron(model=model.kind, params=json.dumps(params.to_dict()), shape=np.asarray(shape, dtype=np.int64))


def registered_params(node: Neuron, name: str = "?") -> tuple[registry.NeuronModel, Any]:
    """``(descriptor, typed parameters)`` of a ``neuromap.Neuron`` node (raises :class:`GraphError`)."""
    try:
        model = registry.get(node.model)
        params = model.coerce(json.loads(node.params), name)
    except (TypeError, ValueError) as exc:
        raise GraphError(f"node {name!r} (neuromap.Neuron): {exc}") from exc
    if params is None:
        raise GraphError(f"node {name!r} (neuromap.Neuron): no parameters for kind {node.model!r}")
    return model, params


def _as_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU" and value.size == 1:
        return _as_str(value.reshape(-1)[0])
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def has_spec(node: nir.NIRNode) -> bool:
    """Whether a node carries neuromap's exact discrete neuron parameters."""
    meta = getattr(node, "metadata", None)
    return isinstance(meta, dict) and isinstance(meta.get(META_KEY), dict) and "model" in meta[META_KEY]


def neuron_shape(node: nir.NIRNode) -> tuple[int, ...]:
    ref = next(getattr(node, f) for f in ("v_threshold", "threshold", "v_leak", "r") if hasattr(node, f))
    return tuple(int(s) for s in np.shape(ref))


def _node_models() -> dict[str, tuple[type, ...]]:
    """kind -> the NIR node types that may hold it (the registry's ``nir_type`` and ``nir_aliases``)."""
    return {m.kind: tuple(getattr(nir, t) for t in (m.nir_type, *m.nir_aliases))
            for m in registry.models() if m.nir_type in ("LIF", "CubaLIF", "LI", "CubaLI")}


def _li_spec(raw: dict, shape: tuple[int, ...], name: str, cuba: bool) -> LISpec:
    try:
        spec = LISpec(shape, registry.li_value(raw["beta"]), registry.li_value(raw["gain"]),
                      registry.li_value(raw["v_leak"]), float(raw["dt"]),
                      registry.li_value(raw["alpha"]) if cuba else None)
        values = [spec.values(k) for k in ("beta", "gain", "v_leak") + (("alpha",) if cuba else ())]
    except (KeyError, TypeError, ValueError) as exc:
        raise GraphError(f"node {name!r}: malformed LI parameters ({exc})") from exc
    if not (all(np.all(np.isfinite(v)) for v in values) and math.isfinite(spec.dt)):
        raise GraphError(f"node {name!r}: LI parameters contain NaN or inf")
    return spec


def spec_from_nir(node: nir.NIRNode, name: str = "?") -> NeuronSpec:
    """Read the exact discrete spec back from a neuron node's metadata (raises :class:`GraphError`)."""
    if not has_spec(node):
        raise GraphError(f"node {name!r} ({type(node).__name__}) has no neuromap neuron metadata")
    meta = node.metadata[META_KEY]
    try:
        model = _as_str(meta["model"])
        raw = json.loads(_as_str(meta["params"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise GraphError(f"node {name!r}: malformed neuromap neuron metadata ({exc})") from exc
    standard = _node_models()
    if model not in standard:
        raise GraphError(f"node {name!r}: unknown neuron model {model!r}; known: {list(standard)}")
    if type(node) not in standard[model]:
        raise GraphError(f"node {name!r}: metadata model {model!r} does not match node type {type(node).__name__}")
    shape = neuron_shape(node)
    if model in ("li", "cubali"):
        return _li_spec(raw, shape, name, model == "cubali")
    try:
        params = params_from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise GraphError(f"node {name!r}: invalid neuron parameters ({exc})") from exc
    if (model == "cuba") != isinstance(params, CubaLIFParams):
        raise GraphError(f"node {name!r}: metadata model {model!r} does not match parameters {type(params).__name__}")
    over: dict[str, np.ndarray | None] = {}
    for key in OVERRIDES:
        if key in meta:
            arr = np.asarray(meta[key], dtype=np.float32)
            if not np.all(np.isfinite(arr)):
                raise GraphError(f"node {name!r}: per-neuron {key} contains NaN or inf")
            try:
                np.broadcast_to(arr, shape)
            except ValueError as exc:
                raise GraphError(
                    f"node {name!r}: per-neuron {key} of shape {arr.shape} does not fit neurons {shape}"
                ) from exc
            over[key] = arr
    if "alpha" in over and model != "cuba":
        raise GraphError(f"node {name!r}: a LIF has no synaptic decay alpha")
    return LIFSpec(shape, params, over.get("beta"), over.get("v_th"), over.get("alpha"))


_FIELD_RTOL = 1e-5  # NIR fields are stored as float32 by some writers; a real edit is far larger


def check_nir_fields(node: nir.NIRNode, name: str = "?") -> None:
    """Raise :class:`GraphError` if a node's standard NIR fields disagree with its neuromap metadata.

    Other NIR tools read and write only the standard fields; if one was edited after neuromap wrote
    the file, running the metadata's parameters would silently ignore the edit. The message names
    the node, the field, both values and the two ways out.
    """
    spec = spec_from_nir(node, name)
    expected = spec_to_nir(spec, type(node))
    for f in dataclasses.fields(expected):
        if f.name in ("metadata", "input_type", "output_type"):
            continue
        want = np.asarray(getattr(expected, f.name), dtype=np.float64)
        try:
            got = np.broadcast_to(np.asarray(getattr(node, f.name), dtype=np.float64), want.shape)
        except (TypeError, ValueError) as exc:
            raise GraphError(f"node {name!r}: NIR field {f.name} of shape {np.shape(getattr(node, f.name))} "
                             f"does not fit its neuromap metadata's neurons {want.shape}") from exc
        same = np.isclose(got, want, rtol=_FIELD_RTOL, atol=1e-12) | (np.isinf(got) & np.isinf(want) & (got == want))
        if not np.all(same):
            i = np.unravel_index(int(np.argmin(same)), want.shape) if want.ndim else ()
            raise GraphError(
                f"node {name!r}: NIR field {f.name} = {got[i]:.6g} but neuromap's metadata in the same node gives "
                f"{want[i]:.6g}: the file was edited outside neuromap. Remove the node's '{META_KEY}' metadata to run "
                "the NIR fields, or restore them"
            )
