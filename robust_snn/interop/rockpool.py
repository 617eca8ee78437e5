"""Convert an :class:`SNNClassifier` to a Rockpool torch network and back, with identical dynamics.

Mapping: each :class:`LIFLayer` becomes ``LinearTorch(n_in, n_out, has_bias=False)`` followed by
``LIFTorch(n_out, ...)`` (recurrent weights transposed: Rockpool computes ``S @ w_rec``, we ``W_rec S``). The
spike-mean readout becomes ``LinearTorch(n, classes, has_bias=True)`` with a mean over time (a linear map
commutes with the mean); the leaky readout becomes ``LinearTorch`` + ``LIFTorch(threshold=1e30)`` whose
membrane trace is averaged. :class:`RockpoolClassifier` wraps the Rockpool ``Sequential`` so that it keeps our
model contract (``(batch, time, channels) -> logits``) and works with every downstream stage.

Rockpool pitfalls avoided here:

- ``max_spikes_per_dt`` defaults to ``2**16`` in ``LIFTorch``: a neuron may emit ``floor(V / threshold)``
  spikes in one step and subtract all of them. Our neurons emit at most one spike per step, so we set it to 1.
  (Xylo's hidden neurons can emit up to 31 per step; see :mod:`robust_snn.export.xylo` for what that means.)
- Rockpool modules keep their state (``vmem``, ``isyn``, ``spikes``) between calls, so consecutive batches
  leak into each other; the wrapper resets the state before every forward pass.
- ``LIFTorch`` calls its time constants ``tau_*`` but never constrains them; a training step can make one
  negative. Our layers store ``log(tau)``; on conversion back, non-positive values are refused by name.
- Rockpool spells the bias family ``"bias"`` in ``LIFTorch`` and ``"biases"`` in ``LinearTorch``; our
  :func:`~robust_snn.core.parameters.parameter_families` says ``biases`` for both.
- Rockpool has no adaptive-threshold LIF in torch; adaptive layers are refused with a clear error.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.network import NetworkConfig, SNNClassifier
from ..core.readout import LeakyReadout, SpikeMeanReadout


def _rockpool():  # noqa: ANN202 - a tuple of classes
    try:
        from rockpool.nn.combinators import Sequential
        from rockpool.nn.modules import LIFTorch, LinearTorch
    except ImportError as exc:  # pragma: no cover - rockpool is a core dependency
        raise ImportError("Rockpool interop needs the 'rockpool' package: pip install rockpool") from exc
    return Sequential, LIFTorch, LinearTorch


# A threshold no membrane reaches. Not inf: Rockpool resets with ``v - spikes * threshold`` and 0 * inf is NaN.
NEVER_SPIKES = 1e30


def _t(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone()


class RockpoolClassifier(nn.Module):
    """A Rockpool torch ``Sequential`` with our readout reduction: ``(batch, time, channels) -> logits``."""

    def __init__(self, net: nn.Module, readout: str) -> None:
        super().__init__()
        if readout not in ("spike_mean", "leaky"):
            raise ValueError(f"readout must be 'spike_mean' or 'leaky', got {readout!r}")
        self.net, self.readout = net, readout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.net.reset_state()
        if self.readout == "spike_mean":
            out, _, _ = self.net(x)
            return out.mean(1)
        _, _, record = self.net(x, record=True)
        last = list(record)[-2]  # the final LIFTorch's record (the last key is its "_output")
        return record[last]["vmem"].mean(1)

    def traces(self, x: torch.Tensor) -> dict[str, Any]:
        """Rockpool's full state record (``vmem``, ``isyn``, ``spikes`` per module) for input ``x``."""
        self.net.reset_state()
        _, _, record = self.net(x, record=True)
        return record


def to_rockpool(model: SNNClassifier) -> RockpoolClassifier:
    """Rockpool ``LinearTorch``/``LIFTorch`` network with the same parameters and dynamics as ``model``."""
    Sequential, LIFTorch, LinearTorch = _rockpool()
    modules: list[nn.Module] = []
    for i, layer in enumerate(model.layers):
        if layer.adaptive:
            raise ValueError(
                f"layer {i} is adaptive (spike-frequency adaptation); Rockpool's LIFTorch has no adaptive "
                "threshold, so this network cannot be converted with identical dynamics"
            )
        modules.append(LinearTorch((layer.n_in, layer.n_out), weight=_t(layer.weight.t()), has_bias=False))
        kwargs: dict[str, Any] = {}
        if layer.recurrent:
            kwargs = {"has_rec": True, "w_rec": _t((layer.w_rec * layer._offdiag).t())}
        modules.append(_lif_torch(LIFTorch, layer, layer.n_out, _t(layer.threshold), **kwargs))
    ro = model.readout
    if isinstance(ro, SpikeMeanReadout):
        modules.append(LinearTorch((ro.n_in, ro.n_classes), weight=_t(ro.weight.t()), bias=_t(ro.bias),
                                   has_bias=True))
        readout = "spike_mean"
    else:
        modules.append(LinearTorch((ro.n_in, ro.n_classes), weight=_t(ro.weight.t()), has_bias=False))
        modules.append(_lif_torch(LIFTorch, ro, ro.n_classes, torch.full((ro.n_classes,), NEVER_SPIKES)))
        readout = "leaky"
    return RockpoolClassifier(Sequential(*modules), readout)


def _lif_torch(LIFTorch: type, population: nn.Module, n: int, threshold: torch.Tensor, **kwargs: Any) -> nn.Module:
    """Rockpool's ``LIFTorch`` with the time constants, bias and ``dt`` of one of our CuBa populations (a hidden
    layer or the leaky readout), at most one spike per step as ours."""
    return LIFTorch((n,), tau_mem=_t(population.tau_mem), tau_syn=_t(population.tau_syn), bias=_t(population.bias),
                    threshold=threshold, dt=population.dt, max_spikes_per_dt=1.0, **kwargs)


def _as_vector(module: nn.Module, name: str, n: int) -> torch.Tensor:
    value = _t(torch.as_tensor(getattr(module, name), dtype=torch.float32)).reshape(-1)
    return value.expand(n).clone() if value.numel() == 1 else value.reshape(n)


def _check_lif(lif: nn.Module, where: str) -> None:
    if getattr(lif, "leak_mode", "taus") != "taus":
        raise ValueError(f"{where}: only leak_mode='taus' LIFTorch modules convert, got {lif.leak_mode!r}")
    if int(lif.n_synapses) != 1:
        raise ValueError(f"{where}: LIFTorch with {int(lif.n_synapses)} synapses per neuron is not supported")
    if float(lif.max_spikes_per_dt) != 1.0:
        raise ValueError(
            f"{where}: max_spikes_per_dt is {float(lif.max_spikes_per_dt):g}; our neurons emit at most one "
            "spike per step, so set max_spikes_per_dt=1 for identical dynamics"
        )
    if float(getattr(lif, "noise_std", 0.0)) != 0.0:
        raise ValueError(f"{where}: membrane noise (noise_std) is not part of our deterministic model")


def from_rockpool(rp_model: RockpoolClassifier, **config_overrides: Any) -> SNNClassifier:
    """Rebuild an :class:`SNNClassifier` from a :class:`RockpoolClassifier` (inverse of :func:`to_rockpool`)."""
    _, LIFTorch, LinearTorch = _rockpool()
    mods = list(rp_model.net)
    readout_mods = 1 if rp_model.readout == "spike_mean" else 2
    hidden_mods, tail = mods[: len(mods) - readout_mods], mods[len(mods) - readout_mods:]
    if len(hidden_mods) < 2 or len(hidden_mods) % 2:
        raise ValueError("expected pairs of LinearTorch + LIFTorch modules followed by the readout")
    pairs = list(zip(hidden_mods[0::2], hidden_mods[1::2]))
    for i, (lin, lif) in enumerate(pairs):
        if not isinstance(lin, LinearTorch) or not isinstance(lif, LIFTorch):
            raise ValueError(f"module pair {i} is ({type(lin).__name__}, {type(lif).__name__}), "
                             "expected (LinearTorch, LIFTorch)")
        if getattr(lin, "bias", None) is not None:
            raise ValueError(f"hidden LinearTorch {i} has a bias; put biases on the LIFTorch neurons")
        _check_lif(lif, f"LIFTorch {i}")
    first_lif = pairs[0][1]
    config = NetworkConfig(
        n_in=int(pairs[0][0].size_in),
        hidden=tuple(int(lif.size_out) for _, lif in pairs),
        n_classes=int(tail[0].size_out),
        dt=float(first_lif.dt),
        recurrent=bool(first_lif._has_rec),
        readout=rp_model.readout,
        **config_overrides,
    )
    model = SNNClassifier(config)
    with torch.no_grad():
        for layer, (lin, lif) in zip(model.layers, pairs):
            if bool(lif._has_rec) != layer.recurrent:
                raise ValueError("all LIFTorch layers must agree on has_rec")
            layer.weight.copy_(lin.weight.t())
            if layer.recurrent:
                layer.w_rec.copy_(lif.w_rec.t())
            layer.bias.copy_(_as_vector(lif, "bias", layer.n_out))
            for name in ("tau_mem", "tau_syn", "threshold"):
                setattr(layer, name, _as_vector(lif, name, layer.n_out))
        ro = model.readout
        ro.weight.copy_(tail[0].weight.t())
        if isinstance(ro, SpikeMeanReadout):
            ro.bias.copy_(_as_vector(tail[0], "bias", ro.n_classes))
        else:
            assert isinstance(ro, LeakyReadout)
            _check_lif(tail[1], "readout LIFTorch")
            ro.bias.copy_(_as_vector(tail[1], "bias", ro.n_classes))
            ro.tau_mem = _as_vector(tail[1], "tau_mem", ro.n_classes)
            ro.tau_syn = _as_vector(tail[1], "tau_syn", ro.n_classes)
    return model


__all__ = ["RockpoolClassifier", "to_rockpool", "from_rockpool"]
