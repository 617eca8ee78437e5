"""The feed-forward LIF scan as two Triton kernels: the whole time loop in one GPU launch each way.

Why: on a GPU the eager scan (:mod:`robust_snn.core.lif_scan`) launches a handful of element-wise kernels per
time step, forward and backward, so a 500-step sequence is thousands of launches that each touch a
``(batch, n)`` slice: the GPU waits on launch latency, not on arithmetic or memory. Without recurrence
(``w_rec`` is None) every neuron of every batch row is independent over time, so one GPU thread can carry a
neuron's state through all steps in registers: one kernel reads the drive once and writes spikes, membrane and
``U`` once; one kernel runs the adjoint recursion backwards and writes ``dLoss/d drive`` once, accumulating the
per-neuron parameter gradients on the way. Traffic is then the floor (each trace read or written once).

The equations are those of :func:`~robust_snn.core.lif_step.lif_step` (non-adaptive, no recurrence) and the
adjoints those of :mod:`robust_snn.core.lif_scan`'s docstring, term by term; the surrogate derivative
``H'(V_t - theta)`` is computed by the caller with :mod:`robust_snn.core.surrogates` (one definition of each
shape) and passed in as a trace. Layers with recurrence or adaptation, vmapped chip ensembles and CPU tensors
keep the eager scan; :func:`applies` says which path a call takes.

``tests/test_lif_scan_triton.py`` runs both kernels in Triton's CPU interpreter (``TRITON_INTERPRET=1``)
against the eager scan, so the kernels' arithmetic is checked on machines without a GPU;
``benchmarks/bench_gpu.py`` checks CUDA against the CPU and times it. This module needs ``triton`` (the ``gpu``
extra; CUDA builds of PyTorch ship it) and is imported only when a CUDA tensor reaches the scan.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .lif_scan import _traces_like

#: Flattened ``(batch x neuron)`` lanes per program: each lane is one neuron of one batch row.
BLOCK = 256


@triton.jit
def _forward_kernel(drive, bias, alpha, beta, threshold, spikes, vmem, u_out,
                    lanes, n, steps, d_sb, d_st, d_sn, o_sb, o_st,
                    KEEP: tl.constexpr, BLOCK: tl.constexpr):
    lane = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = lane < lanes
    row, j = lane // n, lane % n
    a = tl.load(alpha + j, mask=live, other=0.0).to(tl.float32)
    b = tl.load(beta + j, mask=live, other=0.0).to(tl.float32)
    theta = tl.load(threshold + j, mask=live, other=0.0).to(tl.float32)
    u = tl.load(bias + j, mask=live, other=0.0).to(tl.float32)  # U_0 = b
    v = tl.zeros([BLOCK], dtype=tl.float32)  # V'_0 = 0
    d_at = drive + row * d_sb + j * d_sn
    o_at = row * o_sb + j
    t = tl.full([], 0, tl.int32)
    while t < steps:  # (a while loop: Triton's interpreter cannot take range() of a runtime bound on NumPy 2.5)
        d = tl.load(d_at + t * d_st, mask=live, other=0.0).to(tl.float32)
        u = d + u * b  # U_t = beta U_{t-1} + d_t
        v = u + v * a  # V_t = alpha V'_{t-1} + U_t
        s = (v >= theta).to(tl.float32)  # S_t = H(V_t - theta), H(0) = 1
        v = v - s * theta  # reset by subtraction
        tl.store(spikes + o_at + t * o_st, s.to(spikes.dtype.element_ty), mask=live)
        if KEEP:
            tl.store(vmem + o_at + t * o_st, v.to(vmem.dtype.element_ty), mask=live)
            tl.store(u_out + o_at + t * o_st, u.to(u_out.dtype.element_ty), mask=live)
        t += 1


@triton.jit
def _backward_kernel(g_s, g_v, g_u, surrogate, spikes, vmem, u_tr, bias, alpha, beta, threshold,
                     g_drive, sum_alpha, sum_beta, sum_theta,
                     lanes, n, steps, gs_sb, gs_st, gs_sn, gv_sb, gv_st, gv_sn, gu_sb, gu_st, gu_sn, o_sb, o_st,
                     HAS_GS: tl.constexpr, HAS_GV: tl.constexpr, HAS_GU: tl.constexpr, BLOCK: tl.constexpr):
    lane = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    live = lane < lanes
    row, j = lane // n, lane % n
    a = tl.load(alpha + j, mask=live, other=0.0).to(tl.float32)
    b = tl.load(beta + j, mask=live, other=0.0).to(tl.float32)
    theta = tl.load(threshold + j, mask=live, other=0.0).to(tl.float32)
    u0 = tl.load(bias + j, mask=live, other=0.0).to(tl.float32)
    o_at = row * o_sb + j
    gv_next = tl.zeros([BLOCK], dtype=tl.float32)
    gu_next = tl.zeros([BLOCK], dtype=tl.float32)
    acc_alpha = tl.zeros([BLOCK], dtype=tl.float32)
    acc_beta = tl.zeros([BLOCK], dtype=tl.float32)
    acc_theta = tl.zeros([BLOCK], dtype=tl.float32)
    t = steps - 1
    while t >= 0:
        at = o_at + t * o_st
        gvp = a * gv_next  # gV'_t = gVout_t + alpha gV_{t+1}
        if HAS_GV:
            gvp += tl.load(g_v + row * gv_sb + t * gv_st + j * gv_sn, mask=live, other=0.0).to(tl.float32)
        gs = tl.zeros([BLOCK], dtype=tl.float32)
        if HAS_GS:
            gs = tl.load(g_s + row * gs_sb + t * gs_st + j * gs_sn, mask=live, other=0.0).to(tl.float32)
        gs = gs - gvp * theta  # gS_t = gSout_t - gV'_t theta
        sur = tl.load(surrogate + at, mask=live, other=0.0).to(tl.float32)
        s = tl.load(spikes + at, mask=live, other=0.0).to(tl.float32)
        gv = gvp + gs * sur  # gV_t = gV'_t + gS_t H'(V_t - theta)
        gu = gv + b * gu_next  # gU_t = gUout_t + gV_t + beta gU_{t+1}
        if HAS_GU:
            gu += tl.load(g_u + row * gu_sb + t * gu_st + j * gu_sn, mask=live, other=0.0).to(tl.float32)
        tl.store(g_drive + at, gu.to(g_drive.dtype.element_ty), mask=live)
        # Parameter gradients, summed over time here (over the batch by the caller):
        # dL/dalpha = sum gV_t V'_{t-1}, dL/dbeta = sum gU_t U_{t-1}, dL/dtheta = sum -(gV'_t S_t + gS_t H').
        earlier = live & (t > 0)
        v_prev = tl.load(vmem + at - o_st, mask=earlier, other=0.0).to(tl.float32)
        u_prev = tl.where(t > 0, tl.load(u_tr + at - o_st, mask=earlier, other=0.0).to(tl.float32), u0)
        acc_alpha += gv * v_prev
        acc_beta += gu * u_prev
        acc_theta -= gvp * s + gs * sur
        gv_next, gu_next = gv, gu
        t -= 1
    tl.store(sum_alpha + lane, acc_alpha, mask=live)
    tl.store(sum_beta + lane, acc_beta, mask=live)
    tl.store(sum_theta + lane, acc_theta, mask=live)


def applies(drive: torch.Tensor, w_rec: torch.Tensor | None, rho: torch.Tensor | None,
            *per_neuron: torch.Tensor) -> bool:
    """Whether a scan call can take the kernels: a plain CUDA ``(batch, time, n)`` drive, no recurrence, no
    adaptation, per-neuron constants of ``n`` values, and index arithmetic that fits 32 bits."""
    if not drive.is_cuda or drive.dim() != 3 or w_rec is not None or rho is not None:
        return False
    if torch._C._functorch.is_batchedtensor(drive) or drive.numel() >= 2**31:
        return False
    n = drive.shape[2]
    return all(p is not None and p.numel() == n and p.device == drive.device for p in per_neuron)


def _per_neuron(p: torch.Tensor, n: int) -> torch.Tensor:
    return p.detach().reshape(-1).expand(n).contiguous()


def _in_layout(trace: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``trace`` with ``ref``'s strides (a copy only where they differ): both kernels index every trace alike."""
    if trace.stride() == ref.stride():
        return trace
    return torch.empty_strided(ref.shape, ref.stride(), dtype=trace.dtype, device=trace.device).copy_(trace)


def forward(drive: torch.Tensor, bias: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
            threshold: torch.Tensor, keep_traces: bool) -> tuple[torch.Tensor, torch.Tensor | None,
                                                                  torch.Tensor | None]:
    """Spikes, membrane after reset and ``U`` (``(batch, time, n)``, contiguous; the last two None unless
    ``keep_traces``), as :func:`robust_snn.core.lif_scan._run` returns them for a non-recurrent layer."""
    batch, steps, n = drive.shape
    spikes = _traces_like(drive)
    vmem = _traces_like(drive) if keep_traces else spikes
    u = _traces_like(drive) if keep_traces else spikes
    lanes = batch * n
    _forward_kernel[(triton.cdiv(lanes, BLOCK),)](
        drive, _per_neuron(bias, n), _per_neuron(alpha, n), _per_neuron(beta, n), _per_neuron(threshold, n),
        spikes, vmem, u, lanes, n, steps, *drive.stride(), *spikes.stride()[:2], KEEP=keep_traces, BLOCK=BLOCK)
    return spikes, (vmem if keep_traces else None), (u if keep_traces else None)


def backward(g_spikes: torch.Tensor | None, g_vmem: torch.Tensor | None, g_u: torch.Tensor | None,
             surrogate: torch.Tensor, spikes: torch.Tensor, vmem: torch.Tensor, u: torch.Tensor,
             bias: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor,
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``dLoss/d drive`` ``(batch, time, n)`` (= ``gU``) and the per-``(batch row, neuron)`` sums over time of
    ``gV_t V'_{t-1}``, ``gU_t U_{t-1}`` and ``gTheta_t`` (``(batch, n)`` each; summing them over the batch
    gives the ``alpha``, ``beta`` and threshold gradients)."""
    batch, steps, n = spikes.shape
    traces = [_in_layout(t, spikes) for t in (surrogate, spikes, vmem, u)]
    g_drive = _traces_like(spikes)
    sums = [torch.empty((batch, n), dtype=torch.float32, device=spikes.device) for _ in range(3)]
    incoming = [(g if g is not None else spikes) for g in (g_spikes, g_vmem, g_u)]
    strides = [s for g in incoming for s in g.stride()]
    lanes = batch * n
    _backward_kernel[(triton.cdiv(lanes, BLOCK),)](
        *incoming, *traces, _per_neuron(bias, n), _per_neuron(alpha, n), _per_neuron(beta, n),
        _per_neuron(threshold, n), g_drive, *sums, lanes, n, steps, *strides, *spikes.stride()[:2],
        HAS_GS=g_spikes is not None, HAS_GV=g_vmem is not None, HAS_GU=g_u is not None, BLOCK=BLOCK)
    return g_drive, *(s.to(spikes.dtype) for s in sums)
