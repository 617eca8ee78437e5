"""Quantisers hit exactly the levels a chip can store."""

import math

import pytest
import torch

from robust_snn.config import ConfigError
from robust_snn.core import NetworkConfig, SNNClassifier, functional_forward, parameter_families, physical_parameters
from robust_snn.devices import BitShiftDecay, IntegerQuantiser, MismatchModel, SharedLevels, load_profile


@pytest.fixture
def net():
    model = SNNClassifier(NetworkConfig(n_in=5, hidden=(7,), n_classes=3, recurrent=True, seed=4)).eval()
    return model, {k: v.detach() for k, v in physical_parameters(model).items()}, parameter_families(model)


def programmed(stage, params, families, dt=0.01):
    return MismatchModel([stage]).program(params, families, dt=dt).materialise()


@pytest.mark.parametrize("scope", ["module", "neuron"])
def test_integer_weights_and_thresholds_are_codes_times_one_scale(net, scope):
    _, params, families = net
    quantiser = IntegerQuantiser(weight_bits=8, threshold_bits=16, scope=scope)
    out = programmed(quantiser, params, families)
    for name, (codes, scale) in quantiser.integer_codes(params, families).items():
        assert torch.allclose(out[name] * scale, codes.to(out[name].dtype), atol=1e-3), name
        bits = 16 if families[name] == "thresholds" else 8
        assert int(codes.abs().max()) <= 2 ** (bits - 1) - 1
    w_codes, _ = quantiser.integer_codes(params, families)["layers.0.weight"]
    assert int(w_codes.abs().max()) == 127  # the largest weight uses the full range


def test_a_modules_weights_and_threshold_share_the_scale_so_scaling_changes_nothing(net):
    model, params, families = net
    scaled = {k: v * 3.0 if families[k] in ("weights", "biases", "thresholds") and k.startswith("layers") else v
              for k, v in params.items()}
    quantiser = IntegerQuantiser()
    a, b = programmed(quantiser, params, families), programmed(quantiser, scaled, families)
    x = torch.randn(4, 20, 5) * 3
    assert torch.allclose(functional_forward(model, a, x), functional_forward(model, b, x), atol=1e-5)


def test_bit_shift_decays_are_exactly_one_minus_a_power_of_two(net):
    _, params, families = net
    taus = {"tau": torch.tensor([0.005, 0.011, 0.02, 0.027, 0.05, 0.1, 1.0, 1e4])}
    out = programmed(BitShiftDecay(dash_bits=4), taus, {"tau": "taus"}, dt=0.01)["tau"].double()
    alpha = torch.exp(-0.01 / out)
    dash = torch.round(-torch.log2(1 - alpha))
    assert torch.allclose(alpha, 1 - 2.0 ** -dash, atol=1e-6)
    # round(-log2(1 - exp(-dt / tau))), clipped to 1..15; by hand: 0.210, 0.744, 1.35, 1.69 (27 ms: Rockpool's
    # round(log2(tau / dt)) says 1), 2.46, 3.39, 6.65, 15
    assert dash.tolist() == [1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 7.0, 15.0]


def test_decay_factors_map_to_the_nearest_bit_shift_too():
    out = programmed(BitShiftDecay(), {"beta": torch.tensor([0.9, 0.5, 0.99])}, {"beta": "decays"}, dt=None)
    assert out["beta"].tolist() == pytest.approx([1 - 2**-3, 1 - 2**-1, 1 - 2**-7])  # -log2(1 - d): 3.32, 1, 6.64


def test_shift_zero_clears_the_state_when_the_profile_allows_it():
    out = programmed(BitShiftDecay(dash_min=0), {"tau": torch.tensor([0.005, 0.012])}, {"tau": "taus"}, dt=0.01)
    assert torch.exp(-0.01 / out["tau"]).tolist() == pytest.approx([0.0, 0.5])  # shifts 0 (d* 0.210) and 1


def test_the_output_scale_keeps_a_leaky_readouts_membrane_in_its_state_bits():
    """A readout (weights, bias, time constants, no threshold) with one input: V_max = (beta w / (1 - beta) + b)
    / (1 - alpha) with alpha = beta = 1/2 is 2 w + 2 b = 3 for w = 1, b = 0.5; with 8 state bits (127) and half a
    code of rounding on each (V_1 / 2 = (2 + 2) / 2 = 2): s = (127 - 2) / 3 = 41.667 -- below the weights' 127."""
    tau = torch.tensor([-0.01 / math.log(0.5)])
    params = {"ro.weight": torch.ones(1, 1), "ro.bias": torch.tensor([0.5]), "ro.tau_mem": tau, "ro.tau_syn": tau}
    families = {"ro.weight": "weights", "ro.bias": "biases", "ro.tau_mem": "taus", "ro.tau_syn": "taus"}
    quantiser = IntegerQuantiser(weight_bits=8, bias_bits=8, state_bits=8, scope="neuron")
    assert float(quantiser.scales(params, families, dt=0.01)["ro"]) == pytest.approx(125 / 3, rel=1e-5)
    assert float(IntegerQuantiser(scope="neuron").scales(params, families, dt=0.01)["ro"]) == pytest.approx(127)


def test_time_constants_need_the_time_step():
    with pytest.raises(ValueError, match="needs the model's time step dt"):
        programmed(BitShiftDecay(), {"tau": torch.ones(2)}, {"tau": "taus"}, dt=None)


def test_shared_levels_give_each_core_at_most_2_to_the_bits_magnitudes():
    w = torch.randn(8, 50, generator=torch.Generator().manual_seed(0))
    out = programmed(SharedLevels(bits=3, neurons_per_core=4), {"w": w}, {"w": "weights"})["w"]
    for core in (out[:4], out[4:]):
        step = float(core.abs().max()) / 7
        assert len(core.abs().unique()) <= 8
        assert torch.allclose(core.abs() / step, torch.round(core.abs() / step), atol=1e-4)
    assert torch.equal(torch.sign(out)[out != 0], torch.sign(w)[out != 0])


def test_the_xylo_profile_is_deterministic_quantisation_only(net):
    model, params, families = net
    chips = MismatchModel(load_profile("xylo-audio2").stages).sample(params, families, 3, seed=0, dt=0.01)
    assert all(torch.equal(v[0], v[2]) for v in chips.values())
    assert not torch.equal(chips["layers.0.tau_mem"][0], params["layers.0.tau_mem"])


def test_bad_quantiser_settings_name_the_field():
    with pytest.raises(ConfigError, match=r"q\.stages: weight_bits must be an integer in \[2, 32\], got 1"):
        IntegerQuantiser.from_dict({"weight_bits": 1}, "q.stages")
    with pytest.raises(ConfigError, match=r"q\.bits must be an integer, got 'four'"):
        SharedLevels.from_dict({"bits": "four"}, "q")
