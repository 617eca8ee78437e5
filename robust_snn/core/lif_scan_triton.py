"""The LIF scan as two Triton kernels: the whole time loop in one GPU launch each way.

Why: on a GPU the eager scan (:mod:`robust_snn.core.lif_scan`) launches a handful of small kernels per time
step, forward and backward, so a sequence of a few hundred steps is thousands of launches that each touch a
``(batch, n)`` slice: the GPU waits on launch latency, not on arithmetic or memory. Here one program carries a
tile of ``BLOCK_B`` batch rows x ``BLOCK_N`` neurons through all steps with its state in registers: the forward
kernel reads the drive once and writes spikes, membrane, ``U`` (and the adaptation trace) once; the backward
kernel runs the adjoint recursion backwards, writes ``dLoss/d drive`` once and sums the per-neuron parameter
gradients on the way.

Without recurrence neurons are independent, so tiles split the neurons too. With recurrence
(``S_{t-1} W_r`` in the drive) one program holds all ``n`` neurons of its rows, and each step reads the
previous step's spikes back (from the spike trace it has just written) in chunks of ``BLOCK_K`` for a
``tl.dot`` with the matching rows of ``W_r`` (full float32, ``input_precision="ieee"``); the backward pass does
the same with ``gU_{t+1} W_r^T``. The recurrent-weight gradient is one matrix product over all steps, done by
the caller as on the CPU.

The equations are those of :func:`~robust_snn.core.lif_step.lif_step` and the adjoints those of
:mod:`robust_snn.core.lif_scan`'s docstring, term by term; the surrogate derivative ``H'(V_t - theta_t)`` is
computed by the caller with :mod:`robust_snn.core.surrogates` (one definition of each shape) and passed in as
a trace. Calls inside ``torch.func`` transforms (vmapped chip ensembles, ``func.grad``), chip-batched recurrent
weights and CPU tensors keep the eager loop; :func:`applies` says which path a call takes.

``tests/test_lif_scan_triton.py`` runs both kernels in Triton's CPU interpreter (``TRITON_INTERPRET=1``)
against autograd through the LIF step and against the loop; ``benchmarks/bench_gpu.py`` checks CUDA against the
CPU and times it. This module needs ``triton`` (the ``gpu`` extra; CUDA builds of PyTorch ship it) and is
imported only when a CUDA tensor reaches the scan.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .trace_layout import in_trace_layout, time_major_like

#: Largest recurrent population one program holds (its rows' whole state stays in registers).
MAX_RECURRENT = 512


@triton.jit
def _recurrent_input(trace, w, rows, cols, row_ok, col_ok, t_prev, n, o_sb, o_st, w_sk, w_sj,
                     BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    """``trace[t_prev][rows] @ w`` (``w[k, j]`` at ``w + k w_sk + j w_sj``), read back in ``BLOCK_K`` chunks."""
    total = tl.zeros([BLOCK_B, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, BLOCK_N, BLOCK_K):
        ks = k0 + tl.arange(0, BLOCK_K)
        k_ok = ks < n
        chunk = tl.load(trace + t_prev * o_st + rows * o_sb + ks[None, :], mask=row_ok & k_ok[None, :], other=0.0)
        w_tile = tl.load(w + ks[:, None] * w_sk + cols * w_sj, mask=k_ok[:, None] & col_ok, other=0.0)
        total += tl.dot(chunk.to(tl.float32), w_tile.to(tl.float32), input_precision="ieee")
    return total


@triton.jit
def _tile(alpha, beta, threshold, batch, n, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr):
    """This program's rows ``(BLOCK_B, 1)`` and neurons ``(1, BLOCK_N)``, their masks, and the neurons' decays
    and thresholds (0 on masked lanes)."""
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)[:, None]
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)[None, :]
    col_ok = cols < n
    a = tl.load(alpha + cols, mask=col_ok, other=0.0).to(tl.float32)
    b = tl.load(beta + cols, mask=col_ok, other=0.0).to(tl.float32)
    thr = tl.load(threshold + cols, mask=col_ok, other=0.0).to(tl.float32)
    return rows, cols, rows < batch, col_ok, a, b, thr


@triton.jit
def _forward_kernel(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, spikes, vmem, u_out, a_out,
                    batch, n, steps, d_sb, d_st, d_sn, o_sb, o_st, w_sk, w_sj,
                    REC: tl.constexpr, ADAPT: tl.constexpr, KEEP: tl.constexpr,
                    BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rows, cols, row_ok, col_ok, a, b, thr = _tile(alpha, beta, threshold, batch, n, BLOCK_B, BLOCK_N)
    live = row_ok & col_ok
    u = tl.zeros([BLOCK_B, BLOCK_N], dtype=tl.float32) + tl.load(bias + cols, mask=col_ok, other=0.0)  # U_0 = b
    v = tl.zeros([BLOCK_B, BLOCK_N], dtype=tl.float32)  # V'_0 = 0
    adapt = tl.zeros([BLOCK_B, BLOCK_N], dtype=tl.float32)  # A_0 = 0
    if ADAPT:
        r = tl.load(rho + cols, mask=col_ok, other=0.0).to(tl.float32)
        kap = tl.load(kappa + cols, mask=col_ok, other=0.0).to(tl.float32)
    d_at = drive + rows * d_sb + cols * d_sn
    o_at = rows * o_sb + cols
    t = tl.full([], 0, tl.int32)
    while t < steps:  # (a while loop: Triton's interpreter cannot take range() of a runtime bound on NumPy 2.5)
        d = tl.load(d_at + t * d_st, mask=live, other=0.0).to(tl.float32)
        if REC:  # d_t += S_{t-1} W_r (S_0 = 0)
            if t > 0:
                tl.debug_barrier()  # the previous step's spikes, stored by every thread of this program
                d += _recurrent_input(spikes, w_rec, rows, cols, row_ok, col_ok, t - 1, n, o_sb, o_st, w_sk,
                                      w_sj, BLOCK_B, BLOCK_N, BLOCK_K)
        u = d + u * b  # U_t = beta U_{t-1} + d_t
        v = u + v * a  # V_t = alpha V'_{t-1} + U_t
        theta = thr
        if ADAPT:
            theta = thr + adapt * kap  # theta_t = threshold + kappa A_{t-1}
        s = tl.where(live & (v >= theta), 1.0, 0.0)  # S_t = H(V_t - theta_t), H(0) = 1
        v = v - s * theta  # reset by subtraction
        if ADAPT:
            adapt = s + adapt * r  # A_t = rho A_{t-1} + S_t
        tl.store(spikes + o_at + t * o_st, s.to(spikes.dtype.element_ty), mask=live)
        if KEEP:
            tl.store(vmem + o_at + t * o_st, v.to(vmem.dtype.element_ty), mask=live)
            tl.store(u_out + o_at + t * o_st, u.to(u_out.dtype.element_ty), mask=live)
            if ADAPT:
                tl.store(a_out + o_at + t * o_st, adapt.to(a_out.dtype.element_ty), mask=live)
        t += 1


@triton.jit
def _backward_kernel(g_s, g_v, g_u, surrogate, spikes, vmem, u_tr, a_tr, bias, alpha, beta, threshold, w_rec,
                     rho, kappa, g_drive, sums,
                     batch, n, steps, gs_sb, gs_st, gs_sn, gv_sb, gv_st, gv_sn, gu_sb, gu_st, gu_sn, o_sb, o_st,
                     w_sk, w_sj,
                     HAS_GS: tl.constexpr, HAS_GV: tl.constexpr, HAS_GU: tl.constexpr, REC: tl.constexpr,
                     ADAPT: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rows, cols, row_ok, col_ok, a, b, thr = _tile(alpha, beta, threshold, batch, n, BLOCK_B, BLOCK_N)
    live = row_ok & col_ok
    u0 = tl.zeros([BLOCK_B, BLOCK_N], dtype=tl.float32) + tl.load(bias + cols, mask=col_ok, other=0.0)
    r = tl.zeros([1, BLOCK_N], dtype=tl.float32)
    kap = tl.zeros([1, BLOCK_N], dtype=tl.float32)
    if ADAPT:
        r = tl.load(rho + cols, mask=col_ok, other=0.0).to(tl.float32)
        kap = tl.load(kappa + cols, mask=col_ok, other=0.0).to(tl.float32)
    o_at = rows * o_sb + cols
    zero = tl.zeros([BLOCK_B, BLOCK_N], dtype=tl.float32)
    gv_next, gu_next, ga_next, gtheta_next = zero, zero, zero, zero
    acc_alpha, acc_beta, acc_theta, acc_rho, acc_kappa = zero, zero, zero, zero, zero
    t = steps - 1
    while t >= 0:
        at = o_at + t * o_st
        earlier = live & (t > 0)
        gvp = a * gv_next  # gV'_t = gVout_t + alpha gV_{t+1}
        if HAS_GV:
            gvp += tl.load(g_v + rows * gv_sb + t * gv_st + cols * gv_sn, mask=live, other=0.0).to(tl.float32)
        gs = zero
        if HAS_GS:
            gs = tl.load(g_s + rows * gs_sb + t * gs_st + cols * gs_sn, mask=live, other=0.0).to(tl.float32)
        if REC:  # gS_t += gd_{t+1} W_r^T, gd = gU
            if t < steps - 1:
                tl.debug_barrier()  # gU_{t+1}, stored by every thread of this program
                gs += _recurrent_input(g_drive, w_rec, rows, cols, row_ok, col_ok, t + 1, n, o_sb, o_st, w_sj,
                                       w_sk, BLOCK_B, BLOCK_N, BLOCK_K)
        theta = thr
        a_prev = zero
        ga = zero
        if ADAPT:
            a_prev = tl.load(a_tr + at - o_st, mask=earlier, other=0.0).to(tl.float32)  # A_{t-1}, A_{-1} = 0
            theta = thr + kap * a_prev
            ga = r * ga_next + kap * gtheta_next  # gA_t = rho gA_{t+1} + kappa gTheta_{t+1}
            gs += ga
        gs = gs - gvp * theta  # gS_t = gSout_t + ... - gV'_t theta_t
        sur = tl.load(surrogate + at, mask=live, other=0.0).to(tl.float32)
        s = tl.load(spikes + at, mask=live, other=0.0).to(tl.float32)
        gv = gvp + gs * sur  # gV_t = gV'_t + gS_t H'(V_t - theta_t)
        gu = gv + b * gu_next  # gU_t = gUout_t + gV_t + beta gU_{t+1}
        if HAS_GU:
            gu += tl.load(g_u + rows * gu_sb + t * gu_st + cols * gu_sn, mask=live, other=0.0).to(tl.float32)
        gtheta = -(gvp * s + gs * sur)  # gTheta_t
        tl.store(g_drive + at, gu.to(g_drive.dtype.element_ty), mask=live)
        # Parameter gradients, summed over time here (over the batch by the caller): dL/dalpha = sum gV_t V'_{t-1},
        # dL/dbeta = sum gU_t U_{t-1}, dL/dthreshold = sum gTheta_t, dL/drho = sum gA_t A_{t-1},
        # dL/dkappa = sum gTheta_t A_{t-1}.
        v_prev = tl.load(vmem + at - o_st, mask=earlier, other=0.0).to(tl.float32)
        u_prev = tl.where(t > 0, tl.load(u_tr + at - o_st, mask=earlier, other=0.0).to(tl.float32), u0)
        acc_alpha += gv * v_prev
        acc_beta += gu * u_prev
        acc_theta += gtheta
        acc_rho += ga * a_prev
        acc_kappa += gtheta * a_prev
        gv_next, gu_next, ga_next, gtheta_next = gv, gu, ga, gtheta
        t -= 1
    out = sums + rows * n + cols  # sums: (5, batch, n)
    plane = batch * n
    tl.store(out, acc_alpha, mask=live)
    tl.store(out + plane, acc_beta, mask=live)
    tl.store(out + 2 * plane, acc_theta, mask=live)
    tl.store(out + 3 * plane, acc_rho, mask=live)
    tl.store(out + 4 * plane, acc_kappa, mask=live)


def applies(drive: torch.Tensor, w_rec: torch.Tensor | None, rho: torch.Tensor | None,
            *per_neuron: torch.Tensor | None) -> bool:
    """Whether a scan call takes the kernels: a CUDA drive that :func:`fits` them."""
    return drive.is_cuda and fits(drive, w_rec, rho, *per_neuron)


def fits(drive: torch.Tensor, w_rec: torch.Tensor | None, rho: torch.Tensor | None,
         *per_neuron: torch.Tensor | None) -> bool:
    """Whether the kernels can run this call, wherever its tensors are: a plain ``(batch, time, n)`` drive (not
    inside a ``torch.func`` transform), per-neuron constants of ``n`` values on the drive's device, an ``(n, n)`` recurrent matrix of at
    most :data:`MAX_RECURRENT` neurons or none, and index arithmetic that fits 32 bits."""
    # torch.func's wrappers (vmap's batched tensors, grad's tracking tensors) have no storage to hand a kernel.
    if drive.dim() != 3 or torch._C._functorch.is_functorch_wrapped_tensor(drive) or drive.numel() >= 2**31:
        return False
    n = drive.shape[2]
    if w_rec is not None and (w_rec.shape != (n, n) or n > MAX_RECURRENT or w_rec.device != drive.device):
        return False
    return all(p is not None and p.numel() == n and p.device == drive.device for p in per_neuron)


def _per_neuron(p: torch.Tensor, n: int) -> torch.Tensor:
    return p.detach().reshape(-1).expand(n).contiguous()


def _tiles(batch: int, n: int, recurrent: bool) -> tuple[tuple[int, int], dict[str, int]]:
    """Grid and block sizes: recurrent tiles hold all neurons of 16 rows (``tl.dot`` needs 16); otherwise 2 rows x
    128 neurons, enough programs to fill a GPU at the Open Neuromorphic benchmark's batch of 16."""
    if recurrent:
        block_n = max(16, triton.next_power_of_2(n))
        warps = 4 if block_n <= 64 else 8 if block_n <= 128 else 16  # fewest register spills (sm_90 builds)
        return (triton.cdiv(batch, 16), 1), dict(BLOCK_B=16, BLOCK_N=block_n, BLOCK_K=16, num_warps=warps)
    block_n = min(128, max(16, triton.next_power_of_2(n)))
    return (triton.cdiv(batch, 2), triton.cdiv(n, block_n)), dict(BLOCK_B=2, BLOCK_N=block_n, BLOCK_K=16)


def forward(drive: torch.Tensor, bias: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
            threshold: torch.Tensor, w_rec: torch.Tensor | None, rho: torch.Tensor | None,
            kappa: torch.Tensor | None, keep_traces: bool) -> tuple[torch.Tensor, ...]:
    """Spikes, membrane after reset, ``U`` and the adaptation trace (``(batch, time, n)`` each, time-major as the
    loop stores them; membrane, ``U`` and adaptation None unless ``keep_traces``, adaptation None when not
    adaptive), as :func:`robust_snn.core.lif_scan._run` returns them."""
    batch, steps, n = drive.shape
    adaptive = rho is not None
    spikes = time_major_like(drive)
    vmem, u, adapt = (time_major_like(drive) if keep_traces else spikes for _ in range(3))
    if not adaptive:
        adapt = spikes
    w = w_rec.detach() if w_rec is not None else spikes
    rho_, kappa_ = (_per_neuron(rho, n), _per_neuron(kappa, n)) if adaptive else (spikes, spikes)
    grid, meta = _tiles(batch, n, w_rec is not None)
    _forward_kernel[grid](
        drive, _per_neuron(bias, n), _per_neuron(alpha, n), _per_neuron(beta, n), _per_neuron(threshold, n), w,
        rho_, kappa_, spikes, vmem, u, adapt, batch, n, steps, *drive.stride(), *spikes.stride()[:2],
        *(w.stride() if w_rec is not None else (0, 0)),
        REC=w_rec is not None, ADAPT=adaptive, KEEP=keep_traces, **meta)
    return (spikes, vmem if keep_traces else None, u if keep_traces else None,
            adapt if keep_traces and adaptive else None)


def backward(g_spikes: torch.Tensor | None, g_vmem: torch.Tensor | None, g_u: torch.Tensor | None,
             surrogate: torch.Tensor, spikes: torch.Tensor, vmem: torch.Tensor, u: torch.Tensor,
             adapt: torch.Tensor | None, bias: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
             threshold: torch.Tensor, w_rec: torch.Tensor | None, rho: torch.Tensor | None,
             kappa: torch.Tensor | None, sums: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``dLoss/d drive`` ``(batch, time, n)`` (= ``gU``) and ``(5, batch, n)`` per-row sums over time of
    ``gV_t V'_{t-1}``, ``gU_t U_{t-1}``, ``gTheta_t``, ``gA_t A_{t-1}`` and ``gTheta_t A_{t-1}`` (summed over
    the batch: the ``alpha``, ``beta``, threshold, ``rho`` and ``kappa`` gradients; the last two zero when not
    adaptive). ``sums`` (whether any of them is needed) is accepted for the CPU loops' signature: the kernels
    form the sums in any case."""
    batch, steps, n = spikes.shape
    adaptive = rho is not None
    traces = [in_trace_layout(t, spikes) for t in (surrogate, spikes, vmem, u, adapt if adaptive else spikes)]
    g_drive = time_major_like(spikes)  # (the recurrent read-back of gU_{t+1} reads only what the program wrote)
    sums = torch.empty((5, batch, n), dtype=torch.float32, device=spikes.device)
    incoming = [(g if g is not None else spikes) for g in (g_spikes, g_vmem, g_u)]
    strides = [s for g in incoming for s in g.stride()]
    w = w_rec.detach() if w_rec is not None else spikes
    rho_, kappa_ = (_per_neuron(rho, n), _per_neuron(kappa, n)) if adaptive else (spikes, spikes)
    grid, meta = _tiles(batch, n, w_rec is not None)
    _backward_kernel[grid](
        *incoming, *traces, _per_neuron(bias, n), _per_neuron(alpha, n), _per_neuron(beta, n),
        _per_neuron(threshold, n), w, rho_, kappa_, g_drive, sums, batch, n, steps, *strides,
        *spikes.stride()[:2], *(w.stride() if w_rec is not None else (0, 0)),
        HAS_GS=g_spikes is not None, HAS_GV=g_vmem is not None, HAS_GU=g_u is not None, REC=w_rec is not None,
        ADAPT=adaptive, **meta)
    return g_drive, sums.to(spikes.dtype)
