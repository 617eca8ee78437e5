"""Chip ensembles: one entry point (:func:`run_ensemble`) with an in-process and a Ray backend.

:func:`run_ensemble` takes the ensemble's settings as one object (:class:`EnsembleSettings`: chips, seed,
chunking, backend, accelerator) and runs the ensemble in this process (``local``:
:func:`robust_snn.devices.evaluate_ensemble`, nothing packed) or split into chip ranges, one task per range,
merged into the single-process result (``ray``, or ``local`` with ``chips_per_task``:
:func:`distributed_ensemble`).

Chip ``k`` is fabricated from ``(seed, k)`` and its read noise drawn from ``(seed, k, batch index)``
(:func:`robust_snn.devices.count_correct`), so a range of chips evaluated in any process gives the same
correct-answer counts as the same chips of a whole run; counts are integers, so merging them is exact and the
per-chip accuracies -- and every statistic of the score card built on them -- are identical to
:func:`robust_snn.devices.evaluate_ensemble` with the same seed and batch size.

What one task costs: unpacking the job (model bytes, profile TOML, data spec; the data set is loaded once per
worker process and cached), programming the device (deterministic stages), then, for each chunk of
``chunk_size`` chips, one pass over the data set. Ranges are whole multiples of ``chunk_size``, so each task
runs exactly the chunks the single-process run runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import ConfigError
from ..devices import (
    ChipCounts, DeviceProfile, EnsembleResult, MismatchModel, count_correct, evaluate_ensemble, merge_counts,
)
from .backend import check_backend, run_tasks
from .payload import DataRef, ProfileText, pack_model, pack_profile, unpack_data, unpack_model, unpack_profile


@dataclass(frozen=True)
class EnsembleJob:
    """Everything the tasks of one ensemble share; shipped once (see :mod:`.payload`)."""

    model: bytes | nn.Module
    profile: ProfileText | DeviceProfile | MismatchModel
    data: DataRef | Dataset
    seed: int
    chunk_size: int
    batch_size: int
    vectorise: bool = True
    dt: float | None = None
    accelerator: str | None = None  # resolved by each worker on its own node (robust_snn.runtime.accelerator)


def evaluate_chip_task(chips: tuple[int, int, bool], job: EnsembleJob) -> ChipCounts:
    """The task: correct counts of chips ``[start, stop)``; the range with ``nominal`` also counts the model's."""
    start, stop, nominal = chips
    return count_correct(unpack_model(job.model), unpack_profile(job.profile), unpack_data(job.data),
                         range(start, stop), job.seed, job.chunk_size, job.batch_size, vectorise=job.vectorise,
                         dt=job.dt, nominal=nominal, accelerator=job.accelerator)


def chip_ranges(n_chips: int, chunk_size: int, chips_per_task: int | None = None) -> list[tuple[int, int, bool]]:
    """``[(start, stop, nominal)]`` tiling chips ``0 .. n_chips - 1``; the first range also measures nominal.

    ``chips_per_task`` (default: one chunk) is rounded up to a whole number of chunks.
    """
    if n_chips < 1 or chunk_size < 1:
        raise ConfigError(f"n_chips and chunk_size must be >= 1, got {n_chips!r}, {chunk_size!r}")
    if chips_per_task is not None and chips_per_task < 1:
        raise ConfigError(f"chips_per_task must be >= 1, got {chips_per_task!r}")
    per_task = chunk_size * -(-(chips_per_task or chunk_size) // chunk_size)
    return [(s, min(s + per_task, n_chips), s == 0) for s in range(0, n_chips, per_task)]


def _profile_name(profile: DeviceProfile | MismatchModel) -> str:
    return profile.name if isinstance(profile, DeviceProfile) else (profile.name or "custom")


def distributed_ensemble(
    model: nn.Module,
    profile: DeviceProfile | MismatchModel | str | Path,
    data: Dataset | DataRef,
    n_chips: int = 100,
    seed: int = 0,
    chunk_size: int = 32,
    batch_size: int = 32,
    progress: bool = False,
    *,
    backend: str = "local",
    address: str | None = None,
    chips_per_task: int | None = None,
    max_retries: int = 3,
    vectorise: bool = True,
    dt: float | None = None,
    on_result: Callable[[int, ChipCounts], None] | None = None,
    accelerator: str | None = None,
) -> EnsembleResult:
    """:func:`robust_snn.devices.evaluate_ensemble`, with chip ranges run as tasks on ``backend``.

    ``data`` is a :class:`DataRef` (each worker loads it; nothing but the spec is shipped) or a data set
    (shipped once). Same arguments, same :class:`EnsembleResult`, whatever the backend and ``chips_per_task``.
    ``on_result(index, counts)`` sees each range as it finishes (progress, checkpoints). ``accelerator`` is
    resolved by each task where it runs (``None``: the CPU); the chips are the same wherever they run.
    """
    packed_profile = pack_profile(profile)
    name = _profile_name(unpack_profile(packed_profile))
    job = EnsembleJob(pack_model(model), packed_profile, data, seed, chunk_size, batch_size, vectorise, dt,
                      accelerator)
    ranges = chip_ranges(n_chips, chunk_size, chips_per_task)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
    parts = run_tasks(evaluate_chip_task, ranges, backend=backend, address=address, max_retries=max_retries,
                      on_result=on_result, desc="chip ranges" if progress else None, shared=job)
    return merge_counts(name, seed, parts)


@dataclass(frozen=True)
class EnsembleSettings:
    """How to run a chip ensemble: what it measures (``n_chips`` chips from ``seed``) and how to compute it.

    ``chunk_size`` chips are evaluated together on batches of ``batch_size`` samples (results do not depend on
    them, except through read noise drawn per batch index); ``backend`` ``local`` runs in this process,
    ``ray`` as Ray tasks (``address``: an existing cluster; ``chips_per_task`` chips per task, default one
    chunk); ``accelerator``: where the tensors live (``None``: where the model is; Ray workers resolve a name
    on their own node). The defaults are the score card's.
    """

    n_chips: int = 100
    seed: int = 0
    chunk_size: int = 16
    batch_size: int = 256
    progress: bool = False
    backend: str = "local"
    address: str | None = None
    chips_per_task: int | None = None
    accelerator: str | torch.device | None = None
    vectorise: bool = True

    def __post_init__(self) -> None:
        for name in ("n_chips", "chunk_size", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value!r}")
        if self.chips_per_task is not None and self.chips_per_task < 1:
            raise ConfigError(f"chips_per_task must be >= 1, got {self.chips_per_task!r}")
        check_backend(self.backend, self.address)

    @property
    def in_process(self) -> bool:
        """Whether the chips run here, unsplit (no tasks, nothing packed)."""
        return self.backend == "local" and self.address is None and self.chips_per_task is None


def run_ensemble(model: nn.Module, profile: DeviceProfile | MismatchModel | str | Path, data: Dataset,
                 settings: EnsembleSettings = EnsembleSettings(), *, source: tuple[str, str] | None = None,
                 on_result: Callable[[int, ChipCounts], None] | None = None) -> EnsembleResult:
    """The per-chip accuracies of ``model`` on ``settings.n_chips`` chips of ``profile``: the one entry point.

    The same :class:`EnsembleResult` on every backend. ``source`` (``(data spec, split)``) says where
    ``data`` came from, so that tasks load it themselves instead of receiving its tensors; ``on_result`` sees
    each chip range as it finishes (tasks only).
    """
    if settings.in_process:
        return evaluate_ensemble(model, profile, data, n_chips=settings.n_chips, seed=settings.seed,
                                 chunk_size=settings.chunk_size, batch_size=settings.batch_size,
                                 progress=settings.progress, vectorise=settings.vectorise,
                                 accelerator=settings.accelerator)
    shipped = DataRef(*source) if source is not None else data
    accelerator = settings.accelerator
    return distributed_ensemble(model, profile, shipped, n_chips=settings.n_chips, seed=settings.seed,
                                chunk_size=settings.chunk_size, batch_size=settings.batch_size,
                                progress=settings.progress, backend=settings.backend, address=settings.address,
                                chips_per_task=settings.chips_per_task, vectorise=settings.vectorise,
                                on_result=on_result,
                                accelerator=None if isinstance(accelerator, torch.device) else accelerator)


__all__ = ["EnsembleJob", "EnsembleSettings", "chip_ranges", "distributed_ensemble", "evaluate_chip_task",
           "run_ensemble"]
