"""A vectorised emulator of a Loihi fixed-point network (the arithmetic of :mod:`.fixed_point`).

A :class:`LoihiNetwork` is populations of Loihi LIF compartments (integer ``du``, ``dv``, ``vth``,
``bias_mant``, ``bias_exp``) and connections with integer weights (dense or CSR) and a
``weight_exp``, fed by spike inputs. :meth:`LoihiNetwork.run` simulates a batch of input spike
trains at once and reproduces Lava's ``Loihi2SimCfg(select_tag="fixed_pt")`` bit-exactly,
including its timing: every connection (Lava's Dense/Sparse process) delivers the spikes of step
``t`` at step ``t + 1``, so an input spike at step ``t`` reaches the first layer's current at
``t + 1`` and layer ``k`` at ``t + k``; recurrent connections are delayed the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from . import fixed_point as fx


def _int_array(value, size: int, name: str, lo: int, hi: int) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(value, dtype=np.int64), (size,)).copy()
    if arr.min() < lo or arr.max() > hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got range [{arr.min()}, {arr.max()}]")
    return arr


@dataclass
class LoihiLIF:
    """A population of Loihi CUBA-LIF compartments (all values are Loihi integers).

    ``du``/``dv``: 12-bit current / voltage decays (0..4095; ``du`` is offset by +1 in
    hardware), ``vth``: 17-bit threshold mantissa (spike when ``v > vth << 6``), ``bias_mant``:
    13-bit signed bias mantissa (-4096..4095), ``bias_exp``: 3-bit exponent, ``u0``/``v0``: the
    initial current and voltage (24-bit signed, Lava's ``LIF(u=..., v=...)``). Scalars or per-neuron arrays.
    """

    name: str
    size: int
    du: int | np.ndarray = 0
    dv: int | np.ndarray = 0
    vth: int | np.ndarray = 100
    bias_mant: int | np.ndarray = 0
    bias_exp: int | np.ndarray = 0
    u0: int | np.ndarray = 0
    v0: int | np.ndarray = 0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"population {self.name!r}: size must be positive")
        self.du = _int_array(self.du, self.size, f"{self.name}.du", 0, fx.MAX_DECAY)
        self.dv = _int_array(self.dv, self.size, f"{self.name}.dv", 0, fx.MAX_DECAY)
        self.vth = _int_array(self.vth, self.size, f"{self.name}.vth", 0, fx.MAX_VTH_MANT)
        self.bias_mant = _int_array(self.bias_mant, self.size, f"{self.name}.bias_mant", fx.MIN_BIAS_MANT,
                                    fx.MAX_BIAS_MANT)
        self.bias_exp = _int_array(self.bias_exp, self.size, f"{self.name}.bias_exp", -fx.MAX_BIAS_EXP,
                                   fx.MAX_BIAS_EXP)
        self.u0 = _int_array(self.u0, self.size, f"{self.name}.u0", -fx.MAX_UV + 1, fx.MAX_UV - 1)
        self.v0 = _int_array(self.v0, self.size, f"{self.name}.v0", -fx.MAX_UV + 1, fx.MAX_UV - 1)


@dataclass
class LoihiConnection:
    """Integer synapses ``src -> dst``: ``weights [dst.size, src.size]`` (dense or CSR) scaled by
    ``2**weight_exp``; ``num_weight_bits`` of precision (Lava's truncation); ``sign_mode`` is Lava's
    (``"mixed"`` / ``"excitatory"`` / ``"inhibitory"``; ``None``: from the weights, as Lava does).
    ``delays``: extra steps per synapse (one number, or ``[dst.size, src.size]`` integers in
    0..63, Loihi 2's 6 bits) on top of the one step every connection takes: Lava's ``DelayDense``."""

    src: str
    dst: str
    weights: np.ndarray | sp.csr_matrix
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: str | None = None
    delays: int | np.ndarray = 0

    def __post_init__(self) -> None:
        d = np.asarray(self.delays)
        if d.ndim not in (0, 2) or (d.ndim == 2 and d.shape != tuple(self.weights.shape)):
            raise ValueError(f"connection {self.src}->{self.dst}: delays must be one number or an array of the "
                             f"weights' shape {tuple(self.weights.shape)}, got shape {d.shape}")
        if d.size and (d.dtype.kind not in "iu" or d.min() < 0 or d.max() > fx.MAX_DELAY):
            raise ValueError(f"connection {self.src}->{self.dst}: delays must be integers in [0, {fx.MAX_DELAY}] "
                             "(Loihi 2's 6-bit synaptic delay)")
        if self.sign_mode is not None and self.sign_mode not in fx.SIGN_MODES:
            raise ValueError(f"connection {self.src}->{self.dst}: sign_mode must be one of {list(fx.SIGN_MODES)}, "
                             f"got {self.sign_mode!r}")
        if not -8 <= self.weight_exp <= 7:
            raise ValueError(f"connection {self.src}->{self.dst}: weight_exp must lie in [-8, 7], got {self.weight_exp}")
        data = self.weights.data if sp.issparse(self.weights) else np.asarray(self.weights)
        if not np.all(np.isfinite(data)) or np.any(np.asarray(data) != np.round(data)):
            raise ValueError(f"connection {self.src}->{self.dst}: weights must be finite integers")

    @property
    def effective(self):
        """The weights as Lava uses them after clipping and truncation."""
        return fx.effective_weights(self.weights, self.num_weight_bits, self.sign_mode)

    @property
    def max_delay(self) -> int:
        return int(np.max(self.delays))

    def by_delay(self) -> list[np.ndarray | sp.csr_matrix]:
        """The effective weights split by delay: entry ``k`` holds the synapses of delay ``k`` (Lava's
        ``get_delay_wgts_mat``); one entry when the delay is one number (placed at that delay)."""
        w = self.effective
        d = np.asarray(self.delays)
        if d.ndim == 0:
            return [w if k == int(d) else None for k in range(int(d) + 1)]
        dense = w.toarray() if sp.issparse(w) else np.asarray(w)
        return [np.where(d == k, dense, 0) for k in range(self.max_delay + 1)]


@dataclass
class LoihiRecord:
    """Per-population traces ``[T, B, N]``: spikes (bool), current ``u`` and voltage ``v`` (int64)."""

    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    u: dict[str, np.ndarray] = field(default_factory=dict)
    v: dict[str, np.ndarray] = field(default_factory=dict)
    wall_seconds: float = 0.0


@dataclass
class LoihiNetwork:
    """Inputs (name -> size), LIF populations and connections; ``run`` simulates a batch."""

    inputs: dict[str, int]
    populations: list[LoihiLIF]
    connections: list[LoihiConnection]

    def __post_init__(self) -> None:
        names = list(self.inputs) + [p.name for p in self.populations]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate population / input names in {names}")
        sizes = {**self.inputs, **{p.name: p.size for p in self.populations}}
        for c in self.connections:
            if c.src not in sizes:
                raise ValueError(f"connection source {c.src!r} is not an input or population ({names})")
            if c.dst not in {p.name for p in self.populations}:
                raise ValueError(f"connection target {c.dst!r} is not a population")
            if tuple(c.weights.shape) != (sizes[c.dst], sizes[c.src]):
                raise ValueError(
                    f"connection {c.src}->{c.dst}: weights shape {tuple(c.weights.shape)} != "
                    f"({sizes[c.dst]}, {sizes[c.src]})"
                )
        self._sizes = sizes

    def run(self, inputs: dict[str, np.ndarray], record_state: bool = True) -> LoihiRecord:
        """Simulate ``T`` steps for input spikes ``{name: [T, B, N] bool}``."""
        missing = set(self.inputs) - set(inputs)
        if missing:
            raise ValueError(f"missing input spike trains for {sorted(missing)}")
        T = B = None
        spikes_in = {}
        for name, arr in inputs.items():
            if name not in self.inputs:
                raise ValueError(f"unknown input {name!r}; inputs are {list(self.inputs)}")
            a = np.asarray(arr)
            if a.ndim != 3 or a.shape[2] != self.inputs[name]:
                raise ValueError(f"input {name!r} must have shape [T, B, {self.inputs[name]}], got {a.shape}")
            if T is None:
                T, B = a.shape[:2]
            elif a.shape[:2] != (T, B):
                raise ValueError("all inputs must share T and B")
            spikes_in[name] = a.astype(bool)
        t0 = time.perf_counter()
        groups = [c.by_delay() for c in self.connections]
        state = {p.name: (np.broadcast_to(p.u0.astype(np.int32), (B, p.size)).copy(),
                          np.broadcast_to(p.v0.astype(np.int32), (B, p.size)).copy()) for p in self.populations}
        bias = {p.name: fx.effective_bias(p.bias_mant, p.bias_exp) for p in self.populations}
        # synaptic input in flight (Lava's a_buff): slot k is delivered k + 1 steps after it was computed
        buffers = [[np.zeros((B, self._sizes[c.dst]), np.int32) for _ in g] for c, g in zip(self.connections, groups)]
        last = {name: np.zeros((B, self._sizes[name]), bool) for name in self._sizes}
        rec = LoihiRecord()
        for p in self.populations:
            rec.spikes[p.name] = np.zeros((T, B, p.size), bool)
            if record_state:
                rec.u[p.name] = np.zeros((T, B, p.size), np.int64)
                rec.v[p.name] = np.zeros((T, B, p.size), np.int64)
        for t in range(T):
            a_in = {p.name: np.zeros((B, p.size), np.int32) for p in self.populations}
            for c, buf in zip(self.connections, buffers):
                a_in[c.dst] += buf[0]  # int32, wrapping, as Lava's in-port adds its connections' messages
            for name in self.inputs:
                last[name] = spikes_in[name][t]
            for p in self.populations:
                u, v = state[p.name]
                u, v, s = fx.lif_step(u, v, a_in[p.name], p.du, p.dv, p.vth, bias[p.name])
                state[p.name] = (u, v)
                last[p.name] = s
                rec.spikes[p.name][t] = s
                if record_state:
                    rec.u[p.name][t] = u
                    rec.v[p.name][t] = v
            for c, g, buf in zip(self.connections, groups, buffers):
                buf.append(buf.pop(0))
                buf[-1][...] = 0
                for k, w in enumerate(g):
                    if w is not None:  # int32 accumulation wraps, as Lava's a_buff += ...
                        buf[k] += fx.synaptic_input(w, last[c.src], c.weight_exp)
        rec.wall_seconds = time.perf_counter() - t0
        return rec
