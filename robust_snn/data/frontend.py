"""Audio front end, torch only: waveform -> ``(time, channels)`` network input.

Pipeline (per clip): optional pre-emphasis ``x[n] - a x[n-1]``; short-time power spectrum with a Hann window of
``window`` seconds every ``stride`` seconds (no padding, so a 1 s clip at 30 ms / 10 ms gives 98 frames at any
sample rate, as in the paper); ``n_mels`` triangular mel bands between ``f_min`` and ``f_max`` Hz (HTK mel scale
``m = 2595 log10(1 + f / 700)``); natural log with a floor; optionally the first ``n_mfcc`` coefficients of an
orthonormal DCT-II over the bands (MFCC); per-channel normalisation; then the spike encoding
(:mod:`robust_snn.data.encoding`).

The defaults give what Xylo Audio's 16 input channels expect at the network's 10 ms step: 16 log-mel bands from
100 Hz to 4 kHz (so 8 kHz and 16 kHz recordings give the same features). :class:`FrontEndConfig` is stored in model
files, so a deployed model knows how its inputs were made.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from ..config import ConfigError, build_dataclass

NORMALIZATIONS = ("utterance", "none")
ENCODINGS = ("current", "delta")


@dataclass(frozen=True)
class FrontEndConfig:
    """How a waveform becomes network input. Frequencies in Hz, times in seconds.

    ``normalize="utterance"`` maps each channel of each clip to zero mean and unit variance over its frames
    (robust to recording level; needs no data statistics). ``encoding="delta"`` doubles the channels (up, down).
    """

    n_mels: int = 16
    n_mfcc: int | None = None
    f_min: float = 100.0
    f_max: float = 4000.0
    window: float = 0.03
    stride: float = 0.01
    preemphasis: float = 0.0
    log_floor: float = 1e-8
    normalize: str = "utterance"
    encoding: str = "current"
    delta_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.n_mels < 1:
            raise ConfigError(f"frontend.n_mels must be >= 1, got {self.n_mels!r}")
        if self.n_mfcc is not None and not 1 <= self.n_mfcc <= self.n_mels:
            raise ConfigError(f"frontend.n_mfcc must be in 1..n_mels ({self.n_mels}) or absent, got {self.n_mfcc!r}")
        if not 0 <= self.f_min < self.f_max:
            raise ConfigError(f"frontend.f_min must be >= 0 and below f_max ({self.f_max}), got {self.f_min!r}")
        for name in ("window", "stride", "log_floor", "delta_threshold"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"frontend.{name} must be a positive number, got {value!r}")
        if not 0 <= self.preemphasis < 1:
            raise ConfigError(f"frontend.preemphasis must be in [0, 1), got {self.preemphasis!r}")
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"frontend.normalize must be one of {', '.join(NORMALIZATIONS)}, got {self.normalize!r}")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"frontend.encoding must be one of {', '.join(ENCODINGS)}, got {self.encoding!r}")

    @property
    def n_features(self) -> int:
        """Channels before encoding: MFCC count, or mel bands."""
        return self.n_mfcc if self.n_mfcc is not None else self.n_mels

    @property
    def n_out(self) -> int:
        """Channels of the network input (``NetworkConfig.n_in``)."""
        return self.n_features * (2 if self.encoding == "delta" else 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FrontEndConfig":
        return build_dataclass(cls, data, "frontend")


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """HTK mel scale: ``2595 log10(1 + f / 700)``."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    return 700.0 * (10.0 ** (torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def mel_centres(n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """Centre frequencies in Hz (n_mels,) of the bands: equally spaced in mel between ``f_min`` and ``f_max``."""
    return mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2))[1:-1]


@functools.lru_cache(maxsize=32)
def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float, f_max: float) -> torch.Tensor:
    """Triangular filters ``(n_fft // 2 + 1, n_mels)``, float32: band k rises linearly in Hz from centre k-1 to
    a peak of 1 at centre k and falls to 0 at centre k+1 (edges at ``f_min`` and ``f_max``)."""
    if f_max > sample_rate / 2:
        raise ConfigError(f"frontend.f_max ({f_max} Hz) is above the Nyquist frequency of {sample_rate} Hz audio")
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2))
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0).to(torch.float32)


@functools.lru_cache(maxsize=8)
def dct_matrix(n_mfcc: int, n_mels: int) -> torch.Tensor:
    """Orthonormal DCT-II ``(n_mels, n_mfcc)``: ``c_k = sqrt(2/N) s_k sum_n x_n cos(pi k (n + 1/2) / N)``,
    ``s_0 = 1/sqrt(2)``, ``s_k = 1`` otherwise."""
    n = torch.arange(n_mels, dtype=torch.float64)[:, None]
    k = torch.arange(n_mfcc, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * k * (n + 0.5) / n_mels) * math.sqrt(2.0 / n_mels)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.to(torch.float32)


def frame_count(n_samples: int, sample_rate: int, config: FrontEndConfig) -> int:
    """Frames of a clip of ``n_samples``: ``1 + (n - window) // stride`` in samples (0 if shorter than a window)."""
    win, hop = _frame_sizes(sample_rate, config)
    return 0 if n_samples < win else 1 + (n_samples - win) // hop


def _frame_sizes(sample_rate: int, config: FrontEndConfig) -> tuple[int, int]:
    return max(2, round(config.window * sample_rate)), max(1, round(config.stride * sample_rate))


def features(waveform: torch.Tensor, sample_rate: int, config: FrontEndConfig = FrontEndConfig()) -> torch.Tensor:
    """Normalised log-mel or MFCC features ``(..., time, n_features)`` float32 of ``waveform`` ``(..., samples)``.

    The power spectrum is divided by the window's energy, so the log floor is relative to a full-scale sine.
    """
    x = torch.as_tensor(waveform, dtype=torch.float32)
    lead = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    win, hop = _frame_sizes(sample_rate, config)
    if x.shape[-1] < win:
        raise ConfigError(f"a clip of {x.shape[-1]} samples is shorter than one {config.window} s window")
    if config.preemphasis:
        x = torch.cat([x[:, :1], x[:, 1:] - config.preemphasis * x[:, :-1]], dim=1)
    window = torch.hann_window(win, periodic=True)
    power = power_spectrum(x, win, hop, window)  # (batch, time, freq)
    bank = mel_filterbank(config.n_mels, win, int(sample_rate), float(config.f_min), float(config.f_max))
    out = torch.log(power @ bank + config.log_floor)  # (batch, time, mels)
    if config.n_mfcc is not None:
        out = out @ dct_matrix(config.n_mfcc, config.n_mels)
    if config.normalize == "utterance":
        out = normalize_utterance(out)
    return out.reshape(*lead, out.shape[-2], out.shape[-1])


def power_spectrum(x: torch.Tensor, win: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """``|FFT(frame * window)|^2 / sum(window^2)`` of every ``win``-sample frame, ``hop`` apart, no padding:
    ``(batch, time, win // 2 + 1)``. The same numbers as ``torch.stft(x, win, hop, window=window,
    center=False)``, a few times faster for short clips (framing by ``unfold`` and one batched ``rfft``)."""
    frames = x.unfold(-1, win, hop) * window
    spec = torch.fft.rfft(frames)
    return (spec.real.square() + spec.imag.square()) / window.square().sum()


def normalize_utterance(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Each channel of each clip ``(..., time, channels)`` to zero mean and unit variance over time.

    A constant channel (digital silence) becomes 0 rather than dividing by zero.
    """
    mean = x.mean(dim=-2, keepdim=True)
    var = x.var(dim=-2, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)
