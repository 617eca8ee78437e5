"""``standard``: plain cross-entropy at the nominal parameters (the paper's beta = 0 baseline)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...core.parameters import functional_forward
from .base import Method, StepResult, register_method


@register_method
class Standard(Method):
    name = "standard"
    summary = "cross-entropy at the nominal parameters (no robustness term)"

    def loss(
        self,
        model: nn.Module,
        params: dict[str, torch.Tensor],
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator,
    ) -> StepResult:
        logits = functional_forward(model, params, x)
        ce = F.cross_entropy(logits, y)
        return StepResult(ce, logits, {"ce": float(ce.detach())})
