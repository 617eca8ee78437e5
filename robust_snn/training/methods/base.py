"""The method interface: one object, one job.

Given a model, its physical parameter dict (:func:`~robust_snn.core.parameters.physical_parameters`,
differentiable w.r.t. the trainable leaves), a batch and a random generator, a method returns the loss to
minimise and metrics to log. The trainer composes methods; it never special-cases one. Adding a method is
one small file: subclass :class:`Method`, give it a frozen ``Config`` dataclass of hyperparameters, and
decorate it with :func:`register_method`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from ...config import ConfigError, build_dataclass
from ...core.parameters import names_in_families  # re-exported for the methods


@dataclass
class StepResult:
    """What a method returns for one batch: the loss, the nominal logits, and scalar metrics to log."""

    loss: torch.Tensor
    logits: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class NoConfig:
    """A method without hyperparameters."""


class Method(ABC):
    """Base class of training methods. Subclasses set ``name``, ``summary`` and ``Config``.

    A method whose ``Config`` has a ``device`` field accepts ``--device``. With ``device_aware = True`` a
    non-empty ``device`` (a profile name or TOML path) gives it ``self.chips``, a
    :class:`~robust_snn.training.device_aware.DeviceChips` that draws a fresh chip of that profile for every
    batch; the method decides where the chip enters its loss.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    Config: ClassVar[type] = NoConfig
    device_aware: ClassVar[bool] = False
    device_summary: ClassVar[str] = ""  # what ``device`` changes, for ``robust-snn methods``

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()
        self.chips = None
        profile = getattr(self.config, "device", "") if self.device_aware else ""
        if profile:
            from ..device_aware import DeviceChips

            self.chips = DeviceChips(profile)

    @abstractmethod
    def loss(
        self,
        model: nn.Module,
        params: dict[str, torch.Tensor],
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator,
    ) -> StepResult:
        """Loss for the batch ``x`` ``(batch, time, channels)``, labels ``y`` ``(batch,)``."""

    def start_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch (0-based). Methods with state across batches reset it
        here, so that a run resumed at an epoch boundary replays exactly."""

    def start_batch(self, seed: int, epoch: int, step: int) -> None:
        """Called by the trainer before each batch: the training seed, the epoch and the step within it
        (0-based). Device-aware methods derive the batch's chip from them (resumable, batch-size free)."""
        if self.chips is not None:
            self.chips.start_batch(seed, epoch, step)

    def hyperparameters(self) -> dict[str, Any]:
        """The config as a dict; an empty ``device`` (no chip line) is left out, so runs without one describe
        themselves (and resume) as before device-aware training existed."""
        values = dataclasses.asdict(self.config)
        if values.get("device") == "":
            del values["device"]
        return values

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "hyperparameters": self.hyperparameters()}


def relative_noise(
    params: Mapping[str, torch.Tensor], names: list[str], sigma: float, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """``theta + stopgrad(|theta| * sigma * N(0, 1))`` for ``names`` (fresh draws from ``generator``)."""
    out = dict(params)
    for name in names:
        theta = params[name]
        noise = torch.randn(theta.shape, generator=generator, dtype=theta.dtype).to(theta.device)
        out[name] = theta + (theta.abs() * sigma * noise).detach()
    return out


METHODS: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: make a method selectable by name (CLI, TOML, API)."""
    if cls.name in METHODS:
        raise ValueError(f"method {cls.name!r} registered twice")
    METHODS[cls.name] = cls
    return cls


def make_method(name: str, hyperparameters: Mapping[str, Any] | None = None) -> Method:
    """Instantiate the method ``name`` with validated hyperparameters (errors name the field)."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}")
    cls = METHODS[name]
    hyperparameters = dict(hyperparameters or {})
    if hyperparameters.get("device") and name not in device_methods():
        raise ConfigError(f"method {name!r} cannot train for a device (--device); the methods that can: "
                          f"{', '.join(device_methods())}")
    config = build_dataclass(cls.Config, hyperparameters, f"method.{name}")
    return cls(config)


def device_methods() -> list[str]:
    """Names of the methods that take a ``device`` (``robust-snn train --device PROFILE``), sorted."""
    return sorted(name for name, cls in METHODS.items()
                  if dataclasses.is_dataclass(cls.Config)
                  and "device" in {f.name for f in dataclasses.fields(cls.Config)})
