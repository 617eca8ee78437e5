import math

import pytest
import snntorch as snn
import torch
from torch import nn

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.training import TrainConfig, TrainingDiverged, evaluate, fit, make_method
from robust_snn.training.checkpoint import load_checkpoint

from conftest import make_pattern_data


def quick(epochs=3, **kw):
    return TrainConfig(epochs=epochs, batch_size=16, lr=5e-3, seed=7, **kw)


def test_training_learns_the_tiny_task(tiny_model, tiny_data):
    train, val = tiny_data
    before = evaluate(tiny_model, val).accuracy
    result = fit(tiny_model, train, val, make_method("standard"), quick(epochs=4), progress=False)
    assert result.best_val_accuracy > max(before, 0.6)
    assert len(result.history) == 4 and result.history[-1]["lr"] == pytest.approx(5e-4)


def test_resume_after_an_interruption_is_bit_for_bit_identical(tiny_config, tiny_data, tmp_path):
    train, val = tiny_data
    full = fit(SNNClassifier(tiny_config), train, val, make_method("standard"), quick(), progress=False)

    ckpt = tmp_path / "run.ckpt"
    interrupted = SNNClassifier(tiny_config)
    fit(interrupted, train, val, make_method("standard"), quick(), checkpoint=ckpt, progress=False, stop_after=1)
    assert load_checkpoint(ckpt).epoch == 0
    resumed = fit(SNNClassifier(tiny_config), train, val, make_method("standard"), quick(), checkpoint=ckpt,
                  resume=True, progress=False)
    for name, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name
    assert resumed.history == full.history


def test_resume_with_a_different_configuration_is_refused(tiny_config, tiny_data, tmp_path):
    train, val = tiny_data
    ckpt = tmp_path / "run.ckpt"
    fit(SNNClassifier(tiny_config), train, val, make_method("standard"), quick(), checkpoint=ckpt,
        progress=False, stop_after=1)
    with pytest.raises(ValueError, match="differs in train"):
        fit(SNNClassifier(tiny_config), train, val, make_method("standard"),
            TrainConfig(epochs=3, batch_size=16, lr=1e-2, seed=7), checkpoint=ckpt, resume=True, progress=False)


def test_checkpoints_leave_no_temporary_files(tiny_model, tiny_data, tmp_path):
    fit(tiny_model, *tiny_data, make_method("standard"), quick(epochs=2), checkpoint=tmp_path / "c.ckpt",
        progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]


def test_nan_loss_stops_training_with_a_clear_message(tiny_model, tiny_data):
    with torch.no_grad():
        tiny_model.readout.bias[0] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 1, batch 1"):
        fit(tiny_model, *tiny_data, make_method("standard"), quick(), progress=False)


def test_nan_in_the_input_data_is_named_not_silently_absorbed(tiny_model, tiny_data):
    train, val = tiny_data
    train.tensors[0][5, 3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf in input sample 5"):
        fit(tiny_model, train, val, make_method("standard"), quick(), progress=False)


def test_only_trainable_families_change(tiny_model, tiny_data):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    fit(tiny_model, *tiny_data, make_method("standard"), quick(epochs=1), progress=False)
    after = tiny_model.state_dict()
    assert not torch.equal(after["layers.0.weight"], before["layers.0.weight"])
    assert torch.equal(after["layers.0.log_tau_mem"], before["layers.0.log_tau_mem"])
    assert torch.equal(after["layers.0.log_threshold"], before["layers.0.log_threshold"])


class SnnTorchNet(nn.Module):
    """An snntorch network under our model contract: (batch, time, channels) -> logits."""

    def __init__(self, n_in=8, n_hidden=16, n_classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.lif1 = snn.Leaky(beta=0.9)
        self.fc2 = nn.Linear(n_hidden, n_classes)

    def forward(self, x):
        mem = self.lif1.init_leaky()
        spikes = []
        for x_t in x.unbind(1):
            spk, mem = self.lif1(self.fc1(x_t), mem)
            spikes.append(spk)
        return self.fc2(torch.stack(spikes, 1).mean(1))


def test_an_snntorch_network_trains_through_the_same_trainer(tiny_data):
    net = SnnTorchNet()
    train, val = tiny_data
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = fit(net, train, val, make_method("standard"), quick(epochs=2), progress=False)
    assert all(math.isfinite(row["train_loss"]) for row in result.history)
    assert not torch.equal(net.fc1.weight, before["fc1.weight"])
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] + 1e-9


def test_train_config_errors_name_the_field():
    with pytest.raises(ValueError, match="train.lr must be a positive number"):
        TrainConfig(lr=-1)
    with pytest.raises(ValueError, match="train.batch_size must be an integer"):
        TrainConfig.from_dict({"batch_size": "many"})
    with pytest.raises(ValueError, match="unknown field"):
        TrainConfig.from_dict({"epoch": 3})
