"""Current-based leaky integrate-and-fire layer, Rockpool-style.

One layer = dense synaptic weights + a population of CuBa-LIF neurons. Each time step ``dt`` (seconds),
with ``alpha = exp(-dt / tau_mem)``, ``beta = exp(-dt / tau_syn)``, ``rho = exp(-dt / tau_adapt)``:

.. math::

    I_{syn}[t] = \\beta\\,(I_{syn}[t-1] + W x[t] + W_{rec} S[t-1])

    V[t] = \\alpha\\,V[t-1] + I_{syn}[t] + b

    \\theta[t] = \\theta_0 + \\kappa\\,A[t-1]  \\quad\\text{(adaptive threshold, optional)}

    S[t] = H(V[t] - \\theta[t]), \\qquad V[t] \\leftarrow V[t] - S[t]\\,\\theta[t]  \\quad\\text{(reset by subtraction)}

    A[t] = \\rho\\,A[t-1] + S[t]

This is exactly the update order of Rockpool's ``LIFTorch`` (with ``max_spikes_per_dt = 1``), so a network
converts to Rockpool and back with identical membrane traces (see :mod:`robust_snn.interop.rockpool`).
States start at zero on every call: unlike Rockpool modules, nothing carries over between batches.

Shapes: input ``(batch, time, n_in)``, output spikes ``(batch, time, n_out)``. Parameters (physical units):

- ``weight`` ``(n_out, n_in)``, family ``weights``: input synaptic weights (current per input unit).
- ``w_rec`` ``(n_out, n_out)``, family ``weights``: recurrent weights; the diagonal is held at zero.
- ``bias`` ``(n_out,)``, family ``biases``: constant input current added to the membrane each step.
- ``tau_mem``, ``tau_syn`` ``(n_out,)``, family ``taus``: time constants in seconds, positive by construction.
- ``threshold`` ``(n_out,)``, family ``thresholds``: firing threshold, positive by construction.
- ``tau_adapt`` ``(n_out,)`` (family ``taus``) and ``adapt_strength`` ``(n_out,)`` (family ``adaptation``):
  spike-frequency adaptation, present only when ``adaptive=True``.

The hot path is the time loop. Everything that does not depend on spikes (the input projection for all time
steps, ``beta * W x + (1 - beta) b``) is computed in one batched operation before the loop. The loop itself
runs in :class:`~robust_snn.core.lif_scan.LIFScan`, one autograd function with a hand-written backward pass
(``use_scan = True``, the default); ``use_scan = False`` runs the same equations op by op under autograd,
the reference the scan is tested against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .parameters import PositiveParameter
from .lif_scan import lif_scan, lif_spikes
from .surrogates import Surrogate


def decay(dt: float, tau: torch.Tensor) -> torch.Tensor:
    """Per-step decay factor ``exp(-dt / tau)`` (``dt`` and ``tau`` in seconds)."""
    return torch.exp(-dt / tau)


def _full(n: int, value: float | torch.Tensor, what: str) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.dim() == 0:
        t = t.expand(n).clone()
    if t.shape != (n,):
        raise ValueError(f"{what} must be a scalar or have shape ({n},), got {tuple(t.shape)}")
    return t


@dataclass(frozen=True)
class LIFState:
    """Recorded traces of one forward pass, each ``(batch, time, n_out)``; ``vmem`` is after reset."""

    vmem: torch.Tensor
    isyn: torch.Tensor
    spikes: torch.Tensor


class LIFLayer(nn.Module):
    """Dense weights + current-based LIF neurons (optionally recurrent and adaptive). See module docstring."""

    param_families = {
        "weight": "weights",
        "w_rec": "weights",
        "bias": "biases",
        "tau_mem": "taus",
        "tau_syn": "taus",
        "tau_adapt": "taus",
        "threshold": "thresholds",
        "adapt_strength": "adaptation",
    }
    tau_mem = PositiveParameter("membrane time constant (s), (n_out,)")
    tau_syn = PositiveParameter("synaptic time constant (s), (n_out,)")
    threshold = PositiveParameter("firing threshold (membrane units), (n_out,)")
    tau_adapt = PositiveParameter("adaptation time constant (s), (n_out,); adaptive layers only")
    adapt_strength = PositiveParameter("threshold increase per adaptation unit, (n_out,); adaptive layers only")

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        dt: float = 1e-2,
        tau_mem: float | torch.Tensor = 0.1,
        tau_syn: float | torch.Tensor = 0.05,
        threshold: float | torch.Tensor = 1.0,
        bias: float | torch.Tensor = 0.0,
        recurrent: bool = False,
        adaptive: bool = False,
        tau_adapt: float | torch.Tensor = 1.0,
        adapt_strength: float | torch.Tensor = 0.1,
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

        tau_mem_t = _full(n_out, tau_mem, "tau_mem")
        tau_syn_t = _full(n_out, tau_syn, "tau_syn")
        # Scale the initial weights by the synaptic and membrane filter gains so that a unit-variance input
        # drives the membrane to about one threshold, whatever the time constants.
        gain = (1 - decay(self.dt, tau_mem_t).mean()) * (1 - decay(self.dt, tau_syn_t).mean())
        scale = float(init_gain) * float(gain.sqrt()) / math.sqrt(n_in) * 3.0
        self.weight = nn.Parameter(scale * torch.randn(n_out, n_in, generator=generator))
        if recurrent:
            w_rec = scale * torch.randn(n_out, n_out, generator=generator) * math.sqrt(n_in / n_out)
            self.w_rec = nn.Parameter(w_rec.fill_diagonal_(0.0))
            self.register_buffer("_offdiag", 1.0 - torch.eye(n_out), persistent=False)
        self.bias = nn.Parameter(_full(n_out, bias, "bias"))
        self.tau_mem = tau_mem_t
        self.tau_syn = tau_syn_t
        self.threshold = _full(n_out, threshold, "threshold")
        if adaptive:
            self.tau_adapt = _full(n_out, tau_adapt, "tau_adapt")
            self.adapt_strength = _full(n_out, adapt_strength, "adapt_strength")

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
        # drive[t] = beta * W x[t] + (1 - beta) * b: the loop then tracks u = I_syn + b in one fused op.
        drive = torch.addcmul((1 - beta) * bias, torch.matmul(x, self.weight.t()), beta)
        w_rec_t = (self.w_rec * self._offdiag * beta[:, None]).t() if self.recurrent else None
        rho = decay(self.dt, self.tau_adapt) if self.adaptive else None
        kappa = self.adapt_strength if self.adaptive else None
        if self.use_scan and not record and not torch.is_grad_enabled():
            return lif_spikes(drive, bias, alpha, beta, threshold, w_rec_t, rho, kappa)
        if self.use_scan:
            out, vmem, u = lif_scan(drive, bias, alpha, beta, threshold, w_rec_t, rho, kappa,
                                    self.surrogate.shape, self.surrogate.effective_scale)
            return (out, LIFState(vmem, u - bias, out)) if record else out

        batch = x.shape[0]
        u = bias.expand(batch, self.n_out)
        v = torch.zeros_like(u)
        s = torch.zeros_like(u)
        adapt = torch.zeros_like(u)
        spikes, vmems, currents = [], [], []
        for drive_t in drive.unbind(1):
            if w_rec_t is not None:
                drive_t = torch.addmm(drive_t, s, w_rec_t)
            u = torch.addcmul(drive_t, u, beta)
            v = torch.addcmul(u, v, alpha)
            if self.adaptive:
                theta = torch.addcmul(threshold, adapt, kappa)
                s = self._spike(v, theta)
                v = v - s * theta
                adapt = torch.addcmul(s, adapt, rho)
            else:
                s = self._spike(v, threshold)
                v = torch.addcmul(v, s, threshold, value=-1.0)
            spikes.append(s)
            if record:
                vmems.append(v)
                currents.append(u - bias)
        out = torch.stack(spikes, dim=1)
        if record:
            return out, LIFState(torch.stack(vmems, 1), torch.stack(currents, 1), out)
        return out
