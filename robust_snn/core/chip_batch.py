"""Chip-batched inference of an :class:`~robust_snn.core.network.SNNClassifier`: many chips in one pass.

``chip_batched_forward(model, params, x)`` computes, for parameters with a leading chip axis
``{name: (chips, *shape)}`` and one input batch ``x`` ``(batch, time, n_in)``, the logits
``(chips, batch, classes)`` of every chip: what ``torch.func.vmap`` over
:func:`~robust_snn.core.parameters.functional_forward` computes, laid out for a CPU:

- states are ``(chips, batch, n)``, per-neuron parameters ``(chips, 1, n)``; the first layer's input
  projection is one batched product per block of steps, ``(chips, steps * batch, n_in) x (chips, n_in, n)``
  (the data, the same for every chip, through a stride-0 chip axis);
- products with spikes (the recurrent current every step, and the input of every later layer and of a leaky
  readout) are table look-ups, :class:`~robust_snn.core.spike_product.SpikeProduct`: the spikes are 0 or 1,
  so ``S W`` is a sum of weight rows, and sums of four rows at a time are tabulated once per chunk of chips
  (16 row additions per sample instead of a 64-row multiply-add for 64 neurons; batched matrix products where
  a table would pass :data:`~robust_snn.core.spike_product.MAX_TABLE_BYTES`);
- time-major and time-blocked: the network runs ``time_block`` steps at a time, layer after layer, so the
  working set (one block of drive and spikes per layer, ``(time_block, chips, batch, n)``, plus the states)
  stays in cache, and memory is about ``chips * batch * n * (2 * time_block + 4)`` floats per layer whatever
  the number of steps (a leaky readout adds its membrane trace, ``chips * batch * time * classes``);
- every step is :func:`~robust_snn.core.lif_step.lif_step` writing into preallocated buffers (``out=``), with
  its views, :class:`~robust_snn.core.lif_step.StepBuffers` and bound look-up made once per call
  (:meth:`_Layer.plan`): no per-step allocation, slicing or ``vmap`` dispatch, and only spikes are kept;
- a spike-mean readout accumulates spike counts (exact: sums of 0/1 values); a leaky readout runs its
  integrator on the same blocks;
- a large call runs in groups of chips of about :data:`GROUP_ROWS` chip-samples (the states stay in cache),
  and on ``threads`` > 1 the groups run side by side in threads of one intra-op thread each
  (:func:`_in_threads`): no operation of a step is a parallel region, so no barrier waits for a thread
  another process has descheduled.

Where the time goes (``benchmarks/bench_ensemble.py``'s network, 16 chips x 256 samples, one thread, each op
timed alone, 10th percentile on the shared 2-core machine): per step, input projection 0.09 ms, recurrent
look-up 0.13 ms (codes 0.04, look-up 0.09; the dense batched product it replaces: 0.33 ms), six elementwise
passes of about 0.02 ms each (drive, recurrent add, ``U``, ``V``, threshold, reset; plus the spike count),
and about 0.035 ms of Python and dispatch. The input projection runs at about 90 GFLOP/s and the passes at
memory speed, so what is left is near what eager PyTorch can do with one core. Fusing the passes was tried
with ``torch.compile`` (one compiled step: drive, codes, 16 row gathers, the LIF update, the count; Inductor,
CPU): 0.53 ms per step plus the 0.17 ms input product against 0.9-1.0 ms eager, measured side by side at load
average 4.4, after 8-11 s of compilation per shape; not kept (about 1.3x on the pass, paid back only after
some fifty ensembles of this size, and Inductor's gather kernel checks bounds row by row).

What was kept instead (2026-12-01): on the CPU each step of a layer is one call into the C library of
:mod:`robust_snn.core.lif_scan_cpu` (:class:`~robust_snn.core.lif_scan_cpu.ChipStep`, bound to the buffers
once): the first layer's input projection from the step's data, the recurrent look-up (the same codes and
table rows, summed in the same order), the LIF update and the spike count, bit for bit what the operations
above compute but for the projection's rounding. It runs each chip's rows 16 or 32 neurons at a time, so that
a block's slices of the look-up table and the input weights stay in the L1 cache, and writes nothing but the
state, the spikes and the counts (a first version, row by row with the projection from a batched product, took
156-158 ms for the whole 64-chip ensemble on one thread; this one 95-98, against 191-198 with the PyTorch
operations; figures in benchmarks/README.md). :data:`use_fused_step` switches it off.

Same numbers: the elementwise updates are the same ops on the same values as every other path; the products
add the same terms in another order (BLAS kernels for other shapes, the look-up's partial sums), so a membrane
can differ from ``vmap``'s in the last bits and a spike flip where a membrane sits within a few ulp of its
threshold. ``tests/test_chip_batch.py`` checks spike counts and spike-mean logits bit for bit against ``vmap``
on small networks, leaky-readout logits to 1e-6, and ensemble accuracies against the chip-by-chip loop.

Inference only (no gradients). :func:`chip_batch_support` says whether a module is one this path reproduces
(our classifier, layers and readouts, not subclassed); anything else goes through ``vmap``.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..runtime.threads import map_single_threaded
from . import lif_scan_cpu
from .lif import LIFLayer
from .lif_step import LIFParams, LIFStepState, StepBuffers, decay, initial_state, lif_drive, lif_step, recurrent_matrix
from .network import SNNClassifier
from .parameters import stored_parameters
from .readout import LeakyReadout, SpikeMeanReadout
from .spike_product import SpikeProduct, padded_width, spike_product

#: Bytes of one block of a layer's drive (``time_block * chips * batch * n * 4``) that the default block
#: size aims at: small enough for the per-core caches, large enough for an efficient input projection
#: (measured on a 2-core CPU: 0.5-2 MB alike, 4 MB and up slower).
BLOCK_BYTES = 1 << 20

#: Chips x samples that one pass of the chip-batched network holds: a larger call is run in groups of chips of
#: about this size. Measured (``benchmarks/bench_ensemble.py``'s network, one thread, CPU time per 1,000
#: chip-samples of 100 steps): 10.6-11.4 ms from 2,048 to 8,192 rows, 19.6 at 16,384 (the states leave the
#: cache), 14-16 at 1,024 and below (Python's share of each step grows).
GROUP_ROWS = 4096

#: Whether CPU layers may run each step's element-wise updates as one C call (:class:`~robust_snn.core.
#: lif_scan_cpu.ChipStep`; False: :func:`~robust_snn.core.lif_step.lif_step`'s operations, e.g. to time one
#: against the other).
use_fused_step = True

#: Fewest chip-samples a group must hold to run in a thread of its own (:func:`_in_threads`): below it the
#: operations of a step are too short for two threads to overlap them.
MIN_THREAD_ROWS = 2048


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


class _Input:
    """The input product of a stage: ``W x`` for the shared data (first layer), a look-up for spikes."""

    def __init__(self, weight: torch.Tensor, from_spikes: bool) -> None:
        self.n = weight.shape[1]
        self.weight_t = weight.transpose(1, 2)  # (chips, n_in, n)
        self.lookup = spike_product(self.weight_t) if from_spikes else None

    def __call__(self, previous: torch.Tensor) -> torch.Tensor:
        """``previous`` ``(steps, batch, n_in)`` data or ``(steps, chips, batch, padded)`` spikes ->
        ``(steps, chips, batch, n)``."""
        if self.lookup is not None:
            return self.lookup(previous, chip_dim=1)
        # All chips and steps in one batched product: (chips, steps * batch, n_in), the data shared by every
        # chip through a stride-0 chip axis.
        steps, batch, n_in = previous.shape
        chips = self.weight_t.shape[0]
        shared = previous.reshape(1, steps * batch, n_in).expand(chips, -1, -1)
        return torch.bmm(shared, self.weight_t).view(chips, steps, batch, self.n).transpose(0, 1)


class _Layer:
    """One LIF layer's per-chip constants, as :meth:`LIFLayer.forward` derives them, and its state."""

    def __init__(self, layer: LIFLayer, p: Mapping[str, torch.Tensor], batch: int, from_spikes: bool) -> None:
        # The same operations as LIFLayer.forward on (chips, n) tensors (vmap's physical layout): tau and
        # threshold come back from the stored logarithms through exp, as the PositiveParameter descriptor does.
        alpha = decay(layer.dt, torch.exp(p["log_tau_mem"]))
        beta = decay(layer.dt, torch.exp(p["log_tau_syn"]))
        bias, threshold = p["bias"], torch.exp(p["log_threshold"])
        chips, n = bias.shape
        self.n, self.width = n, padded_width(n)
        self.input = _Input(p["weight"], from_spikes)
        self.bias, self.beta = bias[:, None], beta[:, None]  # (chips, 1, n)
        # The recurrent current is added to the drive by a look-up (lif_step gets no w_rec): same equations.
        self.recurrent = spike_product(recurrent_matrix(p["w_rec"], beta, layer._offdiag)) if layer.recurrent \
            else None
        rho = decay(layer.dt, torch.exp(p["log_tau_adapt"]))[:, None] if layer.adaptive else None
        kappa = torch.exp(p["log_adapt_strength"])[:, None] if layer.adaptive else None
        self.params = LIFParams(alpha[:, None], self.beta, threshold[:, None], None, rho, kappa)
        u, v, _, a = initial_state(self.bias, (chips, batch), layer.adaptive)
        self.state = LIFStepState(u.clone(), v, None, a)  # updated in place (U cloned from the bias view)
        self.theta = bias.new_empty(chips, batch, n) if layer.adaptive else None
        # On the CPU the step's element-wise updates run as one C call (same numbers; lif_scan_cpu.ChipStep).
        state, constants = self.state, (alpha[:, None], self.beta, threshold[:, None], rho, kappa)
        self.fused = None
        #: Whether the fused step takes the data and projects it itself (the first layer, whose input is the
        #: data): its drive buffer then holds the block's data.
        self.projects = False
        if use_fused_step and lif_scan_cpu.ChipStep.fits(state.u, state.v, state.a, *constants):
            # A recurrent look-up table goes into the same call (a dense product stays a separate step).
            table = self.recurrent if isinstance(self.recurrent, SpikeProduct) else None
            # (not where a dense recurrent product adds to the drive before the call would form it)
            self.projects = not from_spikes and (self.recurrent is None or table is not None)
            self.fused = lif_scan_cpu.ChipStep(state.u, state.v, state.a, *constants,
                                               table=None if table is None else table.table,
                                               groups=0 if table is None else table.groups,
                                               drive_bias=(1 - self.beta) * self.bias if self.projects else None,
                                               weight=p["weight"] if self.projects else None)

    def plan(self, drives: torch.Tensor, spike_buffers: list[torch.Tensor], counts: torch.Tensor | None = None
             ) -> bool:
        """Bind the hot loop to its buffers once: ``drives`` ``(time_block, chips, batch, n)`` and two spike
        buffers ``(time_block, chips, batch, width)`` used in turn by alternate blocks; ``counts``
        ``(chips, batch, width)``: spike counts the fused step adds each step's spikes to (the last layer of a
        spike-mean readout). Returns whether it does (else the caller counts).

        For each buffer and step: the drive slice, the :class:`StepBuffers` that :func:`lif_step` writes
        into (or the bound C call of the fused step), and the recurrent product bound to the previous step's
        spikes (the last step of the other buffer at a block's first step), so that a step costs no view,
        tuple or look-up set-up.
        """
        state, theta, n, steps = self.state, self.theta, self.n, drives.shape[0]
        self.plans = []
        for k, spikes in enumerate(spike_buffers):
            other = spike_buffers[1 - k]
            plan = []
            for t in range(steps):
                d, s_t = drives[t], spikes[t]
                previous = spikes[t - 1] if t > 0 else other[steps - 1]
                looked_up = self.fused is not None and self.fused.groups > 0  # the look-up runs inside the call
                add_recurrent = (self.recurrent.bind(previous, d) if self.recurrent is not None and not looked_up
                                 else None)
                if self.fused is None:
                    plan.append((d, add_recurrent, StepBuffers(d, state.u, state.v, theta, s_t[..., :n], state.a)))
                    continue
                count = None if counts is None else counts[..., :n]
                call, args = self.fused.bind(d, s_t[..., :n], count, previous if looked_up else None)
                # (the very first step has no recurrent current: S_0 = 0)
                first = self.fused.bind(d, s_t[..., :n], count)[1] if looked_up and t == 0 else args
                plan.append((add_recurrent, call, args, first))
            self.plans.append(plan)
        return self.fused is not None and counts is not None

    def scan(self, n_steps: int, parity: int, first_block: bool) -> None:
        """Run one block of ``n_steps`` on the buffers of :meth:`plan` (``parity``: which spike buffer);
        the drive (:func:`lif_drive`) is already in the drive buffer and is overwritten.

        Each step: the drive takes the recurrent current ``S_{t-1} W_r`` (a look-up; ``S_0 = 0``: nothing at
        the very first step), then :func:`~robust_snn.core.lif_step.lif_step` updates ``U``, ``V`` (and
        ``A``) in place and writes the spikes into the block buffer.
        """
        plan = self.plans[parity]
        if self.fused is not None:  # one C call per step, updating the state tensors in place
            for t in range(n_steps):
                add_recurrent, call, args, first = plan[t]
                very_first = first_block and t == 0
                if add_recurrent is not None and not very_first:
                    add_recurrent()
                call(*(first if very_first else args))
            return
        step, params, state = lif_step, self.params, self.state
        for t in range(n_steps):
            d, add_recurrent, buffers = plan[t]
            if add_recurrent is not None and not (first_block and t == 0):
                add_recurrent()
            state = step(d, state, params, None, buffers)
        self.state = state


class _LeakyReadout:
    """The leaky readout's per-chip constants and state; the membrane trace ``(chips, batch, time, classes)``."""

    def __init__(self, readout: LeakyReadout, p: Mapping[str, torch.Tensor], batch: int, steps: int) -> None:
        alpha = decay(readout.dt, torch.exp(p["log_tau_mem"]))
        beta = decay(readout.dt, torch.exp(p["log_tau_syn"]))
        bias = p["bias"]
        chips, k = bias.shape
        self.n = k
        self.input = _Input(p["weight"], from_spikes=True)
        self.bias, self.beta = bias[:, None], beta[:, None]
        self.params = LIFParams(alpha[:, None], self.beta, None)  # no threshold: no spikes, no reset
        u, v, _, _ = initial_state(self.bias, (chips, batch))
        self.state = LIFStepState(u.clone(), v, None, None)  # updated in place
        self.buffers = StepBuffers(u=self.state.u, v=self.state.v)
        self.trace = bias.new_empty(chips, batch, steps, k)

    def scan(self, drive: torch.Tensor, t0: int) -> None:
        """Run one block of steps from ``t0``: ``drive`` ``(steps, chips, batch, classes)``."""
        for t in range(drive.shape[0]):
            lif_step(drive[t], self.state, self.params, None, self.buffers)
            self.trace[:, :, t0 + t] = self.state.v

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
    threads: int | None = None,
) -> torch.Tensor:
    """Logits ``(chips, batch, classes)`` of ``model`` run with each chip's physical parameters.

    ``params``: the physical parameter dict with a leading chip axis, ``{name: (chips, *shape)}`` (as
    :meth:`~robust_snn.devices.model.MismatchModel.sample` returns); ``x``: ``(batch, time, n_in)``, the same
    input for every chip. ``time_block``: steps per block (default: about :data:`BLOCK_BYTES` of drive per
    block). Equal to ``torch.func.vmap(lambda p: functional_forward(model, p, x))(params)`` up to the rounding
    of the products (module docstring). ``threads``: CPU threads to run groups of chips in (default: torch's
    intra-op thread count), each group on one intra-op thread (:func:`_in_threads`); used only where each
    group holds at least :data:`MIN_THREAD_ROWS` chip-samples.
    """
    reason = chip_batch_support(model)
    if reason is not None:
        raise TypeError(f"chip_batched_forward runs SNNClassifier only: {reason}")
    if x.dim() != 3 or x.shape[-1] != model.config.n_in:
        raise ValueError(f"expected input of shape (batch, time, {model.config.n_in}), got {tuple(x.shape)}")
    stored = stored_parameters(model, dict(params))
    chips = next(iter(stored.values())).shape[0]
    batch = x.shape[0]
    threads = (torch.get_num_threads() if threads is None else threads) if x.device.type == "cpu" else 1
    rows = chips * batch
    # Groups of chips of about GROUP_ROWS chip-samples, and at least one per thread where each would still get
    # MIN_THREAD_ROWS; more than one worker only where every group is that large.
    n_groups = min(chips, max(-(-rows // GROUP_ROWS), min(threads, rows // MIN_THREAD_ROWS)))
    bounds = [chips * g // n_groups for g in range(n_groups + 1)]
    groups = [{k: v[lo:hi] for k, v in stored.items()} for lo, hi in zip(bounds, bounds[1:])]
    workers = min(threads, n_groups) if rows // n_groups >= MIN_THREAD_ROWS else 1
    if workers > 1:
        return _in_threads(model, groups, x, time_block, workers)
    return torch.cat([_forward(model, group, x, time_block) for group in groups])


def _in_threads(model: SNNClassifier, groups: list[dict[str, torch.Tensor]], x: torch.Tensor,
                time_block: int | None, workers: int) -> torch.Tensor:
    """Groups of chips run by :func:`_forward` in ``workers`` threads, each on one intra-op thread.

    Why threads and not torch's intra-op parallelism: a step is about ten tensor operations, each of which
    would be a parallel region ending at a barrier for every thread; under contention (another process on a
    core) each barrier waits for a descheduled thread (see :mod:`robust_snn.runtime.threads`). Groups of chips
    share nothing until their logits are joined, and torch releases the GIL inside each operation, so the
    threads run side by side with no barrier at all (Python's own share of a step, a few microseconds per
    operation, is serialised by the GIL: hence :data:`MIN_THREAD_ROWS`).
    """
    return torch.cat(map_single_threaded(lambda group: _forward(model, group, x, time_block), groups, workers))


def _forward(model: SNNClassifier, stored: dict[str, torch.Tensor], x: torch.Tensor, time_block: int | None
             ) -> torch.Tensor:
    """:func:`chip_batched_forward` on the calling thread; ``stored``: the stored parameters with a chip axis."""
    chips = next(iter(stored.values())).shape[0]
    batch, steps, n_in = x.shape
    layers = [_Layer(layer, _split(stored, f"layers.{i}."), batch, from_spikes=i > 0)
              for i, layer in enumerate(model.layers)]
    readout_p = _split(stored, "readout.")
    leaky = _LeakyReadout(model.readout, readout_p, batch, steps) if isinstance(model.readout, LeakyReadout) \
        else None
    stages: list[_Layer | _LeakyReadout] = [*layers, *([leaky] if leaky is not None else [])]
    if time_block is None:
        time_block = max(1, min(steps, BLOCK_BYTES // (4 * chips * batch * max(s.n for s in stages))))
    # Time-major blocks: each step a contiguous (chips, batch, n) slice; spikes zero-padded to whole groups.
    # A layer whose fused step projects the data itself gets the block's data as its drive buffer.
    projects = [isinstance(s, _Layer) and s.projects for s in stages]
    drives = [x.new_empty(time_block, batch, n_in) if p else x.new_empty(time_block, chips, batch, s.n)
              for s, p in zip(stages, projects)]
    # Two spike buffers per layer, used in turn, so the last step of a block is still there for the next
    # block's recurrent current without a copy.
    spike_buffers = [[x.new_zeros(time_block, chips, batch, layer.width) for _ in range(2)] for layer in layers]
    counts = x.new_zeros(chips, batch, layers[-1].width) if leaky is None else None
    counted = False  # whether the last layer's fused step counts its spikes itself
    for i, (layer, drive, pair) in enumerate(zip(layers, drives, spike_buffers)):
        counted = layer.plan(drive, pair, counts if i == len(layers) - 1 else None)
    x_time = x.transpose(0, 1).contiguous()  # (time, batch, n_in)
    for t0 in range(0, steps, time_block):
        n_steps = min(time_block, steps - t0)
        parity = (t0 // time_block) % 2
        spikes = [pair[parity] for pair in spike_buffers]
        for i, stage in enumerate(stages):
            previous = x_time[t0:t0 + n_steps] if i == 0 else spikes[i - 1][:n_steps]
            if projects[i]:
                drives[i][:n_steps] = previous
            else:
                lif_drive(stage.input(previous), stage.bias, stage.beta, out=drives[i][:n_steps])
            if isinstance(stage, _Layer):
                stage.scan(n_steps, parity, first_block=t0 == 0)
            else:
                stage.scan(drives[i][:n_steps], t0)
        if counts is not None and not counted:  # exact: sums of 0/1 values; the padding columns add zeros
            for s_t in spikes[-1][:n_steps]:
                counts += s_t
    if leaky is not None:
        return leaky.logits()
    readout = readout_p
    # = spikes.mean(time): the sum of 0/1 values is exact, mean divides it by the count
    mean = counts[..., :layers[-1].n] / steps
    return torch.bmm(mean, readout["weight"].transpose(1, 2)) + readout["bias"][:, None]


__all__ = ["BLOCK_BYTES", "GROUP_ROWS", "MIN_THREAD_ROWS", "chip_batch_support", "chip_batched_forward"]
