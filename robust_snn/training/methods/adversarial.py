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

With ``device = PROFILE`` (:mod:`robust_snn.training.device_aware`) all three train for that chip line. The
nominal point is the programmed ``theta_p = theta + sg(P(theta) - theta)`` (straight-through), and the attack
acts, around ``theta_p``, on every family the profile varies, each in its own box ``eps_f`` = the profile's
relative scale for that family (the score card's estimate; ``eps`` and ``families`` are then not used), starting
from the batch's fresh chip instead of ``eps_init`` noise (``adversarial-warm``: from the previous batch's
point, the first batch of an epoch from its chip):
``L = CE(f(theta_p)) + beta KL(f(theta_p) || f(theta*))``. ``fn-adversarial``'s forward noise is the chip
itself, with ``eta`` relative noise on top as a margin: ``CE(f(theta~ + sg(|theta~| eta N)))`` with
``theta~`` the chip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...attack import AttackConfig, attacked_names, batch_grad_fn, divergence, perturb, pga_attack
from ...config import ConfigError
from ...core.parameters import functional_forward
from ..device_aware import ChipDraw, DeviceChips
from .base import Method, StepResult, register_method, relative_noise


@dataclass(frozen=True)
class AdversarialConfig:
    beta: float = 0.5
    eps: float = 0.1
    steps: int = 10
    eps_init: float = 1e-3
    families: tuple[str, ...] = ("weights", "biases")
    warm_start: bool = False
    device: str = ""  # a device profile (name or TOML path): train for a chip line (module docstring)

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
    device_summary = ("CE at the programmed values (straight-through); the attack starts at a fresh chip and "
                      "acts on every family the profile varies, each at the profile's own scale")
    Config = AdversarialConfig
    device_aware = True

    def __init__(self, config: AdversarialConfig | None = None) -> None:
        super().__init__(config)
        self._warm: dict[str, torch.Tensor] | None = None

    def start_epoch(self, epoch: int) -> None:
        self._warm = None

    def attack_config(self, model: nn.Module) -> AttackConfig:
        """The attack's families and boxes: the config's, or with a device the profile's own scales."""
        cfg = self.config
        if self.chips is None:
            return cfg.attack()
        scale = self.chips.attack_scales(model)
        return AttackConfig(eps=0.0, steps=cfg.steps, eps_init=cfg.eps_init, divergence="kl",
                            families=tuple(sorted(scale)), family_eps=scale)

    def attack(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor,
               nominal_logits: torch.Tensor, generator: torch.Generator, draw: ChipDraw | None = None
               ) -> tuple[dict[str, torch.Tensor], float]:
        """``theta*`` (in the graph of ``params``) and the attack's last KL. ``draw``: the batch's chip, the
        attack's start (device-aware training)."""
        cfg = self.config
        eps = attacked_names(model, self.attack_config(model))
        if not eps:  # a device that only quantises: nothing varies, nothing to attack
            return dict(params), 0.0
        grad_fn = batch_grad_fn(model, x, "kl", target_logits=nominal_logits, names=list(eps))
        start = self._warm if cfg.warm_start else None
        if start is None and draw is not None:
            start = DeviceChips.attack_start(draw, eps)
        result = pga_attack(grad_fn, params, eps, cfg.steps, cfg.eps_init, generator, start=start)
        if cfg.warm_start:
            self._warm = result.coefficients
        return perturb(params, result.coefficients), result.losses[-1]

    def nominal(self, model: nn.Module, params: dict[str, torch.Tensor]
                ) -> tuple[dict[str, torch.Tensor], ChipDraw | None]:
        """The point the robustness term is anchored at: ``params``, or with a device the programmed values
        (straight-through), with the batch's chip."""
        if self.chips is None:
            return params, None
        draw = self.chips.draw(model, params)
        return self.chips.programmed(params, draw), draw

    def loss(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> StepResult:
        params, draw = self.nominal(model, params)
        logits = functional_forward(model, params, x)
        ce = F.cross_entropy(logits, y)
        attacked, attack_kl = self.attack(model, params, x, logits, generator, draw)
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
    device_summary = ("CE on a fresh chip of the profile (eta: relative noise on top, a margin); robustness term "
                      "at the programmed values, attacked as in adversarial")
    Config = FNAdversarialConfig

    def loss(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> StepResult:
        cfg = self.config
        names = list(attacked_names(model, cfg.attack()))
        clean, draw = self.nominal(model, params)
        forward = params if draw is None else self.chips.chip(params, draw)
        noisy_logits = functional_forward(model, relative_noise(forward, names, cfg.eta, generator), x)
        ce = F.cross_entropy(noisy_logits, y)
        params = clean
        logits = functional_forward(model, params, x)
        attacked, attack_kl = self.attack(model, params, x, logits, generator, draw)
        robust = divergence(functional_forward(model, attacked, x), logits, None, "kl")
        loss = ce + cfg.beta * robust
        return StepResult(loss, logits, {"ce_noisy": float(ce.detach()), "kl": float(robust.detach()),
                                         "attack_kl": attack_kl})
