"""The integer specification: the profile's programming (one scale per neuron, exact bit shifts) laid out as
Xylo's weight matrices and registers.

The codes come from the ``xylo-audio2`` profile's own stages (:class:`~robust_snn.devices.IntegerQuantiser`,
:class:`~robust_snn.devices.BitShiftDecay`, arithmetic in :mod:`robust_snn.devices.digital`), so the chip this
writes is the one ``evaluate`` scores and ``qat`` trains for: decoding it (:func:`.twin.quantised_twin`) gives
exactly :func:`robust_snn.devices.programmed_parameters`. Here only the layout is added: hidden layer
``k`` reaches layer ``k + 1`` through ``weights_rec`` (Rockpool's mapper allocates the hidden ids), and the
readout becomes Xylo's output neurons -- a leaky readout as leaky neurons that never fire (threshold
``state_max``), a linear readout as integrate-and-fire spike counters (``dash_syn = 1``: ``beta = 1/2`` passes
the whole charge of an input spike; ``dash_mem = dash_max``: almost no leak; threshold
:func:`~robust_snn.devices.digital.spike_count_threshold`).

``calibration`` (inputs ``(batch, time, n_in)``) may size the output scale from data instead of the profile's
data-free bound: 1.25 x the largest calibration membrane (leaky) or logit (spike counts, then also the
threshold). The readout is then finer than the profile's, and the twin differs from ``programmed_parameters``
in the readout only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...core.network import SNNClassifier
from ...core.parameters import parameter_families, physical_parameters
from ...core.readout import SpikeMeanReadout
from ...devices import ChipState, Phase, digital
from .limits import XyloChip

SPIKE_COUNT_DASH_SYN = 1


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _per_neuron(scale: torch.Tensor, n: int) -> np.ndarray:
    return np.broadcast_to(scale.detach().double().reshape(-1).numpy(), (n,)).copy()


def program(model: SNNClassifier, dt: float, chip: XyloChip) -> tuple[dict, dict]:
    """``({name: (codes, scale)}, {name: dash})`` of the model's physical parameters at the chip's ``dt`` (s):
    the profile's programming stages in the profile's order, exactly as ``evaluate`` and ``qat`` apply them
    (the shifts come first, so the quantiser bounds a leaky readout's membrane with the chip's decays)."""
    params = {k: v.detach().cpu() for k, v in physical_parameters(model).items()}
    state = ChipState(params, parameter_families(model), dt)
    codes, dashes = {}, {}
    for stage in chip.profile.stages:
        if stage is chip.decay:
            dashes = stage.dashes(state.params, state.families, dt)
        elif stage is chip.quantiser:
            codes = stage.integer_codes(state.params, state.families, dt=dt)
        if stage.phase == Phase.PROGRAM:
            state = stage.apply(state, None)
    return codes, dashes


def _calibrated_scale(model: SNNClassifier, chip: XyloChip, calibration: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Output scale ``(classes,)`` sized from data, and the spike-count threshold (0 for a leaky readout)."""
    ro, q = model.readout, chip.quantiser
    bounds = [digital.scale_bound(ro.weight.detach().abs().amax(1), q.weight_bits),
              digital.scale_bound(ro.bias.detach().abs(), q.bias_bits)]
    with torch.no_grad():
        if isinstance(ro, SpikeMeanReadout):
            top = float(model(calibration).max())
            theta = 1.25 * top if top > 0 else float(digital.spike_count_threshold(ro.weight, ro.bias))
            return digital.integer_scale(bounds + [digital.scale_bound(torch.tensor(theta), q.threshold_bits)]), theta
        h = calibration
        for layer in model.layers:
            h = layer(h)
        v_max = torch.tensor(1.25 * float(ro.membrane(h).abs().max()))
    return digital.integer_scale(bounds + [digital.scale_bound(v_max, q.state_bits or q.threshold_bits)]), 0.0


def integer_spec(model: SNNClassifier, hidden_ids: list[list[int]], dt: float, chip: XyloChip,
                 calibration: torch.Tensor | None = None
                 ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray | None]:
    """``(spec, hidden_scale, out_scale, out_threshold)``: ``XyloSim.from_specification`` keyword arguments
    (integer numpy arrays, ``dt`` in s) and what decodes them (see :class:`.mapping.XyloMapping`)."""
    codes, dashes = program(model, dt, chip)
    cfg, ro = model.config, model.readout
    n_hidden, n_out = sum(len(ids) for ids in hidden_ids), cfg.n_classes
    w_in, w_rec = np.zeros((cfg.n_in, n_hidden), np.int64), np.zeros((n_hidden, n_hidden), np.int64)
    threshold, bias = np.zeros(n_hidden, np.int64), np.zeros(n_hidden, np.int64)
    dash_mem, dash_syn = np.zeros(n_hidden, np.int64), np.zeros(n_hidden, np.int64)
    s_hidden, previous = np.ones(n_hidden), None
    for k, ids in enumerate(hidden_ids):
        ids, at = np.asarray(ids, dtype=int), f"layers.{k}."
        weight, scale = codes[at + "weight"]
        if previous is None:
            w_in[:, ids] = _np(weight).T
        else:
            w_rec[np.ix_(previous, ids)] = _np(weight).T
        if at + "w_rec" in codes:
            w_rec[np.ix_(ids, ids)] = _np(codes[at + "w_rec"][0]).T
        threshold[ids], bias[ids] = _np(codes[at + "threshold"][0]), _np(codes[at + "bias"][0])
        dash_mem[ids], dash_syn[ids] = _np(dashes[at + "tau_mem"]), _np(dashes[at + "tau_syn"])
        s_hidden[ids], previous = _per_neuron(scale, len(ids)), ids
    (w_out, s_out), (b_out, _) = codes["readout.weight"], codes["readout.bias"]
    theta = float(digital.spike_count_threshold(ro.weight, ro.bias)) if isinstance(ro, SpikeMeanReadout) else 0.0
    if calibration is not None:
        s_out, theta = _calibrated_scale(model, chip, calibration)
        s_out = s_out.reshape(-1, 1)
        w_out = torch.round(ro.weight.detach() * s_out).to(torch.int64)
        b_out = torch.round(ro.bias.detach() * s_out.reshape(-1)).to(torch.int64)
    s_out = _per_neuron(s_out, n_out)
    out_w = np.zeros((n_hidden, n_out), np.int64)
    out_w[previous] = _np(w_out).T
    if isinstance(ro, SpikeMeanReadout):
        dash_mem_out, dash_syn_out = np.full(n_out, chip.dash_max), np.full(n_out, SPIKE_COUNT_DASH_SYN)
        threshold_out = np.round(theta * s_out).astype(np.int64)
        out_threshold = threshold_out / s_out
    else:
        dash_mem_out, dash_syn_out = _np(dashes["readout.tau_mem"]), _np(dashes["readout.tau_syn"])
        threshold_out, out_threshold = np.full(n_out, chip.state_max, np.int64), None
    spec = {
        "weights_in": w_in, "weights_rec": w_rec, "weights_out": out_w,
        "dash_mem": dash_mem, "dash_mem_out": dash_mem_out, "dash_syn": dash_syn, "dash_syn_2": dash_syn.copy(),
        "dash_syn_out": dash_syn_out, "threshold": threshold, "threshold_out": threshold_out,
        "bias": bias, "bias_out": _np(b_out).astype(np.int64),
        "weight_shift_in": 0, "weight_shift_rec": 0, "weight_shift_out": 0,
        "aliases": [[] for _ in range(n_hidden)], "dt": float(dt),
    }
    return spec, s_hidden, s_out, out_threshold


__all__ = ["SPIKE_COUNT_DASH_SYN", "integer_spec", "program"]
