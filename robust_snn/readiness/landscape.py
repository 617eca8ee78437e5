"""Weight-loss landscape: how fast the loss rises along random relative directions in parameter space.

The paper's flatness measure (Table S1): draw ``v ~ N(0, (scale |theta|)^2)`` (``scale`` 0.2), evaluate the
test cross-entropy at ``theta + alpha v`` for ``alpha`` in ``[-2, 2]``, and report the mean slope
``|dL / d alpha|``. A flat minimum (small slope) is one that relative device mismatch cannot climb out of
quickly. Directions are relative (``|theta|``-scaled), like mismatch, so scaling weights up does not fake
flatness. A 2-D slice over two such directions is provided for plots.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from ..core.evaluation import evaluate
from ..core.parameters import names_in_families, physical_parameters


@dataclass(frozen=True)
class Landscape1D:
    alphas: list[float]
    losses: list[list[float]]  # one curve per direction
    mean_slope: float          # mean over directions and intervals of |dL / d alpha|


def _direction(params: dict[str, torch.Tensor], names: list[str], scale: float, gen: torch.Generator) -> dict[str, torch.Tensor]:
    # Drawn on the CPU generator, then moved: the same directions on every accelerator.
    return {k: scale * params[k].abs() * torch.randn(params[k].shape, generator=gen).to(params[k].device)
            for k in names}


def _shifted(params: dict[str, torch.Tensor], *terms: tuple[float, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    out = dict(params)
    for coefficient, direction in terms:
        for k, v in direction.items():
            out[k] = out[k] + coefficient * v
    return out


def landscape_1d(
    model: nn.Module,
    data: Dataset,
    alphas: list[float] | None = None,
    directions: int = 5,
    scale: float = 0.2,
    families: tuple[str, ...] = ("weights", "biases"),
    seed: int = 0,
    batch_size: int = 256,
) -> Landscape1D:
    """Loss along ``directions`` random relative directions; ``alphas`` default to 21 points in [-2, 2]."""
    alphas = alphas if alphas is not None else [-2 + 0.2 * i for i in range(21)]
    if len(alphas) < 2:
        raise ValueError("need at least two alphas")
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    names = names_in_families(model, families)
    gen = torch.Generator().manual_seed(seed)
    curves, slopes = [], []
    for _ in range(directions):
        v = _direction(params, names, scale, gen)
        curve = [evaluate(model, data, batch_size, params=_shifted(params, (a, v))).loss for a in alphas]
        curves.append(curve)
        slopes += [abs(curve[i + 1] - curve[i]) / abs(alphas[i + 1] - alphas[i]) for i in range(len(alphas) - 1)]
    return Landscape1D(list(alphas), curves, sum(slopes) / len(slopes))


def landscape_2d(
    model: nn.Module,
    data: Dataset,
    alphas: list[float] | None = None,
    scale: float = 0.2,
    families: tuple[str, ...] = ("weights", "biases"),
    seed: int = 0,
    batch_size: int = 256,
) -> tuple[list[float], list[list[float]]]:
    """Loss on the grid ``theta + a u + b v`` over two random relative directions: ``(alphas, losses[a][b])``."""
    alphas = alphas if alphas is not None else [-2 + 0.5 * i for i in range(9)]
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    names = names_in_families(model, families)
    gen = torch.Generator().manual_seed(seed)
    u, v = _direction(params, names, scale, gen), _direction(params, names, scale, gen)
    grid = [[evaluate(model, data, batch_size, params=_shifted(params, (a, u), (b, v))).loss for b in alphas]
            for a in alphas]
    return list(alphas), grid
