"""The typed score card: its JSON is the contract of shared/CLI.md, unchanged by the typing.

The reference is ``fixtures/scorecards_145b0fc.json``: cards written by the untyped code at commit 145b0fc.
"""

import json
from pathlib import Path

import pytest
import torch

from robust_snn.config import ConfigError
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import EnsembleResult, load_profile
from robust_snn.readiness.card import CARD_KEYS, ScoreCard, SpecRule
from robust_snn.readiness.scorecard import AttackSettings, EnsembleSettings, Scored, score_card

from conftest import make_pattern_data

BEFORE = json.loads((Path(__file__).parent / "fixtures" / "scorecards_145b0fc.json").read_text())["cards"]
#: shared/CLI.md: "The readiness JSON has at least: ..."
CLI_MD_KEYS = {"model", "device", "n_chips", "seed", "nominal_accuracy", "mean_accuracy", "std_accuracy",
               "p5_accuracy", "min_accuracy", "per_chip_accuracy", "spec", "yield", "yield_ci95",
               "worst_case_accuracy", "fits_device", "violations", "grade"}


@pytest.mark.parametrize("index", range(len(BEFORE)))
def test_a_card_written_before_the_typed_card_reads_back_and_writes_the_same_json(index):
    before = BEFORE[index]
    card = ScoreCard.from_dict(before)
    assert card.to_dict() == before
    assert list(card.to_dict()) == list(before)  # the same keys in the same order
    assert json.loads(card.to_json()) == before


def test_a_card_measured_now_has_exactly_the_keys_cards_had_before():
    """The fixture's first card, measured again by the typed code (same network, data, profile, settings)."""
    torch.manual_seed(0)
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(16,), n_classes=3, recurrent=True, seed=2))
    card = score_card(Scored(model, make_pattern_data(24, seed=1), "tiny"), "rram", EnsembleSettings(n_chips=5, seed=3),
                      attack=AttackSettings(steps=2, repeats=1)).to_dict()
    assert list(card) == list(BEFORE[0]) == list(CARD_KEYS)
    assert CLI_MD_KEYS <= set(card)
    assert card["per_chip_accuracy"] == pytest.approx(BEFORE[0]["per_chip_accuracy"])


def test_extra_keys_travel_after_the_cards_own_and_survive_a_round_trip():
    card = ScoreCard.from_dict(BEFORE[0]).with_extra(data="synth-kws", split="test")
    data = card.to_dict()
    assert list(data)[-2:] == ["data", "split"]
    assert ScoreCard.from_json(card.to_json()) == card
    with pytest.raises(ValueError, match="grade"):
        card.with_extra(grade="ready")


@pytest.mark.parametrize("key, value", [("grade", "ready"), ("yield", 0.2), ("mean_accuracy", 0.9),
                                        ("spec", 0.5), ("fits_device", False)])
def test_reading_refuses_a_card_whose_derived_number_disagrees_with_its_measurements(key, value):
    tampered = {**BEFORE[0], key: value}
    with pytest.raises(ConfigError, match=repr(key)):
        ScoreCard.from_dict(tampered)


def test_reading_names_a_missing_key():
    incomplete = {k: v for k, v in BEFORE[0].items() if k != "worst_case_eps"}
    with pytest.raises(ConfigError, match="worst_case_eps"):
        ScoreCard.from_dict(incomplete)


def test_a_card_on_a_user_written_profile_reads_back_through_its_device_file(tmp_path):
    """The profile's name alone cannot be looked up; the file the advice records can."""
    toml = tmp_path / "my-chip.toml"
    toml.write_text('name = "my-chip"\nfamily = "gaussian"\ndescription = "mine"\nsource = "this test"\n\n'
                    '[[stages]]\nkind = "relative_gaussian"\nsource = "this test"\n[stages.spread.weights]\n'
                    'synapse = 0.3\n')
    profile = load_profile(toml)
    chips = EnsembleResult("my-chip", 4, 0, 50, 0.8, (0.8, 0.7, 0.9, 0.6))
    card = ScoreCard("m", profile, chips, SpecRule(), float_accuracy=0.82, chance_accuracy=0.5,
                     worst_case_accuracy=0.4, worst_case_eps={"weights": 0.3}, violations=(),
                     extra={"device_file": str(toml)})
    again = ScoreCard.from_json(card.to_json())
    assert again == card and again.profile.path == str(toml)
    with pytest.raises(ConfigError, match="my-chip"):
        ScoreCard.from_dict({**card.to_dict(), "device_file": None})  # no built-in profile has that name


def test_the_spec_rule_checks_its_values_and_states_itself():
    assert SpecRule(absolute=0.5, relative=0.9) == SpecRule(absolute=0.5)  # an absolute spec ignores relative
    assert SpecRule(absolute=0.5).threshold(0.8) == 0.5 and SpecRule(relative=0.9).threshold(0.8) == 0.9 * 0.8
    assert SpecRule(relative=0.9).text == "0.9 x nominal_accuracy" and SpecRule(absolute=0.5).text == "absolute"
    for kwargs, field in (({"absolute": 1.5}, "spec"), ({"relative": 0.0}, "spec_relative"),
                          ({"target_yield": 0}, "target_yield")):
        with pytest.raises(ConfigError, match=field):
            SpecRule(**kwargs)


def test_the_settings_objects_name_a_bad_value():
    with pytest.raises(ConfigError, match="n_chips must be >= 1"):
        EnsembleSettings(n_chips=0)
    with pytest.raises(ConfigError, match="backend"):
        EnsembleSettings(backend="spark")
    with pytest.raises(ConfigError, match="attack steps"):
        AttackSettings(steps=0)
