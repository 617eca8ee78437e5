"""Our network and its Rockpool conversion must run the same dynamics.

Tolerance: both evaluate the same float32 equations, but in a different association order (we fold
``beta * W x + (1 - beta) b`` before the loop; Rockpool adds ``isyn`` and ``bias`` each step), so membranes
agree to a few float32 ulps of their magnitude (|V| < 10 here: atol 1e-4), and spikes must agree exactly
because no membrane lands within that distance of its threshold in these draws (checked by the spike test).
"""

import pytest
import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.interop.rockpool import to_rockpool, from_rockpool


def build(readout="spike_mean", recurrent=False, adaptive=False):
    return SNNClassifier(NetworkConfig(n_in=16, hidden=(24, 12), n_classes=5, readout=readout,
                                       recurrent=recurrent, adaptive=adaptive, seed=4))


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("readout", ["spike_mean", "leaky"])
def test_membrane_traces_and_spikes_agree_with_rockpool(readout, recurrent):
    model = build(readout, recurrent)
    x = torch.randn(4, 80, 16, generator=torch.Generator().manual_seed(0)) * 2
    rp = to_rockpool(model)
    record = rp.traces(x)
    h = x
    for i, layer in enumerate(model.layers):
        h, ours = layer(h, record=True)
        theirs = record[f"{2 * i + 1}_LIFTorch"]
        assert ours.spikes.sum() > 10, "the test needs spiking activity"
        assert torch.equal(ours.spikes, theirs["spikes"])
        assert torch.allclose(ours.vmem, theirs["vmem"], atol=1e-4)
        assert torch.allclose(ours.isyn, theirs["isyn"][..., 0], atol=1e-4)
    assert torch.allclose(model(x), rp(x), atol=1e-4)


@pytest.mark.parametrize("readout", ["spike_mean", "leaky"])
def test_round_trip_through_rockpool_gives_back_the_same_network(readout):
    model = build(readout, recurrent=True)
    back = from_rockpool(to_rockpool(model))
    x = torch.randn(2, 40, 16) * 2
    assert torch.equal(back(x), model(x))
    for name, value in model.state_dict().items():
        assert torch.allclose(back.state_dict()[name], value, atol=1e-6), name


def test_rockpool_wrapper_resets_state_between_batches():
    rp = to_rockpool(build())
    x = torch.randn(2, 30, 16) * 2
    first = rp(x)
    rp(torch.randn(2, 30, 16) * 5)
    assert torch.equal(rp(x), first)


def test_adaptive_networks_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="adaptive"):
        to_rockpool(build(adaptive=True))


def test_rockpool_multi_spike_default_is_refused_on_import():
    rp = to_rockpool(build())
    rp.net[1].max_spikes_per_dt = torch.tensor(2.0**16)
    with pytest.raises(ValueError, match="max_spikes_per_dt"):
        from_rockpool(rp)
