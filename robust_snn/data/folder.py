"""``folder:PATH``: the user's own keywords, as a folder of class sub-folders of WAV files.

Layout (that of Speech Commands, any words): ``PATH/WORD/*.wav``, one sub-folder per class; class names are the
sub-folder names, sorted (label = position). Sub-folders starting with ``_`` or ``.`` are not classes;
``_background_noise_/*.wav``, when present, is the noise that ``snr=LOW,HIGH`` mixes in. WAV files may have any
sample rate (resampled to the folder's highest, :mod:`.wav_folder`) and any length (padded or cut to
``duration``, 1 s by default).

Splits: ``testing_list.txt`` and ``validation_list.txt`` (``WORD/FILE.wav`` per line), where present, name the test
and val clips; a split without a list file is a seeded, class-stratified fraction (``test``, ``val``: 10% each) of
the clips no list names; train is the rest. The speaker of ``WORD/SPEAKER_nohash_N.wav`` is ``SPEAKER`` (the whole
file name otherwise).

A split of up to :data:`MATERIALIZE_LIMIT` clips is computed once at load time (fast to train on); a larger one
stays lazy (a clip is read when its item is), to bound memory. Both give the same items.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .datasets import KeywordDataset, SplitClips, item_generator, materialize
from .keywords import select
from .options import FolderOptions, folder_options
from .spec import DataError, DataSpec
from .speech_commands import LISTS, noise_bank, speaker_of
from .splits import stratified_holdout
from .wav_folder import WavClips, class_folders, read_list, wav_files

MATERIALIZE_LIMIT = 20_000
"""Clips of a split computed eagerly at most (about 6 kB each at 16 channels x 1 s: 120 MB)."""


def list_classes(folder: Path) -> tuple[tuple[str, ...], list[str]]:
    """``(class names, WORD/FILE.wav of every clip)``; a folder without class sub-folders, or a class sub-folder
    without WAV files, is refused, naming it."""
    classes = class_folders(folder)
    if not classes:
        raise DataError(f"folder {folder} has no class sub-folders (expected {folder}/WORD/*.wav, one sub-folder "
                        "per class)")
    paths = []
    for word in classes:
        files = wav_files(folder, word)
        if not files:
            raise DataError(f"class folder {folder / word} holds no .wav files")
        paths += files
    return tuple(classes), paths


def split_of(folder: Path, paths: list[str], labels: np.ndarray, options: FolderOptions) -> np.ndarray:
    """The split (``"train"``, ``"val"``, ``"test"``) of every clip, as the module docstring says."""
    split = np.full(len(paths), "train", dtype=object)
    index = {p: i for i, p in enumerate(paths)}
    drawn = []
    for name, fraction in (("test", options.test), ("val", options.val)):
        listed = read_list(folder, LISTS[name])
        if listed is None:
            drawn.append((name, fraction))
            continue
        outside = sorted(p for p in listed if p not in index)
        if outside:
            raise DataError(f"{folder / LISTS[name]} lists {outside[0]}, which is not a .wav file of a class folder")
        twice = sorted(p for p in listed if split[index[p]] != "train")
        if twice:
            raise DataError(f"{twice[0]} is listed in both {LISTS['test']} and {LISTS['val']}")
        split[[index[p] for p in listed]] = name
    left = 1.0
    for code, (name, fraction) in enumerate(drawn):
        pool = np.flatnonzero(split == "train")
        held = stratified_holdout(labels[pool], fraction / left, (options.clips.seed, code))
        split[pool[held]] = name
        left -= fraction
    return split.astype(str)


def load_folder(spec: DataSpec, split: str) -> Dataset:
    """The ``split`` of the folder ``spec.path``."""
    folder = spec.path
    assert folder is not None
    classes, paths = list_classes(folder)
    options = folder_options(spec, classes)
    words = [p.split("/")[0] for p in paths]
    labels = np.array([classes.index(w) for w in words])
    assignment = split_of(folder, paths, labels, options)
    chosen = [i for i in range(len(paths)) if assignment[i] == split]
    counts = np.bincount(labels[chosen], minlength=len(classes))
    if chosen and not counts.all():
        missing = int(np.argmin(counts))
        why = (f"{LISTS[split]} names none" if split in LISTS and (folder / LISTS[split]).is_file()
               else "a split drawn per class needs at least 3 files per class")
        raise DataError(f"folder {folder}: class {classes[missing]!r} has no {split} clips "
                        f"({int((labels == missing).sum())} .wav files in all; {why})")
    rate = WavClips(folder, paths).rate  # the folder's highest rate: one rate for every split
    reader = WavClips(folder, [paths[i] for i in chosen], rate)
    clips = SplitClips([words[i] for i in chosen], [speaker_of(paths[i]) for i in chosen], reader, rate,
                       noise_bank(folder, split, rate))
    selection = select(clips.words, options.clips.plan, item_generator(options.clips.seed, split, -1))
    data = KeywordDataset(clips, selection, options.clips, split, str(spec))
    return data if data.augment or len(data) > MATERIALIZE_LIMIT else materialize(data)
