"""Memristive crossbars (RRAM, PCM), part 1: mapping weights to conductance pairs, programming, faults.

A weight tensor ``W`` is stored as a differential pair of devices per synapse (aihwkit's
``SinglePairConductanceConverter``): with ``w_max = max|W|`` (one scale per tensor),

.. math::

    g^\\pm_{target} = g_{min} + (g_{max} - g_{min}) \\frac{\\max(\\pm W, 0)}{w_{max}},
    \\qquad W = (g^+ - g^-)\\,\\frac{w_{max}}{g_{max} - g_{min}}

Conductances are in microsiemens. With ``levels >= 2`` the targets are rounded to that many equally spaced
values in ``[g_min, g_max]`` (a multi-level cell); ``levels = 0`` is an analog, program-and-verify device.

Programming noise (fabric phase, per device, aihwkit's ``PCMLikeNoiseModel`` / ``ReRamWan2022NoiseModel``):
``g = max(g_target + sigma(x) N(0, 1), 0)`` with ``x = g_target / g_max`` and

.. math::

    \\sigma(x) = \\frac{g_{max}}{g_{ref}} \\sum_i c_i x^i \\quad [\\mu S]

(the coefficients were fitted at ``g_max = g_ref``). Stuck-at faults (fabric phase): each device is
independently stuck at ``g_min`` (off) with probability ``rate_off`` or at ``g_max`` (on) with ``rate_on``;
stuck devices ignore later drift and relaxation. Time-dependent effects live in
:mod:`robust_snn.devices.drift`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .stage import Stage, check, finite_at_least, register
from .state import ChipState, Crossbar, Devices, Phase, update_pairs


def polynomial(coeffs: tuple[float, ...], x: torch.Tensor) -> torch.Tensor:
    """``sum_i coeffs[i] * x**i`` (ascending powers)."""
    out = torch.zeros_like(x)
    for c in reversed(coeffs):
        out = out * x + c
    return out


@register
@dataclass(frozen=True)
class ConductanceMap(Stage):
    """Place the tensors of ``map_families`` in crossbars (module docstring). Program phase.

    Defaults: aihwkit's ``SinglePairConductanceConverter`` with its PCM ``g_max = 25`` uS, analog targets.
    """

    kind = "conductance_map"
    phase = Phase.PROGRAM
    on_crossbar = True
    g_min: float = 0.0
    g_max: float = 25.0
    levels: int = 0
    map_families: tuple[str, ...] = ("weights",)

    def __post_init__(self) -> None:
        super().__post_init__()
        finite_at_least(self.g_min, 0.0, "g_min")
        finite_at_least(self.g_max, 0.0, "g_max")
        check(self.g_max > self.g_min, f"g_max must be > g_min, got g_max={self.g_max!r}, g_min={self.g_min!r}")
        check(isinstance(self.levels, int) and (self.levels == 0 or self.levels >= 2),
              f"levels must be 0 (analog) or an integer >= 2, got {self.levels!r}")
        check(len(self.map_families) > 0, "map_families must name at least one family")

    def families(self) -> frozenset[str]:
        return frozenset(self.map_families)

    def quantise(self, g: torch.Tensor) -> torch.Tensor:
        """Round conductances to the ``levels`` allowed values (identity for an analog device)."""
        if self.levels == 0:
            return g
        step = (self.g_max - self.g_min) / (self.levels - 1)
        return self.g_min + torch.round((g - self.g_min) / step).clamp(0, self.levels - 1) * step

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        crossbars = {}
        span = self.g_max - self.g_min
        for name in state.names(self.families()):
            w = state.params[name].detach().double()
            w_max = float(w.abs().max()) or 1.0
            pos = self.quantise(self.g_min + span * w.clamp_min(0) / w_max)
            neg = self.quantise(self.g_min + span * (-w).clamp_min(0) / w_max)
            no = torch.zeros_like(w, dtype=torch.bool)
            crossbars[name] = Crossbar(self.g_min, self.g_max, w_max / span, pos, neg, pos, neg, no, no)
        return state.with_crossbars(crossbars)


@register
@dataclass(frozen=True)
class ProgrammingNoise(Stage):
    """``g = max(g_target + sigma(x) N, 0)``, ``sigma`` a polynomial in ``x = g_target / g_max`` (docstring).

    Defaults: aihwkit ``PCMLikeNoiseModel.prog_coeff``, fitted at ``g_ref = 25`` uS.
    """

    kind = "programming_noise"
    phase = Phase.FABRIC
    requires = ("conductance_map",)
    on_crossbar = True
    coeffs_uS: tuple[float, ...] = (0.26348, 1.9650, -1.1731)
    g_ref_uS: float = 25.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check(len(self.coeffs_uS) >= 1, "coeffs_uS must list at least one coefficient")
        finite_at_least(self.g_ref_uS, 1e-12, "g_ref_uS")
        finite_at_least(self.scale, 0.0, "scale")

    def sigma(self, target: torch.Tensor, g_max: float) -> torch.Tensor:
        """Programming-noise standard deviation (uS) at each target conductance, never negative."""
        return (polynomial(self.coeffs_uS, target / g_max) * (g_max / self.g_ref_uS)).clamp_min(0) * self.scale

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        def program(x: Crossbar, d: Devices) -> Devices:
            noise = torch.randn(d.target.shape, generator=gen, dtype=d.target.dtype)
            return d.replace(g=(d.target + self.sigma(d.target, x.g_max) * noise).clamp_min(0))

        return update_pairs(state, program, keep_stuck=True)


@register
@dataclass(frozen=True)
class StuckAtFaults(Stage):
    """Each device stuck at ``g_min`` with probability ``rate_off`` or at ``g_max`` with ``rate_on``."""

    kind = "stuck_at_faults"
    phase = Phase.FABRIC
    requires = ("conductance_map",)
    after = ("programming_noise",)
    on_crossbar = True
    rate_on: float = 0.0
    rate_off: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("rate_on", "rate_off"):
            value = getattr(self, name)
            check(isinstance(value, (int, float)) and 0 <= value <= 1,
                  f"{name} must be a probability in [0, 1], got {value!r}")
        check(self.rate_on + self.rate_off <= 1,
              f"rate_on + rate_off must be <= 1, got {self.rate_on + self.rate_off!r}")

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        def fail(x: Crossbar, d: Devices) -> Devices:
            u = torch.rand(d.g.shape, generator=gen, dtype=torch.float64)
            off, on = u < self.rate_off, (u >= self.rate_off) & (u < self.rate_off + self.rate_on)
            g = torch.where(off, torch.full_like(d.g, x.g_min), torch.where(on, torch.full_like(d.g, x.g_max), d.g))
            return d.replace(g=g, stuck=d.stuck | off | on)

        return update_pairs(state, fail, keep_stuck=False)


__all__ = ["ConductanceMap", "ProgrammingNoise", "StuckAtFaults", "polynomial"]
