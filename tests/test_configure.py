"""The library builds a training run the way the command line does (robust_snn.training.configure): the default
network for a data set and a chip, the merged configuration, the --init check."""

import dataclasses

import pytest
import torch
from torch.utils.data import TensorDataset

from robust_snn.config import ConfigError
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import load_profile
from robust_snn.training.configure import (
    DataShape, check_init, default_network, method_choice, network_settings, train_settings,
)

SYNTH_KWS = DataShape(n_in=16, n_classes=8, dt=0.01)  # the embedded corpus: 16 mel bands, 8 classes, 10 ms


def test_the_default_network_of_the_embedded_corpus_for_dynapse2_is_the_demos_former_hard_coded_one():
    """16 + 48 - 1 = 63 inputs per recurrent neuron (its own weight is held at zero): DYNAP-SE2 takes 64."""
    config = default_network(SYNTH_KWS, seed=3, device="dynapse2")
    assert config == NetworkConfig(n_in=16, hidden=(48,), n_classes=8, recurrent=True, dt=0.01, seed=3)
    assert 16 + 48 - 1 <= load_profile("dynapse2").limits.fan_in


def test_the_demo_takes_the_default_network_for_the_chip_it_bundles_for():
    from robust_snn.demo import BUNDLE_DEVICE, FULL

    assert FULL.hidden is None and BUNDLE_DEVICE == "dynapse2"


def test_the_default_width_shrinks_to_a_narrow_chip_and_a_chosen_width_that_does_not_fit_is_refused():
    wide_input = DataShape(n_in=40, n_classes=8)
    # by hand: a hidden neuron takes 40 inputs + (hidden - 1) recurrent ones <= 64, so hidden <= 25
    assert default_network(wide_input, device="dynapse2").hidden == (25,)
    assert default_network(wide_input).hidden == (48,)  # no chip: no limit
    with pytest.raises(ConfigError, match=r"does not fit dynapse2: fan_in: 87 > 64; at most 25 hidden neurons fit"):
        default_network(wide_input, device="dynapse2", network={"hidden": [48]})


def test_the_users_network_choices_win_over_the_defaults_and_the_datas_time_step():
    config = default_network(SYNTH_KWS, network={"hidden": [5, 4], "recurrent": False, "dt": 0.002, "adaptive": True})
    assert (config.hidden, config.recurrent, config.dt, config.adaptive) == ((5, 4), False, 0.002, True)


def test_the_shape_of_a_data_set_without_class_names_counts_its_labels():
    data = TensorDataset(torch.zeros(5, 7, 3), torch.tensor([0, 2, 1, 4, 0]))
    assert DataShape.of(data) == DataShape(n_in=3, n_classes=5, dt=None, classes=None)


def test_a_model_to_fine_tune_on_other_channels_or_classes_is_refused_naming_both():
    model = SNNClassifier(NetworkConfig(n_in=16, hidden=(4,), n_classes=3))
    with pytest.raises(ConfigError, match="m.rsnn maps 16 channels to 3 classes, but synth-kws has 16 channels and 8"):
        check_init(model, SYNTH_KWS, "m.rsnn", "synth-kws")
    check_init(model, dataclasses.replace(SYNTH_KWS, n_classes=3), "m.rsnn", "synth-kws")  # fits: no error


def test_merging_a_configuration_overrides_win_and_contradictions_name_both_places():
    sections = {"train": {"batch-size": 32, "lr": 0.01, "hidden": [16]}, "network": {"hidden": [16], "tau_mem": 0.05},
                "method": {"name": "awp", "gamma": 0.01, "device": "pcm"}}
    assert train_settings(sections, {"lr": 0.002, "seed": None}) == {"batch_size": 32, "lr": 0.002}
    assert network_settings(sections, {"recurrent": False}) == {"hidden": [16], "tau_mem": 0.05, "recurrent": False}
    assert method_choice(sections) == ("awp", {"gamma": 0.01, "device": "pcm"}, [])
    assert method_choice(sections, "noise") == ("noise", {"device": "pcm"}, ["gamma"])  # gamma is awp's
    assert method_choice({"train": {"method": "noise"}}) == ("noise", {}, [])
    with pytest.raises(ConfigError, match=r"c.toml: \[train\] hidden = \[8\] conflicts with \[network\] hidden"):
        network_settings({**sections, "train": {"hidden": [8]}}, config="c.toml")
    with pytest.raises(ConfigError, match=r"\[train\] method = 'noise' conflicts with \[method\] name = 'awp'"):
        method_choice({**sections, "train": {"method": "noise"}}, config="c.toml")


def test_the_demo_refuses_a_network_its_bundle_chip_cannot_hold_before_training(tmp_path, monkeypatch):
    """write_bundle refuses such a model too, but only after the whole run: the demo now stops before training."""
    import robust_snn.demo as demo

    monkeypatch.setattr(demo, "QUICK", dataclasses.replace(demo.QUICK, hidden=100))
    with pytest.raises(ConfigError, match="does not fit dynapse2: fan_in: 115 > 64"):
        demo.run_demo(tmp_path / "out", quick=True, progress=False)
    assert not list((tmp_path / "out").glob("*.rsnn"))
