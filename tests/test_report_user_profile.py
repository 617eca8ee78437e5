"""A user-written device profile (the advertised way to add a chip) goes all the way through a report."""

import subprocess
import sys

import torch
from torch.utils.data import TensorDataset

import robust_snn
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import EnsembleResult, load_profile
from robust_snn.readiness.card import ScoreCard, SpecRule

PROFILE = '''name = "my-chip"
family = "gaussian"
description = "a chip written by the user"
source = "this test"

[[stages]]
kind = "relative_gaussian"
source = "this test"
[stages.spread.weights]
synapse = 0.3
'''


def ready_card(profile) -> ScoreCard:
    """A card graded ``ready`` on ``profile``: 100 chips all at 0.9 on 1,000 samples, chance 0.5."""
    chips = EnsembleResult(profile.name, 100, 0, 1000, 0.9, (0.9,) * 100)
    card = ScoreCard("m", profile, chips, SpecRule(), float_accuracy=0.9, chance_accuracy=0.5,
                     worst_case_accuracy=0.9, worst_case_eps={}, violations=())
    assert card.grade == "ready"
    return card


def test_a_report_measures_the_sensitivity_on_a_user_profile_object(tmp_path):
    """The card names the device ``my-chip``, which no lookup by name can find: the report must use the
    profile object the card carries (it used to look the name up again and fail)."""
    (tmp_path / "my-chip.toml").write_text(PROFILE)
    profile = load_profile(tmp_path / "my-chip.toml")
    from robust_snn.readiness.report import write_report

    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=2, seed=0)).eval()
    g = torch.Generator().manual_seed(0)
    data = TensorDataset((torch.rand(8, 10, 4, generator=g) < 0.3).float(), torch.arange(8) % 2)
    from robust_snn.readiness.scorecard import EnsembleSettings, Scored, score_card

    card = score_card(Scored(model, data, "m"), profile, EnsembleSettings(n_chips=2, seed=0))
    assert card.device == "my-chip" and "sensitivity" not in card.extra  # the report measures it
    path = write_report(tmp_path / "rep", [card], models={"m": model}, data=data, analysis={})  # {}: skip the sweep
    text = path.read_text()
    assert "## Sensitivity of m on my-chip" in text and "| layers.0 weights |" in text


def test_evaluate_with_a_profile_file_writes_its_report_and_exits_0(tmp_path):
    (tmp_path / "my-chip.toml").write_text(PROFILE)
    model = tmp_path / "tiny.rsnn"
    robust_snn.save_model(model, SNNClassifier(NetworkConfig(n_in=16, hidden=(8,), n_classes=8, seed=0)))
    proc = subprocess.run([sys.executable, "-m", "robust_snn", "evaluate", str(model), "--data", "synth-kws",
                           "--device", str(tmp_path / "my-chip.toml"), "--chips", "2", "--quiet",
                           "--json", str(tmp_path / "card.json"), "--report", str(tmp_path / "rep")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "on my-chip" in (tmp_path / "rep" / "report.md").read_text()



def test_advice_for_a_user_profile_names_its_file_so_the_commands_run(tmp_path):
    """``--device my-chip`` would exit 2 (no built-in profile has that name): the card's context records the
    profile's file, and every suggested command passes that file."""
    (tmp_path / "my-chip.toml").write_text(PROFILE)
    profile = load_profile(tmp_path / "my-chip.toml")
    from robust_snn.readiness.advice import advise
    from robust_snn.readiness.context import card_context

    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=2, seed=0)).eval()
    context = card_context(model, ready_card(profile))
    assert context["device_file"] == str(tmp_path / "my-chip.toml")
    assert "device_file" not in card_context(model, ready_card(load_profile("pcm")))
    # a card whose only problem is the chip spread (p5 below the spec), on the user's chip
    card = {"model": "m.rsnn", "data": "synth-kws", "device": "my-chip", "n_chips": 100, "seed": 0,
            "float_accuracy": 0.71, "nominal_accuracy": 0.70, "mean_accuracy": 0.67, "p5_accuracy": 0.62,
            "min_accuracy": 0.58, "spec": 0.665, "spec_rule": "0.95 x nominal_accuracy",
            "per_chip_accuracy": [0.58 + 0.001 * i for i in range(100)], "yield": 0.40, "yield_ci95": [0.30, 0.50],
            "target_yield": 0.95, "worst_case_accuracy": 0.69, "worst_case_eps": {"weights": 0.15},
            "fits_device": True, "violations": [], "grade": "not-ready", "chance_accuracy": 0.125,
            "above_chance": True, "training": {"method": "standard", "epochs": 12, "best_epoch": 9}, **context}
    commands = [a["command"] for a in advise(card) if a["command"] and "--device" in a["command"]]
    assert commands
    for command in commands:
        device = command.split("--device", 1)[1].split()[0].strip("'\"")
        assert device == str(tmp_path / "my-chip.toml"), command
