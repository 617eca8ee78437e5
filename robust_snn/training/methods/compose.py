"""Methods as compositions: a sampler, and a weighted sum of terms, each an objective at a perturbation.

``L = sum_i w_i * L_i``. A **sampler** says where the parameters ``theta`` (physical units) sit for this batch,
as two points:

- the *anchor*, the nominal point a robustness term is anchored at: ``theta``, or on a device the programmed
  values ``theta_p = theta + sg(P(theta) - theta)`` (straight-through);
- the *sample*, where random variation is tried: ``theta``, or on a device a fresh chip ``theta~`` of the
  profile (:mod:`robust_snn.training.device_aware`).

So device-aware training is the device sampler plus any objective. A **perturbation** moves a point
(``theta + sg(|theta| sigma N)``, a hidden-unit dropout of the forward pass, an AWP or ASAM ascent step); a
**term** evaluates an objective there: :class:`CrossEntropy`, or the attack's KL term of
:mod:`~robust_snn.training.methods.adversarial`, which carries state (the warm start). For example
``fn-adversarial = CE(sample + forward noise) + beta * KL(anchor || attacked anchor)``.

Terms run in the order listed and draw from the batch's generator in that order. The forward pass at the
anchor is computed once per batch and shared (the KL term's target is the very logits the CE term saw, not
detached). The logits train accuracy is counted on are the anchor's when any part computed them, else the first
term's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...core.parameters import functional_forward, parameter_families
from ...devices import load_profile, model_dt
from ..device_aware import DeviceChips
from .base import Batch, Method, MethodState, StepResult, names_in_families, relative_noise

Params = dict[str, torch.Tensor]


class Sampler:
    """The nominal sampler: anchor and sample are ``theta`` itself, no chip."""

    def draw(self, step: "Step") -> Any:
        return None

    def anchor(self, step: "Step") -> Params:
        return step.params

    def sample(self, step: "Step") -> Params:
        return step.params

    def attack_scales(self, model: nn.Module, seed: int) -> dict[str, float] | None:
        """``{family: relative eps}`` a device attacks at, or ``None`` (the term's own configuration)."""
        return None


class DeviceSampler(Sampler):
    """A fresh chip of a device profile per batch: anchor = programmed values, sample = the chip."""

    def __init__(self, profile: str | Path) -> None:
        self.chips = DeviceChips(profile)

    def draw(self, step: "Step") -> Any:
        b = step.batch
        return self.chips.draw(step.model, step.params, b.seed, b.epoch, b.step)

    def anchor(self, step: "Step") -> Params:
        return self.chips.programmed(step.params, step.chip())

    def sample(self, step: "Step") -> Params:
        return self.chips.chip(step.params, step.chip())

    def attack_scales(self, model: nn.Module, seed: int) -> dict[str, float]:
        return self.chips.attack_scales(model, seed)


class ProgrammingSampler(Sampler):
    """The device's deterministic programming only (no mismatch): anchor = sample = ``theta + sg(P(theta) -
    theta)``, the programmed values forward and the identity backward (quantisation-aware training)."""

    def __init__(self, profile: str | Path) -> None:
        self.mismatch = load_profile(profile).mismatch_model()

    def anchor(self, step: "Step") -> Params:
        params, model = step.params, step.model
        detached = {k: v.detach() for k, v in params.items()}
        quantised = self.mismatch.program(detached, parameter_families(model), dt=model_dt(model)).materialise()
        return {k: v + (quantised[k].to(v.dtype) - v).detach() for k, v in params.items()}

    def sample(self, step: "Step") -> Params:
        return step.point("anchor")


class Step:
    """One batch's working context: the points (computed once, on demand), the shared anchor forward pass,
    and what the terms report (metrics, points, logits)."""

    def __init__(self, model: nn.Module, params: Params, batch: Batch, sampler: Sampler) -> None:
        self.model, self.params, self.batch, self.sampler = model, params, batch, sampler
        self.x, self.y, self.generator = batch.x, batch.y, batch.generator
        self.metrics: dict[str, float] = {}
        self.points: dict[str, Params] = {}
        self.reported: torch.Tensor | None = None
        self._points: dict[str, Params] = {}
        self._anchor_logits: torch.Tensor | None = None
        self._draw: Any = None
        self._drawn = False

    def chip(self) -> Any:
        """The batch's chip draw (``None`` without a device), drawn once."""
        if not self._drawn:
            self._draw, self._drawn = self.sampler.draw(self), True
        return self._draw

    @property
    def drawn(self) -> Any:
        """The chip draw if some part asked for it, else ``None`` (without drawing one)."""
        return self._draw

    def point(self, which: str) -> Params:
        """``"anchor"`` or ``"sample"`` (module docstring), computed once."""
        if which not in self._points:
            self._points[which] = getattr(self.sampler, which)(self)
        return self._points[which]

    def forward(self, params: Params) -> torch.Tensor:
        return functional_forward(self.model, params, self.x)

    def anchor_logits(self) -> torch.Tensor:
        """``f(X, anchor)``, differentiable, computed once per batch."""
        if self._anchor_logits is None:
            self._anchor_logits = self.forward(self.point("anchor"))
            self.report_anchor(self._anchor_logits)
        return self._anchor_logits

    def report_anchor(self, logits: torch.Tensor) -> None:
        """Count train accuracy on these logits at the anchor (the first such report wins)."""
        if self.reported is None:
            self.reported = logits


class Perturbation:
    """Moves a point before a term's forward pass. The default is the identity."""

    def apply(self, step: Step, params: Params) -> Params:
        return params

    def forward(self, step: Step, params: Params) -> torch.Tensor:
        """``f(X, params)``; a perturbation of the forward pass itself (dropout) overrides this."""
        return step.forward(params)


class RelativeNoise(Perturbation):
    """``theta + sg(|theta| sigma N(0, 1))`` on the parameters ``names(model)``, fresh from the batch's
    generator (the paper's forward noise; relative, as device mismatch is; positive families held above a
    floor, :func:`~robust_snn.training.methods.base.relative_noise`)."""

    def __init__(self, sigma: float, families: tuple[str, ...] = ("weights", "biases"),
                 names: Callable[[nn.Module], list[str]] | None = None) -> None:
        self.sigma = sigma
        self.names = names or (lambda model: names_in_families(model, families))

    def apply(self, step: Step, params: Params) -> Params:
        model = step.model
        return relative_noise(params, self.names(model), self.sigma, step.generator, parameter_families(model))


class Term(ABC):
    """One weighted objective. ``key`` names its metric and its part of the method's state."""

    key: str
    weight: float = 1.0

    def init(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return {}

    @abstractmethod
    def __call__(self, step: Step, state: dict[str, torch.Tensor]
                 ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(value, logits, new state)``; metrics go to ``step.metrics``."""


class CrossEntropy(Term):
    """``CE(f(X, perturb(point)), y)`` at the sampler's ``"anchor"`` or ``"sample"``."""

    def __init__(self, key: str = "ce", at: str = "sample", perturb: Perturbation | None = None,
                 weight: float = 1.0) -> None:
        if at not in ("anchor", "sample"):
            raise ValueError(f"a term is evaluated at 'anchor' or 'sample', got {at!r}")
        self.key, self.at, self.perturb, self.weight = key, at, perturb or Perturbation(), weight

    def __call__(self, step: Step, state: dict[str, torch.Tensor]
                 ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        if self.at == "anchor" and type(self.perturb) is Perturbation:
            logits = step.anchor_logits()
        else:
            logits = self.perturb.forward(step, self.perturb.apply(step, step.point(self.at)))
        ce = F.cross_entropy(logits, step.y)
        step.metrics[self.key] = float(ce.detach())
        return ce, logits, state


class Composed(Method):
    """A method built from a sampler and terms (module docstring). Subclasses list their :meth:`terms`; the
    sampler is the device's when the config names one (``device``), else the nominal one."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.parts = self.terms()
        keys = [t.key for t in self.parts]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.name}: terms must have distinct keys, got {keys}")
        self.sampling = self.sampler()

    @abstractmethod
    def terms(self) -> list[Term]:
        """The terms, in the order they run."""

    def sampler(self) -> Sampler:
        profile = getattr(self.config, "device", "")
        return DeviceSampler(profile) if profile else Sampler()

    def init(self, model: nn.Module) -> MethodState:
        return {t.key: t.init(model) for t in self.parts}

    def update(self, model: nn.Module, params: Params, batch: Batch, state: MethodState
               ) -> tuple[StepResult, MethodState]:
        step = Step(model, params, batch, self.sampling)
        loss: torch.Tensor | None = None
        first: torch.Tensor | None = None
        new: MethodState = {}
        for term in self.parts:
            value, logits, new[term.key] = term(step, state.get(term.key, {}))
            first = logits if first is None else first
            part = value if term.weight == 1.0 else term.weight * value
            loss = part if loss is None else loss + part
        assert loss is not None and first is not None
        logits = step.reported if step.reported is not None else first
        return StepResult(loss, logits, step.metrics, step.points, step.drawn), new
