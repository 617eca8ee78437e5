import pytest
import torch

from robust_snn.attack import (
    AttackConfig,
    attacked_names,
    batch_grad_fn,
    divergence,
    evaluate_attack,
    perturb,
    pga_attack,
)
from robust_snn.core import NetworkConfig, SNNClassifier, functional_forward, physical_parameters
from robust_snn.interop.rockpool import to_rockpool
from robust_snn.training import TrainConfig, fit, make_method

from conftest import make_pattern_data


@pytest.fixture(scope="module")
def trained():
    """A small network trained to high accuracy on the pattern task."""
    torch.manual_seed(0)
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(24,), n_classes=3, seed=2))
    train, val = make_pattern_data(192, seed=0), make_pattern_data(96, seed=1)
    fit(model, train, val, make_method("standard"), TrainConfig(epochs=6, batch_size=32, lr=5e-3), progress=False)
    return model, val


def detached(model):
    return {k: v.detach() for k, v in physical_parameters(model).items()}


def test_attacked_parameters_stay_inside_the_relative_box(trained):
    model, val = trained
    x, y = val.tensors[0][:32], val.tensors[1][:32]
    params = detached(model)
    eps = attacked_names(model, AttackConfig(eps=0.2))
    result = pga_attack(batch_grad_fn(model, x, "ce", labels=y, names=list(eps)), params, eps, 10, 1e-3,
                        torch.Generator().manual_seed(0))
    attacked = perturb(params, result.coefficients)
    for name in eps:
        assert (attacked[name] - params[name]).abs().le(0.2 * params[name].abs() + 1e-7).all(), name
    assert set(eps) == {n for n in params if n.endswith(("weight", "bias"))}


def test_attack_raises_the_divergence_step_by_step(trained):
    model, val = trained
    x = val.tensors[0][:48]
    params = detached(model)
    with torch.no_grad():
        nominal = functional_forward(model, params, x)
    eps = attacked_names(model, AttackConfig(eps=0.1))
    result = pga_attack(batch_grad_fn(model, x, "kl", target_logits=nominal, names=list(eps)), params, eps, 10,
                        1e-3, torch.Generator().manual_seed(0))
    assert result.losses[-1] > 10 * max(result.losses[0], 1e-6)


def test_attack_costs_far_more_accuracy_than_random_perturbation_of_the_same_size(trained):
    model, val = trained
    report = evaluate_attack(model, val, AttackConfig(eps=0.3, divergence="ce"), repeats=2, seed=0)
    assert report["nominal_accuracy"] > 0.8
    assert report["random_accuracy"] > report["nominal_accuracy"] - 0.15
    assert report["attacked_accuracy"] < report["random_accuracy"] - 0.3
    assert report["attacked_accuracy"] == min(report["attacked_accuracy_per_repeat"])


def test_gradient_through_theta_star_has_the_closed_form_jacobian(trained):
    """grad_theta L = dL/dtheta|direct + J * dL/dtheta*, with J = 1 + sign(theta) * c (no stop-gradient)."""
    model, val = trained
    for p in model.parameters():
        p.requires_grad_(True)
    x, y = val.tensors[0][:16], val.tensors[1][:16]
    beta = 0.5
    theta = {k: v.clone().requires_grad_(True) for k, v in detached(model).items()}
    eps = attacked_names(model, AttackConfig(eps=0.1))
    with torch.no_grad():
        nominal = functional_forward(model, theta, x)
    coeffs = pga_attack(batch_grad_fn(model, x, "kl", target_logits=nominal, names=list(eps)), theta, eps, 5,
                        1e-3, torch.Generator().manual_seed(0)).coefficients

    logits = functional_forward(model, theta, x)
    full = torch.nn.functional.cross_entropy(logits, y) + beta * divergence(
        functional_forward(model, perturb(theta, coeffs), x), logits, None, "kl")
    g_full = torch.autograd.grad(full, list(theta.values()))

    star = {k: perturb(theta, coeffs)[k].detach().requires_grad_(True) for k in theta}
    logits = functional_forward(model, theta, x)
    split = torch.nn.functional.cross_entropy(logits, y) + beta * divergence(
        functional_forward(model, star, x), logits, None, "kl")
    g_direct = torch.autograd.grad(split, list(theta.values()), retain_graph=True)
    g_star = torch.autograd.grad(split, list(star.values()))
    for (name, value), gf, gd, gs in zip(theta.items(), g_full, g_direct, g_star):
        jacobian = 1 + torch.sign(value.detach()) * coeffs[name] if name in coeffs else torch.ones_like(value)
        assert torch.allclose(gf, gd + jacobian * gs, rtol=1e-4, atol=1e-6), name
    assert any((coeffs[n] != 0).any() for n in coeffs)


def test_coefficients_follow_eps_init_r_plus_eps_over_n_sum_of_signs():
    params = {"w": torch.tensor([1.0, -2.0, 3.0, 0.5])}
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0])
    calls = iter([signs, signs, -signs, signs])

    def grad_fn(_):
        return 0.0, {"w": next(calls)}

    result = pga_attack(grad_fn, params, {"w": 0.1}, 4, 1e-3, torch.Generator().manual_seed(3))
    r = torch.randn(4, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(result.coefficients["w"], 1e-3 * r + 0.1 / 4 * 2 * signs)


def test_attack_config_errors_name_the_field():
    with pytest.raises(ValueError, match="attack.eps must be a relative size"):
        AttackConfig(eps=1.5)
    with pytest.raises(ValueError, match="attack.divergence"):
        AttackConfig(divergence="l2")
    with pytest.raises(ValueError, match="unknown families"):
        AttackConfig(families=("synapses",))


def test_attack_works_on_a_rockpool_network(trained):
    model, val = trained
    report = evaluate_attack(to_rockpool(model), val, AttackConfig(eps=0.3, divergence="ce", steps=5), repeats=1)
    assert report["nominal_accuracy"] > 0.8
    assert report["attacked_accuracy"] < report["nominal_accuracy"] - 0.3


def test_attack_works_on_an_snntorch_network():
    from test_trainer import SnnTorchNet

    net = SnnTorchNet()
    data = make_pattern_data(64, seed=3)
    fit(net, data, None, make_method("standard"), TrainConfig(epochs=3, batch_size=16, lr=5e-3), progress=False)
    report = evaluate_attack(net, data, AttackConfig(eps=0.3, divergence="ce", steps=5), repeats=1)
    assert report["attacked_accuracy"] <= report["nominal_accuracy"]
    assert report["attacked_accuracy"] < report["random_accuracy"]
