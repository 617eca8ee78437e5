"""Export to and import from NIR (the Neuromorphic Intermediate Representation, package ``nir``).

Graph: ``input -> linear_0 -> lif_0 -> linear_1 -> lif_1 -> ... -> readout -> output``, with explicit
``nir.Input``/``nir.Output`` shapes ``[n]`` (Rockpool's own ``to_nir`` writes ``[1, n]``, which does not survive
``nir.write``/``nir.read``). A recurrent layer is a sub-graph ``{input, lif, w_rec, output}`` with the edge
``lif -> w_rec -> lif``, the form Rockpool's ``from_nir`` recognises. The spike-mean readout is an
``Affine`` node whose output is averaged over time by the consumer; the leaky readout is ``Linear`` +
``CubaLIF`` with a threshold no membrane reaches.

NIR's ``CubaLIF`` is continuous-time (``tau_syn dI/dt = -I + w_in S``, ``tau_mem dv/dt = v_leak - v + r I``);
every simulator discretises it its own way. We follow the convention of Rockpool's importer, so that
``rockpool ... from_nir`` rebuilds our discrete dynamics exactly: ``r = tau_mem / dt - 1`` (Rockpool recovers
``dt = tau_mem / (1 + r)``), ``v_leak = bias``, ``w_in = 1``. (Rockpool's own exporter writes
``r = tau_mem exp(-dt/tau_mem) / dt`` and ``v_leak = 0``, which its importer does not invert: a Rockpool
round trip changes ``dt`` and drops biases.) The graph's metadata also carries our architecture as JSON,
so :func:`from_nir` rebuilds the very same network; graphs from other tools are parsed node by node.
Reading uses ``nir.read`` (HDF5 arrays, no pickle). Graphs for other consumers (snntorch, Norse, sinabs, Spyx:
their importers discretise differently) are written by :mod:`robust_snn.export.nir_targets`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.network import NetworkConfig, SNNClassifier
from ..core.readout import SpikeMeanReadout
from ..interop.rockpool import NEVER_SPIKES
from ..io.atomic import atomic_path
from ..io.limits import check_shapes, hdf5_shapes
from ..io.tensors import FileFormatError

META_KEY = "robust_snn"


def _nir():  # noqa: ANN202
    try:
        import nir
    except ImportError as exc:
        raise ImportError("NIR export needs the 'nir' extra: pip install 'robust-snn[nir]'") from exc
    return nir


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _cuba_lif(nir: Any, tau_mem: torch.Tensor, tau_syn: torch.Tensor, bias: torch.Tensor,
              threshold: torch.Tensor, dt: float) -> Any:
    return nir.CubaLIF(
        tau_syn=_np(tau_syn), tau_mem=_np(tau_mem), r=_np(tau_mem / dt - 1.0), v_leak=_np(bias),
        v_threshold=_np(threshold), w_in=np.ones(tau_mem.shape, dtype=np.float32),
    )


def to_nir(model: SNNClassifier) -> Any:
    """The ``nir.NIRGraph`` of ``model`` (see the module docstring for the conventions)."""
    nir = _nir()
    nodes: dict[str, Any] = {"input": nir.Input({"input": np.array([model.config.n_in])})}
    edges: list[tuple[str, str]] = []
    previous = "input"
    for i, layer in enumerate(model.layers):
        if layer.adaptive:
            raise ValueError(f"layer {i} is adaptive; NIR's CubaLIF has no adaptive threshold")
        nodes[f"linear_{i}"] = nir.Linear(_np(layer.weight))
        lif = _cuba_lif(nir, layer.tau_mem, layer.tau_syn, layer.bias, layer.threshold, layer.dt)
        if layer.recurrent:
            n = layer.n_out
            lif = nir.NIRGraph(
                nodes={"input": nir.Input({"input": np.array([n])}), "lif": lif,
                       "w_rec": nir.Linear(_np(layer.w_rec * layer._offdiag)),
                       "output": nir.Output({"output": np.array([n])})},
                edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
            )
        nodes[f"lif_{i}"] = lif
        edges += [(previous, f"linear_{i}"), (f"linear_{i}", f"lif_{i}")]
        previous = f"lif_{i}"
    ro = model.readout
    if isinstance(ro, SpikeMeanReadout):
        nodes["readout"] = nir.Affine(_np(ro.weight), _np(ro.bias))
        edges += [(previous, "readout"), ("readout", "output")]
    else:
        nodes["readout"] = nir.Linear(_np(ro.weight))
        nodes["readout_li"] = _cuba_lif(nir, ro.tau_mem, ro.tau_syn, ro.bias,
                                        torch.full((ro.n_classes,), NEVER_SPIKES), ro.dt)
        edges += [(previous, "readout"), ("readout", "readout_li"), ("readout_li", "output")]
    nodes["output"] = nir.Output({"output": np.array([model.config.n_classes])})
    meta = {"architecture": model.config.to_dict(), "readout_reduction": "mean over time",
            "convention": "r = tau_mem/dt - 1, v_leak = bias, w_in = 1 (Rockpool's importer)"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={META_KEY: json.dumps(meta)})


def write_nir(path: str | Path, model: SNNClassifier) -> None:
    """Write ``model`` as an NIR HDF5 file, atomically."""
    graph = to_nir(model)
    with atomic_path(path) as tmp:
        _nir().write(str(tmp), graph)


def _vec(value: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value), dtype=torch.float32).reshape(-1)


def from_nir(source: str | Path | Any) -> SNNClassifier:
    """Rebuild an :class:`SNNClassifier` from an NIR graph or file written by :func:`to_nir`/:func:`write_nir`.

    Graphs from other tools are accepted when they have the same chain shape (Linear, CubaLIF or recurrent
    sub-graph, ..., Affine readout); ``dt`` is then recovered as ``tau_mem / (1 + r)``.
    """
    nir = _nir()
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileFormatError(f"NIR file not found: {path}")
        try:
            check_shapes(hdf5_shapes(path), str(path), FileFormatError)
            graph = nir.read(str(path))
        except FileFormatError:
            raise
        except (OSError, KeyError, ValueError) as exc:
            raise FileFormatError(f"{path} is not a readable NIR file: {exc}") from None
    else:
        graph = source
    raw_meta = graph.metadata.get(META_KEY) if isinstance(graph.metadata, dict) else None
    consumer = _consumer_of(raw_meta)
    if consumer not in (None, "rockpool"):
        raise FileFormatError(f"this NIR graph was exported for {consumer} (export --for {consumer}); robust-snn "
                              "reads the default form (export --format nir, or --for rockpool)")
    chain = _chain(graph)
    nodes = [graph.nodes[name] for name in chain]
    hidden: list[tuple[Any, Any]] = []
    i = 0
    while (i + 1 < len(nodes) and type(nodes[i]) is nir.Linear and _is_lif(nir, nodes[i + 1])
           and not _never_spikes(nir, nodes[i + 1])):
        hidden.append((nodes[i], nodes[i + 1]))
        i += 2
    tail = nodes[i:]
    if not hidden:
        raise FileFormatError("NIR graph has no Linear -> CubaLIF layers")
    if len(tail) == 1 and isinstance(tail[0], nir.Affine):
        readout = "spike_mean"
    elif len(tail) == 2 and type(tail[0]) is nir.Linear and _is_lif(nir, tail[1]) and _never_spikes(nir, tail[1]):
        readout = "leaky"
    else:
        raise FileFormatError(f"unsupported NIR readout {[type(n).__name__ for n in tail]}; expected Affine, "
                              "or Linear + a CubaLIF that never spikes")
    first_lif = _lif_of(nir, hidden[0][1])
    dt = float(np.min(np.asarray(first_lif.tau_mem) / (1 + np.asarray(first_lif.r))))
    if raw_meta is not None:
        config = NetworkConfig.from_dict(json.loads(str(raw_meta))["architecture"], "architecture")
    else:
        config = NetworkConfig(
            n_in=int(np.asarray(hidden[0][0].weight).shape[1]),
            hidden=tuple(int(np.asarray(lin.weight).shape[0]) for lin, _ in hidden),
            n_classes=int(np.asarray(tail[0].weight).shape[0]), dt=dt,
            recurrent=isinstance(hidden[0][1], nir.NIRGraph), readout=readout,
        )
    model = SNNClassifier(config)
    with torch.no_grad():
        for layer, (lin, node) in zip(model.layers, hidden):
            lif = _lif_of(nir, node)
            layer.weight.copy_(torch.as_tensor(np.asarray(lin.weight)))
            if layer.recurrent:
                w_rec = next(v for v in node.nodes.values() if type(v) is nir.Linear)
                layer.w_rec.copy_(torch.as_tensor(np.asarray(w_rec.weight)))
            layer.bias.copy_(_vec(lif.v_leak))
            layer.tau_mem, layer.tau_syn, layer.threshold = _vec(lif.tau_mem), _vec(lif.tau_syn), _vec(lif.v_threshold)
        ro = model.readout
        ro.weight.copy_(torch.as_tensor(np.asarray(tail[0].weight)))
        if isinstance(ro, SpikeMeanReadout):
            ro.bias.copy_(_vec(tail[0].bias))
        else:
            ro.bias.copy_(_vec(tail[1].v_leak))
            ro.tau_mem, ro.tau_syn = _vec(tail[1].tau_mem), _vec(tail[1].tau_syn)
    return model.eval()


def _consumer_of(raw_meta: Any) -> str | None:
    """The ``consumer`` recorded by :func:`robust_snn.export.nir_targets.to_nir_for` (``None``: not ours)."""
    try:
        consumer = json.loads(str(raw_meta)).get("consumer") if raw_meta is not None else None
    except (ValueError, AttributeError):
        return None
    return consumer if isinstance(consumer, str) else None


def _is_lif(nir: Any, node: Any) -> bool:
    return isinstance(node, nir.CubaLIF) or (
        isinstance(node, nir.NIRGraph) and any(isinstance(v, nir.CubaLIF) for v in node.nodes.values()))


def _never_spikes(nir: Any, node: Any) -> bool:
    return bool(np.all(np.asarray(_lif_of(nir, node).v_threshold) >= NEVER_SPIKES / 10))


def _lif_of(nir: Any, node: Any) -> Any:
    if isinstance(node, nir.NIRGraph):
        return next(v for v in node.nodes.values() if isinstance(v, nir.CubaLIF))
    if not isinstance(node, nir.CubaLIF):
        raise FileFormatError(f"expected a CubaLIF node, got {type(node).__name__}")
    return node


def _chain(graph: Any) -> list[str]:
    """Node names from the input to the output, following the (single-path) edges."""
    successors: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        successors.setdefault(src, []).append(dst)
    inputs = [k for k, v in graph.nodes.items() if type(v).__name__ == "Input"]
    if len(inputs) != 1:
        raise FileFormatError(f"NIR graph must have exactly one Input node, found {len(inputs)}")
    chain, node = [], inputs[0]
    while True:
        nxt = successors.get(node, [])
        if len(nxt) != 1:
            raise FileFormatError(f"NIR graph is not a chain at node {node!r} (successors {nxt})")
        node = nxt[0]
        if type(graph.nodes[node]).__name__ == "Output":
            return chain
        chain.append(node)
        if len(chain) > 10_000:
            raise FileFormatError("NIR graph has a cycle outside recurrent sub-graphs")


def rockpool_from_nir(source: str | Path | Any) -> Any:
    """Rockpool's ``from_nir`` (a nirtorch executor of Rockpool torch modules), with its pitfall fixed.

    Rockpool's importer builds ``LIFTorch`` modules with the default ``max_spikes_per_dt = 2**16``: a neuron
    may then emit many spikes in one step, unlike our model and the chips. This sets it to 1 everywhere.
    Call it on ``(batch, time, channels)``; it returns ``(output, state)``.
    """
    from rockpool.nn.modules import LIFTorch
    from rockpool.nn.modules.torch.nir import from_nir as _rockpool_from_nir

    graph = _nir().read(str(source)) if isinstance(source, (str, Path)) else source
    executor = _rockpool_from_nir(graph)
    for module in executor.modules():
        if isinstance(module, LIFTorch):
            module.max_spikes_per_dt = torch.tensor(1.0)
    return executor
