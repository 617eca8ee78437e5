"""Does a model fit on a chip? Its resource use, read from its weight matrices, against a profile's limits.

Read from the ``weights``-family matrices ``(n_out, n_in)`` (Rockpool's ``(n_in, n_out)`` transposed) in
parameter order, which works for stacks of dense layers, ours and foreign: a square matrix whose name contains
``rec`` is a recurrent one (its diagonal is not counted: our layers hold it at zero), the others are
feed-forward. The first feed-forward matrix's ``n_in`` is the input channel count, the last one's ``n_out``
the output count, the ``n_out`` of the others the hidden neurons. A neuron's fan-in is its non-zero
feed-forward inputs plus its non-zero recurrent inputs. Weight bits are a property of the quantiser in a
profile's stages, not of the float model, and are not checked here.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.parameters import parameter_families, physical_parameters
from .profiles import ResourceLimits


def _out_in(model: nn.Module, name: str, w: torch.Tensor) -> torch.Tensor:
    """The matrix as ``(n_out, n_in)``: Rockpool modules (they have ``size_in``) store ``(n_in, n_out)``."""
    owner = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    return w.t() if hasattr(owner, "size_in") and not hasattr(owner, "in_features") else w


def _is_recurrent(name: str, w: torch.Tensor) -> bool:
    return "rec" in name.rpartition(".")[2].lower() and w.shape[0] == w.shape[1]


def model_resources(model: nn.Module) -> dict[str, int | bool]:
    """``neurons``, ``fan_in``, ``input_channels``, ``output_channels``, ``recurrent`` of a dense SNN.

    A recurrent matrix adds to the fan-in of the neurons of the nearest feed-forward matrix before it with as
    many outputs (the same layer in ours, the next module in Rockpool's ``LinearTorch`` -> ``LIFTorch``).
    """
    fam = parameter_families(model)
    mats = [(n, _out_in(model, n, p.detach())) for n, p in physical_parameters(model).items()
            if fam[n] == "weights" and p.dim() == 2]
    fan_ins: list[torch.Tensor] = []  # per feed-forward matrix: non-zero inputs per neuron
    outputs: list[int] = []
    recurrent = False
    for name, w in mats:
        if _is_recurrent(name, w):
            off = (w * (1 - torch.eye(w.shape[0], dtype=w.dtype, device=w.device))) != 0
            recurrent = recurrent or bool(off.any())
            if outputs and outputs[-1] == w.shape[0]:
                fan_ins[-1] = fan_ins[-1] + off.sum(1)
            continue
        fan_ins.append((w != 0).sum(1))
        outputs.append(w.shape[0])
        if len(outputs) == 1:
            inputs = w.shape[1]
    if not outputs:
        return {}
    return {"neurons": sum(outputs[:-1]), "fan_in": max(int(f.max()) for f in fan_ins), "input_channels": inputs,
            "output_channels": outputs[-1], "recurrent": recurrent}


def resource_violations(model: nn.Module, limits: ResourceLimits) -> list[str]:
    """One line per exceeded limit, e.g. ``"fan_in: 79 > 63"``; empty when the model fits."""
    used = model_resources(model)
    out = []
    for key in ("neurons", "fan_in", "input_channels", "output_channels"):
        limit = getattr(limits, key)
        if limit is not None and key in used and used[key] > limit:
            out.append(f"{key}: {used[key]} > {limit}")
    if used.get("recurrent") and not limits.recurrent:
        out.append("recurrent: the model has recurrent weights; the chip has none")
    return out


def largest_hidden(limits: ResourceLimits, n_in: int, n_classes: int, recurrent: bool = True) -> int | None:
    """The widest single hidden layer of ``n_in -> hidden -> n_classes`` that fits ``limits`` (``None``: no
    limit applies), or a ``ConfigError`` naming the limit no width can meet.

    Counted as :func:`model_resources` counts: a hidden neuron's fan-in is ``n_in`` plus, when recurrent, the
    other ``hidden - 1`` neurons, so ``hidden <= fan_in - n_in + 1``; a readout neuron's fan-in is ``hidden``,
    so ``hidden <= fan_in``; and ``hidden <= neurons``.
    """
    from ..config import ConfigError

    for used, key, what in ((n_in, "input_channels", "input channels"), (n_classes, "output_channels", "classes"),
                            (n_in, "fan_in", "input channels")):
        limit = getattr(limits, key)
        if limit is not None and used > limit:
            raise ConfigError(f"no network fits: the data has {used} {what}, more than the chip's {key} {limit}")
    if recurrent and not limits.recurrent:
        raise ConfigError("no recurrent network fits: the chip has no recurrent connections (set recurrent = false)")
    bounds = [limits.neurons] if limits.neurons is not None else []
    if limits.fan_in is not None:
        bounds.append(limits.fan_in - n_in + 1 if recurrent else limits.fan_in)
    return min(bounds) if bounds else None


__all__ = ["largest_hidden", "model_resources", "resource_violations"]
