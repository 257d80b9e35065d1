"""A vectorised emulator of a Loihi fixed-point network (the arithmetic of :mod:`.fixed_point`).

A :class:`LoihiNetwork` is populations of Loihi LIF compartments (integer ``du``, ``dv``, ``vth``,
``bias_mant``, ``bias_exp``) and connections with integer weights (dense or CSR) and a
``weight_exp``, fed by spike inputs. :meth:`LoihiNetwork.run` simulates a batch of input spike
trains at once and reproduces Lava's ``Loihi2SimCfg(select_tag="fixed_pt")`` bit-exactly,
including its timing: every connection (Lava's Dense/Sparse process) delivers the spikes of step
``t`` at step ``t + 1``, so an input spike at step ``t`` reaches the first layer's current at
``t + 1`` and layer ``k`` at ``t + k``; recurrent connections are delayed the same way.

Loihi 2's graded-spike mode runs here too: :class:`LoihiSigmaDelta` populations (Lava's ``Sigma``,
``Delta`` and ``SigmaDelta`` fixed-point models) send int32 graded spikes, which connections multiply
into their weights (:func:`~.fixed_point.graded_input`). An input may also feed a population without
a synapse (``LoihiNetwork.direct``): a LIF takes it as its bias mantissa (how lava-dl's netx drives an
input layer with an image) and a sigma-delta population as its ``a_in`` in the same step (a
``RingBuffer`` wired to the neuron). A LIF with ``reset_interval`` zeroes ``u`` and ``v`` before every
step ``t = reset_phase (mod reset_interval)`` (0-based; Lava's ``LIFReset``).
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
    reset_interval: int = 0  # 0: never reset (Lava's LIF); else Lava's LIFReset schedule
    reset_phase: int = 0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"population {self.name!r}: size must be positive")
        if self.reset_interval < 0 or (self.reset_interval and not 0 <= self.reset_phase):
            raise ValueError(f"population {self.name!r}: reset_interval must be >= 0 and reset_phase >= 0")
        self.du = _int_array(self.du, self.size, f"{self.name}.du", 0, fx.MAX_DECAY)
        self.dv = _int_array(self.dv, self.size, f"{self.name}.dv", 0, fx.MAX_DECAY)
        self.vth = _int_array(self.vth, self.size, f"{self.name}.vth", 0, fx.MAX_VTH_MANT)
        self.bias_mant = _int_array(self.bias_mant, self.size, f"{self.name}.bias_mant", fx.MIN_BIAS_MANT,
                                    fx.MAX_BIAS_MANT)
        self.bias_exp = _int_array(self.bias_exp, self.size, f"{self.name}.bias_exp", -fx.MAX_BIAS_EXP,
                                   fx.MAX_BIAS_EXP)
        self.u0 = _int_array(self.u0, self.size, f"{self.name}.u0", -fx.MAX_UV + 1, fx.MAX_UV - 1)
        self.v0 = _int_array(self.v0, self.size, f"{self.name}.v0", -fx.MAX_UV + 1, fx.MAX_UV - 1)


    def resets_at(self, t: int) -> bool:
        """Whether ``u`` and ``v`` are zeroed before step ``t`` (0-based)."""
        return bool(self.reset_interval) and t % self.reset_interval == self.reset_phase % self.reset_interval


SD_MODES = ("sigma_delta", "delta", "sigma")


@dataclass
class LoihiSigmaDelta:
    """A population of Loihi 2 sigma-delta neurons (Lava's fixed-point models; integers).

    ``mode``: ``"sigma_delta"`` (sigma decoder, ``relu`` or unit activation of ``sigma + bias``, delta
    encoder: Lava's ``SigmaDelta``), ``"delta"`` (the input's encoder: ``a_in << (spike_exp + state_exp)``,
    no sigma, no bias: ``Delta``) or ``"sigma"`` (decoder only, sends ``sigma`` every step: ``Sigma``).
    ``vth`` / ``bias``: mantissas, scaled by ``2**(spike_exp + state_exp)`` as Lava does.
    """

    name: str
    size: int
    vth: int = 0
    bias: int | np.ndarray = 0
    mode: str = "sigma_delta"
    relu: bool = True
    cum_error: bool = False
    spike_exp: int = 6
    state_exp: int = 6

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"population {self.name!r}: size must be positive")
        if self.mode not in SD_MODES:
            raise ValueError(f"population {self.name!r}: mode must be one of {list(SD_MODES)}, got {self.mode!r}")
        if not (0 <= self.spike_exp <= 7 and 0 <= self.state_exp <= 7):
            raise ValueError(f"population {self.name!r}: spike_exp and state_exp are 3-bit (0..7)")
        shift = self.spike_exp + self.state_exp
        self.bias = _int_array(self.bias, self.size, f"{self.name}.bias", -(2**15), 2**15 - 1)  # Lava: 16-bit bias
        if not 0 <= int(self.vth) << shift < fx.MAX_UV:
            raise ValueError(f"population {self.name!r}: vth << {shift} must fit the 24-bit state, got vth={self.vth}")

    @property
    def scaled(self) -> tuple[np.int32, np.ndarray]:
        """``(vth, bias)`` as Lava's process holds them (``<< spike_exp + state_exp``), int32."""
        shift = self.spike_exp + self.state_exp
        return np.int32(int(self.vth) << shift), np.left_shift(self.bias.astype(np.int32), np.int32(shift))


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
    sigma: dict[str, np.ndarray] = field(default_factory=dict)  # sigma-delta populations: the decoder state


@dataclass
class LoihiNetwork:
    """Inputs (name -> size), populations and connections; ``run`` simulates a batch.

    ``direct``: population -> the input it reads without a synapse, in the same step (a LIF as its
    bias mantissa, a sigma-delta population as its ``a_in``); such an input carries integers."""

    inputs: dict[str, int]
    populations: list[LoihiLIF | LoihiSigmaDelta]
    connections: list[LoihiConnection]
    direct: dict[str, str] = field(default_factory=dict)

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
        pops = {p.name: p for p in self.populations}
        for pop, inp in self.direct.items():
            if pop not in pops or inp not in self.inputs or pops[pop].size != self.inputs[inp]:
                raise ValueError(f"direct input {inp!r} -> {pop!r}: needs an input and a population of one size")
        self._sizes = sizes

    def _check_inputs(self, inputs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int, int]:
        """``({name: [T, B, N]}, T, B)``: spikes as bool, direct inputs as int64 (checked integers)."""
        missing = set(self.inputs) - set(inputs)
        if missing:
            raise ValueError(f"missing input spike trains for {sorted(missing)}")
        T = B = None
        graded = set(self.direct.values())
        out = {}
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
            if name in graded and np.any(a != np.round(a)):
                raise ValueError(f"input {name!r} feeds a neuron directly and must hold integers")
            out[name] = a.astype(np.int64) if name in graded else a.astype(bool)
        return out, T, B

    def run(self, inputs: dict[str, np.ndarray], record_state: bool = True) -> LoihiRecord:
        """Simulate ``T`` steps for inputs ``{name: [T, B, N]}`` (spikes; integers for direct inputs)."""
        values, T, B = self._check_inputs(inputs)
        t0 = time.perf_counter()
        groups = [c.by_delay() for c in self.connections]
        graded = {p.name for p in self.populations if isinstance(p, LoihiSigmaDelta)}
        state = {p.name: _initial(p, B) for p in self.populations}
        bias = {p.name: fx.effective_bias(p.bias_mant, p.bias_exp) for p in self.populations
                if isinstance(p, LoihiLIF)}
        # synaptic input in flight (Lava's a_buff): slot k is delivered k + 1 steps after it was computed
        buffers = [[np.zeros((B, self._sizes[c.dst]), np.int32) for _ in g] for c, g in zip(self.connections, groups)]
        last = {name: np.zeros((B, self._sizes[name]), np.int32 if name in graded else bool) for name in self._sizes}
        rec = _empty_record(self.populations, T, B, record_state)
        for t in range(T):
            a_in = {p.name: np.zeros((B, p.size), np.int32) for p in self.populations}
            for c, buf in zip(self.connections, buffers):
                a_in[c.dst] += buf[0]  # int32, wrapping, as Lava's in-port adds its connections' messages
            for name in self.inputs:
                last[name] = values[name][t]
            for p in self.populations:
                x = values[self.direct[p.name]][t] if p.name in self.direct else None
                if isinstance(p, LoihiLIF):
                    s = _lif(p, state, a_in[p.name], bias[p.name], x, t)
                else:
                    s = _sigma_delta(p, state, a_in[p.name], x)
                last[p.name] = s
                _record(rec, p, state[p.name], s, t, record_state)
            for c, g, buf in zip(self.connections, groups, buffers):
                buf.append(buf.pop(0))
                buf[-1][...] = 0
                send = fx.graded_input if c.src in graded else fx.synaptic_input
                for k, w in enumerate(g):
                    if w is not None:  # int32 accumulation wraps, as Lava's a_buff += ...
                        buf[k] += send(w, last[c.src], c.weight_exp)
        rec.wall_seconds = time.perf_counter() - t0
        return rec


def _initial(p: LoihiLIF | LoihiSigmaDelta, B: int) -> dict[str, np.ndarray]:
    """A population's state at step 0: a LIF's initial ``u`` / ``v`` (``u0`` / ``v0``), else zeros."""
    if isinstance(p, LoihiLIF):
        return {k: np.broadcast_to(x.astype(np.int32), (B, p.size)).copy() for k, x in (("u", p.u0), ("v", p.v0))}
    return {k: np.zeros((B, p.size), np.int32) for k in ("sigma", "act", "residue", "error")}


def _lif(p: LoihiLIF, state: dict, a_in: np.ndarray, bias: np.ndarray, x: np.ndarray | None, t: int) -> np.ndarray:
    st = state[p.name]
    if p.resets_at(t):
        st["u"], st["v"] = np.zeros_like(st["u"]), np.zeros_like(st["v"])
    if x is not None:  # the input is the bias mantissa of this step (lava-dl netx's input layer)
        bias = fx.effective_bias(p.bias_mant + x, p.bias_exp)
    st["u"], st["v"], s = fx.lif_step(st["u"], st["v"], a_in, p.du, p.dv, p.vth, bias)
    return s


def _sigma_delta(p: LoihiSigmaDelta, state: dict, a_in: np.ndarray, x: np.ndarray | None) -> np.ndarray:
    st = state[p.name]
    if x is not None:
        a_in = (a_in + x).astype(np.int32)
    vth, bias = p.scaled
    if p.mode == "sigma":
        st["sigma"] = (a_in + st["sigma"]).astype(np.int32)
        return st["sigma"]
    if p.mode == "delta":
        st["act"], st["residue"], st["error"], s = fx.delta_step(a_in, st["act"], st["residue"], st["error"], vth,
                                                                 p.cum_error, p.spike_exp, p.state_exp)
        return s
    st["sigma"], st["act"], st["residue"], st["error"], s = fx.sigma_delta_step(
        a_in, st["sigma"], st["act"], st["residue"], st["error"], vth, bias, p.relu, p.cum_error, p.state_exp)
    return s


def _empty_record(pops: list, T: int, B: int, record_state: bool) -> LoihiRecord:
    rec = LoihiRecord()
    for p in pops:
        lif = isinstance(p, LoihiLIF)
        rec.spikes[p.name] = np.zeros((T, B, p.size), bool if lif else np.int32)
        if record_state:
            for d in (rec.u, rec.v) if lif else (rec.sigma,):
                d[p.name] = np.zeros((T, B, p.size), np.int64)
    return rec


def _record(rec: LoihiRecord, p, st: dict, s: np.ndarray, t: int, record_state: bool) -> None:
    rec.spikes[p.name][t] = s
    if not record_state:
        return
    if isinstance(p, LoihiLIF):
        rec.u[p.name][t], rec.v[p.name][t] = st["u"], st["v"]
    else:
        rec.sigma[p.name][t] = st["sigma"]
