"""``fsdd:PATH``: the Free Spoken Digit Dataset from a local folder (Zohar Jackson et al., "Free Spoken Digit
Dataset", github.com/Jakobovski/free-spoken-digit-dataset, DOI 10.5281/zenodo.1342401; CC BY-SA 4.0).

Files: ``{digit}_{speaker}_{take}.wav``, e.g. ``7_jackson_32.wav``: mono 8 kHz recordings of one spoken digit,
trimmed to the word (0.14-2.28 s). Ten classes ``zero`` .. ``nine``, label = the digit. Each clip is padded with
zeros at the end, or cut, to ``duration`` seconds (default 0.8 s, which keeps 99.2% of the clips whole), then goes
through the same front end as every audio spec (``features``, ``window``, ...; see :mod:`.options`).

Splits:

- official (the default, the dataset's own): takes 0-4 of every digit and speaker are the test split, the other
  takes train; val is a seeded, class-stratified ``val`` fraction (10%) of those train takes.
- ``test_speakers=A,B``: speaker-independent: those speakers' clips (every take) are the whole test split; val is a
  seeded, class-stratified ``val`` fraction of the other speakers' clips. Not a held-out speaker by default: the
  folder has five speakers, and holding out a second one would train on three (a quarter less data and voice
  variety), while one voice's accuracy is a noisy basis for picking the best epoch. The price is that val
  accuracy is within-speaker and reads higher than test; ``val_speakers=C`` makes C's clips the val split instead.

Items are computed once at load time (one batched front-end pass over the split), unless ``augment=1``.

Front end: the default is every audio spec's (16 log-mel bands), so models and data of different kinds stay
comparable; on FSDD ``features=mfcc16`` trains far better (measured: 93.6% against 76.8% test accuracy after 40
epochs with the default 48-neuron network; README, Data). The clips are short, so a padded clip is about half
digital silence, and per-utterance normalisation of log-mel bands then mostly encodes speech against silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .datasets import KeywordDataset, SplitClips, item_generator, materialize
from .keywords import DIGITS, select
from .options import FsddOptions, fsdd_options
from .spec import DataError, DataSpec
from .splits import stratified_holdout
from .wav_folder import WavClips

NAME = re.compile(r"([0-9])_([A-Za-z0-9-]+)_([0-9]+)\.wav")
OFFICIAL_TEST_TAKES = 5
"""Takes 0..4 of every digit and speaker are the official test set."""
EXAMPLE = "{digit}_{speaker}_{take}.wav (e.g. 7_jackson_32.wav)"


@dataclass(frozen=True)
class Recording:
    """One FSDD file: its name in the folder, the digit said (0-9), the speaker and the take number."""

    name: str
    digit: int
    speaker: str
    take: int


def list_recordings(folder: Path) -> list[Recording]:
    """Every recording of ``folder``, sorted by file name; a folder without any, or a badly named WAV, is refused."""
    wavs = sorted(f.name for f in folder.iterdir() if f.suffix.lower() == ".wav" and f.is_file())
    hint = f"; did you mean {folder / 'recordings'}?" if (folder / "recordings").is_dir() else ""
    if not wavs:
        raise DataError(f"fsdd folder {folder} holds no .wav files (FSDD files are named {EXAMPLE}){hint}")
    matches = [NAME.fullmatch(name) for name in wavs]
    bad = [name for name, m in zip(wavs, matches) if m is None]
    if len(bad) == len(wavs):
        raise DataError(f"fsdd folder {folder} holds no FSDD recordings: no .wav file is named {EXAMPLE}, "
                        f"e.g. {bad[0]}{hint}")
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise DataError(f"fsdd folder {folder}: {bad[0]}{more} is not named {EXAMPLE}")
    return [Recording(name, int(m[1]), m[2], int(m[3])) for name, m in zip(wavs, matches)]


def _check_speakers(recordings: list[Recording], options: FsddOptions) -> None:
    known = sorted({r.speaker for r in recordings})
    for option in ("test_speakers", "val_speakers"):
        for name in getattr(options, option):
            if name not in known:
                raise DataError(f"option {option}: no speaker {name!r} in this folder; its speakers: "
                                f"{', '.join(known)}")
    held = set(options.test_speakers) | set(options.val_speakers)
    if held and held >= set(known):
        which = "test_speakers" if set(options.test_speakers) >= set(known) else "test_speakers and val_speakers"
        raise DataError(f"option {which} name every speaker of this folder ({', '.join(known)}): none is left to "
                        "train on")


def split_of(recordings: list[Recording], options: FsddOptions) -> np.ndarray:
    """The split (``"train"``, ``"val"``, ``"test"``) of every recording, as the module docstring says."""
    _check_speakers(recordings, options)
    speakers = np.array([r.speaker for r in recordings])
    if options.test_speakers:
        test = np.isin(speakers, options.test_speakers)
    else:
        test = np.array([r.take < OFFICIAL_TEST_TAKES for r in recordings], bool)
    pool = np.flatnonzero(~test)
    if options.val_speakers:
        val = np.isin(speakers, options.val_speakers)
    else:
        val = np.zeros(len(recordings), bool)
        labels = np.array([recordings[i].digit for i in pool])
        val[pool[stratified_holdout(labels, options.val, options.clips.seed)]] = True
    return np.where(test, "test", np.where(val, "val", "train"))


def load_fsdd(spec: DataSpec, split: str) -> Dataset:
    """The ``split`` of the FSDD folder ``spec.path``."""
    options = fsdd_options(spec)
    folder = spec.path
    assert folder is not None
    recordings = list_recordings(folder)
    chosen = [r for r, s in zip(recordings, split_of(recordings, options)) if s == split]
    reader = WavClips(folder, [r.name for r in chosen])
    words = [DIGITS[r.digit] for r in chosen]
    clips = SplitClips(words, [r.speaker for r in chosen], reader, reader.rate, noise=[])
    selection = select(words, options.clips.plan, item_generator(options.clips.seed, split, -1))
    data = KeywordDataset(clips, selection, options.clips, split, str(spec))
    return data if data.augment else materialize(data)
