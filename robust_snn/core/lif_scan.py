"""The LIF time loop as one autograd function with a hand-written backward pass (BPTT).

Why: in eager PyTorch every op inside a 100-step loop records an autograd node, and the bookkeeping costs more
than the arithmetic on ``(batch, neurons)`` tensors. Here the forward loop runs without recording, and the
backward pass is the adjoint recursion written out, with everything that does not depend on the step order
(the surrogate derivatives, the parameter gradients, the recurrent-weight gradient) computed once over all
steps. ``tests/test_lif_scan.py`` checks outputs and every gradient against plain autograd through the same
equations. It is a ``torch.func``-compatible function (``setup_context``, ``generate_vmap_rule``), so ``vmap``
over a chip axis and ``torch.func.grad`` work.

Under ``torch.compile`` the same forward and backward run as the custom operators ``robust_snn::lif_scan``,
``robust_snn::lif_scan_backward`` and ``robust_snn::lif_spikes`` (``torch.library.custom_op`` with
``register_fake`` shape functions and ``register_autograd``): Dynamo cannot trace the loop's preallocated
buffers, and an opaque operator keeps the compiled graph whole (no graph break) instead.
``tests/test_lif_scan_op.py`` checks them with ``torch.library.opcheck``, against autograd, and under
``fullgraph=True``.

On CUDA tensors (outside ``torch.func`` transforms, with Triton installed) the forward loop and the backward
recursion each run as one GPU kernel instead, :mod:`robust_snn.core.lif_scan_triton`, with the same equations;
:data:`use_triton_kernels` switches that off. On the CPU, float32 layers outside ``vmap`` run both as
compiled C loops, :mod:`robust_snn.core.lif_scan_cpu` (the forward pass bit for bit the loop's without
recurrent weights, to rounding with them); :data:`use_cpu_kernels` switches that off.

Layers pass the input projection ``P = W x`` with ``projected=True``, and the scan forms the drive
``lif_drive(P, bias, beta)`` itself: the CPU loops row by row as they go (the drive is never written out) and,
in the backward pass, ``P``'s gradient ``beta gU`` and the bias's and ``beta``'s shares through the drive
(:func:`_backward`); every other path forms the drive first and converts the gradient after, with the same
tensor operations autograd would run through ``lif_drive``.

The forward loop is :func:`~robust_snn.core.lif_step.lif_step` over time, writing into preallocated buffers.
The backward pass is the adjoint of that step's equations, in the notation of its docstring (``W`` = ``W_r``,
``V'`` the membrane after reset, ``gXout`` the incoming gradient of a returned trace).

Adjoints (``g`` = dLoss/d; carried backwards in time)::

    gV'_t = gVout_t + alpha gV_{t+1}
    gA_t  = rho gA_{t+1} + kappa gTheta_{t+1}
    gS_t  = gSout_t + gd_{t+1} W^T + gA_t - gV'_t theta_t
    gV_t  = gV'_t + gS_t H'(V_t - theta_t)
    gTheta_t = -gV'_t S_t - gS_t H'(V_t - theta_t)
    gU_t  = gUout_t + gV_t + beta gU_{t+1},   gd_t = gU_t
"""

from __future__ import annotations

from typing import Callable

import torch

from . import lif_scan_cpu
from .lif_step import LIFParams, LIFStepState, StepBuffers, initial_state, lif_drive, lif_step
from .surrogates import _SHAPES
from .trace_layout import time_major_like

Shape = Callable[[torch.Tensor, float], torch.Tensor]


def _shift(x: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """``x`` delayed by one step along time (dim 1), with ``first`` at t = 0."""
    return torch.cat([first.expand_as(x[:, :1]), x[:, :-1]], dim=1)


def _stack_time(steps: list[torch.Tensor]) -> torch.Tensor:
    """``(batch, n)`` per step -> ``(batch, time, n)`` as a transposed view of a time-major block.

    Stacking along a new leading axis is a plain block copy, measurably cheaper than interleaving rows.
    """
    return torch.stack(steps).transpose(0, 1)


class _StepStore:
    """Collects per-step ``(batch, n)`` states into ``(batch, time, n)`` traces (spikes, membrane, ``U``, ``A``).

    Eagerly, :func:`~robust_snn.core.lif_step.lif_step` writes each kept result straight into a preallocated
    time-major buffer (``out=``), which saves a stacking copy of every trace. Under ``torch.func.vmap`` ``out=``
    is impossible, so states are kept in lists and stacked at the end; both paths run the same ops and give the
    same numbers.
    """

    FIELDS = ("s", "v", "u", "a")  # trace k is LIFStepState field FIELDS[k]

    def __init__(self, drive: torch.Tensor, n_outputs: int, keep: tuple[int, ...]) -> None:
        self.direct = not torch._C._functorch.is_batchedtensor(drive)
        self.keep = tuple(k for k in keep if k < n_outputs)
        steps = drive.shape[1]
        if self.direct:
            self.buffers = [time_major_like(drive) if k in keep else None for k in range(n_outputs)]
            views = [b.unbind(1) if b is not None else (None,) * steps for b in self.buffers]
            views += [(None,) * steps] * (4 - n_outputs)
            self.steps = [StepBuffers(s=s, v=v, u=u, a=a) for s, v, u, a in zip(*views)]
        else:
            self.steps = [StepBuffers()] * steps
            self.lists: list[list[torch.Tensor]] = [[] for _ in range(n_outputs)]

    def put(self, state: LIFStepState) -> None:
        """Keep the step's results (under ``vmap``; eagerly they are already in the buffers)."""
        for k in self.keep:
            self.lists[k].append(getattr(state, self.FIELDS[k]))

    def result(self) -> list[torch.Tensor | None]:
        if self.direct:
            return self.buffers
        return [_stack_time(values) if k in self.keep else None for k, values in enumerate(self.lists)]


def _kernels_for(drive, w_rec, rho, *per_neuron):  # noqa: ANN001, ANN202
    """The compiled loops that take this call, else None (the loop below): on CUDA
    :mod:`robust_snn.core.lif_scan_triton` (not vmapped, Triton installed; imported only for CUDA tensors), on
    the CPU :mod:`robust_snn.core.lif_scan_cpu` (float32 layers, not vmapped, a C compiler found);
    see their ``applies``."""
    if drive.device.type == "cpu":
        if use_cpu_kernels and lif_scan_cpu.applies(drive, w_rec, rho, *per_neuron):
            return lif_scan_cpu
        return None
    if not (drive.is_cuda and use_triton_kernels):
        return None
    try:
        from . import lif_scan_triton
    except ImportError:  # no Triton (CPU builds of PyTorch do not ship it): the loop runs on the GPU too
        return None
    return lif_scan_triton if lif_scan_triton.applies(drive, w_rec, rho, *per_neuron) else None


#: Whether CUDA tensors may take the Triton kernels (False: the loop, e.g. to time or check one against the other).
use_triton_kernels = True

#: Whether CPU tensors may take the compiled C loops (False: the per-step loop).
use_cpu_kernels = True


def _run(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, keep_traces, projected=False, keep_u=True):  # noqa: ANN001, ANN202, E501
    """The forward loop: :func:`~robust_snn.core.lif_step.lif_step` over time, without autograd recording.

    With ``keep_traces=False`` only spikes are kept (inference: no backward pass will need the membrane and
    current traces, and writing them out is a third of an ensemble's time). ``projected``: ``drive`` is the
    input projection ``P``, and the drive is ``lif_drive(P, bias, beta)`` (formed row by row inside the CPU
    loops, else first). ``keep_u=False``: the ``U`` trace may be left out (``None``; the CPU loops do, other
    paths keep it)."""
    adaptive = rho is not None
    kernels = _kernels_for(drive, w_rec, rho, bias, alpha, beta, threshold, *((rho, kappa) if adaptive else ()))
    if kernels is lif_scan_cpu:
        return kernels.forward(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, keep_traces, projected,
                               keep_u)
    if projected:
        drive = lif_drive(drive, bias, beta)
    if kernels is not None:
        return kernels.forward(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, keep_traces)
    params = LIFParams(alpha, beta, threshold, w_rec, rho, kappa)
    state = initial_state(bias, (drive.shape[0],), adaptive)
    store = _StepStore(drive, 4 if adaptive else 3, (0, 1, 2, 3) if keep_traces else (0,))
    put = None if store.direct else store.put
    for d, buffers in zip(drive.unbind(1), store.steps):
        state = lif_step(d, state, params, None, buffers)
        if put is not None:
            put(state)
    spikes, vmem, us, *adapt = store.result()
    return spikes, vmem, us, (adapt[0] if adaptive else None)


class LIFScan(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, shape, scale, projected=False,  # noqa: ANN001, ANN205
                keep_u=True):
        spikes, vmem, us, adapt = _run(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, keep_traces=True,
                                       projected=projected, keep_u=keep_u)
        return (spikes, vmem, us if us is not None else drive.new_zeros(0),
                adapt if adapt is not None else drive.new_zeros(0))

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: ANN001
        drive, bias, alpha, beta, threshold, w_rec, rho, kappa, shape, scale, *rest = inputs
        spikes, vmem, u, adapt = output
        ctx.shape, ctx.scale = shape, scale
        ctx.projected = bool(rest and rest[0])
        ctx.has_rec, ctx.adaptive = w_rec is not None, rho is not None
        ctx.mark_non_differentiable(adapt)
        if u.numel() == 0:  # not kept
            ctx.mark_non_differentiable(u)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(
            bias, alpha, beta, threshold,
            w_rec if w_rec is not None else None,
            rho if rho is not None else None,
            kappa if kappa is not None else None,
            spikes, vmem, u, adapt,
            # beta's gradient through the drive needs the projection (P - bias): kept only then
            drive if ctx.projected and ctx.needs_input_grad[3] else None,
        )

    @staticmethod
    def backward(ctx, g_spikes, g_vmem, g_u, _g_adapt):  # noqa: ANN001, ANN205
        *saved, proj = ctx.saved_tensors
        return (*_backward(g_spikes, g_vmem, g_u, *saved, ctx.needs_input_grad[:8], ctx.shape, ctx.scale,
                           ctx.projected, proj), None, None, None, None)


def _recurrent_weight_grad(spikes: torch.Tensor, g_u: torch.Tensor) -> torch.Tensor:
    """dLoss/dW_r = sum over rows and steps of ``S_{t-1}^T gU_t`` (``d_t`` holds ``S_{t-1} W_r``; ``gd = gU``),
    from the second step on (``S_{-1} = 0``). Time-major, as the traces are laid out: the slices are views."""
    n = spikes.shape[2]
    s_prev = spikes.transpose(0, 1)[:-1].reshape(-1, n)
    return s_prev.t() @ g_u.transpose(0, 1)[1:].reshape(-1, n)


#: Inputs of :class:`LIFScan` whose gradients come from the backward loops' per-row sums: alpha, beta,
#: threshold, rho, kappa (the positions in ``need``, ``needs_input_grad``).
_SUMMED = (2, 3, 4, 6, 7)


def _needs_sums(need) -> bool:  # noqa: ANN001
    return any(need[i] for i in _SUMMED)


def _from_sums(g_drive, sums, beta, spikes, need, scaled=False):  # noqa: ANN001, ANN202
    """The 8 gradients from a compiled backward loop's ``dLoss/d drive`` and per-row sums (``scaled``: it
    returned ``beta dLoss/d drive``, the projection's gradient, instead; the recurrent weights need none)."""
    # Over the batch: alpha, beta, threshold, rho, kappa; each its own tensor (a custom op's outputs must not
    # alias one another, as views of one sum would)
    totals = [total.clone() for total in sums.sum(1)] if _needs_sums(need) else [None] * 5
    first = g_drive[:, 0] if scaled else beta * g_drive[:, 0]  # beta gU_0: U_{-1} = bias
    return (g_drive if need[0] else None, first.sum(0) if need[1] else None,
            totals[0] if need[2] else None, totals[1] if need[3] else None, totals[2] if need[4] else None,
            _recurrent_weight_grad(spikes, g_drive) if need[5] else None,
            totals[3] if need[6] else None, totals[4] if need[7] else None)


def _backward(g_spikes, g_vmem, g_u, bias, alpha, beta, threshold, w_rec, rho, kappa, spikes, vmem, u, adapt,  # noqa: ANN001, ANN202, E501
              need, shape, scale, projected=False, proj=None):
    """The adjoint recursion (module docstring): gradients of the 8 tensor inputs of :class:`LIFScan`, ``None``
    where ``need`` (``needs_input_grad``) is False. Shared by the autograd function and the custom op.

    ``projected`` (the first input was the projection ``P`` and the drive ``lif_drive(P, bias, beta)``,
    :func:`_run`): the first gradient is ``P``'s, ``beta gU``, and the bias and ``beta`` get their shares
    through the drive, ``(1 - beta) sum gU`` and ``sum gU (P - bias)`` (``proj``: ``P``, needed for the
    latter). The CPU loops form these as they go, except where the recurrent weights need ``gU`` itself."""
    args = (g_spikes, g_vmem, g_u, bias, alpha, beta, threshold, w_rec, rho, kappa, spikes, vmem, u, adapt)
    if not projected:
        return _adjoint(*args, need, shape, scale)
    if not need[5]:
        fused = _adjoint(*args, need, shape, scale, fused_projection=(proj if need[3] else None,))
        if fused is not None:
            return fused
    g_drive, *rest = _adjoint(*args, (True, *need[1:]), shape, scale)  # gU, then what the drive adds
    grads = (beta * g_drive if need[0] else None, *rest)
    return _with_drive_shares(grads, g_drive.sum((0, 1)), (g_drive * proj).sum((0, 1)) if need[3] else None,
                              bias, beta, need)


def _with_drive_shares(grads, g_sum, gp_sum, bias, beta, need):  # noqa: ANN001, ANN202
    """``grads`` plus the bias's and beta's shares through the drive ``(1 - beta) b + beta P``, given the sums
    over all rows and steps of ``gU`` (``g_sum``) and of ``gU P`` (``gp_sum``, needed only for beta):
    ``(1 - beta) g_sum`` and ``gp_sum - bias g_sum``."""
    grads = list(grads)
    if need[1]:
        grads[1] = grads[1] + g_sum * (1 - beta)
    if need[3]:
        grads[3] = grads[3] + gp_sum - g_sum * bias
    return tuple(grads)


def _adjoint(g_spikes, g_vmem, g_u, bias, alpha, beta, threshold, w_rec, rho, kappa, spikes, vmem, u, adapt,  # noqa: ANN001, ANN202, E501
             need, shape, scale, fused_projection=None):
    """:func:`_backward` for a given drive (``gU`` is its gradient). ``fused_projection`` (a 1-tuple holding
    ``P`` or None): only if the CPU loops take the call, with the projection's gradients formed in them (else
    ``None`` is returned)."""
    has_rec, adaptive = w_rec is not None, rho is not None
    batch, steps, n = spikes.shape
    if need[3] and u.numel() == 0:
        raise RuntimeError("lif_scan: beta's gradient was asked for, but the forward pass kept no U trace "
                           "(keep_u=False is only for a beta that needs no gradient)")
    kernels = _kernels_for(spikes, w_rec, rho, bias, alpha, beta, threshold, *((rho, kappa) if adaptive else ()))
    if fused_projection is not None and kernels is not lif_scan_cpu:
        return None
    with_sums = _needs_sums(need)
    cpu = {} if kernels is not lif_scan_cpu else (
        {"projected": True, "proj": fused_projection[0]} if fused_projection is not None else {"projected": False})
    # A compiled loop that forms H'(V_t - theta_t) itself, row by row (the same operations), takes the slope.
    formed = kernels is not None and _SURROGATE_NAMES.get(shape) in getattr(kernels, "SURROGATES_FORMED", ())
    if not formed:
        zeros = torch.zeros_like(spikes[:, 0])
        if adaptive:
            adapt_prev = _shift(adapt, zeros[:, None])
            theta = threshold + kappa * adapt_prev
        else:
            theta = threshold.expand_as(spikes)
        v_pre = torch.addcmul(vmem, spikes, theta)
        surrogate = shape(v_pre.sub_(theta), scale)  # H'(V_t - theta_t), all steps at once (in place: no temporary)
    if kernels is not None:
        g_drive, sums, *proj_sums = kernels.backward(g_spikes, g_vmem, g_u, float(scale) if formed else surrogate,
                                                     spikes, vmem, u, adapt, bias, alpha, beta, threshold, w_rec,
                                                     rho, kappa, sums=with_sums, **cpu)
        grads = _from_sums(g_drive, sums, beta, spikes, need, scaled=fused_projection is not None)
        return grads if fused_projection is None else _with_drive_shares(
            grads, proj_sums[0][0].sum(0), proj_sums[0][1].sum(0), bias, beta, need)

    if g_spikes is None:
        g_spikes = torch.zeros_like(spikes)
    g_s_out, g_v_out = g_spikes.unbind(1), (g_vmem.unbind(1) if g_vmem is not None else None)
    g_u_out = g_u.unbind(1) if g_u is not None else None
    theta_t = theta.unbind(1)
    spikes_t, sur_t = spikes.unbind(1), surrogate.unbind(1)
    w_rec_T = w_rec.t() if has_rec else None

    gv_next = gu_next = gd_next = ga_next = gtheta_next = None
    g_vs, g_us, g_thetas, g_as = [None] * steps, [None] * steps, [None] * steps, [None] * steps
    for t in range(steps - 1, -1, -1):
        gvp = alpha * gv_next if gv_next is not None else zeros
        if g_v_out is not None:
            gvp = gvp + g_v_out[t]
        gs = g_s_out[t]
        if gd_next is not None and has_rec:
            gs = torch.addmm(gs, gd_next, w_rec_T)
        if adaptive:
            ga = zeros if ga_next is None else torch.addcmul(rho * ga_next, kappa, gtheta_next)
            gs = gs + ga
            g_as[t] = ga
        gs = torch.addcmul(gs, gvp, theta_t[t], value=-1.0)
        gv = torch.addcmul(gvp, gs, sur_t[t])
        gu = gv if gu_next is None else torch.addcmul(gv, beta, gu_next)
        if g_u_out is not None:
            gu = gu + g_u_out[t]
        if adaptive or need[4]:
            gtheta = -(gvp * spikes_t[t] + gs * sur_t[t])
            g_thetas[t] = gtheta
            gtheta_next = gtheta
        g_vs[t], g_us[t] = gv, gu
        gv_next, gu_next, gd_next = gv, gu, gu
        if adaptive:
            ga_next = ga

    g_u_all = _stack_time(g_us)
    g_drive = g_u_all if need[0] else None
    g_bias = (beta * g_u_all[:, 0]).sum(0) if need[1] else None
    g_alpha = (_stack_time(g_vs) * _shift(vmem, zeros[:, None])).sum((0, 1)) if need[2] else None
    g_beta = (g_u_all * _shift(u, bias.expand(batch, 1, n))).sum((0, 1)) if need[3] else None
    g_thr = g_w = g_rho = g_kappa = None
    if need[4] or need[7]:
        g_theta_all = _stack_time(g_thetas)
        g_thr = g_theta_all.sum((0, 1)) if need[4] else None
        g_kappa = (g_theta_all * adapt_prev).sum((0, 1)) if need[7] else None
    if need[5]:
        g_w = _recurrent_weight_grad(spikes, g_u_all)
    if need[6]:
        g_rho = (_stack_time(g_as) * adapt_prev).sum((0, 1))
    return g_drive, g_bias, g_alpha, g_beta, g_thr, g_w, g_rho, g_kappa


# --- The same scan as torch.library custom ops: what torch.compile sees -------------------------------------
#
# Dynamo cannot trace the loop above (it writes into preallocated buffers and asks whether a tensor is batched),
# so a compiled model would break its graph at every layer. As custom ops, the forward scan and its backward are
# each one opaque node with a schema and a shape ("fake") function: the compiled graph stays whole around them,
# AOTAutograd puts the backward op into the backward graph, and the loops inside run as in eager mode.
# Eager code keeps the autograd function above (it supports torch.func: vmap over chips, func.grad).

#: Whether Dynamo is tracing (a module-level name, so that tests can take the op path eagerly).
_compiling = torch.compiler.is_compiling

_SURROGATE_NAMES = {fn: name for name, (fn, _) in _SHAPES.items()}


@torch.library.custom_op("robust_snn::lif_scan", mutates_args=())
def lif_scan_op(
    drive: torch.Tensor, bias: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor,
    w_rec: torch.Tensor | None, rho: torch.Tensor | None, kappa: torch.Tensor | None, surrogate: str, scale: float,
    projected: bool = False, keep_u: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:class:`LIFScan`'s forward as an operator: spikes, membrane, ``U`` and the adaptation trace (empty when
    not adaptive). ``surrogate`` names the pseudo-derivative (:mod:`robust_snn.core.surrogates`) and ``scale``
    is its parameter; the backward pass uses them. ``projected``: ``drive`` is the input projection
    (:func:`_run`). ``keep_u=False``: ``U`` is returned empty (beta needs no gradient; on every device, so
    that the shape function can say so)."""
    spikes, vmem, us, adapt = _run(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, keep_traces=True,
                                   projected=projected, keep_u=keep_u)
    return (spikes, vmem, us if keep_u else drive.new_zeros(0),
            adapt if adapt is not None else drive.new_zeros(0))


@lif_scan_op.register_fake
def _lif_scan_fake(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, surrogate, scale, projected=False,  # noqa: ANN001, ANN202
                   keep_u=True):
    adapt = time_major_like(drive) if rho is not None else drive.new_zeros(0)
    return (time_major_like(drive), time_major_like(drive),
            time_major_like(drive) if keep_u else drive.new_zeros(0), adapt)


@torch.library.custom_op("robust_snn::lif_scan_backward", mutates_args=())
def lif_scan_backward_op(
    g_spikes: torch.Tensor | None, g_vmem: torch.Tensor | None, g_u: torch.Tensor | None,
    bias: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor,
    w_rec: torch.Tensor | None, rho: torch.Tensor | None, kappa: torch.Tensor | None,
    spikes: torch.Tensor, vmem: torch.Tensor, u: torch.Tensor, adapt: torch.Tensor,
    needs: list[bool], surrogate: str, scale: float, projected: bool = False, proj: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Gradients of ``lif_scan``'s 8 tensor inputs (an empty tensor where ``needs`` is False or the input is
    None): the adjoint recursion of :func:`_backward`."""
    shape = _SHAPES[surrogate][0]
    grads = _backward(g_spikes, g_vmem, g_u, bias, alpha, beta, threshold, w_rec, rho, kappa, spikes, vmem, u,
                      adapt, needs, shape, scale, projected, proj)
    return [g if g is not None else spikes.new_zeros(0) for g in grads]


@lif_scan_backward_op.register_fake
def _lif_scan_backward_fake(g_spikes, g_vmem, g_u, bias, alpha, beta, threshold, w_rec, rho, kappa,  # noqa: ANN001, ANN202
                            spikes, vmem, u, adapt, needs, surrogate, scale, projected=False, proj=None):
    n = spikes.shape[2]
    shapes = [None, (n,), (n,), (n,), (n,), (n, n), (n,), (n,)]
    out = [time_major_like(spikes) if needs[0] else spikes.new_zeros(0)]
    for k in range(1, 8):
        out.append(spikes.new_empty(shapes[k]) if needs[k] else spikes.new_zeros(0))
    return out


def _setup_context(ctx, inputs, output):  # noqa: ANN001, ANN202
    drive, bias, alpha, beta, threshold, w_rec, rho, kappa, surrogate, scale, projected, keep_u = inputs
    spikes, vmem, u, adapt = output
    ctx.surrogate, ctx.scale, ctx.projected = surrogate, scale, projected
    ctx.mark_non_differentiable(adapt)
    if not keep_u:
        ctx.mark_non_differentiable(u)
    ctx.set_materialize_grads(False)
    ctx.save_for_backward(bias, alpha, beta, threshold, w_rec, rho, kappa, spikes, vmem, u, adapt,
                          drive if projected and ctx.needs_input_grad[3] else None)  # P, for beta's gradient


def _op_backward(ctx, g_spikes, g_vmem, g_u, _g_adapt):  # noqa: ANN001, ANN202
    needs = [bool(n) for n in ctx.needs_input_grad[:8]]
    *saved, proj = ctx.saved_tensors
    grads = lif_scan_backward_op(g_spikes, g_vmem, g_u, *saved, needs, ctx.surrogate, ctx.scale, ctx.projected, proj)
    return (*(g if need else None for g, need in zip(grads, needs)), None, None, None, None)


lif_scan_op.register_autograd(_op_backward, setup_context=_setup_context)


@torch.library.custom_op("robust_snn::lif_spikes", mutates_args=())
def lif_spikes_op(
    drive: torch.Tensor, bias: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor,
    w_rec: torch.Tensor | None, rho: torch.Tensor | None, kappa: torch.Tensor | None, projected: bool = False,
) -> torch.Tensor:
    """:func:`lif_spikes` (inference: spikes only) as an operator."""
    return _run(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, keep_traces=False, projected=projected)[0]


@lif_spikes_op.register_fake
def _lif_spikes_fake(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, projected=False):  # noqa: ANN001, ANN202
    return time_major_like(drive)


def lif_spikes(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, projected=False) -> torch.Tensor:  # noqa: ANN001
    """Spikes only, without autograd bookkeeping: the inference path (same equations as :func:`lif_scan`)."""
    if _compiling():
        return lif_spikes_op(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, projected)
    return _run(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, keep_traces=False, projected=projected)[0]


def lif_scan(
    drive: torch.Tensor,
    bias: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    w_rec: torch.Tensor | None,
    rho: torch.Tensor | None,
    kappa: torch.Tensor | None,
    shape: Shape,
    scale: float,
    projected: bool = False,
    keep_u: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run the loop; returns spikes, membrane after reset, and ``U = I_syn + bias``, each ``(batch, time, n)``.

    ``drive`` is ``beta * W x + (1 - beta) * bias`` for all steps, or with ``projected=True`` the input
    projection ``W x``, from which the scan forms that drive itself (:func:`~robust_snn.core.lif_step.lif_drive`;
    the same numbers; on the CPU row by row inside its loops, which saves writing the drive out and reading it
    back, and the gradient's passes through ``lif_drive`` the other way); ``w_rec`` is ``(beta * W_rec).T`` or
    None; ``rho``/``kappa`` are the adaptation decay and strength, or None for a non-adaptive layer.
    ``keep_u=False``: the caller will not read ``U`` and ``beta`` needs no gradient (``U``'s only reader in the
    backward pass): ``U`` may come back empty, which spares the CPU loops a write pass (see
    :func:`keeps_u`).
    """
    name = _SURROGATE_NAMES.get(shape)
    if name is not None and _compiling():
        spikes, vmem, u, _ = lif_scan_op(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, name, float(scale),
                                         projected, keep_u)
    else:
        spikes, vmem, u, _ = LIFScan.apply(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, shape, scale,
                                           projected, keep_u)
    return spikes, vmem, u


def keeps_u(beta: torch.Tensor, record: bool) -> bool:
    """Whether a layer's scan must keep its ``U`` trace: it records it, or ``beta`` may be differentiated
    (``requires_grad``, or a ``torch.func`` transform's tensor, whose gradient tracking ``requires_grad`` does
    not show), or the layer is not on the CPU (only the CPU loops leave the trace out; the GPU kernels read
    it in every backward pass)."""
    if record or beta.device.type != "cpu" or beta.requires_grad:
        return True
    # (Dynamo cannot trace the functorch query; a compiled graph is traced outside torch.func transforms)
    return not _compiling() and torch._C._functorch.is_functorch_wrapped_tensor(beta)
