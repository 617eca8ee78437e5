"""Folders of WAV clips, read lazily at one sample rate: the reader behind every audio-folder spec.

The class layout (``speech-commands:PATH``, ``folder:PATH``): ``FOLDER/WORD/*.wav``, one sub-folder per class;
sub-folders whose names start with ``_`` or ``.`` are not classes (``_background_noise_/`` holds noise
recordings). List files (``validation_list.txt``, ``testing_list.txt``) name clips as ``WORD/FILE.wav``.
Flat folders (``fsdd:PATH``) use only :class:`WavClips`.

Sample rate: clips recorded at different rates are resampled (polyphase FIR, ``scipy.signal.resample_poly``)
to the highest rate among them, so no frequency content is lost. The front end measures windows in seconds
and bands in Hz, so its features do not depend on that rate (as long as ``fmax`` is at most half of it).
"""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError
from .audio import read_wav

NOISE_FOLDER = "_background_noise_"


def class_folders(folder: Path) -> list[str]:
    """The class sub-folder names of ``folder``, sorted (``_``/``.`` names excluded)."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def wav_files(folder: Path, word: str) -> list[str]:
    """``WORD/FILE.wav`` of every WAV file in ``folder/WORD``, sorted (``.WAV`` counts too)."""
    return [f"{word}/{f.name}" for f in sorted((folder / word).iterdir())
            if f.suffix.lower() == ".wav" and f.is_file() and not f.name.startswith(".")]


def read_list(folder: Path, name: str) -> set[str] | None:
    """The clips a list file names (``WORD/FILE.wav``, ``/`` separators), or ``None`` when there is no such file.

    Every listed clip must exist: a list that names a missing file is refused, naming the first one."""
    path = folder / name
    if not path.is_file():
        return None
    listed = {line.strip().replace("\\", "/") for line in path.read_text().splitlines() if line.strip()}
    missing = sorted(p for p in listed if not (folder / p).is_file())
    if missing:
        raise DataError(f"{path} lists {missing[0]}, which does not exist")
    return listed


def sample_rate_of(path: Path) -> int:
    """The sample rate in Hz from a WAV file's header (the file itself is read later, when its item is)."""
    try:
        with wave.open(str(path), "rb") as fh:
            rate = fh.getframerate()
    except FileNotFoundError:
        raise DataError(f"audio file not found: {path}") from None
    except (wave.Error, EOFError) as exc:
        raise DataError(f"{path} is not a PCM WAV file: {exc}") from None
    if rate <= 0:
        raise DataError(f"{path} declares a sample rate of {rate} Hz")
    return rate


def resample(waveform: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``waveform`` (samples,) at ``rate`` Hz -> float32 at ``target`` Hz: upsample by ``target / g``, low-pass,
    downsample by ``rate / g`` (``g = gcd``), scipy's polyphase Kaiser-window FIR. Identity when the rates agree."""
    if rate == target:
        return np.asarray(waveform, np.float32)
    from scipy.signal import resample_poly

    g = math.gcd(int(rate), int(target))
    return resample_poly(np.asarray(waveform, np.float64), target // g, rate // g).astype(np.float32)


class WavClips:
    """Clip ``i`` of ``paths`` (relative to ``folder``) as a float32 waveform at :attr:`rate` Hz, read on call.

    ``rate`` is the highest rate among the clips' headers (read once, here: a file that is no WAV is named now,
    not mid-training), or ``rate`` when given.
    """

    def __init__(self, folder: Path, paths: Sequence[str], rate: int | None = None) -> None:
        self.folder, self.paths = folder, list(paths)
        self.rates = [sample_rate_of(folder / p) for p in self.paths]
        self.rate = rate if rate is not None else max(self.rates, default=16000)

    def __len__(self) -> int:
        return len(self.paths)

    def __call__(self, index: int) -> np.ndarray:
        path = self.folder / self.paths[index]
        wave_, rate = read_wav(path)
        if len(wave_) == 0:
            raise DataError(f"{path} holds no samples")
        return resample(wave_, rate, self.rate)


def noise_recordings(folder: Path, rate: int) -> list[np.ndarray]:
    """Every ``_background_noise_/*.wav`` of ``folder`` at ``rate`` Hz (none when there is no such folder)."""
    noise_dir = folder / NOISE_FOLDER
    paths = sorted(noise_dir.glob("*.wav")) if noise_dir.is_dir() else []
    return [resample(*read_wav(path), rate) for path in paths]
