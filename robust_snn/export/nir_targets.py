"""NIR graphs written for a named consumer: one network, the form each simulator's importer reads.

NIR's ``CubaLIF`` is continuous-time (``tau_syn dI/dt = -I + w_in S``, ``tau_mem dv/dt = v_leak - v + r I``),
and every importer discretises it its own way, with its own fixed step and its own restrictions. Our network
is discrete (``robust_snn.core.lif``; ``alpha = exp(-dt/tau_mem)``, ``beta = exp(-dt/tau_syn)``):

    I[t] = beta (I[t-1] + W x[t] + W_rec S[t-1]),   V[t] = alpha V[t-1] + I[t] + b,
    S[t] = H(V[t] - theta),   V[t] -= theta S[t]     (reset by subtraction; states start at 0)

So each consumer gets the graph whose discretisation *by that importer* gives these equations:

- ``rockpool`` (default; :mod:`robust_snn.export.nir`): ``Linear(W) -> CubaLIF(r = tau_mem/dt - 1, v_leak = b,
  w_in = 1)``; exact spikes through Rockpool's ``from_nir``; our own importer reads this form.
- ``snntorch``, ``norse``, ``spyx`` (forward Euler at the importer's step ``dt_c``: ``I <- (1 - dt_c/tau_syn) I
  + (dt_c/tau_syn) w_in x``): ``Affine(beta W, (1 - beta) b) -> CubaLIF(tau_syn = dt_c/(1 - beta), tau_mem =
  dt_c/(1 - alpha), r = tau_mem/dt_c, w_in = tau_syn/dt_c, v_leak = 0)``; recurrent weights ``beta W_rec`` in a
  ``{input, lif, w_rec, output}`` sub-graph (for snntorch with node names prefixed by the sub-graph's key,
  ``layerN_rec.lif``, the form nirtorch 2.6 wires as ``lif(input + w_rec(S[t-1]))``). ``dt_c`` is the importer's default: snntorch hard-codes
  ``1e-4`` s, Norse defaults to ``1e-3`` s, Spyx to ``1``. snntorch also wants one threshold per layer, so
  each neuron's incoming weights and bias are divided by its threshold and the threshold set to 1 (spikes
  unchanged: the dynamics are linear in ``V`` up to the threshold).
- ``sinabs`` (no ``CubaLIF``, time constants in steps): ``Affine(beta W, 0) -> LI(tau = tau_syn/dt) -> LIF(tau
  = tau_mem/dt, theta)`` plus a zero-weight ``Affine(0, b)`` from the ``LI`` into the ``LIF``, which adds the
  bias to the membrane each step exactly as we do. The leaky readout becomes ``LI -> LI``.

What still differs (measured in ``tests/test_nir_consumers.py``; see the README's Export section):

- The bias enters the synaptic current in the Euler forms, whose state starts at 0 where ours starts at
  ``b``: the membrane lacks ``b beta^(t+1)`` at step ``t`` (a transient of a few ``tau_syn``).
- snntorch's importer forces reset to zero, Norse's defaults to it (``from_nir(..., reset_method=
  reset_subtract)`` gives ours), sinabs's LIF emits several spikes per step when ``V >= 2 theta``
  (``MultiSpike``), and Spyx's ``CuBaLIF`` emits the spike of ``V[t-1]`` at step ``t`` (one step of delay per
  layer). :func:`consumer_notes` lists these at export. Where the spikes differ, the decisions are compared
  and the agreement rate reported.

Constructs a consumer cannot express raise :class:`NIRConsumerError` with one line naming them: recurrent
layers for sinabs, the non-spiking leaky readout for snntorch, Norse and Spyx (their ``CubaLIF`` outputs spikes only), adaptive
thresholds for all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..config import ConfigError
from ..core.network import SNNClassifier
from ..core.readout import SpikeMeanReadout
from ..io.atomic import atomic_path
from .nir import META_KEY, _nir, to_nir

#: The importer's time step (seconds, or steps for Spyx) each Euler-form graph is written for.
EULER_DT = {"snntorch": 1e-4, "norse": 1e-3, "spyx": 1.0}
CONSUMERS = ("rockpool", "snntorch", "norse", "sinabs", "spyx")


class NIRConsumerError(ConfigError):
    """The model has a construct the named NIR consumer cannot express (the message names both)."""


@dataclass(frozen=True)
class _Layer:
    """One hidden layer as discrete numpy arrays: weights ``(n_out, n_in)``, per-neuron vectors ``(n_out,)``."""

    weight: np.ndarray
    w_rec: np.ndarray | None
    bias: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    threshold: np.ndarray
    dt: float


def _f64(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return np.asarray(t.detach().cpu() if isinstance(t, torch.Tensor) else t, dtype=np.float64)


def _layers(model: SNNClassifier, consumer: str) -> list[_Layer]:
    layers = []
    for i, layer in enumerate(model.layers):
        if layer.adaptive:
            raise NIRConsumerError(f"layer {i} has an adaptive threshold, which NIR's CubaLIF cannot express "
                                   f"(for any consumer, {consumer} included)")
        w_rec = _f64(layer.w_rec * layer._offdiag) if layer.recurrent else None  # noqa: SLF001
        layers.append(_Layer(_f64(layer.weight), w_rec, _f64(layer.bias),
                             np.exp(-layer.dt / _f64(layer.tau_mem)), np.exp(-layer.dt / _f64(layer.tau_syn)),
                             _f64(layer.threshold), layer.dt))
    return layers


def _arr(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _euler_cuba(nir: Any, layer: _Layer, dt_c: float, threshold: np.ndarray) -> Any:
    tau_syn, tau_mem = dt_c / (1 - layer.beta), dt_c / (1 - layer.alpha)
    return nir.CubaLIF(tau_syn=_arr(tau_syn), tau_mem=_arr(tau_mem), r=_arr(tau_mem / dt_c),
                       v_leak=np.zeros(len(tau_mem), np.float32), v_threshold=_arr(threshold),
                       w_in=_arr(tau_syn / dt_c))


def _recurrent(nir: Any, lif: Any, w_rec: np.ndarray, prefix: str = "") -> Any:
    """The sub-graph ``input -> lif -> output`` with ``lif -> w_rec -> lif`` (node names ``prefix + name``)."""
    n = w_rec.shape[0]
    i, l, w, o = (prefix + k for k in ("input", "lif", "w_rec", "output"))
    return nir.NIRGraph(
        nodes={i: nir.Input({"input": np.array([n])}), l: lif, w: nir.Linear(_arr(w_rec)),
               o: nir.Output({"output": np.array([n])})},
        edges=[(i, l), (l, w), (w, l), (l, o)],
    )


def _euler_graph(model: SNNClassifier, consumer: str) -> tuple[dict[str, Any], list[tuple[str, str]], str]:
    nir = _nir()
    if not isinstance(model.readout, SpikeMeanReadout):
        raise NIRConsumerError(f"the leaky (non-spiking) readout cannot be exported for {consumer}: its "
                               "CubaLIF outputs spikes only; train with readout = \"spike_mean\"")
    dt_c = EULER_DT[consumer]
    normalise = consumer == "snntorch"  # one threshold per layer there
    nodes: dict[str, Any] = {"input": nir.Input({"input": np.array([model.config.n_in])})}
    edges: list[tuple[str, str]] = []
    previous = "input"
    for i, layer in enumerate(_layers(model, consumer)):
        scale = (1.0 / layer.threshold) if normalise else np.ones_like(layer.threshold)
        gain = (layer.beta * scale)[:, None]
        affine, name = f"layer{i}_affine", f"layer{i}_lif"
        nodes[affine] = nir.Affine(_arr(gain * layer.weight), _arr((1 - layer.beta) * layer.bias * scale))
        lif = _euler_cuba(nir, layer, dt_c, np.ones_like(layer.threshold) if normalise else layer.threshold)
        if layer.w_rec is not None and consumer == "snntorch":
            # A sub-graph whose node names carry its own key (``layerN_rec.lif``): nirtorch 2.6 then wires it as
            # lif(input + w_rec(S[t-1])). Unprefixed names trip it ("'GraphModule' object has no attribute
            # 'items'"), and a top-level lif <-> w_rec cycle is nested by snntorch with the input into w_rec.
            name = f"layer{i}_rec"
            nodes[name] = _recurrent(nir, lif, gain * layer.w_rec, prefix=f"{name}.")
        else:
            nodes[name] = _recurrent(nir, lif, gain * layer.w_rec) if layer.w_rec is not None else lif
        edges += [(previous, affine), (affine, name)]
        previous = name
    ro = model.readout
    nodes["readout"] = nir.Affine(_arr(_f64(ro.weight)), _arr(_f64(ro.bias)))
    nodes["output"] = nir.Output({"output": np.array([model.config.n_classes])})
    edges += [(previous, "readout"), ("readout", "output")]
    convention = (f"forward Euler at dt_c = {dt_c:g}: Affine(beta W, (1 - beta) b), CubaLIF(tau = dt_c/(1 - decay), "
                  f"r = tau_mem/dt_c, w_in = tau_syn/dt_c, v_leak = 0)"
                  + ("; weights and bias divided by each neuron's threshold, threshold 1" if normalise else ""))
    return nodes, edges, convention


def _sinabs_graph(model: SNNClassifier) -> tuple[dict[str, Any], list[tuple[str, str]], str]:
    nir = _nir()
    nodes: dict[str, Any] = {"input": nir.Input({"input": np.array([model.config.n_in])})}
    edges: list[tuple[str, str]] = []
    previous = "input"

    def leaky(tau_steps: np.ndarray) -> Any:
        n = len(tau_steps)
        return nir.LI(tau=_arr(tau_steps), r=np.ones(n, np.float32), v_leak=np.zeros(n, np.float32))

    def bias_path(name: str, source: str, bias: np.ndarray, into: str) -> None:
        # A zero-weight Affine hung off ``source`` (the synaptic LI, same width) that outputs ``b`` every step.
        # Its edges come before ``source -> into``: nirtorch orders nodes depth-first along the edges, and the
        # LIF must run after both of its inputs.
        nonlocal edges
        nodes[name] = nir.Affine(np.zeros((len(bias), len(bias)), np.float32), _arr(bias))
        edges += [(source, name), (name, into), (source, into)]

    for i, layer in enumerate(_layers(model, "sinabs")):
        if layer.w_rec is not None:
            raise NIRConsumerError(f"layer {i} is recurrent: sinabs's NIR importer has no recurrent sub-graphs; "
                                   "train with recurrent = false, or export for rockpool/snntorch/norse/spyx")
        n_out = layer.weight.shape[0]
        nodes[f"affine_{i}"] = nir.Affine(_arr(layer.beta[:, None] * layer.weight), np.zeros(n_out, np.float32))
        nodes[f"syn_{i}"] = leaky(-1.0 / np.log(layer.beta))
        nodes[f"lif_{i}"] = nir.LIF(tau=_arr(-1.0 / np.log(layer.alpha)), r=np.ones(n_out, np.float32),
                                    v_leak=np.zeros(n_out, np.float32), v_threshold=_arr(layer.threshold))
        edges += [(previous, f"affine_{i}"), (f"affine_{i}", f"syn_{i}")]
        bias_path(f"bias_{i}", f"syn_{i}", layer.bias, f"lif_{i}")
        previous = f"lif_{i}"
    ro = model.readout
    if isinstance(ro, SpikeMeanReadout):
        nodes["readout"] = nir.Affine(_arr(_f64(ro.weight)), _arr(_f64(ro.bias)))
        edges += [(previous, "readout"), ("readout", "output")]
    else:
        beta, alpha = np.exp(-ro.dt / _f64(ro.tau_syn)), np.exp(-ro.dt / _f64(ro.tau_mem))
        nodes["readout"] = nir.Affine(_arr(beta[:, None] * _f64(ro.weight)), np.zeros(ro.n_classes, np.float32))
        nodes["readout_syn"], nodes["readout_li"] = leaky(-1.0 / np.log(beta)), leaky(-1.0 / np.log(alpha))
        edges += [(previous, "readout"), ("readout", "readout_syn")]
        bias_path("readout_bias", "readout_syn", _f64(ro.bias), "readout_li")
        edges += [("readout_li", "output")]
    nodes["output"] = nir.Output({"output": np.array([model.config.n_classes])})
    return nodes, edges, ("time constants in steps (tau/dt); Affine(beta W, 0) -> LI(tau_syn) -> LIF(tau_mem, "
                          "theta), bias by a zero-weight Affine(0, b) into the LIF")


def robustness_metadata(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The robustness facts of a model file's metadata: training method, device profile, score-card headline.

    ``meta`` is :func:`robust_snn.io.model_file.read_model`'s second value (a bundle adds its device and score
    card). Returned as plain JSON-able values, stored as one JSON string in the graph's metadata so that
    consumers, which ignore metadata they do not know, read the graph unchanged.
    """
    meta = dict(meta or {})
    bundle = meta.get("bundle") or {}
    card = bundle.get("score_card") or {}
    headline_keys = ("nominal_accuracy", "mean_accuracy", "p5_accuracy", "yield", "yield_ci95", "spec",
                     "worst_case_accuracy", "grade", "n_chips")
    return {
        "method": meta.get("method"),
        "data": meta.get("data"),
        "device_profile": (bundle.get("device") or {}).get("name"),
        "score_card": {k: card[k] for k in headline_keys if k in card} or None,
    }


def to_nir_for(model: SNNClassifier, consumer: str = "rockpool",
               robustness: Mapping[str, Any] | None = None) -> Any:
    """``model`` as the ``nir.NIRGraph`` that ``consumer`` (one of :data:`CONSUMERS`) reads; see module docstring.

    ``robustness`` (e.g. :func:`robustness_metadata`) is recorded in ``graph.metadata["robust_snn"]``.
    """
    if consumer not in CONSUMERS:
        raise NIRConsumerError(f"unknown NIR consumer {consumer!r}; choose one of {', '.join(CONSUMERS)}")
    if consumer == "rockpool":
        graph = to_nir(model)
        meta = json.loads(graph.metadata[META_KEY])
    else:
        nodes, edges, convention = _sinabs_graph(model) if consumer == "sinabs" else _euler_graph(model, consumer)
        graph = _nir().NIRGraph(nodes=nodes, edges=edges)
        meta = {"architecture": model.config.to_dict(), "readout_reduction": "mean over time",
                "convention": convention}
        if consumer in EULER_DT:
            meta["import_dt"] = EULER_DT[consumer]
    meta.update(consumer=consumer, dt_seconds=model.config.dt)
    if robustness:
        meta["robustness"] = dict(robustness)
    graph.metadata = {META_KEY: json.dumps(meta)}
    return graph


def write_nir_for(path: str | Path, model: SNNClassifier, consumer: str = "rockpool",
                  robustness: Mapping[str, Any] | None = None) -> None:
    """Write :func:`to_nir_for` as an NIR HDF5 file, atomically."""
    graph = to_nir_for(model, consumer, robustness)
    with atomic_path(path) as tmp:
        _nir().write(str(tmp), graph)


def consumer_notes(model: SNNClassifier, consumer: str) -> list[str]:
    """One line per way ``consumer``'s own simulation of the exported graph departs from ours (none: exact)."""
    biased = any(bool((layer.bias != 0).any()) for layer in model.layers)
    transient = ["the synaptic state starts at 0 where ours holds the bias: a transient of a few tau_syn"
                 ] if biased else []
    if consumer == "snntorch":
        return ["snntorch's importer resets to zero where we subtract the threshold"] + transient
    if consumer == "norse":
        return ["Norse resets to zero unless imported with reset_method=reset_subtract "
                "(robust_snn.export.nir_targets.norse_from_nir)"] + transient
    if consumer == "spyx":
        return [f"Spyx emits each spike one step late per layer ({len(model.layers)} here)"] + transient
    if consumer == "sinabs":
        return ["sinabs's LIF emits floor(V/theta) spikes per step unless imported with "
                "robust_snn.export.nir_targets.sinabs_from_nir (one spike)"]
    return []


def _graph(source: str | Path | Any) -> Any:
    return _nir().read(str(source)) if isinstance(source, (str, Path)) else source


def norse_from_nir(source: str | Path | Any) -> Any:
    """Norse's ``from_nir`` with reset by subtraction (ours; Norse defaults to reset to zero).

    Returns Norse's graph executor: call it one step at a time, ``out, state = net(x[:, t], state)``.
    """
    import norse.torch
    from norse.torch.functional.reset import reset_subtract

    return norse.torch.from_nir(_graph(source), reset_method=reset_subtract, dt=EULER_DT["norse"])


def sinabs_from_nir(source: str | Path | Any, batch_size: int) -> Any:
    """sinabs's ``from_nir`` with one spike per step at most (ours and the chips'; sinabs's LIF defaults to
    ``MultiSpike``, ``floor(V / theta)`` spikes). Call it on ``x.reshape(batch * time, channels)``; it returns
    ``(output (batch * time, classes), state)``.
    """
    import sinabs.layers
    import sinabs.nir
    from sinabs.activation import SingleSpike

    net = sinabs.nir.from_nir(_graph(source), batch_size=batch_size)
    for module in net.modules():
        if isinstance(module, sinabs.layers.LIF) and module.spike_fn is not None:  # ExpLeak has none
            module.spike_fn = SingleSpike
    return net


__all__ = ["CONSUMERS", "EULER_DT", "NIRConsumerError", "consumer_notes", "norse_from_nir", "robustness_metadata",
           "sinabs_from_nir", "to_nir_for", "write_nir_for"]
