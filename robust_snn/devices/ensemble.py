"""Per-chip ensembles: the accuracy of one trained model on ``n_chips`` simulated chips of a device profile.

Chip ``k`` computes with the parameters ``theta^{(k)}`` its mismatch model draws from ``(seed, k)`` (see
:class:`~robust_snn.devices.model.MismatchModel`). Chips are evaluated ``chunk_size`` at a time: the chunk's
parameters are stacked to ``{name: (chunk, *shape)}`` and the model runs once per data batch over that chip
axis, giving logits ``(chunk, batch, classes)``:

- our own :class:`~robust_snn.core.network.SNNClassifier` through
  :func:`~robust_snn.core.chip_batch.chip_batched_forward`: the chip axis folded into the input projection (one
  batched product per block of steps for the whole chunk), products with spikes (the recurrent current, later
  layers' inputs) by table look-up (:mod:`robust_snn.core.spike_product`), time-blocked, only spikes kept;
- a foreign module that offers a chip-batched twin (``chip_batched_twin()``: our classifier with its dynamics,
  as :class:`~robust_snn.interop.rockpool.RockpoolClassifier` does) on that twin, the same way: its chips are
  drawn on its own parameters, renamed for the twin chunk by chunk; the twin is checked against the module on
  the first batch, and chunks it cannot reproduce (e.g. Rockpool self-connections) run on the module;
- any other module whose forward maps ``(batch, time, channels)`` to ``(batch, classes)`` (snntorch's,
  plain torch, a subclass of ours, Rockpool's without a twin) through
  :func:`~robust_snn.core.parameters.functional_forward`, with families inferred by name: under
  ``torch.func.vmap`` over the chip axis for data batches of up to :data:`VMAP_MAX_BATCH` samples, chip by chip
  on larger ones (where that measured faster).

Memory is bounded by the chunk: chip-batched, activations take about ``rows * neurons * (2 * time_block + 4)``
floats for ``rows = max(chunk_size * batch_size, MERGED_ROWS)`` chip-samples (frozen chips, i.e. no read noise,
take consecutive batches in passes of :data:`MERGED_ROWS`; with read noise ``rows = chunk_size * batch_size``;
a time block holds about 1 MB of drive); under ``vmap``, ``chunk_size * batch_size * time * neurons``. The data
set's batches are kept after the first chunk up to :data:`KEEP_BATCH_BYTES`; a larger one is streamed batch by
batch once per chunk. Results do not depend on ``chunk_size``, ``batch_size``, the
thread count or ``vectorise`` (read noise, where a profile has it, is drawn per chip per batch index from
``(seed, chip, batch)``, so it does depend on ``batch_size``).

Threads: on the chip-batched path the intra-op thread count (under the thread policy, the cores free at each
chunk: :class:`~robust_snn.runtime.threads.LargeWork`) is the number of threads that groups of chips run in,
each on one intra-op thread (see :func:`~robust_snn.core.chip_batch.chip_batched_forward`), and the nominal chip
is one more chip of the first chunk's passes; the rest (chip fabrication) runs on one intra-op thread; the
caller's count is restored on return.

Speed (``benchmarks/bench_ensemble.py``; 64 chips, 256 samples, T = 100, 16 -> 64 recurrent -> 8; against
the fastest loop a user would write: ``vectorise=False``, every chip in one chunk, one 256-sample batch per
chip; figures and conditions in benchmarks/README.md). 2026-12-01 (session 10), quiet 2-core machine, six runs:
chip-batched at the score card's setting (chunks of 16, batch 256; each step one C call,
:mod:`robust_snn.core.lif_scan_cpu.ChipStep`) 65-80 ms on two threads and 93-98 on one. The best loop got faster
in the same session (its recurrent layer now runs the scan's C loops too): 351-366 / 451-460 ms (two threads /
one) before, 241-312 / 279-344 after, so chip-batching is 3.2-3.9x the fastest loop at any thread count and
3.0-3.5x on one thread (4.7-4.9x against the slower loop); at ``evaluate_ensemble``'s defaults (chunks of 32,
batch 32) about 10-15% slower. A Rockpool network on its twin: 96-102 ms against its own loop's 1953-2146 (20-21x).
On an AVX2 AMD EPYC (session 11; the chip step's row blocks sized for 16 vector registers): 207-223 ms on one
thread, 3.2-3.4x the loop's 663-718 ms, then 2.5-2.9x once the loop's recurrent forward got faster (520-634).
Earlier (2026-11-30 evening, load average 3.9-4.2, before the C step): 277-284 ms against the loop's 634-648 on
one thread; on two threads the loop's intra-op threads collapsed under such load (2.6-3.6 s) while the chip
groups did not (440-516 ms).
As dense products the work is 16.8 GFLOP (13.4 recurrent, 3.4 input projection) plus four elementwise updates
per neuron and step (the loop's C scan adds only the recurrent weight rows of the neurons that spiked); the
look-up replaces the recurrent products (29.6% of the neurons fire per step,
but a look-up does not depend on it: see :mod:`robust_snn.core.spike_product`), and the C step does the rest of a
step in registers, column block by column block (about 0.19 ms per step of 16 chips x 256 samples, half of it
the look-up's loads). The generic path cannot do better than the loop at the score card's batch:
``vmap`` runs the loop's work as batched ops plus its own dispatch (measured 1.3x slower than the loop at 256
samples per chip, 2.6x faster at 8), so above :data:`VMAP_MAX_BATCH` samples it runs the chips one by one, and
below it in slices of :data:`VMAP_ROWS` chip-samples (``vmap`` keeps every trace of every chip).
``vectorise=False`` gives the same numbers; modules whose forward ``vmap`` cannot trace (snntorch's neurons,
Rockpool's ``LIFTorch`` where it has no twin) fall back to it with a warning. Running the generic path's chips
in worker threads (each on its own copy of the module, one intra-op thread each) was built and measured on two
free cores (2026-11-30,
load average 0.2-1.3, two runs): our network as a subclass 303-321 ms against its loop's 312-322 on two
intra-op threads, the same network as Rockpool modules 2042-2332 against 2110-2114 ms on one thread, so it was
not kept: on free cores it matches the loop, and on a busy machine the thread policy gives it one thread anyway.
"""

from __future__ import annotations

import copy
import math
import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn
from torch.utils.data import Dataset

from ..core.chip_batch import GROUP_ROWS, chip_batch_support, chip_batched_forward
from ..core.parameters import functional_forward, parameter_families, physical_parameters
from ..progress import print_line, progress_mode
from ..core.evaluation import iterate_batches
from .model import MismatchModel, stack
from .profiles import DeviceProfile, load_profile


@dataclass(frozen=True)
class EnsembleResult:
    """Accuracies (fractions in [0, 1]) of the nominal chip and of chips ``0 .. n_chips - 1``.

    ``nominal_accuracy`` is the *programmed* model's: the parameters after the profile's deterministic stages
    (:func:`robust_snn.devices.programmed_parameters`), as in the score card; the float model's accuracy is
    the card's ``float_accuracy``.
    """

    profile: str
    n_chips: int
    seed: int
    n_samples: int
    nominal_accuracy: float
    per_chip_accuracy: tuple[float, ...]

    @property
    def mean_accuracy(self) -> float:
        return statistics.fmean(self.per_chip_accuracy)

    @property
    def std_accuracy(self) -> float:
        """Sample standard deviation over chips (0 for a single chip)."""
        return statistics.stdev(self.per_chip_accuracy) if self.n_chips > 1 else 0.0

    @property
    def min_accuracy(self) -> float:
        return min(self.per_chip_accuracy)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of per-chip accuracy, linear interpolation between chips."""
        return float(torch.quantile(torch.tensor(self.per_chip_accuracy, dtype=torch.float64), q / 100.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.profile, "n_chips": self.n_chips, "seed": self.seed, "n_samples": self.n_samples,
            "nominal_accuracy": self.nominal_accuracy, "mean_accuracy": self.mean_accuracy,
            "std_accuracy": self.std_accuracy, "p5_accuracy": self.percentile(5), "min_accuracy": self.min_accuracy,
            "per_chip_accuracy": list(self.per_chip_accuracy),
        }


def model_dt(model: nn.Module) -> float | None:
    """The model's time step in seconds: ``model.config.dt``, else the first submodule's ``dt``, else ``None``."""
    config_dt = getattr(getattr(model, "config", None), "dt", None)
    if isinstance(config_dt, (int, float)):
        return float(config_dt)
    for module in model.modules():
        dt = getattr(module, "dt", None)
        if isinstance(dt, (int, float)) and not isinstance(dt, bool) and math.isfinite(dt) and dt > 0:
            return float(dt)
    return None


def _as_model(profile: DeviceProfile | MismatchModel | str | Path) -> tuple[str, MismatchModel]:
    if isinstance(profile, MismatchModel):
        return profile.name or "custom", profile
    if not isinstance(profile, DeviceProfile):
        profile = load_profile(profile)
    return profile.name, profile.mismatch_model()


def sample_chips(
    params: Mapping[str, torch.Tensor],
    families: Mapping[str, str],
    profile: DeviceProfile | MismatchModel | str | Path,
    n_chips: int,
    seed: int,
    *,
    dt: float | None = None,
    first_chip: int = 0,
) -> dict[str, torch.Tensor]:
    """Chips ``first_chip .. first_chip + n_chips - 1`` of ``profile``: ``{name: (n_chips, *shape)}``.

    ``params`` is a physical parameter dict, ``families`` maps its names to families. Chip ``k`` depends only
    on ``(seed, k)``. Per-inference read noise is not included (see :meth:`MismatchModel.read`).
    """
    return _as_model(profile)[1].sample(params, families, n_chips, seed, dt=dt, first_chip=first_chip)


#: What the chip-batched path runs for a model: a network it reproduces, and how a chunk's stacked chip
#: parameters become that network's (``None``: this chunk cannot run on it).
ChipBatched = tuple[nn.Module, Callable[[dict[str, torch.Tensor]], "dict[str, torch.Tensor] | None"]]


def _chip_batched(model: nn.Module, params: dict[str, torch.Tensor], probe_x: torch.Tensor) -> ChipBatched | None:
    """The network the chip-batched path runs for ``model``: ``model`` itself (our classifier), the twin a
    foreign module offers, or ``None`` (the generic path).

    A foreign module offers a twin with a ``chip_batched_twin()`` method returning an object with ``model`` (an
    :class:`~robust_snn.core.network.SNNClassifier`) and ``parameters_for(stacked params)`` (the twin's
    parameters, or ``None`` for chips it cannot reproduce), as :class:`~robust_snn.interop.rockpool.
    RockpoolClassifier` does. A duck-typed method, so that device simulation needs no import of interop. The
    twin is checked on the probe batch with the nominal parameters before it is trusted.
    """
    if chip_batch_support(model) is None:
        return model, lambda p: p
    make = getattr(model, "chip_batched_twin", None)
    if make is None:
        return None
    try:
        twin = make()
    except ValueError as exc:
        warnings.warn(f"{type(model).__name__} has no chip-batched twin ({exc}); using the generic path",
                      stacklevel=4)
        return None
    net = twin.model.to(probe_x.device).eval()
    nominal = twin.parameters_for(stack([params]))
    if nominal is None:
        return None
    with torch.no_grad():
        expected = functional_forward(model, params, probe_x)
        got = chip_batched_forward(net, nominal, probe_x, threads=1)[0]
    if not torch.allclose(got, expected, rtol=1e-4, atol=1e-4):
        warnings.warn(f"the chip-batched twin of {type(model).__name__} disagrees with it on the first batch "
                      f"(largest logit difference {float((got - expected).abs().max()):.3g}); using the generic "
                      "path", stacklevel=4)
        return None
    return net, twin.parameters_for


def _chip_forward(model: nn.Module, params: dict[str, torch.Tensor], probe_x: torch.Tensor, vectorise: bool,
                  threads: Callable[[], int] | None = None, batched: ChipBatched | None = None
                  ) -> Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]:
    """``(stacked params {name: (chips, ...)}, x) -> logits (chips, batch, classes)``: chip-batched (``batched``,
    from :func:`_chip_batched`, in ``threads()`` threads), else vmapped, else looped. Chunks the chip-batched
    network cannot reproduce take the generic path."""

    def one(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_forward(model, p, x)

    def looped(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        n = next(iter(p.values())).shape[0]
        return torch.stack([one({k: v[j] for k, v in p.items()}, x) for j in range(n)])

    if not vectorise:
        return looped
    generic: list[Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]] = []  # made when first needed

    def fallback(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        if not generic:
            generic.append(_generic_forward(model, params, probe_x, one, looped))
        return generic[0](p, x)

    if batched is None:
        return fallback
    net, to_net = batched

    def chip_batched(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        q = to_net(p)
        if q is None:
            return fallback(p, x)
        return chip_batched_forward(net, q, x, threads=threads() if threads else None)

    return chip_batched


def _generic_forward(model: nn.Module, params: dict[str, torch.Tensor], probe_x: torch.Tensor,
                     one: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor],
                     looped: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]
                     ) -> Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]:
    """The generic path: ``vmap`` over the chip axis where it traces the model and the batch is small, else
    the chips one by one."""
    reason = _vmap_failure(model, params, probe_x)
    if reason is not None:
        warnings.warn(f"vmap cannot run this model ({reason}); evaluating chips one by one", stacklevel=5)
        return looped
    vmapped = torch.func.vmap(one, in_dims=(0, None))

    def generic(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > VMAP_MAX_BATCH:  # a large batch: chip by chip is faster (see VMAP_MAX_BATCH)
            return looped(p, x)
        # vmap keeps every trace of every chip, (chips, batch, time, n): slices of the batch keep that in cache.
        rows = max(1, VMAP_ROWS // next(iter(p.values())).shape[0])
        if x.shape[0] <= rows:
            return vmapped(p, x)
        return torch.cat([vmapped(p, part) for part in x.split(rows)], dim=1)

    return generic


#: Chips x samples per ``vmap`` call on the generic path: a larger data batch is evaluated in slices (the
#: samples are independent, so the logits are the same). Measured with ``benchmarks/bench_ensemble.py``.
VMAP_ROWS = 1024

#: Largest data batch the generic path runs under ``vmap``; above it, chips run one at a time on the whole
#: batch. ``vmap`` runs the loop's work as batched ops plus its own dispatch, which pays only while the loop's
#: per-step ops are small: measured (one thread, 16 chips of bench_ensemble's network, CPU time) vmap in
#: slices against the loop 8.4 / 21.5 ms at 8 samples, 21.2 / 28.3 at 32, 36.5 / 39.9 at 64, 77.5 / 67.7 at
#: 128, 152.5 / 115.1 at 256.
VMAP_MAX_BATCH = 96


#: The data set's batches are kept after the first chunk's pass (read once, not once per chunk of chips) if they
#: take at most this many bytes; larger data sets are streamed again for every chunk.
KEEP_BATCH_BYTES = 256 * 2**20

#: Chip-samples per pass that :func:`count_correct` gathers consecutive data batches into when the chips are
#: frozen (no read noise) and run chip-batched: small batches (``evaluate_ensemble``'s default 32, with chunks
#: of 32 chips: 1,024 rows) leave each step's operations too short, so Python's share dominates, and too short
#: for threads. Twice :data:`~robust_snn.core.chip_batch.GROUP_ROWS`: one group per core on two cores. The
#: memory bound of a pass becomes ``max(chunk_size * batch_size, MERGED_ROWS)`` chip-samples.
MERGED_ROWS = 2 * GROUP_ROWS


def _gather(batches: Any, per_pass: int) -> Iterator[list[tuple[torch.Tensor, torch.Tensor]]]:
    """Consecutive data batches in lists of ``per_pass`` (the last may be shorter)."""
    pieces: list[tuple[torch.Tensor, torch.Tensor]] = []
    for batch in batches:
        pieces.append(batch)
        if len(pieces) == per_pass:
            yield pieces
            pieces = []
    if pieces:
        yield pieces


def _vmap_failure(model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor) -> str | None:
    """Why ``vmap`` cannot run ``model`` (``None`` if it can), tried on a copy with two chips.

    A copy, because a module that keeps hidden state in attributes (snntorch's ``init_hidden``) would keep a
    tensor that escaped the failed ``vmap`` and break every later call.
    """
    probe = copy.deepcopy(model).eval()
    try:
        torch.func.vmap(lambda p: functional_forward(probe, p, x))(stack([params, params]))
    except Exception as exc:  # noqa: BLE001 - any failure means: fall back to the loop
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return None


def _progress(enabled: bool, total: int) -> Any:
    """tqdm's bar on a terminal; nothing on a log or pipe (the caller prints one line when done)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="chips", unit="batch", leave=False, dynamic_ncols=True,
                disable=progress_mode(enabled) != "bar")


@dataclass(frozen=True)
class ChipCounts:
    """Correct answers of chips ``first_chip .. first_chip + len(correct) - 1`` on ``n_samples`` samples.

    The unit of work a distributed ensemble ships back (integers, so merging ranges is exact);
    ``nominal_correct`` is the nominal (programmed, unvaried) chip's count, measured only when asked (``None``
    otherwise).
    """

    first_chip: int
    correct: tuple[int, ...]
    n_samples: int
    nominal_correct: int | None = None


def _check_sizes(n_chips: int, chunk_size: int, batch_size: int) -> None:
    if n_chips < 1 or chunk_size < 1 or batch_size < 1:
        raise ValueError(f"n_chips, chunk_size and batch_size must be >= 1, got {n_chips}, {chunk_size}, {batch_size}")


@torch.no_grad()
def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """The module's buffers as they are now (copies: a forward pass that updates state replaces or writes them)."""
    return {name: buffer.detach().clone() for name, buffer in model.named_buffers()}


def _restore_buffers(model: nn.Module, saved: dict[str, torch.Tensor]) -> None:
    """Put ``saved`` back, by assignment: a state buffer may have been replaced by one of another shape."""
    for name, value in saved.items():
        owner, _, leaf = name.rpartition(".")
        setattr(model.get_submodule(owner) if owner else model, leaf, value)


def count_correct(
    model: nn.Module,
    profile: DeviceProfile | MismatchModel | str | Path,
    dataset: Dataset,
    chips: range,
    seed: int = 0,
    chunk_size: int = 32,
    batch_size: int = 32,
    progress: bool = False,
    *,
    vectorise: bool = True,
    dt: float | None = None,
    nominal: bool = False,
    accelerator: str | torch.device | None = None,
) -> ChipCounts:
    """Correct answers of each chip in ``chips`` (a ``range`` with step 1) of ``profile`` on ``dataset``.

    Chip ``k`` is fabricated from ``(seed, k)`` and its read noise drawn from ``(seed, k, batch index)``, so
    the counts of a range equal that range's slice of a whole-ensemble run with the same ``batch_size``:
    ensembles can be split into ranges evaluated anywhere. ``nominal=True`` also counts the nominal chip's
    correct answers (the programmed parameters, deterministic stages only; one extra forward pass per batch).
    See :func:`evaluate_ensemble` for the rest.
    """
    from ..runtime.accelerator import module_device, place
    from ..runtime.threads import LargeWork

    if chips.step != 1 or chips.start < 0:
        raise ValueError(f"chips must be a range of non-negative chip indices with step 1, got {chips!r}")
    _check_sizes(len(chips), chunk_size, batch_size)
    name, mismatch = _as_model(profile)
    model = place(model, accelerator, in_place=False)
    device = module_device(model)
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    programmed = mismatch.program(params, parameter_families(model), dt=dt if dt is not None else model_dt(model))
    nominal_params = programmed.materialise() if nominal else {}
    nominal_stacked = stack([nominal_params]) if nominal else {}
    batches = iterate_batches(dataset, batch_size, device=device, keep_bytes=KEEP_BATCH_BYTES)
    chunks = [range(s, min(s + chunk_size, chips.stop)) for s in range(chips.start, chips.stop, chunk_size)]
    was_training = model.training
    state = _buffers(model)  # stateful foreign modules (Rockpool) keep their last state in buffers: put it back
    model.eval()
    probe = next(iter(batches))[0][:2]
    net = _chip_batched(model, params, probe) if vectorise else None
    batched = net is not None
    # The chip-batched path runs groups of chips in threads of its own (see chip_batched_forward); everything
    # else here (fabrication; the nominal chip on the generic path) runs on one intra-op thread.
    wide, before, chip_threads = LargeWork(large=batched), torch.get_num_threads(), [1]  # [threads this chunk]
    run = _chip_forward(model, params, probe, vectorise, threads=lambda: chip_threads[0], batched=net)
    correct = torch.zeros(len(chips), dtype=torch.int64, device=device)
    nominal_correct = n_samples = 0
    bar = _progress(progress, len(chunks) * len(batches))
    # Under the thread policy, the chip-batched path runs on the cores free at each chunk (LargeWork).
    try:
        for c, chunk in enumerate(chunks):
            torch.set_num_threads(before)
            chip_threads[0] = wide.update()
            if batched and device.type == "cpu":
                torch.set_num_threads(1)
            if mismatch.has_read_stages:  # each chip's state is kept: its read noise is drawn batch by batch
                states, frozen = [mismatch.fabricate(programmed, k, seed) for k in chunk], None
            else:  # frozen chips, fabricated all at once
                states, frozen = [], mismatch.fabricate_chips(programmed, chunk, seed)
            bar.set_description(f"chips {chunk.start}-{chunk.stop - 1}")
            lo, hi = chunk.start - chips.start, chunk.stop - chips.start
            # Frozen chips on the chip-batched path: consecutive batches run as one pass of about MERGED_ROWS
            # chip-samples (per-sample results do not depend on the batch; see MERGED_ROWS).
            per_pass = max(1, MERGED_ROWS // (len(chunk) * batch_size)) if frozen is not None and batched else 1
            for b, pieces in enumerate(_gather(batches, per_pass)):
                x = pieces[0][0] if len(pieces) == 1 else torch.cat([x for x, _ in pieces])
                y = pieces[0][1] if len(pieces) == 1 else torch.cat([y for _, y in pieces])
                p = frozen if frozen is not None else stack(
                    [mismatch.read(s, k, seed, draw=b) for s, k in zip(states, chunk)])
                # The nominal chip, on the chip-batched path (a foreign module's on its twin), is one more chip of
                # the first chunk's passes (run alone, batch by batch, eight merged batches of 32 took 35 ms of a
                # 64-chip ensemble's 180, almost all of it Python's share of each step: as one more chip, 1/33 of
                # a pass that runs on every free core); on the generic path it runs batch by batch.
                with_nominal = c == 0 and nominal and batched
                if with_nominal:
                    p = {k: torch.cat([v, nominal_stacked[k]]) for k, v in p.items()}
                hits = (run(p, x).argmax(-1) == y).sum(-1)
                if with_nominal:
                    nominal_correct += int(hits[-1])
                    hits = hits[:-1]
                correct[lo:hi] += hits
                if c == 0:
                    n_samples += len(y)
                    if nominal and not batched:
                        for x_b, y_b in pieces:
                            nominal_logits = functional_forward(model, nominal_params, x_b)
                            nominal_correct += int((nominal_logits.argmax(-1) == y_b).sum())
                bar.update(len(pieces))
    finally:
        bar.close()
        wide.close()
        torch.set_num_threads(before)
        model.train(was_training)
        _restore_buffers(model, state)
    if progress_mode(progress) == "lines":
        print_line(f"chips {chips.start}-{chips.stop - 1} of {name}: {n_samples} "
                   f"samples, mean accuracy {float(correct.sum()) / max(n_samples * len(chips), 1):.4f}")
    return ChipCounts(chips.start, tuple(correct.tolist()), n_samples, nominal_correct if nominal else None)


def merge_counts(name: str, seed: int, parts: list[ChipCounts]) -> EnsembleResult:
    """The ensemble result of contiguous chip ranges that together cover chips ``0 .. n - 1``.

    One of the parts must carry the nominal count. Raises ``ValueError`` on gaps, overlaps or parts measured
    on different numbers of samples.
    """
    parts = sorted(parts, key=lambda part: part.first_chip)
    correct: list[int] = []
    for part in parts:
        if part.first_chip != len(correct):
            raise ValueError(f"chip ranges do not tile 0..n-1: a part starts at chip {part.first_chip}, "
                             f"expected {len(correct)}")
        if part.n_samples != parts[0].n_samples:
            raise ValueError(f"chip ranges were measured on {part.n_samples} and {parts[0].n_samples} samples")
        correct.extend(part.correct)
    nominal = next((part.nominal_correct for part in parts if part.nominal_correct is not None), None)
    if nominal is None:
        raise ValueError("no chip range carries the nominal count")
    n_samples = parts[0].n_samples
    return EnsembleResult(name, len(correct), seed, n_samples, nominal / n_samples,
                          tuple(float(v) / n_samples for v in correct))


def evaluate_ensemble(
    model: nn.Module,
    profile: DeviceProfile | MismatchModel | str | Path,
    dataset: Dataset,
    n_chips: int = 100,
    seed: int = 0,
    chunk_size: int = 32,
    batch_size: int = 32,
    progress: bool = True,
    *,
    vectorise: bool = True,
    dt: float | None = None,
    accelerator: str | torch.device | None = None,
) -> EnsembleResult:
    """Accuracy of ``model`` on ``n_chips`` chips of ``profile`` (a profile, its name or path, or a model).

    ``dataset`` yields ``(x (time, channels), label)``. ``dt`` (seconds) defaults to :func:`model_dt`; it is
    needed by profiles that convert time constants (bit-shift decays). The model is evaluated in eval mode and
    left in the mode it came in; it is never modified. To split the chips over processes or machines see
    :func:`count_correct` and :mod:`robust_snn.distributed.ensemble`. ``accelerator``: evaluate on a moved
    copy of the model (``None``: where the model is); the chips are fabricated on the CPU (the same chips on
    every accelerator) and moved there chunk by chunk.
    """
    _check_sizes(n_chips, chunk_size, batch_size)
    name, mismatch = _as_model(profile)
    counts = count_correct(model, mismatch, dataset, range(n_chips), seed, chunk_size, batch_size, progress,
                           vectorise=vectorise, dt=dt, nominal=True, accelerator=accelerator)
    return merge_counts(name, seed, [counts])


__all__ = ["ChipCounts", "EnsembleResult", "count_correct", "evaluate_ensemble", "merge_counts", "model_dt",
           "sample_chips"]
