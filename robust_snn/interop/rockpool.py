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

from dataclasses import replace
from typing import Any, Mapping

import torch
from torch import nn

from ..core.network import NetworkConfig, SNNClassifier
from ..core.parameters import physical_parameters, stored_parameters
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

    def chip_batched_twin(self) -> ChipBatchedTwin:
        """Our classifier with this network's dynamics, which chip ensembles run all chips of a chunk on at once
        (:class:`ChipBatchedTwin`; :func:`robust_snn.devices.evaluate_ensemble` calls this)."""
        return ChipBatchedTwin(self)

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


def _structure(rp_model: RockpoolClassifier) -> tuple[NetworkConfig, list[tuple[str, str, str, int]]]:
    """The network config of ``rp_model``'s twin and its parameter map: one ``(our name, Rockpool name, how,
    size)`` per physical parameter, ``how`` being ``"t"`` (a weight matrix, transposed) or ``"v"`` (a per-neuron
    vector of ``size``, from a scalar or any shape). Refuses, with a ``ValueError`` that says where, a network
    that our layers cannot reproduce."""
    _, LIFTorch, LinearTorch = _rockpool()
    mods = list(rp_model.net)
    names = [name for name, _ in rp_model.net.named_children()]
    readout_mods = 1 if rp_model.readout == "spike_mean" else 2
    hidden_mods, tail = mods[: len(mods) - readout_mods], mods[len(mods) - readout_mods:]
    if len(hidden_mods) < 2 or len(hidden_mods) % 2:
        raise ValueError("expected pairs of LinearTorch + LIFTorch modules followed by the readout")
    pairs = list(zip(hidden_mods[0::2], hidden_mods[1::2]))
    plan: list[tuple[str, str, str, int]] = []
    for i, (lin, lif) in enumerate(pairs):
        if not isinstance(lin, LinearTorch) or not isinstance(lif, LIFTorch):
            raise ValueError(f"module pair {i} is ({type(lin).__name__}, {type(lif).__name__}), "
                             "expected (LinearTorch, LIFTorch)")
        if getattr(lin, "bias", None) is not None:
            raise ValueError(f"hidden LinearTorch {i} has a bias; put biases on the LIFTorch neurons")
        _check_lif(lif, f"LIFTorch {i}")
        if bool(lif._has_rec) != bool(pairs[0][1]._has_rec):
            raise ValueError("all LIFTorch layers must agree on has_rec")
        if float(lif.dt) != float(pairs[0][1].dt):
            raise ValueError(f"LIFTorch {i} has dt {float(lif.dt):g}, LIFTorch 0 {float(pairs[0][1].dt):g}; "
                             "our layers share one time step")
        lin_name, lif_name, n = f"net.{names[2 * i]}", f"net.{names[2 * i + 1]}", int(lif.size_out)
        plan.append((f"layers.{i}.weight", f"{lin_name}.weight", "t", n))
        if lif._has_rec:
            plan.append((f"layers.{i}.w_rec", f"{lif_name}.w_rec", "t", n))
        plan += [(f"layers.{i}.{leaf}", f"{lif_name}.{leaf}", "v", n)
                 for leaf in ("bias", "tau_mem", "tau_syn", "threshold")]
    classes, head = int(tail[0].size_out), f"net.{names[len(hidden_mods)]}"
    plan.append(("readout.weight", f"{head}.weight", "t", classes))
    if rp_model.readout == "spike_mean":
        plan.append(("readout.bias", f"{head}.bias", "v", classes))
    else:
        _check_lif(tail[1], "readout LIFTorch")
        leaky = f"net.{names[len(hidden_mods) + 1]}"
        plan += [(f"readout.{leaf}", f"{leaky}.{leaf}", "v", classes) for leaf in ("bias", "tau_mem", "tau_syn")]
    first_lif = pairs[0][1]
    config = NetworkConfig(
        n_in=int(pairs[0][0].size_in),
        hidden=tuple(int(lif.size_out) for _, lif in pairs),
        n_classes=classes,
        dt=float(first_lif.dt),
        recurrent=bool(first_lif._has_rec),
        readout=rp_model.readout,
    )
    return config, plan


def _mapped(plan: list[tuple[str, str, str, int]], params: Mapping[str, torch.Tensor], lead: int
            ) -> dict[str, torch.Tensor]:
    """Rockpool's physical parameters ``params`` (each with ``lead`` leading axes, e.g. a chip axis) under our
    names and layouts (:func:`_structure`'s plan)."""
    out = {}
    for ours, theirs, how, n in plan:
        value = params[theirs]
        if how == "t":
            out[ours] = value.transpose(-1, -2)
        else:
            head = value.shape[:lead]
            out[ours] = value.reshape(*head, -1).expand(*head, n) if value[(0,) * lead].numel() == 1 \
                else value.reshape(*head, n)
    return out


def from_rockpool(rp_model: RockpoolClassifier, **config_overrides: Any) -> SNNClassifier:
    """Rebuild an :class:`SNNClassifier` from a :class:`RockpoolClassifier` (inverse of :func:`to_rockpool`)."""
    config, plan = _structure(rp_model)
    return _rebuilt(rp_model, replace(config, **config_overrides), plan)


def _rebuilt(rp_model: RockpoolClassifier, config: NetworkConfig, plan: list[tuple[str, str, str, int]]
             ) -> SNNClassifier:
    """Our classifier of ``config`` with ``rp_model``'s parameters, mapped by :func:`_structure`'s ``plan``."""
    model = SNNClassifier(config)
    physical = _mapped(plan, {k: v.detach() for k, v in physical_parameters(rp_model).items()}, lead=0)
    with torch.no_grad():
        leaves = dict(model.named_parameters())
        for name, value in stored_parameters(model, physical).items():
            leaves[name].copy_(value)
    return model


class ChipBatchedTwin:
    """Our classifier that computes what a :class:`RockpoolClassifier` computes, for chip ensembles.

    Why: Rockpool's ``LIFTorch`` runs each time step in Python and ``vmap`` cannot trace it, so an ensemble of
    a Rockpool network would run its chips one by one at Rockpool's speed. Its twin (:func:`from_rockpool`,
    same dynamics) runs all chips of a chunk in one chip-batched pass
    (:func:`~robust_snn.core.chip_batch.chip_batched_forward`). The chips are still drawn on the Rockpool
    module's own parameters (the same chips as its loop); :meth:`parameters_for` renames and lays them out for
    the twin, or says why a chunk cannot run on it: our layers mask the recurrent diagonal (Rockpool's
    ``w_rec`` does not) and store time constants as logarithms, and our leaky readout never spikes (Rockpool's
    readout ``LIFTorch`` does once a chip's threshold falls within reach). Such chunks run on the module.
    """

    #: A readout ``LIFTorch`` threshold at or above this never fires (a float32 membrane of a working network
    #: stays many orders of magnitude below; :data:`NEVER_SPIKES` is what :func:`to_rockpool` writes).
    SILENT_THRESHOLD = 1e20

    def __init__(self, rp_model: RockpoolClassifier) -> None:
        config, self._plan = _structure(rp_model)
        expected = {theirs for _, theirs, _, _ in self._plan}
        if rp_model.readout == "leaky":
            expected.add(self._readout_threshold(rp_model))
        extra = set(physical_parameters(rp_model)) - expected
        if extra:
            raise ValueError(f"parameters our layers have no place for: {', '.join(sorted(extra))}")
        self.model = _rebuilt(rp_model, config, self._plan).eval()
        self._silent = self._readout_threshold(rp_model) if rp_model.readout == "leaky" else None
        self._recurrent = [theirs for ours, theirs, _, _ in self._plan if ours.endswith(".w_rec")]
        self._taus = [theirs for ours, theirs, _, _ in self._plan if ours.rsplit(".", 1)[1].startswith("tau_")]

    @staticmethod
    def _readout_threshold(rp_model: RockpoolClassifier) -> str:
        return f"net.{[name for name, _ in rp_model.net.named_children()][-1]}.threshold"

    def refusal(self, params: Mapping[str, torch.Tensor]) -> str | None:
        """Why the twin cannot run the chips ``params`` (``{Rockpool name: (chips, ...)}``); ``None`` if it can."""
        for name in self._recurrent:
            if params[name].diagonal(dim1=-2, dim2=-1).any():
                return f"{name} has a non-zero diagonal (self-connections), which our layers mask"
        for name in self._taus:
            if not bool((params[name] > 0).all()):
                return f"{name} has a non-positive time constant"
        if self._silent is not None and not bool((params[self._silent] >= self.SILENT_THRESHOLD).all()):
            return f"{self._silent} is below {self.SILENT_THRESHOLD:g}: the readout could spike"
        return None

    def parameters_for(self, params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
        """The twin's physical parameters for the chips ``params`` (a leading chip axis), or ``None`` where
        :meth:`refusal` says the twin would compute something else."""
        return None if self.refusal(params) is not None else _mapped(self._plan, params, lead=1)


__all__ = ["ChipBatchedTwin", "RockpoolClassifier", "from_rockpool", "to_rockpool"]
