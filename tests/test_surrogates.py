"""Spike functions: the forward pass is the Heaviside step at the threshold, the backward pass the pseudo-derivative
the module documents. The references are the formulas written out here (from the table in
``robust_snn.core.surrogates``) and snntorch's own surrogates where snntorch has the same shape -- never the
package's ``pseudo_derivative``."""

import math

import pytest
import torch
from snntorch import surrogate as snn_surrogate

from robust_snn.core.surrogates import SURROGATES, Surrogate, pseudo_derivative



def _sigmoid(z):
    return 1.0 / (1.0 + torch.exp(-z))


# name -> (g(x, p) as documented, documented default p)
FORMULAS = {
    "fast_sigmoid": (lambda x, k: 1.0 / (1.0 + k * x.abs()) ** 2, 25.0),
    "atan": (lambda x, a: (a / 2.0) / (1.0 + (math.pi * a * x / 2.0) ** 2), 2.0),
    "sigmoid": (lambda x, k: k * _sigmoid(k * x) * (1.0 - _sigmoid(k * x)), 25.0),
    "triangular": (lambda x, w: torch.clamp(1.0 - x.abs() / w, min=0.0) / w, 0.5),
    "boxcar": (lambda x, w: (x.abs() < w).to(x.dtype) / (2.0 * w), 0.5),
    "straight_through": (lambda x, _: torch.ones_like(x), None),
}

# Grid of v - threshold in [-2, 2] that avoids the boxcar's and triangle's corners at +-0.5 and 0 exactly.
X = torch.linspace(-2.0, 2.0, 81, dtype=torch.float64) + 0.0125
THRESHOLD = 1.0


def grads(surrogate, x, threshold=THRESHOLD):
    """(dS/dv, dS/dthreshold) of ``surrogate`` at ``v = threshold + x``, by autograd."""
    v = (x + threshold).clone().requires_grad_(True)
    thr = torch.full_like(x, threshold).requires_grad_(True)
    surrogate(v, thr).sum().backward()
    return v.grad, thr.grad


def test_every_documented_surrogate_is_tested_here():
    assert set(SURROGATES) == set(FORMULAS)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_forward_is_heaviside_with_spike_at_threshold(name):
    v = torch.tensor([0.5, 0.999, 1.0, 1.001, 1.5])
    assert Surrogate(name)(v, torch.tensor(1.0)).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_backward_is_the_documented_pseudo_derivative_and_threshold_gets_its_negative(name):
    formula, default = FORMULAS[name]
    grad_v, grad_thr = grads(Surrogate(name), X)
    expected = formula(X, default)
    assert torch.allclose(grad_v, expected, rtol=1e-6, atol=1e-12)
    assert torch.allclose(grad_thr, -expected, rtol=1e-6, atol=1e-12)
    assert torch.allclose(pseudo_derivative(name, X), expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name, scale", [("fast_sigmoid", 7.0), ("atan", 3.5), ("sigmoid", 4.0),
                                         ("triangular", 1.25), ("boxcar", 0.3)])
def test_the_scale_is_the_documented_parameter(name, scale):
    formula, _ = FORMULAS[name]
    grad_v, _ = grads(Surrogate(name, scale), X)
    assert torch.allclose(grad_v, formula(X, scale), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", ["fast_sigmoid", "atan", "sigmoid", "triangular", "boxcar"])
def test_pseudo_derivative_peaks_at_threshold_and_integrates_to_one(name):
    """A surrogate of the unit step's derivative (a Dirac delta) has its peak at 0 and area 1 (snntorch's
    atan and fast sigmoid: area 1 and 2/k; ours are the same shapes)."""
    formula, default = FORMULAS[name]
    x = torch.linspace(-40, 40, 800001, dtype=torch.float64)
    g = pseudo_derivative(name, x)
    assert int(g.argmax()) == 400000 or name == "boxcar"
    assert (g >= 0).all()
    area = float(torch.trapezoid(g, x))
    expected = float(torch.trapezoid(formula(x, default), x))
    assert area == pytest.approx(expected, rel=1e-6)
    if name != "fast_sigmoid":  # fast sigmoid's area is 2/k, its tails decay only as 1/x^2
        assert area == pytest.approx(1.0, rel=1e-2)


SNNTORCH = [  # our name and scale, snntorch's surrogate with the same slope parametrisation
    ("fast_sigmoid", None, lambda: snn_surrogate.fast_sigmoid(slope=25)),
    ("fast_sigmoid", 10.0, lambda: snn_surrogate.fast_sigmoid(slope=10)),
    ("atan", None, lambda: snn_surrogate.atan(alpha=2.0)),
    ("atan", 3.0, lambda: snn_surrogate.atan(alpha=3.0)),
    ("sigmoid", None, lambda: snn_surrogate.sigmoid(slope=25)),
    ("sigmoid", 5.0, lambda: snn_surrogate.sigmoid(slope=5)),
    ("straight_through", None, lambda: snn_surrogate.straight_through_estimator()),
]


@pytest.mark.parametrize("name, scale, make", SNNTORCH, ids=[f"{n}-{s}" for n, s, _ in SNNTORCH])
def test_matches_snntorchs_surrogate(name, scale, make):
    """snntorch applies its spike function to ``mem - threshold`` and fires when it is > 0 (ours: >= 0, the same
    everywhere off the threshold itself, which the grid avoids)."""
    ours_v, _ = grads(Surrogate(name, scale), X)
    mem = X.clone().requires_grad_(True)
    theirs = make()(mem)
    theirs.sum().backward()
    assert torch.equal(Surrogate(name, scale)(X + THRESHOLD, torch.tensor(THRESHOLD, dtype=X.dtype)), theirs.detach())
    assert torch.allclose(ours_v, mem.grad, rtol=1e-5, atol=1e-7)


def test_threshold_gradient_is_summed_over_broadcast_batch():
    torch.manual_seed(0)
    v = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    thr = torch.ones(4, dtype=torch.float64, requires_grad=True)
    Surrogate("atan")(v, thr).sum().backward()
    formula, alpha = FORMULAS["atan"]
    assert thr.grad.shape == (4,)
    assert torch.allclose(thr.grad, -formula(v.detach() - 1.0, alpha).sum(0))


def test_spike_function_works_under_vmap_and_func_grad():
    torch.manual_seed(0)
    spike = Surrogate("fast_sigmoid")
    v = torch.randn(3, 6)
    thr = torch.rand(3, 6) + 0.5
    batched = torch.func.vmap(spike)(v, thr)
    assert torch.equal(batched, (v >= thr).float())
    g = torch.func.grad(lambda vv: spike(vv, thr[0]).sum())(v[0])
    formula, k = FORMULAS["fast_sigmoid"]
    assert torch.allclose(g, formula(v[0] - thr[0], k))


def test_unknown_surrogate_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown surrogate 'nope'"):
        Surrogate("nope")
