"""``awp``: adversarial weight perturbation (Wu et al. 2020) as the paper adapts it.

``theta*`` comes from ``steps`` signed-gradient steps on the cross-entropy inside the relative box
``|theta* - theta| <= eps |theta|`` (the same projected attack as :mod:`robust_snn.attack`); the step is taken
at ``theta' = theta + gamma (theta* - theta)`` and its gradient applied to ``theta`` (the perturbation is held
constant, as in AWP).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...attack import AttackConfig, attacked_names, batch_grad_fn, pga_attack
from ...config import ConfigError
from .base import register_method
from .compose import Composed, CrossEntropy, Params, Perturbation, Step, Term


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


class AWPShift(Perturbation):
    """``theta + sg(gamma (theta* - theta))``, ``theta*`` from the CE attack in the relative box (metric
    ``attack_ce``: the attack's last cross-entropy)."""

    def __init__(self, config: AWPConfig) -> None:
        self.config = config

    def apply(self, step: Step, params: Params) -> Params:
        cfg = self.config
        eps = attacked_names(step.model, AttackConfig(eps=cfg.eps, families=cfg.families))
        grad_fn = batch_grad_fn(step.model, step.x, "ce", labels=step.y, names=list(eps))
        attack = pga_attack(grad_fn, params, eps, cfg.steps, cfg.eps_init, step.generator)
        shifted = dict(params)
        for name, c in attack.coefficients.items():
            shifted[name] = params[name] + (cfg.gamma * params[name].abs() * c).detach()
        step.metrics["attack_ce"] = attack.losses[-1]
        step.points["shifted"] = shifted
        return shifted


@register_method
class AWP(Composed):
    """``CE(theta + sg(gamma (theta* - theta)))``."""

    name = "awp"
    summary = "cross-entropy at theta + gamma*(theta* - theta), theta* a CE attack in the relative box"
    Config = AWPConfig

    def terms(self) -> list[Term]:
        return [CrossEntropy("ce", at="sample", perturb=AWPShift(self.config))]
