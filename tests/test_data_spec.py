"""Data SPEC strings: kinds, paths and ``?NAME=VALUE&...`` options, with errors that name the bad part."""

import math

import pytest

from robust_snn.data import DataError, load_dataset, parse_spec
from robust_snn.data.keywords import PAPER_WORDS, SC35_WORDS
from robust_snn.data.options import keyword_options, shd_options


def test_plain_kinds_parse(tmp_path):
    assert parse_spec("synth-kws").path is None
    spec = parse_spec(f"shd:{tmp_path}")
    assert (spec.kind, spec.path, spec.options) == ("shd", tmp_path, ())


def test_options_follow_a_question_mark_in_order(tmp_path):
    spec = parse_spec(f"speech-commands:{tmp_path}?classes=yes,no&features=mfcc40")
    assert spec.options == (("classes", "yes,no"), ("features", "mfcc40"))
    assert str(spec) == f"speech-commands:{tmp_path}?classes=yes,no&features=mfcc40"


def test_unknown_kind_is_named():
    with pytest.raises(DataError, match="unknown data spec 'nosuch'; use one of: .*, fsdd:PATH, folder:PATH"):
        parse_spec("nosuch")


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        parse_spec(f"shd:{tmp_path / 'nope'}")


def test_unknown_option_is_named_with_the_known_ones():
    with pytest.raises(DataError, match="unknown option 'colour' for synth-kws; known: classes"):
        parse_spec("synth-kws?colour=red")


def test_bad_option_value_names_the_option():
    with pytest.raises(DataError, match="option features must look like logmel16"):
        parse_spec("synth-kws?features=wavelets")
    with pytest.raises(DataError, match="option snr must be LOW,HIGH"):
        parse_spec("synth-kws?snr=20,0")
    with pytest.raises(DataError, match="option stride must be > 0"):
        parse_spec("synth-kws?stride=-1")


def test_malformed_and_repeated_options_are_rejected():
    with pytest.raises(DataError, match="must look like NAME=VALUE"):
        parse_spec("synth-kws?snr")
    with pytest.raises(DataError, match="option 'seed' is given twice"):
        parse_spec("synth-kws?seed=1&seed=2")


def test_synth_kws_takes_only_an_npz_file_as_path(tmp_path):
    with pytest.raises(DataError, match="synth-kws takes no path"):
        parse_spec(f"synth-kws:{tmp_path}")


def test_default_keyword_options_are_the_papers_8_classes_and_16_log_mel_channels():
    options = keyword_options(parse_spec("synth-kws"))
    assert options.plan.classes == PAPER_WORDS + ("_unknown_", "_silence_")
    assert (options.frontend.n_out, options.frontend.stride, options.frontend.n_mfcc) == (16, 0.01, None)


def test_class_conventions():
    assert keyword_options(parse_spec("synth-kws?classes=35")).plan.classes == SC35_WORDS
    assert len(keyword_options(parse_spec("synth-kws?classes=12")).plan.classes) == 12
    plan = keyword_options(parse_spec("synth-kws?classes=yes,no&unknown=all&silence=0")).plan
    assert plan.classes == ("yes", "no", "_unknown_") and math.isinf(plan.unknown)


def test_mfcc40_uses_40_bands_and_delta_doubles_the_channels():
    fe = keyword_options(parse_spec("synth-kws?features=mfcc40&encoding=delta")).frontend
    assert (fe.n_mels, fe.n_mfcc, fe.n_out) == (40, 40, 80)


def test_shd_downsample_must_divide_700(tmp_path):
    assert shd_options(parse_spec(f"shd:{tmp_path}?downsample=7")).downsample == 7
    with pytest.raises(DataError, match="option downsample must divide the 700 channels, got 3"):
        parse_spec(f"shd:{tmp_path}?downsample=3")


def test_bad_split_is_named():
    with pytest.raises(DataError, match="split must be one of train, val, test, got 'dev'"):
        load_dataset("synth-kws", "dev")
