"""``awp``: adversarial weight perturbation (Wu et al. 2020) as the paper adapts it.

``theta*`` comes from ``steps`` signed-gradient steps on the cross-entropy inside the relative box
``|theta* - theta| <= eps |theta|`` (the same projected attack as :mod:`robust_snn.attack`); the step is taken
at ``theta' = theta + gamma (theta* - theta)`` and its gradient applied to ``theta`` (the perturbation is held
constant, as in AWP).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...attack import AttackConfig, attacked_names, batch_grad_fn, pga_attack
from ...config import ConfigError
from ...core.parameters import functional_forward
from .base import Method, StepResult, register_method


@dataclass(frozen=True)
class AWPConfig:
    gamma: float = 0.1
    eps: float = 0.1
    steps: int = 10
    eps_init: float = 1e-3
    families: tuple[str, ...] = ("weights", "biases")

    def __post_init__(self) -> None:
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"method.awp.gamma must be in (0, 1], got {self.gamma!r}")
        AttackConfig(eps=self.eps, steps=self.steps, eps_init=self.eps_init, families=self.families)


@register_method
class AWP(Method):
    name = "awp"
    summary = "cross-entropy at theta + gamma*(theta* - theta), theta* a CE attack in the relative box"
    Config = AWPConfig

    def loss(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> StepResult:
        cfg = self.config
        eps = attacked_names(model, AttackConfig(eps=cfg.eps, families=cfg.families))
        grad_fn = batch_grad_fn(model, x, "ce", labels=y, names=list(eps))
        attack = pga_attack(grad_fn, params, eps, cfg.steps, cfg.eps_init, generator)
        shifted = dict(params)
        for name, c in attack.coefficients.items():
            shifted[name] = params[name] + (cfg.gamma * params[name].abs() * c).detach()
        logits = functional_forward(model, shifted, x)
        ce = F.cross_entropy(logits, y)
        return StepResult(ce, logits, {"ce": float(ce.detach()), "attack_ce": attack.losses[-1]})
