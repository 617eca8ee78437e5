"""One trial of ``robust-snn tune``: train a network at one point of the space, score it, report.

A trial is a pure function of ``(point, settings)``: its model, score card and metrics depend on nothing else
(not on which worker runs it, nor when), so Ray may run trials in any order, on any node, and a resumed search
gives the same table. Each trial keeps its files in ``OUT/trials/trial_NNN/`` (its training checkpoint, the
model, the validation score card), so a trial interrupted mid-training resumes from its last epoch.

The score is the validation split's score card (the test split is kept for the final, held-out card of the
best model). The objective (:func:`objective`) puts every trial graded ``ready`` above every other one,
ranks ready trials by nominal accuracy and the others by the pessimistic end of their yield interval, and
gives 0 to a trial whose nominal accuracy the card does not find clearly above chance (a relative spec would
otherwise reward a network that is equally useless on every chip).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .space import Point


# What a trial reports besides its point (:meth:`Point.to_dict`), in table order.
RESULT_KEYS = ("nominal_accuracy", "mean_accuracy", "p5_accuracy", "spec", "yield", "yield_low", "yield_high",
               "worst_case_accuracy", "grade", "above_chance", "objective", "train_seconds", "model")


@dataclass(frozen=True)
class TrialSettings:
    """What every trial shares: data, chip, spec and budget. Paths are absolute (trials may run elsewhere)."""

    data: str
    device: str
    method: str
    out: str
    spec: float | None = None
    spec_relative: float = 0.95
    target_yield: float = 0.95
    chips: int = 100
    lr: float = 2e-3
    batch_size: int = 64
    train_samples: int | None = None
    seed: int = 0
    recurrent: bool = True
    threads: int = 1

    def trial_dir(self, trial: int) -> Path:
        return Path(self.out) / "trials" / f"trial_{trial:03d}"


def objective(card: Mapping[str, Any]) -> float:
    """The number Ray Tune maximises: ``1 + nominal`` for a ``ready`` trial, else the yield interval's low end
    (in [0, 1]); 0 for a trial that is not clearly above chance (the card's ``above_chance``)."""
    if not card["above_chance"]:
        return 0.0
    if card["grade"] == "ready":
        return 1.0 + float(card["nominal_accuracy"])
    return float(card["yield_ci95"][0])


def method_params(settings: TrialSettings, point: Point) -> dict[str, Any]:
    """The method's hyperparameters at ``point``, trained for the chip line when the method supports it."""
    from ..training.methods import METHODS

    params = dict(point.params)
    fields = {f.name for f in dataclasses.fields(METHODS[settings.method].Config)}
    if "device" in fields:
        params["device"] = settings.device
    return params


def run_trial(point: Point, settings: TrialSettings) -> dict[str, Any]:
    """Train, save and score one point; returns the trial's row (metrics and settings)."""
    from ..core.network import SNNClassifier
    from ..data import load_dataset
    from ..data.splits import strided_subset
    from ..devices import load_profile
    from ..io.atomic import write_json_atomic
    from ..io.model_file import save_model
    from ..readiness.scorecard import AttackSettings, EnsembleSettings, Scored, SpecRule, score_card
    from ..training import TrainConfig, default_network, fit, make_method

    from ..runtime import set_threads

    set_threads(settings.threads)
    folder = settings.trial_dir(point.trial)
    folder.mkdir(parents=True, exist_ok=True)
    train = strided_subset(load_dataset(settings.data, "train"), settings.train_samples)
    val = load_dataset(settings.data, "val")
    classes = list(val.classes)
    # The CLI's default network with the point's width (checked against the chip, never resized).
    network = default_network(val, seed=settings.seed, device=settings.device,
                              network={"hidden": [point.hidden], "recurrent": settings.recurrent})
    model = SNNClassifier(network)
    method = make_method(settings.method, method_params(settings, point))
    train_config = TrainConfig(epochs=point.epochs, lr=settings.lr, batch_size=settings.batch_size,
                               seed=settings.seed)
    start = time.perf_counter()
    fit(model, train, val, method, train_config, checkpoint=folder / "model.ckpt", resume=True, progress=False,
        describe={"data": settings.data, "network": network.to_dict(), "tune_trial": point.to_dict()})
    train_seconds = time.perf_counter() - start
    frontend = getattr(val, "frontend", None)
    save_model(folder / "model.rsnn", model, method=method.describe(), data=settings.data,
               training=dataclasses.asdict(train_config), classes=classes,
               front_end=frontend.to_dict() if frontend is not None else None)
    (folder / "model.ckpt").unlink(missing_ok=True)
    scored = score_card(Scored(model, val, f"trial_{point.trial:03d}"), load_profile(settings.device),
                        EnsembleSettings(n_chips=settings.chips, seed=settings.seed),
                        SpecRule(settings.spec, settings.spec_relative, settings.target_yield),
                        AttackSettings(repeats=1)).with_extra(data=settings.data, split="val")
    card = scored.to_dict()  # the row below is JSON: read it from the card's JSON keys
    write_json_atomic(folder / "card.json", card)
    return {
        **point.to_dict(),
        "nominal_accuracy": card["nominal_accuracy"],
        "mean_accuracy": card["mean_accuracy"],
        "p5_accuracy": card["p5_accuracy"],
        "spec": card["spec"],
        "yield": card["yield"],
        "yield_low": card["yield_ci95"][0],
        "yield_high": card["yield_ci95"][1],
        "worst_case_accuracy": card["worst_case_accuracy"],
        "grade": card["grade"],
        "above_chance": card["above_chance"],
        "objective": objective(card),
        "train_seconds": round(train_seconds, 2),
        "model": str(folder / "model.rsnn"),
    }


def ray_trial(config: dict[str, Any], settings: TrialSettings) -> None:
    """The Ray Tune function trainable: one point, one report."""
    from ray import tune

    tune.report(run_trial(Point.from_dict(config["point"]), settings))


__all__ = ["RESULT_KEYS", "TrialSettings", "objective", "ray_trial", "run_trial"]
