"""Device models of memristive conductances: PCM (aihwkit ``PCMLikeNoiseModel``) and RRAM
(aihwkit ``ReRamCMONoiseModel`` + device-to-device spread), plus stuck-at faults.

All functions are batched torch ops on conductance tensors in **siemens (S)**; times are in
**seconds (s)**. Every random draw takes an explicit ``torch.Generator`` so a seed fixes the result.
The formulas are those of ``IBM/aihwkit`` (``src/aihwkit/inference/noise/pcm.py`` and ``reram.py``,
commit 4545f11b); the aihwkit code works in uS, so
coefficients given in uS are converted here (1 uS = 1e-6 S).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

_ZERO_CLIP = 1e-7  # aihwkit pcm.py _ZERO_CLIP (relative conductance floor for the drift exponent)
_US = 1e-6  # siemens per microsiemens


def _randn(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


def _check_time(t: float, what: str = "t_inference") -> float:
    t = float(t)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"{what} must be a finite time >= 0 s after programming, got {t!r}")
    return t


def _check_g(g: torch.Tensor, what: str = "g_target") -> None:
    if not torch.isfinite(g).all():
        raise ValueError(f"{what} contains NaN or inf")


@dataclass(frozen=True)
class PCMModel:
    """aihwkit ``PCMLikeNoiseModel`` (Nandakumar et al. 2019; Joshi et al. 2020), per device.

    With ``g_T = g_target / g_max``:

    * programming: ``sigma_prog = (c0 + c1 g_T + c2 g_T^2) uS * g_max / g_ref``;
      ``g_prog = max(g_T g_max + sigma_prog N(0,1), 0)``
    * drift exponent: ``mu = clip(-0.0155 ln g_T + 0.0244, 0.049, 0.1)``,
      ``sigma = clip(-0.0125 ln g_T - 0.0059, 0.008, 0.045)``, ``nu = |N(mu, sigma)|``
    * drift: ``g_drift = g_prog ((t + t0) / t0)^-nu`` (t = time since programming)
    * 1/f read noise: ``Q_s = min(0.0088 / max((g_prog/g_max)^0.65, 1e-3), 0.2)``,
      ``sigma_n = Q_s sqrt(ln((t + t0 + t_read) / (2 t_read)))``,
      ``g = max(g_drift + |g_drift| sigma_n N(0,1), 0)``

    Attributes (defaults equal ``hardware/crossbar-pcm.toml``): ``g_max`` / ``g_min`` (S),
    ``prog_coeff`` (uS), ``g_ref`` (S, the g_max the coefficients were fitted at: 25 uS),
    ``t0`` (s), ``t_read`` (s), noise scales (1 = the published model).
    """

    g_max: float = 25.0e-6
    g_min: float = 0.0
    prog_coeff: tuple[float, ...] = (0.26348, 1.9650, -1.1731)
    g_ref: float = 25.0e-6
    t0: float = 20.0
    t_read: float = 250.0e-9
    prog_noise_scale: float = 1.0
    drift_scale: float = 1.0
    read_noise_scale: float = 1.0

    kind = "pcm"

    def __post_init__(self) -> None:
        if not (self.g_max > self.g_min >= 0):
            raise ValueError(f"PCMModel needs g_max > g_min >= 0 (S), got g_max={self.g_max}, g_min={self.g_min}")
        if self.t0 <= 0 or self.t_read <= 0:
            raise ValueError("PCMModel needs t0 > 0 and t_read > 0 (s)")

    @classmethod
    def from_target(cls, target, **overrides) -> PCMModel:
        """Figures from a crossbar target's ``[device]`` section (``g_max``, ``g_min``, ``prog_coeff``,
        ``t0``, ``t_read``); absent figures keep the aihwkit defaults."""
        from neuromap import targets

        t = targets.load(target)
        kw = {}
        for key in ("g_max", "g_min", "t0", "t_read"):
            v = t.get(f"device.{key}")
            if v is not None:
                kw[key] = float(v)
        pc = t.get("device.prog_coeff")
        if pc is not None:
            kw["prog_coeff"] = tuple(float(c) for c in pc)
        kw.update(overrides)
        return cls(**kw)

    # --- programming ------------------------------------------------------------------------
    def sigma_prog(self, g_target: torch.Tensor) -> torch.Tensor:
        """Standard deviation (S) of the programming noise at target conductances ``g_target`` (S)."""
        g_t = g_target / self.g_max
        sig = torch.zeros_like(g_t) + self.prog_coeff[0]
        mat = torch.ones_like(g_t)
        for c in self.prog_coeff[1:]:
            mat = mat * g_t
            sig = sig + mat * c
        return sig * _US * (self.g_max / self.g_ref)

    def program(self, g_target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Programmed conductances (S): target + state-dependent Gaussian noise, clamped at 0."""
        _check_g(g_target)
        g = g_target + self.prog_noise_scale * self.sigma_prog(g_target) * _randn(g_target, generator)
        return g.clamp(min=0.0)

    def drift_stats(self, g_target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu_nu, sigma_nu)`` of the drift exponent's underlying Gaussian at ``g_target`` (S)."""
        g_rel = (g_target / self.g_max).abs().clamp(min=_ZERO_CLIP)
        mu = (-0.0155 * torch.log(g_rel) + 0.0244).clamp(min=0.049, max=0.1)
        sig = (-0.0125 * torch.log(g_rel) - 0.0059).clamp(min=0.008, max=0.045)
        return mu, sig

    def drift_exponents(self, g_target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-device drift exponents ``nu = |N(mu, sigma)| * drift_scale`` (dimensionless)."""
        mu, sig = self.drift_stats(g_target)
        return (mu + sig * _randn(g_target, generator)).abs() * self.drift_scale

    # --- after programming ------------------------------------------------------------------
    def drift(self, g_prog: torch.Tensor, nu: torch.Tensor, t_inference: float) -> torch.Tensor:
        """Deterministic drift ``g_prog ((t + t0)/t0)^-nu`` (S) at ``t_inference`` s after programming."""
        t = _check_time(t_inference) + self.t0
        if t > self.t0:
            return g_prog * (t / self.t0) ** (-nu)
        return g_prog.clone()

    def read_sigma(self, g_prog: torch.Tensor, t_inference: float) -> torch.Tensor:
        """Relative 1/f read-noise std (dimensionless) at ``t_inference`` s."""
        t = _check_time(t_inference) + self.t0
        q_s = (0.0088 / ((g_prog.abs() / self.g_max) ** 0.65).clamp(min=1e-3)).clamp(max=0.2)
        return q_s * math.sqrt(math.log((t + self.t_read) / (2 * self.t_read)))

    def read(
        self, g_prog: torch.Tensor, nu: torch.Tensor, t_inference: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Conductances (S) read ``t_inference`` s after programming: drift + 1/f read noise, >= 0."""
        g_drift = self.drift(g_prog, nu, t_inference)
        sig = self.read_sigma(g_prog, t_inference)
        g = g_drift + g_drift.abs() * self.read_noise_scale * sig * _randn(g_prog, generator)
        return g.clamp(min=0.0)

    def state(self, g_target: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Program ``g_target``: ``{"g_prog", "nu"}`` (what :meth:`read` needs later)."""
        g_prog = self.program(g_target, generator)
        return {"g_prog": g_prog, "nu": self.drift_exponents(g_target, generator)}

    def read_state(self, state: dict[str, torch.Tensor], t_inference: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        return self.read(state["g_prog"], state["nu"], t_inference, generator)


@dataclass(frozen=True)
class RRAMModel:
    """RRAM (CMO/HfOx) after aihwkit ``ReRamCMONoiseModel`` (Falcone et al. 2025), one device per
    conductance, plus a device-to-device spread of one-shot (unverified) programming.

    * write-verify programming (cycle-to-cycle, fresh at every programming):
      ``g_prog = g_target + (c0 + c1 g_target[uS]) uS N(0,1)``; ``prog_coeff`` is the fit for the
      ``acceptance_range`` (2 %: ``[0.0112185, 0.0112903]``). (aihwkit's own default looks the
      acceptance range 0.02 up among the keys {0.2, 2} and so falls back to the 0.2 % fit; the
      target spec's 2 % coefficients are used here as written.)
    * relaxation at ``t > 0`` s: ``g = g_prog + m ln t + (s0 ln t + s1) N(0,1)`` (uS), with
      ``m = relax_mean`` and ``(s0, s1) = relax_std`` (the std is floored at 0 for t << 1 s)
    * read noise: ``sigma_read = K log10(g[uS]) sqrt(ln((t + 1e-6) / 2e-6))`` (uS)
    * final clamp to ``[g_min, g_max]``
    * :meth:`program_unverified` (one SET pulse, no verify loop): ``g = g_target (1 + d2d_rel N(0,1))``
      per device, clamped to ``[g_min, g_max]`` (``d2d_rel``: aihwkit ReRamSB ``w_max_dtod``). This
      is the device stochasticity used as random weights by the zero-shot LSM.

    Defaults equal ``hardware/crossbar-rram.toml``. Conductances in S, times in s.
    """

    g_max: float = 88.2e-6
    g_min: float = 9.0e-6
    prog_coeff: tuple[float, ...] = (0.0112185391, 0.01129027418)
    relax_mean: float = -0.08900206
    relax_std: tuple[float, float] = (0.04201137, 0.41183342)
    read_k: float = 0.0277316483
    t_read: float = 1.0e-6
    d2d_rel: float = 0.24  # aihwkit ReRamSB w_max_dtod = 0.3 / 1.25 (hardware/crossbar-rram.toml)
    prog_noise_scale: float = 1.0
    drift_scale: float = 1.0
    read_noise_scale: float = 1.0

    kind = "rram"

    def __post_init__(self) -> None:
        if not (self.g_max > self.g_min > 0):
            raise ValueError(f"RRAMModel needs g_max > g_min > 0 (S), got g_max={self.g_max}, g_min={self.g_min}")
        if self.d2d_rel < 0:
            raise ValueError(f"d2d_rel must be >= 0, got {self.d2d_rel}")

    @classmethod
    def from_target(cls, target, **overrides) -> RRAMModel:
        """Figures from a crossbar target's ``[device]`` section (``g_max``, ``g_min``, ``prog_coeff``,
        ``relaxation_mean_per_ln_t``, ``relaxation_std``, ``read_noise_k``, ``d2d_rel``)."""
        from neuromap import targets

        t = targets.load(target)
        kw: dict = {}
        for key, name in (("g_max", "g_max"), ("g_min", "g_min"), ("relaxation_mean_per_ln_t", "relax_mean"),
                          ("read_noise_k", "read_k"), ("d2d_rel", "d2d_rel")):
            v = t.get(f"device.{key}")
            if v is not None:
                kw[name] = float(v)
        for key, name in (("prog_coeff", "prog_coeff"), ("relaxation_std", "relax_std")):
            v = t.get(f"device.{key}")
            if v is not None:
                kw[name] = tuple(float(c) for c in v)
        kw.update(overrides)
        return cls(**kw)

    def sigma_prog(self, g_target: torch.Tensor) -> torch.Tensor:
        """Std (S) of write-verify programming noise at ``g_target`` (S)."""
        g_us = g_target / _US
        sig = torch.zeros_like(g_us) + self.prog_coeff[0]
        mat = torch.ones_like(g_us)
        for c in self.prog_coeff[1:]:
            mat = mat * g_us
            sig = sig + mat * c
        return sig * _US

    def program(self, g_target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Write-verify programmed conductances (S) (cycle-to-cycle noise; not clamped, as aihwkit)."""
        _check_g(g_target)
        return g_target + self.prog_noise_scale * self.sigma_prog(g_target) * _randn(g_target, generator)

    def program_unverified(self, g_target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One-shot programming with device-to-device spread ``d2d_rel`` (S), clamped to the range."""
        _check_g(g_target)
        g = g_target * (1.0 + self.d2d_rel * _randn(g_target, generator))
        return g.clamp(min=self.g_min, max=self.g_max)

    def read(self, g_prog: torch.Tensor, t_inference: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Conductances (S) ``t_inference`` s after programming: relaxation + read noise, clamped."""
        t = _check_time(t_inference)
        if t == 0:
            return g_prog.clamp(min=self.g_min, max=self.g_max)
        lt = math.log(t)
        g_us = g_prog / _US + self.relax_mean * lt * self.drift_scale
        sig_relax = max(self.relax_std[0] * lt + self.relax_std[1], 0.0)
        g_us = g_us + _randn(g_prog, generator) * sig_relax * self.drift_scale
        read_t = math.sqrt(math.log((t + self.t_read) / (2 * self.t_read)))
        sig_read = self.read_k * torch.log10(g_us.clamp(min=1e-12)) * read_t
        g_us = g_us + sig_read * _randn(g_prog, generator) * self.read_noise_scale
        return (g_us * _US).clamp(min=self.g_min, max=self.g_max)

    def state(self, g_target: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {"g_prog": self.program(g_target, generator)}

    def read_state(self, state: dict[str, torch.Tensor], t_inference: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        return self.read(state["g_prog"], t_inference, generator)


def device_from_target(target, **overrides) -> PCMModel | RRAMModel:
    """The device model named by a crossbar target's ``device.model`` figure."""
    from neuromap import targets

    t = targets.load(target)
    name = t.get("device.model")
    if name == "PCMLikeNoiseModel":
        return PCMModel.from_target(t, **overrides)
    if name == "ReRamCMONoiseModel":
        return RRAMModel.from_target(t, **overrides)
    raise ValueError(f"target {t.name!r}: device.model={name!r} has no neuromap device model "
                     "(known: PCMLikeNoiseModel, ReRamCMONoiseModel)")


def stuck_at(g: torch.Tensor, rate: float, g_low: float, g_high: float, high_fraction: float = 0.5,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stuck-at faults: each device independently stuck with probability ``rate``; a stuck device
    sits at ``g_high`` (stuck-on / SET) with probability ``high_fraction``, else at ``g_low``
    (stuck-off / RESET). Returns ``(g_with_faults, stuck_mask)``; the mask is fixed for a chip."""
    if not (0.0 <= rate <= 1.0) or not (0.0 <= high_fraction <= 1.0):
        raise ValueError(f"stuck-at rate and high_fraction must lie in [0, 1], got {rate}, {high_fraction}")
    u = torch.rand(g.shape, generator=generator, dtype=g.dtype, device=g.device)
    v = torch.rand(g.shape, generator=generator, dtype=g.dtype, device=g.device)
    stuck = u < rate
    value = torch.where(v < high_fraction, torch.full_like(g, g_high), torch.full_like(g, g_low))
    return torch.where(stuck, value, g), stuck
