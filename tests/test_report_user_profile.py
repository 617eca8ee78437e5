"""A user-written device profile (the advertised way to add a chip) goes all the way through a report."""

import subprocess
import sys

import torch
from torch.utils.data import TensorDataset

import robust_snn
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import load_profile

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


def test_a_report_measures_the_sensitivity_on_a_user_profile_object(tmp_path):
    """The card names the device ``my-chip``, which no lookup by name can find: the report must use the
    profile object it is given (it used to look the name up again and fail)."""
    (tmp_path / "my-chip.toml").write_text(PROFILE)
    profile = load_profile(tmp_path / "my-chip.toml")
    from robust_snn.readiness.report import write_report

    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=2, seed=0)).eval()
    g = torch.Generator().manual_seed(0)
    data = TensorDataset((torch.rand(8, 10, 4, generator=g) < 0.3).float(), torch.arange(8) % 2)
    from robust_snn.readiness.scorecard import score_card

    card = score_card(model, profile, data, n_chips=2, seed=0, model_name="m", progress=False)
    assert card["device"] == "my-chip" and card.get("sensitivity") is None  # the report measures it
    path = write_report(tmp_path / "rep", [card], models={"m": model}, data=data, analysis={},  # {}: skip the sweep
                        profile=profile)
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
