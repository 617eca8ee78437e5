"""The options a data spec may carry (``KIND[:PATH]?NAME=VALUE&...``), typed and validated per kind.

Keyword corpora (``synth-kws``, ``speech-commands``):

=============  ==================================================================  ============================
option         meaning                                                             default
=============  ==================================================================  ============================
classes        ``paper``, ``12``, ``35`` or a word list ``yes,no,up``               ``paper`` (8 classes)
unknown        size of ``_unknown_`` / mean keyword class size; ``all``; 0 drops   1
silence        size of ``_silence_`` / mean keyword class size; 0 drops            1
features       ``logmelN`` (N mel bands) or ``mfccN`` (N MFCC of max(N, 40) bands)  ``logmel16``
window         analysis window, seconds                                            0.03
stride         frame step = network time step, seconds                             0.01
fmin, fmax     band edges, Hz                                                      100, 4000
norm           ``utterance`` (per clip, per channel) or ``none``                   ``utterance``
encoding       ``current`` (analog) or ``delta`` (up/down threshold events)         ``current``
threshold      delta-encoding threshold, in normalised feature units               0.5
snr            background noise mixed into every word clip: ``LOW,HIGH`` dB or     synth-kws ``5,20``;
               ``none``                                                            speech-commands ``none``
augment        1: the train split draws a fresh time shift and noise per access   0
shift          largest time shift when augmenting, seconds                         0.1
duration       clip length, seconds                                                1
seed           seed of the unknown subsample, silence cuts and noise draws         0
=============  ==================================================================  ============================

``shd`` (Spiking Heidelberg Digits / Spiking Speech Commands): ``dt`` (bin, seconds, 0.01), ``duration``
(seconds kept, 1.0), ``downsample`` (sum groups of k of the 700 channels; k divides 700; 1), ``val`` (fraction of
SHD train held out for validation, stratified; 0.1), ``seed`` (0), ``set`` (``shd`` or ``ssc`` when a folder
holds both).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..config import ConfigError
from .frontend import FrontEndConfig
from .keywords import ClassPlan, class_plan
from .spec import DataError, DataSpec

KEYWORD_OPTIONS = ("classes", "unknown", "silence", "features", "window", "stride", "fmin", "fmax", "norm",
                   "encoding", "threshold", "snr", "augment", "shift", "duration", "seed")
SHD_OPTIONS = ("dt", "duration", "downsample", "val", "seed", "set")
DEFAULT_SNR = {"synth-kws": (5.0, 20.0), "speech-commands": None}


@dataclass(frozen=True)
class KeywordOptions:
    """Typed options of a keyword corpus (see the module docstring). Seconds, Hz, dB."""

    plan: ClassPlan
    frontend: FrontEndConfig
    snr: tuple[float, float] | None
    augment: bool
    shift: float
    duration: float
    seed: int


@dataclass(frozen=True)
class ShdOptions:
    """Typed options of an SHD/SSC folder: bin width and kept duration in seconds."""

    dt: float
    duration: float
    downsample: int
    val: float
    seed: int
    set: str | None


def _number(spec: DataSpec, name: str, default: float, low: float = 0.0, strict: bool = True) -> float:
    text = spec.option(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"option {name} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < low or (strict and value == low):
        raise DataError(f"option {name} must be {'>' if strict else '>='} {low:g}, got {text!r}")
    return value


def _integer(spec: DataSpec, name: str, default: int, low: int = 0) -> int:
    text = spec.option(name)
    if text is None:
        return default
    if not re.fullmatch(r"-?\d+", text) or int(text) < low:
        raise DataError(f"option {name} must be an integer >= {low}, got {text!r}")
    return int(text)


def _choice(spec: DataSpec, name: str, default: str, choices: tuple[str, ...]) -> str:
    text = spec.option(name)
    if text is None:
        return default
    if text not in choices:
        raise DataError(f"option {name} must be one of {', '.join(choices)}, got {text!r}")
    return text


def _ratio(spec: DataSpec, name: str) -> float | None:
    text = spec.option(name)
    if text is None:
        return None
    if name == "unknown" and text == "all":
        return math.inf
    return _number(spec, name, 0.0, strict=False)


def _frontend(spec: DataSpec) -> FrontEndConfig:
    text = spec.option("features") or "logmel16"
    match = re.fullmatch(r"(logmel|mfcc)(\d+)", text)
    if not match or int(match[2]) < 1:
        raise DataError(f"option features must look like logmel16 or mfcc40, got {text!r}")
    n = int(match[2])
    kwargs = {"n_mels": n} if match[1] == "logmel" else {"n_mels": max(n, 40), "n_mfcc": n}
    try:
        return FrontEndConfig(
            **kwargs,
            window=_number(spec, "window", 0.03), stride=_number(spec, "stride", 0.01),
            f_min=_number(spec, "fmin", 100.0, strict=False), f_max=_number(spec, "fmax", 4000.0),
            normalize=_choice(spec, "norm", "utterance", ("utterance", "none")),
            encoding=_choice(spec, "encoding", "current", ("current", "delta")),
            delta_threshold=_number(spec, "threshold", 0.5),
        )
    except ConfigError as exc:
        raise DataError(f"data spec {str(spec)!r}: {exc}") from None


def _snr(spec: DataSpec) -> tuple[float, float] | None:
    text = spec.option("snr")
    if text is None:
        return DEFAULT_SNR[spec.kind]
    if text == "none":
        return None
    parts = text.split(",")
    try:
        low, high = (float(parts[0]), float(parts[-1])) if len(parts) in (1, 2) else (math.nan, math.nan)
    except ValueError:
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise DataError(f"option snr must be LOW,HIGH in dB with LOW <= HIGH (or one value, or none), got {text!r}")
    return low, high


def keyword_options(spec: DataSpec) -> KeywordOptions:
    """Typed options of a ``synth-kws`` or ``speech-commands`` spec."""
    _check_names(spec, KEYWORD_OPTIONS)
    plan = class_plan(spec.option("classes") or "paper", _ratio(spec, "unknown"), _ratio(spec, "silence"))
    augment = _choice(spec, "augment", "0", ("0", "1")) == "1"
    return KeywordOptions(plan, _frontend(spec), _snr(spec), augment, _number(spec, "shift", 0.1, strict=False),
                          _number(spec, "duration", 1.0), _integer(spec, "seed", 0))


def shd_options(spec: DataSpec) -> ShdOptions:
    """Typed options of an ``shd`` spec."""
    _check_names(spec, SHD_OPTIONS)
    k = _integer(spec, "downsample", 1, low=1)
    if 700 % k:
        raise DataError(f"option downsample must divide the 700 channels, got {k}")
    val = _number(spec, "val", 0.1, strict=False)
    if val >= 1:
        raise DataError(f"option val must be a fraction below 1, got {spec.option('val')!r}")
    chosen = spec.option("set")
    if chosen is not None and chosen not in ("shd", "ssc"):
        raise DataError(f"option set must be shd or ssc, got {chosen!r}")
    return ShdOptions(_number(spec, "dt", 0.01), _number(spec, "duration", 1.0), k, val,
                      _integer(spec, "seed", 0), chosen)


def _check_names(spec: DataSpec, known: tuple[str, ...]) -> None:
    for name, _ in spec.options:
        if name not in known:
            raise DataError(f"unknown option {name!r} for {spec.kind}; known: {', '.join(known)}")


def check_options(spec: DataSpec) -> None:
    """Raise :class:`DataError` naming the first bad option of ``spec``."""
    if spec.kind == "shd":
        shd_options(spec)
    else:
        keyword_options(spec)
