"""``speech-commands:PATH``: a local Google Speech Commands v2 folder (or any folder in its layout).

Layout: one subfolder per word holding mono PCM WAV files (16 kHz in the original); ``validation_list.txt`` and
``testing_list.txt`` list the val and test files as ``word/file.wav`` (train is every other file); the speaker
of ``word/SPEAKER_nohash_N.wav`` is ``SPEAKER``; ``_background_noise_/`` holds long noise recordings. Those
recordings are split in time, 70/15/15 % for train/val/test, so that no split's noise is heard in another's.

Items are read lazily (a clip's file is read when the item is), so opening the folder costs a listing and a read
of each clip's WAV header; clips at other sample rates than the highest are resampled to it
(:mod:`.wav_folder`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .datasets import KeywordDataset, SplitClips, item_generator
from .keywords import select
from .options import keyword_options
from .spec import DataError, DataSpec
from .wav_folder import WavClips, class_folders, noise_recordings, read_list, wav_files

LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
NOISE_REGIONS = {"train": (0.0, 0.7), "val": (0.7, 0.85), "test": (0.85, 1.0)}


def speaker_of(relative: str) -> str:
    """``"yes/0a7c2a8d_nohash_0.wav"`` -> ``"0a7c2a8d"`` (the whole stem when there is no ``_nohash_``)."""
    stem = Path(relative).stem
    return stem.split("_nohash_")[0]


def _read_list(folder: Path, name: str) -> set[str]:
    listed = read_list(folder, name)
    if listed is None:
        raise DataError(f"speech-commands folder {folder} has no {name} (it lists the files of that split)")
    return listed


def list_split(folder: Path, split: str) -> list[str]:
    """Relative paths ``word/file.wav`` of ``split``'s clips, sorted."""
    lists = {s: _read_list(folder, name) for s, name in LISTS.items()}
    if split in lists:
        return sorted(lists[split])
    held_out = lists["val"] | lists["test"]
    words = class_folders(folder)
    if not words:
        raise DataError(f"speech-commands folder {folder} has no word subfolders")
    return [p for w in words for p in wav_files(folder, w) if p not in held_out]


def noise_bank(folder: Path, split: str, sample_rate: int) -> list[torch.Tensor]:
    """This split's time region of every ``_background_noise_/*.wav``, at ``sample_rate`` Hz."""
    low, high = NOISE_REGIONS[split]
    return [torch.from_numpy(rec[round(low * len(rec)) : round(high * len(rec))].copy())
            for rec in noise_recordings(folder, sample_rate)]


def load_speech_commands(spec: DataSpec, split: str) -> KeywordDataset:
    """The ``split`` of the folder ``spec.path`` as a lazy :class:`KeywordDataset`."""
    options = keyword_options(spec)
    folder = spec.path
    assert folder is not None
    paths = list_split(folder, split)
    if not paths:
        raise DataError(f"speech-commands folder {folder} has no {split} clips")
    load = WavClips(folder, paths)

    words = [p.split("/")[0] for p in paths]
    clips = SplitClips(words, [speaker_of(p) for p in paths], load, load.rate, noise_bank(folder, split, load.rate))
    selection = select(words, options.plan, item_generator(options.seed, split, -1))
    return KeywordDataset(clips, selection, options, split, str(spec))
