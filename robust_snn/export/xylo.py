"""Map an :class:`SNNClassifier` onto SynSense Xylo Audio 2 (SYNS61201) and check it in XyloSim.

Pipeline: ``to_rockpool(model).net.as_graph()`` -> Rockpool's ``mapper`` (design-rule check, hidden-neuron
allocation, weight-matrix assembly) -> Rockpool's ``channel_quantize`` (hidden population: 8-bit weights,
16-bit thresholds, one scale per neuron) -> biases, exact bit-shift decays and the output layer done here -> a
hardware *specification*: the keyword arguments of ``XyloSim.from_specification`` (and of Rockpool's
``config_from_specification`` where ``samna`` is installed), integers as numpy arrays, plus ``dt`` (seconds).

The chip, per step (integers; ``decay(v) = v >> dash``, an arithmetic shift, or ``sign(v)`` if that is 0)::

    I += W_in x[t] + W_rec S[t-1];   I -= decay(I, dash_syn)
    V += I + b - decay(V, dash_mem); while V >= threshold (at most 31 times; outputs once): spike, V -= threshold

which is our LIF update (:mod:`robust_snn.core.lif`) with ``alpha, beta = 1 - 2**-dash``. All hidden layers
share one recurrent "reservoir": layer ``k`` reaches layer ``k+1`` through ``weights_rec`` and the last one
reaches the outputs through ``weights_out``, each hop one step late (the spikes of step ``t-1``), so a net
with ``L`` hidden layers answers ``L`` steps later on the chip (:attr:`XyloMapping.delay_steps`).

Limits checked (:func:`xylo_violations`): 16 inputs, 1000 hidden and 8 output neurons, 8-bit weights, 16-bit
thresholds and biases, 4-bit shifts, at most 64 hidden targets per hidden neuron and 32000 hidden-to-hidden
synapses in all, no adaptive thresholds.

Readouts (Xylo's outputs are neurons: at most 8, non-recurrent; the mapper drops biases on weights):

- ``readout="leaky"`` maps exactly: output neurons with the readout's weights, decays and bias and threshold
  ``32767`` (never fires unless the membrane saturates); logits = mean over time of the output membrane,
  read with ``output_mode="Vmem"`` (Xylo Audio 2 reads output membranes in accelerated mode). Xylo-native:
  train this readout for deployment.
- ``readout="spike_mean"`` (``logits = W mean_t S + b``) maps approximately, as integrate-and-fire output
  neurons whose **spike counts are the logits**: ``dash_syn_out = 1`` (``beta = 1/2`` passes the whole charge
  of each input spike, spread over a few steps), ``dash_mem_out = 15`` (almost no leak), bias ``b``, threshold
  ``theta``; ``count_c * theta / T`` approximates ``logit_c``, rectified (negative logits do not fire; all
  logits <= 0 give no spike: a tie), in steps of ``theta / T``, at most one spike per step.

Quantisation: neuron ``j`` has its own scale ``s_j`` (integer units per float unit), ``127 / max|incoming
weight|`` or less when its 16-bit threshold would overflow; weights, threshold and bias become
``round(s_j * value)``. Output scales also keep the output membrane inside 16 bits, sized from a
``calibration`` batch when given (1.25 x the largest membrane, or ``theta`` = 1.25 x the largest logit),
else from data-free worst-case bounds (safe but coarser). Decays are rounded as shifts,
``dash = round(-log2(1 - exp(-dt / tau)))``: representable ``tau`` are about ``(2**dash - 0.5) dt``, so the
defaults 0.1 s / 0.05 s at ``dt = 0.01`` s become 0.075 s / 0.035 s. :func:`quantised_twin` is our float
model with exactly these values put back (``int / s_j``, ``tau = -dt / ln(1 - 2**-dash)``), and
:func:`compare_with_xylosim` measures how closely XyloSim follows it. What still differs, by design of the
chip: integer states; shifts round towards minus infinity (about +0.5 unit per step on every non-zero state,
so membranes sit ~``(0.5 + 0.5 * 2**dash_syn) * 2**dash_mem`` units high) and never decay by less than 1;
16-bit saturation; up to 31 spikes per step in a hidden neuron where ours emits one (strongly driven
recurrent nets then run away on the chip); input counts capped at 15 per step.

Rockpool pitfalls handled here (Rockpool 3.1):

- ``rockpool.devices.xylo`` imports ``samna`` at module level; :mod:`.samna_shim` stubs it for the import.
- ``config_from_specification`` builds a ``samna`` object, so it is unusable without ``samna``;
  ``XyloSim.from_specification(**spec)`` is the samna-free path to the same simulator.
- ``mapper`` converts ``dash = log2(tau / dt)`` (first order; off for short ``tau``) and refuses any
  ``tau <= dt``, which Xylo can represent (``dash`` 0 or 1): we compute the exact shift ourselves.
- ``channel_quantize`` never scales hidden biases when each neuron has one synapse (a bias of 0.03 becomes 0),
  scales them in the caller's array when it has two, and rescales output biases in place; ``global_quantize``
  scales output biases with the hidden scale. Biases are quantised here, with each neuron's own scale.
- Both quantisers size output weights for precision only; a leaky readout's membrane then saturates 16 bits
  (and a readout threshold of ``1e30``, ours in Rockpool, would zero every output weight).
- ``XyloSim`` keeps its state between ``evolve`` calls: reset it before every sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.lif import LIFLayer
from ..core.network import NetworkConfig, SNNClassifier
from ..core.readout import SpikeMeanReadout
from ..io.atomic import write_json_atomic
from .samna_shim import import_xylo

CHIP = "Xylo Audio 2"
MAX_INPUTS, MAX_HIDDEN, MAX_OUTPUTS = 16, 1000, 8
MAX_WEIGHT = 2**7 - 1  # 8-bit signed weights
MAX_STATE = 2**15 - 1  # 16-bit signed thresholds, biases, currents and membranes
MAX_DASH = 15  # 4-bit decay shifts
# Hidden-to-hidden synapses (recurrent and layer-to-layer weights, non-zero ones only): at most 64 targets per
# neuron and 32 per neuron on average (rockpool.ai Xylo overview: "Max. fanout 64, Avg. fanout 32+32 (Syn1 and
# Syn2)"); the average is the size of the synapse-1 recurrent weight RAM (RWTRAM, 0x12620..0x1A320 = 32000
# entries in Rockpool's xa2_devkit_utils memory table).
MAX_FANOUT, MAX_REC_SYNAPSES = 64, 32000
SPIKE_COUNT_DASH_SYN, SPIKE_COUNT_DASH_MEM = 1, MAX_DASH
HW_KEYS = ("weights_in", "weights_rec", "weights_out", "dash_mem", "dash_mem_out", "dash_syn", "dash_syn_2",
           "dash_syn_out", "threshold", "threshold_out", "bias", "bias_out", "weight_shift_in",
           "weight_shift_rec", "weight_shift_out", "aliases", "dt")


class XyloMappingError(ValueError):
    """The model does not fit Xylo Audio 2; ``violations`` lists every reason by name."""

    def __init__(self, violations: list[str]) -> None:
        super().__init__(f"model does not fit {CHIP}: " + "; ".join(violations))
        self.violations = list(violations)


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
        """Chip latency in steps relative to our model: one per hidden layer (see the module docstring)."""
        return len(self.hidden_ids)


def exact_dash(tau: np.ndarray, dt: float) -> np.ndarray:
    """Real-valued bit shift with ``1 - 2**-dash = exp(-dt / tau)`` (``tau``, ``dt`` in seconds)."""
    return -np.log2(-np.expm1(-dt / np.asarray(tau, dtype=np.float64)))


def dash_to_tau(dash: np.ndarray, dt: float) -> np.ndarray:
    """Time constant (s) whose decay ``exp(-dt / tau)`` equals the chip's ``1 - 2**-dash``.

    ``dash = 0`` (the state is cleared every step) maps to ``dt / 1000``, whose decay is 0 in float32.
    """
    dash = np.asarray(dash, dtype=np.float64)
    with np.errstate(divide="ignore"):
        tau = -dt / np.log1p(-(2.0 ** -dash))
    return np.where(dash > 0, tau, dt / 1000.0)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _structural_violations(model: Any, dt: float) -> list[str]:
    """What can be told without mapping: sizes, neuron model, finite values, time-constant range."""
    if not isinstance(model, SNNClassifier):
        return [f"model: {type(model).__name__} is not an SNNClassifier; only our networks map to {CHIP}"]
    cfg, out = model.config, []
    if not (math.isfinite(dt) and dt > 0):
        out.append(f"dt: {dt!r} is not a positive number of seconds")
        return out
    if cfg.n_in > MAX_INPUTS:
        out.append(f"input channels: {cfg.n_in} > {MAX_INPUTS} ({CHIP})")
    if cfg.n_classes > MAX_OUTPUTS:
        out.append(f"output channels: {cfg.n_classes} > {MAX_OUTPUTS} ({CHIP})")
    if sum(cfg.hidden) > MAX_HIDDEN:
        out.append(f"hidden neurons: {sum(cfg.hidden)} > {MAX_HIDDEN} ({CHIP})")
    longest = float(dash_to_tau(MAX_DASH + 0.5, dt))
    for i, layer in enumerate(model.layers):
        if layer.adaptive:
            out.append(f"layer {i}: adaptive threshold (spike-frequency adaptation) has no {CHIP} equivalent")
    taus = [(f"layer {i}", layer) for i, layer in enumerate(model.layers)]
    if not isinstance(model.readout, SpikeMeanReadout):
        taus.append(("readout", model.readout))
    for where, module in taus:
        for name in ("tau_mem", "tau_syn"):
            too_long = int((torch.as_tensor(getattr(module, name)) > longest).sum())
            if too_long:
                out.append(f"{where} {name}: {too_long} value(s) > {longest:.4g} s, longer than the slowest "
                           f"{CHIP} decay (shift {MAX_DASH}) at dt={dt:g} s")
    for name, value in model.named_parameters():
        if not torch.isfinite(value).all():
            out.append(f"{name}: non-finite values")
    return out


def _rockpool_graph(model: SNNClassifier, dt: float) -> tuple[Any, list[Any]]:
    """Rockpool graph of ``model`` with the readout as output neurons; also the hidden ``LIFTorch`` modules.

    Taus are set to a placeholder (``2 dt``) that the mapper accepts; the real shifts are computed later.
    """
    from rockpool.graph import LIFNeuronWithSynsRealValue
    from rockpool.graph.utils import find_modules_of_subclass
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch

    from ..interop.rockpool import NEVER_SPIKES, to_rockpool

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


def _scales(w: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """Per-neuron scale of ``channel_quantize``: ``127 / max|w[:, j]|`` (1 for no input), capped by 16-bit θ."""
    max_w = np.abs(w).max(axis=0) if w.size else np.zeros(w.shape[1])
    s = np.where(max_w > 0, MAX_WEIGHT / np.where(max_w > 0, max_w, 1.0), 1.0)
    over = (max_w > 0) & (np.abs(np.round(threshold * s)) > MAX_STATE)
    return np.where(over, MAX_STATE / np.where(threshold != 0, threshold, 1.0), s)


def _output_scale(model: SNNClassifier, w_out: np.ndarray, dt: float,
                  calibration: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-class output scale (integer units per float unit) and, for spike counts, the float threshold.

    Spike-count neurons (``spike_mean``): threshold ``theta`` = 1.25 x the largest calibration logit, or the
    data-free bound ``max_c sum_j max(W_cj, 0) + max(b_c, 0)``; scale as for hidden neurons. Leaky readout: the
    membrane never resets, so the scale also keeps ``|V|`` inside 16 bits: ``s <= 32767 / V_max`` with
    ``V_max`` 1.25 x the largest calibration membrane, or the bound ``(beta sum|W| / (1 - beta) + |b|) /
    (1 - alpha)`` (one spike per hidden neuron and step).
    """
    ro = model.readout
    max_w = np.abs(w_out).max(axis=0)
    s = np.where(max_w > 0, MAX_WEIGHT / np.where(max_w > 0, max_w, 1.0), 1.0)
    with torch.no_grad():
        if isinstance(ro, SpikeMeanReadout):
            top = float(model(calibration).max()) if calibration is not None else 0.0
            bound = float((ro.weight.clamp(min=0).sum(1) + ro.bias.clamp(min=0)).max())
            theta = 1.25 * top if top > 0 else max(bound, 1e-6)
            return np.minimum(s, MAX_STATE / theta), np.full(w_out.shape[1], theta)
        if calibration is not None:
            h = calibration
            for layer in model.layers:
                h = layer(h)
            v_max = np.full(w_out.shape[1], 1.25 * float(ro.membrane(h).abs().max()))
        else:
            alpha, beta = np.exp(-dt / _np(ro.tau_mem)), np.exp(-dt / _np(ro.tau_syn))
            i_max = beta * np.abs(w_out).sum(axis=0) / (1 - beta)
            v_max = (i_max + np.abs(_np(ro.bias))) / (1 - alpha)
    return np.minimum(s, MAX_STATE / np.maximum(v_max, 1e-12)), None


def _quantise(model: SNNClassifier, raw: dict, hidden_ids: list[list[int]], dt: float,
              calibration: torch.Tensor | None) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray | None, list[str]]:
    """Integer spec from the mapper's float one. Hidden population: Rockpool's ``channel_quantize``; biases,
    decays and the output layer (which needs 16-bit headroom that ``channel_quantize`` ignores): here."""
    tools = import_xylo()
    cfg, ro = model.config, model.readout
    n_hidden, n_out, violations = raw["weights_rec"].shape[0], cfg.n_classes, []
    order = np.concatenate([np.asarray(ids, dtype=int) for ids in hidden_ids])
    cat = lambda xs: np.concatenate([_np(x) for x in xs])[np.argsort(order)]  # noqa: E731 - layer -> hw order
    threshold, bias = cat(la.threshold for la in model.layers), cat(la.bias for la in model.layers)
    w_in, w_rec, w_out = (np.asarray(raw[k], dtype=np.float64) for k in ("weights_in", "weights_rec", "weights_out"))
    s_hidden = _scales(np.concatenate([w_in, w_rec]), threshold)
    q = tools.channel_quantize(
        weights_in=w_in, weights_rec=w_rec, weights_out=w_out, threshold=threshold, threshold_out=np.ones(n_out),
        dash_mem=np.ones(n_hidden), dash_mem_out=np.ones(n_out), dash_syn=np.ones(n_hidden),
        dash_syn_2=np.ones(n_hidden), dash_syn_out=np.ones(n_out), bias=None, bias_out=None,
    )
    for key, w in (("weights_in", w_in), ("weights_rec", w_rec), ("threshold", threshold)):
        q[key] = np.asarray(q[key]).reshape(w.shape)
        if not np.array_equal(q[key], np.round(w * s_hidden)):
            raise RuntimeError(f"Rockpool's channel_quantize no longer uses the per-neuron scale rule ({key})")
    s_out, theta = _output_scale(model, w_out, dt, calibration)
    b_int, b_out_int = np.round(bias * s_hidden), np.round(_np(ro.bias) * s_out)
    dash_mem = exact_dash(cat(la.tau_mem for la in model.layers), dt)
    dash_syn = exact_dash(cat(la.tau_syn for la in model.layers), dt)
    if theta is not None:  # spike-count outputs
        dash_mem_out, dash_syn_out = np.full(n_out, SPIKE_COUNT_DASH_MEM), np.full(n_out, SPIKE_COUNT_DASH_SYN)
        threshold_out = np.round(theta * s_out)
        out_threshold = threshold_out / s_out
    else:
        dash_mem_out, dash_syn_out = exact_dash(_np(ro.tau_mem), dt), exact_dash(_np(ro.tau_syn), dt)
        threshold_out, out_threshold = np.full(n_out, MAX_STATE), None
    for where, values in (("hidden bias", b_int), ("output bias", b_out_int)):
        if np.abs(values).max(initial=0) > MAX_STATE:
            violations.append(f"{where}: {int((np.abs(values) > MAX_STATE).sum())} neuron(s) need more than "
                              f"16 bits after quantisation (|bias| * scale > {MAX_STATE})")
    fanout = np.count_nonzero(q["weights_rec"], axis=1)
    if fanout.max(initial=0) > MAX_FANOUT:
        violations.append(f"hidden fan-out: {int((fanout > MAX_FANOUT).sum())} neuron(s) project to more than "
                          f"{MAX_FANOUT} hidden neurons (largest {int(fanout.max())}; {CHIP} max fan-out "
                          f"{MAX_FANOUT})")
    n_rec = int(fanout.sum())
    if n_rec > MAX_REC_SYNAPSES:
        violations.append(f"recurrent synapses: {n_rec} > {MAX_REC_SYNAPSES} ({CHIP} recurrent weight memory, "
                          "shared by recurrent and layer-to-layer weights)")
    dash = lambda d: np.clip(np.round(d), 0, MAX_DASH).astype(int)  # noqa: E731
    state = lambda a: np.clip(np.asarray(a), -MAX_STATE, MAX_STATE).astype(int)  # noqa: E731
    spec = {
        "weights_in": q["weights_in"].astype(int), "weights_rec": q["weights_rec"].astype(int),
        "weights_out": np.round(w_out * s_out).astype(int),
        "dash_mem": dash(dash_mem), "dash_mem_out": dash(dash_mem_out), "dash_syn": dash(dash_syn),
        "dash_syn_2": dash(dash_syn), "dash_syn_out": dash(dash_syn_out),
        "threshold": state(q["threshold"]), "threshold_out": state(threshold_out),
        "bias": state(b_int), "bias_out": state(b_out_int),
        "weight_shift_in": 0, "weight_shift_rec": 0, "weight_shift_out": 0,
        "aliases": [[] for _ in range(n_hidden)], "dt": float(dt),
    }
    return spec, s_hidden, s_out, out_threshold, violations


def _map(model: Any, dt: float | None, calibration: torch.Tensor | None) -> tuple[XyloMapping | None, list[str]]:
    dt = float(model.config.dt if dt is None and isinstance(model, SNNClassifier) else (dt or 0.0))
    violations = _structural_violations(model, dt)
    if violations:
        return None, violations
    tools = import_xylo()
    from rockpool.devices.xylo.syns61201 import Xylo2HiddenNeurons
    from rockpool.graph.utils import find_modules_of_subclass

    graph, hidden_lifs = _rockpool_graph(model, dt)
    try:
        raw = tools.mapper(graph, weight_dtype="float", threshold_dtype="float", dash_dtype="float",
                           max_hidden_neurons=MAX_HIDDEN, max_output_neurons=MAX_OUTPUTS)
    except (tools.drc_error, ValueError) as exc:
        cause = exc.__cause__ or exc
        return None, [f"Rockpool mapper: {' '.join(str(exc).split())}"
                      + (f" ({' '.join(str(cause).split())})" if cause is not exc else "")]
    ids_of = {id(n.computational_module): list(n.hw_ids)
              for n in find_modules_of_subclass(raw["mapped_graph"], Xylo2HiddenNeurons)}
    hidden_ids = [ids_of[id(lif)] for lif in hidden_lifs]
    spec, s_hidden, s_out, out_threshold, violations = _quantise(model, raw, hidden_ids, dt, calibration)
    config = NetworkConfig(**{**model.config.to_dict(), "dt": dt})
    mapping = XyloMapping(spec, tuple(tuple(ids) for ids in hidden_ids), s_hidden, s_out, model.config.readout,
                          config, out_threshold)
    return mapping, violations


def xylo_violations(model: SNNClassifier, dt: float | None = None) -> list[str]:
    """Every reason ``model`` does not fit Xylo Audio 2, one named string each (empty: it fits).

    ``dt`` (s): the chip's time step, default the model's. Checks sizes (16 inputs, 1000 hidden neurons, 8
    outputs), the neuron model, decay range, Rockpool's design rules, and after quantisation 16-bit biases,
    the hidden fan-out (64 targets) and the recurrent weight memory (32000 hidden-to-hidden synapses).
    Raises ``ImportError`` only if Rockpool's Xylo support cannot be imported.
    """
    return _map(model, dt, None)[1]


def map_to_xylo(model: SNNClassifier, dt: float | None = None, *,
                calibration: torch.Tensor | None = None) -> XyloMapping:
    """Quantised Xylo mapping of ``model``; raises :class:`XyloMappingError` listing every violation.

    ``dt`` (s): the chip's time step, default the model's (time constants keep their values in seconds).
    ``calibration`` ``(batch, time, n_in)``: typical inputs, used only to size the output layer's 16-bit
    range (see the module docstring); without it, data-free bounds are used.
    """
    mapping, violations = _map(model, dt, calibration)
    if violations or mapping is None:
        raise XyloMappingError(violations)
    return mapping


def to_xylo_spec(model: SNNClassifier, dt: float | None = None, *,
                 calibration: torch.Tensor | None = None) -> dict[str, Any]:
    """The hardware specification: ``XyloSim.from_specification(**spec)`` builds the simulator."""
    return map_to_xylo(model, dt, calibration=calibration).spec


def _as_mapping(source: SNNClassifier | XyloMapping, dt: float | None,
                calibration: torch.Tensor | None) -> XyloMapping:
    return source if isinstance(source, XyloMapping) else map_to_xylo(source, dt, calibration=calibration)


def quantised_twin(source: SNNClassifier | XyloMapping, dt: float | None = None, *,
                   calibration: torch.Tensor | None = None) -> SNNClassifier:
    """Our float model with the chip's values: ``int / scale`` for weights, thresholds and biases, and
    ``tau = -dt / ln(1 - 2**-dash)`` (s) for the decays. Same architecture; runs at the mapping's ``dt``."""
    m = _as_mapping(source, dt, calibration)
    spec, t = m.spec, lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=torch.float32)
    twin = SNNClassifier(m.config)
    with torch.no_grad():
        previous = None
        for layer, ids in zip(twin.layers, m.hidden_ids):
            ids, s = list(ids), m.hidden_scale[list(ids)]
            w = spec["weights_in"][:, ids] if previous is None else spec["weights_rec"][np.ix_(previous, ids)]
            layer.weight.copy_(t(w.T / s[:, None]))
            if layer.recurrent:
                layer.w_rec.copy_(t(spec["weights_rec"][np.ix_(ids, ids)].T / s[:, None]))
            layer.bias.copy_(t(spec["bias"][ids] / s))
            layer.threshold = t(spec["threshold"][ids] / s)
            layer.tau_mem = t(dash_to_tau(spec["dash_mem"][ids], m.dt))
            layer.tau_syn = t(dash_to_tau(spec["dash_syn"][ids], m.dt))
            previous = ids
        ro = twin.readout
        ro.weight.copy_(t(spec["weights_out"][previous].T / m.out_scale[:, None]))
        ro.bias.copy_(t(spec["bias_out"] / m.out_scale))
        if not isinstance(ro, SpikeMeanReadout):
            ro.tau_mem = t(dash_to_tau(spec["dash_mem_out"], m.dt))
            ro.tau_syn = t(dash_to_tau(spec["dash_syn_out"], m.dt))
    return twin.eval()


def xylo_sim(source: SNNClassifier | XyloMapping, dt: float | None = None, *,
             calibration: torch.Tensor | None = None, output_mode: str | None = None) -> Any:
    """Rockpool ``XyloSim`` (bit-accurate C++ simulator, extra ``xylo``) of the mapped model.

    ``output_mode`` defaults to ``"Vmem"`` for a leaky readout and ``"Spike"`` for spike counts.
    Call ``reset_state()`` before every sample: XyloSim keeps its state between ``evolve`` calls.
    """
    tools = import_xylo()
    if tools.xylo_sim is None:
        raise ImportError("XyloSim needs the C++ simulator 'xylosim': pip install 'robust-snn[xylo]'")
    m = _as_mapping(source, dt, calibration)
    mode = output_mode or ("Vmem" if m.readout == "leaky" else "Spike")
    return tools.xylo_sim.from_specification(**{k: m.spec[k] for k in HW_KEYS}, output_mode=mode)


def _delay(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(batch, time, n)`` one step later (zeros at t = 0): a layer-to-layer hop on the chip."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


def twin_on_chip_clock(twin: SNNClassifier, mapping: XyloMapping,
                       spikes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``twin`` the way the chip is wired: ``(hidden spikes, output)`` over ``time + delay_steps`` steps.

    Each hidden layer after the first, and the readout, sees the spikes of the previous step (see the module
    docstring); the input is padded with ``delay_steps`` silent steps so the last input reaches the output.
    ``hidden`` ``(batch, steps, n_hidden_total)`` in hardware-neuron order. ``output`` ``(batch, steps,
    classes)``: the readout membrane (``leaky``) or the spike-count neurons' spikes (``spike_mean``).
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
            counter = LIFLayer(ro.n_in, ro.n_classes, dt=mapping.dt,
                               tau_mem=torch.as_tensor(dash_to_tau(SPIKE_COUNT_DASH_MEM, mapping.dt)),
                               tau_syn=torch.as_tensor(dash_to_tau(SPIKE_COUNT_DASH_SYN, mapping.dt)),
                               threshold=torch.as_tensor(mapping.out_threshold, dtype=torch.float32),
                               bias=ro.bias.detach())
            counter.weight.copy_(ro.weight)
            out = counter(h)
    order = np.concatenate([np.asarray(ids, dtype=int) for ids in mapping.hidden_ids])
    return torch.cat(hidden, dim=2)[..., torch.as_tensor(np.argsort(order))], out


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
    if not torch.equal(counts, counts.round()) or counts.min() < 0 or counts.max() > 15:
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


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_xylo_spec(path: str | Path, spec: dict[str, Any] | XyloMapping) -> None:
    """Write a specification as JSON (arrays as nested lists), atomically.

    Given a :class:`XyloMapping`, the file also carries, under ``"robust_snn"``, what decodes the outputs
    (readout kind, scales, hidden-neuron ids, spike-count threshold, architecture); drop that key before
    ``XyloSim.from_specification(**spec)``.
    """
    if isinstance(spec, XyloMapping):
        meta = {"chip": CHIP, "readout": spec.readout, "hidden_ids": spec.hidden_ids,
                "hidden_scale": spec.hidden_scale, "out_scale": spec.out_scale,
                "out_threshold": spec.out_threshold, "delay_steps": spec.delay_steps,
                "architecture": spec.config.to_dict()}
        payload = {**spec.spec, "robust_snn": meta}
    else:
        unknown = sorted(set(spec) - set(HW_KEYS))
        if unknown:
            raise ValueError(f"not a Xylo specification key: {', '.join(unknown)} (expected {', '.join(HW_KEYS)})")
        payload = dict(spec)
    write_json_atomic(path, _jsonable(payload))


__all__ = [
    "XyloMapping", "XyloMappingError", "compare_with_xylosim", "dash_to_tau", "exact_dash", "map_to_xylo",
    "quantised_twin", "to_xylo_spec", "twin_on_chip_clock", "write_xylo_spec", "xylo_sim", "xylo_violations",
]
