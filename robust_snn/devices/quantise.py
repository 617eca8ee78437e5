"""Program-phase quantisers: what a chip can store, computed once and shared by every chip.

- :class:`IntegerQuantiser` (digital cores, Xylo-style): per group (one module, or one neuron), a scale ``s``
  maps the largest ``|weight|`` or ``|bias|`` to the largest code and keeps the largest threshold in range,

  .. math::

      s = \\min\\Big(\\frac{2^{b_w - 1} - 1}{\\max(|W|, |b|)}, \\frac{2^{b_\\theta - 1} - 1}{\\max \\theta}\\Big),
      \\qquad W_q = \\frac{\\operatorname{round}(s W)}{s}

  and likewise biases (``b_b`` bits) and thresholds (``b_theta`` bits, at least one code so they stay
  positive). One scale for a neuron's weights, bias and threshold leaves its spikes unchanged by the scaling
  (the membrane equation is linear; firing compares with the scaled threshold), so only the rounding remains
  -- the non-ideality of a digital chip. This mirrors Rockpool's ``global_quantize`` (``scope = "module"``) and
  ``channel_quantize`` (``scope = "neuron"``).
- :class:`BitShiftDecay`: a digital neuron decays by a bit shift, ``alpha = 1 - 2^{-dash}``. A time constant
  ``tau`` (seconds) becomes ``dash = clip(round(log2(tau / dt)), dash_min, 2^bits - 1)`` (Rockpool's Xylo
  conversion), and the chip's effective time constant is ``tau_q = -dt / ln(1 - 2^{-dash})`` -- so the
  simulated ``exp(-dt / tau_q)`` equals the chip's decay exactly. Decay factors ``d`` (snntorch's ``beta``)
  map through ``tau / dt = -1 / ln d`` the same way.
- :class:`SharedLevels` (subthreshold mixed-signal, DYNAP-SE2-style): each core of ``neurons_per_core``
  neurons holds a few shared weight currents; a synapse selects a ``bits``-bit magnitude ``k`` and a sign
  (excitatory or inhibitory synapse type): ``W_q = sign(W) * k * max_core|W| / (2^bits - 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from .stage import Stage, check, register
from .state import ChipState, Phase


def _module_of(name: str) -> str:
    return name.rpartition(".")[0]


def _peak(tensors: list[torch.Tensor], per_neuron: bool, module: str) -> torch.Tensor:
    """Largest magnitude over ``tensors``: one value, or one per neuron (first axis) when ``per_neuron``."""
    if not per_neuron:
        return torch.stack([t.detach().abs().amax() for t in tensors]).amax()
    sizes = {t.shape[0] if t.dim() else None for t in tensors}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(f"integer_quantiser scope 'neuron' needs the tensors of module {module!r} to share a first "
                         f"(neuron) axis; got shapes {[tuple(t.shape) for t in tensors]}")
    return torch.stack([t.detach().abs().reshape(t.shape[0], -1).amax(1) for t in tensors]).amax(0)


@register
@dataclass(frozen=True)
class IntegerQuantiser(Stage):
    """Signed integer weights, biases and thresholds with one scale per module or per neuron."""

    kind = "integer_quantiser"
    phase = Phase.PROGRAM
    weight_bits: int = 8
    bias_bits: int = 8
    threshold_bits: int = 16
    scope: str = "module"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("weight_bits", "bias_bits", "threshold_bits"):
            value = getattr(self, name)
            check(isinstance(value, int) and 2 <= value <= 32,
                  f"{name} must be an integer in [2, 32], got {value!r}")
        check(self.scope in ("module", "neuron"), f"scope must be 'module' or 'neuron', got {self.scope!r}")

    def families(self) -> frozenset[str]:
        return frozenset({"weights", "biases", "thresholds", "adaptation"})

    def _scales(self, params: Mapping[str, torch.Tensor], families: Mapping[str, str]) -> dict[str, torch.Tensor]:
        """Scale per module (0-dim) or per neuron ``(n,)``; modules with nothing to quantise are left out."""
        groups: dict[str, list[str]] = {}
        for name in sorted(params):
            if families[name] in self.families():
                groups.setdefault(_module_of(name), []).append(name)
        q_w, q_t = 2 ** (self.weight_bits - 1) - 1, 2 ** (self.threshold_bits - 1) - 1
        per_neuron = self.scope == "neuron"
        scales = {}
        for module, names in groups.items():
            weights = [params[n] for n in names if families[n] in ("weights", "biases")]
            thresholds = [params[n] for n in names if families[n] in ("thresholds", "adaptation")]
            candidates = [q / _peak(ts, per_neuron, module) for q, ts in ((q_w, weights), (q_t, thresholds)) if ts]
            scale = torch.stack(candidates).amin(0) if len(candidates) > 1 else candidates[0]
            scales[module] = torch.where(torch.isfinite(scale), scale, torch.ones_like(scale))
        return scales

    def integer_codes(self, params: Mapping[str, torch.Tensor], families: Mapping[str, str]
                      ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{name: (codes int64, scale)}`` with ``value = codes / scale``; for export and for tests."""
        scales = self._scales(params, families)
        bits = {"weights": self.weight_bits, "biases": self.bias_bits,
                "thresholds": self.threshold_bits, "adaptation": self.threshold_bits}
        out = {}
        for name in sorted(params):
            fam = families[name]
            if fam not in bits or _module_of(name) not in scales:
                continue
            theta, scale = params[name].detach(), scales[_module_of(name)]
            if scale.dim() == 1:
                scale = scale.view(-1, *(1,) * (theta.dim() - 1))
            q = 2 ** (bits[fam] - 1) - 1
            low = 1 if fam in ("thresholds", "adaptation") else -q
            out[name] = (torch.round(theta * scale).clamp(low, q).to(torch.int64), scale)
        return out

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        codes = self.integer_codes({n: state.params[n] for n in state.names()}, state.families)
        return state.with_params({n: (c / s).to(state.params[n].dtype) for n, (c, s) in codes.items()})


@register
@dataclass(frozen=True)
class BitShiftDecay(Stage):
    """Time constants and decay factors replaced by bit-shift decays ``1 - 2^-dash`` (module docstring)."""

    kind = "bit_shift_decay"
    phase = Phase.PROGRAM
    dash_bits: int = 4
    dash_min: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check(isinstance(self.dash_bits, int) and 1 <= self.dash_bits <= 16,
              f"dash_bits must be an integer in [1, 16], got {self.dash_bits!r}")
        check(isinstance(self.dash_min, int) and 1 <= self.dash_min <= 2**self.dash_bits - 1,
              f"dash_min must be an integer in [1, 2**dash_bits - 1] (dash 0 would zero the state), "
              f"got {self.dash_min!r}")

    def families(self) -> frozenset[str]:
        return frozenset({"taus", "decays"})

    def dashes(self, params: Mapping[str, torch.Tensor], families: Mapping[str, str], dt: float | None
               ) -> dict[str, torch.Tensor]:
        """``{name: dash (int64)}`` for every time constant and decay factor."""
        out = {}
        for name in sorted(params):
            fam, value = families[name], params[name].detach().double()
            if fam == "taus":
                if dt is None:
                    raise ValueError(f"{self.kind} needs the model's time step dt to convert {name} (seconds)")
                ratio = value / dt
            elif fam == "decays":
                ratio = -1.0 / torch.log(value.clamp(1e-300, 1 - 1e-16))
            else:
                continue
            dash = torch.round(torch.log2(ratio.clamp_min(1e-300)))
            out[name] = dash.clamp(self.dash_min, 2**self.dash_bits - 1).to(torch.int64)
        return out

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        updates = {}
        params = {n: state.params[n] for n in state.names()}
        for name, dash in self.dashes(params, state.families, state.dt).items():
            decay = 1.0 - torch.pow(2.0, -dash.double())
            value = -state.dt / torch.log(decay) if state.families[name] == "taus" else decay
            updates[name] = value.to(state.params[name].dtype)
        return state.with_params(updates)


@register
@dataclass(frozen=True)
class SharedLevels(Stage):
    """Signed magnitudes on ``2^bits`` levels shared by each core's synapses (module docstring)."""

    kind = "shared_levels"
    phase = Phase.PROGRAM
    bits: int = 4
    neurons_per_core: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        check(isinstance(self.bits, int) and 1 <= self.bits <= 16,
              f"bits must be an integer in [1, 16], got {self.bits!r}")
        check(isinstance(self.neurons_per_core, int) and self.neurons_per_core >= 1,
              f"neurons_per_core must be an integer >= 1, got {self.neurons_per_core!r}")

    def families(self) -> frozenset[str]:
        return frozenset({"weights"})

    def level_step(self, weight: torch.Tensor) -> torch.Tensor:
        """Per-row level spacing ``max_core|W| / (2^bits - 1)``, shape ``(n_out, 1, ...)``."""
        w = weight.detach().reshape(weight.shape[0], -1) if weight.dim() else weight.detach().reshape(1, 1)
        n = w.shape[0]
        core = torch.arange(n) // self.neurons_per_core
        peaks = torch.zeros(int(core.max()) + 1, dtype=w.dtype).scatter_reduce(0, core, w.abs().amax(1), "amax")
        step = peaks[core] / (2**self.bits - 1)
        return step.view(n, *(1,) * max(weight.dim() - 1, 0)) if weight.dim() else step.reshape(())

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        updates = {}
        for name in state.names(self.families()):
            w = state.params[name]
            step = self.level_step(w)
            safe = torch.where(step > 0, step, torch.ones_like(step))
            levels = torch.sign(w) * torch.round(w.abs() / safe) * step
            updates[name] = torch.where(step > 0, levels, torch.zeros_like(w))
        return state.with_params(updates)


__all__ = ["BitShiftDecay", "IntegerQuantiser", "SharedLevels"]
