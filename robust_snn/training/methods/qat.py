"""``qat``: quantisation-aware (fine-)tuning for a target device, with the straight-through estimator.

The forward pass runs with the values a chip of the device is *programmed* with -- its deterministic stages:
integer weights, shared weight levels, bit-shift decays, conductance mapping -- ``theta_q = P(theta)``, while
the gradient passes straight through to the float parameters: ``theta + stopgrad(P(theta) - theta)``. So the
network that is exported and scored (the programmed one) is the one that was trained. Typical use:
fine-tune a trained model for a few epochs, ``robust-snn train --init model.rsnn --method qat`` with
``[method] device = "xylo-audio2"`` in the config.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ConfigError
from ...core.parameters import functional_forward, parameter_families
from .base import Method, StepResult, register_method


@dataclass(frozen=True)
class QATConfig:
    device: str = "xylo-audio2"

    def __post_init__(self) -> None:
        if not self.device:
            raise ConfigError("method.qat.device must name a device profile or a profile TOML file")


@register_method
class QAT(Method):
    name = "qat"
    summary = "quantisation-aware training: forward at the device's programmed values, straight-through gradient"
    device_summary = "the forward uses the profile's programmed values only (no mismatch; default xylo-audio2)"
    Config = QATConfig

    def __init__(self, config: QATConfig | None = None) -> None:
        super().__init__(config)
        from ...devices import load_profile

        self._model = load_profile(self.config.device).mismatch_model()

    def programmed(self, model: nn.Module, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``theta + stopgrad(P(theta) - theta)``: programmed values forward, identity backward."""
        from ...devices import model_dt

        detached = {k: v.detach() for k, v in params.items()}
        quantised = self._model.program(detached, parameter_families(model), dt=model_dt(model)).materialise()
        return {k: v + (quantised[k].to(v.dtype) - v).detach() for k, v in params.items()}

    def loss(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator) -> StepResult:
        logits = functional_forward(model, self.programmed(model, params), x)
        ce = F.cross_entropy(logits, y)
        return StepResult(ce, logits, {"ce_programmed": float(ce.detach())})
