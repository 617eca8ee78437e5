"""``folder:PATH`` on folders this test writes: class sub-folders of tiny WAV files (tones of a pitch per word)
at two sample rates, written with numpy and the standard library's ``wave``."""

import json
from collections import Counter

import numpy as np
import pytest
import torch

from robust_snn.cli import main
from robust_snn.data import DataError, FrontEndConfig, features, load_dataset
from wav_files import write_wav

WORDS = {"go": 300.0, "stop": 700.0, "wait": 1200.0}
RATES = (8000, 16000)


def tone(freq, seconds, rate):
    t = np.arange(round(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(len(t))


def make_word_folder(root, clips=10, words=WORDS):
    """``clips`` WAV files per word, alternately at 8 and 16 kHz, 0.4-0.94 s long; clip k of word w is named
    ``{w}{k}_nohash_0.wav`` (so its speaker id names the clip); plus background noise and a hidden folder."""
    for word, freq in words.items():
        for k in range(clips):
            rate = RATES[k % 2]
            write_wav(root / word / f"{word}{k}_nohash_0.wav", tone(freq, 0.4 + 0.06 * k, rate), rate)
    write_wav(root / "_background_noise_" / "hum.wav", 0.05 * np.random.default_rng(0).standard_normal(48000), 16000)
    (root / ".cache").mkdir()
    return root


@pytest.fixture
def folder(tmp_path):
    return make_word_folder(tmp_path / "my_words")


def splits(spec):
    return {s: load_dataset(spec, s) for s in ("train", "val", "test")}


def test_classes_are_the_sorted_sub_folder_names(folder):
    data = load_dataset(f"folder:{folder}", "train")
    assert data.classes == ("go", "stop", "wait")
    assert {data.classes[y] for y in data.labels} == set(WORDS)


def test_without_list_files_each_class_is_split_80_10_10_and_every_clip_lands_in_one_split(folder):
    data = splits(f"folder:{folder}")
    clips = {s: list(d.speakers) for s, d in data.items()}  # speaker id = the clip's name here
    everything = [c for s in clips.values() for c in s]
    assert sorted(everything) == sorted(f"{w}{k}" for w in WORDS for k in range(10))
    for split, per_class in (("train", 8), ("val", 1), ("test", 1)):
        assert Counter(data[split].labels) == {0: per_class, 1: per_class, 2: per_class}


def test_the_drawn_split_is_seeded(folder):
    first = load_dataset(f"folder:{folder}", "test").speakers
    assert load_dataset(f"folder:{folder}", "test").speakers == first
    assert {load_dataset(f"folder:{folder}?seed={s}", "test").speakers for s in range(1, 6)} - {first}


def test_list_files_name_the_val_and_test_clips(folder):
    (folder / "testing_list.txt").write_text("go/go0_nohash_0.wav\nstop/stop0_nohash_0.wav\nwait/wait0_nohash_0.wav\n")
    (folder / "validation_list.txt").write_text("\n".join(f"{w}/{w}1_nohash_0.wav" for w in WORDS))
    data = splits(f"folder:{folder}")
    assert set(data["test"].speakers) == {"go0", "stop0", "wait0"}
    assert set(data["val"].speakers) == {"go1", "stop1", "wait1"}
    assert len(data["train"]) == 24


def test_a_missing_list_file_is_drawn_from_the_clips_no_list_names(folder):
    (folder / "testing_list.txt").write_text("go/go0_nohash_0.wav\nstop/stop0_nohash_0.wav\nwait/wait0_nohash_0.wav\n")
    data = splits(f"folder:{folder}")
    assert set(data["test"].speakers) == {"go0", "stop0", "wait0"}
    assert len(data["val"]) == 3 and not set(data["val"].speakers) & {"go0", "stop0", "wait0"}


def test_clips_at_two_sample_rates_give_the_features_of_their_own_rate(folder):
    """Every clip is resampled to the folder's highest rate, 16 kHz. The front end's power spectrum
    ``|FFT|^2 / sum(window^2)`` of a given sound grows in proportion to the sample rate (the window holds twice the
    samples), so without normalisation an 8 kHz clip's log features are its own rate's plus ln(16000 / 8000)."""
    data = load_dataset(f"folder:{folder}?norm=none", "train")
    index = {s: i for i, s in enumerate(data.speakers)}
    config = FrontEndConfig(normalize="none")
    for name, k in (("go", 2), ("stop", 3)):  # k even: written at 8 kHz; odd: 16 kHz
        i = index[f"{name}{k}"]  # in train with seed 0
        rate = RATES[k % 2]
        clip = torch.from_numpy(np.pad(tone(WORDS[name], 0.4 + 0.06 * k, rate), (0, rate)).astype(np.float32))
        reference = features(clip[:rate], rate, config)  # the clip at its own rate, padded to 1 s
        x = data[i][0]
        loud = reference > reference.max() - 5  # where the tone is (log power within 5 nepers, 22 dB, of the peak)
        assert x.shape == reference.shape == (98, 16)
        assert torch.allclose(x[loud], reference[loud] + np.log(16000 / rate), atol=0.01), (name, k)


def test_noise_from_the_background_folder_when_snr_is_asked(folder):
    quiet = load_dataset(f"folder:{folder}", "train")[0][0]
    noisy = load_dataset(f"folder:{folder}?snr=0,5", "train")[0][0]
    assert not torch.equal(quiet, noisy)


def test_an_empty_class_folder_is_named(folder):
    (folder / "later").mkdir()
    with pytest.raises(DataError, match=r"class folder .*later holds no .wav files"):
        load_dataset(f"folder:{folder}", "train")


def test_a_folder_without_class_folders_is_named(tmp_path):
    write_wav(tmp_path / "loose.wav", tone(300, 0.5, 8000), 8000)
    with pytest.raises(DataError, match="has no class sub-folders"):
        load_dataset(f"folder:{tmp_path}", "train")


def test_an_unreadable_wav_exits_2_naming_it(folder, tmp_path, capsys):
    (folder / "go" / "broken.wav").write_bytes(b"not a wav file at all")
    assert main(["train", "--data", f"folder:{folder}", "--out", str(tmp_path / "m.rsnn")]) == 2
    assert "broken.wav is not a PCM WAV file" in capsys.readouterr().err


def test_a_list_naming_a_missing_clip_is_named(folder):
    (folder / "testing_list.txt").write_text("go/nosuch.wav\n")
    with pytest.raises(DataError, match="testing_list.txt lists go/nosuch.wav, which does not exist"):
        load_dataset(f"folder:{folder}", "test")


def test_a_clip_in_both_list_files_is_named(folder):
    (folder / "testing_list.txt").write_text("go/go0_nohash_0.wav\n")
    (folder / "validation_list.txt").write_text("go/go0_nohash_0.wav\n")
    with pytest.raises(DataError, match="go/go0_nohash_0.wav is listed in both testing_list.txt and validation_list"):
        load_dataset(f"folder:{folder}", "train")


def test_a_class_too_small_to_split_is_named(tmp_path):
    make_word_folder(tmp_path / "w", clips=10)
    for k in range(2, 10):
        (tmp_path / "w" / "wait" / f"wait{k}_nohash_0.wav").unlink()
    with pytest.raises(DataError, match="class 'wait' has no val clips .2 .wav files in all"):
        load_dataset(f"folder:{tmp_path / 'w'}", "val")


def test_bad_fractions_are_named(folder):
    with pytest.raises(DataError, match=r"options val \(0.5\) and test \(0.5\) leave nothing to train on"):
        load_dataset(f"folder:{folder}?val=0.5&test=0.5", "train")


def test_the_readme_goes_from_a_folder_of_wavs_to_a_score_card_in_three_commands(tmp_path, monkeypatch):
    from test_readme import readme_commands, shrink

    commands = [c for c in readme_commands() if any("folder:my_words" in word for word in c)]
    assert [c[1] for c in commands] == ["train", "evaluate", "export"]
    make_word_folder(tmp_path / "my_words")
    monkeypatch.chdir(tmp_path)
    for words in commands:
        assert main(shrink(words)[1:]) == 0, words
    card = json.loads((tmp_path / "my_words.card.json").read_text())
    assert card["device"] == "dynapse2"
    # The grade by construction: the test split holds one clip per word, so chance is 1/3 and even 3 of 3 right
    # has an exact 95% interval starting at 0.025^(1/3) = 0.29 (Clopper-Pearson, k = n): no model is clearly
    # above chance on it, whatever it learnt, so the card must say not-ready.
    from scipy.stats import beta

    labels = list(load_dataset("folder:my_words", "test").labels)
    assert sorted(labels) == [0, 1, 2]
    assert beta.ppf(0.025, 3, 1) == pytest.approx(0.025 ** (1 / 3)) and 0.025 ** (1 / 3) < 1 / 3
    assert card["grade"] == "not-ready"
    assert (tmp_path / "my_words.bundle.rsnn").exists()
