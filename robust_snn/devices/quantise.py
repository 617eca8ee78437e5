"""Program-phase quantisers: what a chip can store, computed once and shared by every chip.

- :class:`IntegerQuantiser` (digital cores, Xylo-style): per group (one module, or one neuron), one scale ``s``
  (integer units per float unit) for the weights, bias and threshold, the largest at which each fits its
  register (:mod:`.digital`),

  .. math::

      s = \\min\\Big(\\frac{2^{b_w - 1} - 1}{\\max |W|}, \\frac{2^{b_b - 1} - 1}{\\max |b|},
      \\frac{2^{b_\\theta - 1} - 1}{\\max \\theta}\\Big), \\qquad W_q = \\frac{\\operatorname{round}(s W)}{s}

  and likewise biases and thresholds (at least one code, so they stay positive). One scale for a neuron's
  weights, bias and threshold leaves its spikes unchanged by the scaling (the membrane equation is linear;
  firing compares with the scaled threshold), so only the rounding remains -- the non-ideality of a digital
  chip. ``scope = "neuron"`` is Rockpool's ``channel_quantize`` (what the Xylo exporter programs), ``"module"``
  its ``global_quantize``. With ``state_bits``, a module without thresholds is an output layer whose neuron
  state must fit too: a leaky readout's membrane never resets (bound :func:`.digital.leaky_state_scale`), a
  linear readout is realised as integrate-and-fire spike counters with threshold
  :func:`.digital.spike_count_threshold` (in ``threshold_bits``).
- :class:`BitShiftDecay`: a digital neuron decays by a bit shift, ``alpha = 1 - 2^{-dash}``. A time constant
  ``tau`` (seconds) becomes the exact shift ``dash = clip(round(-log2(1 - exp(-dt / tau))), dash_min,
  2^bits - 1)`` (:mod:`.digital`), and the chip's effective time constant is ``tau_q = -dt / ln(1 - 2^{-dash})``
  -- so the simulated ``exp(-dt / tau_q)`` equals the chip's decay exactly. Decay factors ``d`` (snntorch's
  ``beta``) map through ``dash = round(-log2(1 - d))`` the same way.
- :class:`SharedLevels` (subthreshold mixed-signal, DYNAP-SE2-style): each core of ``neurons_per_core``
  neurons holds a few shared weight currents; a synapse selects a ``bits``-bit magnitude ``k`` and a sign
  (excitatory or inhibitory synapse type): ``W_q = sign(W) * k * max_core|W| / (2^bits - 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from . import digital
from .stage import Stage, check, register
from .state import ChipState, Phase

_CODED = ("weights", "biases", "thresholds", "adaptation")


def _module_of(name: str) -> str:
    return name.rpartition(".")[0]


def _per_neuron(tensors: list[torch.Tensor]) -> bool:
    """Whether a module's tensors share a first (neuron) axis; if not (e.g. snntorch's scalar threshold), the
    module gets one scale even under ``scope = "neuron"``."""
    sizes = {t.shape[0] if t.dim() else None for t in tensors}
    return len(sizes) == 1 and None not in sizes


def _peak(tensors: list[torch.Tensor], per_neuron: bool) -> torch.Tensor:
    """Largest magnitude over ``tensors``: one value, or one per neuron (first axis) when ``per_neuron``."""
    if not per_neuron:
        return torch.stack([t.detach().abs().amax() for t in tensors]).amax()
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
    state_bits: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("weight_bits", "bias_bits", "threshold_bits", "state_bits"):
            value = getattr(self, name)
            check((value is None and name == "state_bits") or (isinstance(value, int) and 2 <= value <= 32),
                  f"{name} must be an integer in [2, 32], got {value!r}")
        check(self.scope in ("module", "neuron"), f"scope must be 'module' or 'neuron', got {self.scope!r}")

    def families(self) -> frozenset[str]:
        return frozenset(_CODED)

    def _output_bound(self, module: str, names: list[str], params: Mapping[str, torch.Tensor],
                      families: Mapping[str, str], dt: float | None, per_neuron: bool) -> torch.Tensor | None:
        """Scale bound from the state of an output module (no thresholds): see the module docstring."""
        by_family: dict[str, list[str]] = {}
        for n in names:
            by_family.setdefault(families[n], []).append(n)
        if self.state_bits is None or "thresholds" in by_family or not by_family.get("weights"):
            return None
        members = [params[n] for n in by_family["weights"] + by_family.get("biases", []) + by_family.get("taus", [])]
        if not _per_neuron(members) or len(by_family.get("biases", [])) > 1:
            return None  # not one population of output neurons (a foreign module's layout)
        weight = torch.cat([params[n].detach().reshape(params[n].shape[0], -1) for n in by_family["weights"]], 1)
        bias = params[by_family["biases"][0]] if by_family.get("biases") else None
        taus = {n.rpartition(".")[2]: params[n] for n in by_family.get("taus", [])}
        if not taus:
            theta = digital.spike_count_threshold(weight, bias)
            return digital.scale_bound(theta, self.threshold_bits)
        if "tau_mem" not in taus:
            return None
        if dt is None:
            raise ValueError(f"{self.kind} needs the model's time step dt to bound the membrane of {module!r}")
        bound = digital.leaky_state_scale(weight, bias, taus["tau_mem"], taus.get("tau_syn"), dt, self.state_bits)
        return bound if per_neuron else bound.amin()

    def scales(self, params: Mapping[str, torch.Tensor], families: Mapping[str, str], dt: float | None = None
               ) -> dict[str, torch.Tensor]:
        """Scale per module (0-dim) or per neuron ``(n,)``; modules with nothing to quantise are left out."""
        modules: dict[str, list[str]] = {}
        for name in sorted(params):
            modules.setdefault(_module_of(name), []).append(name)
        bits = {"weights": self.weight_bits, "biases": self.bias_bits, "thresholds": self.threshold_bits}
        scales = {}
        for module, names in modules.items():
            coded = [n for n in names if families[n] in _CODED]
            if not coded:
                continue
            per_neuron = self.scope == "neuron" and _per_neuron([params[n] for n in coded])
            bounds = []
            for family, b in bits.items():
                members = ("thresholds", "adaptation") if family == "thresholds" else (family,)
                tensors = [params[n] for n in coded if families[n] in members]
                if tensors:
                    bounds.append(digital.scale_bound(_peak(tensors, per_neuron), b))
            output = self._output_bound(module, names, params, families, dt, per_neuron)
            scales[module] = digital.integer_scale(bounds + ([output] if output is not None else []))
        return scales

    def integer_codes(self, params: Mapping[str, torch.Tensor], families: Mapping[str, str],
                      dt: float | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{name: (codes int64, scale)}`` with ``value = codes / scale`` (:meth:`decode`); what the Xylo
        exporter writes to the chip. ``dt`` (s) is needed only for a leaky output module with ``state_bits``."""
        scales = self.scales(params, families, dt)
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
            q = digital.code_max(bits[fam])
            low = 1 if fam in ("thresholds", "adaptation") else -q
            out[name] = (torch.round(theta * scale).clamp(low, q).to(torch.int64), scale)
        return out

    @staticmethod
    def decode(codes: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``codes / scale`` in float64, then ``dtype``: the value a chip's integer stands for."""
        return (codes.double() / scale.double()).to(dtype)

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        codes = self.integer_codes({n: state.params[n] for n in state.names()}, state.families, state.dt)
        return state.with_params({n: self.decode(c, s, state.params[n].dtype) for n, (c, s) in codes.items()})


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
        check(isinstance(self.dash_min, int) and 0 <= self.dash_min <= self.dash_max,
              f"dash_min must be an integer in [0, 2**dash_bits - 1] (0: the state is cleared every step), "
              f"got {self.dash_min!r}")

    @property
    def dash_max(self) -> int:
        return 2**self.dash_bits - 1

    def families(self) -> frozenset[str]:
        return frozenset({"taus", "decays"})

    def dashes(self, params: Mapping[str, torch.Tensor], families: Mapping[str, str], dt: float | None
               ) -> dict[str, torch.Tensor]:
        """``{name: dash (int64)}`` for every time constant and decay factor (the exact rule, :mod:`.digital`)."""
        out = {}
        for name in sorted(params):
            fam = families[name]
            if fam == "taus":
                if dt is None:
                    raise ValueError(f"{self.kind} needs the model's time step dt to convert {name} (seconds)")
                real = digital.exact_dash(params[name].detach(), dt)
            elif fam == "decays":
                real = digital.decay_dash(params[name].detach())
            else:
                continue
            out[name] = digital.nearest_dash(real, self.dash_min, self.dash_max)
        return out

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        updates = {}
        params = {n: state.params[n] for n in state.names()}
        for name, dash in self.dashes(params, state.families, state.dt).items():
            value = (digital.dash_to_tau(dash, state.dt) if state.families[name] == "taus"
                     else digital.dash_to_decay(dash))
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
