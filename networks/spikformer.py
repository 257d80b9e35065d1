"""Spikformer (Zhou et al., ICLR 2023) and Spikformer V2 (Zhou et al., arXiv 2401.02020), time-major
``[T, B, C, H, W]``.

Structure (after the reference code, ZK-Zhou/spikformer ``cifar10/model.py``)::

    x [T, B, C_in, H, W]
      -> SpikingConvStem: per stage Conv3x3 -> BN -> LIF -> [MaxPool3x3/2], then ``supplementary``
         x (Conv3x3 -> BN -> LIF); the last stage's spikes x_feat plus RPE = LIF(BN(Conv3x3(x_feat)))
      -> L x SpikformerBlock:  X = X + SSA(X);  X = X + MLP(X)          (spike-level residuals)
      -> head: token mean -> Linear                                    -> logits [T, B, classes]

* **SSA** (:class:`SSA`): ``Q, K, V = LIF(BN(Linear(X)))``;
  ``Y = LIF_0.5(Q K^T V * scale)`` per head (``scale = 0.125``, no softmax); out ``LIF(BN(Linear(Y)))``.
  The product is the zoo's :class:`~networks.metaspikformer.SDSA3` node ``LIF(Q (K^T V) * scale)``:
  ``(Q K^T) V == Q (K^T V)`` (associativity; with binary Q, K, V both are sums of integer counts,
  exact in float32, and the scale is a power of two), and computing ``K^T V`` first costs ``O(N (C/h)^2)`` instead of
  ``O(N^2 C/h)``.
* **MLP** (:class:`SpikformerMLP`): ``LIF(BN(Linear(LIF(BN(Linear(X))))))`` (hidden ``mlp_ratio * C``).
* **Linear over tokens** is written as a 1x1 convolution on the ``[C, H, W]`` map: the same product
  (each token's channel vector times ``W^T``), and BatchNorm2d over channels with statistics over
  time, batch and tokens is the reference's ``BatchNorm1d`` on ``[T*B, C, N]``. The model stays in
  the image layout (as the SDT models here) and the tokens ``[T, B, N, C]`` exist only around SSA.
* **SCS** (:class:`SpikingConvStem`): Spikformer's SPS (Conv3x3-BN-LIF stages, max-pooling after the
  LIF of the pooled stages, spiking RPE added to x_feat) is the ``supplementary=0`` case. V2's
  paper describes the SCS as that stem with supplementary convolution layers; V2's code is not
  public (the repository's README: "The Spikformer V2 code will be released after it organized"),
  so where they go is a parameter here: ``supplementary`` Conv3x3-BN-LIF layers at the stage's
  width after each stage (after its pooling).

**Residual semantics: spike-level (SEW "ADD"), as in Spikformer.** A block adds the *spikes* of its
branch to its input: ``X + SSA(X)`` and ``X + MLP(X)`` with both branches ending in a LIF. The
stem output ``x_feat + RPE`` is in {0, 1, 2}; after ``L`` blocks the residual stream holds
integers in ``{0, ..., 2 + 2L}``. So every neuron output is binary (spikes), but the Linear layers
of Q, K, V and the first MLP layer see **integers** and the head their token mean (real): they are
not spike-driven (the point Spike-driven Transformer V1 addressed with membrane shortcuts). The
first stem conv sees pixels (real). :func:`neuromap.audit.spike_driven_audit` reports exactly this.
On hardware the residual stream is never materialised: the lowered netlist has one projection per
summed source into the consumer's neurons (the Linear's bias on one of them).

Neurons: SpikingJelly's ``MultiStepLIFNode(tau=2, detach_reset=True)`` as in the reference (hard
reset to 0, ``>=``, sigmoid(alpha=4) surrogate: :func:`neuromap.neurons.presets.spikingjelly_lif`),
the attention neuron with threshold 0.5. Every conv / BN runs on ``[T*B, ...]`` (:class:`MultiStep`),
every neuron on ``[T, B, ...]``. Train on the mean-over-time logits (``loss="membrane_ce"``); then
:meth:`Spikformer.fuse_batchnorm` gives the inference form that the traced graph reproduces exactly.

Graph: nothing here needs its own tracer handler: the containers trace through their children
(``synapses.Conv2d`` -> ``nir.Conv2d`` with the BN folded in, LIF -> ``nir.LIF``, ``MaxPool2d`` ->
``neuromap.MaxPool2d``, :class:`SDSA3` -> ``neuromap.SDSA3`` through its handler), the residual
``+`` becomes several edges into the consumer (NIR sums them), the token transposes
``neuromap.Permute`` and the token mean ``neuromap.Mean``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from neuromap import synapses

from .metaspikformer import SDSA3
from .multistep import MultiStep, check_heads, check_input, check_positive_int, neuron_factory
from .sdt import conv_bn


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, C, H, W] -> [T, B, N, C]`` (N = H W tokens)."""
    return x.flatten(3).transpose(2, 3)


def _fused_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """``conv`` followed by eval-mode ``bn`` as one conv with bias (computed in float64)."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fuse_batchnorm needs BatchNorm running statistics (track_running_stats=True)")
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(bn.running_var, dtype=torch.float64)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(gamma)
    g = gamma / torch.sqrt(bn.running_var.double() + bn.eps)
    b = conv.bias.double() if conv.bias is not None else torch.zeros_like(g)
    fused = synapses.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                            padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                            mode=getattr(conv, "mode", "auto"), crossover=getattr(conv, "crossover", None))
    fused.weight.copy_(conv.weight.double() * g.reshape(-1, 1, 1, 1))
    fused.bias.copy_((b - bn.running_mean.double()) * g + beta)
    return fused.to(conv.weight.dtype)


class SSA(nn.Module):
    """Spiking Self-Attention on ``X [T, B, C, H, W]`` (spikes or spike counts)::

        Q, K, V = LIF(BN(Linear(X)));  Y = LIF_{0.5}(Q K^T V * scale);  out = LIF(BN(Linear(Y)))

    returns spikes ``[T, B, C, H, W]``. ``scale = 0.125`` in the reference; Linear layers with bias.
    """

    def __init__(self, dim: int, heads: int = 8, scale: float = 0.125, attn_v_th: float = 0.5,
                 neuron: str = "spikingjelly") -> None:
        super().__init__()
        check_positive_int("dim", dim)
        check_heads(dim, heads)
        make = neuron_factory(neuron)
        self.dim = dim
        self.q_linear, self.q_lif = conv_bn(dim, dim, bias=True), make()
        self.k_linear, self.k_lif = conv_bn(dim, dim, bias=True), make()
        self.v_linear, self.v_lif = conv_bn(dim, dim, bias=True), make()
        self.attn = SDSA3(dim, heads, scale, attn_v_th, neuron)
        self.proj_linear, self.proj_lif = conv_bn(dim, dim, bias=True), make()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[2] != self.dim:
            raise ValueError(f"SSA expects x of shape [T, B, {self.dim}, H, W], got {tuple(x.shape)}")
        T, B, C, H, W = x.shape
        q = _tokens(self.q_lif(self.q_linear(x)))
        k = _tokens(self.k_lif(self.k_linear(x)))
        v = _tokens(self.v_lif(self.v_linear(x)))
        y = self.attn(q, k, v).transpose(2, 3).reshape(T, B, C, H, W)
        return self.proj_lif(self.proj_linear(y))


class SpikformerMLP(nn.Module):
    """``LIF(BN(Linear(LIF(BN(Linear(X))))))`` per token, hidden width ``hidden``; spikes out."""

    def __init__(self, dim: int, hidden: int, neuron: str = "spikingjelly") -> None:
        super().__init__()
        check_positive_int("mlp hidden width (dim * mlp_ratio)", hidden)
        make = neuron_factory(neuron)
        self.fc1_linear, self.fc1_lif = conv_bn(dim, hidden, bias=True), make()
        self.fc2_linear, self.fc2_lif = conv_bn(hidden, dim, bias=True), make()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2_lif(self.fc2_linear(self.fc1_lif(self.fc1_linear(x))))


class SpikformerBlock(nn.Module):
    """Encoder block with spike-level residuals: ``X = X + SSA(X); X = X + MLP(X)``."""

    def __init__(self, dim: int, heads: int = 8, mlp_ratio: float = 4.0, scale: float = 0.125,
                 neuron: str = "spikingjelly") -> None:
        super().__init__()
        self.attn = SSA(dim, heads, scale, 0.5, neuron)
        self.mlp = SpikformerMLP(dim, int(dim * mlp_ratio), neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class SpikingConvStem(nn.Module):
    """SCS: per stage ``Conv3x3 -> BN -> LIF -> [MaxPool3x3/2]`` then ``supplementary`` x
    ``(Conv3x3 -> BN -> LIF)`` at that width; output ``x_feat + LIF(BN(Conv3x3(x_feat)))`` (spike
    counts in {0, 1, 2}). ``supplementary=0`` is Spikformer's SPS."""

    def __init__(self, in_channels: int, channels: Sequence[int], pooling: Sequence[bool], supplementary: int = 1,
                 neuron: str = "spikingjelly") -> None:
        super().__init__()
        check_positive_int("in_channels", in_channels)
        check_positive_int("supplementary", supplementary, 0)
        if len(channels) < 1 or len(channels) != len(pooling):
            raise ValueError(
                f"stem channels ({len(channels)}) and pooling ({len(pooling)}) must have the same, non-zero length"
            )
        make = neuron_factory(neuron)
        self.convs, self.lifs, self.pools = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c_prev = in_channels
        for i, (c, pool) in enumerate(zip(channels, pooling)):
            check_positive_int(f"stem_channels[{i}]", c)
            for j in range(1 + supplementary):  # the stage's conv, then its supplementary convs
                self.convs.append(MultiStep(synapses.Conv2d(c_prev, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)))
                self.lifs.append(make())
                self.pools.append(MultiStep(nn.MaxPool2d(3, stride=2, padding=1)) if pool and j == 0 else nn.Identity())
                c_prev = c
        self.rpe, self.rpe_lif = conv_bn(c_prev, c_prev, kernel=3), make()
        self.out_channels = c_prev
        self.downsample = 2 ** sum(bool(p) for p in pooling)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, lif, pool in zip(self.convs, self.lifs, self.pools):
            x = pool(lif(conv(x)))
        return x + self.rpe_lif(self.rpe(x))


class Spikformer(nn.Module):
    """Spikformer / Spikformer V2 for images (time-major input ``[T, B, C_in, H, W]``).

    Args:
        in_channels, num_classes, img_size: input channels, classes, square image side.
        stem_channels, stem_pooling: stem widths (the last is the embedding width D) and which stages pool.
        supplementary: Conv3x3-BN-LIF layers added after each stem stage (0: V1's SPS; >= 1: V2's SCS).
        depth, heads, mlp_ratio, scale: encoder blocks, attention heads (must divide D), MLP hidden
            ratio, SSA scale (0.125 in the reference).
        neuron: ``"spikingjelly"`` (reference) or ``"snntorch"`` convention for every LIF.

    ``forward(x) -> logits [T, B, num_classes]`` (average over T for the prediction). The head is a
    Linear on the token mean of the residual stream, with no neuron before it (as the reference).
    :meth:`tiny` is the 8x8 digits configuration.
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        img_size: int = 32,
        stem_channels: Sequence[int] = (48, 96, 192, 384),
        stem_pooling: Sequence[bool] = (False, False, True, True),
        supplementary: int = 1,
        depth: int = 4,
        heads: int = 12,
        mlp_ratio: float = 4.0,
        scale: float = 0.125,
        neuron: str = "spikingjelly",
    ) -> None:
        super().__init__()
        check_positive_int("num_classes", num_classes)
        check_positive_int("img_size", img_size)
        check_positive_int("depth", depth)
        dim = stem_channels[-1] if len(stem_channels) else 0
        check_heads(dim, heads, "embedding width (stem_channels[-1])")
        self.in_channels, self.img_size, self.num_classes, self.dim = in_channels, img_size, num_classes, dim
        self.stem = SpikingConvStem(in_channels, stem_channels, stem_pooling, supplementary, neuron)
        self.blocks = nn.ModuleList(SpikformerBlock(dim, heads, mlp_ratio, scale, neuron) for _ in range(depth))
        self.head = synapses.Linear(dim, num_classes)

    @classmethod
    def tiny(cls, in_channels: int = 1, num_classes: int = 10, img_size: int = 8, **kwargs) -> Spikformer:
        """Digits: SCS 1 -> 32 (8x8) -> 64 (pool to 4x4 = 16 tokens), one supplementary conv per stage,
        one block, 4 heads, MLP x4."""
        cfg = dict(stem_channels=(32, 64), stem_pooling=(False, True), supplementary=1, depth=1, heads=4,
                   mlp_ratio=4.0)
        cfg.update(kwargs)
        return cls(in_channels, num_classes, img_size, **cfg)

    @torch.no_grad()
    def fuse_batchnorm(self) -> Spikformer:
        """Fold every BatchNorm into the conv before it, in place (inference form; call after training).

        The traced graph folds BN the same way, but a module that keeps BN computes ``BN(conv(x))``
        in a different float order than the folded conv, so a spike near threshold can flip. After
        this call the module *is* the folded network and ``backends.torch`` reproduces it exactly.
        """
        for m in self.modules():
            if isinstance(m, MultiStep) and isinstance(m.layers, nn.Sequential):
                layers = list(m.layers)
                if len(layers) >= 2 and isinstance(layers[0], nn.Conv2d) and isinstance(layers[1], nn.BatchNorm2d):
                    m.layers = nn.Sequential(_fused_conv(layers[0], layers[1]), *layers[2:])
        return self.eval()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The residual stream after the last block: spike counts ``[T, B, D, H', W']``."""
        x = self.stem(x)
        for blk in self.blocks:
            x = blk(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, (self.in_channels, self.img_size, self.img_size), "Spikformer", "[T, B, C_in, H, W]")
        return self.head(self.forward_features(x).flatten(3).mean(3))
