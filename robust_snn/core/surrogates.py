"""Spike functions with surrogate gradients.

Forward: the Heaviside step ``S = 1 if v >= threshold else 0`` (``>=``, as Rockpool's ``LIFTorch``; snntorch
uses ``>``). Backward: ``dS/dv = g(v - threshold)`` for a smooth pseudo-derivative ``g``, and
``dS/dthreshold = -g(v - threshold)``.

Why not snntorch's own surrogate classes: they are old-style ``autograd.Function`` s (``forward(ctx, ...)``),
which ``torch.func`` refuses (no ``setup_context``), so ``vmap`` over a chip ensemble and ``torch.func.grad``
would break. The shapes below follow snntorch's names and default slopes so snntorch users feel at home:

==================  =========================================================  ==================
name                pseudo-derivative ``g(x)``                                 parameter
==================  =========================================================  ==================
``fast_sigmoid``    ``1 / (1 + k|x|)^2``                                       ``slope`` k = 25
``atan``            ``(a/2) / (1 + (pi a x / 2)^2)``                           ``alpha`` a = 2
``sigmoid``         ``k sigmoid(k x) (1 - sigmoid(k x))``                      ``slope`` k = 25
``triangular``      ``max(0, 1 - |x| / w) / w``                                ``width`` w = 0.5
``boxcar``          ``1 / (2w) if |x| < w else 0`` (Rockpool's PWL window)      ``width`` w = 0.5
``straight_through`` ``1``                                                     --
==================  =========================================================  ==================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

PseudoDerivative = Callable[[torch.Tensor, float], torch.Tensor]


# In-place chains on the fresh tensor from ``abs()``: this runs once per neuron layer and time step in the
# backward pass, where each avoided temporary is measurable.
def _fast_sigmoid(x: torch.Tensor, k: float) -> torch.Tensor:
    return x.abs().mul_(k).add_(1.0).square_().reciprocal_()


def _atan(x: torch.Tensor, a: float) -> torch.Tensor:
    return (a / 2.0) / (1.0 + (math.pi * a * x / 2.0) ** 2)


def _sigmoid(x: torch.Tensor, k: float) -> torch.Tensor:
    s = torch.sigmoid(k * x)
    return k * s * (1.0 - s)


def _triangular(x: torch.Tensor, w: float) -> torch.Tensor:
    return torch.clamp(1.0 - x.abs() / w, min=0.0) / w


def _boxcar(x: torch.Tensor, w: float) -> torch.Tensor:
    return (x.abs() < w).to(x.dtype) / (2.0 * w)


def _straight_through(x: torch.Tensor, _: float) -> torch.Tensor:
    return torch.ones_like(x)


_SHAPES: dict[str, tuple[PseudoDerivative, float]] = {
    "fast_sigmoid": (_fast_sigmoid, 25.0),
    "atan": (_atan, 2.0),
    "sigmoid": (_sigmoid, 25.0),
    "triangular": (_triangular, 0.5),
    "boxcar": (_boxcar, 0.5),
    "straight_through": (_straight_through, 0.0),
}

SURROGATES: tuple[str, ...] = tuple(_SHAPES)


def _make_spike_function(shape: PseudoDerivative, scale: float) -> type[torch.autograd.Function]:
    class _Spike(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
            return (v >= threshold).to(v.dtype)

        @staticmethod
        def setup_context(ctx, inputs, output):  # noqa: ANN001 - torch's signature
            v, threshold = inputs
            ctx.save_for_backward(v, threshold)

        @staticmethod
        def backward(ctx, grad_output: torch.Tensor):  # noqa: ANN001
            v, threshold = ctx.saved_tensors
            grad = shape(v - threshold, scale).mul_(grad_output)
            grad_v = grad if ctx.needs_input_grad[0] else None
            grad_thr = None
            if ctx.needs_input_grad[1]:
                grad_thr = -grad
                # Sum over broadcast dimensions so the gradient has the threshold's shape.
                while grad_thr.dim() > threshold.dim():
                    grad_thr = grad_thr.sum(0)
                for dim, size in enumerate(threshold.shape):
                    if size == 1 and grad_thr.shape[dim] != 1:
                        grad_thr = grad_thr.sum(dim, keepdim=True)
            return grad_v, grad_thr

    return _Spike


@dataclass(frozen=True)
class Surrogate:
    """A selectable spike function: ``Surrogate("fast_sigmoid", 25.0)(v, threshold) -> spikes``."""

    name: str = "fast_sigmoid"
    scale: float | None = None

    def __post_init__(self) -> None:
        if self.name not in _SHAPES:
            raise ValueError(f"unknown surrogate {self.name!r}; choose one of {', '.join(SURROGATES)}")
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"surrogate scale must be a positive finite number, got {self.scale!r}")

    @property
    def effective_scale(self) -> float:
        return _SHAPES[self.name][1] if self.scale is None else float(self.scale)

    @property
    def shape(self) -> PseudoDerivative:
        """The pseudo-derivative ``g(x, scale)`` (used by the fused LIF scan's backward pass)."""
        return _SHAPES[self.name][0]

    def function(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        return _spike_function(self.name, self.effective_scale)

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        return self.function()(v, threshold)


_CACHE: dict[tuple[str, float], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {}


def _spike_function(name: str, scale: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    key = (name, scale)
    if key not in _CACHE:
        _CACHE[key] = _make_spike_function(_SHAPES[name][0], scale).apply
    return _CACHE[key]


def pseudo_derivative(name: str, x: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """The surrogate's ``g(x)`` itself, for tests and plots."""
    fn, default = _SHAPES[name]
    return fn(x, default if scale is None else scale)
