"""``fit``: the training loop shared by every method.

Adam with a step learning-rate schedule (the paper's: full rate for the first 80% of epochs, then x0.1),
validation every epoch with the best-validation rule, a progress bar, and a checkpoint written atomically after
every epoch. Randomness (shuffling, the method's noise and attacks) comes from generators derived from
``(seed, epoch)`` (device-aware methods' chips from ``(seed, epoch, step)``, carried by each
:class:`~robust_snn.training.methods.Batch`); the method's state (``Method.init`` / ``Method.update``, e.g. a
warm-started attack) is threaded from batch to batch and saved in the checkpoint, so a run resumed from its
last checkpoint continues bit for bit as if never stopped.

The history has one row per epoch: ``epoch``, ``lr``, ``train_loss``, ``train_accuracy``, the epoch mean of each
metric the method reports as ``train_<metric>`` (e.g. ``train_ce``, ``train_kl``; sample-weighted like the
loss) and, with validation data, ``val_loss`` and ``val_accuracy``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn
from torch.utils.data import Dataset

from ..config import ConfigError, build_dataclass
from ..core.network import compile_for_training
from ..core.parameters import physical_parameters
from ..runtime.accelerator import module_device, place
from ..seeding import generator
from ..progress import format_epoch, print_line, progress_mode
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ..core.evaluation import evaluate, iterate_batches
from .methods import Batch, Method, MethodState


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says where and which checkpoint is the last good one."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. ``lr_decay_at`` is the fraction of epochs after which lr is multiplied by
    ``lr_decay_factor`` (paper: 0.8 and 0.1). ``grad_clip`` is a max global gradient norm, or none."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    lr_decay_at: float = 0.8
    lr_decay_factor: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"train.epochs must be >= 1, got {self.epochs!r}")
        if self.batch_size < 1:
            raise ConfigError(f"train.batch_size must be >= 1, got {self.batch_size!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"train.lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.lr_decay_at <= 1:
            raise ConfigError(f"train.lr_decay_at must be in [0, 1], got {self.lr_decay_at!r}")
        if not 0 < self.lr_decay_factor <= 1:
            raise ConfigError(f"train.lr_decay_factor must be in (0, 1], got {self.lr_decay_factor!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"train.weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"train.grad_clip must be > 0 or absent, got {self.grad_clip!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        return build_dataclass(cls, data, "train")

    def lr_at(self, epoch: int) -> float:
        """Learning rate of ``epoch`` (0-based)."""
        return self.lr * (self.lr_decay_factor if epoch >= round(self.lr_decay_at * self.epochs) else 1.0)


@dataclass
class FitResult:
    """History (one dict per epoch), the best epoch by validation accuracy, and the model (best weights)."""

    model: nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    best_val_accuracy: float | None


def derived_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """An independent generator per ``(seed, epoch, stream)`` (:mod:`robust_snn.seeding`): resuming at an epoch
    replays its draws."""
    return generator("train", int(seed), int(epoch), int(stream))


def _trainable(model: nn.Module) -> list[torch.nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters (check network.trainable)")
    return params


def _fingerprint(config: TrainConfig, method: Method, extra: Mapping[str, Any]) -> dict[str, Any]:
    train = dataclasses.asdict(config)
    train.pop("epochs")  # a resumed run may be extended
    # Through JSON, as stored in the checkpoint (tuples become lists), so that equal settings compare equal.
    return json.loads(json.dumps({"train": train, "method": method.describe(), **extra}))


def fit(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset | None,
    method: Method,
    config: TrainConfig = TrainConfig(),
    *,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    describe: Mapping[str, Any] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    stop_after: int | None = None,
    accelerator: str | torch.device | None = None,
    compile: bool = False,
) -> FitResult:
    """Train ``model`` in place with ``method``; return the history and the best-validation model.

    ``checkpoint``: file rewritten atomically after each epoch. With ``resume=True`` and an existing
    checkpoint, training continues from it (the configuration must match, except ``epochs``).
    ``describe``: extra JSON-able facts that must also match on resume (e.g. the data spec).
    ``stop_after``: stop after this many epochs of this call (used to simulate an interrupted run).
    ``accelerator``: move ``model`` there first (``"cpu"``, ``"cuda"``, ``"auto"``, a ``torch.device``; ``None``:
    train where it is); the batches follow the model's device, the random draws stay on CPU generators
    (:mod:`robust_snn.runtime.accelerator`), and the model is returned on that device.
    ``compile``: run every gradient pass (the loss and, for attack-based methods, each attack gradient) through
    ``torch.compile`` (:func:`~robust_snn.core.network.compile_for_training`, the LIF layers' scan as custom ops;
    validation stays eager), compiled in seconds per input shape. On the CPU, where the scan runs as C loops, a
    compiled step costs 0.93-1.03x an eager one (four runs of ``benchmarks/bench_core.py`` and
    ``bench_adversarial.py`` on the development CPU); on a GPU, compiling the Linear + LIF step took 0.6-0.65x
    eager's time (``benchmarks/bench_gpu.py``), so it is for long runs there. Each step's loss and gradients agree
    with eager training up to float rounding, but over a run the rounding flips spikes and the runs drift apart
    (``robust-snn train --data synth-kws --epochs 2 --threads 1``, same seed: validation accuracy 0.468
    compiled, 0.494 eager), so a compiled run is not the eager run's bit-for-bit twin; two compiled runs with
    the same seed are identical. The model is returned uncompiled.
    """
    model = place(model, accelerator, in_place=True)
    device = module_device(model)
    params = _trainable(model)
    optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    fingerprint = _fingerprint(config, method, dict(describe or {}))
    history: list[dict[str, float]] = []
    start_epoch, best_epoch, best_acc, best_state = 0, -1, None, None
    method_state = method.init(model)

    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint)
        if state.fingerprint != fingerprint:
            changed = sorted(k for k in set(state.fingerprint) | set(fingerprint)
                             if state.fingerprint.get(k) != fingerprint.get(k))
            raise ConfigError(f"cannot resume from {checkpoint}: its configuration differs in {', '.join(changed)}")
        model.load_state_dict(state.model_state)
        optimizer.load_state_dict(state.optimizer_state)
        history, start_epoch = state.history, state.epoch + 1
        best_epoch, best_acc, best_state = state.best_epoch, state.best_val_accuracy, state.best_state
        method_state.update({k: {n: t.to(device) for n, t in v.items()} for k, v in state.method_state.items()})

    uncompile = compile_for_training(model) if compile else None
    try:  # a run that stops with an error leaves the caller's model uncompiled too
        mode = progress_mode(progress)
        progress_bar = _progress_factory(mode == "bar")
        epochs_run = 0
        for epoch in range(start_epoch, config.epochs):
            if stop_after is not None and epochs_run >= stop_after:
                break
            row, method_state = _train_epoch(model, method, method_state, optimizer, params, train_data, config,
                                             epoch, progress_bar, checkpoint)
            if val_data is not None:
                val = evaluate(model, val_data, config.batch_size)
                row.update(val_loss=val.loss, val_accuracy=val.accuracy)
                if best_acc is None or val.accuracy > best_acc:
                    best_epoch, best_acc = epoch, val.accuracy
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history.append(row)
            if mode != "off":  # one line per epoch, in a log and on a terminal (where the epoch's bar has vanished)
                print_line(format_epoch(row, config.epochs))
            if on_epoch is not None:
                on_epoch(row)
            if checkpoint is not None:
                save_checkpoint(
                    checkpoint,
                    Checkpoint(epoch, history, fingerprint, model.state_dict(), optimizer.state_dict(),
                               best_epoch, best_acc, best_state, method_state),
                )
            epochs_run += 1
    finally:
        if uncompile is not None:
            uncompile()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history) - 1
    model.eval()
    return FitResult(model, history, best_epoch + 1 if best_epoch >= 0 else 0, best_acc)


def _train_epoch(model: nn.Module, method: Method, method_state: MethodState, optimizer: torch.optim.Optimizer,
                 params: list[torch.Tensor], train_data: Dataset, config: TrainConfig, epoch: int,
                 progress_bar: Callable[[Iterator, str], Any], checkpoint: str | Path | None,
                 ) -> tuple[dict[str, float], MethodState]:
    """One epoch of gradient steps: the epoch's history row (learning rate, training loss, accuracy and the
    method's metrics, averaged over samples) and the method's state for the next epoch. Raises
    :class:`TrainingDiverged` naming the last good checkpoint when the loss stops being finite."""
    for group in optimizer.param_groups:
        group["lr"] = config.lr_at(epoch)
    shuffle_gen = derived_generator(config.seed, epoch, 0)
    method_gen = derived_generator(config.seed, epoch, 1)
    model.train()
    total_loss = total_correct = total_seen = 0.0
    metric_sums: dict[str, float] = {}
    batches = iterate_batches(train_data, config.batch_size, shuffle_gen, device=module_device(model))
    bar = progress_bar(batches, f"epoch {epoch + 1}/{config.epochs}")
    for step, (x, y) in enumerate(bar):
        batch = Batch(x, y, method_gen, config.seed, epoch, step)
        result, method_state = method.update(model, physical_parameters(model), batch, method_state)
        if not torch.isfinite(result.loss):
            last = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint was kept"
            raise TrainingDiverged(
                f"loss became {float(result.loss.detach())} at epoch {epoch + 1}, batch {step + 1}; {last}. "
                "Lower the learning rate or check the input data for NaN/inf."
            )
        optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        n = len(y)
        total_loss += float(result.loss.detach()) * n
        total_correct += float((result.logits.detach().argmax(1) == y).sum())
        total_seen += n
        for key, value in result.metrics.items():
            metric_sums[key] = metric_sums.get(key, 0.0) + float(value) * n
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{total_loss / total_seen:.3f}", acc=f"{total_correct / total_seen:.3f}",
                            **{k: f"{v / total_seen:.3f}" for k, v in metric_sums.items()})
    row = {"epoch": epoch + 1, "lr": config.lr_at(epoch), "train_loss": total_loss / max(total_seen, 1),
           "train_accuracy": total_correct / max(total_seen, 1),
           **{f"train_{k}": v / max(total_seen, 1) for k, v in metric_sums.items()}}
    return row, method_state


def _progress_factory(enabled: bool) -> Callable[[Iterator, str], Any]:
    if not enabled:
        return lambda it, desc: it
    from tqdm.auto import tqdm

    return lambda it, desc: tqdm(it, desc=desc, leave=False, dynamic_ncols=True)
