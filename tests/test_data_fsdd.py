"""``fsdd:PATH`` on the real Free Spoken Digit Dataset (read-only, beside the repository at ../shared/data/fsdd).

The reference for each split is the file names themselves, parsed here with a regular expression of this test's
own: ``{digit}_{speaker}_{take}.wav``; the official test set is takes 0-4.
"""

import re
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from robust_snn.cli import main
from robust_snn.data import DataError, FrontEndConfig, features, load_dataset, parse_spec
from robust_snn.data.fsdd import list_recordings, split_of
from robust_snn.data.options import fsdd_options

ROOT = Path(__file__).resolve().parent.parent
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

needs_fsdd = pytest.mark.skipif(not FSDD.is_dir(), reason=f"FSDD recordings not found at {FSDD} (CI has them at "
                                                          "../shared/data/fsdd relative to the repository root)")


def names_by_take():
    parsed = [re.fullmatch(r"(\d)_([a-z]+)_(\d+)\.wav", p.name) for p in sorted(FSDD.glob("*.wav"))]
    return {m[0]: (int(m[1]), m[2], int(m[3])) for m in parsed}


@pytest.fixture(scope="module")
def official():
    return {s: load_dataset(f"fsdd:{FSDD}", s) for s in ("train", "val", "test")}


@needs_fsdd
def test_official_split_puts_every_take_0_to_4_in_test_and_none_in_train_or_val():
    files = names_by_take()
    recordings = list_recordings(FSDD)
    options = fsdd_options(parse_spec(f"fsdd:{FSDD}"))
    assignment = dict(zip([r.name for r in recordings], split_of(recordings, options)))
    assert set(assignment) == set(files) and len(files) == 2500
    assert all((assignment[name] == "test") == (take < 5) for name, (_, _, take) in files.items())


@needs_fsdd
def test_official_splits_are_class_balanced_with_a_stratified_10_percent_val(official):
    assert Counter(official["test"].labels) == {d: 25 for d in range(10)}  # 5 speakers x 5 takes
    assert Counter(official["val"].labels) == {d: 22 for d in range(10)}  # round(0.1 x 225)
    assert Counter(official["train"].labels) == {d: 225 - 22 for d in range(10)}
    assert official["train"].classes == DIGITS


@needs_fsdd
def test_val_and_train_share_no_clip(official):
    train = {x.numpy().tobytes() for x, _ in official["train"]}
    val = {x.numpy().tobytes() for x, _ in official["val"]}
    assert len(val) == len(official["val"]) and not train & val


@needs_fsdd
def test_an_item_is_the_front_end_of_its_clip_zero_padded_to_0_8_s(official):
    with wave.open(str(FSDD / "0_george_0.wav")) as fh:  # the first test file in name order
        rate = fh.getframerate()
        pcm = np.frombuffer(fh.readframes(fh.getnframes()), "<i2").astype(np.float32) / 32768
    n = round(0.8 * rate)
    assert len(pcm) < n
    padded = torch.from_numpy(np.concatenate([pcm, np.zeros(n - len(pcm), np.float32)]))
    x, label = official["test"][0]
    assert label == 0 and x.shape == (78, 16)  # 1 + (6400 - 240) // 80 frames of 30 ms every 10 ms
    assert torch.allclose(x, features(padded, rate, FrontEndConfig()), atol=1e-5)


@needs_fsdd
def test_speaker_independent_split_shares_no_speaker_between_train_and_test():
    data = {s: load_dataset(f"fsdd:{FSDD}?test_speakers=theo,george", s) for s in ("train", "val", "test")}
    assert set(data["test"].speakers) == {"theo", "george"} and len(data["test"]) == 1000
    assert set(data["train"].speakers) == set(data["val"].speakers) == {"jackson", "nicolas", "yweweler"}
    assert Counter(data["test"].labels) == {d: 100 for d in range(10)}
    assert Counter(data["val"].labels) == {d: 15 for d in range(10)}  # 10% of 150 per digit


@needs_fsdd
def test_val_speakers_hold_out_whole_speakers_for_validation():
    spec = f"fsdd:{FSDD}?test_speakers=theo&val_speakers=nicolas"
    speakers = {s: set(load_dataset(spec, s).speakers) for s in ("train", "val", "test")}
    assert speakers == {"train": {"george", "jackson", "yweweler"}, "val": {"nicolas"}, "test": {"theo"}}


@needs_fsdd
def test_the_val_draw_is_seeded(official):
    again = load_dataset(f"fsdd:{FSDD}", "val")
    assert torch.equal(again.tensors[0], official["val"].tensors[0])
    other = load_dataset(f"fsdd:{FSDD}?seed=1", "val")
    assert not torch.equal(other.tensors[0], official["val"].tensors[0])
    assert Counter(other.labels) == Counter(official["val"].labels)


@needs_fsdd
def test_front_end_options_apply(official):
    x, _ = load_dataset(f"fsdd:{FSDD}?features=mfcc20&duration=1", "test")[0]
    assert x.shape == (98, 20)


@needs_fsdd
@pytest.mark.parametrize("option, message", [
    ("test_speakers=lucas", "no speaker 'lucas' in this folder; its speakers: george, jackson, nicolas, theo, yweweler"),
    ("test_speakers=" + ",".join(SPEAKERS), "option test_speakers name every speaker of this folder"),
    ("val_speakers=theo", "option val_speakers needs test_speakers"),
    ("test_speakers=theo&val_speakers=theo", "speaker 'theo' is in both test_speakers and val_speakers"),
    ("classes=yes,no", "unknown option 'classes' for fsdd"),
])
def test_a_bad_option_exits_2_naming_it(option, message, capsys):
    assert main(["train", "--data", f"fsdd:{FSDD}?{option}", "--out", "never.rsnn"]) == 2
    assert message in capsys.readouterr().err


def write_wav(path, n=800, rate=8000):
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(np.zeros(n, "<i2").tobytes())


def test_a_missing_folder_exits_2_naming_it(tmp_path, capsys):
    assert main(["train", "--data", f"fsdd:{tmp_path / 'nope'}", "--out", str(tmp_path / "m.rsnn")]) == 2
    assert f"fsdd folder not found: {tmp_path / 'nope'}" in capsys.readouterr().err


def test_a_folder_without_fsdd_files_is_named(tmp_path):
    (tmp_path / "recordings").mkdir()
    with pytest.raises(DataError, match=r"holds no .wav files .*did you mean .*recordings\?"):
        load_dataset(f"fsdd:{tmp_path}", "train")
    write_wav(tmp_path / "hello.wav")
    with pytest.raises(DataError, match="holds no FSDD recordings: no .wav file is named"):
        load_dataset(f"fsdd:{tmp_path}", "train")


def test_a_badly_named_file_among_fsdd_files_is_named(tmp_path):
    write_wav(tmp_path / "3_ann_0.wav")
    write_wav(tmp_path / "3-ann-1.wav")
    with pytest.raises(DataError, match=r"3-ann-1.wav is not named \{digit\}_\{speaker\}_\{take\}.wav"):
        load_dataset(f"fsdd:{tmp_path}", "train")
