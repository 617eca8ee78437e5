"""Classification readouts: from hidden spike trains ``(batch, time, n_in)`` to logits ``(batch, classes)``.

- :class:`SpikeMeanReadout` (the paper's): ``logits = W mean_t S[t] + b``. Linear, so it equals a dense layer
  applied at every step followed by a mean over time (how it maps onto Rockpool and chips).
- :class:`LeakyReadout`: a non-spiking current-based leaky integrator per class (the LIF step of
  :mod:`robust_snn.core.lif_step` without threshold), ``logits = mean_t V[t]``. Maps onto a Rockpool ``LIFTorch``
  whose threshold is infinite.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .lif import DEFAULT_DT, DEFAULT_TAU_MEM, DEFAULT_TAU_SYN, filter_gain
from .lif_step import LIFParams, decay, initial_state, lif_drive, lif_step, project
from .parameters import Parameter, initialise, zeros


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, bound: float) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


def _init_spike_mean_weight(readout: nn.Module, shape: tuple[int, ...], generator: torch.Generator | None,
                            given: dict[str, torch.Tensor]) -> torch.Tensor:
    """U(-4, 4) / sqrt(n_in)"""
    return _uniform(shape, generator, 1.0 / math.sqrt(readout.n_in)) * 4


def _init_leaky_weight(readout: nn.Module, shape: tuple[int, ...], generator: torch.Generator | None,
                       given: dict[str, torch.Tensor]) -> torch.Tensor:
    """U(-4, 4) (1 - mean alpha)(1 - mean beta) / sqrt(n_in): the filter gains of the given time constants undone"""
    gain = filter_gain(readout.dt, given["tau_mem"], given["tau_syn"])
    return _uniform(shape, generator, float(gain) / math.sqrt(readout.n_in) * 4)


class SpikeMeanReadout(nn.Module):
    """``logits = W mean_t x[t] + b``; ``weight`` ``(classes, n_in)``, ``bias`` ``(classes,)``."""

    weight = Parameter("weights", ("n_classes", "n_in"), "logit per unit spike rate", "readout weights",
                       init=_init_spike_mean_weight)
    bias = Parameter("biases", ("n_classes",), "logit", "readout bias", init=zeros)

    def __init__(self, n_in: int, n_classes: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.n_in, self.n_classes = n_in, n_classes
        initialise(self, generator)

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        # sum / T, not mean: the same numbers (PyTorch's mean is that sum and division), but the gradient reaching
        # the spikes stays a broadcast over time (stride 0), which the scan's backward reads in place, where
        # mean's backward writes g / T for every step (measured: 0.43 ms of the demo network's 4.7 ms step).
        return spikes.sum(1) / spikes.shape[1] @ self.weight.t() + self.bias


class LeakyReadout(nn.Module):
    """Non-spiking leaky integrator: ``I = beta (I + W x)``, ``V = alpha V + I + b``, ``logits = mean_t V``."""

    weight = Parameter("weights", ("n_classes", "n_in"), "membrane units per input spike", "readout weights",
                       init=_init_leaky_weight)
    bias = Parameter("biases", ("n_classes",), "membrane units per step", "readout bias", init=zeros)
    tau_mem = Parameter("taus", ("n_classes",), "s", "membrane time constant", constraint="positive")
    tau_syn = Parameter("taus", ("n_classes",), "s", "synaptic time constant", constraint="positive")

    def __init__(
        self,
        n_in: int,
        n_classes: int,
        *,
        dt: float = DEFAULT_DT,
        tau_mem: float | torch.Tensor = DEFAULT_TAU_MEM,
        tau_syn: float | torch.Tensor = DEFAULT_TAU_SYN,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_in, self.n_classes, self.dt = n_in, n_classes, float(dt)
        initialise(self, generator, tau_mem=tau_mem, tau_syn=tau_syn)

    def membrane(self, x: torch.Tensor) -> torch.Tensor:
        """Membrane trace ``(batch, time, classes)``."""
        alpha, beta, bias = decay(self.dt, self.tau_mem), decay(self.dt, self.tau_syn), self.bias
        drive = lif_drive(project(x, self.weight), bias, beta)
        params = LIFParams(alpha, beta, None)  # no threshold: the LIF step without spikes or reset
        state = initial_state(bias, (x.shape[0],))
        trace = []
        for drive_t in drive.unbind(1):
            state = lif_step(drive_t, state, params)
            trace.append(state.v)
        return torch.stack(trace, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.membrane(x).mean(1)
