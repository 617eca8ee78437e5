"""Current-based leaky integrate-and-fire layer, Rockpool-style.

One layer = dense synaptic weights + a population of CuBa-LIF neurons. Each time step ``dt`` (seconds), in the
words of :mod:`robust_snn.core.lif_step` (where the equations are written, once, for every path):
the synaptic current decays with ``tau_syn`` and takes the input and recurrent spikes, the membrane decays with
``tau_mem`` and integrates current and bias, a neuron spikes when the membrane reaches its (optionally
adaptive) threshold and the threshold is subtracted.

This is exactly the update order of Rockpool's ``LIFTorch`` (with ``max_spikes_per_dt = 1``), so a network
converts to Rockpool and back with identical membrane traces (see :mod:`robust_snn.interop.rockpool`).
States start at zero on every call: unlike Rockpool modules, nothing carries over between batches.

Shapes: input ``(batch, time, n_in)``, output spikes ``(batch, time, n_out)``. Parameters: declared once, on
:class:`LIFLayer`, each with its family, shape, unit, constraint and initialisation, and created from those
declarations (:class:`~robust_snn.core.parameters.Parameter`, :func:`~robust_snn.core.parameters.initialise`;
``describe_parameters(model)`` lists them): input and
recurrent weights, bias, ``tau_mem`` and ``tau_syn`` (seconds), threshold, and with ``adaptive=True``
``tau_adapt`` and ``adapt_strength``.

The hot path is the time loop. The input projection ``W x`` for all time steps is one batched product before
the loop. The loop itself runs :func:`~robust_snn.core.lif_step.lif_step` in
:class:`~robust_snn.core.lif_scan.LIFScan`, one autograd function with a hand-written backward pass
(``use_scan = True``, the default), which forms the drive ``beta * W x + (1 - beta) b``
(:func:`~robust_snn.core.lif_step.lif_drive`) from the projection itself (``projected=True``: on the CPU row
by row inside its C loops, so the drive is never written out, and the projection's gradient ``beta gU`` comes
out of the backward loop; measured in benchmarks/README.md); ``use_scan = False`` runs the same step op by op
under autograd with the surrogate spike function, the reference the scan is tested against (and what
``torch.compile`` unrolls, :func:`~robust_snn.core.network.compile_model`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .lif_scan import keeps_u, lif_scan, lif_spikes
from .lif_step import LIFParams, decay, initial_state, lif_drive, lif_step, project, recurrent_matrix
from .parameters import Parameter, initialise
from .surrogates import Surrogate

# A neuron's default physics, written once: LIFLayer, LeakyReadout and NetworkConfig all take these, so a change
# here changes every place a network is built. Seconds (time step, time constants) and membrane units.
DEFAULT_DT = 1e-2
DEFAULT_TAU_MEM = 0.1
DEFAULT_TAU_SYN = 0.05
DEFAULT_THRESHOLD = 1.0
DEFAULT_TAU_ADAPT = 1.0
DEFAULT_ADAPT_STRENGTH = 0.1


def filter_gain(dt: float, tau_mem: torch.Tensor, tau_syn: torch.Tensor) -> torch.Tensor:
    """``(1 - mean alpha)(1 - mean beta)``, ``alpha = exp(-dt / tau_mem)``, ``beta = exp(-dt / tau_syn)``: how much
    of a constant input the synaptic and membrane filters pass per step (the initial weight scales undo it)."""
    return (1 - decay(dt, tau_mem).mean()) * (1 - decay(dt, tau_syn).mean())


def _input_scale(layer: "LIFLayer", given: dict[str, torch.Tensor]) -> float:
    """``3 init_gain sqrt(filter_gain) / sqrt(n_in)``: so that a unit-variance input drives the membrane to about
    one threshold, whatever the given time constants."""
    gain = filter_gain(layer.dt, given["tau_mem"], given["tau_syn"])
    return layer.init_gain * float(gain.sqrt()) / math.sqrt(layer.n_in) * 3.0


def _init_weight(layer: "LIFLayer", shape: tuple[int, ...], generator: torch.Generator | None,
                 given: dict[str, torch.Tensor]) -> torch.Tensor:
    """N(0, 1) x 3 init_gain sqrt((1 - mean alpha)(1 - mean beta)) / sqrt(n_in): a unit-variance input drives the
    membrane to about one threshold"""
    return _input_scale(layer, given) * torch.randn(shape, generator=generator)


def _init_w_rec(layer: "LIFLayer", shape: tuple[int, ...], generator: torch.Generator | None,
                given: dict[str, torch.Tensor]) -> torch.Tensor:
    """as weight, times sqrt(n_in / n_out); diagonal 0"""
    w_rec = _input_scale(layer, given) * torch.randn(shape, generator=generator) * math.sqrt(layer.n_in / layer.n_out)
    return w_rec.fill_diagonal_(0.0)


@dataclass(frozen=True)
class LIFState:
    """Recorded traces of one forward pass, each ``(batch, time, n_out)``; ``vmem`` is after reset."""

    vmem: torch.Tensor
    isyn: torch.Tensor
    spikes: torch.Tensor


class LIFLayer(nn.Module):
    """Dense weights + current-based LIF neurons (optionally recurrent and adaptive). See module docstring."""

    weight = Parameter("weights", ("n_out", "n_in"), "membrane units per input unit", "input synaptic weights",
                       init=_init_weight)
    w_rec = Parameter("weights", ("n_out", "n_out"), "membrane units per spike", "recurrent weights",
                      constraint="zero_diagonal", only_if="recurrent", init=_init_w_rec)
    bias = Parameter("biases", ("n_out",), "membrane units per step", "constant input current added to the membrane")
    tau_mem = Parameter("taus", ("n_out",), "s", "membrane time constant", constraint="positive")
    tau_syn = Parameter("taus", ("n_out",), "s", "synaptic time constant", constraint="positive")
    threshold = Parameter("thresholds", ("n_out",), "membrane units", "firing threshold", constraint="positive")
    tau_adapt = Parameter("taus", ("n_out",), "s", "adaptation time constant", constraint="positive",
                          only_if="adaptive")
    adapt_strength = Parameter("adaptation", ("n_out",), "membrane units per adaptation unit",
                               "threshold increase per unit of adaptation", constraint="positive", only_if="adaptive")

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        dt: float = DEFAULT_DT,
        tau_mem: float | torch.Tensor = DEFAULT_TAU_MEM,
        tau_syn: float | torch.Tensor = DEFAULT_TAU_SYN,
        threshold: float | torch.Tensor = DEFAULT_THRESHOLD,
        bias: float | torch.Tensor = 0.0,
        recurrent: bool = False,
        adaptive: bool = False,
        tau_adapt: float | torch.Tensor = DEFAULT_TAU_ADAPT,
        adapt_strength: float | torch.Tensor = DEFAULT_ADAPT_STRENGTH,
        surrogate: Surrogate | None = None,
        init_gain: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_in < 1 or n_out < 1:
            raise ValueError(f"layer sizes must be >= 1, got n_in={n_in}, n_out={n_out}")
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
        self.n_in, self.n_out, self.dt = n_in, n_out, float(dt)
        self.recurrent, self.adaptive = recurrent, adaptive
        self.surrogate = surrogate or Surrogate()
        self._spike = self.surrogate.function()
        self.use_scan = True

        self.init_gain = float(init_gain)
        initialise(self, generator, bias=bias, tau_mem=tau_mem, tau_syn=tau_syn, threshold=threshold,
                   tau_adapt=tau_adapt, adapt_strength=adapt_strength)
        if recurrent:
            self.register_buffer("_offdiag", 1.0 - torch.eye(n_out), persistent=False)

    def extra_repr(self) -> str:
        return (
            f"{self.n_in} -> {self.n_out}, dt={self.dt}, recurrent={self.recurrent}, "
            f"adaptive={self.adaptive}, surrogate={self.surrogate.name}"
        )

    def forward(self, x: torch.Tensor, record: bool = False) -> torch.Tensor | tuple[torch.Tensor, LIFState]:
        """Spikes ``(batch, time, n_out)`` for input currents/spikes ``x`` ``(batch, time, n_in)``.

        With ``record=True`` also returns an :class:`LIFState` with the membrane (after reset), synaptic
        current and spike traces.
        """
        if x.dim() != 3 or x.shape[-1] != self.n_in:
            raise ValueError(f"LIFLayer expects input (batch, time, {self.n_in}), got {tuple(x.shape)}")
        alpha = decay(self.dt, self.tau_mem)
        beta = decay(self.dt, self.tau_syn)
        bias, threshold = self.bias, self.threshold
        projection = project(x, self.weight)
        w_rec_t = recurrent_matrix(self.w_rec, beta, self._offdiag) if self.recurrent else None
        rho = decay(self.dt, self.tau_adapt) if self.adaptive else None
        kappa = self.adapt_strength if self.adaptive else None
        # The scan forms the drive (lif_drive) from the projection itself (projected=True): same numbers
        if self.use_scan and not record and not torch.is_grad_enabled():
            return lif_spikes(projection, bias, alpha, beta, threshold, w_rec_t, rho, kappa, projected=True)
        if self.use_scan:
            out, vmem, u = lif_scan(projection, bias, alpha, beta, threshold, w_rec_t, rho, kappa,
                                    self.surrogate.shape, self.surrogate.effective_scale, projected=True,
                                    keep_u=keeps_u(beta, record))
            return (out, LIFState(vmem, u - bias, out)) if record else out

        # The reference: the same step under autograd, op by op, with the surrogate spike function.
        drive = lif_drive(projection, bias, beta)
        params = LIFParams(alpha, beta, threshold, w_rec_t, rho, kappa)
        state = initial_state(bias, (x.shape[0],), self.adaptive)
        spikes, vmems, currents = [], [], []
        for drive_t in drive.unbind(1):
            state = lif_step(drive_t, state, params, self._spike)
            spikes.append(state.s)
            if record:
                vmems.append(state.v)
                currents.append(state.u - bias)
        out = torch.stack(spikes, dim=1)
        if record:
            return out, LIFState(torch.stack(vmems, 1), torch.stack(currents, 1), out)
        return out
