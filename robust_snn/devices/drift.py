"""Memristive crossbars, part 2: what time does to programmed conductances, and noise at every read.

All times in seconds, conductances in microsiemens, ``x = g / g_max``.

- :class:`PowerLawDrift` (PCM; aihwkit ``PCMLikeNoiseModel``): at deployment age ``t`` after programming,

  .. math::

      g(t) = g_{prog} \\Big(\\frac{t + t_0}{t_0}\\Big)^{-\\nu}, \\qquad
      \\nu = \\big|\\,\\mathrm{clip}(a_\\mu \\ln x + b_\\mu, lo_\\mu, hi_\\mu)
             + \\mathrm{clip}(a_\\sigma \\ln x + b_\\sigma, lo_\\sigma, hi_\\sigma)\\,N(0, 1)\\big|

  per device, ``x`` from the programmed target (``nu_mean`` and ``nu_std`` are ``[a, b, lo, hi]``).
- :class:`Relaxation` (RRAM; aihwkit ``ReRamWan2022NoiseModel``): RRAM does not drift along a power law; its
  conductances spread out. At age ``t`` a device sits at ``g_target + sigma_t(x) N(0, 1)`` with ``sigma_t`` a
  polynomial fitted at that age (as aihwkit does, this replaces the programming-noise draw).
- :class:`DriftCompensation` (aihwkit ``GlobalDriftCompensation``): one gain per tensor,
  ``sum |g+_ref - g-_ref| / sum |g+ - g-|``, measured by a calibration read just before ageing (reference) and
  at the age -- the periphery rescales each layer's output by it.
- :class:`ReadNoise1f` (PCM 1/f noise, read phase): ``g_read = g + |g| sigma_rel N(0, 1)``,
  ``sigma_rel = min(q0 / max(x, 1e-3)^exponent, q_max) * sqrt(ln((t + t_r) / (2 t_r)))`` with ``t`` the time
  since programming and ``x`` from the conductance before ageing.
- :class:`ConstantReadNoise` (read phase): ``g_read = g + sigma_rel * g_max * N(0, 1)`` per device.

Stuck devices (:class:`~robust_snn.devices.crossbar.StuckAtFaults`) neither drift nor relax; read noise acts
on every device. Read conductances are clipped at 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .crossbar import polynomial
from .stage import Stage, check, finite_at_least, register
from .state import ChipState, Crossbar, Devices, Phase, update_pairs


def _with_reference(x: Crossbar) -> Crossbar:
    return x if x.reference_pos is not None else x.replace(reference_pos=x.g_pos, reference_neg=x.g_neg)


def _check_law(values: tuple[float, ...], name: str) -> None:
    check(len(values) == 4 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values),
          f"{name} must be four numbers [a, b, lo, hi], got {list(values)!r}")
    check(0 <= values[2] <= values[3], f"{name} needs 0 <= lo <= hi, got lo={values[2]!r}, hi={values[3]!r}")


@register
@dataclass(frozen=True)
class PowerLawDrift(Stage):
    """PCM conductance drift to deployment age ``age_s`` (module docstring).

    Defaults: aihwkit ``PCMLikeNoiseModel`` (``t_0 = 20`` s and its ``nu`` law); the age, one day, is a choice.
    """

    kind = "power_law_drift"
    phase = Phase.AGE
    requires = ("conductance_map",)
    on_crossbar = True
    age_s: float = 86400.0
    t0_s: float = 20.0
    nu_mean: tuple[float, ...] = (-0.0155, 0.0244, 0.049, 0.1)
    nu_std: tuple[float, ...] = (-0.0125, -0.0059, 0.008, 0.045)
    scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        finite_at_least(self.age_s, 0.0, "age_s")
        finite_at_least(self.t0_s, 1e-12, "t0_s")
        finite_at_least(self.scale, 0.0, "scale")
        _check_law(self.nu_mean, "nu_mean")
        _check_law(self.nu_std, "nu_std")

    def nu_moments(self, target: torch.Tensor, g_max: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of the drift exponent at each target conductance."""
        log_x = torch.log((target / g_max).clamp_min(1e-7))
        (am, bm, lm, hm), (a_s, b_s, ls, hs) = self.nu_mean, self.nu_std
        return (am * log_x + bm).clamp(lm, hm), (a_s * log_x + b_s).clamp(ls, hs)

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        growth = (self.age_s + self.t0_s) / self.t0_s

        def drift(x: Crossbar, d: Devices) -> Devices:
            mean, std = self.nu_moments(d.target, x.g_max)
            nu = (mean + std * torch.randn(mean.shape, generator=gen, dtype=mean.dtype)).abs() * self.scale
            return d.replace(g=d.g * growth ** (-nu))

        return update_pairs(state, drift, keep_stuck=True, prepare=_with_reference, time_s=self.age_s + self.t0_s)


@register
@dataclass(frozen=True)
class Relaxation(Stage):
    """RRAM conductance relaxation at age ``age_s``: ``g = g_target + sigma_t(x) N`` (module docstring).

    Defaults: aihwkit ``ReRamWan2022NoiseModel`` one-day fit, referenced to ``g_ref = 40`` uS.
    """

    kind = "relaxation"
    phase = Phase.AGE
    requires = ("conductance_map",)
    on_crossbar = True
    age_s: float = 86400.0
    coeffs_uS: tuple[float, ...] = (0.701, 22.086, -50.773, 47.095, -16.458)
    g_ref_uS: float = 40.0

    def __post_init__(self) -> None:
        super().__post_init__()
        finite_at_least(self.age_s, 1e-12, "age_s")
        check(len(self.coeffs_uS) >= 1, "coeffs_uS must list at least one coefficient")
        finite_at_least(self.g_ref_uS, 1e-12, "g_ref_uS")

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        def relax(x: Crossbar, d: Devices) -> Devices:
            sigma = (polynomial(self.coeffs_uS, d.target / x.g_max) * (x.g_max / self.g_ref_uS)).clamp_min(0)
            noise = torch.randn(d.target.shape, generator=gen, dtype=d.target.dtype)
            return d.replace(g=(d.target + sigma * noise).clamp_min(0))

        return update_pairs(state, relax, keep_stuck=True, prepare=_with_reference, time_s=self.age_s)


@register
@dataclass(frozen=True)
class DriftCompensation(Stage):
    """One gain per crossbar tensor restoring the calibration read's total ``|g+ - g-|`` (module docstring)."""

    kind = "drift_compensation"
    phase = Phase.AGE
    requires = ("power_law_drift", "relaxation")
    after = ("power_law_drift", "relaxation")
    on_crossbar = True

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        updates = {}
        for name in sorted(state.crossbars):
            x = state.crossbars[name]
            before = float((x.reference_pos - x.reference_neg).abs().sum())
            now = float((x.g_pos - x.g_neg).abs().sum())
            updates[name] = x.replace(gain=before / now if now > 0 and before > 0 else 1.0)
        return state.with_crossbars(updates)


@register
@dataclass(frozen=True)
class ReadNoise1f(Stage):
    """PCM 1/f read noise, fresh at every inference (module docstring). Defaults: aihwkit ``PCMLikeNoiseModel``."""

    kind = "read_noise_1f"
    phase = Phase.READ
    requires = ("power_law_drift", "relaxation")
    on_crossbar = True
    q0: float = 0.0088
    exponent: float = 0.65
    q_max: float = 0.2
    t_read_s: float = 250e-9

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, low in (("q0", 0.0), ("exponent", 0.0), ("q_max", 0.0), ("t_read_s", 1e-15)):
            finite_at_least(getattr(self, name), low, name)

    def sigma_rel(self, g_ref: torch.Tensor, g_max: float, time_s: float) -> torch.Tensor:
        """Relative read-noise standard deviation of each device read ``time_s`` after programming."""
        q = (self.q0 / (g_ref.abs() / g_max).pow(self.exponent).clamp_min(1e-3)).clamp_max(self.q_max)
        return q * math.sqrt(max(math.log((time_s + self.t_read_s) / (2 * self.t_read_s)), 0.0))

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        def read(x: Crossbar, d: Devices) -> Devices:
            sigma = self.sigma_rel(d.reference if d.reference is not None else d.g, x.g_max, x.time_s)
            noise = torch.randn(d.g.shape, generator=gen, dtype=d.g.dtype)
            return d.replace(g=(d.g + d.g.abs() * sigma * noise).clamp_min(0))

        return update_pairs(state, read, keep_stuck=False)  # read noise acts on stuck devices too


@register
@dataclass(frozen=True)
class ConstantReadNoise(Stage):
    """Additive read noise of ``sigma_rel * g_max`` per device, fresh at every inference."""

    kind = "constant_read_noise"
    phase = Phase.READ
    requires = ("conductance_map",)
    on_crossbar = True
    sigma_rel: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        finite_at_least(self.sigma_rel, 0.0, "sigma_rel")

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        def read(x: Crossbar, d: Devices) -> Devices:
            noise = torch.randn(d.g.shape, generator=gen, dtype=d.g.dtype)
            return d.replace(g=(d.g + self.sigma_rel * x.g_max * noise).clamp_min(0))

        return update_pairs(state, read, keep_stuck=False)  # read noise acts on stuck devices too


__all__ = ["ConstantReadNoise", "DriftCompensation", "PowerLawDrift", "ReadNoise1f", "Relaxation"]
