"""Mapping a weight matrix onto crossbar tiles.

A weight matrix ``W [out, in]`` is stored transposed in the arrays: crossbar **rows** (word lines)
carry the inputs, **columns** (bit lines) sum the currents of the outputs. A tile of
``rows x cols`` unit cells holds one weight per cell as a differential conductance pair
``(G+, G-)``: ``w > 0`` programs ``G+ = g_min + |w|/w_max (g_max - g_min)``, ``G- = g_min`` (and the
reverse for ``w < 0``), so ``w = w_max (G+ - G-) / (g_max - g_min)`` with ``w_max = max |W|``
(aihwkit ``SinglePairConductanceConverter``).

Weight quantisation (``weight_bits``, sign-magnitude: ``2^(weight_bits-1) - 1`` magnitude steps)
and bit slicing (``cell_bits``: a device holds ``2^cell_bits`` levels, so a weight takes
``ceil((weight_bits-1)/cell_bits)`` slices, each in its own column; the slice outputs are
shift-added after the ADCs, NeuroSim/ISAAC style). An analog device (``cell_bits=None``) holds the
whole magnitude in one slice.

Tile count: ``ceil(in / rows) * ceil(out * slices / cols)``; utilisation = used cells / all cells.

Convolutions (``ConvGeometry``) are unrolled as im2col: the kernel becomes the matrix
``[C_out/groups, C_in/groups * kh * kw]`` (one per group) and every output position
``(h, w)`` is one input vector, i.e. one MVM per position per time step and sample:
``MVMs = T * B * H_out * W_out * groups``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TileLayout:
    """How an ``[n_out, n_in]`` matrix with ``slices`` columns per output fills ``rows x cols`` tiles."""

    n_out: int
    n_in: int
    rows: int
    cols: int
    slices: int = 1

    def __post_init__(self) -> None:
        for name in ("n_out", "n_in", "rows", "cols", "slices"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"TileLayout.{name} must be a positive integer, got {v!r}")

    @property
    def row_tiles(self) -> int:
        return -(-self.n_in // self.rows)

    @property
    def physical_cols(self) -> int:
        """Columns needed: one per output and weight slice."""
        return self.n_out * self.slices

    @property
    def col_tiles(self) -> int:
        return -(-self.physical_cols // self.cols)

    @property
    def n_tiles(self) -> int:
        return self.row_tiles * self.col_tiles

    @property
    def cells_used(self) -> int:
        return self.n_in * self.physical_cols

    @property
    def utilisation(self) -> float:
        """Fraction of the tiles' unit cells that hold a weight (slice)."""
        return self.cells_used / (self.n_tiles * self.rows * self.cols)

    def rows_in_tile(self, r: int) -> int:
        return min(self.rows, self.n_in - r * self.rows)

    def as_dict(self) -> dict:
        return {"n_out": self.n_out, "n_in": self.n_in, "rows": self.rows, "cols": self.cols, "slices": self.slices,
                "row_tiles": self.row_tiles, "col_tiles": self.col_tiles, "n_tiles": self.n_tiles,
                "cells_used": self.cells_used, "utilisation": self.utilisation}


def n_slices(weight_bits: int | None, cell_bits: int | None) -> int:
    """Weight slices per weight: 1 for analog cells, else ``ceil((weight_bits - 1) / cell_bits)``."""
    if cell_bits is None:
        return 1
    if weight_bits is None:
        raise ValueError("cell_bits (bit slicing) needs weight_bits")
    return max(1, math.ceil((weight_bits - 1) / cell_bits))


@dataclass
class ConductanceMap:
    """Target conductances of a matrix: ``g_pos``/``g_neg`` ``[S, out, in]`` (S), the slice weights
    ``[S]`` and ``w_max`` so that ``W ~= w_max * sum_s slice_w[s] (g_pos - g_neg)[s] / (g_max - g_min)``."""

    g_pos: torch.Tensor
    g_neg: torch.Tensor
    slice_w: torch.Tensor
    w_max: float
    g_min: float
    g_max: float

    def weight(self, g_pos: torch.Tensor | None = None, g_neg: torch.Tensor | None = None) -> torch.Tensor:
        """The weight matrix ``[out, in]`` that conductances (default: the targets) represent."""
        gp = self.g_pos if g_pos is None else g_pos
        gn = self.g_neg if g_neg is None else g_neg
        diff = (gp - gn) / (self.g_max - self.g_min)
        return self.w_max * torch.einsum("s,soi->oi", self.slice_w.to(diff.dtype), diff)


def to_conductances(
    weight: torch.Tensor, g_min: float, g_max: float, weight_bits: int | None = None, cell_bits: int | None = None,
    weight_step: float | None = None,
) -> ConductanceMap:
    """Differential-pair target conductances (S) of ``weight [out, in]`` (see the module docstring).
    ``weight_step``: the weights are integers x ``weight_step`` (quantisation-aware trained); their
    integers are the magnitude codes as they are (``w_max = weight_step x (2^(weight_bits-1) - 1)``),
    with ``ValueError`` when they are not integers or exceed the sign-magnitude range."""
    w = weight.detach()
    if w.dim() != 2:
        raise ValueError(f"expected a weight matrix [out, in], got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError("weight matrix contains NaN or inf")
    if not (g_max > g_min >= 0):
        raise ValueError(f"need g_max > g_min >= 0 (S), got g_max={g_max}, g_min={g_min}")
    w_max = float(w.abs().max()) if w.numel() else 0.0
    if w_max == 0.0:
        w_max = 1.0
    if weight_step is not None:
        if weight_bits is None:
            raise ValueError("weight_step (integer-grid weights) needs weight_bits")
        w_max = _grid_w_max(w, float(weight_step), weight_bits)
    mag = (w.abs() / w_max).unsqueeze(0)  # [1, out, in] in [0, 1]
    slice_w = torch.ones(1, dtype=w.dtype)
    if weight_bits is not None:
        if not isinstance(weight_bits, int) or not (2 <= weight_bits <= 32):
            raise ValueError(f"weight_bits must be an integer in [2, 32], got {weight_bits!r}")
        m = 2 ** (weight_bits - 1) - 1
        code = torch.round(mag * m)
        if cell_bits is None:
            mag = code / m
        else:
            if not isinstance(cell_bits, int) or not (1 <= cell_bits <= 16):
                raise ValueError(f"cell_bits must be an integer in [1, 16], got {cell_bits!r}")
            s = n_slices(weight_bits, cell_bits)
            base, top = 2**cell_bits, 2**cell_bits - 1
            digits, rest = [], code[0]
            for _ in range(s):
                d = torch.remainder(rest, base)
                rest = torch.div(rest - d, base)
                digits.append(d / top)
            mag = torch.stack(digits)
            slice_w = torch.tensor([base**k * top / m for k in range(s)], dtype=w.dtype)
    elif cell_bits is not None:
        raise ValueError("cell_bits (bit slicing) needs weight_bits")
    span = g_max - g_min
    pos = (w > 0).unsqueeze(0)
    neg = (w < 0).unsqueeze(0)
    g_pos = g_min + torch.where(pos, mag, torch.zeros_like(mag)) * span
    g_neg = g_min + torch.where(neg, mag, torch.zeros_like(mag)) * span
    return ConductanceMap(g_pos, g_neg, slice_w, w_max, float(g_min), float(g_max))


def _grid_w_max(w: torch.Tensor, step: float, weight_bits: int) -> float:
    """``w_max`` that makes the codes of integer-grid weights their integers (checked)."""
    m = 2 ** (weight_bits - 1) - 1
    q = w.abs().double() / step
    if w.numel() and float((q - q.round()).abs().max()) > 1e-3:
        raise ValueError(f"weights are not integers x weight_step={step} (max deviation "
                         f"{float((q - q.round()).abs().max()):.3g})")
    if w.numel() and float(q.round().max()) > m:
        raise ValueError(f"integer weights up to {int(q.round().max())} exceed the {weight_bits}-bit sign-magnitude "
                         f"range (magnitudes <= {m})")
    return step * m


def conv_matrix(kernel: torch.Tensor, groups: int = 1) -> list[torch.Tensor]:
    """im2col matrices of a conv kernel ``[C_out, C_in/groups, kh, kw]``: one ``[C_out/groups,
    C_in/groups*kh*kw]`` per group (column order matches ``torch.nn.functional.unfold``)."""
    if kernel.dim() != 4:
        raise ValueError(f"expected a conv kernel [C_out, C_in/groups, kh, kw], got shape {tuple(kernel.shape)}")
    c_out = kernel.shape[0]
    if c_out % groups:
        raise ValueError(f"C_out={c_out} is not divisible by groups={groups}")
    per = c_out // groups
    return [kernel[g * per:(g + 1) * per].reshape(per, -1) for g in range(groups)]
