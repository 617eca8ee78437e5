"""Each grade of the score card on a network built by hand so that the grade is known before it is measured.

The networks (2 inputs, 2 hidden LIF neurons, 2 classes, set by hand) hear one input channel per class: hidden
neuron c hears only channel c, with weight 5 (4x its threshold in the first step: it fires on every step), and
fires for class c alone. The profile is ``gaussian-10`` (every value times ``1 + 0.1 z``): it keeps every zero at
zero, no value can change sign (z < -10) and no hidden neuron can fall silent, so:

- *robust*: readout weights the identity, biases 0. The true class's logit is ``W_cc r_c > 0`` and the other's is
  exactly 0 on every chip: every chip scores 100%, the yield is n of n, and its exact 95% interval is
  ``[0.025^(1/n), 1]`` (Clopper-Pearson at k = n). Against the 0.95 target: ``marginal`` at 12 chips (low 0.74),
  ``ready`` at 80 (low 0.955).
- *fragile*: readout biases (20, 20) against a margin ``r <= 1``: 10% mismatch on them (sd 2 each) flips a
  class's answer when ``2 (z_other - z_true) > r``, about one time in three, so most chips miss the spec
  (0.95 x 100%) and the grade is ``not-ready``.
"""

import pytest
import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.readiness.scorecard import EnsembleSettings, Scored, score_card

from hand_built_data import one_channel_per_class




def hand_built(readout_bias: float) -> SNNClassifier:
    model = SNNClassifier(NetworkConfig(n_in=2, hidden=(2,), n_classes=2, seed=0))
    with torch.no_grad():
        model.layers[0].weight.copy_(5.0 * torch.eye(2))
        model.layers[0].bias.zero_()
        model.readout.weight.copy_(torch.eye(2))
        model.readout.bias.fill_(readout_bias)
    return model


def card(model, n_chips):
    return score_card(Scored(model, one_channel_per_class(8, 30)), "gaussian-10",
                      EnsembleSettings(n_chips=n_chips, seed=0)).to_dict()


@pytest.mark.parametrize("n_chips, grade", [(12, "marginal"), (80, "ready")])
def test_a_network_no_chip_can_break_is_marginal_on_few_chips_and_ready_on_enough(n_chips, grade):
    scored = card(hand_built(0.0), n_chips)
    assert scored["nominal_accuracy"] == 1.0 and scored["per_chip_accuracy"] == [1.0] * n_chips
    assert scored["yield_ci95"] == pytest.approx([0.025 ** (1 / n_chips), 1.0])
    assert scored["target_yield"] == 0.95 and scored["fits_device"] and scored["above_chance"]
    assert scored["grade"] == grade


def test_a_network_whose_biases_decide_is_not_ready():
    scored = card(hand_built(20.0), 12)
    assert scored["nominal_accuracy"] == 1.0  # the margin r > 0 decides on the nominal chip
    assert scored["yield_ci95"][1] < 0.95
    assert scored["grade"] == "not-ready"
