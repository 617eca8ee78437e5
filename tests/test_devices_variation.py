"""Mismatch statistics match their parameters: relative Gaussian and log-normal, component by component."""

import math

import pytest
import torch

from robust_snn.config import ConfigError
from robust_snn.devices import LogNormal, MismatchModel, RelativeGaussian, RelativeReadNoise, Variation, load_profile

N = 20_000


def draw(stage, params, families, n_chips=1, seed=0):
    return MismatchModel([stage]).sample(params, families, n_chips, seed=seed)


def test_relative_gaussian_has_mean_theta_and_spread_sigma_theta():
    theta = torch.full((N,), 2.0)
    out = draw(RelativeGaussian(spread={"weights": Variation(synapse=0.2)}), {"w": theta}, {"w": "weights"})["w"][0]
    assert abs(float(out.mean()) - 2.0) < 4 * 0.4 / math.sqrt(N)
    assert float(out.std()) == pytest.approx(0.4, rel=0.03)


def test_the_papers_profiles_perturb_every_family_including_biases():
    names = {"w": "weights", "b": "biases", "tau": "taus", "th": "thresholds", "x": "other"}
    params = {n: torch.full((N,), 0.5) for n in names}
    out = MismatchModel(load_profile("gaussian-30").stages).sample(params, names, 1, seed=0)
    for name in names:
        assert float((out[name][0] / 0.5 - 1).std()) == pytest.approx(0.3, rel=0.04), name


def test_lognormal_log_ratio_has_mean_zero_and_the_total_spread():
    v = Variation(core=0.1, neuron=0.15, synapse=0.05)
    stage = LogNormal(spread={"taus": v}, neurons_per_core=1)
    theta = torch.full((N,), 0.02)
    out = draw(stage, {"tau": theta}, {"tau": "taus"})["tau"][0]
    log_ratio = torch.log(out / theta)
    assert abs(float(log_ratio.mean())) < 4 * v.total / math.sqrt(N)
    assert float(log_ratio.std()) == pytest.approx(v.total, rel=0.03)
    assert bool((out > 0).all())


def test_chip_component_is_shared_by_every_tensor_of_a_family_on_a_chip():
    stage = LogNormal(spread={"weights": Variation(chip=0.3)})
    params = {"a.weight": torch.ones(3, 3), "b.weight": torch.ones(5)}
    out = draw(stage, params, {k: "weights" for k in params}, n_chips=200)
    a, b = out["a.weight"].reshape(200, -1), out["b.weight"]
    assert torch.allclose(a, a[:, :1].expand_as(a)) and torch.allclose(a[:, 0], b[:, 0])
    assert float(torch.log(a[:, 0]).std()) == pytest.approx(0.3, rel=0.15)


def test_neuron_component_is_shared_along_a_neurons_row_and_core_component_by_its_core():
    params = {"l.weight": torch.ones(N // 100, 100)}
    neuron = draw(LogNormal(spread={"weights": Variation(neuron=0.2)}), params, {"l.weight": "weights"})["l.weight"][0]
    assert torch.allclose(neuron, neuron[:, :1].expand_as(neuron))
    assert float(torch.log(neuron[:, 0]).std()) == pytest.approx(0.2, rel=0.15)
    core = draw(LogNormal(spread={"weights": Variation(core=0.2)}, neurons_per_core=50), params,
                {"l.weight": "weights"})["l.weight"][0]
    assert torch.allclose(core[:50], core[0].expand(50, 100)) and not torch.allclose(core[0], core[50])


def test_families_not_listed_are_left_exact():
    params = {"w": torch.ones(10), "tau": torch.ones(10)}
    out = draw(LogNormal(spread={"weights": Variation(synapse=0.5)}), params, {"w": "weights", "tau": "taus"})
    assert torch.equal(out["tau"][0], params["tau"]) and not torch.equal(out["w"][0], params["w"])


def test_gaussian_never_makes_a_time_constant_or_threshold_non_positive():
    params = {"tau": torch.full((N,), 0.05), "th": torch.ones(N), "beta": torch.full((N,), 0.95)}
    families = {"tau": "taus", "th": "thresholds", "beta": "decays"}
    out = draw(RelativeGaussian(spread={"default": Variation(synapse=0.7)}), params, families)
    assert float(out["tau"].min()) == pytest.approx(0.01 * 0.05) and float(out["th"].min()) == pytest.approx(0.01)
    assert 0 <= float(out["beta"].min()) and float(out["beta"].max()) <= 1


def test_read_noise_has_the_given_relative_spread_per_inference():
    model = MismatchModel([RelativeReadNoise(sigma={"weights": 0.1})])
    chip = model.chips({"w": torch.ones(N)}, {"w": "weights"}, [0], seed=0)[0]
    reads = torch.stack([model.read(chip, 0, 0, draw=d)["w"] for d in range(3)])
    assert float(reads.std(1).mean()) == pytest.approx(0.1, rel=0.03)


def test_negative_spreads_and_unknown_families_are_refused_naming_the_field():
    with pytest.raises(ConfigError, match=r"x\.spread\.taus.*neuron must be a finite number >= 0"):
        LogNormal.from_dict({"spread": {"taus": {"neuron": -0.1}}}, "x")
    with pytest.raises(ConfigError, match="spread has unknown families \\['tau'\\]"):
        LogNormal.from_dict({"spread": {"tau": {"neuron": 0.1}}}, "x")
