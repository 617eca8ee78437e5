"""``asam``: adaptive sharpness-aware minimisation (Kwon et al. 2021, ICML).

With the normalisation operator ``T = |theta| + eta`` (element-wise), the ascent step is
``e = rho * T^2 g / ||T g||`` for the clean gradient ``g``, and the update applies the gradient of
``CE(theta + stopgrad(e))`` to ``theta``. Scaling by ``|theta|`` makes the neighbourhood relative, which is
what multiplicative device mismatch is. Two forward/backward passes per step. Defaults from the ASAM paper
(rho = 0.5, eta = 0.01).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...config import ConfigError
from .base import names_in_families, register_method
from .compose import Composed, CrossEntropy, Params, Perturbation, Step, Term


@dataclass(frozen=True)
class ASAMConfig:
    rho: float = 0.5
    eta: float = 0.01
    families: tuple[str, ...] = ("weights", "biases")

    def __post_init__(self) -> None:
        if not self.rho > 0:
            raise ConfigError(f"method.asam.rho must be > 0, got {self.rho!r}")
        if not self.eta >= 0:
            raise ConfigError(f"method.asam.eta must be >= 0, got {self.eta!r}")


class ASAMAscent(Perturbation):
    """``theta + sg(rho T^2 g / ||T g||)``, ``T = |theta| + eta``, ``g`` the clean CE gradient. The clean
    forward pass is the anchor's: its logits count for train accuracy, its CE is the metric ``ce``."""

    def __init__(self, config: ASAMConfig) -> None:
        self.config = config

    def apply(self, step: Step, params: Params) -> Params:
        cfg = self.config
        names = names_in_families(step.model, cfg.families)
        leaves = {k: v.detach().requires_grad_(k in names) for k, v in params.items()}
        with torch.enable_grad():
            clean_logits = step.forward(leaves)
            clean = F.cross_entropy(clean_logits, step.y)
            grads = dict(zip(names, torch.autograd.grad(clean, [leaves[k] for k in names])))
        step.report_anchor(clean_logits.detach())
        step.metrics["ce"] = float(clean.detach())
        scale = {k: params[k].detach().abs() + cfg.eta for k in names}
        norm = torch.sqrt(sum(((scale[k] * grads[k]) ** 2).sum() for k in names)) + 1e-12
        shifted = dict(params)
        for k in names:
            shifted[k] = params[k] + (cfg.rho * scale[k] ** 2 * grads[k] / norm).detach()
        return shifted


@register_method
class ASAM(Composed):
    """``CE(ascent(theta))``."""

    name = "asam"
    summary = "adaptive sharpness-aware minimisation with |theta|-scaled (relative) neighbourhood"
    Config = ASAMConfig

    def terms(self) -> list[Term]:
        return [CrossEntropy("ce_ascent", at="anchor", perturb=ASAMAscent(self.config))]
