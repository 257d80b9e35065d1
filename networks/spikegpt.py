"""SpikeGPT — the spiking RWKV language model (Zhu, Zhao, Li & Eshraghian, arXiv 2302.13939, TMLR 2024).

Follows the reference code (github.com/ridgerchu/SpikeGPT, ``src/model.py`` and ``cuda/wkv_cuda.cu``
at commit 029f86f), time-major: the token axis is the time axis ``T`` of every neuron. Per block
(``C`` channels), on the residual stream ``x [T, B, C]``::

    x = LN0(x)                                               (first block only)
    x = x + LIF1(TimeMix(LN1(x)))                            spiking RWKV token mixing
    x = x + LIF2(ChannelMix(LN2(x)))                         spiking feed-forward

Token shift (per channel ``mu``):  ``x'_t = mu * x_t + (1 - mu) * x_{t-1}``  (``x_{-1} = 0`` or the
carried state). TimeMix: ``k = W_k x'_k``, ``v = W_v x'_v``, ``r = W_r x'_r`` and
``W_o( sigmoid(r) * wkv(k, v) )`` with, per channel, decay ``w = -exp(time_decay)`` and bonus
``u = time_first``::

    wkv_t = (sum_{i<t} e^{(t-1-i) w + k_i} v_i + e^{u + k_t} v_t) / (sum_{i<t} e^{(t-1-i) w + k_i} + e^{u + k_t})

evaluated by :func:`wkv_sequence` as the CUDA kernel does (running numerator ``p``, denominator
``q`` and exponent ``o``, so no exponential overflows; O(T C) time, O(C) state). ChannelMix:
``sigmoid(W_r x'_r) * W_v( relu(W_k x'_k)^2 )`` with hidden ``4 C``. The LIFs are SpikingJelly's
``MultiStepLIFNode(tau=2, v_threshold=1)`` (hard reset to 0, ``>=``) with the ATan(alpha=2)
surrogate, so the residual stream accumulates spikes. The character LM (:class:`SpikeGPTLM`) feeds
the *binary embedding* ``Heaviside(Emb(idx))`` (ATan surrogate) and reads out ``W_head LN_out(x)``.

Left out of the reference: the optional QK "copy" head (off there by default,
``RWKV_HEAD_QK_DIM = 0``) and the ``L2Wrap`` loss term (a 1e-4 gradient on the largest logit).

Graph: :class:`SpikeGPT` (binary input -> logits) traces through handlers registered here into
``nir.Linear`` / ``nir.LIF`` nodes and the extension nodes of this module: :class:`LayerNorm`,
:class:`TokenShift` (stateful), :class:`WKV` (stateful; input ``(2, C)`` = ``k, v`` stacked with
``neuromap.Place``), :class:`SigmoidGate` (input ``(2, C)`` = ``r, y``: ``sigmoid(r) * y``) and
:class:`SquaredReLU`. ``backends.torch`` runs them with the functions the modules call, so its
outputs equal the module's bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuromap import synapses
from neuromap.backends.torch import NodeOp, register_builder
from neuromap.graph.errors import GraphError
from neuromap.graph.extension_nodes import Place
from neuromap.graph.nodes import Reshape, register_node
from neuromap.graph.trace_handlers import register_handler, single_input, to_numpy
from neuromap.graph.units import Unit
from neuromap.netlist import Population
from neuromap.neurons import as_surrogate, spike
from neuromap.neurons.presets import spikingjelly_lif

from .multistep import check_positive_int

NEG_INF = -1e38  # the CUDA kernel's MIN_VALUE: exp(NEG_INF - anything) == 0 in float32 and float64
FFN_MULT = 4  # hidden size of the channel mixing, in units of C (reference: 4 C)


# --- the WKV recurrence ----------------------------------------------------------------------------

class WKVState(NamedTuple):
    """Running numerator ``p``, denominator ``q`` (both divided by ``e^o``) and exponent ``o``, ``[B, C]``."""

    p: torch.Tensor
    q: torch.Tensor
    o: torch.Tensor


def wkv_sequence(time_decay: torch.Tensor, time_first: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 state: WKVState | None = None) -> tuple[torch.Tensor, WKVState]:
    """The WKV recurrence over ``k, v [T, B, C]`` in the numerically stable form of the reference CUDA
    kernel; ``time_decay``, ``time_first``: ``[C]`` (decay ``w = -exp(time_decay)`` per step).

    Returns ``(wkv [T, B, C], state)``; the state carries the sums to the next window."""
    if k.shape != v.shape or k.dim() != 3:
        raise ValueError(f"wkv_sequence needs k and v of one shape [T, B, C], got {tuple(k.shape)}, {tuple(v.shape)}")
    w = -torch.exp(time_decay)
    u = time_first
    if state is None:
        z = torch.zeros_like(k[0])
        p, q, o = z, z.clone(), torch.full_like(k[0], NEG_INF)
    else:
        p, q, o = state
    ys = []
    for t in range(k.shape[0]):
        kt, vt = k[t], v[t]
        uk = u + kt
        no = torch.maximum(o, uk)
        a, b = torch.exp(o - no), torch.exp(uk - no)
        ys.append((a * p + b * vt) / (a * q + b))
        wo = w + o
        no = torch.maximum(wo, kt)
        a, b = torch.exp(wo - no), torch.exp(kt - no)
        p, q, o = a * p + b * vt, a * q + b, no
    return torch.stack(ys), WKVState(p, q, o)


def wkv_naive(time_decay: torch.Tensor, time_first: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The WKV formula summed directly, O(T^2) (a reference for tests; overflows for large ``k``)."""
    w = -torch.exp(time_decay)
    T = k.shape[0]
    out = []
    for t in range(T):
        num = torch.exp(time_first + k[t]) * v[t]
        den = torch.exp(time_first + k[t])
        for i in range(t):
            e = torch.exp((t - 1 - i) * w + k[i])
            num, den = num + e * v[i], den + e
        out.append(num / den)
    return torch.stack(out)


def token_shift(x: torch.Tensor, mix: torch.Tensor, last: torch.Tensor | None) -> torch.Tensor:
    """``mix * x_t + (1 - mix) * x_{t-1}`` over ``x [T, B, C]``; ``x_{-1}`` is ``last`` (zeros if None)."""
    prev = torch.zeros_like(x[:1]) if last is None else last.unsqueeze(0)
    xx = torch.cat([prev, x[:-1]])
    return x * mix + xx * (1 - mix)


def sigmoid_gate(r: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The receptance gate ``sigmoid(r) * y``."""
    return torch.sigmoid(r) * y


def squared_relu(x: torch.Tensor) -> torch.Tensor:
    """``relu(x)^2`` (the channel mixing's key activation)."""
    return torch.square(torch.relu(x))


# --- modules -----------------------------------------------------------------------------------------

def _ratios(layer_id: int, n_layer: int) -> tuple[float, float]:
    """The reference's ``(layer / (L - 1), 1 - layer / L)`` (the first is 0 for a single layer)."""
    return (layer_id / (n_layer - 1) if n_layer > 1 else 0.0), 1.0 - layer_id / n_layer


def _channel_ramp(C: int) -> torch.Tensor:
    return torch.arange(C, dtype=torch.float32) / C


class TokenLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` over the channels of ``[T, B, C]`` (its own class so that the tracer handles it)."""


class TimeMix(nn.Module):
    """Spiking RWKV token mixing without its LIF: ``W_o(sigmoid(r) * wkv(k, v))`` (module docstring).

    ``forward(x [T, B, C], state=None) -> (y [T, B, C], state)``; the state is
    ``(last input [B, C], WKVState)``. Parameters initialised as the reference does.
    """

    def __init__(self, n_embd: int, layer_id: int, n_layer: int) -> None:
        super().__init__()
        C = n_embd
        r01, r10 = _ratios(layer_id, n_layer)
        h = torch.arange(C, dtype=torch.float32)
        decay = -5 + 8 * (h / max(C - 1, 1)) ** (0.7 + 1.3 * r01)
        zigzag = torch.tensor([(i + 1) % 3 - 1 for i in range(C)], dtype=torch.float32) * 0.5
        ramp = _channel_ramp(C)
        self.time_decay = nn.Parameter(decay)
        self.time_first = nn.Parameter(torch.full((C,), math.log(0.3)) + zigzag)
        self.time_mix_k = nn.Parameter(ramp ** r10)
        self.time_mix_v = nn.Parameter(ramp ** r10 + 0.3 * r01)
        self.time_mix_r = nn.Parameter(ramp ** (0.5 * r10))
        self.key = synapses.Linear(C, C, bias=False)
        self.value = synapses.Linear(C, C, bias=False)
        self.receptance = synapses.Linear(C, C, bias=False)
        self.output = synapses.Linear(C, C, bias=False)
        for m in (self.key, self.receptance, self.output):
            m.scale_init = 0.0  # the reference zero-initialises these (RWKV_Init)

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        last, wkv_state = (None, None) if state is None else state
        k = self.key(token_shift(x, self.time_mix_k, last))
        v = self.value(token_shift(x, self.time_mix_v, last))
        r = self.receptance(token_shift(x, self.time_mix_r, last))
        y, wkv_state = wkv_sequence(self.time_decay, self.time_first, k, v, wkv_state)
        return self.output(sigmoid_gate(r, y)), (x[-1], wkv_state)


class ChannelMix(nn.Module):
    """Spiking RWKV feed-forward without its LIF: ``sigmoid(W_r x'_r) * W_v(relu(W_k x'_k)^2)``.

    ``forward(x [T, B, C], state=None) -> (y, last input [B, C])``."""

    def __init__(self, n_embd: int, layer_id: int, n_layer: int, hidden: int | None = None) -> None:
        super().__init__()
        C = n_embd
        H = FFN_MULT * C if hidden is None else hidden
        _, r10 = _ratios(layer_id, n_layer)
        ramp = _channel_ramp(C)
        self.time_mix_k = nn.Parameter(ramp ** r10)
        self.time_mix_r = nn.Parameter(ramp ** r10)
        self.key = synapses.Linear(C, H, bias=False)
        self.receptance = synapses.Linear(C, C, bias=False)
        self.value = synapses.Linear(H, C, bias=False)
        for m in (self.value, self.receptance):
            m.scale_init = 0.0

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        k = squared_relu(self.key(token_shift(x, self.time_mix_k, state)))
        r = self.receptance(token_shift(x, self.time_mix_r, state))
        return sigmoid_gate(r, self.value(k)), x[-1]


def _token_lif(tau: float, v_th: float) -> nn.Module:
    """SpikeGPT's neuron: SpikingJelly MultiStepLIFNode(tau, v_threshold, hard reset 0) with ATan(2)."""
    return spikingjelly_lif(tau=tau, v_th=v_th, surrogate="atan", slope=2.0)


class SpikingRWKVBlock(nn.Module):
    """One SpikeGPT block (module docstring); ``forward(x, state=None) -> (x, state)``."""

    def __init__(self, n_embd: int, layer_id: int, n_layer: int, dropout: float = 0.0, tau: float = 2.0,
                 v_th: float = 1.0) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.ln0 = TokenLayerNorm(n_embd) if layer_id == 0 else None
        self.ln1, self.ln2 = TokenLayerNorm(n_embd), TokenLayerNorm(n_embd)
        self.att = TimeMix(n_embd, layer_id, n_layer)
        self.ffn = ChannelMix(n_embd, layer_id, n_layer)
        self.lif1, self.lif2 = _token_lif(tau, v_th), _token_lif(tau, v_th)
        self.dropout = nn.Dropout(dropout)
        self.last_spikes: list[torch.Tensor] = []  # the two LIF outputs of the last forward (for activity)

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        att_s, lif1_s, ffn_s, lif2_s = (None,) * 4 if state is None else state
        if self.ln0 is not None:
            x = self.ln0(x)
        h, att_s = self.att(self.ln1(x), state=att_s)
        s1, lif1_s = self.lif1(h, state=lif1_s, return_state=True)
        x = x + s1
        h, ffn_s = self.ffn(self.ln2(x), state=ffn_s)
        s2, lif2_s = self.lif2(h, state=lif2_s, return_state=True)
        x = self.dropout(x + s2)
        self.last_spikes = [s1.detach(), s2.detach()]
        return x, (att_s, lif1_s, ffn_s, lif2_s)


class SpikeGPT(nn.Module):
    """The SpikeGPT stack on binary input: ``x [T, B, n_embd]`` (spikes) -> logits ``[T, B, vocab]``.

    ``forward_with_state`` carries every block's state (token shifts, WKV sums, LIF membranes) to the
    next window of a stream.
    """

    def __init__(self, vocab_size: int, n_embd: int = 64, n_layer: int = 2, dropout: float = 0.0,
                 tau: float = 2.0, v_th: float = 1.0) -> None:
        super().__init__()
        check_positive_int("vocab_size", vocab_size, 2)
        check_positive_int("n_embd", n_embd, 2)
        check_positive_int("n_layer", n_layer)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
        self.vocab_size, self.n_embd, self.n_layer = vocab_size, n_embd, n_layer
        self.blocks = nn.ModuleList(SpikingRWKVBlock(n_embd, i, n_layer, dropout, tau, v_th) for i in range(n_layer))
        self.ln_out = TokenLayerNorm(n_embd)
        self.head = synapses.Linear(n_embd, vocab_size, bias=False)

    def forward_with_state(self, x: torch.Tensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        if x.dim() != 3 or x.shape[-1] != self.n_embd or x.shape[0] == 0:
            raise ValueError(f"SpikeGPT expects input of shape [T, B, {self.n_embd}] with T >= 1, got {tuple(x.shape)}")
        states = [None] * self.n_layer if state is None else list(state)
        if len(states) != self.n_layer:
            raise ValueError(f"state has {len(states)} blocks, the model {self.n_layer}")
        for i, block in enumerate(self.blocks):
            x, states[i] = block(x, state=states[i])
        return self.head(self.ln_out(x)), states

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_state(x)[0]

    def spike_rates(self) -> list[float]:
        """Fraction of non-zero outputs of every LIF layer in the last forward (2 per block)."""
        return [float((s != 0).float().mean()) for b in self.blocks for s in b.last_spikes]


def detach_state(state: Any) -> Any:
    """A copy of a (nested) state with every tensor detached (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, WKVState):
        return WKVState(*(t.detach() for t in state))
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # NamedTuple states (LIF)
        return type(state)(*(detach_state(s) for s in state))
    if isinstance(state, (list, tuple)):
        return type(state)(detach_state(s) for s in state)
    return state


class SpikeGPTLM(nn.Module):
    """Character LM: token ids ``[T, B]`` -> binary embedding -> :class:`SpikeGPT` -> logits ``[T, B, V]``.

    The interface of ``networks.egru.CharLM`` (``forward_with_state``, ``detach_state``,
    ``vocab_size``, ``cell``), so the LM experiments train and evaluate both with the same loop.
    """

    cell = "spikegpt"

    def __init__(self, vocab_size: int, n_embd: int = 64, n_layer: int = 2, dropout: float = 0.0,
                 tau: float = 2.0, v_th: float = 1.0, init: str = "rwkv") -> None:
        super().__init__()
        self.core = SpikeGPT(vocab_size, n_embd, n_layer, dropout, tau, v_th)
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, n_embd)
        self.surrogate = as_surrogate("atan", 2.0)
        if init == "rwkv":
            rwkv_init_(self)
        elif init != "torch":
            raise ValueError(f"init={init!r} is not one of ['rwkv', 'torch']")

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype not in (torch.long, torch.int32):
            desc = f"{tuple(tokens.shape)} {tokens.dtype}" if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"SpikeGPTLM expects integer token ids of shape [T, B], got {desc}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got range "
                             f"[{int(tokens.min())}, {int(tokens.max())}]")

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """The binary embedding ``Heaviside(Emb(tokens))`` (spike where the entry is >= 0), ``[T, B, C]``."""
        self._check_tokens(tokens)
        return spike(self.embedding(tokens), self.surrogate, ">=")

    def forward_with_state(self, tokens: torch.Tensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        return self.core.forward_with_state(self.encode(tokens), state)

    def forward(self, tokens: torch.Tensor, state: list | None = None) -> torch.Tensor:
        return self.forward_with_state(tokens, state)[0]

    @staticmethod
    def detach_state(state: Any) -> Any:
        return detach_state(state)


def rwkv_init_(lm: SpikeGPTLM) -> None:
    """The reference's ``RWKV_Init``: orthogonal weights with gain ``sqrt(out / in)`` where out > in;
    the token embedding at scale 1e-4 (gain ``sqrt(max(V, C))``), the head at 0.5, and the matrices
    marked ``scale_init = 0`` at zero."""
    V, C = lm.vocab_size, lm.core.n_embd
    for m in lm.modules():
        if not isinstance(m, (nn.Linear, nn.Embedding)):
            continue
        w = m.weight
        rows, cols = w.shape
        gain, scale = 1.0, 1.0
        if isinstance(m, nn.Embedding):
            gain, scale = math.sqrt(max(rows, cols)), (1e-4 if (rows, cols) == (V, C) else 0.0)
        else:
            if rows > cols:
                gain = math.sqrt(rows / cols)
            if (rows, cols) == (V, C):
                scale = 0.5
        scale = getattr(m, "scale_init", scale)
        with torch.no_grad():
            if gain * scale == 0:
                nn.init.zeros_(w)
            else:
                nn.init.orthogonal_(w, gain=gain * scale)


# --- graph nodes -------------------------------------------------------------------------------------

def _f32(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float32).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


class _Unit(Unit):
    """Shared by this module's nodes: an op over ``(C,)`` (``stacked``: over a ``(2, C)`` input of two
    operands stacked by ``neuromap.Place``), lowered to a non-spiking ``other`` population
    (``params["function"]`` names the op); a stacked unit gets one projection per operand port
    (``meta["port"]``)."""

    stacked = False
    ports: tuple[str, ...] = ()
    function = ""

    def _types(self) -> None:
        self.input_type = {"input": None}
        self.output_type = {"output": None}

    def declared_input_shape(self) -> tuple[int, ...] | None:
        return None

    def infer_output(self, s: tuple[int, ...]) -> tuple[int, ...]:
        if self.stacked:
            if len(s) != 2 or s[0] != 2:
                raise ValueError(f"expects a stacked (2, C) input, got {s}")
            return (s[1],)
        return tuple(s)

    def population(self, name: str, shape: tuple[int, ...]) -> Population:
        return Population(name, "other", shape, {"function": self.function}, False, self.population_meta(name))

    def input_port(self, path: str, ops: list) -> tuple[int, dict]:
        if not self.stacked:
            return 0, {}
        if not ops or not isinstance(ops[-1], Place):
            raise GraphError(f"lower: path {path!r} into {type(self).__name__} does not end in a port (Place)")
        return 1, {"port": self.ports[int(ops[-1].offset[0])]}


@register_node
@dataclass(eq=False)
class LayerNorm(_Unit):
    """Layer normalisation over the last axis: ``(x - mean) / sqrt(var + eps) * weight + bias``."""

    weight: np.ndarray
    bias: np.ndarray
    eps: float = 1e-5
    function = "layer_norm"

    def __post_init__(self) -> None:
        self.weight, self.bias = _f32(self.weight, "weight"), _f32(self.bias, "bias")
        self.eps = float(np.asarray(self.eps).reshape(-1)[0])
        if self.weight.shape != self.bias.shape or not self.eps > 0:
            raise ValueError("LayerNorm needs weight and bias of one shape and eps > 0")
        self._types()

    def infer_output(self, s: tuple[int, ...]) -> tuple[int, ...]:
        if not s or s[-1] != self.weight.size:
            raise ValueError(f"normalises {self.weight.size} channels, got input {s}")
        return tuple(s)


@register_node(stateful=True)
@dataclass(eq=False)
class TokenShift(_Unit):
    """``mix * x_t + (1 - mix) * x_{t-1}`` per channel (``x_{-1} = 0``); state: the previous input."""

    mix: np.ndarray
    function = "token_shift"

    def __post_init__(self) -> None:
        self.mix = _f32(self.mix, "mix")
        self._types()

    def infer_output(self, s: tuple[int, ...]) -> tuple[int, ...]:
        if s != (self.mix.size,):
            raise ValueError(f"shifts {self.mix.size} channels, got input {s}")
        return s


@register_node(stateful=True)
@dataclass(eq=False)
class WKV(_Unit):
    """The RWKV weighted key-value recurrence (:func:`wkv_sequence`) on a stacked ``(2, C)`` input
    ``[k, v]``; ``time_decay`` (decay ``-exp(time_decay)`` per step) and ``time_first`` (``u``) per
    channel. State: ``p, q, o`` per channel."""

    time_decay: np.ndarray
    time_first: np.ndarray
    stacked = composes_inputs = True
    ports = ("k", "v")
    function = "wkv"

    def __post_init__(self) -> None:
        self.time_decay, self.time_first = _f32(self.time_decay, "time_decay"), _f32(self.time_first, "time_first")
        if self.time_decay.shape != self.time_first.shape:
            raise ValueError("WKV needs time_decay and time_first of one shape")
        self._types()

    def infer_output(self, s: tuple[int, ...]) -> tuple[int, ...]:
        out = super().infer_output(s)
        if out != (self.time_decay.size,):
            raise ValueError(f"WKV has {self.time_decay.size} channels, got input {s}")
        return out


@register_node
@dataclass(eq=False)
class SigmoidGate(_Unit):
    """``sigmoid(x[0]) * x[1]`` on a stacked ``(2, C)`` input ``[r, y]`` (the receptance gate)."""

    stacked = composes_inputs = True
    ports = ("r", "y")
    function = "sigmoid_gate"

    def __post_init__(self) -> None:
        self._types()


@register_node
@dataclass(eq=False)
class SquaredReLU(_Unit):
    """``relu(x)^2`` elementwise."""

    function = "squared_relu"

    def __post_init__(self) -> None:
        self._types()


NODES = (LayerNorm, TokenShift, WKV, SigmoidGate, SquaredReLU)


# --- tracer handlers ------------------------------------------------------------------------------------

def _stack(tr, name: str, parts: dict[str, list[str]], C: int) -> list[str]:
    """Stack single-tensor sources into ``(len(parts), C)`` with one ``Place`` per port (edges sum)."""
    shape = np.asarray((len(parts), C))
    out = []
    for i, (port, src) in enumerate(parts.items()):
        r = tr.add_node(f"{name}.{port}_expand", Reshape(shape=np.asarray((1, C))), src)
        out.append(tr.add_node(f"{name}.{port}", Place(shape=shape, offset=np.asarray((i, 0))), [r]))
    return out


def _shifted_linear(tr, name: str, src: list[str], mix: torch.Tensor, lin: nn.Linear) -> list[str]:
    shift = tr.add_node(f"{name}_shift", TokenShift(mix=to_numpy(mix)), src)
    return [tr.add_node(name, nir.Linear(weight=to_numpy(lin.weight)), [shift])]


@register_handler(TokenLayerNorm)
def trace_layer_norm(tr, m: TokenLayerNorm, name: str, args: tuple, out: torch.Tensor) -> None:
    """``neuromap.LayerNorm`` (affine LayerNorm over the last axis only)."""
    src = single_input(tr, name, args)
    if len(m.normalized_shape) != 1 or m.weight is None or m.bias is None:
        raise GraphError(f"trace: {name!r}: only an affine LayerNorm over the last axis is supported")
    tr.bind(out, [tr.add_node(name, LayerNorm(weight=to_numpy(m.weight), bias=to_numpy(m.bias), eps=m.eps), src)])


@register_handler(TimeMix)
def trace_time_mix(tr, m: TimeMix, name: str, args: tuple, out: torch.Tensor) -> None:
    """Token shifts -> W_k, W_v, W_r -> ``WKV`` and ``SigmoidGate`` -> W_o."""
    src = single_input(tr, name, args)
    C = m.key.in_features
    k = _shifted_linear(tr, f"{name}.key", src, m.time_mix_k, m.key)
    v = _shifted_linear(tr, f"{name}.value", src, m.time_mix_v, m.value)
    r = _shifted_linear(tr, f"{name}.receptance", src, m.time_mix_r, m.receptance)
    node = WKV(time_decay=to_numpy(m.time_decay), time_first=to_numpy(m.time_first))
    wkv = tr.add_node(f"{name}.wkv", node, _stack(tr, f"{name}.wkv", {"k": k, "v": v}, C))
    gate = tr.add_node(f"{name}.gate", SigmoidGate(), _stack(tr, f"{name}.gate", {"r": r, "y": [wkv]}, C))
    tr.bind(out, [tr.add_node(f"{name}.output", nir.Linear(weight=to_numpy(m.output.weight)), [gate])])


@register_handler(ChannelMix)
def trace_channel_mix(tr, m: ChannelMix, name: str, args: tuple, out: torch.Tensor) -> None:
    """Token shifts -> W_k -> ``SquaredReLU`` -> W_v, gated by W_r through ``SigmoidGate``."""
    src = single_input(tr, name, args)
    C = m.receptance.in_features
    k = _shifted_linear(tr, f"{name}.key", src, m.time_mix_k, m.key)
    sq = tr.add_node(f"{name}.relu2", SquaredReLU(), k)
    v = tr.add_node(f"{name}.value", nir.Linear(weight=to_numpy(m.value.weight)), [sq])
    r = _shifted_linear(tr, f"{name}.receptance", src, m.time_mix_r, m.receptance)
    gate = _stack(tr, f"{name}.gate", {"r": r, "y": [v]}, C)
    tr.bind(out, [tr.add_node(f"{name}.gate", SigmoidGate(), gate)])


# --- torch backend ops ------------------------------------------------------------------------------------

def _buf(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float32)).clone()


class _LayerNormOp(NodeOp):
    def __init__(self, name, fi, fo, node: LayerNorm) -> None:
        super().__init__(name, fi, fo)
        self.register_buffer("weight", _buf(node.weight))
        self.register_buffer("bias", _buf(node.bias))
        self.eps = node.eps

    def forward(self, x, state):
        return F.layer_norm(x, (self.weight.shape[0],), self.weight, self.bias, self.eps), state


class _TokenShiftOp(NodeOp):
    def __init__(self, name, fi, fo, node: TokenShift) -> None:
        super().__init__(name, fi, fo)
        self.register_buffer("mix", _buf(node.mix))

    def forward(self, x, state):
        return token_shift(x, self.mix, state), x[-1]


class _WKVOp(NodeOp):
    def __init__(self, name, fi, fo, node: WKV) -> None:
        super().__init__(name, fi, fo)
        self.register_buffer("time_decay", _buf(node.time_decay))
        self.register_buffer("time_first", _buf(node.time_first))

    def forward(self, x, state):
        return wkv_sequence(self.time_decay, self.time_first, x[:, :, 0], x[:, :, 1], state)


class _ElementwiseOp(NodeOp):
    def __init__(self, name, fi, fo, node) -> None:
        super().__init__(name, fi, fo)
        self.gate = isinstance(node, SigmoidGate)

    def forward(self, x, state):
        return (sigmoid_gate(x[:, :, 0], x[:, :, 1]) if self.gate else squared_relu(x)), state


register_builder(LayerNorm)(lambda node, name, fi, fo: _LayerNormOp(name, fi, fo, node))
register_builder(TokenShift)(lambda node, name, fi, fo: _TokenShiftOp(name, fi, fo, node))
register_builder(WKV)(lambda node, name, fi, fo: _WKVOp(name, fi, fo, node))
register_builder(SigmoidGate, SquaredReLU)(lambda node, name, fi, fo: _ElementwiseOp(name, fi, fo, node))
