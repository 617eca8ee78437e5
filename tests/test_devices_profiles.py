"""Device profiles are documented data: every built-in loads and cites its sources; bad files name the field."""

import pytest

from robust_snn.config import ConfigError, load_toml
from robust_snn.devices import build_profile, describe_profiles, list_profiles, load_profile

BUILTIN = ["dynapse2", "gaussian-10", "gaussian-20", "gaussian-30", "pcm", "rram", "xylo-audio2"]


def _raw(name):
    from importlib import resources

    with resources.as_file(resources.files("robust_snn.devices").joinpath("profiles", f"{name}.toml")) as path:
        return load_toml(path)


def test_the_builtin_profiles_are_listed():
    assert set(BUILTIN) <= set(list_profiles())


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_profile_loads_and_every_stage_cites_a_source(name):
    profile = load_profile(name)
    assert profile.name == name and profile.description and profile.source
    for stage in profile.stages:
        assert stage.source.strip(), f"{name}: stage {stage.kind} has no source"


@pytest.mark.parametrize("name", BUILTIN)
def test_every_figure_a_builtin_sets_has_a_source(name):
    for i, stage in enumerate(_raw(name).get("stages", [])):
        figures = {k for k in stage if k not in ("kind", "source", "sources", "map_families")}
        if len(figures) <= 1:
            continue  # a single figure is cited by the stage's own source line
        cited = {key.split(".")[0] for key in stage.get("sources", {})}
        assert figures <= cited, f"{name}.stages[{i}] ({stage['kind']}): no source for {sorted(figures - cited)}"


@pytest.mark.parametrize("name", BUILTIN)
def test_a_profile_round_trips_through_its_data(name):
    profile = load_profile(name)
    again = build_profile(profile.to_dict())
    assert again.to_dict() == profile.to_dict() and again.stages == profile.stages


def test_the_devices_listing_has_name_family_description_and_source():
    rows = describe_profiles()
    assert [r["name"] for r in rows] == list_profiles()
    assert all(set(r) == {"name", "family", "description", "source"} and all(r.values()) for r in rows)


def test_xylo_limits_are_the_published_ones():
    limits = load_profile("xylo-audio2").limits
    assert (limits.input_channels, limits.neurons, limits.output_channels, limits.weight_bits) == (16, 1000, 8, 8)


def test_a_profile_loads_from_a_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nfamily = "gaussian"\ndescription = "d"\nsource = "s"\n'
                    '[[stages]]\nkind = "relative_gaussian"\nsource = "s"\n[stages.spread.weights]\nsynapse = 0.05\n')
    assert load_profile(path).stages[0].spread["weights"].synapse == 0.05


def test_an_unknown_profile_name_lists_the_builtins():
    with pytest.raises(ConfigError, match="unknown device profile 'nope'.*xylo-audio2"):
        load_profile("nope")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("description"), r"pcm\.description is missing"),
    (lambda d: d.update(family=3), r"pcm\.family must be a non-empty string, got 3"),
    (lambda d: d.update(colour="red"), r"pcm has unknown field\(s\) colour"),
    (lambda d: d["limits"].update(fan_in=-4), r"pcm\.limits: fan_in must be an integer >= 1, got -4"),
    (lambda d: d["limits"].update(recurrent="yes"), r"pcm\.limits\.recurrent must be true or false"),
    (lambda d: d["stages"][0].update(g_max=-25.0), r"pcm\.stages\[0\]: g_max must be a finite number >= 0"),
    (lambda d: d["stages"][1].update(g_ref_uS="25"), r"pcm\.stages\[1\]\.g_ref_uS must be a number, got '25'"),
    (lambda d: d["stages"][3].pop("kind"), r"pcm\.stages\[3\]\.kind is missing"),
    (lambda d: d["stages"][3].update(kind="drift"), r"pcm\.stages\[3\]\.kind 'drift' is unknown"),
    (lambda d: d["stages"][3].update(age=1.0), r"pcm\.stages\[3\] has unknown field\(s\) age"),
    (lambda d: d["stages"][1]["sources"].update(colour="x"), r"pcm\.stages\[1\]: sources has an entry 'colour'"),
    (lambda d: d["stages"].insert(1, d["stages"].pop(3)),
     r"pcm\.stages\[2\] \('programming_noise'.*comes after pcm\.stages\[1\] \('power_law_drift'"),
])
def test_bad_profiles_are_refused_naming_the_field(mutate, message):
    data = _raw("pcm")
    mutate(data)
    with pytest.raises(ConfigError, match=message):
        build_profile(data)
