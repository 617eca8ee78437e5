"""One unit of the robustness benchmark: train one ``(method, seed)`` and score it on every test of the protocol.

A unit is independent of every other (its own data, its own seeded initialisation, training draws and chip
draws), so the benchmark maps :func:`run_unit` over units with ``robust_snn.distributed.run_tasks`` on this
machine or a Ray cluster and gets the same numbers either way. :class:`UnitSpec` is plain data (picklable, JSON
through :meth:`UnitSpec.identity`); the identity is what a resumed run compares, so results computed with other
settings are never mixed in.

Resumability inside a unit: training writes ``WORKDIR/checkpoints/METHOD-seedS.ckpt`` atomically after each
epoch (``fit(..., checkpoint=..., resume=True)``), so a killed unit restarts from its last epoch, bit for bit;
a unit killed during evaluation restarts from the final checkpoint (no training) and re-evaluates. Finished
results are written by the caller (the driver), see ``benchmarks/robustness.py``.

The tests of the protocol (``shared/reference/paper.md``), all on the test split:

- **random mismatch**: ``theta (1 + zeta N(0, 1))`` on every weight and bias, ``draws`` seeded chips per zeta
  (``evaluate_ensemble``, vectorised over chips), mean / std / min / 5th percentile. Zeta 0 is the nominal
  accuracy (every draw is the nominal network);
- **targeted attack**: the cross-entropy parameter attack (PGA in the relative box) at each eps, the minimum over
  ``attack_repeats`` random starts, next to random corners of the same box;
- **flatness** (Table S1): mean ``|dL/d alpha|`` along relative directions ``v ~ N(0, (0.2 |theta|)^2)``;
- **device profiles**: per-chip ensembles of each profile (these also vary time constants and thresholds,
  quantise, drift ...), mean / std / 5th percentile / min.

Chips and attack starts are seeded with the training seed, so every method of one seed meets the same random
numbers (a paired comparison).
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from robust_snn import NetworkConfig, SNNClassifier, TrainConfig, fit, load_dataset, make_method, save_model
from robust_snn.attack import AttackConfig, evaluate_attack
from robust_snn.data.datasets import FeatureDataset
from robust_snn.devices import MismatchModel, RelativeGaussian, Variation, evaluate_ensemble
from robust_snn.readiness.landscape import landscape_1d
from robust_snn.training import evaluate

MISMATCH_FAMILIES = ("weights", "biases")


@dataclass(frozen=True)
class UnitSpec:
    """Everything one unit needs. ``network`` and ``train`` are keyword arguments of ``NetworkConfig`` and
    ``TrainConfig`` without the fields the unit fills in (``n_in``, ``n_classes``, ``dt`` from the data; ``seed``).
    ``subset`` caps the size of each split (``{"train": 256, ...}``; absent: the whole split).
    ``workdir`` (checkpoints, model files) and ``threads`` do not change the results and are not part of the
    identity. ``compile`` (train through ``torch.compile``) changes them by rounding and ``hyperparameters`` (the
    method's fields other than their defaults, ``--hyper``) changes the method, so both are part of the identity
    when set (and absent when not, so units run before the options existed keep their identity)."""

    method: str
    seed: int
    data: str
    network: dict[str, Any]
    train: dict[str, Any]
    zetas: tuple[float, ...]
    draws: int
    attack_eps: tuple[float, ...]
    attack_repeats: int
    attack_steps: int
    landscape_directions: int
    landscape_alphas: tuple[float, ...]
    profiles: tuple[str, ...]
    chips: int
    subset: dict[str, int] = field(default_factory=dict)
    eval_batch: int = 256
    chunk_size: int = 32
    workdir: str = "."
    threads: int = 1
    compile: bool = False
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.method}-seed{self.seed}"

    def identity(self) -> dict[str, Any]:
        """The settings that determine the results, as JSON would store them (tuples as lists)."""
        data = dataclasses.asdict(self)
        for key in ("workdir", "threads"):
            data.pop(key)
        for key in ("compile", "hyperparameters"):  # absent when unset, as in units run before they existed
            if not data[key]:
                data.pop(key)
        return _jsonable(data)

    def checkpoint_path(self) -> Path:
        return Path(self.workdir) / "checkpoints" / f"{self.name}.ckpt"

    def model_path(self) -> Path:
        return Path(self.workdir) / "models" / f"{self.name}.rsnn"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


@functools.lru_cache(maxsize=8)
def _split(spec: str, split: str, limit: int | None) -> Dataset:
    """A split, loaded once per process (a worker running several units reads the corpus once), optionally cut
    to ``limit`` items spread evenly over the split (the corpus is ordered by class, so a prefix would not do)."""
    data = load_dataset(spec, split)
    if limit is None or limit >= len(data):
        return data
    step = max(1, len(data) // limit)
    index = list(range(0, len(data), step))[:limit]
    if isinstance(data, FeatureDataset):  # sliced as tensors: batches stay one indexing op, not item by item
        x, y = data.tensors
        return FeatureDataset(x[index], y[index], classes=data.classes, frontend=data.frontend, dt=data.dt,
                              spec=data.spec)
    subset = Subset(data, index)
    for attribute in ("classes", "dt", "frontend"):
        setattr(subset, attribute, getattr(data, attribute, None))
    return subset


def splits(spec: UnitSpec) -> tuple[Dataset, Dataset, Dataset]:
    train, val, test = (_split(spec.data, s, spec.subset.get(s)) for s in ("train", "val", "test"))
    return train, val, test


def build_model(spec: UnitSpec, train: Dataset) -> SNNClassifier:
    """The unit's network: the preset's architecture with the data's input width, classes and time step."""
    classes, dt = getattr(train, "classes"), float(getattr(train, "dt"))
    fill = {"n_in": int(train[0][0].shape[-1]), "n_classes": len(classes), "dt": dt,
            "hidden": tuple(spec.network["hidden"]), "seed": spec.seed}
    config = NetworkConfig(**{**spec.network, **fill})
    return SNNClassifier(config)


def train_unit(spec: UnitSpec, train: Dataset, val: Dataset) -> tuple[SNNClassifier, dict[str, Any], dict[str, Any]]:
    """Train (or resume) with the best-validation rule; returns the best model, the facts and the timing."""
    model = build_model(spec, train)
    method = make_method(spec.method, spec.hyperparameters)
    checkpoint = spec.checkpoint_path()
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    epochs_run: list[dict[str, float]] = []
    start = time.perf_counter()
    result = fit(model, train, val, method, TrainConfig(**{**spec.train, "seed": spec.seed}), checkpoint=checkpoint,
                 resume=True, progress=False, on_epoch=epochs_run.append, compile=spec.compile,
                 describe={"data": spec.data, "benchmark": "robustness", "network": _jsonable(spec.network),
                           "subset": _jsonable(spec.subset)})
    seconds = time.perf_counter() - start
    spec.model_path().parent.mkdir(parents=True, exist_ok=True)
    save_model(spec.model_path(), model, method=method.describe(), data=spec.data,
               classes=list(train.classes))  # type: ignore[attr-defined]
    facts = {"method": _jsonable(method.describe()), "network": model.config.to_dict(),
             "best_epoch": result.best_epoch, "best_val_accuracy": result.best_val_accuracy,
             "history": result.history}
    timing = {"train_seconds": seconds, "epochs_run": len(epochs_run),
              "resumed_from_epoch": len(result.history) - len(epochs_run),
              "seconds_per_epoch": seconds / len(epochs_run) if epochs_run else None}
    return model, facts, timing


def relative_gaussian(zeta: float) -> MismatchModel:
    """The paper's test-time mismatch ``theta (1 + zeta N(0, 1))``, per element, on weights and biases only."""
    spread = {family: Variation(synapse=zeta) for family in MISMATCH_FAMILIES}
    return MismatchModel([RelativeGaussian(spread=spread)], name=f"relative-gaussian-{zeta:g}")


def _chip_summary(per_chip: list[float]) -> dict[str, Any]:
    ordered = torch.tensor(per_chip, dtype=torch.float64)
    return {"mean": statistics.fmean(per_chip), "std": statistics.stdev(per_chip) if len(per_chip) > 1 else 0.0,
            "min": min(per_chip), "p5": float(torch.quantile(ordered, 0.05)), "n_chips": len(per_chip),
            "per_chip": per_chip}


def evaluate_unit(spec: UnitSpec, model: SNNClassifier, test: Dataset) -> tuple[dict[str, Any], dict[str, float]]:
    """Every test of the protocol on ``test`` (see module docstring); returns the results and seconds per test."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    nominal = evaluate(model, test, spec.eval_batch)
    mismatch = []
    for zeta in spec.zetas:
        if zeta == 0:
            summary = _chip_summary([nominal.accuracy])
        else:
            result = evaluate_ensemble(model, relative_gaussian(zeta), test, n_chips=spec.draws, seed=spec.seed,
                                       chunk_size=spec.chunk_size, batch_size=spec.eval_batch, progress=False)
            summary = _chip_summary(list(result.per_chip_accuracy))
        mismatch.append({"zeta": zeta, **summary})
    seconds["mismatch"], clock = time.perf_counter() - clock, time.perf_counter()
    attack = []
    for eps in spec.attack_eps:
        config = AttackConfig(eps=eps, steps=spec.attack_steps, divergence="ce", families=MISMATCH_FAMILIES)
        result = evaluate_attack(model, test, config, repeats=spec.attack_repeats, seed=spec.seed,
                                 batch_size=spec.eval_batch)
        attack.append({key: result[key] for key in ("eps", "steps", "repeats", "attacked_accuracy",
                                                    "attacked_accuracy_per_repeat", "random_accuracy")})
    seconds["attack"], clock = time.perf_counter() - clock, time.perf_counter()
    land = landscape_1d(model, test, alphas=list(spec.landscape_alphas), directions=spec.landscape_directions,
                        scale=0.2, families=MISMATCH_FAMILIES, seed=spec.seed, batch_size=spec.eval_batch)
    seconds["landscape"], clock = time.perf_counter() - clock, time.perf_counter()
    devices = {}
    for profile in spec.profiles:
        result = evaluate_ensemble(model, profile, test, n_chips=spec.chips, seed=spec.seed,
                                   chunk_size=spec.chunk_size, batch_size=spec.eval_batch, progress=False)
        devices[profile] = {"nominal_accuracy": result.nominal_accuracy,
                            **_chip_summary(list(result.per_chip_accuracy))}
    seconds["devices"] = time.perf_counter() - clock
    results = {"n_test": nominal.n, "nominal_accuracy": nominal.accuracy, "nominal_loss": nominal.loss,
               "mismatch": mismatch, "attack": attack,
               "landscape": {"mean_slope": land.mean_slope, "alphas": land.alphas, "losses": land.losses},
               "devices": devices}
    return results, seconds


def run_unit(spec: UnitSpec) -> dict[str, Any]:
    """Train and evaluate one unit; the result is JSON-able. Timing lives under ``"timing"`` only, so two runs
    of the same unit give the same result apart from that key."""
    torch.set_num_threads(spec.threads)
    train, val, test = splits(spec)
    model, facts, timing = train_unit(spec, train, val)
    results, eval_seconds = evaluate_unit(spec, model, test)
    return {"unit": spec.identity(), "name": spec.name, "train": facts, "eval": results,
            "timing": {**timing, "eval_seconds": eval_seconds}}


__all__ = ["UnitSpec", "build_model", "evaluate_unit", "relative_gaussian", "run_unit", "splits", "train_unit"]
