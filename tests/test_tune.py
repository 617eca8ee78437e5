"""``robust-snn tune``: the search space respects the chip, the plan is seeded, the ranking and the Pareto front
follow their documented rules, and a 2-trial search writes its table, plot and best model and resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray.tune", reason="tune needs the tune extra (ray[tune])")

from robust_snn.core.network import NetworkConfig, SNNClassifier  # noqa: E402
from robust_snn.devices import load_profile, resource_violations  # noqa: E402
from robust_snn.tuning.report import pareto_front  # noqa: E402
from robust_snn.tuning.space import sample_points, widths_that_fit  # noqa: E402
from robust_snn.tuning.trial import objective  # noqa: E402


@pytest.mark.parametrize("profile", ["dynapse2", "xylo-audio2", "pcm"])
def test_the_widest_width_offered_fits_the_chip_and_one_more_neuron_does_not(profile):
    limits = load_profile(profile).limits
    widths = widths_that_fit(16, 8, limits, recurrent=True)
    widest = max(widths)
    fits = SNNClassifier(NetworkConfig(n_in=16, hidden=(widest,), n_classes=8, recurrent=True))
    assert resource_violations(fits, limits) == []
    too_wide = SNNClassifier(NetworkConfig(n_in=16, hidden=(widest + 1,), n_classes=8, recurrent=True))
    assert resource_violations(too_wide, limits), f"{widest + 1} neurons should not fit {profile}"
    assert min(widths) >= widest // 2


def test_a_chip_without_limits_gets_the_generic_widths():
    assert widths_that_fit(16, 8, load_profile("gaussian-20").limits) == [32, 64, 128]


def test_the_plan_is_seeded_and_trial_one_is_the_paper_default():
    first = sample_points("adversarial", 5, [24, 48], 10, seed=3)
    again = sample_points("adversarial", 5, [24, 48], 10, seed=3)
    other = sample_points("adversarial", 5, [24, 48], 10, seed=4)
    assert [p.to_dict() for p in first] == [p.to_dict() for p in again]
    assert [p.to_dict() for p in first] != [p.to_dict() for p in other]
    assert first[0].to_dict() == {"trial": 0, "hidden": 48, "epochs": 10, "beta": 0.5, "eps": 0.1}
    for p in first[1:]:
        assert 0.05 <= p.params["beta"] <= 1.0 and 0.02 <= p.params["eps"] <= 0.3
        assert p.hidden in (24, 48) and 5 <= p.epochs <= 10


def test_an_unknown_method_is_refused_by_name():
    from robust_snn.config import ConfigError

    with pytest.raises(ConfigError, match="'awp'"):
        sample_points("awp", 2, [8], 1, seed=0)


def test_ready_trials_rank_by_nominal_above_every_other_and_chance_scores_zero():
    ready = {"grade": "ready", "nominal_accuracy": 0.80, "yield_ci95": [0.96, 1.0], "above_chance": True}
    ready_better = {**ready, "nominal_accuracy": 0.85}
    marginal = {"grade": "marginal", "nominal_accuracy": 0.95, "yield_ci95": [0.90, 0.99], "above_chance": True}
    at_chance = {"grade": "not-ready", "nominal_accuracy": 0.13, "yield_ci95": [0.96, 1.0], "above_chance": False}
    assert objective(ready_better) > objective(ready) > objective(marginal) == 0.90
    assert objective(at_chance) == 0.0


def test_the_pareto_front_keeps_exactly_the_undominated_trials():
    def row(trial, y, nominal, seconds):
        return {"trial": trial, "yield_low": y, "nominal_accuracy": nominal, "train_seconds": seconds}

    rows = [row(0, 0.9, 0.80, 10), row(1, 0.8, 0.85, 10), row(2, 0.8, 0.80, 10),  # 2 dominated by 0
            row(3, 0.5, 0.70, 2), row(4, 0.5, 0.70, 3)]  # 4 dominated by 3 (same, but slower)
    assert pareto_front(rows) == {0, 1, 3}


def _tune(out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "robust_snn", "tune", "--data", "synth-kws", "--device", "dynapse2",
           "--method", "adversarial-warm", "--trials", "2", "--max-epochs", "1", "--hidden", "4", "--chips", "3",
           "--train-samples", "64", "--out", str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.slow
def test_a_two_trial_search_writes_table_plot_and_best_model_and_resumes(tmp_path):
    out = tmp_path / "search"
    run = _tune(out)
    assert run.returncode == 0, run.stderr[-2000:]
    table = json.loads((out / "trials.json").read_text())
    rows = table["trials"]
    assert [r["trial"] for r in rows] == [0, 1] and table["errors"] == []
    best = rows[table["best_trial"]]
    assert best["objective"] == max(r["objective"] for r in rows)
    assert (out / "best.rsnn").read_bytes() == Path(best["model"]).read_bytes()
    from robust_snn import load_model

    assert load_model(out / "best.rsnn").config.hidden == (4,)
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "trials.md").read_text()
    assert markdown.count("\n| ") == 3  # header + 2 trials
    assert json.loads((out / "best_test_card.json").read_text())["split"] == "test"
    assert "[tune] trial 1/2" in run.stdout and "[tune] trial 2/2" in run.stdout

    # Resuming a finished search trains nothing again: same rows, same models.
    stamps = {r["model"]: Path(r["model"]).stat().st_mtime_ns for r in rows}
    again = _tune(out, "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((out / "trials.json").read_text())["trials"] == rows
    assert {m: Path(m).stat().st_mtime_ns for m in stamps} == stamps
    assert "[tune] trial" not in again.stdout

    refused = _tune(out)
    assert refused.returncode == 2 and "already holds a search" in refused.stderr
