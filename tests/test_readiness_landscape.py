import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.readiness.landscape import landscape_1d, landscape_2d
from robust_snn.training import TrainConfig, evaluate, fit, make_method

from conftest import make_pattern_data


def test_landscape_passes_through_the_nominal_loss_and_rises_away_from_it():
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(16,), n_classes=3, seed=1))
    data = make_pattern_data(64, seed=0)
    fit(model, data, None, make_method("standard"), TrainConfig(epochs=4, batch_size=16, lr=5e-3), progress=False)
    result = landscape_1d(model, data, alphas=[-2, -1, 0, 1, 2], directions=2, seed=0)
    nominal = evaluate(model, data).loss
    for curve in result.losses:
        assert abs(curve[2] - nominal) < 1e-5
        assert max(curve[0], curve[4]) > curve[2]
    assert result.mean_slope > 0


def test_same_seed_same_landscape_and_the_2d_grid_has_its_shape():
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(8,), n_classes=3, seed=1))
    data = make_pattern_data(32, seed=0)
    a = landscape_1d(model, data, alphas=[-1, 0, 1], directions=1, seed=4)
    b = landscape_1d(model, data, alphas=[-1, 0, 1], directions=1, seed=4)
    assert a == b
    alphas, grid = landscape_2d(model, data, alphas=[-1, 0, 1], seed=0)
    assert len(grid) == 3 and all(len(row) == 3 for row in grid)
    assert abs(grid[1][1] - evaluate(model, data).loss) < 1e-5
