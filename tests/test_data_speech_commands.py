"""``speech-commands:PATH`` on a tiny folder in the real Speech Commands v2 layout (WAV files written with ``wave``)."""

from collections import Counter

import numpy as np
import pytest
import torch

from robust_snn.data import DataError, load_dataset
from robust_snn.data.speech_commands import speaker_of
import wav_files

RATE = 8000
WORDS = {"yes": 300.0, "no": 500.0, "up": 700.0, "cat": 900.0, "dog": 1100.0}


def write_wav(path, samples, rate=RATE):
    wav_files.write_wav(path, samples, rate)


def make_folder(root, speakers=("aa", "bb", "cc", "dd"), noise=True):
    """Each word is a tone of its own pitch; speaker cc is val, dd is test (as the list files say)."""
    t = np.arange(RATE) / RATE
    val, test = [], []
    for word, freq in WORDS.items():
        for k, speaker in enumerate(speakers):
            rel = f"{word}/{speaker}_nohash_0.wav"
            length = RATE if k else RATE // 2  # one short clip, as in the real data
            write_wav(root / rel, (0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(RATE))[:length])
            (val if speaker == "cc" else test if speaker == "dd" else []).append(rel)
    (root / "validation_list.txt").write_text("\n".join(val) + "\n")
    (root / "testing_list.txt").write_text("\n".join(test) + "\n")
    if noise:
        rng = np.random.default_rng(0)
        write_wav(root / "_background_noise_" / "white_noise.wav", 0.1 * rng.standard_normal(10 * RATE))
    return root


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "sc")


def test_splits_follow_the_list_files_and_train_is_the_rest(folder):
    speakers = {s: set(load_dataset(f"speech-commands:{folder}?classes=yes,no,up&silence=0", s).speakers)
                for s in ("train", "val", "test")}
    assert speakers == {"train": {"aa", "bb"}, "val": {"cc"}, "test": {"dd"}}


def test_items_are_float32_time_by_channels_with_int_labels(folder):
    data = load_dataset(f"speech-commands:{folder}?classes=yes,no", "test")
    x, y = data[0]
    assert x.shape == (98, 16) and x.dtype == torch.float32 and isinstance(y, int)
    assert data.classes == ("yes", "no", "_unknown_", "_silence_") and data.dt == 0.01


def test_class_subset_maps_other_words_to_unknown_and_adds_silence(folder):
    data = load_dataset(f"speech-commands:{folder}?classes=yes,no&unknown=all", "train")
    counts = Counter(data[i][1] for i in range(len(data)))
    assert counts == {0: 2, 1: 2, 2: 6, 3: 2}  # yes, no; up+cat+dog; silence = the mean keyword class size


def test_unknown_is_subsampled_to_its_ratio(folder):
    data = load_dataset(f"speech-commands:{folder}?classes=yes,no&unknown=0.5&silence=0", "train")
    assert Counter(data.labels) == {0: 2, 1: 2, 2: 1}


def test_35_word_convention_has_one_class_per_word_and_no_extras(folder, monkeypatch):
    monkeypatch.setattr("robust_snn.data.keywords.SC35_WORDS", tuple(WORDS))
    data = load_dataset(f"speech-commands:{folder}?classes=35", "train")
    assert data.classes == tuple(WORDS) and len(data) == 10


def test_silence_is_cut_from_background_noise(folder):
    data = load_dataset(f"speech-commands:{folder}?classes=yes&norm=none", "val")
    silence = [i for i in range(len(data)) if data.labels[i] == data.classes.index("_silence_")]
    assert silence and all(data.speakers[i] == "_silence_" for i in silence)
    assert torch.isfinite(data[silence[0]][0]).all()


def test_items_are_deterministic_and_seeded(folder):
    spec = f"speech-commands:{folder}?classes=yes&snr=0,10"
    first, again = load_dataset(spec, "train")[0][0], load_dataset(spec, "train")[0][0]
    other = load_dataset(spec + "&seed=1", "train")[0][0]
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_augmenting_train_split_draws_afresh_per_access_but_val_does_not(folder):
    spec = f"speech-commands:{folder}?classes=yes&snr=0,10&augment=1"
    train, val = load_dataset(spec, "train"), load_dataset(spec, "val")
    assert not torch.equal(train[0][0], train[0][0])
    assert torch.equal(val[0][0], val[0][0])


def test_a_keyword_without_clips_is_named(folder):
    with pytest.raises(DataError, match="no clips of the word.s. left in this split"):
        load_dataset(f"speech-commands:{folder}?classes=yes,left", "train")


def test_speaker_comes_before_nohash():
    assert speaker_of("yes/0a7c2a8d_nohash_1.wav") == "0a7c2a8d"


def test_missing_list_file_is_named(folder):
    (folder / "testing_list.txt").unlink()
    with pytest.raises(DataError, match="has no testing_list.txt"):
        load_dataset(f"speech-commands:{folder}", "train")


def test_silence_without_background_noise_is_refused_with_the_reason(tmp_path):
    folder = make_folder(tmp_path / "sc", noise=False)
    with pytest.raises(DataError, match="needs background noise"):
        load_dataset(f"speech-commands:{folder}?classes=yes", "train")
    assert len(load_dataset(f"speech-commands:{folder}?classes=yes&silence=0", "train")) > 0
