"""``noise``: forward parameter-noise injection (the paper's "forward noise" baseline).

The cross-entropy is evaluated at ``theta + stopgrad(|theta| * sigma * N(0, 1))``, freshly drawn every step,
and its gradient applied to ``theta``. Relative noise, as device mismatch is relative (absolute noise is
defeated by scaling the weights up).

With ``device = PROFILE`` the noise is added on top of a fresh chip of the profile every batch:
``CE(f(theta~ + stopgrad(|theta~| sigma N)))``, ``theta~`` the chip (:mod:`robust_snn.training.device_aware`);
``sigma`` is then a margin beyond the profile's own spread (``sigma = 0`` is ``standard`` with the device).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...config import ConfigError
from .base import register_method
from .compose import Composed, CrossEntropy, RelativeNoise, Term


@dataclass(frozen=True)
class NoiseConfig:
    sigma: float = 0.3  # paper: eta_train = 0.3
    families: tuple[str, ...] = ("weights", "biases")
    device: str = ""  # a device profile (name or TOML path): the noise goes on top of a fresh chip of it

    def __post_init__(self) -> None:
        if not 0 <= self.sigma < 10:
            raise ConfigError(f"method.noise.sigma must be in [0, 10), got {self.sigma!r}")


@register_method
class Noise(Composed):
    """``CE(sample + sg(|sample| sigma N))``."""

    name = "noise"
    summary = "cross-entropy under fresh relative parameter noise theta*(1+sigma*N) each step"
    device_summary = "the relative noise on top of a fresh chip of the profile every batch (sigma: a margin)"
    Config = NoiseConfig

    def terms(self) -> list[Term]:
        cfg = self.config
        return [CrossEntropy("ce", at="sample", perturb=RelativeNoise(cfg.sigma, cfg.families))]
