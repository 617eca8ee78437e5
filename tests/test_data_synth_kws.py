"""The embedded ``synth-kws`` corpus, and its generator where the speech engines are installed."""

import hashlib
import shutil

import pytest
import torch

from robust_snn.data import load_dataset
from robust_snn.data.packed import load_packed
from robust_snn.data.synth_kws import EMBEDDED
from robust_snn.training import iterate_batches

CLASSES = ("yes", "no", "up", "down", "left", "right", "_unknown_", "_silence_")


def identity(speaker: str) -> str:
    """The held-out unit: the espeak-ng variant of ``espeak.ACCENT.VARIANT``, or the flite voice."""
    return speaker.rsplit(".", 1)[-1] if speaker.startswith("espeak.") else speaker


@pytest.fixture(scope="module")
def splits():
    return {s: load_dataset("synth-kws", s) for s in ("train", "val", "test")}


def test_embedded_corpus_is_small_enough_to_ship():
    assert EMBEDDED.stat().st_size < 16e6


def test_embedded_corpus_loads_from_the_file_the_same_as_from_the_cache(splits):
    """A cold load (the corpus cache cleared) reads the file again and gives the same split. How long it takes
    is measured by ``benchmarks/bench_data.py`` (a timed assertion fails on a busy machine)."""
    from robust_snn.data import packed

    packed._load.cache_clear()
    cold = load_dataset("synth-kws", "train")
    assert packed._load.cache_info().misses == 1
    assert torch.equal(cold.tensors[0], splits["train"].tensors[0])
    assert torch.equal(cold.tensors[1], splits["train"].tensors[1])


def test_splits_have_8_classes_of_16_channel_10_ms_frames(splits):
    for data in splits.values():
        x, y = data[0]
        assert data.classes == CLASSES and data.dt == 0.01
        assert x.shape == (98, 16) and x.dtype == torch.float32 and isinstance(y, int)
        assert set(data.tensors[1].tolist()) == set(range(8))


def test_no_voice_is_heard_in_two_splits(splits):
    voices = {s: {identity(v) for v in d.speakers if v != "_silence_"} for s, d in splits.items()}
    assert voices["train"] and voices["val"] and voices["test"]
    assert not voices["train"] & voices["test"]
    assert not voices["train"] & voices["val"]
    assert not voices["val"] & voices["test"]


def test_held_out_voices_are_recorded_in_the_file():
    about = load_packed(EMBEDDED).about
    assert "slt" in about["held_out"]["test"]["flite voices"]
    assert about["held_out"]["test"]["espeak-ng variants"]


def test_loading_is_deterministic(splits):
    again = load_dataset("synth-kws", "val")
    assert torch.equal(again.tensors[0], splits["val"].tensors[0])


def test_the_trainer_batches_it_directly(splits):
    x, y = next(iter(iterate_batches(splits["test"], 32)))
    assert x.shape == (32, 98, 16) and y.dtype == torch.int64


def test_babble_noise_contains_no_speech_commands_word():
    from robust_snn.data.keywords import SC35_WORDS
    from robust_snn.data.make_synth_kws import BABBLE

    assert not {w for sentence in BABBLE for w in sentence.split()} & set(SC35_WORDS)


needs_engines = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("espeak-ng", "flite", "sox")),
    reason="the generator needs espeak-ng, flite and sox (apt-get install -y espeak-ng flite sox)")


@needs_engines
def test_generator_writes_the_speech_commands_layout_and_packs_it(tmp_path):
    from robust_snn.data.make_synth_kws import main

    assert main(["--out", str(tmp_path / "kws"), "--size", "tiny", "--pack", str(tmp_path / "kws.npz")]) == 0
    assert (tmp_path / "kws" / "testing_list.txt").is_file()
    assert (tmp_path / "kws" / "_background_noise_" / "white_noise.wav").is_file()
    folder = load_dataset(f"speech-commands:{tmp_path / 'kws'}?classes=yes,no", "test")
    packed = load_dataset(f"synth-kws:{tmp_path / 'kws.npz'}?classes=yes,no", "test")
    assert folder.classes == packed.classes and len(folder) == len(packed)
    assert folder.speakers == packed.speakers
    train = load_dataset(f"synth-kws:{tmp_path / 'kws.npz'}?classes=yes,no", "train")
    assert not {identity(v) for v in train.speakers} & {identity(v) for v in packed.speakers} - {"_silence_"}


def corpus_digest(folder, packed):
    """SHA-256 over every file of a generated folder (relative path and bytes, in sorted order) and the .npz."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    h.update(packed.read_bytes())
    return h.hexdigest()


@needs_engines
def test_generator_is_byte_for_byte_deterministic_whatever_the_pulseaudio_state(tmp_path, monkeypatch):
    """Two tiny generations from one seed, with one worker and with two, each the first run in a fresh $HOME,
    give the same bytes in every file and in the packed corpus.

    Regression: espeak-ng 1.51 draws the noise of breathy and Klatt voices from the C library's unseeded
    ``rand()`` and loads libpulse even with ``--stdout``; in a fresh ``$HOME`` libpulse names a new
    ``/tmp/pulse-XXXXXXXXXXXX`` folder with the same ``rand()``, so the first clip of such a voice differed
    (here the tiny corpus's first job, ``yes`` by ``en+f2``) from run to run. The generator now pins
    PulseAudio's runtime folder for every espeak-ng call."""
    from robust_snn.data.make_synth_kws import main

    for name in ("PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    digests = []
    for k, jobs in enumerate(("1", "2")):
        home = tmp_path / f"home{k}"
        home.mkdir()
        monkeypatch.setenv("HOME", str(home))
        out, packed = tmp_path / f"kws{k}", tmp_path / f"kws{k}.npz"
        assert main(["--out", str(out), "--size", "tiny", "--seed", "0", "--jobs", jobs, "--pack", str(packed)]) == 0
        digests.append(corpus_digest(out, packed))
    assert digests[0] == digests[1]
