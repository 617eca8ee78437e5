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

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ConfigError
from ...core.parameters import functional_forward
from .base import Method, StepResult, names_in_families, register_method, relative_noise


@dataclass(frozen=True)
class NoiseConfig:
    sigma: float = 0.3  # paper: eta_train = 0.3
    families: tuple[str, ...] = ("weights", "biases")
    device: str = ""  # a device profile (name or TOML path): the noise goes on top of a fresh chip of it

    def __post_init__(self) -> None:
        if not 0 <= self.sigma < 10:
            raise ConfigError(f"method.noise.sigma must be in [0, 10), got {self.sigma!r}")


@register_method
class Noise(Method):
    name = "noise"
    summary = "cross-entropy under fresh relative parameter noise theta*(1+sigma*N) each step"
    device_summary = "the relative noise on top of a fresh chip of the profile every batch (sigma: a margin)"
    Config = NoiseConfig
    device_aware = True

    def loss(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> StepResult:
        if self.chips is not None:
            params = self.chips.chip(params, self.chips.draw(model, params))
        noisy = relative_noise(params, names_in_families(model, self.config.families), self.config.sigma, generator)
        logits = functional_forward(model, noisy, x)
        ce = F.cross_entropy(logits, y)
        return StepResult(ce, logits, {"ce": float(ce.detach())})
