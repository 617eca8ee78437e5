import pytest
import torch
from torch import nn

from robust_snn.core import (
    NetworkConfig,
    SNNClassifier,
    functional_forward,
    parameter_families,
    physical_parameters,
    trainable_mask,
)


def adaptive_model():
    return SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3, recurrent=True, adaptive=True,
                                       readout="leaky"))


def test_every_parameter_of_ours_has_its_declared_family():
    fam = parameter_families(adaptive_model())
    assert fam == {
        "layers.0.weight": "weights", "layers.0.w_rec": "weights", "layers.0.bias": "biases",
        "layers.0.tau_mem": "taus", "layers.0.tau_syn": "taus", "layers.0.threshold": "thresholds",
        "layers.0.tau_adapt": "taus", "layers.0.adapt_strength": "adaptation",
        "readout.weight": "weights", "readout.bias": "biases",
        "readout.tau_mem": "taus", "readout.tau_syn": "taus",
    }


def test_physical_view_is_in_seconds_not_logarithms():
    model = SNNClassifier(NetworkConfig(tau_mem=0.03))
    phys = physical_parameters(model)
    assert torch.allclose(phys["layers.0.tau_mem"], torch.full((64,), 0.03))


def test_families_are_inferred_for_foreign_modules():
    class Foreign(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.tau_mem = nn.Parameter(torch.ones(2))
            self.threshold = nn.Parameter(torch.ones(2))
            self.beta = nn.Parameter(torch.ones(2))
            self.gain = nn.Parameter(torch.ones(2))

    assert parameter_families(Foreign()) == {
        "fc.weight": "weights", "fc.bias": "biases", "tau_mem": "taus", "threshold": "thresholds",
        "beta": "decays", "gain": "other",
    }


def test_default_trainable_families_are_weights_and_biases():
    mask = trainable_mask(adaptive_model())
    assert mask["layers.0.weight"] and mask["layers.0.bias"] and mask["readout.weight"]
    assert not mask["layers.0.tau_mem"] and not mask["layers.0.threshold"]


def test_functional_forward_with_own_parameters_matches_forward():
    model = adaptive_model()
    x = torch.randn(3, 15, 4) * 2
    phys = {k: v.detach() for k, v in physical_parameters(model).items()}
    assert torch.allclose(functional_forward(model, phys, x), model(x), atol=1e-6)


def test_functional_forward_uses_the_given_time_constants_without_mutating_the_model():
    model = adaptive_model()
    x = torch.randn(3, 15, 4) * 2
    before = model(x)
    phys = {k: v.detach().clone() for k, v in physical_parameters(model).items()}
    phys["layers.0.tau_syn"] = phys["layers.0.tau_syn"] * 3
    assert not torch.allclose(functional_forward(model, phys, x), before)
    assert torch.equal(model(x), before)


def test_chip_ensemble_under_vmap_equals_a_python_loop():
    model = adaptive_model()
    x = torch.randn(2, 12, 4) * 2
    g = torch.Generator().manual_seed(0)
    base = {k: v.detach() for k, v in physical_parameters(model).items()}
    chips = {k: torch.stack([v * (1 + 0.1 * torch.randn(v.shape, generator=g)).abs() for _ in range(4)])
             for k, v in base.items()}
    vmapped = torch.func.vmap(lambda p: functional_forward(model, p, x))(chips)
    looped = torch.stack([functional_forward(model, {k: v[i] for k, v in chips.items()}, x) for i in range(4)])
    assert torch.allclose(vmapped, looped, atol=1e-5)


def test_gradients_flow_from_physical_parameters_to_the_stored_leaves():
    model = adaptive_model()
    for p in model.parameters():
        p.requires_grad_(True)
    functional_forward(model, physical_parameters(model), torch.randn(2, 10, 4) * 3).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_unknown_parameter_name_is_refused():
    model = adaptive_model()
    with pytest.raises(KeyError, match="nope"):
        functional_forward(model, {"nope": torch.zeros(1)}, torch.zeros(1, 2, 4))
