"""Multiplicative device mismatch with global, per-core, per-neuron and per-synapse components.

For a parameter tensor ``theta`` of family ``f`` (first axis = neuron; for a weight ``(n_out, n_in)`` the
post-synaptic neuron), one chip draws

.. math::

    z = \\sigma_{chip} g_f + \\sigma_{core} c_{core(i)} + \\sigma_{neuron} n_i + \\sigma_{synapse} s_{ij},
    \\qquad g, c, n, s \\sim N(0, 1) \\text{ independent}

where ``g_f`` is shared by every tensor of family ``f`` on the chip (a process corner), ``c`` by the
``neurons_per_core`` consecutive neurons of one core of that tensor (shared bias generators), ``n`` by one
neuron's row, and ``s`` is drawn per element. For a per-neuron vector (``tau_mem (n,)``) ``neuron`` and
``synapse`` index the same element, so their variances add. Then

- :class:`RelativeGaussian`: ``theta * (1 + z)`` -- the paper's test-time model with ``synapse = sigma``;
- :class:`LogNormal`: ``theta * exp(z)`` -- subthreshold transistor currents are exponential in a Gaussian
  threshold-voltage offset, so currents (weights, time constants ~ 1/I, thresholds) are log-normal. The median
  is the nominal value; the mean is ``theta * exp(sigma^2 / 2)``, with ``sigma^2`` the sum of the squared
  component spreads.

Spreads are dimensionless (relative). A spread table may give a ``default`` entry for every family not listed.
A Gaussian factor can cross zero: positive-by-construction families (taus, thresholds, adaptation) are held at
``floor * theta`` or above, and decay factors inside ``[0, 1]``; weights and biases may flip sign, as in the
paper. :class:`RelativeReadNoise` is the same Gaussian factor redrawn at every inference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch

from ..config import ConfigError, build_dataclass
from .stage import Stage, check, check_families, finite_at_least, register
from .state import ChipState, Phase

POSITIVE_FAMILIES = frozenset({"taus", "thresholds", "adaptation"})


@dataclass(frozen=True)
class Variation:
    """Relative spreads (standard deviations of ``z``) of the four components; all >= 0."""

    chip: float = 0.0
    core: float = 0.0
    neuron: float = 0.0
    synapse: float = 0.0

    def __post_init__(self) -> None:
        for name in ("chip", "core", "neuron", "synapse"):
            finite_at_least(getattr(self, name), 0.0, name)

    @property
    def total(self) -> float:
        """Standard deviation of ``z``: the components are independent, so variances add."""
        return math.sqrt(self.chip**2 + self.core**2 + self.neuron**2 + self.synapse**2)


def _spread_table(data: Mapping[str, Any], where: str) -> dict[str, Variation]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table of families, got {data!r}")
    return {fam: v if isinstance(v, Variation) else build_dataclass(Variation, v, f"{where}.{fam}")
            for fam, v in data.items()}


def _check_floor(floor: float) -> None:
    check(isinstance(floor, (int, float)) and 0 < floor <= 1, f"floor must be in (0, 1], got {floor!r}")


def keep_physical(family: str, nominal: torch.Tensor, value: torch.Tensor, floor: float) -> torch.Tensor:
    """Clamp a perturbed value to what the family can physically take (see module docstring)."""
    if family in POSITIVE_FAMILIES:
        return torch.where(nominal > 0, torch.maximum(value, floor * nominal), value)
    if family == "decays":
        return value.clamp(0.0, 1.0)
    return value


def _draw_z(state: ChipState, spread: Mapping[str, Variation], neurons_per_core: int,
            gen: torch.Generator) -> dict[str, torch.Tensor]:
    """The relative deviation ``z`` of every tensor the spread table covers, in a fixed draw order."""
    def spread_of(name: str) -> Variation | None:
        fam = state.families[name]
        return spread.get(fam, spread.get("default"))

    names = [n for n in state.names() if spread_of(n) is not None]
    chip_z = {}
    for fam in sorted({state.families[n] for n in names}):
        v = spread.get(fam, spread.get("default"))
        chip_z[fam] = v.chip * torch.randn((), generator=gen) if v.chip else 0.0
    out = {}
    for name in names:
        v, theta = spread_of(name), state.params[name]
        # z = chip + core + neuron + synapse terms, in that order, those that are not zero (x + 0 = x, up to the
        # sign of a zero z, which no theta * (1 + z) or theta * exp(z) sees), broadcast to theta's shape.
        terms: list[torch.Tensor] = []
        if chip_z[state.families[name]]:
            terms.append(chip_z[state.families[name]])
        if theta.dim() >= 1:
            n, tail = theta.shape[0], (1,) * (theta.dim() - 1)
            if v.core:
                cores = v.core * torch.randn(-(-n // neurons_per_core), generator=gen)
                terms.append(cores.repeat_interleave(neurons_per_core)[:n].view(n, *tail))
            if v.neuron:
                terms.append(v.neuron * torch.randn(n, generator=gen).view(n, *tail))
        elif v.core or v.neuron:
            terms.append(math.hypot(v.core, v.neuron) * torch.randn((), generator=gen))
        if v.synapse:
            terms.append(v.synapse * torch.randn(theta.shape, generator=gen))
        z = terms[0].to(theta.dtype) if terms else torch.zeros_like(theta)  # (summed in theta's precision)
        for term in terms[1:]:
            z = z + term
        out[name] = z if z.shape == theta.shape else z.expand(theta.shape)
    return out


@dataclass(frozen=True)
class _Mismatch(Stage):
    spread: dict[str, Variation] = field(default_factory=dict)
    neurons_per_core: int = 256

    phase = Phase.FABRIC

    def __post_init__(self) -> None:
        super().__post_init__()
        check_families(self.spread, "spread")
        for fam, v in self.spread.items():
            check(isinstance(v, Variation), f"spread.{fam} must be a table of spreads, got {v!r}")
        check(isinstance(self.neurons_per_core, int) and self.neurons_per_core >= 1,
              f"neurons_per_core must be an integer >= 1, got {self.neurons_per_core!r}")

    def families(self) -> frozenset[str] | None:
        return None if "default" in self.spread else frozenset(self.spread)

    def perturbed(self, families: Mapping[str, str], params: Mapping[str, torch.Tensor],
                  z: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The parameters named in ``z`` moved by their relative deviations ``z`` (the subclass's formula; a
        leading chip axis on both broadcasts)."""
        raise NotImplementedError

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        z = _draw_z(state, self.spread, self.neurons_per_core, gen)
        return state.with_params(self.perturbed(state.families, state.params, z))

    def apply_to_chips(self, programmed: ChipState, values: dict[str, torch.Tensor],
                       gens: Sequence[torch.Generator]) -> dict[str, torch.Tensor]:
        # The draws depend on names and shapes only (the programmed state's), each chip from its own generator;
        # the formula then runs once on the stacked values, element by element as chip by chip.
        draws = [_draw_z(programmed, self.spread, self.neurons_per_core, gen) for gen in gens]
        z = {name: torch.stack([d[name] for d in draws]) for name in draws[0]} if draws else {}
        return {**values, **self.perturbed(programmed.families, values, z)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> "_Mismatch":
        data = dict(data)
        if "spread" in data:
            data["spread"] = _spread_table(data["spread"], f"{where}.spread")
        return build_dataclass(cls, data, where)


@register
@dataclass(frozen=True)
class RelativeGaussian(_Mismatch):
    """``theta * (1 + z)`` per chip (module docstring); the paper's test-time model.

    ``floor``: positive families stay at or above ``floor * theta`` (a Gaussian factor can cross zero).
    """

    kind = "relative_gaussian"
    floor: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_floor(self.floor)

    def perturbed(self, families: Mapping[str, str], params: Mapping[str, torch.Tensor],
                  z: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: keep_physical(families[n], params[n], params[n] * (1 + dz), self.floor) for n, dz in z.items()}


@register
@dataclass(frozen=True)
class LogNormal(_Mismatch):
    """``theta * exp(z)`` per chip (module docstring); subthreshold analog mismatch."""

    kind = "lognormal"

    def perturbed(self, families: Mapping[str, str], params: Mapping[str, torch.Tensor],
                  z: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {n: params[n] * torch.exp(dz) for n, dz in z.items()}


@register
@dataclass(frozen=True)
class RelativeReadNoise(Stage):
    """``theta * (1 + sigma_f N(0, 1))`` drawn afresh at every inference, per element.

    ``sigma`` maps families (or ``default``) to a relative spread: e.g. noisy analog reads of every weight.
    """

    kind = "relative_read_noise"
    phase = Phase.READ
    sigma: dict[str, float] = field(default_factory=dict)
    floor: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        check_families(self.sigma, "sigma")
        for fam, s in self.sigma.items():
            finite_at_least(s, 0.0, f"sigma.{fam}")
        _check_floor(self.floor)

    def families(self) -> frozenset[str] | None:
        return None if "default" in self.sigma else frozenset(self.sigma)

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        updates = {}
        for name in state.names():
            fam = state.families[name]
            s = self.sigma.get(fam, self.sigma.get("default", 0.0))
            if s:
                theta = state.params[name]
                noisy = theta * (1 + s * torch.randn(theta.shape, generator=gen, dtype=theta.dtype))
                updates[name] = keep_physical(fam, theta, noisy, self.floor)
        return state.with_params(updates)


__all__ = ["LogNormal", "POSITIVE_FAMILIES", "RelativeGaussian", "RelativeReadNoise", "Variation", "keep_physical"]
