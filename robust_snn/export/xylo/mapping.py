"""Map an :class:`SNNClassifier` onto Xylo Audio 2: Rockpool's mapper places it, the profile programs it.

``to_rockpool(model).net.as_graph()`` -> Rockpool's ``mapper`` (design-rule check, hidden-neuron allocation)
-> :func:`.quantise.integer_spec` (the ``xylo-audio2`` profile's codes and shifts in Xylo's layout) -> the
limits of the profile (:mod:`.limits`). The result, :class:`XyloMapping`, is the keyword arguments of
``XyloSim.from_specification`` (and of Rockpool's ``config_from_specification`` where ``samna`` is installed)
plus what decodes its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...core.network import NetworkConfig, SNNClassifier
from ...core.readout import SpikeMeanReadout
from ...devices import DeviceProfile
from ..samna_shim import import_xylo
from .limits import XyloChip, XyloMappingError, structural_violations, synapse_violations
from .quantise import integer_spec

HW_KEYS = ("weights_in", "weights_rec", "weights_out", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2",
           "dash_syn_out", "threshold", "threshold_out", "bias", "bias_out", "weight_shift_in",
           "weight_shift_rec", "weight_shift_out", "aliases", "dt")


@dataclass(frozen=True)
class XyloMapping:
    """A quantised Xylo specification plus what is needed to decode it.

    ``spec``: ``XyloSim.from_specification`` keyword arguments (numpy integer arrays; ``dt`` in seconds).
    ``hidden_ids``: the hardware hidden-neuron indices of each hidden layer, in neuron order.
    ``hidden_scale`` ``(n_hidden_total,)``, ``out_scale`` ``(n_classes,)``: integer units per float unit.
    ``readout``: ``"leaky"`` (logits = mean_t output membrane / out_scale) or ``"spike_mean"`` (logits =
    output spike count * out_threshold / T). ``out_threshold`` ``(n_classes,)``: dequantised spike-count
    threshold (``spike_mean`` only). ``config``: the architecture of the source model, with this ``dt``.
    """

    spec: dict[str, Any]
    hidden_ids: tuple[tuple[int, ...], ...]
    hidden_scale: np.ndarray
    out_scale: np.ndarray
    readout: str
    config: NetworkConfig
    out_threshold: np.ndarray | None = None

    @property
    def dt(self) -> float:
        return float(self.spec["dt"])

    @property
    def delay_steps(self) -> int:
        """Chip latency in steps relative to our model: one per hidden layer (see :mod:`robust_snn.export.xylo`)."""
        return len(self.hidden_ids)


def _rockpool_graph(model: SNNClassifier, dt: float) -> tuple[Any, list[Any]]:
    """Rockpool graph of ``model`` with the readout as output neurons; also the hidden ``LIFTorch`` modules.

    Taus are set to a placeholder (``2 dt``) that the mapper accepts (it refuses ``tau <= dt``); the shifts
    come from the profile (:func:`.quantise.program`).
    """
    from rockpool.graph import LIFNeuronWithSynsRealValue
    from rockpool.graph.utils import find_modules_of_subclass
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch

    from ...interop.rockpool import NEVER_SPIKES, to_rockpool

    modules = list(to_rockpool(model).net)
    if isinstance(model.readout, SpikeMeanReadout):  # Linear(+bias) -> Linear + output neurons
        ro = model.readout
        modules[-1] = LinearTorch((ro.n_in, ro.n_classes), weight=ro.weight.detach().t().clone(), has_bias=False)
        modules.append(LIFTorch((ro.n_classes,), threshold=torch.full((ro.n_classes,), NEVER_SPIKES),
                                dt=model.config.dt, max_spikes_per_dt=1.0))
    hidden_lifs = modules[1:2 * len(model.layers):2]
    graph = Sequential(*modules).as_graph()
    for neurons in find_modules_of_subclass(graph, LIFNeuronWithSynsRealValue):
        n = len(neurons.output_nodes)
        neurons.tau_mem, neurons.tau_syn, neurons.dt = np.full(n, 2 * dt), np.full(n, 2 * dt), dt
    return graph, hidden_lifs


def _map(model: Any, dt: float | None, calibration: torch.Tensor | None,
         profile: DeviceProfile | str | None) -> tuple[XyloMapping | None, list[str]]:
    chip = XyloChip.from_profile(profile)
    dt = float(model.config.dt if dt is None and isinstance(model, SNNClassifier) else (dt or 0.0))
    violations = structural_violations(model, dt, chip)
    if violations:
        return None, violations
    tools = import_xylo()
    from rockpool.devices.xylo.syns61201 import Xylo2HiddenNeurons
    from rockpool.graph.utils import find_modules_of_subclass

    graph, hidden_lifs = _rockpool_graph(model, dt)
    try:
        raw = tools.mapper(graph, weight_dtype="float", threshold_dtype="float", dash_dtype="float",
                           max_hidden_neurons=chip.hidden, max_output_neurons=chip.outputs)
    except (tools.drc_error, ValueError) as exc:
        cause = exc.__cause__ or exc
        return None, [f"Rockpool mapper: {' '.join(str(exc).split())}"
                      + (f" ({' '.join(str(cause).split())})" if cause is not exc else "")]
    ids_of = {id(n.computational_module): list(n.hw_ids)
              for n in find_modules_of_subclass(raw["mapped_graph"], Xylo2HiddenNeurons)}
    hidden_ids = [ids_of[id(lif)] for lif in hidden_lifs]
    spec, s_hidden, s_out, out_threshold = integer_spec(model, hidden_ids, dt, chip, calibration)
    config = NetworkConfig(**{**model.config.to_dict(), "dt": dt})
    mapping = XyloMapping(spec, tuple(tuple(ids) for ids in hidden_ids), s_hidden, s_out, model.config.readout,
                          config, out_threshold)
    return mapping, synapse_violations(spec["weights_rec"], chip)


def xylo_violations(model: SNNClassifier, dt: float | None = None, *,
                    profile: DeviceProfile | str | None = None) -> list[str]:
    """Every reason ``model`` does not fit Xylo Audio 2, one named string each (empty: it fits).

    ``dt`` (s): the chip's time step, default the model's. ``profile``: the chip's device profile (default the
    built-in ``xylo-audio2``), whose limits are checked: sizes (inputs, hidden neurons, outputs), the neuron
    model, decay range, Rockpool's design rules, and after quantisation the hidden fan-out and the recurrent
    weight memory. Raises ``ImportError`` only if Rockpool's Xylo support cannot be imported.
    """
    return _map(model, dt, None, profile)[1]


def map_to_xylo(model: SNNClassifier, dt: float | None = None, *, calibration: torch.Tensor | None = None,
                profile: DeviceProfile | str | None = None) -> XyloMapping:
    """Quantised Xylo mapping of ``model``; raises :class:`XyloMappingError` listing every violation.

    ``dt`` (s): the chip's time step, default the model's (time constants keep their values in seconds).
    ``calibration`` ``(batch, time, n_in)``: typical inputs, used only to size the output layer's 16-bit
    range (:mod:`.quantise`); without it, the profile's data-free bound is used. ``profile``: as in
    :func:`xylo_violations`.
    """
    mapping, violations = _map(model, dt, calibration, profile)
    if violations or mapping is None:
        raise XyloMappingError(violations)
    return mapping


def to_xylo_spec(model: SNNClassifier, dt: float | None = None, *, calibration: torch.Tensor | None = None,
                 profile: DeviceProfile | str | None = None) -> dict[str, Any]:
    """The hardware specification: ``XyloSim.from_specification(**spec)`` builds the simulator."""
    return map_to_xylo(model, dt, calibration=calibration, profile=profile).spec


def as_mapping(source: SNNClassifier | XyloMapping, dt: float | None,
               calibration: torch.Tensor | None) -> XyloMapping:
    return source if isinstance(source, XyloMapping) else map_to_xylo(source, dt, calibration=calibration)


__all__ = ["HW_KEYS", "XyloMapping", "XyloMappingError", "as_mapping", "map_to_xylo", "to_xylo_spec",
           "xylo_violations"]
