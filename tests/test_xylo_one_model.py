"""One model of Xylo Audio 2: the ``xylo-audio2`` profile (used by ``evaluate`` and ``qat``) programs exactly the
chip that ``export --format xylo`` writes, with exact bit-shift decays and one scale per neuron."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.core.parameters import stored_parameters
from robust_snn.devices import load_profile, programmed_parameters

pytest.importorskip("rockpool")
xylo = pytest.importorskip("robust_snn.export.xylo")
try:
    pytest.importorskip("robust_snn.export.samna_shim").import_xylo()
except ImportError as exc:  # pragma: no cover - depends on the Rockpool install
    pytest.skip(f"Rockpool's Xylo support is not importable: {exc}", allow_module_level=True)

PROFILE = load_profile("xylo-audio2")

# Hand-computed shifts, rule: dash = round(d*), d* = -log2(1 - alpha), alpha = exp(-dt / tau) (the shift whose
# per-step leak 2^-dash is nearest to 1 - alpha in log2), clipped to 0..15; tau(dash) = -dt / ln(1 - 2^-dash).
#   tau, dt          alpha      1 - alpha   d*      dash  tau(dash)        round(log2(tau / dt)) (Rockpool's mapper)
#   27 ms, 1 ms      0.963640   0.036360    4.782   5     31.497 ms        5
#   27 ms, 10 ms     0.690479   0.309521    1.692   2     34.761 ms        1 (14.427 ms: the old profile's value)
#   12 ms, 10 ms     0.434598   0.565402    0.823   1     14.427 ms        0
#   100 ms, 10 ms    0.904837   0.095163    3.393   3     74.889 ms        3
#   50 ms, 10 ms     0.818731   0.181269    2.464   2     34.761 ms        2
#   5 ms, 10 ms      0.135335   0.864665    0.210   0     state cleared    -1
HAND = [  # (tau s, dt s, dash, tau(dash) s)
    (0.027, 0.001, 5, 0.031497), (0.027, 0.01, 2, 0.034761), (0.012, 0.01, 1, 0.014427),
    (0.1, 0.01, 3, 0.074889), (0.05, 0.01, 2, 0.034761),
]


def random_net(readout: str, seed: int) -> SNNClassifier:
    """Two recurrent layers with random weights, biases, thresholds and time constants (some below dt)."""
    g = torch.Generator().manual_seed(seed)
    model = SNNClassifier(NetworkConfig(n_in=16, hidden=(20, 12), n_classes=4, recurrent=True, readout=readout,
                                        dt=0.01, seed=seed, init_gain=0.8))
    with torch.no_grad():
        for module in [*model.layers, model.readout]:
            module.bias.copy_(0.2 * torch.randn(module.bias.shape, generator=g))
            module.weight.mul_(torch.exp(torch.randn(module.weight.shape[0], 1, generator=g)))
            if hasattr(module, "tau_mem"):
                n = module.tau_mem.shape
                module.tau_mem = 0.004 + 0.5 * torch.rand(n, generator=g)
                module.tau_syn = 0.004 + 0.2 * torch.rand(n, generator=g)
        for layer in model.layers:
            layer.threshold = 0.5 + torch.rand(layer.threshold.shape, generator=g)
    return model.eval()


@pytest.mark.parametrize("tau, dt, dash, tau_q", HAND)
def test_the_profile_and_the_exporter_give_the_hand_computed_shift(tau, dt, dash, tau_q):
    model = SNNClassifier(NetworkConfig(n_in=16, hidden=(4,), n_classes=2, readout="leaky", tau_mem=tau, dt=dt))
    assert programmed_parameters(model, PROFILE)["layers.0.tau_mem"].tolist() == pytest.approx([tau_q] * 4, rel=1e-4)
    assert xylo.to_xylo_spec(model)["dash_mem"].tolist() == [dash] * 4
    assert -dt / math.log(1 - 2.0 ** -dash) == pytest.approx(tau_q, rel=1e-4)


def test_a_time_constant_far_below_dt_clears_the_state_every_step():
    model = SNNClassifier(NetworkConfig(n_in=16, hidden=(4,), n_classes=2, readout="leaky", tau_syn=0.005))
    assert xylo.to_xylo_spec(model)["dash_syn"].tolist() == [0] * 4  # d* = 0.210
    decay = torch.exp(-0.01 / programmed_parameters(model, PROFILE)["layers.0.tau_syn"])
    assert decay.tolist() == [0.0] * 4  # x - (x >> 0) = 0


@pytest.mark.parametrize("readout", ["leaky", "spike_mean"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_profiles_programmed_network_is_the_exporters_twin_spike_for_spike(readout, seed):
    model = random_net(readout, seed)
    twin = xylo.quantised_twin(model)
    programmed = stored_parameters(model, programmed_parameters(model, PROFILE))
    for name, leaf in twin.named_parameters():  # weights / scale, thresholds, log time constants: bit for bit
        assert torch.equal(leaf, programmed[name].to(leaf.dtype)), name
    on_profile = SNNClassifier(model.config)
    on_profile.load_state_dict({**on_profile.state_dict(), **programmed})
    x = (torch.rand(64, 50, 16, generator=torch.Generator().manual_seed(seed)) < 0.25).float()
    with torch.no_grad():
        h_twin, h_profile = x, x
        for a, b in zip(twin.layers, on_profile.layers):
            h_twin, h_profile = a(h_twin), b(h_profile)
            assert h_twin.sum() > 0 and torch.equal(h_twin, h_profile)  # every spike of every neuron
        assert torch.equal(twin(x), on_profile.eval()(x))


def test_hidden_codes_are_rockpools_per_neuron_channel_quantize():
    """Where no 16-bit register binds, one scale per neuron is ``127 / max|incoming weight|``: Rockpool's own
    ``channel_quantize`` gives the same integer weights and thresholds."""
    model = random_net("leaky", 3)
    mapping = xylo.map_to_xylo(model)
    spec, ids = mapping.spec, [list(i) for i in mapping.hidden_ids]
    f = lambda t: t.detach().double().numpy()  # noqa: E731
    w_in, w_rec = np.zeros((16, 32)), np.zeros((32, 32))
    w_in[:, ids[0]] = f(model.layers[0].weight).T
    w_rec[np.ix_(ids[0], ids[1])] = f(model.layers[1].weight).T
    for layer, i in zip(model.layers, ids):
        w_rec[np.ix_(i, i)] = f(layer.w_rec).T
    threshold = np.zeros(32)
    for layer, i in zip(model.layers, ids):
        threshold[i] = f(layer.threshold)
    ones = np.ones(32)
    q = xylo_tools().channel_quantize(
        weights_in=w_in, weights_rec=w_rec, weights_out=np.zeros((32, 4)), threshold=threshold,
        threshold_out=np.ones(4), dash_mem=ones, dash_mem_out=np.ones(4), dash_syn=ones, dash_syn_2=ones,
        dash_syn_out=np.ones(4), bias=None, bias_out=None)
    assert np.array_equal(np.asarray(q["weights_in"]).reshape(16, 32), spec["weights_in"])
    assert np.array_equal(np.asarray(q["weights_rec"]).reshape(32, 32), spec["weights_rec"])
    assert np.array_equal(np.asarray(q["threshold"]).reshape(32), spec["threshold"])


def xylo_tools():
    from robust_snn.export.samna_shim import import_xylo

    return import_xylo()


def test_a_leaky_readouts_largest_membrane_fits_16_bits_and_is_not_wasted():
    """Positive weights and biases, every input spiking every step: the quantised readout's membrane climbs to
    ``(beta sum|W| / (1 - beta) + |b|) / (1 - alpha)`` with the chip's decays and codes; the output scale keeps
    it a 16-bit code, and not far below (measured on the twin, 3000 steps)."""
    model = random_net("leaky", 4)
    with torch.no_grad():
        model.readout.weight.abs_()
        model.readout.bias.abs_()
    mapping = xylo.map_to_xylo(model)
    ro = xylo.quantised_twin(mapping).readout
    with torch.no_grad():
        peak = ro.membrane(torch.ones(1, 3000, ro.n_in)).amax((0, 1)).double().numpy()
    codes = peak * mapping.out_scale
    assert (codes <= 32767).all() and (codes > 0.9 * 32767).any()


def test_the_chips_limits_are_read_from_its_profile(tmp_path):
    from importlib import resources

    text = resources.files("robust_snn.devices").joinpath("profiles", "xylo-audio2.toml").read_text()
    mine = tmp_path / "small-xylo.toml"
    mine.write_text(text.replace('name = "xylo-audio2"', 'name = "small-xylo"')
                    .replace("output_channels = 8", "output_channels = 3").replace("fan_out = 64", "fan_out = 10"))
    model = SNNClassifier(NetworkConfig(n_in=16, hidden=(12,), n_classes=4, recurrent=True))
    assert xylo.xylo_violations(model) == []
    violations = xylo.xylo_violations(model, profile=mine)
    assert violations == ["output channels: 4 > 3 (Xylo Audio 2)"]
    model3 = SNNClassifier(NetworkConfig(n_in=16, hidden=(12,), n_classes=3, recurrent=True))
    assert xylo.xylo_violations(model3, profile=mine)[0].startswith("hidden fan-out: 12 neuron(s) project to more "
                                                                    "than 10 hidden neurons (largest 11")
