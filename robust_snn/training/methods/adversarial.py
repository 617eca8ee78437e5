"""``adversarial`` (the paper's method), ``adversarial-warm`` (a cheaper attack schedule) and
``fn-adversarial`` ("FN+beta").

``L = CE(f(X, theta), y) + beta * KL(f(X, theta) || f(X, theta*))``, ``theta*`` from the projected attack of
:mod:`robust_snn.attack` on the KL divergence (relative box of size ``eps``, ``steps`` signed steps, random
start of relative size ``eps_init``). **No stop-gradient**: the nominal logits are not detached, and
``theta* = theta + |theta| c`` is built from ``theta`` in the graph, so the gradient flows through it with
the diagonal Jacobian ``1 + sign(theta) c``. Defaults: the paper's speech task (eps 0.1, 10 steps,
eps_init 1e-3, beta 0.5), attacking weights and biases.

``adversarial-warm`` starts each batch's attack from the previous batch's coefficients instead of a random
point and takes fewer steps (3 by default): ``steps + 2`` passes per step instead of 12. The warm start is
reset at every epoch, so a resumed run replays exactly.

``fn-adversarial`` evaluates the cross-entropy at ``theta + stopgrad(|theta| eta N(0,1))`` (fresh forward
noise, eta 0.3) and the robustness term at the clean ``theta``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...attack import AttackConfig, attacked_names, batch_grad_fn, divergence, perturb, pga_attack
from ...config import ConfigError
from ...core.parameters import functional_forward
from .base import Method, StepResult, register_method, relative_noise


@dataclass(frozen=True)
class AdversarialConfig:
    beta: float = 0.5
    eps: float = 0.1
    steps: int = 10
    eps_init: float = 1e-3
    families: tuple[str, ...] = ("weights", "biases")
    warm_start: bool = False

    def __post_init__(self) -> None:
        if not self.beta >= 0:
            raise ConfigError(f"method.adversarial.beta must be >= 0, got {self.beta!r}")
        self.attack()  # validates eps, steps, eps_init and families

    def attack(self) -> AttackConfig:
        return AttackConfig(eps=self.eps, steps=self.steps, eps_init=self.eps_init, divergence="kl",
                            families=self.families)


@dataclass(frozen=True)
class WarmAdversarialConfig(AdversarialConfig):
    steps: int = 3
    warm_start: bool = True


@dataclass(frozen=True)
class FNAdversarialConfig(AdversarialConfig):
    eta: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.eta < 10:
            raise ConfigError(f"method.fn-adversarial.eta must be in [0, 10), got {self.eta!r}")


@register_method
class Adversarial(Method):
    name = "adversarial"
    summary = "CE + beta * KL(f(theta) || f(theta*)), theta* a projected parameter attack (Buchel et al. 2022)"
    Config = AdversarialConfig

    def __init__(self, config: AdversarialConfig | None = None) -> None:
        super().__init__(config)
        self._warm: dict[str, torch.Tensor] | None = None

    def start_epoch(self, epoch: int) -> None:
        self._warm = None

    def attack(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor,
               nominal_logits: torch.Tensor, generator: torch.Generator) -> tuple[dict[str, torch.Tensor], float]:
        """``theta*`` (in the graph of ``params``) and the attack's last KL."""
        cfg = self.config
        eps = attacked_names(model, cfg.attack())
        grad_fn = batch_grad_fn(model, x, "kl", target_logits=nominal_logits, names=list(eps))
        start = self._warm if cfg.warm_start else None
        result = pga_attack(grad_fn, params, eps, cfg.steps, cfg.eps_init, generator, start=start)
        if cfg.warm_start:
            self._warm = result.coefficients
        return perturb(params, result.coefficients), result.losses[-1]

    def loss(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> StepResult:
        logits = functional_forward(model, params, x)
        ce = F.cross_entropy(logits, y)
        attacked, attack_kl = self.attack(model, params, x, logits, generator)
        robust = divergence(functional_forward(model, attacked, x), logits, None, "kl")
        loss = ce + self.config.beta * robust
        return StepResult(loss, logits, {"ce": float(ce.detach()), "kl": float(robust.detach()),
                                         "attack_kl": attack_kl})


@register_method
class WarmAdversarial(Adversarial):
    name = "adversarial-warm"
    summary = "adversarial with the attack warm-started from the previous batch and 3 steps (cheaper)"
    Config = WarmAdversarialConfig


@register_method
class FNAdversarial(Adversarial):
    name = "fn-adversarial"
    summary = "adversarial robustness term at clean theta, CE under forward noise eta (the paper's FN+beta)"
    Config = FNAdversarialConfig

    def loss(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> StepResult:
        cfg = self.config
        names = list(attacked_names(model, cfg.attack()))
        noisy_logits = functional_forward(model, relative_noise(params, names, cfg.eta, generator), x)
        ce = F.cross_entropy(noisy_logits, y)
        logits = functional_forward(model, params, x)
        attacked, attack_kl = self.attack(model, params, x, logits, generator)
        robust = divergence(functional_forward(model, attacked, x), logits, None, "kl")
        loss = ce + cfg.beta * robust
        return StepResult(loss, logits, {"ce_noisy": float(ce.detach()), "kl": float(robust.detach()),
                                         "attack_kl": attack_kl})
