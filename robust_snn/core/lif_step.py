"""One time step of current-based LIF dynamics: the single definition every LIF path in the package runs.

Why one place: the same equations used to be written out by hand in the layer's reference loop, the fused scan,
the chip-batched ensemble, the leaky readout and (through those) the Xylo twin. Now each of them is a loop
around :func:`lif_step`, and :func:`lif_drive`, :func:`recurrent_matrix`, :func:`initial_state` and
:func:`decay` give the per-layer constants, so a change to the dynamics is a change here.

Equations, per step ``t`` of length ``dt`` (s), with ``alpha = exp(-dt / tau_mem)``, ``beta = exp(-dt / tau_syn)``,
``rho = exp(-dt / tau_adapt)`` (time constants in seconds)::

    d_t     = beta W x_t + (1 - beta) b  +  S_{t-1} W_r        W_r = (beta W_rec)^T, zero diagonal
    U_t     = beta U_{t-1} + d_t                               U_0 = b           (U = I_syn + b)
    V_t     = alpha V'_{t-1} + U_t                             V'_0 = 0
    theta_t = threshold + kappa A_{t-1}                        (adaptive; else theta_t = threshold)
    S_t     = H(V_t - theta_t)                                 H(0) = 1 (``>=``, as Rockpool's LIFTorch)
    V'_t    = V_t - S_t theta_t                                (reset by subtraction)
    A_t     = rho A_{t-1} + S_t                                A_0 = 0

This is ``I_syn[t] = beta (I_syn[t-1] + W x[t] + W_rec S[t-1])``, ``V[t] = alpha V[t-1] + I_syn[t] + b`` in the
variable ``U = I_syn + b``: tracking ``U`` folds the bias into the drive, so a step is two fused multiply-adds
and the membrane, current, threshold and weights stay in physical units (current and membrane in threshold
units of the model, no hidden rescaling). Without a threshold (``threshold=None``) the neuron never spikes and
never resets: the non-spiking leaky integrator of :class:`~robust_snn.core.readout.LeakyReadout`.

Shapes: the state tensors are ``(*lead, n)`` (``lead`` = ``(batch,)``, or ``(chips, batch)``...); the per-neuron
constants broadcast against them (``(n,)``, or ``(chips, 1, n)``); ``w_rec`` is ``(n, n)`` or ``(*lead', n, n)``
for a batched product (e.g. ``(chips, n, n)`` against states ``(chips, batch, n)``).

Pure by default: every op returns a fresh tensor and autograd flows through it (with a surrogate ``spike``
function, this is the reference the hand-written backward of :mod:`robust_snn.core.lif_scan` is tested against,
and what ``torch.compile`` unrolls). Hot loops pass ``out=`` (:class:`StepBuffers`) to write each result into
preallocated memory instead, with the same ops on the same operands, so the numbers are identical.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch

SpikeFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class LIFParams(NamedTuple):
    """Per-step constants of a population (see the module docstring), broadcastable to the state.

    ``alpha``, ``beta``, ``rho``: decays per step (dimensionless, in (0, 1)); ``threshold`` and ``kappa`` in
    membrane units (``None`` threshold: a non-spiking integrator); ``w_rec``: ``(beta W_rec)^T`` from
    :func:`recurrent_matrix`, or ``None``; ``rho``/``kappa``: adaptation, or ``None`` when not adaptive.
    """

    alpha: torch.Tensor
    beta: torch.Tensor
    threshold: torch.Tensor | None
    w_rec: torch.Tensor | None = None
    rho: torch.Tensor | None = None
    kappa: torch.Tensor | None = None


class LIFStepState(NamedTuple):
    """State after a step: ``u = I_syn + b``, ``v`` the membrane after reset, ``s`` the spikes (``None`` before
    the first step and for a non-spiking integrator), ``a`` the adaptation trace (``None`` when not adaptive)."""

    u: torch.Tensor
    v: torch.Tensor
    s: torch.Tensor | None
    a: torch.Tensor | None


class StepBuffers(NamedTuple):
    """Where :func:`lif_step` writes its results (``out=``); ``None`` fields get a fresh tensor.

    ``d``: the drive, updated in place by the recurrent current (pass the step's drive itself); ``v``: the
    membrane, written before the reset and reset in place; ``theta``: the adaptive threshold; ``s``: spikes,
    any float dtype (``ge`` writes 0/1). A buffer may be the previous state's own tensor (an in-place update):
    each state tensor is read before its buffer is written.
    """

    d: torch.Tensor | None = None
    u: torch.Tensor | None = None
    v: torch.Tensor | None = None
    theta: torch.Tensor | None = None
    s: torch.Tensor | None = None
    a: torch.Tensor | None = None


_NO_BUFFERS = StepBuffers()
_new_tuple = tuple.__new__  # builds a LIFStepState without the generated __new__'s Python frame (hot loop)


def decay(dt: float, tau: torch.Tensor) -> torch.Tensor:
    """Per-step decay factor ``exp(-dt / tau)`` (``dt`` and ``tau`` in seconds)."""
    return torch.exp(-dt / tau)


def project(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The input projection ``W x`` for all steps, ``(batch, time, n_in) -> (batch, time, n)``, time-major
    where that costs no more than a copy of ``x``.

    Why not plain ``x @ W^T``: a spike trace from a layer is stored time-major (:mod:`.trace_layout`), a
    transposed view that ``matmul`` would copy to fold batch and time; folding time and batch instead is free,
    and the product then comes out time-major too, so the next layer's drive, traces and gradients keep one
    layout without copies. A batch-major input (data) with at most as many channels as outputs is copied to
    time-major first, for the same reason: otherwise the drive is batch-major, and the backward pass copies
    the gradient of the product (``n`` floats per row, against ``n_in`` for ``x``) to fold it for the weight
    gradient. Each output row is the same dot products either way.
    """
    if x.dim() == 3 and not x.is_contiguous() and x.transpose(0, 1).is_contiguous():
        return torch.matmul(x.transpose(0, 1), weight.t()).transpose(0, 1)
    if x.dim() == 3 and x.shape[0] > 1 and x.shape[1] > 1 and x.shape[2] <= weight.shape[-2]:
        return torch.matmul(x.transpose(0, 1).contiguous(), weight.t()).transpose(0, 1)
    return torch.matmul(x, weight.t())


def lif_drive(projection: torch.Tensor, bias: torch.Tensor, beta: torch.Tensor,
              out: torch.Tensor | None = None) -> torch.Tensor:
    """The spike-independent part of the drive, ``beta W x + (1 - beta) b``, for all steps at once.

    ``projection`` is ``W x`` (e.g. ``(batch, time, n)``); ``bias`` and ``beta`` broadcast against it.
    """
    if out is None:
        return torch.addcmul((1 - beta) * bias, projection, beta)
    return torch.addcmul((1 - beta) * bias, projection, beta, out=out)


def recurrent_matrix(w_rec: torch.Tensor, beta: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``(beta W_rec)^T`` with the diagonal masked out: ``S W_r`` is the recurrent part of the drive.

    ``w_rec`` ``(*lead, n, n)`` (row = target neuron), ``beta`` ``(*lead, n)``, ``mask`` ``(n, n)`` (e.g.
    ``1 - eye(n)``: no self-connection) or ``None``. Returns ``(*lead, n, n)``.
    """
    w = w_rec * mask if mask is not None else w_rec
    return (w * beta[..., :, None]).transpose(-1, -2)


def initial_state(bias: torch.Tensor, lead: tuple[int, ...], adaptive: bool = False) -> LIFStepState:
    """The state before the first step: ``U_0 = b`` (broadcast to ``(*lead, n)``), ``V_0 = 0``, ``A_0 = 0``.

    ``u`` is an expanded view of ``bias`` (autograd flows into the bias); clone it to update it in place.
    """
    n = bias.shape[-1]
    u = bias.expand(*lead, n)
    zeros = torch.zeros_like(u)
    return LIFStepState(u, zeros, None, torch.zeros_like(zeros) if adaptive else None)


def _add_recurrent(d: torch.Tensor, s: torch.Tensor, w: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """``d + s @ w``: one (batched) GEMM with accumulation where the shapes allow it."""
    if s.dim() == 2 and w.dim() == 2:
        return torch.addmm(d, s, w) if out is None else torch.addmm(d, s, w, out=out)
    if s.dim() == 3 and w.dim() == 3:
        return torch.baddbmm(d, s, w) if out is None else torch.baddbmm(d, s, w, out=out)
    total = d + torch.matmul(s, w)
    return total if out is None else out.copy_(total)


def lif_step(d: torch.Tensor, state: LIFStepState, p: LIFParams, spike: SpikeFunction | None = None,
             out: StepBuffers = _NO_BUFFERS) -> LIFStepState:
    """One step of the module docstring's equations: the state after step ``t`` from the state after ``t - 1``.

    ``d``: the step's spike-independent drive (``lif_drive``, ``(*lead, n)``); ``state``: the previous
    :class:`LIFStepState`; ``p``: :class:`LIFParams`. ``spike(v, theta)`` makes the spikes: ``None`` is the
    Heaviside step ``v >= theta`` without gradient (the fused scan's forward, inference); a surrogate spike
    function (:meth:`~robust_snn.core.surrogates.Surrogate.function`) lets autograd differentiate the step.
    ``out``: :class:`StepBuffers` to write into (no autograd through them).
    """
    alpha, beta, threshold, w_rec, rho, kappa = p  # unpacked once: this runs once per layer and step
    out_d, out_u, out_v, out_theta, out_s, out_a = out
    u, v, s, a = state
    addcmul = torch.addcmul
    if w_rec is not None and s is not None:  # S_0 = 0: nothing to add at the first step
        d = _add_recurrent(d, s, w_rec, out_d)
    u = addcmul(d, u, beta) if out_u is None else addcmul(d, u, beta, out=out_u)
    v = addcmul(u, v, alpha) if out_v is None else addcmul(u, v, alpha, out=out_v)
    if threshold is None:  # non-spiking integrator
        return _new_tuple(LIFStepState, (u, v, None, None))
    theta = threshold
    if rho is not None:  # adaptive threshold
        theta = addcmul(theta, a, kappa) if out_theta is None else addcmul(theta, a, kappa, out=out_theta)
    if spike is not None:
        s = spike(v, theta)
    elif out_s is not None:
        s = torch.ge(v, theta, out=out_s)
    else:
        s = torch.ge(v, theta).to(v.dtype)
    v = addcmul(v, s, theta, value=-1.0) if out_v is None else addcmul(v, s, theta, value=-1.0, out=out_v)
    if rho is not None:
        a = addcmul(s, a, rho) if out_a is None else addcmul(s, a, rho, out=out_a)
    return _new_tuple(LIFStepState, (u, v, s, a))


__all__ = ["LIFParams", "LIFStepState", "StepBuffers", "decay", "initial_state", "lif_drive", "lif_step", "project",
           "recurrent_matrix"]
