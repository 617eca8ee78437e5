"""``dropout``: dropout on hidden spiking units, p = 0.3 by default (the paper's dropout baseline).

Each hidden unit of each sample is silenced with probability ``p`` for the whole sequence (one mask per
sample and unit, held over time, drawn fresh each batch), and the survivors are scaled by ``1 / (1 - p)``
so that the expected input to the next layer is unchanged (the paper's code omits this rescaling).
Applied to the outputs of every spiking layer: ours (:class:`~robust_snn.core.lif.LIFLayer`), Rockpool's
``LIFTorch`` and snntorch neurons (whose first output is the spike train).
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from ...config import ConfigError
from ...core.lif import LIFLayer
from .base import register_method
from .compose import Composed, CrossEntropy, Params, Perturbation, Step, Term


def spiking_layers(model: nn.Module) -> list[nn.Module]:
    """Hidden spiking layers of any supported module type (ours, Rockpool, snntorch).

    Foreign layer types are looked up only when their library is already imported (a model holding one has
    imported it): importing Rockpool just to find none costs seconds per process.
    """
    kinds: list[type] = [LIFLayer]
    if "rockpool" in sys.modules:
        with contextlib.suppress(ImportError):
            from rockpool.nn.modules import LIFTorch

            kinds.append(LIFTorch)
    if "snntorch" in sys.modules:
        with contextlib.suppress(ImportError):
            from snntorch._neurons import SpikingNeuron

            kinds.append(SpikingNeuron)
    return [m for m in model.modules() if isinstance(m, tuple(kinds))]


@contextlib.contextmanager
def hidden_dropout(model: nn.Module, p: float, generator: torch.Generator) -> Iterator[None]:
    """Within the block, every spiking layer's output is multiplied by a fresh scaled Bernoulli mask."""
    layers = spiking_layers(model)
    if not layers:
        raise ConfigError("dropout found no spiking layers in the model (LIFLayer, LIFTorch or snntorch neurons)")

    masks: dict[int, torch.Tensor] = {}

    def mask_for(module: nn.Module, spikes: torch.Tensor) -> torch.Tensor:
        # (batch, units) mask, drawn once per layer per block: a layer called step by step (snntorch) keeps
        # the same mask over time, like a layer called once on the whole sequence.
        key = id(module)
        if key not in masks:
            keep = torch.rand((spikes.shape[0], spikes.shape[-1]), generator=generator) >= p
            masks[key] = keep.to(spikes.dtype).to(spikes.device) / (1.0 - p)
        return masks[key][:, None, :] if spikes.dim() == 3 else masks[key]

    def hook(module: nn.Module, inputs: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (output[0] * mask_for(module, output[0]), *output[1:])
        return output * mask_for(module, output)

    handles = [layer.register_forward_hook(hook) for layer in layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class DropoutConfig:
    p: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.p < 1:
            raise ConfigError(f"method.dropout.p must be in [0, 1), got {self.p!r}")


class HiddenDropout(Perturbation):
    """The forward pass under :func:`hidden_dropout` (the parameters are not moved)."""

    def __init__(self, p: float) -> None:
        self.p = p

    def forward(self, step: Step, params: Params) -> torch.Tensor:
        with hidden_dropout(step.model, self.p, step.generator):
            return step.forward(params)


@register_method
class Dropout(Composed):
    """``CE(f_dropout(X, theta))``."""

    name = "dropout"
    summary = "cross-entropy with dropout on hidden spiking units, rescaled by 1/(1-p)"
    Config = DropoutConfig

    def terms(self) -> list[Term]:
        return [CrossEntropy("ce", at="sample", perturb=HiddenDropout(self.config.p))]
