"""``tune_model``: search a method's hyperparameters for a network that meets the spec on a chip line.

Ray Tune runs the trials (:func:`robust_snn.tuning.trial.run_trial`), one CPU each, in this machine's Ray
instance or on a cluster (``address``) with the same call. The points are sampled up front with a seeded
generator (:func:`robust_snn.tuning.space.sample_points`) and handed to Ray Tune as a grid of fixed points, so
the plan is reproducible and visible (``plan.json``), and Ray Tune does what it is good at: scheduling,
retrying a trial whose worker died, a time budget, and resuming an interrupted experiment
(``Tuner.restore``; trials already finished are not run again, an unfinished one resumes from its own
training checkpoint).

Outputs in ``out``: ``plan.json``, ``trials.json`` and ``trials.md`` (one row per trial), ``pareto.png``
(yield against nominal accuracy, cost as colour, the Pareto front marked), ``best.rsnn`` (the best trial's
model), ``best_card.json`` (its validation card) and ``best_test_card.json`` (the same model scored once on
the held-out test split: the number to quote), and ``ray/`` (Ray Tune's experiment state, for ``--resume``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import ConfigError
from .space import TUNABLE_METHODS, Point, sample_points, widths_that_fit
from .trial import RESULT_KEYS, TrialSettings, ray_trial

INSTALL_HINT = 'pip install "robust-snn[tune]"'
EXPERIMENT = "tune"


@dataclass(frozen=True)
class TuneResult:
    """Every trial's row (in trial order), the best one, its card on the test split, and where the outputs are."""

    rows: list[dict[str, Any]]
    best: dict[str, Any]
    test_card: Any  # robust_snn.readiness.card.ScoreCard (imported late: readiness is heavy)
    files: dict[str, str]


def _require_tune() -> Any:
    # Ray Tune's own console output (a settings box, TensorBoard hints, INFO lines) would bury our one line
    # per trial; the legacy reporter at verbosity 0 prints nothing.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    try:
        from ray import tune
    except ImportError:
        raise ConfigError(f"tune needs Ray Tune, which is not installed; install it with: {INSTALL_HINT}") from None
    return tune


def _plan(settings: TrialSettings, trials: int, max_epochs: int, hidden: list[int] | None) -> list[Point]:
    from ..data import load_dataset
    from ..devices import load_profile

    profile = load_profile(settings.device)
    val = load_dataset(settings.data, "val")
    n_in = int(val[0][0].shape[-1])
    n_classes = len(val.classes)
    widths = hidden or widths_that_fit(n_in, n_classes, profile.limits, settings.recurrent)
    return sample_points(settings.method, trials, widths, max_epochs, settings.seed)


def _progress_callback(points: list[Point], echo: Callable[[str], None]) -> Any:
    from ray.tune import Callback

    names = [k for k in points[0].to_dict() if k != "trial"]
    total = len(points)

    class TrialLines(Callback):
        """One line per finished trial, so a long search is never silent."""

        done = 0

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            self.done += 1
            params = ", ".join(f"{k}={result[k]}" for k in names if k in result)
            echo(f"[tune] trial {result['trial'] + 1}/{total} ({params}): nominal {result['nominal_accuracy']:.3f}, "
                 f"yield {result['yield']:.2f} [{result['yield_low']:.2f}, {result['yield_high']:.2f}], "
                 f"{result['grade']}, {result['train_seconds']:.0f} s")

    return TrialLines()


def tune_model(
    data: str,
    device: str,
    out: str | Path,
    *,
    method: str = "adversarial",
    spec: float | None = None,
    spec_relative: float = 0.95,
    target_yield: float = 0.95,
    trials: int = 8,
    max_epochs: int = 10,
    chips: int = 100,
    hidden: list[int] | None = None,
    train_samples: int | None = None,
    time_budget_s: float | None = None,
    seed: int = 0,
    resume: bool = False,
    address: str | None = None,
    progress: bool = True,
    threads: int = 1,
) -> TuneResult:
    """Search ``method`` on ``data`` for chip line ``device``; write the outputs into ``out``.

    Each trial takes ``threads`` CPUs from Ray and computes with as many torch threads (one by default: many
    small trials side by side use the cores better than one trial's tiny parallel regions, see
    :mod:`robust_snn.runtime.threads`)."""
    if method not in TUNABLE_METHODS:
        raise ConfigError(f"tune searches the methods {', '.join(TUNABLE_METHODS)}; got {method!r}")
    from ..readiness.card import SpecRule

    SpecRule(spec, spec_relative, target_yield)  # checked before any work
    if chips < 1:
        raise ConfigError(f"chips must be >= 1, got {chips!r}")
    tune = _require_tune()
    out = Path(out).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    settings = TrialSettings(data=data, device=device, method=method, out=str(out), spec=spec,
                             spec_relative=spec_relative, target_yield=target_yield, chips=chips,
                             train_samples=train_samples, seed=seed, threads=threads)
    points = _plan(settings, trials, max_epochs, hidden)
    from ..io.atomic import write_json_atomic

    plan = {"settings": dataclasses.asdict(settings), "points": [p.to_dict() for p in points]}
    plan_file = out / "plan.json"
    if resume and plan_file.exists() and json.loads(plan_file.read_text()) != plan:
        raise ConfigError(f"cannot resume in {out}: its plan.json was made with other settings")

    storage = out / "ray"
    experiment = storage / EXPERIMENT
    if experiment.exists() and not resume:
        raise ConfigError(f"{out} already holds a search; add --resume to continue it or choose another --out")
    write_json_atomic(plan_file, plan)

    echo = (lambda line: print(line, flush=True)) if progress else (lambda line: None)
    from ..distributed.backend import connect

    connect(address)  # the same Ray connection as every other Ray use (one per process, errors named)
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    trainable = tune.with_resources(tune.with_parameters(ray_trial, settings=settings), {"cpu": threads})
    callbacks = [_progress_callback(points, echo)]
    if resume and tune.Tuner.can_restore(str(experiment)):
        echo(f"[tune] resuming {experiment}")
        tuner = tune.Tuner.restore(str(experiment), trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={"point": tune.grid_search([p.to_dict() for p in points])},
            tune_config=tune.TuneConfig(metric="objective", mode="max", time_budget_s=time_budget_s),
            run_config=tune.RunConfig(name=EXPERIMENT, storage_path=str(storage), verbose=0, callbacks=callbacks,
                                      failure_config=tune.FailureConfig(max_failures=2)),
        )
    echo(f"[tune] {len(points)} trials of {method} for {device} on {data} ({threads} CPU each)")
    grid = tuner.fit()
    rows = sorted((dict(r.metrics) for r in grid if r.metrics and "objective" in r.metrics),
                  key=lambda row: row["trial"])
    errors = [str(r.error) for r in grid if r.error is not None]
    if not rows:
        raise ConfigError("no trial finished" + (f": {errors[0].splitlines()[-1]}" if errors else ""))
    keep = [*points[0].to_dict(), *RESULT_KEYS]  # drop what Ray Tune adds to every result
    rows = [{k: row[k] for k in keep if k in row} for row in rows]
    return _finish(rows, settings, out, errors, echo)


def _finish(rows: list[dict[str, Any]], settings: TrialSettings, out: Path, errors: list[str],
            echo: Callable[[str], None]) -> TuneResult:
    """Tables, plot, the best model and its held-out card."""
    from ..data import load_dataset
    from ..devices import load_profile
    from ..io.atomic import write_bytes_atomic, write_json_atomic
    from ..io.model_file import load_model
    from ..readiness.scorecard import AttackSettings, EnsembleSettings, Scored, SpecRule, score_card
    from .report import pareto_front, trials_markdown, write_pareto_plot

    best = max(rows, key=lambda row: (row["objective"], -row["train_seconds"]))
    front = pareto_front(rows)
    for row in rows:
        row["pareto"] = row["trial"] in front
    write_json_atomic(out / "trials.json", {"settings": dataclasses.asdict(settings), "trials": rows,
                                            "best_trial": best["trial"], "errors": errors})
    write_bytes_atomic(out / "trials.md", trials_markdown(rows, settings, best["trial"]).encode())
    files = {"trials": str(out / "trials.json"), "table": str(out / "trials.md"), "best": str(out / "best.rsnn")}
    try:
        write_pareto_plot(out / "pareto.png", rows, settings)
        files["pareto"] = str(out / "pareto.png")
    except ImportError as exc:
        echo(f"[tune] no Pareto plot: {exc}")
    write_bytes_atomic(out / "best.rsnn", Path(best["model"]).read_bytes())
    write_bytes_atomic(out / "best_card.json",
                       settings.trial_dir(best["trial"]).joinpath("card.json").read_bytes())
    model = load_model(out / "best.rsnn")
    test_card = score_card(Scored(model, load_dataset(settings.data, "test"), str(out / "best.rsnn")),
                           load_profile(settings.device), EnsembleSettings(n_chips=settings.chips, seed=settings.seed),
                           SpecRule(settings.spec, settings.spec_relative, settings.target_yield),
                           AttackSettings(repeats=1)).with_extra(data=settings.data, split="test")
    write_json_atomic(out / "best_test_card.json", test_card.to_dict())
    files["test_card"] = str(out / "best_test_card.json")
    low, high = test_card.yield_estimate.ci
    echo(f"[tune] best: trial {best['trial'] + 1} (val yield {best['yield']:.2f} "
         f"[{best['yield_low']:.2f}, {best['yield_high']:.2f}], {best['grade']}); on the test split: nominal "
         f"{test_card.nominal_accuracy:.3f}, yield {test_card.yield_estimate.value:.2f} "
         f"[{low:.2f}, {high:.2f}], {test_card.grade}")
    echo(f"[tune] wrote {files['table']}, {files.get('pareto', '(no plot)')}, {files['best']}")
    return TuneResult(rows, best, test_card, files)


__all__ = ["TuneResult", "tune_model"]
