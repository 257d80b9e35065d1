"""``CrossbarArray``: one weight matrix programmed onto crossbar tiles, with its MVM and counters.

    arr = compile_matrix(W, config, bias=b, seed=0, t_inference=3600.0)
    y = arr(x)                      # x [..., in] -> y [..., out]
    arr.read_at(86400.0)            # the same programmed devices, one day later
    arr.counters.as_dict()          # MVMs, tile reads, ADC/DAC conversions, MACs

The MVM per input vector (normalised units, see :mod:`.periphery`): inputs are scaled by their
absolute maximum (aihwkit ``noise_management=ABS_MAX``; binary spike vectors are applied as they
are, as one exact pulse per row), DAC-quantised (bit-serial planes when ``input_bits > dac_bits``),
multiplied by each row-tile's differential conductances (with short-term read noise, output
noise and IR drop), ADC-quantised per tile read, shift-added over planes and weight slices, summed
digitally over row tiles, rescaled (``w_max``, input scale, drift-compensation factor) and the
bias is added digitally (aihwkit ``digital_bias``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from .config import CrossbarConfig
from .devices import stuck_at
from .periphery import RampADC, adc, input_planes, ir_drop_mvm
from .tiles import ConductanceMap, TileLayout, n_slices, to_conductances


@dataclass
class Counters:
    """Per-layer activity counts (accumulated over forwards; :meth:`reset` clears them).

    ``vectors``: input vectors = layer-level MVMs; ``tile_reads``: tile MVM operations (tiles x input
    planes per vector); ``tile_reads_active``: those with at least one non-zero input row (what an
    event-driven array must read); ``adc_conversions``: one per physical column per tile read;
    ``dac_conversions``: one per row per tile read; ``dac_pulses``: non-zero row drives;
    ``macs``: logical multiply-accumulates (``vectors x in x out``); ``cell_reads``: devices
    conducting during tile reads (2 per weight slice).
    """

    vectors: int = 0
    tile_reads: int = 0
    tile_reads_active: int = 0
    adc_conversions: int = 0
    dac_conversions: int = 0
    dac_pulses: int = 0
    macs: int = 0
    cell_reads: int = 0

    @property
    def mvms(self) -> int:
        return self.vectors

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)

    def add(self, other: Counters) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        d = {f.name: int(getattr(self, f.name)) for f in fields(self)}
        d["mvms"] = d["vectors"]
        return d


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


class CrossbarArray:
    """A programmed weight matrix ``[out, in]`` (see the module docstring). Build with
    :func:`compile_matrix`; call :meth:`program` (devices) and :meth:`read_at` (time)."""

    def __init__(self, weight: torch.Tensor, config: CrossbarConfig, bias: torch.Tensor | None = None,
                 name: str = "") -> None:
        if not isinstance(weight, torch.Tensor):
            weight = torch.as_tensor(weight)
        if not weight.is_floating_point():
            weight = weight.float()
        if weight.dim() != 2:
            raise ValueError(f"{name or 'crossbar'}: expected a weight matrix [out, in], got shape {tuple(weight.shape)}")
        if not torch.isfinite(weight).all():
            raise ValueError(f"{name or 'crossbar'}: weights contain NaN or inf")
        if bias is not None and not torch.isfinite(bias).all():
            raise ValueError(f"{name or 'crossbar'}: bias contains NaN or inf")
        self.name, self.config = name, config
        self.weight = weight.detach().clone()
        self.bias = None if bias is None else bias.detach().clone().to(weight.dtype)
        self.n_out, self.n_in = weight.shape
        g_min, g_max = config.conductance_range
        self.cmap: ConductanceMap = to_conductances(self.weight, g_min, g_max, config.weight_bits, config.cell_bits,
                                                     config.weight_step)
        slices = n_slices(config.weight_bits, config.cell_bits)
        self.layout = TileLayout(self.n_out, self.n_in, config.rows, config.cols, slices)
        if config.adc_activation is not None:
            if self.layout.row_tiles != 1 or self.layout.slices != 1:
                raise ValueError(f"{name or 'crossbar'}: a ramp-ADC activation needs the whole fan-in ({self.n_in}) in one "
                                 f"row tile ({config.rows} rows) and unsliced weights")
            if self.bias is not None:
                raise ValueError(f"{name or 'crossbar'}: a ramp-ADC activation needs bias=None (fold it into an input row)")
            self.ramp = RampADC(config.adc_activation, config.adc_bits, config.out_bound * self.cmap.w_max)
        self.counters = Counters()
        self.seed: int | None = None
        self.t_inference: float | None = None
        self.alpha = 1.0
        self.stuck_mask: torch.Tensor | None = None

    # --- programming and time --------------------------------------------------------------
    @property
    def fast(self) -> bool:
        return self.config.is_ideal and self.config.fast_ideal

    def program(self, seed: int = 0, t_inference: float = 0.0) -> CrossbarArray:
        """Program the devices (programming noise, drift exponents, stuck-at faults; seeded) and read
        them ``t_inference`` s later."""
        cfg = self.config
        self.seed = int(seed)
        gen = torch.Generator().manual_seed(self.seed)
        targets = torch.stack([self.cmap.g_pos, self.cmap.g_neg])  # [2, S, out, in]
        if cfg.device is not None:
            self._state = cfg.device.state(targets, gen)
        else:
            self._state = {"g_prog": targets.clone()}
        if cfg.stuck_rate > 0:
            g_min, g_max = cfg.conductance_range
            g, self.stuck_mask = stuck_at(self._state["g_prog"], cfg.stuck_rate, g_min, g_max, cfg.stuck_high_fraction, gen)
            self._stuck_values = g[self.stuck_mask]
            self._state["g_prog"] = g
        self._baseline = self._readout(self._state["g_prog"])
        return self.read_at(t_inference)

    def _readout(self, g: torch.Tensor) -> float:
        """aihwkit global drift-compensation readout: mean |output| for identity inputs, i.e. the
        mean absolute effective (normalised) weight; floored at 1e-4."""
        w = self.cmap.weight(g[0], g[1]) / self.cmap.w_max
        return max(float(w.abs().mean()), 1e-4)

    def read_at(self, t_inference: float, read_seed: int = 0) -> CrossbarArray:
        """Conductances ``t_inference`` s after programming (drift + read noise, sampled once for the
        whole evaluation at that time, as aihwkit's ``drift_analog_weights``); recalibrates the
        global drift compensation. ``read_seed`` selects the read-noise draw."""
        if self.seed is None:
            raise RuntimeError(f"{self.name or 'crossbar'}: call program() before read_at()")
        t = float(t_inference)
        if not (t == t and t >= 0 and t != float("inf")):
            raise ValueError(f"t_inference must be a finite time >= 0 s after programming, got {t_inference!r}")
        cfg = self.config
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + 7919 * int(read_seed) + 1)
        g = cfg.device.read_state(self._state, t, gen) if cfg.device is not None else self._state["g_prog"]
        if self.stuck_mask is not None:
            g = g.clone()
            g[self.stuck_mask] = self._stuck_values
        self.g = g
        self.t_inference = t
        self.alpha = self._baseline / self._readout(g) if cfg.drift_compensation == "global" else 1.0
        self._prepare()
        self._fwd_gen = torch.Generator().manual_seed(self.seed * 1_000_003 + 7919 * int(read_seed) + 2)
        return self

    def _prepare(self) -> None:
        L, span = self.layout, self.cmap.g_max - self.cmap.g_min
        pad = L.row_tiles * L.rows - self.n_in

        def arrange(g: torch.Tensor) -> torch.Tensor:  # [S, out, in] -> [R, rows, S*out]
            g = F.pad(g, (0, pad))
            return g.permute(2, 0, 1).reshape(L.row_tiles, L.rows, L.slices * self.n_out).contiguous()

        gp, gn = self.g[0] / span, self.g[1] / span
        self._gd = arrange(gp - gn)
        if self.config.ir_drop > 0:
            self._gp, self._gn = arrange(gp), arrange(gn)
        self._full_scale = self._gd.abs().sum(1).amax(-1, keepdim=True).clamp(min=1e-12)  # [R, 1]

    def effective_weight(self) -> torch.Tensor:
        """The weight matrix the current conductances represent (including the drift compensation)."""
        if self.seed is None:
            raise RuntimeError("call program() first")
        return self.alpha * self.cmap.weight(self.g[0], self.g[1])

    # --- compute ---------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., in] -> [..., out]`` (any leading dims, e.g. ``[T, B, in]``)."""
        if x.shape[-1] != self.n_in:
            raise ValueError(f"{self.name or 'crossbar'}: expected inputs [..., {self.n_in}], got {tuple(x.shape)}")
        lead = x.shape[:-1]
        return self.mvm(x.reshape(-1, self.n_in)).reshape(*lead, self.n_out)

    def mvm(self, x: torch.Tensor) -> torch.Tensor:
        """Matrix-vector products of a batch of input vectors ``x [N, in] -> [N, out]``."""
        if self.seed is None:
            raise RuntimeError(f"{self.name or 'crossbar'}: call program() before running the crossbar")
        if not torch.isfinite(x).all():
            raise ValueError(f"{self.name or 'crossbar'}: inputs contain NaN or inf")
        x = x.to(self.weight.dtype)
        cfg, L = self.config, self.layout
        n = x.shape[0]
        binary = _is_binary(x)
        if binary:
            planes, pw, scale = x.unsqueeze(0), torch.ones(1, dtype=x.dtype), None
        else:
            scale = x.abs().amax(-1, keepdim=True)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
            xn = x / scale
            if cfg.dac_bits is None:
                planes, pw = xn.unsqueeze(0), torch.ones(1, dtype=x.dtype)
            else:
                in_bits = cfg.input_bits if cfg.input_bits is not None else max(cfg.dac_bits, 2)
                planes, pw = input_planes(xn, cfg.dac_bits, max(in_bits, 2))
        self._count(planes, n)
        if self.fast:
            return F.linear(x, self.weight, self.bias)
        P, R = planes.shape[0], L.row_tiles
        xp = F.pad(planes, (0, R * L.rows - self.n_in)).reshape(P * n, R, L.rows)
        if cfg.ir_drop > 0:
            y = ir_drop_mvm(xp, self._gp, cfg.ir_drop) - ir_drop_mvm(xp, self._gn, cfg.ir_drop)
        else:
            y = torch.einsum("nrk,rkc->nrc", xp, self._gd)  # [P*N, R, S*out]
        if cfg.w_noise > 0:
            sig = torch.einsum("nrk,rkc->nrc", xp * xp, self._gd.abs()).sqrt()
            y = y + cfg.w_noise * sig * torch.randn(y.shape, generator=self._fwd_gen, dtype=y.dtype)
        if cfg.out_noise > 0:
            y = y + cfg.out_noise * torch.randn(y.shape, generator=self._fwd_gen, dtype=y.dtype)
        if cfg.adc_activation is not None:
            return self.ramp(y[:, 0, :] * (self.cmap.w_max * self.alpha)).reshape(n, self.n_out)
        if cfg.adc_bits is not None or cfg.out_bound is not None:
            bound = cfg.out_bound if cfg.out_bound is not None else self._full_scale
            y = adc(y, cfg.adc_bits, bound)
        y = y.sum(1).reshape(P, n, L.slices, self.n_out)
        y = torch.einsum("pnso,p,s->no", y, pw, self.cmap.slice_w.to(y.dtype))
        y = y * (self.cmap.w_max * self.alpha)
        if scale is not None:
            y = y * scale
        if self.bias is not None:
            y = y + self.bias
        return y

    def _count(self, planes: torch.Tensor, n: int) -> None:
        L, c = self.layout, self.counters
        P = planes.shape[0]
        c.vectors += n
        c.tile_reads += n * P * L.n_tiles
        nz = planes != 0
        active = F.pad(nz, (0, L.row_tiles * L.rows - self.n_in)).reshape(P, n, L.row_tiles, L.rows).any(-1)
        c.tile_reads_active += int(active.sum()) * L.col_tiles
        c.adc_conversions += n * P * L.row_tiles * L.physical_cols
        c.dac_conversions += n * P * self.n_in * L.col_tiles
        c.dac_pulses += int(nz.sum()) * L.col_tiles
        c.macs += n * self.n_in * self.n_out
        c.cell_reads += n * P * self.n_in * L.physical_cols * 2

    def summary(self) -> dict:
        return {"name": self.name, "layout": self.layout.as_dict(), "t_inference": self.t_inference,
                "alpha": self.alpha, "seed": self.seed, "counters": self.counters.as_dict()}


def compile_matrix(weight: torch.Tensor, config: CrossbarConfig, bias: torch.Tensor | None = None, seed: int = 0,
                   t_inference: float = 0.0, name: str = "") -> CrossbarArray:
    """Map ``weight [out, in]`` (+ digital ``bias``) onto tiles, program it (``seed``) and read it at
    ``t_inference`` s: the programmed tiles object with ``forward(x)`` / ``mvm(x)``."""
    return CrossbarArray(weight, config, bias, name).program(seed, t_inference)
