import math

import pytest
import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.readiness.landscape import landscape_1d, landscape_2d
from robust_snn.training import TrainConfig, evaluate, fit, make_method

from conftest import make_pattern_data
from hand_built_data import one_channel_per_class


def test_landscape_passes_through_the_nominal_loss_and_rises_away_from_it():
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(16,), n_classes=3, seed=1))
    data = make_pattern_data(64, seed=0)
    fit(model, data, None, make_method("standard"), TrainConfig(epochs=4, batch_size=16, lr=5e-3), progress=False)
    result = landscape_1d(model, data, alphas=[-2, -1, 0, 1, 2], directions=2, seed=0)
    nominal = evaluate(model, data).loss
    for curve in result.losses:
        assert abs(curve[2] - nominal) < 1e-5
        assert max(curve[0], curve[4]) > curve[2]




def margin_network(common: float) -> SNNClassifier:
    """Hidden neuron c is driven by channel c so hard (weight 5, 4x the threshold in one step) that it fires on
    every step unless a nudge takes ~99% of its weight (both networks get the same nudges); the readout gives
    class k the logit ``(2 + common) r_k + common r_other``. For a sample of class c (``r_c = 1``, ``r_other = 0``)
    the logits are
    ``(2 + common, common)``: the same margin 2 and loss ``log(1 + e^-2)`` for every ``common``, but with a large
    ``common`` the margin is the small difference of two large weights, which relative noise on each moves by
    ``~0.2 alpha common sqrt(2)``: a sharp minimum. ``common = 0``: the margin is one weight of 2, a flat one."""
    model = SNNClassifier(NetworkConfig(n_in=2, hidden=(2,), n_classes=2, seed=0))
    with torch.no_grad():
        model.layers[0].weight.copy_(5.0 * torch.eye(2))
        model.layers[0].bias.zero_()
        model.readout.weight.copy_(2.0 * torch.eye(2) + common)
        model.readout.bias.zero_()
    return model


def test_a_minimum_made_of_cancelling_large_weights_is_sharper_than_the_same_function_with_small_ones():
    data = one_channel_per_class(4, 20)
    flat, sharp = margin_network(0.0), margin_network(20.0)
    nominal = math.log1p(math.exp(-2.0))  # cross-entropy at margin 2, from the construction
    alphas = [-2, -1, 0, 1, 2]
    curves = {}
    for name, model in (("flat", flat), ("sharp", sharp)):
        assert evaluate(model, data).loss == pytest.approx(nominal, rel=1e-5)
        curves[name] = landscape_1d(model, data, alphas=alphas, directions=3, seed=0)
        assert all(curve[2] == pytest.approx(nominal, rel=1e-5) for curve in curves[name].losses)
    # Same directions (same seed and shapes), noise on the readout ~15x larger in logit units: measured ~140x.
    assert curves["sharp"].mean_slope > 10 * curves["flat"].mean_slope


def test_same_seed_same_landscape_and_the_2d_grid_has_its_shape():
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(8,), n_classes=3, seed=1))
    data = make_pattern_data(32, seed=0)
    a = landscape_1d(model, data, alphas=[-1, 0, 1], directions=1, seed=4)
    b = landscape_1d(model, data, alphas=[-1, 0, 1], directions=1, seed=4)
    assert a == b
    alphas, grid = landscape_2d(model, data, alphas=[-1, 0, 1], seed=0)
    assert len(grid) == 3 and all(len(row) == 3 for row in grid)
    assert abs(grid[1][1] - evaluate(model, data).loss) < 1e-5
