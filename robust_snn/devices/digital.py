"""The arithmetic a digital SNN core is programmed with (Xylo Audio 2 and its kind), as pure functions.

This is the one model of a digital chip's programming: the program-phase stages (:mod:`.quantise`) use it,
so ``evaluate`` and ``qat`` see it through the device profile, and the Xylo exporter
(:mod:`robust_snn.export.xylo`) builds its integer specification from those same stages.

**Bit-shift decays.** Each step the chip computes ``x -= x >> dash`` (XyloSim's neuron: an arithmetic shift),
i.e. ``x <- (1 - 2^-dash) x``, while our float neuron computes ``x <- exp(-dt / tau) x``. The real-valued shift
with the same decay is

.. math::

    d^*(\\tau) = -\\log_2\\big(1 - e^{-dt/\\tau}\\big)\\quad\\text{(a decay factor } a\\text{: } -\\log_2(1 - a))

and the chip gets ``dash = clip(round(d*), dash_min, dash_max)``: the shift nearest in log2 of the per-step
leak ``1 - alpha`` (for ``tau >> dt``, ``d* ~ log2(tau / dt)`` and ``tau(dash) ~ dt 2^dash``, so about the
nearest ``tau`` on a log scale). Rockpool's mapper uses ``round(log2(tau / dt))``, the first-order form, which
is one shift off mostly for short time constants (``tau = 27`` ms at ``dt = 10`` ms: 1, a 14.4 ms decay,
against the exact 2, 34.8 ms; measured over ``tau`` log-uniform: 28% differ in ``[dt, 10 dt]``, 6.4% in
``[2 dt, 1000 dt]``).
The time constant a shift realises exactly is

.. math::

    \\tau(dash) = -dt / \\ln(1 - 2^{-dash}) \\quad\\text{(s)};\\qquad dash = 0 \\text{ clears the state every step:
    } \\tau = dt / 1000 \\text{, whose } e^{-1000} \\text{ is 0 in float32.}

**Integer scales.** A neuron's incoming weights, bias and threshold share one scale ``s`` (integer units per
float unit), so scaling leaves its spikes unchanged and only rounding remains; ``s`` is the largest scale at
which every one of them fits its register (``b`` bits hold ``2^(b-1) - 1``):

.. math::

    s = \\min_f \\frac{2^{b_f - 1} - 1}{\\max |x_f|}, \\qquad x_q = \\operatorname{round}(s\\,x) / s

over the families ``f`` present (weights, biases, thresholds), and for output neurons also their state
(:func:`leaky_state_scale`, :func:`spike_count_threshold`). For hidden neurons this is Rockpool's
``channel_quantize`` (``127 / max|w|``, thresholds scaled alike) with the bias and threshold registers respected.
"""

from __future__ import annotations

import torch

#: ``tau`` standing for shift 0 (state cleared each step), in units of ``dt``: ``exp(-1000)`` is 0 in float32.
CLEARED_TAU_STEPS = 1e-3


def code_max(bits: int) -> int:
    """Largest magnitude a signed ``bits``-bit register holds: ``2^(bits-1) - 1``."""
    return 2 ** (bits - 1) - 1


def exact_dash(tau: torch.Tensor | float, dt: float) -> torch.Tensor:
    """Real-valued shift with ``1 - 2^-dash = exp(-dt / tau)`` (``tau``, ``dt`` in seconds), float64."""
    tau = torch.as_tensor(tau, dtype=torch.float64)
    return -torch.log2(-torch.expm1(-dt / tau))


def decay_dash(decay: torch.Tensor | float) -> torch.Tensor:
    """Real-valued shift with ``1 - 2^-dash = decay`` (a per-step decay factor in (0, 1)), float64."""
    decay = torch.as_tensor(decay, dtype=torch.float64)
    return -torch.log2((1.0 - decay).clamp_min(1e-300))


def nearest_dash(real: torch.Tensor, dash_min: int, dash_max: int) -> torch.Tensor:
    """The chip's shift for a real-valued one: ``clip(round(real), dash_min, dash_max)``, int64 (half to even)."""
    return torch.round(real.nan_to_num(posinf=dash_max, neginf=dash_min)).clamp(dash_min, dash_max).to(torch.int64)


def dash_to_decay(dash: torch.Tensor | int) -> torch.Tensor:
    """The chip's per-step decay factor ``1 - 2^-dash``, float64."""
    return 1.0 - torch.pow(2.0, -torch.as_tensor(dash, dtype=torch.float64))


def dash_to_tau(dash: torch.Tensor | int | float, dt: float) -> torch.Tensor:
    """Time constant (s) whose ``exp(-dt / tau)`` equals ``1 - 2^-dash``; ``dt * 1e-3`` for ``dash <= 0``."""
    dash = torch.as_tensor(dash, dtype=torch.float64)
    safe = torch.where(dash > 0, dash, torch.ones_like(dash))
    tau = -dt / torch.log1p(-torch.pow(2.0, -safe))
    return torch.where(dash > 0, tau, torch.full_like(tau, dt * CLEARED_TAU_STEPS))


def scale_bound(peak: torch.Tensor, bits: int) -> torch.Tensor:
    """``(2^(bits-1) - 1) / peak``: the largest scale at which ``peak`` fits ``bits`` (``inf`` where it is 0)."""
    peak = torch.as_tensor(peak, dtype=torch.float32)
    return torch.where(peak > 0, code_max(bits) / torch.where(peak > 0, peak, torch.ones_like(peak)),
                       torch.full_like(peak, float("inf")))


def integer_scale(bounds: list[torch.Tensor]) -> torch.Tensor:
    """The scale of a group: the smallest of its bounds (:func:`scale_bound`), 1 where none is finite."""
    scale = torch.stack(torch.broadcast_tensors(*bounds)).amin(0)
    return torch.where(torch.isfinite(scale), scale, torch.ones_like(scale))


def leaky_membrane_bound(weight: torch.Tensor, bias: torch.Tensor | None, tau_mem: torch.Tensor,
                         tau_syn: torch.Tensor | None, dt: float) -> torch.Tensor:
    """Largest ``|V|`` a non-resetting (leaky-readout) output neuron can reach, per neuron ``(n_out,)``.

    Our CuBa update ``I = beta (I + W s)``, ``V = alpha V + I + b`` (:mod:`robust_snn.core.lif`) with every
    input spiking every step: ``I_max = beta sum_j |W_j| / (1 - beta)``, ``V_max = (I_max + |b|) / (1 - alpha)``
    (``alpha = exp(-dt / tau_mem)``, ``beta = exp(-dt / tau_syn)``; no synaptic state: ``I_max = sum |W|``).
    ``weight`` ``(n_out, n_in)``.
    """
    total = weight.detach().abs().reshape(weight.shape[0], -1).sum(1).double()
    if tau_syn is not None:
        beta = torch.exp(-dt / tau_syn.detach().double())
        total = beta * total / (1 - beta)
    alpha = torch.exp(-dt / tau_mem.detach().double())
    b = bias.detach().abs().double() if bias is not None else 0.0
    return ((total + b) / (1 - alpha)).to(torch.float32)


def leaky_state_scale(weight: torch.Tensor, bias: torch.Tensor | None, tau_mem: torch.Tensor,
                      tau_syn: torch.Tensor | None, dt: float, bits: int) -> torch.Tensor:
    """Largest scale ``(n_out,)`` at which the *quantised* leaky output neuron's membrane stays a ``bits``-bit code.

    Rounding adds up to half a code to every weight and the bias, so with ``V(W, b)`` the bound
    :func:`leaky_membrane_bound` and ``V_1`` that of one code everywhere: ``s V(W, b) + V_1 / 2 <= 2^(bits-1) - 1``.
    Where ``V_1 / 2`` alone fills the register (very long time constants) no scale can promise it; the float
    bound is used (the chip's state then saturates under sustained full drive).
    """
    v = leaky_membrane_bound(weight, bias, tau_mem, tau_syn, dt).double()
    unit = leaky_membrane_bound(torch.ones_like(weight), None if bias is None else torch.ones_like(bias),
                                tau_mem, tau_syn, dt).double()
    room = code_max(bits) - 0.5 * unit
    room = torch.where(room > 0, room, torch.full_like(room, float(code_max(bits))))
    return torch.where(v > 0, room / torch.where(v > 0, v, torch.ones_like(v)),
                       torch.full_like(v, float("inf"))).to(torch.float32)


def spike_count_threshold(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Threshold of the integrate-and-fire neurons a linear readout (``logits = W mean_t S + b``) maps to,
    one for all of them: the largest logit possible, ``max_c sum_j max(W_cj, 0) + max(b_c, 0)`` (0-dim).

    Each output spike then stands for ``theta / T`` of a logit (:mod:`robust_snn.export.xylo`).
    """
    w = weight.detach().reshape(weight.shape[0], -1).clamp(min=0).sum(1)
    if bias is not None:
        w = w + bias.detach().clamp(min=0)
    return w.amax().clamp_min(1e-6).to(torch.float32)


__all__ = [
    "CLEARED_TAU_STEPS", "code_max", "dash_to_decay", "dash_to_tau", "decay_dash", "exact_dash", "integer_scale",
    "leaky_membrane_bound", "leaky_state_scale", "nearest_dash", "scale_bound", "spike_count_threshold",
]
