import math

import pytest
import torch

from robust_snn.core import LIFLayer, NetworkConfig, SNNClassifier


def reference_lif(x, w, b, tau_mem, tau_syn, thr, dt, w_rec=None):
    """The equations of the docstring, written out one neuron and one step at a time."""
    batch, time, _ = x.shape
    n = w.shape[0]
    alpha, beta = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    isyn = torch.zeros(batch, n)
    v = torch.zeros(batch, n)
    s = torch.zeros(batch, n)
    spikes, vs = [], []
    for t in range(time):
        inp = x[:, t] @ w.T
        if w_rec is not None:
            inp = inp + s @ w_rec.T
        isyn = beta * (isyn + inp)
        v = alpha * v + isyn + b
        s = (v >= thr).float()
        v = v - s * thr
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes, 1), torch.stack(vs, 1)


@pytest.mark.parametrize("recurrent", [False, True])
def test_layer_follows_the_documented_equations(recurrent):
    torch.manual_seed(0)
    layer = LIFLayer(5, 7, dt=1e-3, tau_mem=0.02, tau_syn=0.005, threshold=0.8, bias=0.05, recurrent=recurrent)
    x = torch.randn(3, 40, 5) * 3
    spikes, state = layer(x, record=True)
    w_rec = (layer.w_rec.detach() * (1 - torch.eye(7))) if recurrent else None
    ref_s, ref_v = reference_lif(x, layer.weight.detach(), 0.05, 0.02, 0.005, 0.8, 1e-3, w_rec)
    assert spikes.sum() > 0
    assert torch.equal(spikes, ref_s)
    # float32, different association order of the same sums: agreement to a few ulps of the membrane scale.
    assert torch.allclose(state.vmem, ref_v, atol=1e-5)


def test_recurrent_diagonal_is_held_at_zero_even_if_set():
    layer = LIFLayer(3, 4, recurrent=True)
    x = torch.randn(2, 20, 3) * 4
    before = layer(x)
    with torch.no_grad():
        layer.w_rec.fill_diagonal_(50.0)
    assert torch.equal(layer(x), before)


def test_time_constants_and_thresholds_stay_positive_under_any_update():
    layer = LIFLayer(3, 4, tau_mem=0.02)
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    for _ in range(5):
        opt.zero_grad()
        # A step of this size would drive a raw (physical) parameter far below zero.
        (layer(torch.randn(2, 10, 3)).sum() + 100 * (layer.tau_mem.sum() + layer.threshold.sum())).backward()
        opt.step()
    for value in (layer.tau_mem, layer.tau_syn, layer.threshold):
        assert torch.isfinite(value).all() and (value > 0).all()
    assert (layer.tau_mem < 0.02).all()  # the update did act


def test_non_positive_time_constant_is_refused_by_name():
    with pytest.raises(ValueError, match="tau_mem"):
        LIFLayer(3, 4, tau_mem=-0.01)


def test_adaptation_reduces_firing_under_constant_drive():
    x = torch.zeros(1, 200, 2)  # driven by the bias alone
    plain = LIFLayer(2, 3, bias=0.3)
    adaptive = LIFLayer(2, 3, bias=0.3, adaptive=True, adapt_strength=0.5, tau_adapt=0.5)
    with torch.no_grad():
        adaptive.weight.copy_(plain.weight)
    assert adaptive(x).sum() < plain(x).sum()


def test_no_state_carries_over_between_calls():
    layer = LIFLayer(3, 4)
    x = torch.randn(2, 25, 3) * 3
    first = layer(x)
    layer(torch.randn(2, 25, 3) * 10)
    assert torch.equal(layer(x), first)


def test_wrong_input_shape_is_named():
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(4,), n_classes=2))
    with pytest.raises(ValueError, match=r"\(batch, time, 8\)"):
        model(torch.zeros(2, 10, 7))


@pytest.mark.parametrize("readout", ["spike_mean", "leaky"])
def test_classifier_maps_batch_time_channels_to_logits(readout):
    model = SNNClassifier(NetworkConfig(n_in=6, hidden=(10, 8), n_classes=4, readout=readout, recurrent=True))
    assert model(torch.randn(5, 12, 6)).shape == (5, 4)


def test_same_seed_same_network():
    a = SNNClassifier(NetworkConfig(seed=3))
    b = SNNClassifier(NetworkConfig(seed=3))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
