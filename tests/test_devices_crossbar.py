"""Memristive crossbars: conductance mapping, programming noise, faults, drift law, compensation, read noise."""

import math

import pytest
import torch

from robust_snn.config import ConfigError
from robust_snn.devices import (
    ConductanceMap,
    ConstantReadNoise,
    DriftCompensation,
    MismatchModel,
    PowerLawDrift,
    ProgrammingNoise,
    ReadNoise1f,
    Relaxation,
    StuckAtFaults,
)

N = 40_000


def chip(stages, weight, seed=0):
    return MismatchModel(stages).chips({"w": weight}, {"w": "weights"}, [0], seed)[0]


def uniform_weights(n=N, low=-1.0, high=1.0):
    return torch.linspace(low, high, n)


def test_without_noise_a_crossbar_returns_the_weights():
    w = torch.randn(30, 20)
    assert torch.allclose(chip([ConductanceMap(g_min=1.0, g_max=25.0)], w).materialise()["w"], w, atol=1e-6)


def test_differential_pairs_stay_within_g_min_g_max_with_one_device_at_g_min():
    x = chip([ConductanceMap(g_min=2.0, g_max=20.0)], torch.randn(100)).crossbars["w"]
    for g in (x.g_pos, x.g_neg):
        assert float(g.min()) >= 2.0 and float(g.max()) <= 20.0
    assert bool(((x.g_pos == 2.0) | (x.g_neg == 2.0)).all())


def test_finite_levels_hit_exactly_the_allowed_conductances():
    x = chip([ConductanceMap(g_min=0.0, g_max=30.0, levels=7)], torch.randn(500)).crossbars["w"]
    allowed = torch.linspace(0.0, 30.0, 7, dtype=x.g_pos.dtype)
    for g in (x.g_pos, x.g_neg):
        assert bool(torch.isclose(g[:, None], allowed[None]).any(1).all())


def test_programming_noise_spread_follows_the_polynomial_in_x():
    stage = ProgrammingNoise(coeffs_uS=(0.26348, 1.9650, -1.1731), g_ref_uS=25.0)
    x = chip([ConductanceMap(g_max=25.0), stage], torch.full((N,), 0.5)).crossbars["w"]  # g_pos target = 25
    assert float((x.g_pos - 25.0).std()) == pytest.approx(0.26348 + 1.9650 - 1.1731, rel=0.03)
    # the negative device's target is 0 uS; noise below 0 is clipped: mean of max(sigma N, 0) = sigma / sqrt(2 pi)
    assert float(x.g_neg.mean()) == pytest.approx(0.26348 / math.sqrt(2 * math.pi), rel=0.05)


def test_stuck_at_fault_rates_are_visible_in_the_devices():
    stages = [ConductanceMap(g_min=1.0, g_max=25.0), StuckAtFaults(rate_on=0.02, rate_off=0.05)]
    w = torch.full((N,), 0.3)
    w[0] = 1.0  # sets the scale: the other targets lie strictly inside (g_min, g_max)
    x = chip(stages, w).crossbars["w"]
    g, stuck = x.g_pos[1:], x.stuck_pos[1:]
    on, off = (g == 25.0).double().mean(), (g == 1.0).double().mean()
    tol = 4 * math.sqrt(0.05 * 0.95 / N)
    assert abs(float(on) - 0.02) < tol and abs(float(off) - 0.05) < tol
    assert torch.equal(stuck, (g == 25.0) | (g == 1.0))


def test_drift_follows_the_power_law_with_the_fitted_exponent():
    drift = PowerLawDrift(age_s=3600.0, t0_s=20.0)
    x = chip([ConductanceMap(g_max=25.0), drift], torch.full((N,), 0.4)).crossbars["w"]  # g_pos target = 25
    nu = -torch.log(x.g_pos / x.target_pos) / math.log((3600.0 + 20.0) / 20.0)
    mean, std = drift.nu_moments(torch.tensor(25.0, dtype=torch.float64), 25.0)
    assert float(mean) == pytest.approx(0.049) and float(std) == pytest.approx(0.008)  # aihwkit's law at x = 1
    assert float(nu.mean()) == pytest.approx(0.049, rel=0.01) and float(nu.std()) == pytest.approx(0.008, rel=0.05)


def test_lower_conductances_drift_faster_as_in_the_pcm_fit():
    drift = PowerLawDrift()
    means = [float(drift.nu_moments(torch.tensor(g, dtype=torch.float64), 25.0)[0]) for g in (1.0, 5.0, 25.0)]
    assert means[0] > means[1] > means[2]


def test_drift_compensation_restores_the_total_conductance_difference():
    stages = [ConductanceMap(), PowerLawDrift(age_s=1e6), DriftCompensation()]
    state = chip(stages, torch.randn(200))
    uncompensated = chip(stages[:2], torch.randn(200))
    x = state.crossbars["w"]
    assert float(x.gain) > 1
    assert float(((x.g_pos - x.g_neg) * x.gain).abs().sum()) == pytest.approx(
        float((x.reference_pos - x.reference_neg).abs().sum()), rel=1e-9)
    assert uncompensated.crossbars["w"].gain == 1.0


def test_relaxation_spreads_devices_by_the_fit_at_that_age():
    coeffs = (0.701, 22.086, -50.773, 47.095, -16.458)
    stages = [ConductanceMap(g_max=40.0), Relaxation(age_s=86400.0, coeffs_uS=coeffs, g_ref_uS=40.0)]
    x = chip(stages, torch.full((N,), 0.7)).crossbars["w"]  # g_pos target = 40 -> x = 1
    assert float((x.g_pos - 40.0).std()) == pytest.approx(sum(coeffs), rel=0.03)


def test_1f_read_noise_has_the_aihwkit_spread_and_is_fresh_per_read():
    stages = [ConductanceMap(g_max=25.0), PowerLawDrift(age_s=86400.0, scale=0.0), ReadNoise1f()]
    model = MismatchModel(stages)
    state = model.chips({"w": torch.full((N,), 0.5)}, {"w": "weights"}, [0], 0)[0]
    reads = [model.read(state, 0, 0, draw=d)["w"] for d in range(2)]
    t = 86400.0 + 20.0
    expected = 0.0088 * math.sqrt(math.log((t + 250e-9) / (2 * 250e-9)))  # x = 1 on the positive device
    assert float((reads[0] / 0.5 - 1).std()) == pytest.approx(expected, rel=0.05)
    assert not torch.equal(reads[0], reads[1])


def test_constant_read_noise_is_sigma_times_g_max_per_device():
    model = MismatchModel([ConductanceMap(g_max=10.0), ConstantReadNoise(sigma_rel=0.02)])
    state = model.chips({"w": torch.full((N,), 1.0)}, {"w": "weights"}, [0], 0)[0]
    w = model.read(state, 0, 0, draw=0)["w"]
    g_diff = w / state.crossbars["w"].w_per_uS
    # g_pos = 10 + s N; g_neg = max(s N', 0) (its target is 0): var = s^2 (1 + 1/2 - 1/(2 pi))
    assert float(g_diff.std()) == pytest.approx(0.02 * 10.0 * math.sqrt(1.5 - 1 / (2 * math.pi)), rel=0.05)


def test_bad_crossbar_figures_name_the_field():
    with pytest.raises(ConfigError, match=r"p\.stages\[0\]: g_max must be > g_min"):
        ConductanceMap.from_dict({"g_min": 5.0, "g_max": 1.0}, "p.stages[0]")
    with pytest.raises(ConfigError, match=r"rate_on must be a probability in \[0, 1\], got -0.1"):
        StuckAtFaults.from_dict({"rate_on": -0.1}, "p")
    with pytest.raises(ConfigError, match=r"nu_mean must be four numbers"):
        PowerLawDrift.from_dict({"nu_mean": [1.0, 2.0]}, "p")
