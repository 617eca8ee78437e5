"""What stays on a terminal: each epoch's line outlives its vanishing progress bar."""

import robust_snn.training.trainer as trainer
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.training import TrainConfig, fit, make_method

from conftest import make_pattern_data


def test_on_a_terminal_every_epoch_leaves_its_train_and_val_accuracy_and_loss(monkeypatch, capsys):
    monkeypatch.setattr(trainer, "progress_mode", lambda enabled, stream=None: "bar" if enabled else "off")
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(8,), n_classes=3, seed=0))
    fit(model, make_pattern_data(32), make_pattern_data(16, seed=1), make_method("standard"),
        TrainConfig(epochs=2, batch_size=16), progress=True)
    lines = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.startswith("epoch ")]
    for epoch in (1, 2):
        line = next(ln for ln in lines if ln.startswith(f"epoch {epoch}/2 ") and "val_accuracy=" in ln)
        assert all(key in line for key in ("train_loss=", "train_accuracy=", "val_loss="))
