"""Waveform augmentation and noise mixing, seeded: every random draw takes a ``torch.Generator``.

Waveforms are float32 tensors ``(samples,)``; SNRs in dB; shifts and levels as documented per function.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch


def active_power(waveform: torch.Tensor, frame: int, floor_db: float = 30.0) -> float:
    """Mean power of the frames (``frame`` samples each) within ``floor_db`` dB of the loudest frame.

    The power of the speech itself, not diluted by the silence around a word; 0 for digital silence.
    """
    x = waveform[: len(waveform) // frame * frame].reshape(-1, frame)
    energy = x.square().mean(1)
    peak = float(energy.max()) if len(energy) else 0.0
    if peak <= 0:
        return 0.0
    return float(energy[energy >= peak * 10 ** (-floor_db / 10)].mean())


def random_uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def time_shift(waveform: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift by a uniform integer in ``[-max_shift, max_shift]`` samples, filling with zeros (no wrap-around)."""
    if max_shift <= 0:
        return waveform
    shift = int(torch.randint(-max_shift, max_shift + 1, (), generator=generator))
    out = torch.zeros_like(waveform)
    if shift >= 0:
        out[shift:] = waveform[: len(waveform) - shift]
    else:
        out[:shift] = waveform[-shift:]
    return out


def noise_segment(bank: Sequence[torch.Tensor], n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` samples cut at a uniform offset from a uniformly chosen recording of ``bank`` (each >= ``n`` long)."""
    usable = [rec for rec in bank if len(rec) >= n]
    if not usable:
        raise ValueError(f"no background-noise recording is at least {n} samples long")
    rec = usable[int(torch.randint(len(usable), (), generator=generator))]
    start = int(torch.randint(len(rec) - n + 1, (), generator=generator))
    return rec[start : start + n]


def mix_at_snr(speech: torch.Tensor, noise: torch.Tensor, snr_db: float, speech_power: float) -> torch.Tensor:
    """``speech + g noise`` with ``g`` such that ``10 log10(speech_power / mean(g noise)^2) = snr_db``."""
    noise_power = float(noise.square().mean())
    if speech_power <= 0 or noise_power <= 0:
        return speech.clone()
    gain = math.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
    return speech + gain * noise


def silence_clip(bank: Sequence[torch.Tensor], n: int, generator: torch.Generator,
                 level_db: tuple[float, float] = (-60.0, -20.0)) -> torch.Tensor:
    """A ``_silence_`` clip: background noise scaled to an RMS level uniform in ``level_db`` (dB full scale)."""
    segment = noise_segment(bank, n, generator)
    rms = float(segment.square().mean().sqrt())
    target = 10 ** (random_uniform(*level_db, generator) / 20)
    return segment * (target / rms) if rms > 0 else segment.clone()
