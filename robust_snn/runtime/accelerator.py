"""Where the tensors live: the *accelerator* (``cpu``, ``cuda`` or ``auto``), never to be confused with ``--device``.

In this package ``--device`` always names a chip profile (what the network is deployed on); the torch device a
computation runs on is the **accelerator**: ``--accelerator {auto,cpu,cuda}`` on the computing commands and an
``accelerator=`` argument on the API (:func:`~robust_snn.training.fit`, :func:`~robust_snn.training.evaluate`,
:func:`~robust_snn.attack.evaluate_attack`, :func:`~robust_snn.devices.evaluate_ensemble`,
:func:`~robust_snn.readiness.scorecard.score_card`). ``auto`` is ``cuda`` when torch sees a CUDA device, else
``cpu``; asking for ``cuda`` where there is none is a :class:`AcceleratorError` (exit 2 from the CLI). The API
also takes any ``torch.device`` (``"cuda:1"``, ``"mps"``); ``None`` leaves the model where it is.

What follows the model's device: the data batches (moved batch by batch, after the input checks on the CPU),
the chip ensembles' parameters, attacks, noise and dropout masks, accumulators.

Random draws are made on the CPU and then moved: every generator in the package is a CPU ``torch.Generator``
(shuffling, chip fabrication from ``(seed, chip)``, attack starts, training noise). So the same seed gives the
same shuffles, the same chips and the same attack starts on every accelerator, and CPU results are
bit-identical to what they were before accelerators existed. Chips are fabricated on the CPU (the stages act
on parameter tensors, a few thousand numbers) and moved to the model's device in one step per chunk.

Reproducibility on a GPU: the draws are identical by construction; the arithmetic is run to run identical on
one GPU model with one software stack as long as the kernels are (cuBLAS products are, for a fixed
configuration); ``torch.use_deterministic_algorithms(True)`` with ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` enforces it.
CPU and GPU results differ in the last bits of float sums (another summation order), which can flip a spike.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..config import ConfigError

ACCELERATORS = ("auto", "cpu", "cuda")


class AcceleratorError(ConfigError):
    """The accelerator asked for is unknown or not available here; the CLI reports it in one line, exit 2."""


def resolve_accelerator(accelerator: str | torch.device | None) -> torch.device | None:
    """The torch device for ``accelerator``: ``auto`` -> cuda if available else cpu; ``None`` -> ``None``."""
    if accelerator is None:
        return None
    if isinstance(accelerator, torch.device):
        device = accelerator
    else:
        text = str(accelerator).strip().lower()
        if text == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(text)
        except RuntimeError:
            raise AcceleratorError(f"accelerator must be one of {', '.join(ACCELERATORS)} (or a torch device "
                                   f"such as cuda:1), got {accelerator!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        build = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        raise AcceleratorError(f"accelerator cuda is not available ({build}); use --accelerator cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise AcceleratorError(f"accelerator {device} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    return device


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (or buffer); CPU for a module without tensors."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def place(module: nn.Module, accelerator: str | torch.device | None, *, in_place: bool) -> nn.Module:
    """``module`` on ``accelerator`` (``None``: where it is).

    ``in_place=True`` moves the module itself (training: the caller's model is the one trained);
    ``in_place=False`` returns a moved copy when a move is needed and ``module`` itself otherwise, so that
    evaluation never changes the caller's model.
    """
    device = resolve_accelerator(accelerator)
    if device is None or module_device(module) == device:
        return module
    return module.to(device) if in_place else copy.deepcopy(module).to(device)


__all__ = ["ACCELERATORS", "AcceleratorError", "module_device", "place", "resolve_accelerator"]
