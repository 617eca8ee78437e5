"""``standard``: plain cross-entropy at the nominal parameters (the paper's beta = 0 baseline).

With ``device = PROFILE`` it is device-aware noise training, the analogue of IBM aihwkit's hardware-aware
training: ``CE(f(X, theta~))`` with ``theta~`` a fresh chip of the profile every batch (programming with a
straight-through gradient, then every mismatch, drift and read-noise stage of the profile; see
:mod:`robust_snn.training.device_aware`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...core.parameters import functional_forward
from .base import Method, StepResult, register_method


@dataclass(frozen=True)
class StandardConfig:
    device: str = ""  # a device profile (name or TOML path): train on a fresh chip of it every batch


@register_method
class Standard(Method):
    name = "standard"
    summary = "cross-entropy at the nominal parameters (no robustness term)"
    device_summary = "CE on a fresh chip of the profile every batch (hardware-aware training)"
    Config = StandardConfig
    device_aware = True

    def loss(
        self,
        model: nn.Module,
        params: dict[str, torch.Tensor],
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator,
    ) -> StepResult:
        if self.chips is not None:
            params = self.chips.chip(params, self.chips.draw(model, params))
        logits = functional_forward(model, params, x)
        ce = F.cross_entropy(logits, y)
        return StepResult(ce, logits, {"ce": float(ce.detach())})
