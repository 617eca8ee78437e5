"""The score card's diagnosis and advice (robust_snn.readiness.advice): cards built by hand with a known cause.

References are independent of the code under test: the yield intervals come from scipy's exact binomial test,
the widest layer from the fan-in arithmetic written out here, the ranking from the rule in the module's
docstring.
"""

import shlex

import pytest
from scipy.stats import binomtest

from robust_snn.readiness.advice import advise, diagnose, max_hidden, with_advice


def card(**over):
    """A not-ready card of a 16 -> 48 recurrent network on dynapse2 whose only problem is the chip spread."""
    base = {
        "model": "m.rsnn", "data": "synth-kws", "device": "dynapse2", "n_chips": 100, "seed": 0,
        "float_accuracy": 0.71, "nominal_accuracy": 0.70, "mean_accuracy": 0.67, "p5_accuracy": 0.62,
        "min_accuracy": 0.58, "spec": 0.665, "spec_rule": "0.95 x nominal_accuracy",
        "per_chip_accuracy": [0.58 + 0.001 * i for i in range(100)],
        "yield": 0.40, "yield_ci95": [0.30, 0.50], "target_yield": 0.95,
        "worst_case_accuracy": 0.69, "worst_case_eps": {"weights": 0.15},
        "fits_device": True, "violations": [], "grade": "not-ready",
        "chance_accuracy": 0.125, "above_chance": True,
        "resources": {"used": {"neurons": 48, "fan_in": 63, "input_channels": 16, "output_channels": 8,
                               "recurrent": True},
                      "limits": {"neurons": 1024, "fan_in": 64, "recurrent": True}},
        "training": {"method": "standard", "epochs": 12, "best_epoch": 9},
    }
    base.update(over)
    return base


def causes(c):
    return [d["cause"] for d in diagnose(c)]


def actions(c):
    return [a["action"] for a in advise(c)]


def exact_ci(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return ci.low, ci.high


def test_a_ready_card_gets_no_diagnosis_and_no_advice():
    ready = card(grade="ready", p5_accuracy=0.68)
    assert diagnose(ready) == [] and advise(ready) == []
    assert with_advice(ready)["advice"] == []


def test_a_too_wide_spread_is_named_with_p5_against_the_spec():
    found = {d["cause"]: d for d in diagnose(card())}
    assert "spread" in found and "resources" not in found and "undecided" not in found
    assert "0.620" in found["spread"]["summary"] and "0.665" in found["spread"]["summary"]
    assert found["spread"]["shortfall"] == pytest.approx(0.665 - 0.62)


def test_spread_advice_starts_with_device_aware_training_for_this_profile_as_a_command():
    first = advise(card())[0]
    assert first["action"] == "device-aware-training" and first["rank"] == 1
    words = shlex.split(first["command"])
    assert words[:2] == ["robust-snn", "train"]
    assert words[words.index("--device") + 1] == "dynapse2" and words[words.index("--method") + 1] == "adversarial"
    assert words[words.index("--data") + 1] == "synth-kws" and words[words.index("--hidden") + 1] == "48"
    assert actions(card()).index("tune") == 1


def test_a_model_already_trained_for_this_device_is_told_to_tune_before_retraining_alike():
    trained = card(training={"method": "adversarial", "device": "dynapse2", "epochs": 12, "best_epoch": 8})
    order = actions(trained)
    assert order.index("tune") < order.index("device-aware-training")


def test_a_resource_violation_comes_first_with_the_widest_layer_the_fan_in_holds():
    over = card(fits_device=False, violations=["fan_in: 79 > 64"], grade="not-ready",
                resources={"used": {"neurons": 63, "fan_in": 79, "input_channels": 16, "recurrent": True},
                           "limits": {"fan_in": 64, "neurons": 1024}})
    assert causes(over)[0] == "resources" and "fan_in: 79 > 64" in diagnose(over)[0]["summary"]
    first = advise(over)[0]
    assert first["action"] == "fit-device"
    words = shlex.split(first["command"])
    assert words[words.index("--hidden") + 1] == str(64 - 16 + 1)  # recurrent: n_in + hidden - 1 inputs per neuron


def test_max_hidden_is_the_fan_in_arithmetic():
    assert max_hidden(card()) == 64 - 16 + 1  # 16 inputs + 48 other hidden neurons (no self-connection) = 64


def test_max_hidden_is_the_widest_network_the_resource_check_accepts():
    """A hand-built 16 -> max_hidden recurrent network fits DYNAP-SE2's fan-in; one neuron more does not."""
    from robust_snn.core.network import NetworkConfig, SNNClassifier
    from robust_snn.devices import load_profile
    from robust_snn.devices.limits import resource_violations

    limits = load_profile("dynapse2").limits
    widest = max_hidden(card(resources={"used": {"input_channels": 16, "recurrent": True},
                                        "limits": {"fan_in": limits.fan_in, "neurons": limits.neurons}}))
    fits = SNNClassifier(NetworkConfig(n_in=16, hidden=(widest,), n_classes=8, recurrent=True))
    wider = SNNClassifier(NetworkConfig(n_in=16, hidden=(widest + 1,), n_classes=8, recurrent=True))
    assert resource_violations(fits, limits) == []
    assert any("fan_in" in v for v in resource_violations(wider, limits))
    feed_forward = card(resources={"used": {"neurons": 30, "input_channels": 16, "recurrent": False},
                                   "limits": {"fan_in": 63, "neurons": 40}})
    assert max_hidden(feed_forward) == 40  # min(fan_in of the readout = hidden <= 63, neurons <= 40)
    assert max_hidden(card(resources={"used": {"neurons": 48}, "limits": {}})) is None


def test_a_marginal_card_above_target_asks_first_for_the_chips_that_decide():
    marginal = card(grade="marginal", yield_=None, p5_accuracy=0.67, spec=0.66, **{"yield": 0.97},
                    yield_ci95=list(exact_ci(97, 100)), n_chips=100)
    assert "undecided" in causes(marginal)
    first = advise(marginal)[0]
    assert first["action"] == "more-chips"
    words = shlex.split(first["command"])
    n = int(words[words.index("--chips") + 1])
    assert n > 100 and exact_ci(round(0.97 * n), n)[0] >= 0.95  # scipy: that many chips decide
    assert words[words.index("--spec-relative") + 1] == "0.95"


def test_a_marginal_card_below_target_asks_for_chips_after_the_model_fixes():
    marginal = card(grade="marginal", **{"yield": 0.93}, yield_ci95=list(exact_ci(93, 100)))
    order = actions(marginal)
    assert order.index("device-aware-training") < order.index("more-chips") < order.index("looser-spec")


def test_programming_loss_larger_than_the_spread_ranks_quantisation_aware_fine_tuning_first():
    quantised = card(float_accuracy=0.80, nominal_accuracy=0.70, spec=0.75, spec_rule="absolute",
                     p5_accuracy=0.68, worst_case_accuracy=0.70)
    found = {d["cause"]: d for d in diagnose(quantised)}
    assert {"nominal-below-spec", "programming", "spread"} <= set(found)
    assert found["programming"]["shortfall"] == pytest.approx(0.10)
    order = actions(quantised)
    assert order[0] == "device-aware-qat" and order[1] == "device-aware-training"
    words = shlex.split(advise(quantised)[0]["command"])
    assert words[words.index("--init") + 1] == "m.rsnn" and words[words.index("--method") + 1] == "qat"


def test_a_sensitivity_peak_in_a_family_the_training_never_saw_puts_device_aware_training_first():
    rows = [{"group": "layers.0 taus", "layer": "layers.0", "family": "taus", "accuracy_drop": 0.05},
            {"group": "layers.0 weights", "layer": "layers.0", "family": "weights", "accuracy_drop": 0.01}]
    c = card(float_accuracy=0.80, nominal_accuracy=0.70, spec=0.75, spec_rule="absolute", p5_accuracy=0.68,
             worst_case_accuracy=0.70, sensitivity=rows, training={"method": "adversarial", "epochs": 12,
                                                                    "best_epoch": 5})
    assert actions(c)[0] == "device-aware-training"
    assert "taus" in advise(c)[0]["why"]
    assert "layers.0 taus" in {d["cause"]: d for d in diagnose(c)}["spread"]["summary"]


def test_a_float_network_below_the_spec_still_improving_is_told_to_train_longer_then_wider():
    weak = card(float_accuracy=0.60, nominal_accuracy=0.59, spec=0.70, spec_rule="absolute", p5_accuracy=0.55,
                resources={"used": {"neurons": 20, "input_channels": 16, "recurrent": True},
                           "limits": {"fan_in": 64}},
                training={"method": "standard", "epochs": 6, "best_epoch": 6})
    order = actions(weak)
    assert order[:2] == ["more-epochs", "wider-network"]
    words = shlex.split(advise(weak)[0]["command"])
    assert words[words.index("--epochs") + 1] == "12"
    wider = shlex.split(advise(weak)[1]["command"])
    assert wider[wider.index("--hidden") + 1] == "40"  # 2 x 20, within 64 - 16


def test_the_looser_spec_is_last_and_grades_these_chips_ready_by_scipys_interval():
    advice = advise(card())
    assert advice[-1]["action"] == "looser-spec"
    words = shlex.split(advice[-1]["command"])
    spec = float(words[words.index("--spec") + 1])
    accs = card()["per_chip_accuracy"]
    passed = sum(a >= spec for a in accs)
    assert exact_ci(passed, len(accs))[0] >= 0.95
    assert spec < card()["spec"]


def test_a_model_at_chance_is_diagnosed_so_and_gets_no_looser_spec():
    at_chance = card(above_chance=False, nominal_accuracy=0.13, float_accuracy=0.13, nominal_accuracy_ci95=[0.11, 0.15],
                     spec=0.12, p5_accuracy=0.10, mean_accuracy=0.12)
    assert causes(at_chance)[0] == "chance"
    assert actions(at_chance)[0] == "more-epochs"  # capacity first: no chip beats a network that has not learned
    assert "looser-spec" not in actions(at_chance)


def test_an_attack_worst_case_below_the_spec_is_named_with_the_profiles_scale():
    fragile = card(worst_case_accuracy=0.30)
    found = {d["cause"]: d for d in diagnose(fragile)}
    assert "attack" in found and "0.300" in found["attack"]["summary"] and "weights 0.15" in found["attack"]["summary"]
    assert found["attack"]["shortfall"] == pytest.approx(0.665 - 0.30)


def test_every_suggested_command_parses_with_the_cli():
    from robust_snn.cli import build_parser

    parser = build_parser()
    cards = [card(), card(fits_device=False, violations=["fan_in: 79 > 64"],
                          resources={"used": {"neurons": 63, "input_channels": 16, "recurrent": True},
                                     "limits": {"fan_in": 64}}),
             card(float_accuracy=0.80, spec=0.75, spec_rule="absolute", grade="marginal", **{"yield": 0.97},
                  yield_ci95=list(exact_ci(97, 100)), training={"method": "standard", "epochs": 4, "best_epoch": 4})]
    for c in cards:
        for item in advise(c):
            if item["command"]:
                parser.parse_args(shlex.split(item["command"])[1:])


def _seed_of(command):
    words = shlex.split(command)
    return int(words[words.index("--seed") + 1])


def test_retraining_advice_keeps_the_models_training_seed_and_chip_advice_the_cards_seed():
    # trained with seed 3, scored on chips drawn with seed 0: a marginal card below target whose network is still
    # improving, so that both kinds of command (retrain, evaluate more chips / a looser spec) are advised
    c = card(seed=0, grade="marginal", **{"yield": 0.90}, yield_ci95=list(exact_ci(90, 100)),
             training={"method": "standard", "epochs": 12, "best_epoch": 12, "seed": 3})
    items = {a["action"]: a["command"] for a in advise(c) if a["command"]}
    retrain = [items[a] for a in ("device-aware-training", "wider-network", "more-epochs") if a in items]
    score = [items[a] for a in ("more-chips", "looser-spec") if a in items]
    assert retrain and score, items
    assert all(_seed_of(cmd) == 3 for cmd in retrain)
    assert all(_seed_of(cmd) == 0 for cmd in score)


def test_the_training_seed_is_read_from_the_model_files_metadata():
    from robust_snn.readiness.context import training_facts

    facts = training_facts({"method": {"name": "noise"}, "training": {"seed": 7, "epochs": 5},
                            "history": [{"val_accuracy": 0.5}]})
    assert facts["seed"] == 7
    assert "seed" not in training_facts({"method": {"name": "noise"}, "history": []})
