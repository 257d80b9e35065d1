"""Legendre Memory Units: the LMU core, its parallel (FFT) form, LMUFormer / Spiking LMUFormer, L2MU.

LMU memory (Voelker, Kajić & Eliasmith, NeurIPS 2019; nengo/keras-lmu): ``theta * dm/dt = A m + B u`` with
(0-indexed ``i, j < d``)::

    A[i, j] = (2i + 1) * (-1 if i < j else (-1)^(i - j + 1)),    B[i] = (2i + 1) (-1)^i

divided by ``theta``, discretised with zero-order hold at ``dt = 1`` step (``expm([[A, B], [0, 0]])``,
so a trainable ``theta`` stays differentiable) or Euler. ``m_t = Abar m_{t-1} + Bbar u_t`` holds the
window ``u(t+1-theta' )`` for ``0 <= theta' <= theta``; it is decoded with shifted Legendre
polynomials (:func:`legendre_decoder`). Because ``u`` enters linearly, ``m`` is also the causal
convolution of ``u`` with ``H[k] = Abar^k Bbar`` (:meth:`LMUMemory.forward` ``mode="fft"``), equal
to the recurrence (``mode="recurrent"``).

Models (all time-major ``[T, B, features]``, time = sequence axis):

* :class:`LMU` — keras-lmu style layer: ``u = e_x x (+ e_h h_{t-1} + e_m m_{t-1})``, memory,
  ``h = f(W_x x + W_h h_{t-1} + W_m m)``; parallel when there is no recurrence into u and h.
* :class:`LMUClassifier` — ``LMU`` + linear readout per step (or at the last step).
* :class:`LMUCell` / :class:`LMUFormer` — LMUFormer (Liu et al., ICLR 2024): conv embedding, LMU
  token mixer (non-spiking, or spiking ``u, m, h`` through LIF), conv channel mixer, membrane residuals.
* :class:`L2MU` — every LMU element a LIF (or CuBa) population communicating by spikes (Fra et al. 2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import nir
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from neuromap.backends.torch import NodeOp, register_builder
from neuromap.graph import extension_nodes
from neuromap.graph.errors import GraphError
from neuromap.graph.extension_nodes import ExtensionNode, float32_array
from neuromap.graph.nodes import as_text, register_node
from neuromap.graph.trace_handlers import add_pending_batchnorm, population_node, register_handler, single_input, to_numpy
from neuromap.graph.units import Incoming, Unit
from neuromap.netlist import Population, Projection
from neuromap.neurons import CubaLIF, CubaLIFParams, inputs_checked
from neuromap.neurons.functional import check_sequence
from neuromap.neurons.modules import SpikingNeuron
from neuromap.neurons.presets import snntorch_leaky

from .multistep import check_input, check_positive_int, neuron_factory

Shape = tuple[int, ...]
DISCRETISATIONS = ("zoh", "euler")
MODES = ("fft", "recurrent")


# --- the LMU matrices -----------------------------------------------------------------------------

def _check_order_theta(order, theta) -> None:
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order d must be an integer >= 1, got {order!r}")
    if not isinstance(theta, (int, float)) or isinstance(theta, bool) or not math.isfinite(theta) or theta <= 0:
        raise ValueError(f"theta must be a positive finite number of steps, got {theta!r}")


def lmu_matrices(order: int, theta: float = 1.0, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous-time Pade/Legendre matrices ``(A / theta [d, d], B / theta [d])``."""
    _check_order_theta(order, theta)
    i = torch.arange(order, dtype=dtype).reshape(-1, 1)
    j = torch.arange(order, dtype=dtype).reshape(1, -1)
    sign = torch.where(i < j, torch.full_like(i * j, -1.0), (-1.0) ** (i - j + 1))
    A = (2 * i + 1) * sign
    B = (2 * torch.arange(order, dtype=dtype) + 1) * (-1.0) ** torch.arange(order, dtype=dtype)
    return A / theta, B / theta


def discretize(A: torch.Tensor, B: torch.Tensor, method: str = "zoh", dt: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Abar, Bbar)``: ZOH via ``expm([[A, B], [0, 0]] dt)`` (differentiable) or Euler ``(I + A dt, B dt)``."""
    if method not in DISCRETISATIONS:
        raise ValueError(f"discretisation method={method!r} is not one of {list(DISCRETISATIONS)}")
    d = A.shape[0]
    if method == "euler":
        return torch.eye(d, dtype=A.dtype, device=A.device) + A * dt, B * dt
    M = torch.cat([torch.cat([A, B.reshape(d, 1)], 1), torch.zeros(1, d + 1, dtype=A.dtype, device=A.device)], 0)
    E = torch.linalg.matrix_exp(M * dt)
    return E[:d, :d], E[:d, d]


def shifted_legendre(i: int, r: torch.Tensor) -> torch.Tensor:
    """``P~_i(r) = P_i(2r - 1) = (-1)^i sum_j C(i,j) C(i+j,j) (-r)^j`` (scipy's ``eval_sh_legendre``),
    evaluated with Bonnet's recurrence (the explicit sum cancels catastrophically for large ``i``)."""
    x = 2.0 * r - 1.0
    p_prev, p = torch.ones_like(x), x
    if i == 0:
        return p_prev
    for n in range(1, i):
        p_prev, p = p, ((2 * n + 1) * x * p - n * p_prev) / (n + 1)
    return p


def legendre_decoder(order: int, delays: torch.Tensor | float) -> torch.Tensor:
    """Readout ``[len(delays), d]`` with ``u(t - theta') ~= decoder @ m`` at ``delays = theta'/theta`` in [0, 1]."""
    r = torch.as_tensor(delays, dtype=torch.float64).reshape(-1)
    return torch.stack([shifted_legendre(i, r) for i in range(order)], dim=-1)


def causal_fft_conv(u: torch.Tensor, H: torch.Tensor) -> torch.Tensor:
    """``m[t] = sum_{k<=t} H[k] u[t-k]`` along axis 0: ``u [L, *batch]``, ``H [L, d]`` -> ``[L, *batch, d]``.

    Zero-padded to ``2L`` so the circular FFT convolution has no wrap-around.
    """
    L = u.shape[0]
    n = 2 * L
    U = torch.fft.rfft(u, n=n, dim=0).unsqueeze(-1)  # [n/2+1, *batch, 1]
    Hf = torch.fft.rfft(H, n=n, dim=0)  # [n/2+1, d]
    Hf = Hf.reshape(Hf.shape[0], *([1] * (u.dim() - 1)), Hf.shape[-1])
    return torch.fft.irfft(U * Hf, n=n, dim=0)[:L]


class LMUMemory(nn.Module):
    """The LMU memory: ``u [T, B, channels] -> m [T, B, channels, order]`` (a linear time-invariant system).

    Attributes a tracer maps to a graph node: ``order``, ``theta``, ``method`` and the buffers
    ``A``, ``B`` (continuous, already divided by theta) and ``A_bar``, ``B_bar`` (discrete).
    ``trainable_theta=True`` makes ``theta`` a parameter; the matrices are then rebuilt each forward.
    ``max_len`` bounds the sequence length (the FFT kernel size); ``None`` = unbounded.
    """

    def __init__(
        self,
        order: int,
        theta: float,
        channels: int = 1,
        method: str = "zoh",
        trainable_theta: bool = False,
        max_len: int | None = None,
        mode: str = "fft",
    ) -> None:
        super().__init__()
        _check_order_theta(order, theta)
        check_positive_int("channels", channels)
        if method not in DISCRETISATIONS:
            raise ValueError(f"method={method!r} is not one of {list(DISCRETISATIONS)}")
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not one of {list(MODES)}")
        if max_len is not None:
            check_positive_int("max_len", max_len)
        self.order, self.channels, self.method, self.max_len, self.mode = order, channels, method, max_len, mode
        A, B = lmu_matrices(order, 1.0)
        self.register_buffer("A_unit", A.float())  # theta = 1
        self.register_buffer("B_unit", B.float())
        if trainable_theta:
            self.log_theta = nn.Parameter(torch.tensor(math.log(float(theta))))
        else:
            self.log_theta = None
            self._theta = float(theta)
            Ab, Bb = discretize(A / theta, B / theta, method)
            self.register_buffer("A_bar", Ab.float())
            self.register_buffer("B_bar", Bb.float())

    @property
    def theta(self) -> torch.Tensor | float:
        return self.log_theta.exp() if self.log_theta is not None else self._theta

    def matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Discrete ``(A_bar [d, d], B_bar [d])``."""
        if self.log_theta is None:
            return self.A_bar, self.B_bar
        th = self.theta
        return discretize(self.A_unit / th, self.B_unit / th, self.method)

    def impulse_response(self, length: int) -> torch.Tensor:
        """``H [length, d]`` with ``H[k] = A_bar^k B_bar``."""
        Ab, Bb = self.matrices()
        rows, h = [], Bb
        for _ in range(length):
            rows.append(h)
            h = Ab @ h
        return torch.stack(rows)

    def step(self, u_t: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        """One step: ``u_t [B, channels]``, ``m [B, channels, d]`` -> new ``m``."""
        Ab, Bb = self.matrices()
        new = u_t.unsqueeze(-1) * Bb
        return new if m is None else m @ Ab.T + new

    def forward(self, u: torch.Tensor, mode: str | None = None) -> torch.Tensor:
        mode = self.mode if mode is None else mode
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not one of {list(MODES)}")
        check_input(u, (self.channels,), "LMUMemory", f"[T, B, {self.channels}]", self.max_len)
        if mode == "fft":
            H = self.impulse_response(u.shape[0]).to(u.dtype)
            return causal_fft_conv(u, H)
        m, out = None, []
        for t in range(u.shape[0]):
            m = self.step(u[t], m)
            out.append(m)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"order={self.order}, theta={float(self.theta):.4g}, channels={self.channels}, method={self.method!r}"


@register_node(stateful=True)
@dataclass(eq=False)
class LMUMemoryNode(ExtensionNode, Unit):
    """The graph node of :class:`LMUMemory` (saved as ``neuromap.LMUMemory``): the LMU memory
    ``m_t = A_bar m_{t-1} + B_bar u_t`` per channel: input ``(channels,)``, output
    ``(channels, order)``; ``m_{-1} = 0``.

    ``mode`` is how the traced module computed it: ``"recurrent"`` (the update above, step by step)
    or ``"fft"`` (the same linear system as a causal convolution with ``H[k] = A_bar^k B_bar``,
    computed by FFT over the whole sequence). Both are reproduced bit-for-bit by ``backends.torch``;
    hardware runs the recurrence.

    Why not NIR ``I`` + ``Affine``: NIR's integrator adds ``(A_bar - 1) m + B_bar u`` to ``m``, which
    rounds differently from ``A_bar m + B_bar u``; the trained model would not be reproduced exactly.
    """

    TYPE = "LMUMemory"
    composes_inputs = True

    A_bar: np.ndarray
    B_bar: np.ndarray
    channels: int
    mode: str = "recurrent"

    def __post_init__(self) -> None:
        self.A_bar, self.B_bar = float32_array(self.A_bar, 2, "A_bar"), float32_array(self.B_bar, 1, "B_bar")
        self.channels, self.mode = int(self.channels), as_text(self.mode)
        d = self.B_bar.shape[0]
        if self.A_bar.shape != (d, d) or d < 1:
            raise ValueError(f"LMUMemory needs A_bar [d, d] and B_bar [d], got {self.A_bar.shape}, {self.B_bar.shape}")
        if self.channels < 1 or self.mode not in MODES:
            raise ValueError(f"LMUMemory needs channels >= 1 and mode in {list(MODES)}")
        self.set_types((self.channels, d))

    @property
    def order(self) -> int:
        return int(self.B_bar.shape[0])

    def population(self, name: str, shape: Shape) -> Population:
        """Non-spiking ``(channels, order)`` state."""
        return Population(name, "other", shape, {"order": self.order, "channels": self.channels, "mode": self.mode},
                          False, {**self.population_meta(name), "lmu_memory": True})

    def input_projections(self, incoming: Incoming) -> list[Projection]:
        """``B_bar`` multiplied into the incoming path (``kron(I, B_bar)``)."""
        enc = sp.csr_matrix(np.kron(np.eye(self.channels), np.asarray(self.B_bar, dtype=np.float64)[:, None]))
        b = incoming.bias
        return [Projection(incoming.name, incoming.src, incoming.dst, "dense", weight=(enc @ incoming.matrix).toarray(),
                           bias=None if b is None else enc @ b, delay=incoming.delay,
                           meta={**incoming.meta, "role": "input", "lmu": "B_bar"})]

    def self_projections(self, name: str) -> list[Projection]:
        """The dense self-loop ``kron(I, A_bar)`` (reads the previous step's memory)."""
        w = np.kron(np.eye(self.channels), np.asarray(self.A_bar, dtype=np.float64))
        return [Projection(f"{name}->{name}/A_bar", name, name, "dense", weight=w,
                           meta={"role": "recurrent", "lmu": "A_bar"})]

    def declared_input_shape(self) -> Shape:
        return (self.channels,)

    def infer_output(self, s: Shape) -> Shape:
        return (self.channels, self.order)




class LMUMemoryOp(NodeOp):
    """``backends.torch`` op of :class:`LMUMemoryNode`: ``m_t = m_{t-1} A_bar^T + u_t B_bar`` step by
    step (``recurrent``), or :func:`causal_fft_conv` over the whole sequence (``fft``), as the module."""

    def __init__(self, node: LMUMemoryNode, name: str, fi: tuple, fo: tuple) -> None:
        super().__init__(name, fi, fo)
        # torch-allocated copies: CPU matmul rounding can depend on the operands' alignment
        self.register_buffer("A", torch.tensor(node.A_bar))
        self.register_buffer("B", torch.tensor(node.B_bar))
        self.mode = node.mode

    def forward(self, x: torch.Tensor, state):
        if self.mode == "fft" and state is None and x.shape[0] > 1:
            rows, h = [], self.B
            for _ in range(x.shape[0]):
                rows.append(h)
                h = self.A @ h
            return causal_fft_conv(x, torch.stack(rows).to(x.dtype)), None
        m, out = state, []
        for t in range(x.shape[0]):
            new = x[t].unsqueeze(-1) * self.B
            m = new if m is None else m @ self.A.T + new
            out.append(m)
        return torch.stack(out), m


register_builder(LMUMemoryNode)(LMUMemoryOp)


@register_handler(LMUMemory)
def trace_lmu_memory(tr, m: LMUMemory, name: str, args: tuple, out: torch.Tensor) -> None:
    """Tracer handler -> ``neuromap.LMUMemory``; ``mode`` is whichever of recurrent / FFT reproduces the
    module's output bit-for-bit on the trace input."""
    src = single_input(tr, name, args)
    Ab, Bb = (t.detach().float() for t in m.matrices())
    with torch.no_grad():
        modes = [md for md in ("recurrent", "fft") if torch.equal(m.forward(args[0], mode=md), out)]
    if not modes:
        raise GraphError(f"trace: LMU memory {name!r}: its output matches neither the recurrence nor the FFT form")
    node = LMUMemoryNode(A_bar=to_numpy(Ab), B_bar=to_numpy(Bb), channels=m.channels, mode=modes[0])
    tr.bind(out, [tr.add_node(name, node, src)])


# --- keras-lmu style layer ------------------------------------------------------------------------

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda x: x}


class LMU(nn.Module):
    """keras-lmu ``LMU`` layer over ``x [T, B, n_in]`` -> hidden ``h [T, B, hidden]``::

        u_t = e_x x_t (+ e_h h_{t-1} if hidden_to_memory) (+ e_m m_{t-1} if memory_to_memory)
        m_t = A_bar m_{t-1} + B_bar u_t                        (per memory channel)
        h_t = f(W_x x_t + W_m m_t (+ W_h h_{t-1} if hidden_recurrent))

    Without the three recurrences the layer is parallel: ``mode="fft"`` computes all m at once.
    """

    def __init__(
        self,
        n_in: int,
        hidden: int,
        order: int,
        theta: float,
        memory_channels: int = 1,
        activation: str = "tanh",
        hidden_to_memory: bool = False,
        memory_to_memory: bool = False,
        hidden_recurrent: bool = False,
        input_to_hidden: bool = True,
        method: str = "zoh",
        trainable_theta: bool = False,
        max_len: int | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("n_in", n_in)
        check_positive_int("hidden", hidden)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not one of {sorted(ACTIVATIONS)}")
        self.n_in, self.hidden, self.activation = n_in, hidden, activation
        self.memory = LMUMemory(order, theta, memory_channels, method, trainable_theta, max_len)
        self.e_x = nn.Linear(n_in, memory_channels, bias=False)
        self.e_h = nn.Linear(hidden, memory_channels, bias=False) if hidden_to_memory else None
        self.e_m = nn.Linear(memory_channels * order, memory_channels, bias=False) if memory_to_memory else None
        self.W_m = nn.Linear(memory_channels * order, hidden)
        self.W_x = nn.Linear(n_in, hidden, bias=False) if input_to_hidden else None
        self.W_h = nn.Linear(hidden, hidden, bias=False) if hidden_recurrent else None
        for lin in (self.e_h, self.e_m):
            if lin is not None:
                nn.init.zeros_(lin.weight)

    @property
    def parallel(self) -> bool:
        return self.e_h is None and self.e_m is None and self.W_h is None

    def forward(self, x: torch.Tensor, mode: str = "fft") -> torch.Tensor:
        check_input(x, (self.n_in,), "LMU", f"[T, B, {self.n_in}]", self.memory.max_len)
        act = ACTIVATIONS[self.activation]
        if mode not in MODES:
            raise ValueError(f"mode={mode!r} is not one of {list(MODES)}")
        if mode == "fft" and self.parallel:
            m = self.memory(self.e_x(x), mode="fft").flatten(2)
            pre = self.W_m(m) + (self.W_x(x) if self.W_x is not None else 0.0)
            return act(pre)
        T, B = x.shape[:2]
        h = x.new_zeros(B, self.hidden)
        m = x.new_zeros(B, self.memory.channels, self.memory.order)
        out = []
        for t in range(T):
            u = self.e_x(x[t])
            if self.e_h is not None:
                u = u + self.e_h(h)
            if self.e_m is not None:
                u = u + self.e_m(m.flatten(1))
            m = self.memory.step(u, m)
            pre = self.W_m(m.flatten(1))
            if self.W_x is not None:
                pre = pre + self.W_x(x[t])
            if self.W_h is not None:
                pre = pre + self.W_h(h)
            h = act(pre)
            out.append(h)
        return torch.stack(out)


class LMUClassifier(nn.Module):
    """``LMU`` + ``Linear(hidden, n_out)``. ``readout="sequence"``: logits at every step ``[T, B, n_out]``;
    ``"last"``: only the last step's, as ``[1, B, n_out]`` (a time-major length-1 sequence)."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 64, order: int = 32, theta: float = 64.0,
                 readout: str = "last", **lmu_kwargs) -> None:
        super().__init__()
        if readout not in ("sequence", "last"):
            raise ValueError(f"readout={readout!r} is not one of ['sequence', 'last']")
        check_positive_int("n_out", n_out)
        self.readout = readout
        self.lmu = LMU(n_in, hidden, order, theta, **lmu_kwargs)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor, mode: str = "fft") -> torch.Tensor:
        h = self.lmu(x, mode=mode)
        if self.readout == "last":
            h = h[-1:]
        return self.out(h)


# --- LMUFormer ------------------------------------------------------------------------------------

class SeqBN(nn.Module):
    """BatchNorm1d over the feature axis of ``[T, B, C]`` (statistics shared over time and batch)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        return self.bn(x.reshape(T * B, -1)).reshape(x.shape)


@register_handler(SeqBN)
def trace_seq_bn(tr, m: SeqBN, name: str, args: tuple, out: torch.Tensor) -> None:
    """Tracer handler -> a per-feature ``nir.Affine`` that the tracer folds into its producer when that
    one is a Linear / conv with no other consumer."""
    tr.bind(out, [add_pending_batchnorm(tr, name, m.bn, single_input(tr, name, args))])


class CausalConv1d(nn.Module):
    """Conv1d along time of ``[T, B, C]``. ``causal=True`` pads ``k-1`` steps on the left only (output at
    t sees t-k+1..t); ``causal=False`` is the reference's centred ``padding=k//2`` (looks ahead)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, causal: bool = True, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, bias=bias)
        self.kernel, self.causal = kernel, causal

    def time_padding(self) -> tuple[int, int]:
        """Steps of zero padding ``(left, right)`` along time."""
        k = self.kernel
        return (k - 1, 0) if self.causal else (k // 2, k - 1 - k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.permute(1, 2, 0)  # [B, C, T]
        y = F.pad(y, self.time_padding())
        return self.conv(y).permute(2, 0, 1)


@register_handler(CausalConv1d)
def trace_causal_conv(tr, m: CausalConv1d, name: str, args: tuple, out: torch.Tensor) -> None:
    """Tracer handler -> ``neuromap.TemporalConv1d``."""
    src = single_input(tr, name, args)
    left, right = m.time_padding()
    conv = m.conv
    if conv.stride[0] != 1 or conv.dilation[0] != 1 or conv.groups != 1 or conv.padding[0] != 0:
        raise GraphError(f"trace: {name!r}: only stride 1, dilation 1, groups 1 temporal convolutions are supported")
    w = to_numpy(conv.weight)
    bias = to_numpy(conv.bias) if conv.bias is not None else np.zeros(w.shape[0], dtype=w.dtype)
    node = extension_nodes.TemporalConv1d(weight=w, bias=bias, pad_left=left, pad_right=right)
    tr.bind(out, [tr.add_node(name, node, src)])


class LMUCell(nn.Module):
    """LMUFormer's token mixer on ``x [T, B, C]`` (time = sequence), one scalar memory channel::

        non-spiking: u = ReLU(W_u x),          m = H * u,            h = ReLU(W_h [m; x])
        spiking:     u = LIF(BN(W_u x)),       m = LIF(BN(H * u)),   h = LIF(BN(W_h [m; x]))

    ``memory_size`` is the LMU order d. ``mode="recurrent"`` steps the memory instead of the FFT.
    """

    def __init__(self, dim: int, memory_size: int, theta: float, spiking: bool = True, neuron: str = "spikingjelly",
                 max_len: int | None = None) -> None:
        super().__init__()
        check_positive_int("dim", dim)
        self.dim, self.spiking = dim, spiking
        self.W_u = nn.Linear(dim, 1)
        self.memory = LMUMemory(memory_size, theta, 1, "zoh", max_len=max_len)
        self.W_h = nn.Linear(memory_size + dim, dim)
        if spiking:
            make = neuron_factory(neuron)
            self.bn_u, self.lif_u = SeqBN(1), make()
            self.bn_m, self.lif_m = SeqBN(memory_size), make()
            self.bn_h, self.lif_h = SeqBN(dim), make()

    def forward(self, x: torch.Tensor, mode: str = "fft") -> torch.Tensor:
        u = self.W_u(x)
        u = self.lif_u(self.bn_u(u)) if self.spiking else torch.relu(u)
        m = self.memory(u, mode=mode).flatten(2)  # [T, B, d]
        if self.spiking:
            m = self.lif_m(self.bn_m(m))
        h = self.W_h(torch.cat([m, x], dim=-1))
        return self.lif_h(self.bn_h(h)) if self.spiking else torch.relu(h)


class LMUFormerBlock(nn.Module):
    """``X += LMUMixer(X); X += ConvFFN(X)`` on membranes ``[T, B, C]``.

    spiking: mixer = BN -> LIF(0.5) -> LMUCell -> Conv1x1 -> BN; FFN = BN -> LIF -> Conv1x1(C->rC) -> BN -> LIF -> Conv1x1.
    non-spiking: mixer = LMUCell -> Conv1x1 -> BN; FFN = Conv1x1 -> BN -> GELU -> Conv1x1 -> BN.
    """

    def __init__(self, dim: int, memory_size: int, theta: float, mlp_ratio: float = 4.0, spiking: bool = True,
                 neuron: str = "spikingjelly", max_len: int | None = None) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        check_positive_int("FFN hidden width (dim * mlp_ratio)", hidden)
        self.spiking = spiking
        make = neuron_factory(neuron)
        if spiking:
            self.pre_bn, self.pre_lif = SeqBN(dim), make(v_th=0.5)
        self.cell = LMUCell(dim, memory_size, theta, spiking, neuron, max_len)
        self.proj = nn.Linear(dim, dim)
        self.proj_bn = SeqBN(dim)
        if spiking:
            self.ffn_bn0, self.ffn_lif1 = SeqBN(dim), make()
            self.fc1, self.ffn_bn1, self.ffn_lif2 = nn.Linear(dim, hidden), SeqBN(hidden), make()
            self.fc2 = nn.Linear(hidden, dim)
        else:
            self.fc1, self.ffn_bn1 = nn.Linear(dim, hidden), SeqBN(hidden)
            self.fc2, self.ffn_bn2 = nn.Linear(hidden, dim), SeqBN(dim)

    def forward(self, x: torch.Tensor, mode: str = "fft") -> torch.Tensor:
        y = self.pre_lif(self.pre_bn(x)) if self.spiking else x
        x = x + self.proj_bn(self.proj(self.cell(y, mode)))
        if self.spiking:
            f = self.fc2(self.ffn_lif2(self.ffn_bn1(self.fc1(self.ffn_lif1(self.ffn_bn0(x))))))
        else:
            f = self.ffn_bn2(self.fc2(F.gelu(self.ffn_bn1(self.fc1(x)))))
        return x + f


class ConvEmbedding(nn.Module):
    """LMUFormer's patch embedding on ``[T, B, C_in]``: Conv1d(k) -> BN, then ``n_hidden`` x
    (LIF -> Conv1d(k) -> BN), then (``rpe=True``) ``x + Conv1d_k(LIF(BN(x)))``. Non-spiking models
    use ReLU where the spiking ones use LIF. Convs are causal unless ``causal=False``."""

    def __init__(self, c_in: int, dim: int, kernel: int = 3, n_hidden: int = 0, rpe: bool = True, spiking: bool = True,
                 causal: bool = True, neuron: str = "spikingjelly") -> None:
        super().__init__()
        make = neuron_factory(neuron)
        self.spiking = spiking
        self.conv0, self.bn0 = CausalConv1d(c_in, dim, kernel, causal), SeqBN(dim)
        self.hidden = nn.ModuleList()
        for _ in range(n_hidden):
            act = make() if spiking else nn.ReLU()
            self.hidden.append(nn.ModuleList([act, CausalConv1d(dim, dim, kernel, causal), SeqBN(dim)]))
        if rpe:
            self.rpe_bn, self.rpe_act = SeqBN(dim), (make() if spiking else nn.ReLU())
            self.rpe_conv = CausalConv1d(dim, dim, kernel, causal)
        self.rpe = rpe

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn0(self.conv0(x))
        for act, conv, bn in self.hidden:
            x = bn(conv(act(x)))
        if self.rpe:
            x = x + self.rpe_conv(self.rpe_act(self.rpe_bn(x)))
        return x


class LMUFormer(nn.Module):
    """LMUFormer / Spiking LMUFormer for sequences ``x [T, B, n_in]`` -> logits ``[T, B, num_classes]``
    (per step; average over time for the prediction, as the reference's mean over the sequence).

    Args:
        dim, depth, mlp_ratio: width, blocks, FFN ratio.
        theta, memory_size: LMU window (steps; the reference uses the sequence length) and order
            (default ``2*dim`` spiking, ``dim`` non-spiking, as in the reference).
        spiking: Spiking LMUFormer (LIF everywhere, membrane residuals) or the non-spiking LMUFormer.
        max_len: longest accepted sequence (default ``theta``... rounded up); longer inputs raise.
        embed_hidden, rpe, causal: embedding depth, relative-position conv, causal (left) padding.
    """

    def __init__(
        self,
        n_in: int,
        num_classes: int,
        dim: int = 64,
        depth: int = 1,
        mlp_ratio: float = 4.0,
        theta: float = 128.0,
        memory_size: int | None = None,
        spiking: bool = True,
        max_len: int | None = None,
        embed_hidden: int = 0,
        rpe: bool = True,
        causal: bool = True,
        neuron: str = "spikingjelly",
    ) -> None:
        super().__init__()
        check_positive_int("n_in", n_in)
        check_positive_int("num_classes", num_classes)
        check_positive_int("dim", dim)
        check_positive_int("depth", depth)
        _check_order_theta(1, theta)
        memory_size = (2 * dim if spiking else dim) if memory_size is None else memory_size
        _check_order_theta(memory_size, theta)
        self.n_in, self.spiking = n_in, spiking
        self.max_len = max_len if max_len is not None else int(math.ceil(theta))
        self.embed = ConvEmbedding(n_in, dim, 3, embed_hidden, rpe, spiking, causal, neuron)
        self.blocks = nn.ModuleList(
            LMUFormerBlock(dim, memory_size, theta, mlp_ratio, spiking, neuron, self.max_len) for _ in range(depth)
        )
        self.head_bn = SeqBN(dim)
        self.head_act = neuron_factory(neuron)() if spiking else nn.Identity()
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor, mode: str = "fft") -> torch.Tensor:
        check_input(x, (self.n_in,), "LMUFormer", f"[T, B, {self.n_in}]", self.max_len)
        x = self.embed(x)
        for blk in self.blocks:
            x = blk(x, mode)
        return self.head(self.head_act(self.head_bn(x)))


# --- L2MU -----------------------------------------------------------------------------------------

class L2MU(nn.Module):
    """L2MU: an LMU whose every element is a spiking population (snnTorch ``Leaky`` or ``Synaptic``).

    Per step, with spikes ``S`` (``S_x`` the input, raw values allowed: "encoding-free")::

        I_u = e_x S_x + e_h S_h[t-1] + e_m S_m[t-1]          S_u = LIF_u(I_u)     [B, memory_size]
        I_m = S_m[t-1] A_bar^T + S_u (x) B_bar                S_m = LIF_m(I_m)     [B, memory_size, order]
        I_h = W_x S_x + W_h S_h[t-1] + W_m S_m               S_h = LIF_h(I_h)     [B, hidden]
        (optional) S_o = LIF_o(W_o S_h)                                             [B, n_out]

    ``A_bar, B_bar`` are ZOH matrices of the Pade/Legendre system (fixed). Populations are
    snnTorch-style (delayed subtract reset, ``>``, atan(2)) with learnable beta and threshold.
    Input ``[T, B, n_in]``; output ``[T, B, n_out]`` spikes (or ``[T, B, hidden]`` without an output layer).
    """

    def __init__(
        self,
        n_in: int,
        order: int,
        theta: float,
        memory_size: int,
        hidden: int,
        n_out: int | None = None,
        neuron: str = "lif",
        beta: float = 0.9,
        alpha: float = 0.8,
        threshold: float = 1.0,
        learn: bool = True,
    ) -> None:
        super().__init__()
        for name, v in (("n_in", n_in), ("memory_size", memory_size), ("hidden", hidden)):
            check_positive_int(name, v)
        if n_out is not None:
            check_positive_int("n_out", n_out)
        _check_order_theta(order, theta)
        if neuron not in ("lif", "cuba"):
            raise ValueError(f"neuron={neuron!r} is not one of ['lif', 'cuba']")
        self.n_in, self.order, self.memory_size, self.hidden, self.n_out = n_in, order, memory_size, hidden, n_out
        A, B = lmu_matrices(order, theta)
        Ab, Bb = discretize(A, B, "zoh")
        self.register_buffer("A_bar", Ab.float())
        self.register_buffer("B_bar", Bb.float())
        self.e_x = nn.Linear(n_in, memory_size, bias=False)
        self.e_h = nn.Linear(hidden, memory_size, bias=False)
        self.e_m = nn.Linear(memory_size * order, memory_size, bias=False)
        self.W_x = nn.Linear(n_in, hidden, bias=False)
        self.W_h = nn.Linear(hidden, hidden, bias=False)
        self.W_m = nn.Linear(memory_size * order, hidden, bias=False)
        for lin in (self.e_x, self.e_h):
            nn.init.kaiming_uniform_(lin.weight, nonlinearity="linear")  # LeCun uniform: U(+-sqrt(3/fan_in))
        nn.init.zeros_(self.e_m.weight)
        for lin in (self.W_x, self.W_h, self.W_m):
            nn.init.xavier_normal_(lin.weight)
        self.W_o = nn.Linear(hidden, n_out, bias=False) if n_out is not None else None

        def pop(size):
            if neuron == "lif":
                return snntorch_leaky(beta, threshold, size=size, learn_beta=learn, learn_threshold=learn)
            params = CubaLIFParams.from_decays(alpha, beta, v_th=threshold, reset="subtract", reset_delay=True,
                                               detach_reset=True, threshold_rule=">")
            return CubaLIF(params, surrogate="atan", slope=2.0, size=size, learn_beta=learn, learn_threshold=learn,
                           learn_alpha=learn)

        self.lif_u = pop(memory_size)
        self.lif_m = pop((memory_size, order))
        self.lif_h = pop(hidden)
        self.lif_o = pop(n_out) if n_out is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, (self.n_in,), "L2MU", f"[T, B, {self.n_in}]")
        check_sequence(x)  # once: the populations' per-step calls skip it (a device read-back each)
        with inputs_checked():
            return self._steps(x)

    def _steps(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        s_h = x.new_zeros(B, self.hidden)
        s_m = x.new_zeros(B, self.memory_size, self.order)
        st_u = st_m = st_h = st_o = None
        out = []
        for t in range(T):
            xt = x[t]
            i_u = self.e_x(xt) + self.e_h(s_h) + self.e_m(s_m.flatten(1))
            s_u, st_u = self.lif_u(i_u.unsqueeze(0), st_u, return_state=True)
            i_m = s_m @ self.A_bar.T + s_u[0].unsqueeze(-1) * self.B_bar
            s_m1, st_m = self.lif_m(i_m.unsqueeze(0), st_m, return_state=True)
            s_m = s_m1[0]
            i_h = self.W_x(xt) + self.W_h(s_h) + self.W_m(s_m.flatten(1))
            s_h1, st_h = self.lif_h(i_h.unsqueeze(0), st_h, return_state=True)
            s_h = s_h1[0]
            if self.W_o is not None:
                s_o, st_o = self.lif_o(self.W_o(s_h).unsqueeze(0), st_o, return_state=True)
                out.append(s_o[0])
            else:
                out.append(s_h)
        return torch.stack(out)


@register_handler(L2MU)
def trace_l2mu(tr, m: L2MU, name: str, args: tuple, out: torch.Tensor) -> None:
    """Tracer handler: the populations ``lif_u`` / ``lif_m`` / ``lif_h`` (/ ``lif_o``) as LIF / CubaLIF
    nodes with the learned per-neuron beta / threshold (/ alpha), the encoders and weights as
    ``nir.Linear``, ``S_m A_bar^T`` as ``neuromap.AxisLinear`` and ``S_u (x) B_bar`` as
    ``neuromap.Outer``. Within a step spikes flow u -> m -> h (-> o); the edges that read ``S_h[t-1]`` /
    ``S_m[t-1]`` (into ``e_h``, ``e_m``, ``W_h`` and ``A_bar``) are marked delayed (``tr.delayed``).
    Edge order into each population is the module's order of the sum."""
    src = single_input(tr, name, args)
    pops = [m.lif_u, m.lif_m, m.lif_h] + ([m.lif_o] if m.W_o is not None else [])
    for key, pop in zip(("lif_u", "lif_m", "lif_h", "lif_o"), pops):
        if not isinstance(pop, SpikingNeuron) or getattr(pop, "impl", "fused") != "fused":
            raise GraphError(f"trace: L2MU {name!r}: population {key} must be a fused neuromap LIF / CubaLIF")
    prefix = tr.names.get(id(m), "")
    M, d = m.memory_size, m.order

    def add(key: str, node: nir.NIRNode) -> str:
        n = tr.unique(f"{prefix}.{key}" if prefix else key)
        tr.nodes[n] = node
        return n

    def lin(key: str) -> str:
        return add(key, nir.Linear(weight=to_numpy(getattr(m, key).weight)))

    def flat(key: str) -> str:
        return add(key, nir.Flatten(input_type={"input": np.asarray((M, d))}, start_dim=0, end_dim=1))

    e_x, e_h, f_em, e_m = lin("e_x"), lin("e_h"), flat("e_m.flatten"), lin("e_m")
    u = add("lif_u", population_node(m.lif_u, (M,)))
    a_bar = add("A_bar", extension_nodes.AxisLinear(weight=to_numpy(m.A_bar)))
    b_bar = add("B_bar", extension_nodes.Outer(vector=to_numpy(m.B_bar)))
    mem = add("lif_m", population_node(m.lif_m, (M, d)))
    w_x, w_h, f_wm, w_m = lin("W_x"), lin("W_h"), flat("W_m.flatten"), lin("W_m")
    h = add("lif_h", population_node(m.lif_h, (m.hidden,)))
    edges = [(s, e_x) for s in src] + [(h, e_h), (mem, f_em), (f_em, e_m), (e_x, u), (e_h, u), (e_m, u),
                                       (mem, a_bar), (u, b_bar), (a_bar, mem), (b_bar, mem)]
    edges += [(s, w_x) for s in src] + [(h, w_h), (mem, f_wm), (f_wm, w_m), (w_x, h), (w_h, h), (w_m, h)]
    last = h
    if m.W_o is not None:
        w_o = lin("W_o")
        last = add("lif_o", population_node(m.lif_o, (m.n_out,)))
        edges += [(h, w_o), (w_o, last)]
    tr.edges += edges
    tr.delayed += [(h, e_h), (mem, f_em), (mem, a_bar), (h, w_h)]  # S_h[t-1], S_m[t-1]
    tr.bind(out, [last])


__all__ = [
    "lmu_matrices",
    "discretize",
    "shifted_legendre",
    "legendre_decoder",
    "causal_fft_conv",
    "LMUMemory",
    "LMU",
    "LMUClassifier",
    "LMUCell",
    "LMUFormerBlock",
    "ConvEmbedding",
    "CausalConv1d",
    "SeqBN",
    "LMUFormer",
    "L2MU",
]
