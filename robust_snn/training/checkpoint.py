"""Training checkpoints: model, optimiser state, best-so-far weights and history in one safetensors file.

Written atomically after every epoch (a kill leaves the previous checkpoint intact), loaded without pickle.
Optimiser state tensors go into the tensor table (``optim.<param index>.<key>``); hyperparameters (lr, betas,
...) into the JSON metadata. The training method's state (e.g. a warm-started attack's coefficients) goes into
the tensor table as ``method.<part>.<key>``; a checkpoint written before methods had state has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..io.tensors import FileFormatError, load_tensors, save_tensors

CHECKPOINT_FORMAT = "robust-snn-checkpoint"


@dataclass
class Checkpoint:
    epoch: int  # last completed epoch, 0-based
    history: list[dict[str, float]]
    fingerprint: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    best_epoch: int
    best_val_accuracy: float | None
    best_state: dict[str, torch.Tensor] | None
    method_state: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


def save_checkpoint(path: str | Path, ckpt: Checkpoint) -> None:
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in ckpt.model_state.items()}
    if ckpt.best_state is not None:
        tensors.update({f"best.{k}": v for k, v in ckpt.best_state.items()})
    for part, values in ckpt.method_state.items():
        if "." in part:
            raise ValueError(f"a method state part may not contain '.', got {part!r}")
        tensors.update({f"method.{part}.{k}": v for k, v in values.items()})
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in ckpt.optimizer_state["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
              for g in ckpt.optimizer_state["param_groups"]]
    meta = {
        "format": CHECKPOINT_FORMAT,
        "epoch": ckpt.epoch,
        "history": ckpt.history,
        "fingerprint": ckpt.fingerprint,
        "param_groups": groups,
        "optim_scalars": scalars,
        "best_epoch": ckpt.best_epoch,
        "best_val_accuracy": ckpt.best_val_accuracy,
    }
    save_tensors(path, tensors, meta)


def load_checkpoint(path: str | Path) -> Checkpoint:
    tensors, meta = load_tensors(path, CHECKPOINT_FORMAT)
    try:
        model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} or None
        method_state: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("method."):
                _, part, name = key.split(".", 2)
                method_state.setdefault(part, {})[name] = value
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = value
        for idx, extra in meta["optim_scalars"].items():
            state.setdefault(int(idx), {}).update(extra)
        groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
        return Checkpoint(
            int(meta["epoch"]), list(meta["history"]), dict(meta["fingerprint"]), model_state,
            {"state": state, "param_groups": groups}, int(meta["best_epoch"]), meta["best_val_accuracy"], best,
            method_state,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise FileFormatError(f"{path} is a corrupt checkpoint: {exc!r}") from None
