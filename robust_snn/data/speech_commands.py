"""``speech-commands:PATH``: a local Google Speech Commands v2 folder (or any folder in its layout).

Layout: one subfolder per word holding mono PCM WAV files (16 kHz in the original); ``validation_list.txt`` and
``testing_list.txt`` list the val and test files as ``word/file.wav`` (train is every other file); the speaker
of ``word/SPEAKER_nohash_N.wav`` is ``SPEAKER``; ``_background_noise_/`` holds long noise recordings. Those
recordings are split in time, 70/15/15 % for train/val/test, so that no split's noise is heard in another's.

Items are read lazily (a clip's file is read when the item is), so opening the folder costs only a listing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .audio import read_wav
from .datasets import KeywordDataset, SplitClips, item_generator
from .keywords import select
from .options import keyword_options
from .spec import DataError, DataSpec

NOISE_FOLDER = "_background_noise_"
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
NOISE_REGIONS = {"train": (0.0, 0.7), "val": (0.7, 0.85), "test": (0.85, 1.0)}


def speaker_of(relative: str) -> str:
    """``"yes/0a7c2a8d_nohash_0.wav"`` -> ``"0a7c2a8d"`` (the whole stem when there is no ``_nohash_``)."""
    stem = Path(relative).stem
    return stem.split("_nohash_")[0]


def _read_list(folder: Path, name: str) -> set[str]:
    path = folder / name
    if not path.is_file():
        raise DataError(f"speech-commands folder {folder} has no {name} (it lists the files of that split)")
    return {line.strip().replace("\\", "/") for line in path.read_text().splitlines() if line.strip()}


def list_split(folder: Path, split: str) -> list[str]:
    """Relative paths ``word/file.wav`` of ``split``'s clips, sorted."""
    lists = {s: _read_list(folder, name) for s, name in LISTS.items()}
    if split in lists:
        chosen = sorted(lists[split])
        missing = [p for p in chosen[:1000] if not (folder / p).is_file()]
        if missing:
            raise DataError(f"{folder / LISTS[split]} lists {missing[0]}, which does not exist")
        return chosen
    held_out = lists["val"] | lists["test"]
    words = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_"))
    if not words:
        raise DataError(f"speech-commands folder {folder} has no word subfolders")
    return [f"{w}/{f.name}" for w in words for f in sorted((folder / w).iterdir())
            if f.suffix.lower() == ".wav" and f"{w}/{f.name}" not in held_out]


def noise_bank(folder: Path, split: str, sample_rate: int) -> list[torch.Tensor]:
    """This split's time region of every ``_background_noise_/*.wav`` (must be at ``sample_rate`` Hz)."""
    low, high = NOISE_REGIONS[split]
    bank = []
    noise_dir = folder / NOISE_FOLDER
    for path in sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []:
        wave, rate = read_wav(path)
        if rate != sample_rate:
            raise DataError(f"{path} is sampled at {rate} Hz, the clips at {sample_rate} Hz")
        bank.append(torch.from_numpy(wave[round(low * len(wave)) : round(high * len(wave))].copy()))
    return bank


def load_speech_commands(spec: DataSpec, split: str) -> KeywordDataset:
    """The ``split`` of the folder ``spec.path`` as a lazy :class:`KeywordDataset`."""
    options = keyword_options(spec)
    folder = spec.path
    assert folder is not None
    paths = list_split(folder, split)
    if not paths:
        raise DataError(f"speech-commands folder {folder} has no {split} clips")
    _, sample_rate = read_wav(folder / paths[0])

    def load(i: int) -> np.ndarray:
        wave, rate = read_wav(folder / paths[i])
        if rate != sample_rate:
            raise DataError(f"{folder / paths[i]} is sampled at {rate} Hz, the other clips at {sample_rate} Hz")
        return wave

    words = [p.split("/")[0] for p in paths]
    clips = SplitClips(words, [speaker_of(p) for p in paths], load, sample_rate,
                       noise_bank(folder, split, sample_rate))
    selection = select(words, options.plan, item_generator(options.seed, split, -1))
    return KeywordDataset(clips, selection, options, split, str(spec))
