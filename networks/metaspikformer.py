"""Spike-driven Transformer V2 — Meta-SpikeFormer (Yao et al., ICLR 2024), time-major ``[T, B, C, H, W]``.

Stages (BICLab/Spike-Driven-Transformer-V2 ``classification/models.py``), each ``Downsampling ->
blocks``; a downsampling layer is ``[LIF] -> Conv(k, stride) -> BN`` (no LIF before the very first conv). Blocks are
:class:`ConvBlock` (conv stages) or :class:`MetaTransformerBlock` (transformer stages); every
block keeps membrane shortcuts, so every conv / linear after the stem sees spikes.

* ConvBlock: ``U += SepConv(U)`` (LIF -> PW conv + BN -> LIF -> DW 7x7 conv + BN -> LIF -> PW conv + BN),
  then ``U += BN(Conv3x3(LIF(BN(Conv3x3(LIF(U))))))`` (hidden ``mlp_ratio * C``).
* Transformer block: ``U += SDSA3Attention(U); U += MLP(U)``.
* SDSA-3 (:class:`SDSA3`): ``Y = LIF_0.5(Q (K^T V) * scale)`` per head, ``scale = 0.125``; computed as
  ``K^T V`` first (a ``[C/h, C/h]`` matrix of co-occurrence counts), never the ``N x N`` matrix.
  Q, K, V come from ``LIF(BN(RepConv(LIF(U))))``; :class:`RepConv` (1x1 conv -> BN padded with its
  own bias -> DW 3x3 -> 1x1 conv -> BN) fuses into one 3x3 conv at inference (:meth:`RepConv.fuse`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuromap import synapses
from neuromap.graph.extension_nodes import AttentionUnit
from neuromap.graph.nodes import register_node
from neuromap.graph.trace_handlers import (
    attention_inputs,
    bn_scale_shift,
    fold_into,
    neuron_field,
    register_handler,
    single_input,
    to_numpy,
)

from .multistep import MultiStep, check_heads, check_input, check_positive_int, neuron_factory
from .sdt import SpikingConvMLP


class SDSA3(nn.Module):
    """SDSA-3 linear attention on spike tensors ``q, k, v [T, B, N, C]``::

        Y[h] = LIF_{v_th}( Q[h] (K[h]^T V[h]) * scale ),   heads h split the channels

    returns ``[T, B, N, C]``. ``K^T V`` is ``[C/h, C/h]`` per head: the cost is ``O(N (C/h)^2)``.

    The product runs on :func:`neuromap.synapses.attention_path`: event-driven on the CPU for binary
    sparse Q, K, V (bit masks and popcounts; identical values, gradients equal to rounding), dense
    otherwise. ``mode``: ``"auto"`` (the measured density crossover), ``"dense"`` or ``"sparse"``, as for
    :class:`neuromap.synapses.Linear`; ``synapses.use("dense")`` forces dense globally.
    """

    spike_driven_op = True

    def __init__(self, dim: int, heads: int = 8, scale: float = 0.125, v_th: float = 0.5, neuron: str = "spikingjelly",
                 mode: str = "auto"):
        super().__init__()
        check_positive_int("dim", dim)
        check_heads(dim, heads)
        if not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        self.dim, self.heads, self.scale = dim, heads, float(scale)
        self.neuron = neuron_factory(neuron)(v_th=v_th)
        self.mode = synapses.check_mode(mode)
        self.last_path = None  # "sparse" | "dense": what the last product ran (for tests and profiling)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        T, B, N, C = x.shape
        return x.reshape(T, B, N, self.heads, C // self.heads).transpose(2, 3)  # [T, B, h, N, C/h]

    def attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The pre-neuron value ``Q (K^T V) * scale`` as ``[T, B, N, C]`` (for tests and analysis)."""
        for name, t in (("q", q), ("k", k), ("v", v)):
            if t.dim() != 4 or t.shape[-1] != self.dim:
                raise ValueError(f"SDSA3 expects {name} of shape [T, B, N, {self.dim}], got {tuple(t.shape)}")
        y, self.last_path = synapses.attention_path(q, k, v, self.heads, self.mode)  # [T, B, N, C]
        return y * self.scale

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.neuron(self.attention(q, k, v))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, scale={self.scale}, mode={self.mode}"


@register_node(stateful=True)
@dataclass(eq=False)
class SDSA3Node(AttentionUnit):
    """The graph node of :class:`SDSA3` (saved as ``neuromap.SDSA3``): linear attention
    ``Y[h] = LIF(Q[h] (K[h]^T V[h]) * scale)`` per head (the LIF is ``(N, C)``)."""

    TYPE = "SDSA3"
    dim: int
    heads: int
    scale: float
    neuron: str

    def __post_init__(self) -> None:
        self.scale = float(self.scale)
        if not self.scale > 0:
            raise ValueError(f"SDSA3 scale must be positive, got {self.scale}")
        self.check()

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``Q (K^T V) * scale`` with the module's own product (event-driven for binary operands;
        exact whole-number sums, so either path gives the module's values)."""
        return synapses.attention(q, k, v, self.heads) * self.scale


@register_handler(SDSA3)
def trace_sdsa3(tr, m: SDSA3, name: str, args: tuple, out: torch.Tensor) -> None:
    """Tracer handler: q, k, v as three ``neuromap.Place`` ports -> one ``neuromap.SDSA3`` node."""
    node = SDSA3Node(dim=m.dim, heads=m.heads, scale=m.scale, neuron=neuron_field(m.neuron))
    tr.bind(out, [tr.add_node(name, node, attention_inputs(tr, name, args))])


class BNAndPad(nn.Module):
    """BatchNorm2d, then pad by ``pad`` with the value BN maps 0 to (so a later conv can be fused)."""

    def __init__(self, channels: int, pad: int = 1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.pad = pad

    def pad_values(self) -> torch.Tensor:
        bn = self.bn
        return bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(x)
        if self.pad > 0:
            y = F.pad(y, [self.pad] * 4)
            v = self.pad_values().view(1, -1, 1, 1)
            p = self.pad
            y[:, :, :p, :] = v
            y[:, :, -p:, :] = v
            y[:, :, :, :p] = v
            y[:, :, :, -p:] = v
        return y


def _fuse_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    std = torch.sqrt(bn.running_var + bn.eps)
    w = weight * (bn.weight / std).reshape(-1, *([1] * (weight.dim() - 1)))
    b = (bias if bias is not None else torch.zeros_like(bn.running_mean)) - bn.running_mean
    return w, bn.bias + b * bn.weight / std


class RepConv(nn.Module):
    """Re-parameterisable conv: Conv1x1 -> BNAndPad -> DW-Conv3x3 -> Conv1x1 -> BN (on ``[N, C, H, W]``).

    ``audit_as_unit``: the spike-driven audit treats it as the single 3x3 conv it fuses into.
    """

    audit_as_unit = True

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_in, 1, bias=False)
        self.bn_pad = BNAndPad(c_in, 1)
        self.dw = nn.Conv2d(c_in, c_in, 3, groups=c_in, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    @property
    def pad_bn(self) -> nn.BatchNorm2d:
        """The BatchNorm between ``conv1`` and the depthwise conv (its output is padded with BN(0))."""
        return self.bn_pad.bn

    @property
    def pad(self) -> int:
        """Border width (pixels) that the BatchNorm's zero-input value pads ``conv1``'s output with."""
        return int(self.bn_pad.pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv2(self.dw(self.bn_pad(self.conv1(x)))))

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        """One 3x3 conv (padding 1, with bias) equal to this module in eval mode."""
        c_in = self.conv1.in_channels
        w1, b1 = _fuse_bn(self.conv1.weight, None, self.pad_bn)  # [c_in, c_in, 1, 1], padding value = b1
        # dw3x3 o (w1 x + b1): 3x3 kernel per input channel, bias = b1 * sum(dw kernel)
        dw = self.dw.weight  # [c_in, 1, 3, 3]
        w_mid = w1.reshape(c_in, c_in, 1, 1) * dw  # (o, i): w1[o, i] * dw[o]
        b_mid = b1 * dw.sum(dim=(1, 2, 3))
        w2 = self.conv2.weight.reshape(self.conv2.out_channels, c_in)
        w = torch.einsum("po,oikl->pikl", w2, w_mid)
        b = w2 @ b_mid
        w, b = _fuse_bn(w, b, self.bn)
        conv = nn.Conv2d(c_in, self.conv2.out_channels, 3, padding=1, bias=True)
        conv.weight.copy_(w)
        conv.bias.copy_(b)
        return conv


@register_handler(RepConv)
def trace_repconv(tr, m: RepConv, name: str, args: tuple, out: torch.Tensor) -> None:
    """Tracer handler: the three convolutions with both BatchNorms folded. BNAndPad's border value is
    exactly what a 1x1 conv with bias produces on zero padding, so conv1 gets ``padding=pad``."""
    src = single_input(tr, name, args)
    fi = tr.feature(args[0], f"module {name!r}")
    c_in = m.conv1.in_channels
    w1, b1 = fold_into(to_numpy(m.conv1.weight), None, *bn_scale_shift(m.pad_bn, f"{name}.bn_pad.bn"))
    pad = m.pad
    w3, b3 = fold_into(to_numpy(m.conv2.weight), None, *bn_scale_shift(m.bn, f"{name}.bn"))
    h, w = fi[1] + 2 * pad, fi[2] + 2 * pad
    conv = lambda weight, bias, size, padding, groups: nir.Conv2d(  # noqa: E731
        input_shape=np.asarray(size), weight=weight, stride=np.asarray((1, 1)), padding=np.asarray((padding, padding)),
        dilation=np.asarray((1, 1)), groups=groups, bias=bias)
    a = tr.add_node(f"{name}.conv1", conv(w1, b1, fi[1:], pad, 1), src)
    dw = to_numpy(m.dw.weight)
    b = tr.add_node(f"{name}.dw", conv(dw, np.zeros(c_in, dtype=dw.dtype), (h, w), 0, c_in), [a])
    tr.bind(out, [tr.add_node(f"{name}.conv2", conv(w3, b3, (h - 2, w - 2), 0, 1), [b])])


class SDSA3Attention(nn.Module):
    """``S = LIF(U); Q, K, V = LIF(BN(RepConv(S))); Y = SDSA3(Q, K, V); out = BN(RepConv(Y))``."""

    def __init__(self, dim: int, heads: int = 8, scale: float = 0.125, attn_v_th: float = 0.5, neuron: str = "spikingjelly"):
        super().__init__()
        check_heads(dim, heads)
        make = neuron_factory(neuron)
        self.head_lif = make()
        self.q_conv, self.q_lif = MultiStep(RepConv(dim, dim), nn.BatchNorm2d(dim)), make()
        self.k_conv, self.k_lif = MultiStep(RepConv(dim, dim), nn.BatchNorm2d(dim)), make()
        self.v_conv, self.v_lif = MultiStep(RepConv(dim, dim), nn.BatchNorm2d(dim)), make()
        self.attn = SDSA3(dim, heads, scale, attn_v_th, neuron)
        self.proj_conv = MultiStep(RepConv(dim, dim), nn.BatchNorm2d(dim))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        T, B, C, H, W = u.shape
        s = self.head_lif(u)

        def tokens(x: torch.Tensor) -> torch.Tensor:
            return x.flatten(3).transpose(2, 3)

        q = tokens(self.q_lif(self.q_conv(s)))
        k = tokens(self.k_lif(self.k_conv(s)))
        v = tokens(self.v_lif(self.v_conv(s)))
        y = self.attn(q, k, v).transpose(2, 3).reshape(T, B, C, H, W)
        return self.proj_conv(y)


class MetaTransformerBlock(nn.Module):
    """``U += SDSA3Attention(U); U += MLP(U)`` (membrane shortcuts)."""

    def __init__(self, dim: int, heads: int = 8, mlp_ratio: float = 4.0, scale: float = 0.125, neuron: str = "spikingjelly"):
        super().__init__()
        self.attn = SDSA3Attention(dim, heads, scale, 0.5, neuron)
        self.mlp = SpikingConvMLP(dim, int(dim * mlp_ratio), neuron)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = u + self.attn(u)
        return u + self.mlp(u)


class SepConv(nn.Module):
    """Inverted separable conv on membranes: LIF -> PW(C->rC)+BN -> LIF -> DW kxk+BN -> LIF -> PW(rC->C)+BN."""

    def __init__(self, dim: int, expansion: int = 2, kernel: int = 7, neuron: str = "spikingjelly") -> None:
        super().__init__()
        med = dim * expansion
        make = neuron_factory(neuron)
        self.lif1 = make()
        self.pw1 = MultiStep(synapses.Conv2d(dim, med, 1, bias=False), nn.BatchNorm2d(med))
        self.lif2 = make()
        self.dw = MultiStep(nn.Conv2d(med, med, kernel, padding=kernel // 2, groups=med, bias=False), nn.BatchNorm2d(med))
        self.lif3 = make()
        self.pw2 = MultiStep(synapses.Conv2d(med, dim, 1, bias=False), nn.BatchNorm2d(dim))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.pw2(self.lif3(self.dw(self.lif2(self.pw1(self.lif1(u))))))


class ConvBlock(nn.Module):
    """``U += SepConv(U); U += BN(Conv3x3(LIF(BN(Conv3x3(LIF(U))))))`` (hidden width ``mlp_ratio * C``)."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0, sep_kernel: int = 7, neuron: str = "spikingjelly") -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        check_positive_int("conv block hidden width (dim * mlp_ratio)", hidden)
        make = neuron_factory(neuron)
        self.sepconv = SepConv(dim, 2, sep_kernel, neuron)
        self.lif1 = make()
        self.conv1 = MultiStep(synapses.Conv2d(dim, hidden, 3, padding=1, bias=False), nn.BatchNorm2d(hidden))
        self.lif2 = make()
        self.conv2 = MultiStep(synapses.Conv2d(hidden, dim, 3, padding=1, bias=False), nn.BatchNorm2d(dim))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = u + self.sepconv(u)
        return u + self.conv2(self.lif2(self.conv1(self.lif1(u))))


class Downsampling(nn.Module):
    """``[LIF] -> Conv(kernel, stride, padding) -> BN`` (``first=True``: no LIF, the conv sees pixels)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, first: bool = False, neuron: str = "spikingjelly"):
        super().__init__()
        self.lif = None if first else neuron_factory(neuron)()
        conv = synapses.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)  # event-driven on sparse spikes
        self.conv = MultiStep(conv, nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lif is not None:
            x = self.lif(x)
        return self.conv(x)


@dataclass(frozen=True)
class Stage:
    """One stage: downsampling to ``width`` (``kernel``, ``stride``), then ``depth`` blocks of ``kind``."""

    kind: str  # "conv" or "transformer"
    width: int
    depth: int
    kernel: int = 3
    stride: int = 2


class MetaSpikeFormer(nn.Module):
    """Meta-SpikeFormer (SDT V2). Input ``[T, B, C_in, H, W]``; output logits ``[T, B, num_classes]``.

    Args:
        stages: a sequence of :class:`Stage` (or ``(kind, width, depth, kernel, stride)`` tuples).
        heads, mlp_ratio, scale: transformer heads (must divide each transformer width), MLP ratio,
            SDSA-3 scale (0.125 in the reference).
        neuron: ``"spikingjelly"`` (reference) or ``"snntorch"``.

    :meth:`reference` builds the paper's ImageNet layout for widths ``C = [C0, C1, C2, C3]``;
    :meth:`tiny` is the 8x8 digits configuration.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 1000,
        img_size: int = 224,
        stages: Sequence[Stage | tuple] = (),
        heads: int = 8,
        mlp_ratio: float = 4.0,
        scale: float = 0.125,
        neuron: str = "spikingjelly",
    ) -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("num_classes", num_classes)
        check_positive_int("img_size", img_size)
        stages = [s if isinstance(s, Stage) else Stage(*s) for s in stages]
        if not stages:
            raise ValueError("stages must list at least one Stage(kind, width, depth, kernel, stride)")
        self.in_channels, self.img_size, self.num_classes = in_channels, img_size, num_classes
        self.stages_cfg = stages
        self.downsample = nn.ModuleList()
        self.stages = nn.ModuleList()
        c_prev = in_channels
        for i, st in enumerate(stages):
            if st.kind not in ("conv", "transformer"):
                raise ValueError(f"stages[{i}].kind={st.kind!r} is not one of ['conv', 'transformer']")
            check_positive_int(f"stages[{i}].width", st.width)
            check_positive_int(f"stages[{i}].depth", st.depth, 0)
            check_positive_int(f"stages[{i}].kernel", st.kernel)
            check_positive_int(f"stages[{i}].stride", st.stride)
            if st.kind == "transformer":
                check_heads(st.width, heads, f"stages[{i}].width")
            self.downsample.append(Downsampling(c_prev, st.width, st.kernel, st.stride, first=(i == 0), neuron=neuron))
            if st.kind == "conv":
                blocks = [ConvBlock(st.width, mlp_ratio, neuron=neuron) for _ in range(st.depth)]
            else:
                blocks = [MetaTransformerBlock(st.width, heads, mlp_ratio, scale, neuron) for _ in range(st.depth)]
            self.stages.append(nn.Sequential(*blocks))
            c_prev = st.width
        self.head_lif = neuron_factory(neuron)()
        self.head = synapses.Linear(c_prev, num_classes)

    @classmethod
    def reference(cls, widths: Sequence[int] = (96, 192, 384, 480), in_channels: int = 3, num_classes: int = 1000, **kw):
        """The ImageNet layout (notes §3.1): widths [96,192,384,480] (15M), [128,256,512,640], [192,384,768,960]."""
        c0, c1, c2, c3 = widths
        stages = [
            Stage("conv", c0 // 2, 1, 7, 2),
            Stage("conv", c0, 1, 3, 2),
            Stage("conv", c1, 2, 3, 2),
            Stage("transformer", c2, 6, 3, 2),
            Stage("transformer", c3, 2, 3, 1),
        ]
        return cls(in_channels, num_classes, kw.pop("img_size", 224), stages, **kw)

    @classmethod
    def tiny(cls, in_channels: int = 1, num_classes: int = 10, img_size: int = 8, **kw) -> MetaSpikeFormer:
        """Digits (notes §11 row 3): a conv stem (1 -> 32 ch @ 8x8, no ConvBlock: ConvBlocks at 8x8 cost
        minutes per epoch on 2 cores) and a transformer stage (64 ch @ 4x4 = 16 tokens, 4 heads, MLP x2)."""
        stages = kw.pop(
            "stages",
            [Stage("conv", 32, 0, 3, 1), Stage("transformer", 64, 1, 3, 2)],
        )
        kw.setdefault("heads", 4)
        kw.setdefault("mlp_ratio", 2.0)
        return cls(in_channels, num_classes, img_size, stages, **kw)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for down, blocks in zip(self.downsample, self.stages):
            x = blocks(down(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, (self.in_channels, self.img_size, self.img_size), "MetaSpikeFormer", "[T, B, C_in, H, W]")
        u = self.forward_features(x)
        return self.head(self.head_lif(u.flatten(3).mean(3)))
