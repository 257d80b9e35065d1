"""Spike-driven Transformer V1 (Yao et al., NeurIPS 2023), on time-major ``[T, B, C, H, W]``.

Structure (Yao et al., NeurIPS 2023; BICLab/Spike-Driven-Transformer model.py)::

    x [T, B, C_in, H, W]
      -> SpikingPatchStem: (Conv3x3 -> BN -> [MaxPool] -> LIF) per stage; the last stage keeps the
         membrane x_feat (before its LIF) and adds RPE = BN(Conv3x3(LIF(x_feat)))      -> U
      -> L x SDTBlock:  U = U + SDSAttention(U);  U = U + SpikingMLP(U)   (membrane shortcuts)
      -> head: token mean -> LIF -> Linear                                   -> logits [T, B, classes]

Every conv / BN runs on ``[T*B, ...]`` (:class:`MultiStep`); every neuron on ``[T, B, ...]``. All
neurons are SpikingJelly-style LIF (tau 2, hard reset to 0, ``>=``, sigmoid(4) surrogate,
``detach_reset``); the attention neuron has threshold 0.5. Train with the mean-over-time logits
(``loss="membrane_ce"``).

SDSA-1 (:class:`SDSA`): ``A = LIF_0.5(sum_n K[n] * V[n])`` per channel (Hadamard product summed over
tokens), ``Y = Q * A``: with binary Q, K, V it is an AND, a popcount and a mask — additions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from neuromap import synapses
from neuromap.graph.extension_nodes import AttentionUnit
from neuromap.graph.nodes import register_node
from neuromap.graph.trace_handlers import attention_inputs, neuron_field, register_handler

from .multistep import MultiStep, check_heads, check_input, check_positive_int, neuron_factory


class SDSA(nn.Module):
    """Spike-driven self-attention, V1 ("SDSA-1"): the attention op on spike tensors.

    ``forward(q, k, v)`` with ``q, k, v`` of shape ``[T, B, N, C]`` (tokens ``N``, channels ``C``)
    returns ``Y = Q * LIF_{v_th}(sum_n K[n] * V[n])`` of the same shape. The sum over tokens is per
    channel, so the result does not depend on how channels are grouped into heads (``heads`` is kept
    for the reference's layout and its divisibility check).
    """

    spike_driven_op = True  # the audit records its inputs (see neuromap.audit)

    def __init__(self, dim: int, heads: int = 8, v_th: float = 0.5, neuron: str = "spikingjelly") -> None:
        super().__init__()
        check_positive_int("dim", dim)
        check_heads(dim, heads)
        self.dim, self.heads = dim, heads
        self.neuron = neuron_factory(neuron)(v_th=v_th)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        for name, t in (("q", q), ("k", k), ("v", v)):
            if t.dim() != 4 or t.shape[-1] != self.dim:
                raise ValueError(f"SDSA expects {name} of shape [T, B, N, {self.dim}], got {tuple(t.shape)}")
        kv = (k * v).sum(dim=2, keepdim=True)  # [T, B, 1, C]: per-channel count of tokens where K AND V
        a = self.neuron(kv)
        return q * a

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}"


@register_node(stateful=True)
@dataclass(eq=False)
class SDSANode(AttentionUnit):
    """The graph node of :class:`SDSA` (saved as ``neuromap.SDSA``): ``Y = Q * LIF(sum_n K[n] * V[n])``
    per channel (the LIF is ``(1, C)``). Attributes: ``dim`` (C), ``heads`` (layout only: the result
    does not depend on it), ``neuron`` (the attention LIF, JSON: :func:`neuromap.graph.extension_nodes.neuron_json`)."""

    TYPE = "SDSA"
    dim: int
    heads: int
    neuron: str

    def __post_init__(self) -> None:
        self.check()

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (k * v).sum(dim=2, keepdim=True)

    def output(self, q: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
        return q * spikes


@register_handler(SDSA)
def trace_sdsa(tr, m: SDSA, name: str, args: tuple, out: torch.Tensor) -> None:
    """Tracer handler: q, k, v as three ``neuromap.Place`` ports -> one ``neuromap.SDSA`` node."""
    node = SDSANode(dim=m.dim, heads=m.heads, neuron=neuron_field(m.neuron))
    tr.bind(out, [tr.add_node(name, node, attention_inputs(tr, name, args))])


def conv_bn(c_in: int, c_out: int, kernel: int = 1, bias: bool = False, stride: int = 1) -> MultiStep:
    # Event-driven on the CPU when the input is sparse spikes (neuromap.synapses), dense otherwise.
    conv = synapses.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=bias)
    return MultiStep(conv, nn.BatchNorm2d(c_out))


class SDSAttention(nn.Module):
    """The attention branch of an SDT V1 block on membranes ``U [T, B, D, H, W]``::

        S = LIF(U);  Q, K, V = LIF(BN(Conv1x1(S)));  Y = SDSA(Q, K, V);  out = BN(Conv1x1(Y))
    """

    def __init__(self, dim: int, heads: int = 8, attn_v_th: float = 0.5, neuron: str = "spikingjelly") -> None:
        super().__init__()
        check_heads(dim, heads)
        make = neuron_factory(neuron)
        self.shortcut_lif = make()
        self.q_conv, self.q_lif = conv_bn(dim, dim), make()
        self.k_conv, self.k_lif = conv_bn(dim, dim), make()
        self.v_conv, self.v_lif = conv_bn(dim, dim), make()
        self.attn = SDSA(dim, heads, attn_v_th, neuron)
        self.proj_conv = conv_bn(dim, dim, bias=True)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        T, B, C, H, W = u.shape
        s = self.shortcut_lif(u)

        def tokens(x: torch.Tensor) -> torch.Tensor:  # [T, B, C, H, W] -> [T, B, N, C]
            return x.flatten(3).transpose(2, 3)

        q = tokens(self.q_lif(self.q_conv(s)))
        k = tokens(self.k_lif(self.k_conv(s)))
        v = tokens(self.v_lif(self.v_conv(s)))
        y = self.attn(q, k, v).transpose(2, 3).reshape(T, B, C, H, W)
        return self.proj_conv(y)


class SpikingConvMLP(nn.Module):
    """``BN(Conv1x1(LIF(BN(Conv1x1(LIF(U))))))`` with hidden width ``hidden`` (membrane in and out)."""

    def __init__(self, dim: int, hidden: int, neuron: str = "spikingjelly") -> None:
        super().__init__()
        make = neuron_factory(neuron)
        self.fc1_lif, self.fc1 = make(), conv_bn(dim, hidden, bias=True)
        self.fc2_lif, self.fc2 = make(), conv_bn(hidden, dim, bias=True)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc2_lif(self.fc1(self.fc1_lif(u))))


class SDTBlock(nn.Module):
    """Encoder block with membrane shortcuts: ``U += SDSAttention(U); U += MLP(U)``."""

    def __init__(
        self, dim: int, heads: int = 8, mlp_ratio: float = 4.0, attn_v_th: float = 0.5, neuron: str = "spikingjelly"
    ) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        check_positive_int("mlp hidden width (dim * mlp_ratio)", hidden)
        self.attn = SDSAttention(dim, heads, attn_v_th, neuron)
        self.mlp = SpikingConvMLP(dim, hidden, neuron)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = u + self.attn(u)
        return u + self.mlp(u)


class SpikingPatchStem(nn.Module):
    """SPS: ``len(channels)`` stages of Conv3x3 -> BN -> [MaxPool3x3/2] -> LIF; the last stage's
    membrane ``x_feat`` plus ``RPE = BN(Conv3x3(LIF(x_feat)))`` is the (membrane) output."""

    def __init__(self, in_channels: int, channels: Sequence[int], pooling: Sequence[bool], neuron: str = "spikingjelly"):
        super().__init__()
        check_positive_int("in_channels", in_channels)
        if len(channels) < 1 or len(channels) != len(pooling):
            raise ValueError(
                f"stem channels ({len(channels)}) and pooling ({len(pooling)}) must have the same, non-zero length"
            )
        make = neuron_factory(neuron)
        self.convs = nn.ModuleList()
        self.lifs = nn.ModuleList()
        c_prev = in_channels
        for i, (c, pool) in enumerate(zip(channels, pooling)):
            check_positive_int(f"stem_channels[{i}]", c)
            layers: list[nn.Module] = [synapses.Conv2d(c_prev, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)]
            if pool:
                layers.append(nn.MaxPool2d(3, stride=2, padding=1))
            self.convs.append(MultiStep(*layers))
            self.lifs.append(make())  # the last one feeds the RPE branch
            c_prev = c
        self.rpe = conv_bn(c_prev, c_prev, kernel=3)
        self.out_channels = c_prev
        self.downsample = 2 ** sum(bool(p) for p in pooling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.convs)
        for i, (conv, lif) in enumerate(zip(self.convs, self.lifs)):
            x = conv(x)
            if i < n - 1:
                x = lif(x)
        x_feat = x
        return x_feat + self.rpe(self.lifs[-1](x_feat))


class SpikeDrivenTransformer(nn.Module):
    """Spike-driven Transformer V1 for images (time-major input ``[T, B, C_in, H, W]``).

    Args:
        in_channels, num_classes, img_size: input channels, classes, square image side.
        stem_channels, stem_pooling: SPS widths (the last is the embedding width D) and which stages pool.
        depth, heads, mlp_ratio: encoder blocks, attention heads (must divide D), MLP hidden ratio.
        attn_v_th: threshold of the SDSA neuron (0.5 in the reference).
        neuron: ``"spikingjelly"`` (reference) or ``"snntorch"`` convention for every LIF.

    ``forward(x) -> logits [T, B, num_classes]`` (average over T for the prediction).
    :meth:`tiny` is the digits configuration (8x8 -> 4x4 = 16 tokens).
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        img_size: int = 32,
        stem_channels: Sequence[int] = (64, 128, 256, 512),
        stem_pooling: Sequence[bool] = (False, False, True, True),
        depth: int = 2,
        heads: int = 8,
        mlp_ratio: float = 4.0,
        attn_v_th: float = 0.5,
        neuron: str = "spikingjelly",
    ) -> None:
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("img_size", img_size)
        check_positive_int("depth", depth)
        dim = stem_channels[-1] if len(stem_channels) else 0
        check_heads(dim, heads, "embedding width (stem_channels[-1])")
        self.in_channels, self.img_size, self.num_classes = in_channels, img_size, num_classes
        self.stem = SpikingPatchStem(in_channels, stem_channels, stem_pooling, neuron)
        self.blocks = nn.ModuleList(SDTBlock(dim, heads, mlp_ratio, attn_v_th, neuron) for _ in range(depth))
        self.head_lif = neuron_factory(neuron)()
        self.head = synapses.Linear(dim, num_classes)
        self.dim = dim

    @classmethod
    def tiny(cls, in_channels: int = 1, num_classes: int = 10, img_size: int = 8, **kwargs) -> SpikeDrivenTransformer:
        """Digits config (notes §11 row 2): stem 1->32->64, one pool (8x8 -> 4x4), 1 block, 4 heads."""
        cfg = dict(stem_channels=(32, 64), stem_pooling=(False, True), depth=1, heads=4, mlp_ratio=4.0)
        cfg.update(kwargs)
        return cls(in_channels, num_classes, img_size, **cfg)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        u = self.stem(x)
        for blk in self.blocks:
            u = blk(u)
        return u

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, (self.in_channels, self.img_size, self.img_size), "SpikeDrivenTransformer", "[T, B, C_in, H, W]")
        u = self.forward_features(x)
        feat = u.flatten(3).mean(3)  # [T, B, D]
        return self.head(self.head_lif(feat))
