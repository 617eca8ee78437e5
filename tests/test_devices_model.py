"""Mismatch models as pipelines: deterministic, chip by chip, and in the order a chip is made."""

import pytest
import torch

from robust_snn.config import ConfigError
from robust_snn.core import NetworkConfig, SNNClassifier, parameter_families, physical_parameters
from robust_snn.devices import (
    ConductanceMap,
    LogNormal,
    MismatchModel,
    ProgrammingNoise,
    RelativeGaussian,
    RelativeReadNoise,
    SharedLevels,
    StuckAtFaults,
    Variation,
    load_profile,
    sample_chips,
)


@pytest.fixture
def net():
    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3, recurrent=True, seed=2))
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    return params, parameter_families(model)


def lognormal(sigma=0.2):
    return LogNormal(spread={"default": Variation(chip=0.1, core=0.1, neuron=sigma, synapse=sigma)},
                     neurons_per_core=2)


def test_chips_have_a_leading_chip_axis(net):
    params, families = net
    chips = MismatchModel([lognormal()]).sample(params, families, 5, seed=0)
    assert set(chips) == set(params)
    assert all(chips[k].shape == (5, *params[k].shape) for k in params)


def test_same_seed_gives_the_same_chips_and_another_seed_other_chips(net):
    params, families = net
    model = MismatchModel([lognormal()])
    a, b = model.sample(params, families, 4, seed=7), model.sample(params, families, 4, seed=7)
    c = model.sample(params, families, 4, seed=8)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.allclose(a["layers.0.weight"], c["layers.0.weight"])


@pytest.mark.parametrize("profile", ["gaussian-20", "dynapse2", "rram", "pcm"])
def test_chip_k_is_the_same_alone_or_among_many(net, profile):
    params, families = net
    many = sample_chips(params, families, profile, 40, seed=3)
    alone = sample_chips(params, families, profile, 1, seed=3, first_chip=29)
    assert all(torch.equal(many[k][29], alone[k][0]) for k in params)


@pytest.mark.parametrize("pipeline", [
    [lognormal()],
    [RelativeGaussian(spread={"weights": Variation(neuron=0.1, synapse=0.2), "taus": Variation(chip=0.05, core=0.1),
                              "default": Variation(neuron=0.02)}, neurons_per_core=4), lognormal(0.1)],
    "dynapse2", "gaussian-20", "rram",
], ids=["lognormal", "gaussian-then-lognormal", "dynapse2", "gaussian-20", "rram-crossbars"])
def test_all_chips_at_once_are_the_chips_one_by_one(net, pipeline, monkeypatch):
    """fabricate_chips (the draws per chip, the arithmetic once on the stacked values) gives each chip's
    fabricate() exactly; a pipeline with crossbars goes chip by chip (and must give the same too)."""
    params, families = net
    model = load_profile(pipeline).mismatch_model() if isinstance(pipeline, str) else MismatchModel(pipeline)
    programmed = model.program(params, families, dt=1e-3)
    one_by_one = [model.fabricate(programmed, k, 11).materialise() for k in (3, 4, 5, 9)]
    chip_by_chip = []
    fabricate = model.fabricate
    monkeypatch.setattr(model, "fabricate", lambda *a: chip_by_chip.append(a[1]) or fabricate(*a))
    at_once = model.fabricate_chips(programmed, [3, 4, 5, 9], 11)
    assert set(at_once) == set(params)
    for k in params:
        assert torch.equal(at_once[k], torch.stack([chip[k] for chip in one_by_one])), k
    assert any(not torch.equal(at_once[k][0], at_once[k][1]) for k in params)  # the chips differ
    assert chip_by_chip == ([3, 4, 5, 9] if pipeline == "rram" else [])


def test_different_chips_differ(net):
    params, families = net
    chips = MismatchModel([lognormal()]).sample(params, families, 2, seed=0)
    assert not torch.allclose(chips["layers.0.weight"][0], chips["layers.0.weight"][1])


def test_adding_a_read_stage_does_not_change_the_fabricated_chip(net):
    params, families = net
    base = [lognormal()]
    with_read = [*base, RelativeReadNoise(sigma={"weights": 0.05})]
    a = MismatchModel(base).sample(params, families, 3, seed=1)
    b = MismatchModel(with_read).sample(params, families, 3, seed=1)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_read_noise_is_fresh_per_draw_and_reproducible(net):
    params, families = net
    model = MismatchModel([RelativeReadNoise(sigma={"weights": 0.05})])
    chip = model.chips(params, families, [0], seed=0)[0]
    first, again = model.read(chip, 0, seed=0, draw=0), model.read(chip, 0, seed=0, draw=0)
    other = model.read(chip, 0, seed=0, draw=1)
    assert torch.equal(first["layers.0.weight"], again["layers.0.weight"])
    assert not torch.equal(first["layers.0.weight"], other["layers.0.weight"])
    assert torch.equal(first["layers.0.tau_mem"], params["layers.0.tau_mem"])


def test_noise_then_quantise_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match=r"stages\[1\] \('shared_levels'.*program.*then mismatch"):
        MismatchModel([lognormal(), SharedLevels(bits=3)])


def test_quantise_then_noise_differs_from_noise_then_quantise(net):
    params, families = net
    stages = [SharedLevels(bits=2, neurons_per_core=2), lognormal(0.3)]
    programmed_first = MismatchModel(stages).sample(params, families, 1, seed=0)
    noise_first = MismatchModel(stages[::-1], check_order=False).sample(params, families, 1, seed=0)
    assert not torch.allclose(programmed_first["layers.0.weight"], noise_first["layers.0.weight"])


def test_crossbar_stages_need_a_conductance_map_first():
    with pytest.raises(ConfigError, match="needs one of \\['conductance_map'\\]"):
        MismatchModel([ProgrammingNoise()])


def test_faults_must_follow_programming_noise():
    with pytest.raises(ConfigError, match="must come after \\['programming_noise'\\]"):
        MismatchModel([ConductanceMap(), StuckAtFaults(rate_on=0.1), ProgrammingNoise()])


def test_parameter_mismatch_on_weights_already_in_a_crossbar_is_refused():
    gaussian = RelativeGaussian(spread={"weights": Variation(synapse=0.1)})
    with pytest.raises(ConfigError, match="already placed in a crossbar"):
        MismatchModel([ConductanceMap(), gaussian])


def test_a_profile_builds_its_pipeline_in_file_order():
    kinds = [s.kind for s in load_profile("pcm").mismatch_model().stages]
    assert kinds == ["conductance_map", "programming_noise", "stuck_at_faults", "power_law_drift",
                     "drift_compensation", "read_noise_1f"]
