"""The grade never calls a model `ready` that is not clearly better than chance, and the card says what its
spec is relative to. References: scipy's exact binomial interval and label counts made here."""

import pytest
import torch
from scipy.stats import binomtest
from torch.utils.data import TensorDataset

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.readiness.scorecard import EnsembleSettings, Scored, SpecRule, score_card
from robust_snn.readiness.statistics import clearly_above_chance, grade, majority_rate


def chance_model() -> SNNClassifier:
    """A network that has learnt nothing: zero readout weights and biases give equal logits for every input,
    so it always answers class 0, on every chip (relative mismatch of zero is zero)."""
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(6,), n_classes=3, seed=0))
    with torch.no_grad():
        model.readout.weight.zero_()
        model.readout.bias.zero_()
    return model


def unbalanced_data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0] * 30 + [1] * 50 + [2] * 40)
    return TensorDataset(torch.randn(len(y), 12, 8, generator=g), y)


def test_a_model_at_chance_is_never_ready_even_with_the_default_relative_spec():
    data = unbalanced_data()
    card = score_card(Scored(chance_model(), data), "gaussian-10", EnsembleSettings(n_chips=80, seed=0)).to_dict()
    assert card["nominal_accuracy"] == pytest.approx(30 / 120)  # always class 0
    # Every chip equals nominal, so the relative spec (0.95 x nominal) passes all 80 chips: without the chance
    # floor this card would grade `ready`.
    assert card["yield"] == 1.0 and card["yield_ci95"][0] >= card["target_yield"] and card["fits_device"]
    counts = torch.bincount(data.tensors[1])
    assert card["chance_accuracy"] == pytest.approx(float(counts.max()) / len(data))  # majority class: 50/120
    assert card["above_chance"] is False
    assert card["grade"] == "not-ready"


def test_the_card_states_what_the_spec_is_relative_to():
    data = unbalanced_data()
    two = EnsembleSettings(n_chips=2, seed=0)
    relative = score_card(Scored(chance_model(), data), "gaussian-10", two, SpecRule(relative=0.9)).to_dict()
    assert relative["spec_reference"] == "programmed_nominal"
    assert relative["spec_reference_accuracy"] == relative["nominal_accuracy"]
    assert relative["spec"] == pytest.approx(0.9 * relative["nominal_accuracy"])
    absolute = score_card(Scored(chance_model(), data), "gaussian-10", two, SpecRule(absolute=0.1)).to_dict()
    assert absolute["spec_reference"] == "absolute" and absolute["spec_reference_accuracy"] is None
    assert absolute["grade"] == "not-ready"  # an absolute spec below chance does not rescue it either


@pytest.mark.parametrize("accuracy, n, chance", [(0.60, 100, 0.5), (0.70, 100, 0.5), (0.13, 800, 0.125),
                                                 (0.30, 400, 0.125), (1.0, 5, 0.5), (0.0, 10, 0.1)])
def test_above_chance_means_the_exact_interval_excludes_chance(accuracy, n, chance):
    above, (low, high) = clearly_above_chance(accuracy, n, chance)
    reference = binomtest(round(accuracy * n), n).proportion_ci(0.95, method="exact")
    assert (low, high) == pytest.approx((reference.low, reference.high))
    assert above == (reference.low > chance)


def test_majority_rate_counts_the_most_frequent_class():
    assert majority_rate([2, 2, 1, 0, 2, 1]) == pytest.approx(3 / 6)
    assert majority_rate([0, 1, 2, 3]) == pytest.approx(1 / 4)


def test_grade_refuses_ready_and_marginal_below_chance():
    assert grade((0.97, 1.0), 0.95, True, above_chance=True) == "ready"
    assert grade((0.97, 1.0), 0.95, True, above_chance=False) == "not-ready"
    assert grade((0.90, 0.99), 0.95, True, above_chance=True) == "marginal"
    assert grade((0.90, 0.99), 0.95, True, above_chance=False) == "not-ready"
