"""``standard``: plain cross-entropy at the nominal parameters (the paper's beta = 0 baseline).

With ``device = PROFILE`` it is device-aware noise training, the analogue of IBM aihwkit's hardware-aware
training: ``CE(f(X, theta~))`` with ``theta~`` a fresh chip of the profile every batch (programming with a
straight-through gradient, then every mismatch, drift and read-noise stage of the profile; see
:mod:`robust_snn.training.device_aware`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import register_method
from .compose import Composed, CrossEntropy, Term


@dataclass(frozen=True)
class StandardConfig:
    device: str = ""  # a device profile (name or TOML path): train on a fresh chip of it every batch


@register_method
class Standard(Composed):
    """``CE(sample)``: the sample is ``theta``, or with a device the batch's chip."""

    name = "standard"
    summary = "cross-entropy at the nominal parameters (no robustness term)"
    device_summary = "CE on a fresh chip of the profile every batch (hardware-aware training)"
    Config = StandardConfig

    def terms(self) -> list[Term]:
        return [CrossEntropy("ce", at="sample")]
