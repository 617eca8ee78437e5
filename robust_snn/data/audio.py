"""Waveform plumbing shared by the keyword loaders: WAV files, mu-law bytes, decimation, trimming.

Waveforms are float32 arrays in [-1, 1], one dimension ``(samples,)``; rates in Hz; durations in seconds.
Only the standard library (``wave``) and numpy: no audio package is needed at run time.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from ..errors import DataError

MU = 255.0
"""The mu-law constant of G.711."""


def read_wav(source: str | Path | bytes) -> tuple[np.ndarray, int]:
    """``(waveform (samples,) float32 in [-1, 1], sample rate in Hz)`` of a PCM WAV file (8/16/32-bit ints).

    Multi-channel files are averaged to mono. ``source`` is a path or the bytes of a whole file.
    """
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "rb") as fh:
            rate, width, channels = fh.getframerate(), fh.getsampwidth(), fh.getnchannels()
            raw = fh.readframes(fh.getnframes())
    except FileNotFoundError:
        raise DataError(f"audio file not found: {name}") from None
    except (wave.Error, EOFError) as exc:
        raise DataError(f"{name} is not a PCM WAV file: {exc}") from None
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        x = (np.frombuffer(raw, "<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    else:
        raise DataError(f"{name}: unsupported sample width of {8 * width} bits (use 8, 16 or 32-bit PCM)")
    if channels > 1:
        x = x[: len(x) // channels * channels].reshape(-1, channels).mean(1)
    return x, rate


def write_wav(path: str | Path, waveform: np.ndarray, rate: int) -> None:
    """Write ``waveform`` (samples,) in [-1, 1] as a 16-bit mono PCM WAV file (values beyond +-1 are clipped)."""
    pcm = np.clip(np.round(np.asarray(waveform, np.float64) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(int(rate))
        fh.writeframes(pcm.tobytes())


def mu_law_encode(waveform: np.ndarray, bits: int = 8) -> np.ndarray:
    """Mu-law codes (uint8) of a waveform in [-1, 1], with ``2**bits - 1`` levels and silence exactly at code
    ``2**(bits-1)``: ``y = sign(x) ln(1 + mu |x|) / ln(1 + mu)``, code ``= round(L y) + 2**(bits-1)``,
    ``L = 2**(bits-1) - 1``. 8 bits give about 38 dB SNR (telephone quality), 7 bits about 32 dB.
    """
    if not 2 <= bits <= 8:
        raise ValueError(f"mu-law bits must be in 2..8, got {bits}")
    levels = 2 ** (bits - 1) - 1
    x = np.clip(np.asarray(waveform, np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    return (np.round(levels * y) + levels + 1).astype(np.uint8)


def mu_law_decode(codes: np.ndarray, bits: int = 8) -> np.ndarray:
    """Inverse of :func:`mu_law_encode` (same ``bits``): float32 waveform in [-1, 1] from uint8 codes."""
    levels = 2 ** (bits - 1) - 1
    y = np.clip((np.arange(256, dtype=np.float64) - levels - 1) / levels, -1.0, 1.0)
    table = (np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU).astype(np.float32)
    return table[np.asarray(codes, np.uint8)]


def lowpass_taps(cutoff: float, n_taps: int = 63) -> np.ndarray:
    """Windowed-sinc (Hann) low-pass FIR with unit DC gain; ``cutoff`` as a fraction of the sample rate."""
    n = np.arange(n_taps) - (n_taps - 1) / 2
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hanning(n_taps + 2)[1:-1]
    return (taps / taps.sum()).astype(np.float64)


def decimate(waveform: np.ndarray, factor: int) -> np.ndarray:
    """Reduce the rate by an integer ``factor``: low-pass at 0.45 of the new rate, then keep every factor-th sample."""
    if factor == 1:
        return np.asarray(waveform, np.float32)
    taps = lowpass_taps(0.45 / factor)
    return np.convolve(np.asarray(waveform, np.float64), taps, mode="same")[::factor].astype(np.float32)


def trim_silence(waveform: np.ndarray, rate: int, floor_db: float = -45.0, margin: float = 0.02) -> tuple[int, int]:
    """``(start, stop)`` sample indices of the part louder than ``floor_db`` below the peak, with ``margin`` seconds.

    Uses 10 ms frame energies; an all-zero waveform gives ``(0, 0)``.
    """
    x = np.asarray(waveform, np.float64)
    peak = np.abs(x).max() if len(x) else 0.0
    if peak == 0:
        return 0, 0
    hop = max(1, rate // 100)
    n = len(x) // hop
    if n == 0:
        return 0, len(x)
    energy = np.sqrt((x[: n * hop].reshape(n, hop) ** 2).mean(1))
    loud = np.flatnonzero(20 * np.log10(np.maximum(energy, 1e-12) / peak) > floor_db)
    if len(loud) == 0:
        return 0, 0
    pad = int(round(margin * rate))
    return max(0, loud[0] * hop - pad), min(len(x), (loud[-1] + 1) * hop + pad)


def fit_length(waveform: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad at the end, or cut, to exactly ``n`` samples (Speech Commands clips are 1 s; a few are shorter)."""
    x = np.asarray(waveform, np.float32)
    if len(x) >= n:
        return x[:n]
    return np.concatenate([x, np.zeros(n - len(x), np.float32)])
