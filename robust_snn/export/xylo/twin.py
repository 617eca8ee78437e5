"""The quantised twin: our float model holding exactly the values a Xylo specification programs.

Weights, thresholds and biases are ``int / scale`` (computed in float64, as the profile's
:meth:`~robust_snn.devices.IntegerQuantiser.decode` does), time constants ``tau = -dt / ln(1 - 2^-dash)``
(s, :func:`robust_snn.devices.digital.dash_to_tau`). So the twin *is* the profile's programmed network
(:func:`robust_snn.devices.programmed_parameters`) at the mapping's ``dt``, and comparing it with
XyloSim (:mod:`.simulator`) isolates the chip's integer arithmetic.

The twin has no dynamics of its own: it is our :class:`~robust_snn.core.lif.LIFLayer` /
:class:`~robust_snn.core.readout.LeakyReadout` (and, for spike counts, a ``LIFLayer`` counter), so every step is
:func:`robust_snn.core.lif_step.lif_step` with the chip's decays ``alpha, beta = 1 - 2**-dash`` (the decay is
the parameter; the equations are not copied).
"""

from __future__ import annotations

import numpy as np
import torch

from ...core.lif import LIFLayer
from ...core.network import SNNClassifier
from ...core.readout import SpikeMeanReadout
from ...devices import digital
from .mapping import XyloMapping, as_mapping
from .quantise import SPIKE_COUNT_DASH_SYN


def exact_dash(tau: np.ndarray, dt: float) -> np.ndarray:
    """Real-valued bit shift with ``1 - 2**-dash = exp(-dt / tau)`` (``tau``, ``dt`` in seconds)."""
    return digital.exact_dash(torch.as_tensor(np.asarray(tau, dtype=np.float64)), dt).numpy()


def dash_to_tau(dash: np.ndarray, dt: float) -> np.ndarray:
    """Time constant (s) whose decay ``exp(-dt / tau)`` equals the chip's ``1 - 2**-dash``.

    ``dash = 0`` (the state is cleared every step) maps to ``dt / 1000``, whose decay is 0 in float32.
    """
    return digital.dash_to_tau(torch.as_tensor(np.asarray(dash, dtype=np.float64)), dt).numpy()


def _f32(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=torch.float32)


def quantised_twin(source: SNNClassifier | XyloMapping, dt: float | None = None, *,
                   calibration: torch.Tensor | None = None) -> SNNClassifier:
    """Our float model with the chip's values (module docstring). Same architecture; runs at the mapping's
    ``dt``."""
    m = as_mapping(source, dt, calibration)
    spec = m.spec
    twin = SNNClassifier(m.config)
    with torch.no_grad():
        previous = None
        for layer, ids in zip(twin.layers, m.hidden_ids):
            ids, s = list(ids), m.hidden_scale[list(ids)]
            w = spec["weights_in"][:, ids] if previous is None else spec["weights_rec"][np.ix_(previous, ids)]
            layer.weight.copy_(_f32(w.T / s[:, None]))
            if layer.recurrent:
                layer.w_rec.copy_(_f32(spec["weights_rec"][np.ix_(ids, ids)].T / s[:, None]))
            layer.bias.copy_(_f32(spec["bias"][ids] / s))
            layer.threshold = _f32(spec["threshold"][ids] / s)
            layer.tau_mem = _f32(dash_to_tau(spec["dash_mem"][ids], m.dt))
            layer.tau_syn = _f32(dash_to_tau(spec["dash_syn"][ids], m.dt))
            previous = ids
        ro = twin.readout
        ro.weight.copy_(_f32(spec["weights_out"][previous].T / m.out_scale[:, None]))
        ro.bias.copy_(_f32(spec["bias_out"] / m.out_scale))
        if not isinstance(ro, SpikeMeanReadout):
            ro.tau_mem = _f32(dash_to_tau(spec["dash_mem_out"], m.dt))
            ro.tau_syn = _f32(dash_to_tau(spec["dash_syn_out"], m.dt))
    return twin.eval()


def _delay(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(batch, time, n)`` one step later (zeros at t = 0): a layer-to-layer hop on the chip."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


def twin_on_chip_clock(twin: SNNClassifier, mapping: XyloMapping,
                       spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``twin`` the way the chip is wired: ``(hidden spikes, output)`` over ``time + delay_steps`` steps.

    Each hidden layer after the first, and the readout, sees the spikes of the previous step (see
    :mod:`robust_snn.export.xylo`); the input is padded with ``delay_steps`` silent steps so the last input
    reaches the output. ``hidden`` ``(batch, steps, n_hidden_total)`` in hardware-neuron order. ``output``
    ``(batch, steps, classes)``: the readout membrane (``leaky``) or the spike-count neurons' spikes
    (``spike_mean``).
    """
    x = spikes.float()
    h = torch.cat([x, x.new_zeros(x.shape[0], mapping.delay_steps, x.shape[2])], dim=1)
    hidden = []
    with torch.no_grad():
        for k, layer in enumerate(twin.layers):
            h = layer(_delay(h) if k else h)
            hidden.append(h)
        h, ro = _delay(h), twin.readout
        if mapping.readout == "leaky":
            out = ro.membrane(h)
        else:
            dash_mem = int(mapping.spec["dash_mem_out"][0])
            counter = LIFLayer(ro.n_in, ro.n_classes, dt=mapping.dt,
                               tau_mem=_f32(dash_to_tau(dash_mem, mapping.dt)),
                               tau_syn=_f32(dash_to_tau(SPIKE_COUNT_DASH_SYN, mapping.dt)),
                               threshold=torch.as_tensor(mapping.out_threshold, dtype=torch.float32),
                               bias=ro.bias.detach())
            counter.weight.copy_(ro.weight)
            out = counter(h)
    order = np.concatenate([np.asarray(ids, dtype=int) for ids in mapping.hidden_ids])
    return torch.cat(hidden, dim=2)[..., torch.as_tensor(np.argsort(order))], out


__all__ = ["dash_to_tau", "exact_dash", "quantised_twin", "twin_on_chip_clock"]
