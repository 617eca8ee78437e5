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


def test_each_declaration_gives_unit_shape_and_constraint_and_positive_ones_are_stored_as_logarithms():
    """Written out by hand for the adaptive recurrent layer with a leaky readout: the unit and constraint of
    every physical parameter, its shape, and the leaf the optimiser sees (log for positive ones)."""
    from robust_snn.core import describe_parameters

    model = adaptive_model()
    rows = {r["name"]: r for r in describe_parameters(model)}
    expected = {  # name: (shape, unit, constraint)
        "layers.0.weight": ((6, 4), "membrane units per input unit", "real"),
        "layers.0.w_rec": ((6, 6), "membrane units per spike", "zero_diagonal"),
        "layers.0.bias": ((6,), "membrane units per step", "real"),
        "layers.0.tau_mem": ((6,), "s", "positive"), "layers.0.tau_syn": ((6,), "s", "positive"),
        "layers.0.threshold": ((6,), "membrane units", "positive"),
        "layers.0.tau_adapt": ((6,), "s", "positive"),
        "layers.0.adapt_strength": ((6,), "membrane units per adaptation unit", "positive"),
        "readout.weight": ((3, 6), "membrane units per input spike", "real"),
        "readout.bias": ((3,), "membrane units per step", "real"),
        "readout.tau_mem": ((3,), "s", "positive"), "readout.tau_syn": ((3,), "s", "positive"),
    }
    assert {n: (r["shape"], r["unit"], r["constraint"]) for n, r in rows.items()} == expected
    assert all(r["init"] and r["doc"] for r in rows.values())
    leaves = dict(model.named_parameters())
    physical = physical_parameters(model)
    for name, (_, _, constraint) in expected.items():
        prefix, attr = name.rsplit(".", 1)
        if constraint == "positive":
            assert f"{prefix}.{attr}" not in leaves
            assert torch.equal(physical[name], torch.exp(leaves[f"{prefix}.log_{attr}"])), name
        else:
            assert physical[name] is leaves[name], name


def test_assigning_a_positive_parameter_stores_its_logarithm_and_refuses_a_non_positive_value():
    layer = adaptive_model().layers[0]
    layer.tau_mem = torch.full((6,), 0.02)
    assert torch.allclose(layer.log_tau_mem, torch.log(torch.full((6,), 0.02)))
    assert isinstance(layer.log_tau_mem, nn.Parameter)
    with pytest.raises(ValueError, match="tau_syn must be finite and > 0"):
        layer.tau_syn = torch.tensor([0.01, 0.0, 0.01, 0.01, 0.01, 0.01])


def test_a_layer_without_recurrence_has_no_recurrent_weights():
    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3, recurrent=False))
    assert not hasattr(model.layers[0], "w_rec") and "layers.0.w_rec" not in physical_parameters(model)


def test_check_declared_names_a_parameter_with_the_wrong_shape_or_missing():
    from robust_snn.core import check_declared

    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3, recurrent=True))
    check_declared(model)
    model.layers[0].weight = nn.Parameter(torch.zeros(6, 5))
    wrong = r"layers\.0\.weight has shape \(6, 5\), declared \('n_out', 'n_in'\) = \(6, 4\)"
    with pytest.raises(ValueError, match=wrong):
        check_declared(model)
    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3, recurrent=True))
    del model.layers[0]._parameters["w_rec"]
    with pytest.raises(ValueError, match=r"layers\.0\.w_rec is declared present \(recurrent\) but is missing"):
        check_declared(model)


def test_a_new_module_declares_its_parameters_once_and_gets_families_and_the_physical_view():
    """A module written with the declarations: families, the physical view and functional_forward follow from
    them, and an undeclared family or constraint is refused at declaration."""
    from robust_snn.core import Parameter
    from robust_snn.core.parameters import initialise

    def identity(module, shape, generator, given):
        """the identity"""
        return torch.eye(shape[0])

    class Gain(nn.Module):
        w = Parameter("weights", ("n", "n"), "1", "mixing matrix", init=identity)
        gain = Parameter("other", ("n",), "1", "output gain", constraint="positive")

        def __init__(self, n, gain=2.0):
            super().__init__()
            self.n = n
            initialise(self, gain=gain)

        def forward(self, x):
            return (x @ self.w.t()) * self.gain

    module = Gain(3)
    assert parameter_families(module) == {"w": "weights", "gain": "other"}
    assert [n for n, _ in module.named_parameters()] == ["w", "log_gain"]
    physical = physical_parameters(module)
    assert torch.allclose(physical["gain"], torch.full((3,), 2.0))
    x = torch.ones(2, 3)
    assert torch.allclose(functional_forward(module, {**physical, "gain": torch.full((3,), 5.0)}, x),
                          torch.full((2, 3), 5.0))
    with pytest.raises(ValueError, match="unknown parameter family 'bias'"):
        Parameter("bias", ("n",), "1", "a bias")
    with pytest.raises(ValueError, match="unknown parameter constraint 'negative'"):
        Parameter("biases", ("n",), "1", "a bias", constraint="negative")
