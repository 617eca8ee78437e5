"""``rwp``: random weight perturbation mixed with the clean loss (Li et al. 2022, "Efficient generalization
improvement guided by random weight perturbation").

``L = (1 - mix) CE(theta) + mix CE(theta + stopgrad(|theta| sigma N(0,1)))``. The perturbation is relative
(element-wise ``|theta|``), which matches multiplicative device mismatch. Two forward/backward passes per
step: about twice the cost of ``standard``, far cheaper than an attack.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ConfigError
from ...core.parameters import functional_forward
from .base import Method, StepResult, names_in_families, register_method, relative_noise


@dataclass(frozen=True)
class RWPConfig:
    sigma: float = 0.1
    mix: float = 0.5
    families: tuple[str, ...] = ("weights", "biases")

    def __post_init__(self) -> None:
        if not 0 <= self.sigma < 10:
            raise ConfigError(f"method.rwp.sigma must be in [0, 10), got {self.sigma!r}")
        if not 0 <= self.mix <= 1:
            raise ConfigError(f"method.rwp.mix must be in [0, 1], got {self.mix!r}")


@register_method
class RWP(Method):
    name = "rwp"
    summary = "clean cross-entropy mixed with cross-entropy under random relative weight perturbation"
    Config = RWPConfig

    def loss(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> StepResult:
        cfg = self.config
        logits = functional_forward(model, params, x)
        clean = F.cross_entropy(logits, y)
        noisy = relative_noise(params, names_in_families(model, cfg.families), cfg.sigma, generator)
        perturbed = F.cross_entropy(functional_forward(model, noisy, x), y)
        loss = (1 - cfg.mix) * clean + cfg.mix * perturbed
        return StepResult(loss, logits, {"ce": float(clean.detach()), "ce_perturbed": float(perturbed.detach())})
