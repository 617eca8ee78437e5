"""XyloSim, Rockpool's bit-accurate C++ simulator of Xylo Audio 2 (extra ``xylo``), and how closely it follows
our quantised twin.

What still differs between them, by design of the chip: integer states; shifts round towards minus infinity
(about +0.5 unit per step on every non-zero state, so membranes sit ~``(0.5 + 0.5 * 2**dash_syn) *
2**dash_mem`` units high) and never decay by less than 1; 16-bit saturation; up to 31 spikes per step in a
hidden neuron where ours emits one (strongly driven recurrent nets then run away on the chip); input counts
capped at 15 per step. ``XyloSim`` keeps its state between ``evolve`` calls: it is reset before every sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...core.network import SNNClassifier
from ..samna_shim import import_xylo
from .mapping import HW_KEYS, XyloMapping, as_mapping, map_to_xylo
from .twin import quantised_twin, twin_on_chip_clock

MAX_INPUT_COUNT = 15  # input spikes per channel and step that Xylo accepts


def xylo_sim(source: SNNClassifier | XyloMapping, dt: float | None = None, *,
             calibration: torch.Tensor | None = None, output_mode: str | None = None) -> Any:
    """Rockpool ``XyloSim`` (bit-accurate C++ simulator, extra ``xylo``) of the mapped model.

    ``output_mode`` defaults to ``"Vmem"`` for a leaky readout and ``"Spike"`` for spike counts.
    Call ``reset_state()`` before every sample: XyloSim keeps its state between ``evolve`` calls.
    """
    tools = import_xylo()
    if tools.xylo_sim is None:
        raise ImportError("XyloSim needs the C++ simulator 'xylosim': pip install 'robust-snn[xylo]'")
    m = as_mapping(source, dt, calibration)
    mode = output_mode or ("Vmem" if m.readout == "leaky" else "Spike")
    return tools.xylo_sim.from_specification(**{k: m.spec[k] for k in HW_KEYS}, output_mode=mode)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float(np.array_equal(a, b))
    return float(np.corrcoef(a, b)[0, 1])


def compare_with_xylosim(model: SNNClassifier, spikes: torch.Tensor, dt: float | None = None, *,
                         labels: torch.Tensor | None = None, calibration: torch.Tensor | None = None,
                         window: int = 10) -> dict[str, float]:
    """Agreement between XyloSim and our quantised twin on the same integer input spikes.

    ``spikes`` ``(batch, time, n_in)``: integer spike counts per step, 0..15 (Xylo's input limit). Both run
    on the chip's clock (:func:`twin_on_chip_clock`), so what differs is the arithmetic alone (integer states,
    shift decays that round towards minus infinity and never decay by less than 1, 16-bit saturation, up to 31
    spikes per step in a hidden neuron). Returned fractions are in [0, 1], correlations in [-1, 1]:

    - ``hidden_spike_match``: identical hidden spike counts per (sample, step, neuron), silent entries
      included; ``hidden_spike_jaccard``: entries where both spike over entries where either does;
      ``hidden_count_correlation``: of per-(sample, neuron) spike counts; ``hidden_rate_chip``/``_twin``
      (spikes per neuron per step); ``hidden_multi_spike_fraction``: chip spike events with more than one spike;
      ``first_divergence_step``: median first step at which any hidden neuron differs (steps if never).
    - ``output_trace_correlation``: of the output membranes (leaky) or ``output_spike_match``/
      ``output_count_correlation`` of the spike-count outputs (spike_mean).
    - ``logit_correlation``, ``argmax_match`` (chip vs twin on the chip clock), ``argmax_match_twin`` (chip vs
      ``twin(x)``), ``argmax_match_float`` (chip vs ``model(x)``), ``twin_vs_float_argmax_match`` (the cost
      of quantisation alone), ``window_argmax_match`` (per ``window``-step window of the output).
    - with ``labels`` ``(batch,)``: ``chip_accuracy``, ``twin_accuracy``, ``float_accuracy``.
    """
    if spikes.dim() != 3 or spikes.shape[-1] != model.config.n_in:
        raise ValueError(f"spikes must be (batch, time, {model.config.n_in}), got {tuple(spikes.shape)}")
    counts = spikes.detach().cpu()
    if not torch.equal(counts, counts.round()) or counts.min() < 0 or counts.max() > MAX_INPUT_COUNT:
        raise ValueError("spikes must be integer spike counts in 0..15 per step (Xylo's input limit)")
    mapping = map_to_xylo(model, dt, calibration=calibration)
    twin, sim = quantised_twin(mapping), xylo_sim(mapping)
    hidden_twin, out_twin = (t.numpy() for t in twin_on_chip_clock(twin, mapping, counts))
    raster = np.concatenate([counts.numpy().astype(int),
                             np.zeros((counts.shape[0], mapping.delay_steps, counts.shape[2]), int)], axis=1)
    hidden_chip, out_chip = [], []
    for sample in raster:
        sim.reset_state()
        out, _, rec = sim.evolve(sample, record=True)
        hidden_chip.append(rec["Spikes"])
        out_chip.append(rec["Vmem_out"] if mapping.readout == "leaky" else out)
    hidden_chip, out_chip = np.stack(hidden_chip).astype(np.float64), np.stack(out_chip).astype(np.float64)
    steps, delay = counts.shape[1], mapping.delay_steps
    with torch.no_grad():
        logits_twin, logits_float = twin(counts.float()).numpy(), model(counts.float()).numpy()
    if mapping.readout == "leaky":
        out_chip = out_chip / mapping.out_scale
        readout = {"output_trace_correlation": _corr(out_chip, out_twin)}
        chip, clocked = out_chip[:, delay:].mean(1), out_twin[:, delay:].mean(1)
    else:
        readout = {"output_spike_match": float((out_chip == out_twin).mean()),
                   "output_count_correlation": _corr(out_chip.sum(1), out_twin.sum(1))}
        chip, clocked = (o.sum(1) * mapping.out_threshold / steps for o in (out_chip, out_twin))
    n_win = max(1, (steps + delay) // window)
    win = lambda o: o[:, : n_win * window].reshape(o.shape[0], n_win, -1, o.shape[2]).sum(2).argmax(-1)  # noqa: E731
    differs = (hidden_chip != hidden_twin).any(-1)
    first = np.where(differs.any(1), differs.argmax(1), steps + delay)
    events = hidden_chip[hidden_chip > 0]
    union = int(((hidden_chip > 0) | (hidden_twin > 0)).sum())
    accuracy = {}
    if labels is not None:
        y = np.asarray(labels).reshape(-1)
        accuracy = {f"{name}_accuracy": float((pred == y).mean()) for name, pred in
                    (("chip", chip.argmax(1)), ("twin", logits_twin.argmax(1)), ("float", logits_float.argmax(1)))}
    return {
        "samples": float(counts.shape[0]), "steps": float(steps), **accuracy,
        "hidden_spike_match": float((hidden_chip == hidden_twin).mean()),
        "hidden_spike_jaccard": float(((hidden_chip > 0) & (hidden_twin > 0)).sum() / union) if union else 1.0,
        "hidden_count_correlation": _corr(hidden_chip.sum(1), hidden_twin.sum(1)),
        "hidden_rate_chip": float(hidden_chip.mean()), "hidden_rate_twin": float(hidden_twin.mean()),
        "hidden_multi_spike_fraction": float((events > 1).mean()) if events.size else 0.0,
        "first_divergence_step": float(np.median(first)),
        **readout,
        "logit_correlation": _corr(chip, clocked),
        "argmax_match": float((chip.argmax(1) == clocked.argmax(1)).mean()),
        "argmax_match_twin": float((chip.argmax(1) == logits_twin.argmax(1)).mean()),
        "argmax_match_float": float((chip.argmax(1) == logits_float.argmax(1)).mean()),
        "twin_vs_float_argmax_match": float((logits_twin.argmax(1) == logits_float.argmax(1)).mean()),
        "window_argmax_match": float((win(out_chip) == win(out_twin)).mean()),
    }


__all__ = ["MAX_INPUT_COUNT", "compare_with_xylosim", "xylo_sim"]
