"""Chip-batched inference of an :class:`~robust_snn.core.network.SNNClassifier`: many chips in one pass.

``chip_batched_forward(model, params, x)`` computes, for parameters with a leading chip axis
``{name: (chips, *shape)}`` and one input batch ``x`` ``(batch, time, n_in)``, the logits
``(chips, batch, classes)`` of every chip: what ``torch.func.vmap`` over
:func:`~robust_snn.core.parameters.functional_forward` computes, with the same operations on the same operands,
but laid out for a CPU:

- the chip axis is folded into the matrix products: the input projection of a block of steps is one batched
  product ``(chips, steps * batch, n_in) x (chips, n_in, n)`` (the data shared by every chip through a
  stride-0 chip axis), the recurrent current one batched product per step ``(chips, batch, n) x (chips, n, n)``;
- time-major and time-blocked: the network runs ``time_block`` steps at a time, layer after layer, so the
  working set (one block of drive and spikes per layer, ``(time_block, chips, batch, n)``, plus the states)
  stays in cache, and memory is ``chips * batch * n * (2 * time_block + 4)`` floats per layer whatever the
  number of steps (a leaky readout adds its membrane trace, ``chips * batch * time * classes``);
- every step writes into preallocated buffers (``out=``, in place): no per-step allocation, no stacking of
  traces, no ``vmap`` dispatch, and only spikes are kept (no membrane or current traces);
- a spike-mean readout accumulates spike counts (exact: sums of 0/1 values); a leaky readout runs its
  integrator on the same blocks.

Same numbers: the elementwise updates are the same ops on the same values in the same order, so they round
alike; the matrix products are the same products, but BLAS may pick another kernel for another matrix shape
and round a dot product differently in the last bit (``vmap`` and the chip-by-chip loop already differ that
way for some shapes). ``tests/test_chip_batch.py`` checks spike counts and spike-mean logits bit for bit
against ``vmap``, leaky-readout logits to 1e-6, and ensemble accuracies against the loop.

Inference only (no gradients). :func:`chip_batch_support` says whether a module is one this path reproduces
(our classifier, layers and readouts, not subclassed); anything else goes through ``vmap``.

The equations are those of :mod:`robust_snn.core.lif` (see :func:`robust_snn.core.lif_scan._run`) and
:mod:`robust_snn.core.readout`, written for a leading chip axis: per-neuron parameters ``(chips, n)`` broadcast
as ``(chips, 1, n)`` against states ``(chips, batch, n)``.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from .lif import LIFLayer, decay
from .network import SNNClassifier
from .parameters import stored_parameters
from .readout import LeakyReadout, SpikeMeanReadout

#: Bytes of one block of a layer's drive (``time_block * chips * batch * n * 4``) that the default block
#: size aims at: small enough for the per-core caches, large enough for an efficient input projection
#: (measured on a 2-core CPU: 0.5-2 MB alike, 4 MB and up slower).
BLOCK_BYTES = 1 << 20


def chip_batch_support(model: nn.Module) -> str | None:
    """Why :func:`chip_batched_forward` cannot run ``model`` (``None`` if it can).

    It runs our own classifier only: an :class:`SNNClassifier` made of :class:`LIFLayer` s and a
    :class:`SpikeMeanReadout` or :class:`LeakyReadout`, none of them subclassed (a subclass may change the
    forward pass this path reproduces).
    """
    if type(model) is not SNNClassifier:
        return f"{type(model).__name__} is not an SNNClassifier"
    for i, layer in enumerate(model.layers):
        if type(layer) is not LIFLayer:
            return f"layers.{i} is a {type(layer).__name__}, not a LIFLayer"
    if type(model.readout) not in (SpikeMeanReadout, LeakyReadout):
        return f"the readout is a {type(model.readout).__name__}"
    return None


class _Layer:
    """One LIF layer's per-chip constants, as :meth:`LIFLayer.forward` derives them, and its state."""

    def __init__(self, layer: LIFLayer, p: Mapping[str, torch.Tensor], batch: int) -> None:
        # The same operations as LIFLayer.forward on (chips, n) tensors (vmap's physical layout): tau and
        # threshold come back from the stored logarithms through exp, as the PositiveParameter descriptor does.
        alpha = decay(layer.dt, torch.exp(p["log_tau_mem"]))
        beta = decay(layer.dt, torch.exp(p["log_tau_syn"]))
        bias, threshold = p["bias"], torch.exp(p["log_threshold"])
        chips, n = bias.shape
        self.n = n
        self.weight_t = p["weight"].transpose(1, 2)  # (chips, n_in, n)
        self.drive_bias = ((1 - beta) * bias)[:, None]  # (chips, 1, n)
        self.w_rec_t = ((p["w_rec"] * layer._offdiag * beta[:, :, None]).transpose(1, 2)
                        if layer.recurrent else None)
        self.alpha, self.beta, self.threshold = alpha[:, None], beta[:, None], threshold[:, None]
        self.adaptive = layer.adaptive
        if layer.adaptive:
            self.rho = decay(layer.dt, torch.exp(p["log_tau_adapt"]))[:, None]
            self.kappa = torch.exp(p["log_adapt_strength"])[:, None]
            self.a = bias.new_zeros(chips, batch, n)
            self.theta = bias.new_empty(chips, batch, n)
        self.u = bias[:, None].expand(chips, batch, n).clone()  # U = I_syn + bias, U_0 = bias
        self.v = bias.new_zeros(chips, batch, n)
        self.s: torch.Tensor | None = None  # spikes of the previous step (a slice of a block buffer)

    def scan(self, drive: torch.Tensor, spikes: torch.Tensor) -> None:
        """Run one block: ``drive`` ``(steps, chips, batch, n)`` (overwritten), spikes into ``spikes`` (same shape).

        Per step, in the order of :func:`robust_snn.core.lif_scan._run`::

            d += S_{t-1} W_rec^T;  U = d + beta U;  V = U + alpha V;  theta = threshold + kappa A
            S = (V >= theta);  V = V - S theta;  A = S + rho A
        """
        addcmul, ge = torch.addcmul, torch.ge  # local names: this loop runs chips * batches * steps / chunk times
        u, v, alpha, beta, w_rec_t, s = self.u, self.v, self.alpha, self.beta, self.w_rec_t, self.s
        theta = self.threshold
        for d, s_t in zip(drive.unbind(0), spikes.unbind(0)):
            if w_rec_t is not None and s is not None:  # S_0 = 0: nothing to add at the first step
                d.baddbmm_(s, w_rec_t)
            addcmul(d, u, beta, out=u)
            addcmul(u, v, alpha, out=v)
            if self.adaptive:
                theta = addcmul(self.threshold, self.a, self.kappa, out=self.theta)
            ge(v, theta, out=s_t)
            addcmul(v, s_t, theta, value=-1.0, out=v)
            if self.adaptive:
                addcmul(s_t, self.a, self.rho, out=self.a)
            s = s_t
        self.s = s.clone() if s is not None else None  # the block buffer is overwritten by the next block


class _LeakyReadout:
    """The leaky readout's per-chip constants and state; the membrane trace ``(chips, batch, time, classes)``."""

    def __init__(self, readout: LeakyReadout, p: Mapping[str, torch.Tensor], batch: int, steps: int) -> None:
        alpha = decay(readout.dt, torch.exp(p["log_tau_mem"]))
        beta = decay(readout.dt, torch.exp(p["log_tau_syn"]))
        bias = p["bias"]
        chips, k = bias.shape
        self.n = k
        self.weight_t = p["weight"].transpose(1, 2)
        self.drive_bias, self.alpha, self.beta = ((1 - beta) * bias)[:, None], alpha[:, None], beta[:, None]
        self.u = bias[:, None].expand(chips, batch, k).clone()
        self.v = bias.new_zeros(chips, batch, k)
        self.trace = bias.new_empty(chips, batch, steps, k)

    def scan(self, drive: torch.Tensor, t0: int) -> None:
        """Run one block of steps from ``t0``: ``drive`` ``(steps, chips, batch, classes)``."""
        for t in range(drive.shape[0]):
            torch.addcmul(drive[t], self.u, self.beta, out=self.u)
            torch.addcmul(self.u, self.v, self.alpha, out=self.v)
            self.trace[:, :, t0 + t] = self.v

    def logits(self) -> torch.Tensor:
        return self.trace.mean(2)


def _split(params: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


@torch.no_grad()
def chip_batched_forward(
    model: SNNClassifier,
    params: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    *,
    time_block: int | None = None,
) -> torch.Tensor:
    """Logits ``(chips, batch, classes)`` of ``model`` run with each chip's physical parameters.

    ``params``: the physical parameter dict with a leading chip axis, ``{name: (chips, *shape)}`` (as
    :meth:`~robust_snn.devices.model.MismatchModel.sample` returns); ``x``: ``(batch, time, n_in)``, the same
    input for every chip. ``time_block``: steps per block (default: about :data:`BLOCK_BYTES` of drive per
    block). Equal to ``torch.func.vmap(lambda p: functional_forward(model, p, x))(params)``.
    """
    reason = chip_batch_support(model)
    if reason is not None:
        raise TypeError(f"chip_batched_forward runs SNNClassifier only: {reason}")
    if x.dim() != 3 or x.shape[-1] != model.config.n_in:
        raise ValueError(f"expected input of shape (batch, time, {model.config.n_in}), got {tuple(x.shape)}")
    stored = stored_parameters(model, dict(params))
    chips = next(iter(stored.values())).shape[0]
    batch, steps, n_in = x.shape
    layers = [_Layer(layer, _split(stored, f"layers.{i}."), batch) for i, layer in enumerate(model.layers)]
    readout_p = _split(stored, "readout.")
    leaky = _LeakyReadout(model.readout, readout_p, batch, steps) if isinstance(model.readout, LeakyReadout) \
        else None
    stages: list[_Layer | _LeakyReadout] = [*layers, *([leaky] if leaky is not None else [])]
    if time_block is None:
        time_block = max(1, min(steps, BLOCK_BYTES // (4 * chips * batch * max(s.n for s in stages))))
    # Time-major blocks: each step a contiguous (chips, batch, n) slice.
    drives = [x.new_empty(time_block, chips, batch, s.n) for s in stages]
    spikes = [x.new_empty(time_block, chips, batch, layer.n) for layer in layers]
    counts = x.new_zeros(chips, batch, layers[-1].n) if leaky is None else None
    x_time = x.transpose(0, 1).contiguous()  # (time, batch, n_in)
    for t0 in range(0, steps, time_block):
        n_steps = min(time_block, steps - t0)
        for i, stage in enumerate(stages):
            # The input of the block, all chips and steps in one batched product: (chips, steps * batch, n_in),
            # the data shared by every chip (a stride-0 chip axis), then each layer's spikes.
            previous = x_time[t0:t0 + n_steps].reshape(1, n_steps * batch, n_in).expand(chips, -1, -1) if i == 0 \
                else spikes[i - 1][:n_steps].transpose(0, 1).reshape(chips, n_steps * batch, -1)
            projection = torch.bmm(previous, stage.weight_t).view(chips, n_steps, batch, stage.n).transpose(0, 1)
            drive = torch.addcmul(stage.drive_bias, projection, stage.beta, out=drives[i][:n_steps])
            if isinstance(stage, _Layer):
                stage.scan(drive, spikes[i][:n_steps])
            else:
                stage.scan(drive, t0)
        if leaky is None:
            for s_t in spikes[-1][:n_steps].unbind(0):
                counts += s_t
    if leaky is not None:
        return leaky.logits()
    readout = readout_p
    mean = counts / steps  # = spikes.mean(time): the sum of 0/1 values is exact, mean divides it by the count
    return torch.bmm(mean, readout["weight"].transpose(1, 2)) + readout["bias"][:, None]


__all__ = ["BLOCK_BYTES", "chip_batch_support", "chip_batched_forward"]
