"""NeuroBench's efficiency metrics for our networks: footprint, connection and activation sparsity, synaptic ops.

NeuroBench (the ``neurobench`` package, 2.x) is how the field reports keyword-spotting models. Its metrics hook
``torch.nn.Linear``/``Conv`` layers and snntorch neurons, which our fused LIF layers are not, so they are
implemented here to its definitions (read from ``neurobench/metrics/static/*.py`` and
``neurobench/metrics/workload/*.py``, version 2.3.0) and cross-checked against the package on a small snntorch
model in ``tests/test_readiness_efficiency.py``:

- **Footprint** (``Footprint``): bytes of every stored parameter, ``sum(numel * element_size)`` (float32: 4 bytes
  each). Here over the *physical* parameters (weights, recurrent weights, biases, time constants, thresholds);
  the recurrent layers' zero-diagonal mask, a buffer NeuroBench's hook would also count, is left out.
  At the device's bit widths: ``sum(numel * bits / 8)`` per parameter family, with the bits the profile's
  programming stages declare (:func:`device_bit_widths`); families a profile leaves analog stay 32-bit floats.
- **Connection sparsity** (``ConnectionSparsity``): zero entries / all entries of the connection weight
  matrices (input, recurrent and readout weights; biases not counted; the recurrent diagonal, held at zero,
  counts as zero as it would in a ``torch.nn.Linear``). NeuroBench rounds to 4 decimals; we do not.
- **Activation sparsity** (``ActivationSparsity``): ``1 - nonzero / all`` outputs of the spiking layers (our
  hidden layers), over layers, time steps and samples. The readout is not a spiking layer.
- **Synaptic operations per inference** (``SynapticOperations``): per connection layer and time step, with
  weights and inputs binarised (non-zero -> 1), ``Effective = sum_{j, i} [W_ji != 0] [x_i != 0]``; they count as
  accumulates (ACs) when the layer's input is spiking (every value in {-1, 0, 1}), else multiply-accumulates
  (MACs); ``Dense = n_in * n_out`` per step (all weights and inputs taken as non-zero). Summed over layers and
  time steps, divided by the number of samples. Our connection layers, as NeuroBench sees the same network
  built in snntorch: each hidden layer's input weights (input ``x[t]``; MACs for real-valued features, ACs
  for spike input), its recurrent weights (input ``S[t-1]``, zero at ``t = 0``), and the readout applied at
  every step to the last hidden layer's spikes (the form it takes on chips and in NIR; ours averages first and
  multiplies once, which is the same logits).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import nn
from torch.utils.data import Dataset

from ..core.network import SNNClassifier
from ..core.parameters import parameter_families, physical_parameters, stored_parameters
from ..devices import DeviceProfile
from ..core.evaluation import iterate_batches



def is_spiking(x: torch.Tensor) -> bool:
    """NeuroBench's test for a spiking input: every value is -1, 0 or 1."""
    return bool(((x == 0) | (x == 1) | (x == -1)).all())


def connection_ops(inputs: torch.Tensor, weight: torch.Tensor) -> tuple[float, float]:
    """``(effective, dense)`` operations of a dense layer ``weight (n_out, n_in)`` applied to ``inputs (..., n_in)``
    at every leading index (batch, time): ``effective = sum [W_ji != 0][x_i != 0]``, ``dense = n_out n_in`` each."""
    active = (inputs != 0).reshape(-1, inputs.shape[-1]).sum(0).to(torch.float64)  # (n_in,) non-zero inputs
    fan_out = (weight != 0).sum(0).to(torch.float64)  # (n_in,) non-zero weights leaving each input
    steps = math.prod(inputs.shape[:-1])
    return float(active @ fan_out), float(steps * weight.numel())


def connection_sparsity(weights: Sequence[torch.Tensor]) -> float:
    """Zero entries / all entries over the connection weight matrices ``weights``."""
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / total if total else 0.0


def activation_sparsity(spikes: Sequence[torch.Tensor]) -> float:
    """``1 - nonzero / all`` over the spike tensors of every spiking layer."""
    total = sum(s.numel() for s in spikes)
    return 1.0 - sum(int(torch.count_nonzero(s)) for s in spikes) / total if total else 0.0


def footprint_bytes(params: Mapping[str, torch.Tensor], families: Mapping[str, str] | None = None,
                    bits: Mapping[str, int | None] | None = None) -> float:
    """Bytes to store ``params``: ``numel * bits / 8`` with ``bits[family]``, else the tensor's own element size
    (NeuroBench's ``numel * element_size``; 4 bytes for our float32 parameters)."""
    bits = bits or {}
    families = families or {}
    return float(sum(p.numel() * (bits.get(families.get(k, "")) or 8 * p.element_size()) / 8
                     for k, p in params.items()))


def device_bit_widths(profile: DeviceProfile) -> dict[str, int]:
    """Bits per stored value of each parameter family the profile's programming stages fix.

    Integer quantisers: ``weight_bits``, ``bias_bits``, ``threshold_bits``; bit-shift decays: ``dash_bits`` per
    time constant; shared weight levels: ``bits`` magnitude + 1 sign bit; a crossbar with ``levels`` conductance
    levels: two devices (a differential pair) of ``ceil(log2 levels)`` bits per weight. Analog stages fix
    nothing (those families stay 32-bit floats in :func:`footprint_bytes`).
    """
    widths: dict[str, int] = {}
    for stage in profile.stages:
        kind = getattr(stage, "kind", "")
        if kind == "integer_quantiser":
            widths.update(weights=stage.weight_bits, biases=stage.bias_bits, thresholds=stage.threshold_bits)
        elif kind == "bit_shift_decay":
            widths["taus"] = stage.dash_bits
        elif kind == "shared_levels":
            widths["weights"] = stage.bits + 1
        elif kind == "conductance_map" and getattr(stage, "levels", 0) >= 2:
            for family in stage.map_families:
                widths[family] = 2 * math.ceil(math.log2(stage.levels))
    if "weights" not in widths and profile.limits.weight_bits is not None:
        widths["weights"] = profile.limits.weight_bits
    return widths


@dataclass
class _Tally:
    """Running totals over batches (integers where NeuroBench's are, floats for the operation counts)."""

    macs: float = 0.0
    acs: float = 0.0
    dense: float = 0.0
    spikes: int = 0
    activations: int = 0
    samples: int = 0

    def add(self, inputs: torch.Tensor, weight: torch.Tensor) -> None:
        effective, dense = connection_ops(inputs, weight)
        kind = "acs" if is_spiking(inputs) else "macs"
        setattr(self, kind, getattr(self, kind) + effective)
        self.dense += dense


def _with_parameters(model: SNNClassifier, params: Mapping[str, torch.Tensor] | None) -> SNNClassifier:
    if params is None:
        return model
    clone = copy.deepcopy(model)
    clone.load_state_dict(stored_parameters(model, dict(params)), strict=False)
    return clone.eval()


@torch.no_grad()
def efficiency_metrics(model: SNNClassifier, data: Dataset, *, params: Mapping[str, torch.Tensor] | None = None,
                       profile: DeviceProfile | None = None, batch_size: int = 256) -> dict[str, Any]:
    """NeuroBench's metrics (module docstring) of ``model`` on ``data``, with its own parameters or the physical
    parameter dict ``params`` (e.g. a device's programmed values). ``profile`` adds the footprint at its bit
    widths. Operation counts are per inference (per sample), over the sample's whole duration."""
    if not isinstance(model, SNNClassifier):
        raise TypeError(f"efficiency metrics need robust-snn's SNNClassifier, got {type(model).__name__}")
    net = _with_parameters(model, params).eval()
    physical = {k: v.detach() for k, v in physical_parameters(net).items()}
    families = parameter_families(net)
    weights = [layer.weight for layer in net.layers]
    weights += [layer.w_rec * layer._offdiag for layer in net.layers if layer.recurrent]  # noqa: SLF001
    weights.append(net.readout.weight)
    tally = _Tally()
    where = next(net.parameters()).device
    for x, _ in iterate_batches(data, batch_size):
        s = x = x.to(where)
        for i, layer in enumerate(net.layers):
            tally.add(s, layer.weight)
            s = layer(s)
            if layer.recurrent:
                previous = torch.cat([torch.zeros_like(s[:, :1]), s[:, :-1]], 1)
                tally.add(previous, layer.w_rec * layer._offdiag)  # noqa: SLF001
            tally.spikes += int(torch.count_nonzero(s))
            tally.activations += s.numel()
        tally.add(s, net.readout.weight)
        tally.samples += len(x)
    n = max(tally.samples, 1)
    out: dict[str, Any] = {
        "footprint_bytes": footprint_bytes(physical),
        "connection_sparsity": connection_sparsity([w.detach() for w in weights]),
        "activation_sparsity": 1.0 - tally.spikes / tally.activations if tally.activations else 0.0,
        "synaptic_operations": {"dense": tally.dense / n, "effective_macs": tally.macs / n,
                                "effective_acs": tally.acs / n},
        "n_samples": tally.samples,
    }
    if profile is not None:
        bits = device_bit_widths(profile)
        out["footprint_device_bytes"] = footprint_bytes(physical, families, bits) if bits else None
        out["device_bit_widths"] = {f: bits.get(f) for f in sorted(set(families.values()))}
    return out


def efficiency_card(model: nn.Module, data: Dataset, programmed: Mapping[str, torch.Tensor],
                    profile: DeviceProfile, batch_size: int = 256) -> dict[str, Any] | None:
    """The score card's ``neurobench`` section: the trained (float) and the programmed network; ``None`` for a
    model that is not ours (the metrics need our layer structure)."""
    if not isinstance(model, SNNClassifier):
        return None
    return {
        "definitions": "NeuroBench 2.3 Footprint, ConnectionSparsity, ActivationSparsity, SynapticOperations "
                       "(per inference); see robust_snn/readiness/efficiency.py",
        "float": efficiency_metrics(model, data, batch_size=batch_size),
        "programmed": efficiency_metrics(model, data, params=programmed, profile=profile, batch_size=batch_size),
    }


def efficiency_markdown(cards: Sequence[Mapping[str, Any]]) -> list[str]:
    """The report's NeuroBench table: one row per card and network (trained, programmed); empty without data."""
    rows = []
    for card in cards:
        section = card.get("neurobench") or {}
        for which in ("float", "programmed"):
            m = section.get(which)
            if not m:
                continue
            ops, device = m["synaptic_operations"], m.get("footprint_device_bytes")
            rows.append(f"| {card.get('model') or 'model'} | {card['device']} | {which} | {m['footprint_bytes']:.0f} | "
                        f"{'-' if device is None else f'{device:.0f}'} | {m['connection_sparsity']:.3f} | "
                        f"{m['activation_sparsity']:.3f} | {ops['dense']:.4g} | {ops['effective_macs']:.4g} | "
                        f"{ops['effective_acs']:.4g} |")
    if not rows:
        return []
    return ["## NeuroBench metrics", "",
            "Footprint in bytes (float32, and at the device's bit widths), sparsities, synaptic operations per "
            "inference (NeuroBench definitions; see robust_snn/readiness/efficiency.py).", "",
            "| model | device | network | footprint | at device bits | connection sparsity | activation sparsity "
            "| dense ops | effective MACs | effective ACs |", "|---|---|---|---|---|---|---|---|---|---|",
            *rows, ""]


__all__ = ["activation_sparsity", "connection_ops", "connection_sparsity", "device_bit_widths", "efficiency_card",
           "efficiency_markdown", "efficiency_metrics", "footprint_bytes", "is_spiking"]
