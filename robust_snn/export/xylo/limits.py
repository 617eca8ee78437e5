"""What Xylo Audio 2 can hold, read from its device profile, and every reason a model does not fit.

The numbers live once, in the profile (``robust_snn/devices/profiles/xylo-audio2.toml``): ``[limits]`` gives the
channel and neuron counts, the hidden fan-out and the recurrent weight memory; the ``integer_quantiser`` and
``bit_shift_decay`` stages give the register widths and the shift range. :class:`XyloChip` reads them, so the
exporter, ``evaluate`` and ``qat`` cannot disagree about the chip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...config import ConfigError
from ...core.network import SNNClassifier
from ...core.readout import SpikeMeanReadout
from ...devices import BitShiftDecay, DeviceProfile, IntegerQuantiser, Phase, load_profile
from ...devices.digital import code_max, dash_to_tau

CHIP = "Xylo Audio 2"
PROFILE = "xylo-audio2"


class XyloMappingError(ValueError):
    """The model does not fit Xylo Audio 2; ``violations`` lists every reason by name."""

    def __init__(self, violations: list[str]) -> None:
        super().__init__(f"model does not fit {CHIP}: " + "; ".join(violations))
        self.violations = list(violations)


def _stage(profile: DeviceProfile, cls: type) -> Any:
    found = [s for s in profile.stages if isinstance(s, cls)]
    if len(found) != 1:
        raise ConfigError(f"{profile.name}: mapping onto {CHIP} needs exactly one {cls.kind!r} stage "
                          f"(the chip's programming), found {len(found)}")
    return found[0]


@dataclass(frozen=True)
class XyloChip:
    """The chip as its profile describes it: the programming stages and the limits (counts, registers)."""

    profile: DeviceProfile
    quantiser: IntegerQuantiser
    decay: BitShiftDecay

    @classmethod
    def from_profile(cls, profile: DeviceProfile | str | None = None) -> "XyloChip":
        """``None``: the built-in ``xylo-audio2`` profile; a name or path loads one; errors name the field."""
        if not isinstance(profile, DeviceProfile):
            profile = load_profile(PROFILE if profile is None else profile)
        for key in ("input_channels", "neurons", "output_channels"):
            if getattr(profile.limits, key) is None:
                raise ConfigError(f"{profile.name}.limits.{key} is needed to map onto {CHIP}")
        other = sorted({s.kind for s in profile.stages if s.phase == Phase.PROGRAM
                        and not isinstance(s, (IntegerQuantiser, BitShiftDecay))})
        if other:
            raise ConfigError(f"{profile.name}: program stage(s) {', '.join(other)} cannot be written to {CHIP} "
                              "(only integer_quantiser and bit_shift_decay)")
        return cls(profile, _stage(profile, IntegerQuantiser), _stage(profile, BitShiftDecay))

    @property
    def inputs(self) -> int:
        return int(self.profile.limits.input_channels)

    @property
    def hidden(self) -> int:
        return int(self.profile.limits.neurons)

    @property
    def outputs(self) -> int:
        return int(self.profile.limits.output_channels)

    @property
    def weight_max(self) -> int:
        return code_max(self.quantiser.weight_bits)

    @property
    def state_max(self) -> int:
        """Largest membrane / threshold code (a threshold of ``state_max``: an output neuron that never fires)."""
        return code_max(self.quantiser.state_bits or self.quantiser.threshold_bits)

    @property
    def dash_max(self) -> int:
        return self.decay.dash_max


def structural_violations(model: Any, dt: float, chip: XyloChip) -> list[str]:
    """What can be told without mapping: sizes, neuron model, finite values, time-constant range."""
    if not isinstance(model, SNNClassifier):
        return [f"model: {type(model).__name__} is not an SNNClassifier; only our networks map to {CHIP}"]
    cfg, out = model.config, []
    if not (math.isfinite(dt) and dt > 0):
        return [f"dt: {dt!r} is not a positive number of seconds"]
    if cfg.n_in > chip.inputs:
        out.append(f"input channels: {cfg.n_in} > {chip.inputs} ({CHIP})")
    if cfg.n_classes > chip.outputs:
        out.append(f"output channels: {cfg.n_classes} > {chip.outputs} ({CHIP})")
    if sum(cfg.hidden) > chip.hidden:
        out.append(f"hidden neurons: {sum(cfg.hidden)} > {chip.hidden} ({CHIP})")
    longest = float(dash_to_tau(chip.dash_max + 0.5, dt))
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
                           f"{CHIP} decay (shift {chip.dash_max}) at dt={dt:g} s")
    for name, value in model.named_parameters():
        if not torch.isfinite(value).all():
            out.append(f"{name}: non-finite values")
    return out


def synapse_violations(weights_rec: np.ndarray, chip: XyloChip) -> list[str]:
    """Hidden-to-hidden synapses (non-zero integer weights) against the profile's ``fan_out`` and
    ``recurrent_synapses``: at most that many targets per hidden neuron, and in all."""
    out, limits = [], chip.profile.limits
    fanout = np.count_nonzero(weights_rec, axis=1)
    if limits.fan_out is not None and fanout.max(initial=0) > limits.fan_out:
        out.append(f"hidden fan-out: {int((fanout > limits.fan_out).sum())} neuron(s) project to more than "
                   f"{limits.fan_out} hidden neurons (largest {int(fanout.max())}; {CHIP} max fan-out "
                   f"{limits.fan_out})")
    n_rec = int(fanout.sum())
    if limits.recurrent_synapses is not None and n_rec > limits.recurrent_synapses:
        out.append(f"recurrent synapses: {n_rec} > {limits.recurrent_synapses} ({CHIP} recurrent weight memory, "
                   "shared by recurrent and layer-to-layer weights)")
    return out


__all__ = ["CHIP", "XyloChip", "XyloMappingError", "structural_violations", "synapse_violations"]
