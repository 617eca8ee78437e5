import pytest
import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import build_profile, evaluate_ensemble, load_profile, profile_attack_scale
from robust_snn.readiness.scorecard import AttackSettings, EnsembleSettings, Scored, score_card
from robust_snn.readiness.sensitivity import sensitivity
from robust_snn.training import TrainConfig, fit, make_method

from conftest import make_pattern_data
from hand_built_data import one_channel_per_class

REQUIRED = ["model", "device", "n_chips", "seed", "nominal_accuracy", "mean_accuracy", "std_accuracy",
            "p5_accuracy", "min_accuracy", "per_chip_accuracy", "spec", "yield", "yield_ci95",
            "worst_case_accuracy", "fits_device", "violations", "grade"]


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(16,), n_classes=3, recurrent=True, seed=2))
    data = make_pattern_data(96, seed=0)
    fit(model, data, None, make_method("standard"), TrainConfig(epochs=5, batch_size=32, lr=5e-3), progress=False)
    return model, make_pattern_data(64, seed=1)


def test_score_card_has_the_readiness_fields_and_consistent_numbers(trained):
    model, data = trained
    card = score_card(Scored(model, data), "gaussian-20", EnsembleSettings(n_chips=12, seed=3)).to_dict()
    assert set(REQUIRED) <= set(card)
    accs = card["per_chip_accuracy"]
    assert len(accs) == 12 and all(0 <= a <= 1 for a in accs)
    assert card["min_accuracy"] == min(accs)
    assert card["yield"] == sum(a >= card["spec"] for a in accs) / 12
    assert card["yield_ci95"][0] <= card["yield"] <= card["yield_ci95"][1]
    assert card["worst_case_accuracy"] <= card["nominal_accuracy"]
    # The grade from its rule, on the exact (Clopper-Pearson) interval computed here with scipy: 12 chips can
    # never be ready (even 12 of 12 gives low = 0.025^(1/12) = 0.74 < the 0.95 target).
    from scipy.stats import beta

    passed = sum(a >= card["spec"] for a in accs)
    low = beta.ppf(0.025, passed, 12 - passed + 1) if passed else 0.0
    high = beta.ppf(0.975, passed + 1, 12 - passed) if passed < 12 else 1.0
    assert card["yield_ci95"] == pytest.approx([low, high])
    assert card["target_yield"] == 0.95 and low < 0.95
    honest = card["fits_device"] and card["above_chance"]
    assert card["grade"] == ("marginal" if honest and high >= 0.95 else "not-ready")


def test_same_seed_same_score_card(trained):
    model, data = trained
    six = EnsembleSettings(n_chips=6, seed=1)
    assert score_card(Scored(model, data), "dynapse2", six) == score_card(Scored(model, data), "dynapse2", six)


def test_attack_scale_matches_the_profiles_spread(trained):
    model, _ = trained
    scale = profile_attack_scale(model, load_profile("gaussian-20"), n_chips=32)
    assert scale["weights"] == pytest.approx(0.2, rel=0.15)
    assert profile_attack_scale(model, load_profile("xylo-audio2")).get("weights", 0.0) == 0.0


def test_a_model_that_does_not_fit_is_graded_not_ready_with_the_violation_named(trained):
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(16,), n_classes=12, seed=0))
    card = score_card(Scored(model, make_pattern_data(24, seed=0)), "xylo-audio2", EnsembleSettings(n_chips=2))
    assert not card.fits_device and card.grade == "not-ready"
    assert any("output" in v for v in card.violations)




def decided_by(group):
    """A 2-2-2 network, set by hand, whose answers under relative mismatch depend on ``group`` alone.

    Hidden neuron c hears only channel c (weight 5, biases 0: it fires on every step) for class c and never
    otherwise. Under ``gaussian-10`` (every value times ``1 + 0.1 z``) zeros stay zero, no value changes sign and
    no hidden neuron falls silent, so a mismatched hidden layer (weights, time constants, thresholds) never
    changes which neuron fires. The readout then decides:

    - ``"readout biases"``: weights the identity, biases (20, 20): the true class wins by r (<= 1) over two
      biases that mismatch moves by ~2 each, so chips often flip it; readout weights cannot (they stay > 0);
    - ``"readout weights"``: weights ((1, 0.95), (0.95, 1)), biases 0: the true class wins by the ratio 1 / 0.95
      of two weights on the same r, which mismatch often inverts; the hidden layer cannot change a ratio.
    """
    weight, bias = {"readout biases": ([[1.0, 0.0], [0.0, 1.0]], [20.0, 20.0]),
                    "readout weights": ([[1.0, 0.95], [0.95, 1.0]], [0.0, 0.0])}[group]
    model = SNNClassifier(NetworkConfig(n_in=2, hidden=(2,), n_classes=2, seed=0))
    with torch.no_grad():
        model.layers[0].weight.copy_(5.0 * torch.eye(2))
        model.layers[0].bias.zero_()
        model.readout.weight.copy_(torch.tensor(weight))
        model.readout.bias.copy_(torch.tensor(bias))
    return model


@pytest.mark.parametrize("group", ["readout biases", "readout weights"])
def test_sensitivity_ranks_groups_by_accuracy_drop(group):
    model, data = decided_by(group), one_channel_per_class(4, 30)
    rows = sensitivity(model, "gaussian-10", data, n_chips=8, seed=0)
    drops = [r["accuracy_drop"] for r in rows]
    assert drops == sorted(drops, reverse=True)
    top, rest = rows[0], rows[1:]
    assert f"{top['layer']} {top['family']}" == group and top["accuracy_drop"] > 0.1
    # every other group the profile varies is listed, and costs nothing by construction
    assert {(r["layer"], r["family"]) for r in rest} >= {("layers.0", "weights"), ("layers.0", "taus"),
                                                          ("layers.0", "thresholds")}
    assert all(r["accuracy_drop"] == 0.0 for r in rest), rest


def test_report_folder_holds_the_table_and_non_empty_plots_for_several_models(trained, tmp_path):
    from robust_snn.readiness.report import write_report

    model, data = trained
    other = SNNClassifier(NetworkConfig(n_in=8, hidden=(16,), n_classes=3, recurrent=True, seed=9))
    cards = [score_card(Scored(m, data, n), "gaussian-20", EnsembleSettings(n_chips=4))
             for n, m in (("a", model), ("b", other))]
    path = write_report(tmp_path / "rep", cards, models={"a": model, "b": other}, data=data)
    text = path.read_text()
    assert "| a | gaussian-20 |" in text and "| b | gaussian-20 |" in text
    for png in ("per_chip_histogram.png", "accuracy_vs_mismatch.png", "loss_landscape.png", "loss_landscape_2d.png",
                "sensitivity_a.png"):
        assert (tmp_path / "rep" / png).stat().st_size > 1000, png
        assert f"({png})" in text


def test_bundle_reproduces_the_score_cards_nominal_accuracy_exactly(trained, tmp_path):
    import robust_snn
    from robust_snn.export.bundle import write_bundle
    from robust_snn.training import evaluate

    model, data = trained
    robust_snn.save_model(tmp_path / "m.rsnn", model)
    card = score_card(Scored(model, data), "dynapse2", EnsembleSettings(n_chips=3))
    write_bundle(tmp_path / "b.rsnn", tmp_path / "m.rsnn", load_profile("dynapse2"), card)
    bundle = robust_snn.load_model(tmp_path / "b.rsnn")
    assert evaluate(bundle, data).accuracy == card.nominal_accuracy


ONE_BIT = build_profile({"name": "one-bit", "family": "test", "description": "weights on 1-bit shared levels only",
                         "source": "this test", "stages": [{"kind": "shared_levels", "bits": 1,
                                                            "neurons_per_core": 256, "source": "this test"}]})


def one_bit_by_hand(model):
    """A copy of ``model`` with each weight matrix on the levels {-m, 0, m}, m = its largest magnitude (every
    row of these small layers is in one core): sign(W) round(|W| / m) m, written here from the formula."""
    import copy

    copied = copy.deepcopy(model)
    with torch.no_grad():
        for name, w in copied.named_parameters():
            if name.endswith(("weight", "w_rec")):
                m = w.abs().max()
                w.copy_(torch.sign(w) * torch.round(w.abs() / m) * m)
    return copied


def test_nominal_accuracy_is_the_programmed_chips_and_float_accuracy_the_trained_models(trained):
    """Issue 16: ``nominal_accuracy`` meant the float model in the ensemble and the programmed one on the card.
    On a profile whose programming changes the answers, each key must hold its own model's accuracy."""
    from robust_snn.training import evaluate

    model, data = trained
    float_reference = evaluate(model, data).accuracy
    programmed_reference = evaluate(one_bit_by_hand(model), data).accuracy
    assert float_reference != programmed_reference  # the case where the two meanings differ
    card = score_card(Scored(model, data), ONE_BIT, EnsembleSettings(n_chips=2)).to_dict()
    assert card["float_accuracy"] == pytest.approx(float_reference)
    assert card["nominal_accuracy"] == pytest.approx(programmed_reference)
    assert card["per_chip_accuracy"] == pytest.approx([programmed_reference] * 2)  # no variation: chips = nominal
    ensemble = evaluate_ensemble(model, ONE_BIT, data, n_chips=2, progress=False)
    assert ensemble.nominal_accuracy == pytest.approx(programmed_reference)
    assert ensemble.to_dict()["nominal_accuracy"] == pytest.approx(programmed_reference)
