"""The method interface: one object, one job, explicit state (optax's ``init`` / ``update``).

A method turns one batch into the loss to minimise and the metrics to log. Whatever it carries from one batch
to the next (the warm-started attack's coefficients, the device attack's scales) is *state*: created by
:meth:`Method.init`, passed in and returned by :meth:`Method.update`, saved in the training checkpoint by the
trainer. The method object itself holds only its frozen configuration, so two runs never share anything
through it and a resumed run continues exactly.

The built-in methods are compositions (:mod:`~robust_snn.training.methods.compose`): a *sampler* that says
where the parameters sit (nominal, or programmed and fabricated on a device) and a sum of *terms*, each an
objective evaluated at a *perturbation* of those parameters. Adding a method is one small file: a frozen
``Config`` dataclass of hyperparameters, a :class:`~robust_snn.training.methods.compose.Composed` subclass
listing its terms, and :func:`register_method`. A method that composes nothing may subclass :class:`Method`
directly and write :meth:`Method.update` by hand.
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

#: A method's state: per named part, a flat dict of tensors (what the checkpoint stores, ``method.<part>.<key>``).
MethodState = dict[str, dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Batch:
    """One training batch and where it sits in the run.

    ``x`` ``(batch, time, channels)``, ``y`` ``(batch,)``; ``generator`` draws the method's noise and random
    attack starts; ``seed`` (the training seed), ``epoch`` and ``step`` (0-based) name the batch, from which a
    device-aware method derives its chip (the same chip on a resumed run, whatever the batch size).
    """

    x: torch.Tensor
    y: torch.Tensor
    generator: torch.Generator
    seed: int = 0
    epoch: int = 0
    step: int = 0


@dataclass
class StepResult:
    """What a method returns for one batch: the loss, the logits train accuracy is counted on (the nominal
    point's where the method computed them), scalar metrics to log (``fit`` records their epoch means as
    ``train_<name>``), and, for inspection, the parameter dicts the terms were evaluated at (``points``, e.g.
    ``attacked``) and the batch's chip (``draw``, device-aware methods)."""

    loss: torch.Tensor
    logits: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    points: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    draw: Any = None


@dataclass(frozen=True)
class NoConfig:
    """A method without hyperparameters."""


class Method(ABC):
    """Base class of training methods. Subclasses set ``name``, ``summary`` and ``Config``.

    A method whose ``Config`` has a ``device`` field accepts ``--device`` (``device_summary`` says what it
    changes, for ``robust-snn methods``).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    Config: ClassVar[type] = NoConfig
    device_summary: ClassVar[str] = ""

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()

    def init(self, model: nn.Module) -> MethodState:
        """The state before the first batch (empty for a method that carries nothing between batches)."""
        return {}

    @abstractmethod
    def update(self, model: nn.Module, params: dict[str, torch.Tensor], batch: Batch, state: MethodState
               ) -> tuple[StepResult, MethodState]:
        """Loss of ``batch`` at the physical parameters ``params`` (differentiable w.r.t. the model's leaves)
        and the state for the next batch. Must not change ``state`` in place."""

    def loss(self, model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             generator: torch.Generator, *, seed: int = 0, epoch: int = 0, step: int = 0) -> StepResult:
        """One batch from the initial state (``init`` then ``update``): the loss of a first step, for tests and
        benchmarks. Training threads the state through :meth:`update` instead."""
        batch = Batch(x, y, generator, seed, epoch, step)
        return self.update(model, params, batch, self.init(model))[0]

    def hyperparameters(self) -> dict[str, Any]:
        """The config as a dict; an empty ``device`` (no chip line) is left out, so runs without one describe
        themselves (and resume) as before device-aware training existed."""
        values = dataclasses.asdict(self.config)
        if values.get("device") == "":
            del values["device"]
        return values

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "hyperparameters": self.hyperparameters()}


#: Positive families keep at least this fraction of their value under training noise (as on the simulated chips).
NOISE_FLOOR = 0.01


def relative_noise(
    params: Mapping[str, torch.Tensor], names: list[str], sigma: float, generator: torch.Generator,
    families: Mapping[str, str] | None = None,
) -> dict[str, torch.Tensor]:
    """``theta + stopgrad(|theta| * sigma * N(0, 1))`` for ``names`` (fresh draws from ``generator``).

    A Gaussian factor can cross zero: where ``families`` names a positive family (time constants, thresholds,
    adaptation) the value is held at ``NOISE_FLOOR * theta`` or above, the device models' rule
    (:func:`~robust_snn.devices.variation.keep_physical`); a negative time constant would make the forward pass
    and its gradient NaN."""
    from ...devices.variation import keep_physical

    out = dict(params)
    for name in names:
        theta = params[name]
        noise = torch.randn(theta.shape, generator=generator, dtype=theta.dtype).to(theta.device)
        out[name] = theta + (theta.abs() * sigma * noise).detach()
        if families is not None:
            out[name] = keep_physical(families[name], theta, out[name], NOISE_FLOOR)
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
