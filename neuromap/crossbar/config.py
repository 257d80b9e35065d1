"""``CrossbarConfig``: tile size, device model, periphery and training-noise settings of a crossbar."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .devices import PCMModel, RRAMModel, device_from_target

_BITS = ("weight_bits", "cell_bits", "dac_bits", "input_bits", "adc_bits")


@dataclass(frozen=True)
class CrossbarConfig:
    """Everything a crossbar layer needs besides its weights.

    Attributes:
        rows, cols: tile size in unit cells (inputs x outputs).
        device: :class:`PCMModel`, :class:`RRAMModel` or None (ideal conductances, no device noise).
        g_min, g_max: conductance range (S) for ``device=None`` (only the ratio matters then).
        weight_bits: weight quantisation (sign-magnitude bits) before mapping; None = analog, unquantised.
        weight_step: weights already on an integer grid (quantisation-aware trained, :mod:`neuromap.quantize`):
            weight units per level, so the magnitude codes are ``|W| / weight_step`` exactly (must be
            integers up to ``2^(weight_bits-1) - 1``) instead of ``round(|W| / max|W| x (2^(weight_bits-1) - 1))``;
            None = the latter. Needs ``weight_bits``.
        cell_bits: levels per device ``2^cell_bits`` with bit slicing; None = analog device.
        dac_bits: DAC resolution (bits); None = ideal inputs. Binary (spike) inputs are always one
            exact pulse per row.
        input_bits: resolution of non-binary inputs (bit-serial when above ``dac_bits``); default
            ``dac_bits``.
        adc_bits: ADC resolution (bits); None = no output quantisation.
        out_bound: ADC full scale (normalised output units, see :mod:`.periphery`); None = each tile's
            largest possible column output (never clips).
        out_noise: additive Gaussian output noise per column read (normalised units).
        w_noise: aihwkit ``PCM_READ`` short-term read noise ``w_noise sqrt(sum_j |w_ij| x_j^2) N(0,1)``.
        ir_drop: first-order IR-drop strength ``gamma`` (dimensionless, 0 = none).
        stuck_rate, stuck_high_fraction: stuck-at faults per device and the share stuck at g_max.
        drift_compensation: ``"global"`` (aihwkit GlobalDriftCompensation) or None.
        adc_activation: ``"sigmoid"``/``"tanh"`` ramp-ADC activation or None.
        hwa_noise: hardware-aware training: multiplier on the device's programming-noise std injected
            into the weights in the training forward pass (for ``device=None``: relative std of
            ``max|W|``); 0 = off.
        hwa_t_inference: None = the training noise is the Gaussian programming-noise model above.
            A time (s) = the training noise is ``hwa_noise`` times the deviation of a full device draw
            (programming noise, drift and read noise ``hwa_t_inference`` s after programming, global
            drift compensation when ``drift_compensation`` is set) from the weights: the same device
            model the inference uses, sampled afresh in every training forward.
        fast_ideal: when nothing is noisy or quantised, compute ``F.linear`` on the original weights
            (bit-identical to ``nn.Linear``) instead of the tiled sum.
        target: name of the hardware target the figures came from (provenance).
    """

    rows: int = 256
    cols: int = 256
    device: PCMModel | RRAMModel | None = None
    g_min: float = 0.0
    g_max: float = 25.0e-6
    weight_bits: int | None = None
    weight_step: float | None = None
    cell_bits: int | None = None
    dac_bits: int | None = None
    input_bits: int | None = None
    adc_bits: int | None = None
    out_bound: float | None = None
    out_noise: float = 0.0
    w_noise: float = 0.0
    ir_drop: float = 0.0
    stuck_rate: float = 0.0
    stuck_high_fraction: float = 0.5
    drift_compensation: str | None = None
    adc_activation: str | None = None
    hwa_noise: float = 0.0
    hwa_t_inference: float | None = None
    fast_ideal: bool = True
    target: str | None = None
    max_rows: int | None = None
    max_cols: int | None = None

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"tile {name} must be a positive integer, got {v!r}")
        too_big = (self.max_rows is not None and self.rows > self.max_rows) or (
            self.max_cols is not None and self.cols > self.max_cols)
        if too_big:
            raise ValueError(f"tile size {self.rows}x{self.cols} exceeds the target {self.target!r}'s "
                             f"{self.max_rows}x{self.max_cols} tiles")
        for name in _BITS:
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not (1 <= v <= 32)):
                raise ValueError(f"{name} must be None or an integer number of bits in [1, 32], got {v!r}")
        if self.weight_bits is not None and self.weight_bits < 2:
            raise ValueError(f"weight_bits must be >= 2 (sign + magnitude), got {self.weight_bits}")
        if self.cell_bits is not None and self.weight_bits is None:
            raise ValueError("cell_bits (bit slicing) needs weight_bits")
        if self.weight_step is not None and (self.weight_bits is None or not (
                isinstance(self.weight_step, int | float) and math.isfinite(self.weight_step) and self.weight_step > 0)):
            raise ValueError(f"weight_step must be a finite number > 0 and needs weight_bits, got {self.weight_step!r}")
        for name in ("out_noise", "w_noise", "ir_drop", "hwa_noise"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.hwa_t_inference is not None and not (math.isfinite(self.hwa_t_inference) and self.hwa_t_inference >= 0):
            raise ValueError(f"hwa_t_inference must be None or a finite time >= 0 s, got {self.hwa_t_inference!r}")
        if self.hwa_t_inference is not None and self.device is None:
            raise ValueError("hwa_t_inference (device-model training noise) needs a device model")
        if self.out_bound is not None and not (math.isfinite(self.out_bound) and self.out_bound > 0):
            raise ValueError(f"out_bound must be None or > 0, got {self.out_bound!r}")
        for name in ("stuck_rate", "stuck_high_fraction"):
            v = getattr(self, name)
            if not (0.0 <= v <= 1.0):
                raise ValueError(f"{name} must lie in [0, 1], got {v!r}")
        if self.drift_compensation not in (None, "global"):
            raise ValueError(f"drift_compensation={self.drift_compensation!r} is not one of [None, 'global']")
        if self.adc_activation not in (None, "sigmoid", "tanh"):
            raise ValueError(f"adc_activation={self.adc_activation!r} is not one of [None, 'sigmoid', 'tanh']")
        if self.adc_activation is not None and (self.adc_bits is None or self.out_bound is None):
            raise ValueError("a ramp-ADC activation needs adc_bits and out_bound (its input window)")
        if self.device is None and not (self.g_max > self.g_min >= 0):
            raise ValueError(f"need g_max > g_min >= 0 (S), got {self.g_max}, {self.g_min}")

    @property
    def conductance_range(self) -> tuple[float, float]:
        """``(g_min, g_max)`` in S: the device's when there is one."""
        if self.device is not None:
            return self.device.g_min, self.device.g_max
        return self.g_min, self.g_max

    @property
    def is_ideal(self) -> bool:
        """No device noise, faults, quantisation, clipping, IR drop or activation."""
        return (self.device is None and self.weight_bits is None and self.dac_bits is None and self.adc_bits is None
                and self.out_bound is None and self.out_noise == 0 and self.w_noise == 0 and self.ir_drop == 0
                and self.stuck_rate == 0 and self.adc_activation is None)

    def replace(self, **changes) -> CrossbarConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def ideal(cls, rows: int = 256, cols: int = 256, **kw) -> CrossbarConfig:
        """A noise-free, infinite-precision crossbar (equals the float reference)."""
        return cls(rows=rows, cols=cols, **kw)

    @classmethod
    def from_target(cls, target, **overrides) -> CrossbarConfig:
        """Settings from a crossbar target TOML (``tile.*``, ``device.*``, ``periphery.*``,
        ``numerics.cell_bits/weight_bits/activation_bits``); ``overrides`` replace any field (tile
        sizes may not exceed the target's). Analog targets (no ``numerics.cell_bits``) keep weights
        unquantised: their ``weight_bits`` is the I/O resolution, not a stored-weight width."""
        from neuromap import targets

        t = targets.load(target)
        if t.get("tile.rows") is None or t.get("tile.cols") is None:
            raise ValueError(f"target {t.name!r} is a {t.kind} target without crossbar tiles (tile.rows, tile.cols)")
        rows, cols = int(t.get("tile.rows")), int(t.get("tile.cols"))
        cell_bits = t.get("numerics.cell_bits")
        dac_bits = t.get("periphery.dac_bits")
        kw = dict(
            rows=rows, cols=cols, max_rows=rows, max_cols=cols, target=t.name,
            device=device_from_target(t) if t.get("device.model") is not None else None,
            cell_bits=cell_bits,
            weight_bits=t.get("numerics.weight_bits") if cell_bits is not None else None,
            dac_bits=dac_bits,
            input_bits=t.get("numerics.activation_bits", dac_bits),
            adc_bits=t.get("periphery.adc_bits"),
            out_bound=t.get("periphery.out_bound"),
            out_noise=float(t.get("periphery.out_noise", 0.0)),
            w_noise=float(t.get("periphery.w_noise_pcm_read", 0.0)),
            drift_compensation=t.get("device.drift_compensation"),
        )
        if kw["input_bits"] is not None and dac_bits is not None and kw["input_bits"] < dac_bits:
            kw["input_bits"] = dac_bits
        kw.update(overrides)
        return cls(**kw)
