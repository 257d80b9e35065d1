"""``CrossbarLinear`` / ``CrossbarConv2d``: drop-in ``nn.Module`` replacements for ``nn.Linear`` /
``nn.Conv2d`` whose inference runs on a programmed :class:`~.array.CrossbarArray`.

* ``train()`` mode: a float forward on the trainable weights; with ``config.hwa_noise > 0`` fresh
  device-shaped weight noise is added in every forward (hardware-aware training, as aihwkit's
  weight modifiers do for ANNs; gradients flow to the clean weights).
* ``eval()`` mode: the programmed crossbar (call :meth:`program` after training; it raises if the
  weights changed since). Input ``[T, B, in]`` (or any ``[..., in]``); spikes are binary DAC pulses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuromap.netlist import ConvGeometry

from .array import Counters, CrossbarArray
from .config import CrossbarConfig
from .tiles import conv_matrix


def hwa_weight_noise(weight: torch.Tensor, config: CrossbarConfig, generator: torch.Generator | None = None,
                     groups: int = 1) -> torch.Tensor:
    """A draw of device-shaped weight noise (same units as ``weight``) for hardware-aware training.

    ``config.hwa_t_inference is None``: each weight's noise std is ``hwa_noise`` times the std of
    the difference of its two programmed devices, ``sqrt(sigma_prog(G+)^2 + sigma_prog(G-)^2)``,
    mapped back to weight units (``w_max / (g_max - g_min)``); without a device model
    ``hwa_noise * max|W|``. ``config.hwa_t_inference = t`` (s): ``hwa_noise`` times the deviation of
    a full device draw from the weights: the weights are mapped, programmed, drifted and read at
    ``t`` (with the drift compensation of ``config``) exactly as :class:`CrossbarArray` does at
    inference, per group of output rows (``groups`` of a grouped conv, each its own matrix).
    """
    w = weight.detach()
    w_max = float(w.abs().max()) if w.numel() else 0.0
    if w_max == 0 or config.hwa_noise == 0:
        return torch.zeros_like(w)
    if config.hwa_t_inference is not None:
        return config.hwa_noise * _device_deviation(w, config, generator, groups)
    z = torch.randn(w.shape, generator=generator, dtype=w.dtype)
    dev = config.device
    if dev is None:
        return config.hwa_noise * w_max * z
    g_min, g_max = dev.g_min, dev.g_max
    span = g_max - g_min
    g_on = g_min + w.abs() / w_max * span
    g_off = torch.full_like(w, g_min)
    sig = torch.sqrt(dev.sigma_prog(g_on) ** 2 + dev.sigma_prog(g_off) ** 2) / span * w_max
    return config.hwa_noise * sig * z


def _device_deviation(w: torch.Tensor, config: CrossbarConfig, generator: torch.Generator | None,
                      groups: int) -> torch.Tensor:
    """``W_device(t) - W`` for one fresh programming of ``w`` (any shape ``[out, ...]``)."""
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    mats = w.reshape(w.shape[0], -1).chunk(groups, 0)
    out = []
    for m in mats:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        arr = CrossbarArray(m, config, name="hwa").program(seed, float(config.hwa_t_inference))
        out.append(arr.effective_weight().to(w.dtype) - m)
    return torch.cat(out, 0).reshape(w.shape)


class CrossbarModule(nn.Module):
    config: CrossbarConfig

    def _check_programmed(self) -> None:
        if not self.arrays:
            raise RuntimeError(f"{type(self).__name__}: not programmed; call program(seed, t_inference) first")
        if self._programmed_version != self._weight_version():
            raise RuntimeError(f"{type(self).__name__}: weights changed since programming; call program() again")

    def _weight_version(self) -> tuple[int, int]:
        return (self.weight._version, -1 if self.bias is None else self.bias._version)

    def read_at(self, t_inference: float, read_seed: int = 0) -> CrossbarModule:
        """Re-read the same programmed devices ``t_inference`` s after programming."""
        if not self.arrays:
            raise RuntimeError(f"{type(self).__name__}: call program() before read_at()")
        for a in self.arrays:
            a.read_at(t_inference, read_seed)
        return self

    @property
    def counters(self) -> Counters:
        total = Counters()
        for a in self.arrays:
            total.add(a.counters)
        return total

    def reset_counters(self) -> None:
        for a in self.arrays:
            a.counters.reset()

    @property
    def n_tiles(self) -> int:
        return sum(a.layout.n_tiles for a in self.arrays) if self.arrays else 0

    def _noisy(self, w: torch.Tensor, groups: int = 1) -> torch.Tensor:
        if self.training and self.config.hwa_noise > 0:
            return w + hwa_weight_noise(w, self.config, self._hwa_gen, groups)
        return w


class CrossbarLinear(CrossbarModule):
    """A linear layer on crossbar tiles. ``CrossbarLinear.from_linear(lin, config)`` or
    ``CrossbarLinear(in_features, out_features, config, bias=True)``."""

    def __init__(self, in_features: int, out_features: int, config: CrossbarConfig, bias: bool = True,
                 hwa_seed: int = 0) -> None:
        super().__init__()
        self.in_features, self.out_features, self.config = in_features, out_features, config
        ref = nn.Linear(in_features, out_features, bias=bias)
        self.weight = nn.Parameter(ref.weight.detach().clone())
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None
        self.arrays: list[CrossbarArray] = []
        self._programmed_version = None
        self._hwa_gen = torch.Generator().manual_seed(hwa_seed)

    @classmethod
    def from_linear(cls, linear: nn.Linear, config: CrossbarConfig, hwa_seed: int = 0) -> CrossbarLinear:
        m = cls(linear.in_features, linear.out_features, config, bias=linear.bias is not None, hwa_seed=hwa_seed)
        with torch.no_grad():
            m.weight.copy_(linear.weight)
            if linear.bias is not None:
                m.bias.copy_(linear.bias)
        return m

    @classmethod
    def from_weight(cls, weight: torch.Tensor, config: CrossbarConfig, bias: torch.Tensor | None = None) -> CrossbarLinear:
        weight = torch.as_tensor(weight, dtype=torch.float32)
        m = cls(weight.shape[1], weight.shape[0], config, bias=bias is not None)
        with torch.no_grad():
            m.weight.copy_(weight)
            if bias is not None:
                m.bias.copy_(torch.as_tensor(bias))
        return m

    def program(self, seed: int = 0, t_inference: float = 0.0) -> CrossbarLinear:
        """Map the current weights onto tiles and program them (seeded), read at ``t_inference`` s."""
        b = None if self.bias is None else self.bias.detach()
        self.arrays = [CrossbarArray(self.weight.detach(), self.config, b, name="linear").program(seed, t_inference)]
        self._programmed_version = self._weight_version()
        return self

    @property
    def array(self) -> CrossbarArray:
        self._check_programmed()
        return self.arrays[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return F.linear(x, self._noisy(self.weight), self.bias)
        self._check_programmed()
        return self.arrays[0].forward(x)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"tiles={self.n_tiles}, target={self.config.target}")


class CrossbarConv2d(CrossbarModule):
    """A 2-D convolution on crossbar tiles, unrolled as im2col (see :mod:`.tiles`): one MVM per output
    position. Built from an ``nn.Conv2d`` or from a kernel and a :class:`ConvGeometry`. Input
    ``[B, C, H, W]`` or time-major ``[T, B, C, H, W]``."""

    def __init__(self, kernel: torch.Tensor, geometry: ConvGeometry, config: CrossbarConfig,
                 bias: torch.Tensor | None = None, hwa_seed: int = 0) -> None:
        super().__init__()
        kernel = torch.as_tensor(kernel, dtype=torch.float32)
        g = geometry
        expect = (g.out_shape[0], g.in_shape[0] // g.groups, *g.kernel)
        if tuple(kernel.shape) != expect:
            raise ValueError(f"conv kernel shape {tuple(kernel.shape)} does not match the geometry {expect}")
        self.geometry, self.config = g, config
        self.weight = nn.Parameter(kernel.detach().clone())
        self.bias = None if bias is None else nn.Parameter(torch.as_tensor(bias, dtype=torch.float32).detach().clone())
        self.arrays: list[CrossbarArray] = []
        self._programmed_version = None
        self._hwa_gen = torch.Generator().manual_seed(hwa_seed)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, config: CrossbarConfig, in_hw: tuple[int, int] | None = None,
                  hwa_seed: int = 0) -> CrossbarConv2d:
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("CrossbarConv2d supports numeric zero padding only")
        h, w = in_hw or (0, 0)
        geo = ConvGeometry((conv.in_channels, h, w), (conv.out_channels, 0, 0), tuple(conv.kernel_size),
                           tuple(conv.stride), tuple(conv.padding), tuple(conv.dilation), conv.groups)
        b = None if conv.bias is None else conv.bias.detach()
        return cls(conv.weight.detach(), geo, config, b, hwa_seed)

    def program(self, seed: int = 0, t_inference: float = 0.0) -> CrossbarConv2d:
        g = self.geometry
        mats = conv_matrix(self.weight.detach(), g.groups)
        per = g.out_shape[0] // g.groups
        self.arrays = []
        for k, m in enumerate(mats):
            b = None if self.bias is None else self.bias.detach()[k * per:(k + 1) * per]
            self.arrays.append(CrossbarArray(m, self.config, b, name=f"conv.g{k}").program(seed * 131 + k, t_inference))
        self._programmed_version = self._weight_version()
        return self

    def _conv_args(self) -> dict:
        g = self.geometry
        return dict(stride=g.stride, padding=g.padding, dilation=g.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = None
        if x.dim() == 5:
            lead = x.shape[:2]
            x = x.reshape(-1, *x.shape[2:])
        if x.dim() != 4 or x.shape[1] != self.geometry.in_shape[0]:
            raise ValueError(f"CrossbarConv2d expects [B, {self.geometry.in_shape[0]}, H, W] or [T, B, C, H, W], "
                             f"got {tuple(x.shape)}")
        if self.training:
            w = self._noisy(self.weight, self.geometry.groups)
            y = F.conv2d(x, w, self.bias, groups=self.geometry.groups, **self._conv_args())
        else:
            self._check_programmed()
            y = self._crossbar_conv(x)
        return y if lead is None else y.reshape(*lead, *y.shape[1:])

    def _crossbar_conv(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        B, _, H, W = x.shape
        kh, kw = g.kernel
        ho = (H + 2 * g.padding[0] - g.dilation[0] * (kh - 1) - 1) // g.stride[0] + 1
        wo = (W + 2 * g.padding[1] - g.dilation[1] * (kw - 1) - 1) // g.stride[1] + 1
        cols = F.unfold(x, (kh, kw), **self._conv_args())  # [B, C_in*kh*kw, L]
        cin_g = g.in_shape[0] // g.groups
        per_group = cin_g * kh * kw
        if all(a.fast for a in self.arrays):  # ideal: the same sums as F.conv2d, computed by it (bit-identical)
            for k, arr in enumerate(self.arrays):
                xg = cols[:, k * per_group:(k + 1) * per_group, :].transpose(1, 2).reshape(-1, per_group)
                arr._count(xg.unsqueeze(0), xg.shape[0])
            return F.conv2d(x, self.weight.detach(), None if self.bias is None else self.bias.detach(),
                            groups=g.groups, **self._conv_args())
        outs = []
        for k, arr in enumerate(self.arrays):
            xg = cols[:, k * per_group:(k + 1) * per_group, :].transpose(1, 2)  # [B, L, K]
            outs.append(arr.forward(xg))  # [B, L, C_out/g]
        y = torch.cat(outs, -1).transpose(1, 2)  # [B, C_out, L]
        return y.reshape(B, -1, ho, wo)


def compile_conv(kernel: torch.Tensor, geometry: ConvGeometry, config: CrossbarConfig, bias: torch.Tensor | None = None,
                 seed: int = 0, t_inference: float = 0.0) -> CrossbarConv2d:
    """Program a conv kernel ``[C_out, C_in/groups, kh, kw]`` with its geometry; the result's
    ``forward(x)`` runs it (eval mode) and ``.arrays`` holds one :class:`CrossbarArray` per group."""
    return CrossbarConv2d(kernel, geometry, config, bias).program(seed, t_inference).eval()
