import pytest
import torch

from robust_snn.core.surrogates import SURROGATES, Surrogate, pseudo_derivative


def test_forward_is_heaviside_with_spike_at_threshold():
    spike = Surrogate("fast_sigmoid")
    v = torch.tensor([0.5, 1.0, 1.5])
    assert spike(v, torch.tensor(1.0)).tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("name", SURROGATES)
def test_backward_is_the_pseudo_derivative_and_threshold_gets_its_negative(name):
    v = torch.linspace(-1, 3, 41, requires_grad=True)
    thr = torch.full((41,), 1.0, requires_grad=True)
    Surrogate(name)(v, thr).sum().backward()
    expected = pseudo_derivative(name, v.detach() - 1.0)
    assert torch.allclose(v.grad, expected)
    assert torch.allclose(thr.grad, -expected)


@pytest.mark.parametrize("name", ["fast_sigmoid", "atan", "sigmoid", "triangular"])
def test_pseudo_derivative_peaks_at_threshold(name):
    x = torch.linspace(-2, 2, 401)
    g = pseudo_derivative(name, x)
    assert int(g.argmax()) == 200
    assert (g >= 0).all()


def test_threshold_gradient_is_summed_over_broadcast_batch():
    v = torch.randn(5, 4, requires_grad=True)
    thr = torch.ones(4, requires_grad=True)
    Surrogate("atan")(v, thr).sum().backward()
    assert thr.grad.shape == (4,)
    assert torch.allclose(thr.grad, -pseudo_derivative("atan", v.detach() - 1).sum(0))


def test_spike_function_works_under_vmap_and_func_grad():
    spike = Surrogate("fast_sigmoid")
    v = torch.randn(3, 6)
    thr = torch.rand(3, 6) + 0.5
    batched = torch.func.vmap(spike)(v, thr)
    assert torch.equal(batched, (v >= thr).float())
    g = torch.func.grad(lambda vv: spike(vv, thr[0]).sum())(v[0])
    assert torch.allclose(g, pseudo_derivative("fast_sigmoid", v[0] - thr[0]))


def test_unknown_surrogate_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown surrogate 'nope'"):
        Surrogate("nope")
