"""The packed keyword-corpus file: a Speech Commands-layout folder in one ``.npz`` (no pickle).

Arrays (format 1): ``format`` (1), ``sample_rate`` (Hz), ``clip_samples``, ``mu_law_bits``; per clip ``word`` and
``voice`` (indices into the string arrays ``words`` and ``voices``), ``split`` (0 train, 1 val, 2 test), ``start``
(sample where the stored segment begins in the clip) and ``offsets`` (n + 1) into ``audio``, the concatenated
mu-law segments (only the span between the first and last non-silent code of each clip; the rest is restored as
zeros); ``noise_names``, ``noise_offsets`` and ``noise_audio`` for the background recordings; ``about``, a JSON
string (how it was made, which voices are held out). Read with ``numpy.load(..., allow_pickle=False)``."""

from __future__ import annotations

import functools
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io.atomic import write_bytes_atomic
from ..io.limits import check_shapes, npz_shapes
from .audio import decimate, mu_law_decode, mu_law_encode, read_wav
from .speech_commands import list_split, speaker_of
from .wav_folder import NOISE_FOLDER

FORMAT = 1
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def pack_folder(folder: Path, out: Path, about: dict | None = None, rate: int = 8000, bits: int = 7) -> int:
    """Pack a Speech Commands-layout ``folder`` (at a multiple of ``rate`` Hz) into ``out``; return its bytes.

    Why 7-bit mu-law by default: mu-law codes of speech hardly compress (about 7.7 bits of entropy at 8 bits),
    so the bit depth sets the file size; 7 bits (about 32 dB SNR, well above the 5-20 dB of the mixed-in
    noise) buy a quarter more clips within the ~15 MB budget than 8 bits would.
    """
    silent = 2 ** (bits - 1)
    words: list[str] = []
    voices: list[str] = []
    rows: list[tuple[int, int, int, int]] = []
    segments: list[np.ndarray] = []
    clip_samples = None
    for split, code in SPLIT_CODES.items():
        for rel in list_split(folder, split):
            codes = mu_law_encode(_at_rate(folder / rel, rate), bits)
            clip_samples = clip_samples or len(codes)
            loud = np.flatnonzero(codes != silent)
            start, stop = (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, 0)
            word, voice = rel.split("/")[0], speaker_of(rel)
            if word not in words:
                words.append(word)
            if voice not in voices:
                voices.append(voice)
            rows.append((words.index(word), voices.index(voice), code, start))
            segments.append(codes[start:stop])
    noise_paths = sorted((folder / NOISE_FOLDER).glob("*.wav"))
    noise = [mu_law_encode(_at_rate(p, rate), bits) for p in noise_paths]
    table = np.asarray(rows, np.int64).reshape(-1, 4)
    arrays = {
        "format": np.int64(FORMAT), "sample_rate": np.int64(rate), "clip_samples": np.int64(clip_samples or rate),
        "mu_law_bits": np.int64(bits),
        "words": np.asarray(words, dtype=str), "voices": np.asarray(voices, dtype=str),
        "word": table[:, 0].astype(np.int16), "voice": table[:, 1].astype(np.int16),
        "split": table[:, 2].astype(np.int8), "start": table[:, 3].astype(np.int32),
        "offsets": np.concatenate([[0], np.cumsum([len(s) for s in segments])]).astype(np.int64),
        "audio": np.concatenate(segments) if segments else np.zeros(0, np.uint8),
        "noise_names": np.asarray([p.stem for p in noise_paths], dtype=str),
        "noise_offsets": np.concatenate([[0], np.cumsum([len(s) for s in noise])]).astype(np.int64),
        "noise_audio": np.concatenate(noise) if noise else np.zeros(0, np.uint8),
        "about": np.asarray(json.dumps(about or {}, sort_keys=True)),
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(out, buffer.getvalue())
    out.chmod(0o644)  # package data: readable by all (the atomic writer's temporary file is private)
    return len(buffer.getvalue())


def _at_rate(path: Path, rate: int) -> np.ndarray:
    wave, source_rate = read_wav(path)
    if source_rate % rate:
        raise DataError(f"{path} is sampled at {source_rate} Hz, not a multiple of the packing rate {rate} Hz")
    return decimate(wave, source_rate // rate)


@dataclass(frozen=True)
class PackedCorpus:
    """A loaded packed corpus; waveforms are decoded on demand (see the module docstring for the fields)."""

    sample_rate: int
    clip_samples: int
    words: tuple[str, ...]
    voices: tuple[str, ...]
    word: np.ndarray
    voice: np.ndarray
    split: np.ndarray
    start: np.ndarray
    offsets: np.ndarray
    audio: np.ndarray  # decoded float32, concatenated segments
    noise: dict[str, np.ndarray]
    about: dict

    def indices(self, split: str) -> np.ndarray:
        """Clip indices of ``split``, in file order."""
        return np.flatnonzero(self.split == SPLIT_CODES[split])

    def clip(self, i: int) -> np.ndarray:
        """Clip ``i``'s waveform ``(clip_samples,)`` float32."""
        out = np.zeros(self.clip_samples, np.float32)
        segment = self.audio[self.offsets[i] : self.offsets[i + 1]]
        out[self.start[i] : self.start[i] + len(segment)] = segment
        return out


def load_packed(path: str | Path) -> PackedCorpus:
    """Read a packed corpus file (cached per path, size and modification time)."""
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataError(f"packed corpus file not found: {path}") from None
    return _load(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _load(path: str, size: int, mtime: int) -> PackedCorpus:
    try:
        check_shapes(npz_shapes(path), path, DataError)
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a packed corpus (.npz without pickle): {exc}") from None
    if "format" not in data or int(data["format"]) != FORMAT:
        raise DataError(f"{path} is not a packed keyword corpus of format {FORMAT}")
    bits = int(data["mu_law_bits"])
    offsets, noise_audio = data["noise_offsets"], mu_law_decode(data["noise_audio"], bits)
    noise = {str(name): noise_audio[offsets[k] : offsets[k + 1]] for k, name in enumerate(data["noise_names"])}
    return PackedCorpus(int(data["sample_rate"]), int(data["clip_samples"]), tuple(map(str, data["words"])),
                        tuple(map(str, data["voices"])), data["word"], data["voice"], data["split"], data["start"],
                        data["offsets"], mu_law_decode(data["audio"], bits), noise, json.loads(str(data["about"])))
