"""``adversarial`` (the paper's method), ``adversarial-warm`` (a cheaper attack schedule) and
``fn-adversarial`` ("FN+beta").

``L = CE(f(X, theta), y) + beta * KL(f(X, theta) || f(X, theta*))``, ``theta*`` from the projected attack of
:mod:`robust_snn.attack` on the KL divergence (relative box of size ``eps``, ``steps`` signed steps, random
start of relative size ``eps_init``). **No stop-gradient**: the nominal logits are not detached, and
``theta* = theta + |theta| c`` is built from ``theta`` in the graph, so the gradient flows through it with
the diagonal Jacobian ``1 + sign(theta) c``. Defaults: the paper's speech task (eps 0.1, 10 steps,
eps_init 1e-3, beta 0.5), attacking weights and biases.

``adversarial-warm`` starts each batch's attack from the previous batch's coefficients instead of a random
point and takes fewer steps (3 by default): ``steps + 2`` passes per step instead of 12. The coefficients are
the method's state (:class:`AttackKL`), carried across epochs and saved in the training checkpoint, so a
resumed run continues exactly.

As compositions (:mod:`~robust_snn.training.methods.compose`): ``adversarial = CE(anchor) + beta AttackKL``,
``fn-adversarial = CE(sample + forward noise) + beta AttackKL``.

``fn-adversarial`` evaluates the cross-entropy at ``theta + stopgrad(|theta| eta N(0,1))`` (fresh forward
noise, eta 0.3) and the robustness term at the clean ``theta``.

With ``device = PROFILE`` (:mod:`robust_snn.training.device_aware`) all three train for that chip line. The
nominal point is the programmed ``theta_p = theta + sg(P(theta) - theta)`` (straight-through), and the attack
acts, around ``theta_p``, on every family the profile varies, each in its own box ``eps_f`` = the profile's
relative scale for that family (the score card's estimate; ``eps`` and ``families`` are then not used), starting
from the batch's fresh chip instead of ``eps_init`` noise (``adversarial-warm``: from the previous batch's
point, the first batch of the run from its chip):
``L = CE(f(theta_p)) + beta KL(f(theta_p) || f(theta*))``. ``fn-adversarial``'s forward noise is the chip
itself, with ``eta`` relative noise on top as a margin: ``CE(f(theta~ + sg(|theta~| eta N)))`` with
``theta~`` the chip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...attack import AttackConfig, attacked_names, batch_grad_fn, divergence, perturb, pga_attack
from ...config import ConfigError
from ..device_aware import DeviceChips
from .base import register_method
from .compose import Composed, CrossEntropy, RelativeNoise, Step, Term


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


class AttackKL(Term):
    """``beta * KL(f(X, anchor) || f(X, theta*))``, ``theta*`` the projected KL attack around the anchor.

    State (``init`` / the returned dict, all tensors, saved in the checkpoint):

    - ``start.<parameter>``: the last attack's relative coefficients, the next attack's start (warm start);
    - ``scale.<family>`` and ``scale_at`` (``[seed, epoch]``): with a device, the profile's attack scales,
      estimated from the model at the first batch of every epoch.

    Metrics: ``kl`` (the term's divergence) and ``attack_kl`` (the attack's last divergence). The attacked
    parameters are reported as the point ``attacked``.
    """

    key = "kl"

    def __init__(self, beta: float, attack: AttackConfig, warm_start: bool) -> None:
        self.weight, self.attack, self.warm_start = beta, attack, warm_start

    def boxes(self, step: Step, state: dict[str, torch.Tensor]) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        """``{parameter: eps}`` of this batch's attack, and the state's scale entries (device: per epoch)."""
        b = step.batch
        at = torch.tensor([b.seed, b.epoch], dtype=torch.int64)
        scales = {k: v for k, v in state.items() if k == "scale_at" or k.startswith("scale.")}
        if not (scales and scales["scale_at"].tolist() == at.tolist()):  # (a resumed state may sit on a GPU)
            found = step.sampler.attack_scales(step.model, b.seed)
            if found is None:  # no device: the configured families and box
                return attacked_names(step.model, self.attack), {}
            scales = {"scale_at": at, **{f"scale.{f}": torch.tensor(e, dtype=torch.float64) for f, e in found.items()}}
        family_eps = {k[len("scale."):]: float(v) for k, v in scales.items() if k.startswith("scale.")}
        config = AttackConfig(eps=0.0, steps=self.attack.steps, eps_init=self.attack.eps_init, divergence="kl",
                              families=tuple(sorted(family_eps)), family_eps=family_eps)
        return attacked_names(step.model, config), scales

    def __call__(self, step: Step, state: dict[str, torch.Tensor]
                 ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        anchor, logits = step.point("anchor"), step.anchor_logits()
        eps, new = self.boxes(step, state)
        attack_kl = 0.0
        if eps:
            grad_fn = batch_grad_fn(step.model, step.x, "kl", target_logits=logits, names=list(eps))
            start = None
            if self.warm_start and any(k.startswith("start.") for k in state):
                start = {k[len("start."):]: v for k, v in state.items() if k.startswith("start.")}
            draw = step.chip()
            if start is None and draw is not None:
                start = DeviceChips.attack_start(draw, eps)
            result = pga_attack(grad_fn, anchor, eps, self.attack.steps, self.attack.eps_init, step.generator,
                                start=start)
            if self.warm_start:
                new.update({f"start.{k}": c for k, c in result.coefficients.items()})
            attacked, attack_kl = perturb(anchor, result.coefficients), result.losses[-1]
        else:  # a device that only quantises: nothing varies, nothing to attack
            attacked = dict(anchor)
        robust = divergence(step.forward(attacked), logits, None, "kl")
        step.points["attacked"] = attacked
        step.metrics.update({self.key: float(robust.detach()), "attack_kl": attack_kl})
        return robust, logits, new


@register_method
class Adversarial(Composed):
    name = "adversarial"
    summary = "CE + beta * KL(f(theta) || f(theta*)), theta* a projected parameter attack (Buchel et al. 2022)"
    device_summary = ("CE at the programmed values (straight-through); the attack starts at a fresh chip and "
                      "acts on every family the profile varies, each at the profile's own scale")
    Config = AdversarialConfig

    def attack_term(self) -> AttackKL:
        cfg = self.config
        return AttackKL(cfg.beta, cfg.attack(), cfg.warm_start)

    def terms(self) -> list[Term]:
        return [CrossEntropy("ce", at="anchor"), self.attack_term()]


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

    def terms(self) -> list[Term]:
        cfg = self.config

        def noisy(model: nn.Module) -> list[str]:  # the attacked families, as configured
            return list(attacked_names(model, cfg.attack()))

        return [CrossEntropy("ce_noisy", at="sample", perturb=RelativeNoise(cfg.eta, names=noisy)),
                self.attack_term()]
