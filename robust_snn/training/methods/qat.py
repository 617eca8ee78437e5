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

from ...config import ConfigError
from .base import register_method
from .compose import Composed, CrossEntropy, ProgrammingSampler, Sampler, Term


@dataclass(frozen=True)
class QATConfig:
    device: str = "xylo-audio2"

    def __post_init__(self) -> None:
        if not self.device:
            raise ConfigError("method.qat.device must name a device profile or a profile TOML file")


@register_method
class QAT(Composed):
    """``CE(theta + sg(P(theta) - theta))``: the programming sampler and a plain cross-entropy."""

    name = "qat"
    summary = "quantisation-aware training: forward at the device's programmed values, straight-through gradient"
    device_summary = "the forward uses the profile's programmed values only (no mismatch; default xylo-audio2)"
    Config = QATConfig

    def sampler(self) -> Sampler:
        return ProgrammingSampler(self.config.device)

    def terms(self) -> list[Term]:
        return [CrossEntropy("ce_programmed", at="anchor")]
