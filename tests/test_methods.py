import math

import pytest
import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.training import METHODS, TrainConfig, fit, make_method
from robust_snn.training.methods.dropout import hidden_dropout

from conftest import make_pattern_data

EXPECTED = {"standard", "noise", "dropout", "awp", "adversarial", "adversarial-warm", "fn-adversarial", "rwp", "asam"}


def small_model(**kw):
    return SNNClassifier(NetworkConfig(n_in=8, hidden=(12,), n_classes=3, recurrent=True, seed=5, **kw))


def one_epoch(method, model=None, **train_kw):
    model = model or small_model()
    data = make_pattern_data(48, seed=0)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=5e-3, seed=1, **train_kw)
    return fit(model, data, None, method, cfg, progress=False), model


def test_every_method_of_the_paper_and_the_sharpness_baselines_is_registered():
    assert EXPECTED <= set(METHODS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_method_trains_the_same_model_through_the_same_trainer(name):
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result, model = one_epoch(make_method(name), model)
    assert math.isfinite(result.history[0]["train_loss"])
    assert not torch.equal(model.state_dict()["layers.0.weight"], before["layers.0.weight"])


def test_beta_zero_reproduces_standard_exactly():
    standard, a = one_epoch(make_method("standard"))
    adversarial, b = one_epoch(make_method("adversarial", {"beta": 0.0, "steps": 2}))
    for name, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[name], value), name


@pytest.mark.parametrize("name", ["adversarial", "fn-adversarial"])
def test_adversarial_gradients_are_finite_and_reach_every_trainable_parameter(name):
    model = small_model(trainable=("weights", "biases", "taus", "thresholds"))
    data = make_pattern_data(16, seed=0)
    method = make_method(name, {"families": ["weights", "biases", "taus", "thresholds"], "steps": 3})
    from robust_snn.core import physical_parameters

    x, y = data.tensors
    result = method.loss(model, physical_parameters(model), x, y, torch.Generator().manual_seed(0))
    result.loss.backward()
    for leaf, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), leaf
        assert p.grad.abs().sum() > 0, leaf


def test_adversarial_robustness_term_is_positive_and_logged():
    result, _ = one_epoch(make_method("adversarial", {"steps": 3}))
    assert result.history[0]["train_loss"] > 0


def test_warm_started_attack_resumes_bit_for_bit(tmp_path):
    data = make_pattern_data(48, seed=0)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=5e-3, seed=1)
    full = fit(small_model(), data, None, make_method("adversarial-warm"), cfg, progress=False)
    ckpt = tmp_path / "w.ckpt"
    fit(small_model(), data, None, make_method("adversarial-warm"), cfg, checkpoint=ckpt, progress=False, stop_after=1)
    resumed = fit(small_model(), data, None, make_method("adversarial-warm"), cfg, checkpoint=ckpt, resume=True,
                  progress=False)
    for name, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


def test_dropout_masks_are_held_over_time_and_rescaled():
    model = small_model()
    x = torch.ones(200, 30, 8) * 2
    layer = model.layers[0]
    with torch.no_grad():
        plain = layer(x)
        with hidden_dropout(model, 0.3, torch.Generator().manual_seed(0)):
            dropped = layer(x)
    active = plain > 0
    ratio = dropped[active] / plain[active]
    assert torch.all((ratio == 0) | torch.isclose(ratio, torch.tensor(1 / 0.7)))
    # One mask per sample and unit: a unit that spikes is silenced at every step or at none.
    silenced_somewhere = ((dropped == 0) & active).any(1)
    kept_somewhere = (dropped > 0).any(1)
    assert not (silenced_somewhere & kept_somewhere).any()
    assert 0.6 < (ratio > 0).float().mean() < 0.8


def test_method_hyperparameter_errors_name_the_field():
    with pytest.raises(ValueError, match="method.dropout.p must be in"):
        make_method("dropout", {"p": 1.5})
    with pytest.raises(ValueError, match="unknown field"):
        make_method("adversarial", {"gamma": 1})
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        make_method("magic")


def test_qat_runs_forward_at_the_programmed_values_with_a_straight_through_gradient():
    from robust_snn.core import functional_forward, physical_parameters
    from xylo_levels import xylo_levels

    model = small_model()
    data = make_pattern_data(16, seed=0)
    x, y = data.tensors
    method = make_method("qat", {"device": "xylo-audio2"})
    result = method.loss(model, physical_parameters(model), x, y, torch.Generator())
    levels = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in xylo_levels(model).items()}  # by hand
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(functional_forward(model, levels, x), y)
        float_loss = torch.nn.functional.cross_entropy(model(x), y)
    assert torch.allclose(result.loss, expected, atol=1e-5)
    assert not torch.allclose(result.loss, float_loss, atol=1e-4)  # the programmed values differ from the float
    result.loss.backward()
    assert model.layers[0].weight.grad.abs().sum() > 0


def test_qat_with_an_unknown_device_names_it():
    with pytest.raises(ValueError, match="nosuchchip"):
        make_method("qat", {"device": "nosuchchip"})
