"""Adversarial parameter attack: projected gradient ascent on a model's *parameters* in a relative box.

Büchel, Faber & Muir (ICLR 2022), as digested in ``shared/reference/paper.md``. For every attacked parameter
``theta`` (physical units) the attacked value is ``theta* = theta + |theta| * c`` with a relative coefficient
``c`` (same shape as ``theta``):

1. start: ``c_0 = eps_init * R``, ``R ~ N(0, 1)``;
2. ``steps`` times: ``c <- clip(c + (eps / steps) * sign(dL/dtheta*), -eps, eps)``, i.e. signed-gradient steps
   of size ``eps * |theta| / steps`` projected onto the box ``|theta* - theta| <= eps * |theta|``;
3. the loss ``L`` is a divergence between the nominal output (a fixed target: only ``theta*`` is
   differentiated inside the attack) and ``f(X, theta*)``: ``kl`` (KL of the softmaxes, the training attack) or
   ``ce`` (cross-entropy against the labels, the paper's evaluation attack).

Working in relative coefficients makes the result differentiable the way the paper requires:
:func:`perturb` builds ``theta* = theta + |theta| * c`` *from* ``theta`` in the autograd graph, so its Jacobian
is ``1 + sign(theta) * c = 1 + sign(theta) * (eps_init R + eps/N sum_t sign g_t)`` (within the box), with no
stop-gradient. The attack runs on any module through :func:`~robust_snn.core.parameters.functional_forward`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from .config import ConfigError, build_dataclass
from .core.evaluation import evaluate, iterate_batches
from .core.parameters import FAMILIES, functional_forward, parameter_families, physical_parameters
from .runtime.accelerator import module_device, place
from .seeding import generator

DIVERGENCES = ("kl", "ce")
GradFn = Callable[[dict[str, torch.Tensor]], tuple[float, dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class AttackConfig:
    """Attack settings. ``eps`` is the relative box size; ``family_eps`` overrides it per family (a device
    profile may attack taus and thresholds at their own scales); only ``families`` are attacked."""

    eps: float = 0.1
    steps: int = 10
    eps_init: float = 1e-3
    divergence: str = "kl"
    families: tuple[str, ...] = ("weights", "biases")
    family_eps: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in {"eps": self.eps, **{f"family_eps.{k}": v for k, v in self.family_eps.items()}}.items():
            if not (isinstance(value, (int, float)) and 0 <= value < 1 and math.isfinite(value)):
                raise ConfigError(f"attack.{name} must be a relative size in [0, 1), got {value!r}")
        if self.steps < 1:
            raise ConfigError(f"attack.steps must be >= 1, got {self.steps!r}")
        if not 0 <= self.eps_init < 1:
            raise ConfigError(f"attack.eps_init must be in [0, 1), got {self.eps_init!r}")
        if self.divergence not in DIVERGENCES:
            raise ConfigError(f"attack.divergence must be one of {', '.join(DIVERGENCES)}, got {self.divergence!r}")
        unknown = [f for f in (*self.families, *self.family_eps) if f not in FAMILIES]
        if unknown:
            raise ConfigError(f"attack has unknown families {unknown}; known: {', '.join(FAMILIES)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "attack") -> "AttackConfig":
        return build_dataclass(cls, data, where)

    def eps_for(self, family: str) -> float:
        return float(self.family_eps.get(family, self.eps))


@dataclass
class AttackResult:
    """Relative coefficients ``c`` per attacked parameter and the attack loss after each step."""

    coefficients: dict[str, torch.Tensor]
    losses: list[float]


def attacked_names(model: nn.Module, config: AttackConfig) -> dict[str, float]:
    """``{parameter name: eps}`` of every parameter the attack perturbs (nonzero eps only)."""
    families = parameter_families(model)
    targets = {n: config.eps_for(f) for n, f in families.items() if f in config.families}
    return {n: e for n, e in targets.items() if e > 0}


def perturb(params: Mapping[str, torch.Tensor], coefficients: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``theta + |theta| * c`` for the names in ``coefficients``; other entries pass through unchanged.

    Built from ``params`` in the autograd graph (no stop-gradient): gradients reach ``theta`` through both
    terms, with the diagonal Jacobian ``1 + sign(theta) * c``.
    """
    out = dict(params)
    for name, c in coefficients.items():
        theta = params[name]
        out[name] = theta + theta.abs() * c
    return out


def pga_attack(
    grad_fn: GradFn,
    params: Mapping[str, torch.Tensor],
    eps: Mapping[str, float],
    steps: int,
    eps_init: float,
    generator: torch.Generator | None = None,
    start: Mapping[str, torch.Tensor] | None = None,
) -> AttackResult:
    """Projected signed-gradient ascent in relative coordinates (see module docstring).

    ``grad_fn(attacked_params) -> (loss, {name: dL/dtheta*})`` evaluates the divergence at the attacked
    parameters (a full dict) and its gradient for the attacked names. ``start`` warm-starts the coefficients
    (e.g. from the previous batch) instead of the random start.
    """
    base = {k: v.detach() for k, v in params.items()}
    coeffs: dict[str, torch.Tensor] = {}
    for name, e in eps.items():
        if start is not None and name in start:
            coeffs[name] = start[name].detach().clamp(-e, e)
        else:
            noise = torch.randn(base[name].shape, generator=generator, dtype=base[name].dtype)
            coeffs[name] = (eps_init * noise).to(base[name].device).clamp(-e, e)
    losses: list[float] = []
    for _ in range(steps):
        loss, grads = grad_fn(perturb(base, coeffs))
        losses.append(float(loss))
        for name, e in eps.items():
            coeffs[name] = (coeffs[name] + (e / steps) * torch.sign(grads[name])).clamp_(-e, e)
    return AttackResult(coeffs, losses)


def divergence(logits: torch.Tensor, target_logits: torch.Tensor | None, labels: torch.Tensor | None,
               kind: str, reduction: str = "mean") -> torch.Tensor:
    """``kl``: KL(softmax(target) || softmax(logits)) (batch mean); ``ce``: cross-entropy against ``labels``."""
    if kind == "ce":
        return F.cross_entropy(logits, labels, reduction=reduction)
    log_p = F.log_softmax(target_logits, dim=-1)
    log_q = F.log_softmax(logits, dim=-1)
    per_sample = (log_p.exp() * (log_p - log_q)).sum(-1)
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


def batch_grad_fn(model: nn.Module, x: torch.Tensor, kind: str, target_logits: torch.Tensor | None = None,
                  labels: torch.Tensor | None = None, names: list[str] | None = None) -> GradFn:
    """Gradient oracle on one batch: the divergence at ``theta*`` w.r.t. the attacked parameters."""
    target = target_logits.detach() if target_logits is not None else None

    def grad_fn(attacked: dict[str, torch.Tensor]) -> tuple[float, dict[str, torch.Tensor]]:
        wrt = list(names or attacked)
        leaves = {k: v.detach().requires_grad_(k in wrt) for k, v in attacked.items()}
        with torch.enable_grad():
            loss = divergence(functional_forward(model, leaves, x), target, labels, kind)
            grads = torch.autograd.grad(loss, [leaves[k] for k in wrt])
        return float(loss.detach()), dict(zip(wrt, grads))

    return grad_fn


def dataset_grad_fn(model: nn.Module, data: Dataset, kind: str, names: list[str], batch_size: int = 256,
                    params: Mapping[str, torch.Tensor] | None = None) -> GradFn:
    """Gradient oracle over a whole data set (one attacked chip for all samples), accumulated batch by batch.

    The nominal logits (KL target) are computed once, up front, at ``params`` (default: the model's own).
    """
    batches = list(iterate_batches(data, batch_size, device=module_device(model)))
    source = params if params is not None else physical_parameters(model)
    nominal = {k: v.detach() for k, v in source.items()}
    with torch.no_grad():
        targets = [functional_forward(model, nominal, x) for x, _ in batches]
    n = sum(len(y) for _, y in batches)

    def grad_fn(attacked: dict[str, torch.Tensor]) -> tuple[float, dict[str, torch.Tensor]]:
        total, grads = 0.0, {k: torch.zeros_like(attacked[k]) for k in names}
        for (x, y), target in zip(batches, targets):
            leaves = {k: v.detach().requires_grad_(k in names) for k, v in attacked.items()}
            with torch.enable_grad():
                loss = divergence(functional_forward(model, leaves, x), target, y, kind, reduction="sum") / n
                for k, g in zip(names, torch.autograd.grad(loss, [leaves[k] for k in names])):
                    grads[k] += g
            total += float(loss.detach())
        return total, grads

    return grad_fn


def accuracy_at(model: nn.Module, params: Mapping[str, torch.Tensor], data: Dataset, batch_size: int = 256) -> float:
    """Accuracy of ``model`` evaluated with the parameter dict ``params`` on ``data``."""
    return evaluate(model, data, batch_size, params=params).accuracy


def evaluate_attack(
    model: nn.Module,
    data: Dataset,
    config: AttackConfig = AttackConfig(divergence="ce"),
    repeats: int = 5,
    seed: int = 0,
    batch_size: int = 256,
    params: Mapping[str, torch.Tensor] | None = None,
    *,
    accelerator: str | torch.device | None = None,
) -> dict[str, Any]:
    """Worst-case accuracy under the attack (one attacked parameter set for the whole data set, the minimum
    over ``repeats`` random starts, as in the paper's protocol), next to random perturbations of the same
    relative size: ``theta * (1 + eps * s)`` with random signs ``s`` (a random corner of the same box).

    Returns the attack JSON of ``shared/CLI.md``: ``eps``, ``steps``, ``nominal_accuracy``,
    ``attacked_accuracy``, ``random_accuracy`` and per-repeat details. ``params`` attacks around another
    parameter set than the model's own (e.g. the values a device programs after quantisation).
    ``accelerator``: run on a moved copy of the model (``None``: where the model is); the attack's random
    starts and the random directions are drawn on the CPU from the seed, the same on every accelerator.
    """
    if repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {repeats!r}")
    model = place(model, accelerator, in_place=False)
    device = module_device(model)
    was_training = model.training
    model.eval()
    params = {k: v.detach().to(device)
              for k, v in (params if params is not None else physical_parameters(model)).items()}
    eps = attacked_names(model, config)
    if not eps:
        raise ConfigError(f"the model has no parameters in the attacked families {list(config.families)}")
    grad_fn = dataset_grad_fn(model, data, config.divergence, list(eps), batch_size, params)
    attacked, random, losses = [], [], []
    for r in range(repeats):
        gen = generator("attack", int(seed), r)  # robust_snn.seeding
        result = pga_attack(grad_fn, params, eps, config.steps, config.eps_init, gen)
        attacked.append(accuracy_at(model, perturb(params, result.coefficients), data, batch_size))
        losses.append(result.losses)
        signs = {k: e * torch.sign(torch.randn(params[k].shape, generator=gen)).to(device) for k, e in eps.items()}
        random.append(accuracy_at(model, perturb(params, signs), data, batch_size))
    model.train(was_training)
    return {
        "eps": config.eps,
        "steps": config.steps,
        "families": list(config.families),
        "divergence": config.divergence,
        "repeats": repeats,
        "seed": seed,
        "n_samples": len(data),  # type: ignore[arg-type]
        "nominal_accuracy": accuracy_at(model, params, data, batch_size),
        "attacked_accuracy": min(attacked),
        "attacked_accuracy_per_repeat": attacked,
        "random_accuracy": sum(random) / len(random),
        "random_accuracy_per_repeat": random,
        "attack_losses": losses[attacked.index(min(attacked))],
    }
