"""``rwp``: random weight perturbation mixed with the clean loss (Li et al. 2022, "Efficient generalization
improvement guided by random weight perturbation").

``L = (1 - mix) CE(theta) + mix CE(theta + stopgrad(|theta| sigma N(0,1)))``. The perturbation is relative
(element-wise ``|theta|``), which matches multiplicative device mismatch. Two forward/backward passes per
step: about twice the cost of ``standard``, far cheaper than an attack.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...config import ConfigError
from .base import register_method
from .compose import Composed, CrossEntropy, RelativeNoise, Term


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
class RWP(Composed):
    """``(1 - mix) CE(theta) + mix CE(theta + sg(|theta| sigma N))``."""

    name = "rwp"
    summary = "clean cross-entropy mixed with cross-entropy under random relative weight perturbation"
    Config = RWPConfig

    def terms(self) -> list[Term]:
        cfg = self.config
        return [CrossEntropy("ce", at="anchor", weight=1 - cfg.mix),
                CrossEntropy("ce_perturbed", at="sample", perturb=RelativeNoise(cfg.sigma, cfg.families),
                             weight=cfg.mix)]
