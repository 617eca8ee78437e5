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

``fsdd`` (Free Spoken Digit Dataset) and ``folder`` (the user's own class sub-folders) take the front-end options
(``features`` ... ``threshold``), ``augment``, ``shift``, ``duration`` and ``seed`` as above, and: ``val`` (fraction
held out for validation, stratified per class, seeded; 0.1). ``fsdd`` only: ``duration`` defaults to 0.8 s (99.2%
of the clips are shorter), ``test_speakers=A,B`` (a speaker-independent split: those speakers' clips are the test
split), ``val_speakers=C`` (with ``test_speakers``: those speakers' clips are the val split, instead of a seeded
``val`` fraction of the other speakers). ``folder`` only: ``test`` (fraction held out for test when the folder has no
``testing_list.txt``; 0.1) and ``snr`` (noise from its ``_background_noise_/``; default ``none``).

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
from .keywords import DIGITS, ClassPlan, class_plan
from .spec import DataError, DataSpec, read_spec

FRONTEND_OPTIONS = ("features", "window", "stride", "fmin", "fmax", "norm", "encoding", "threshold")
CLIP_OPTIONS = ("augment", "shift", "duration", "seed")
KEYWORD_OPTIONS = ("classes", "unknown", "silence", *FRONTEND_OPTIONS, "snr", *CLIP_OPTIONS)
FSDD_OPTIONS = (*FRONTEND_OPTIONS, *CLIP_OPTIONS, "val", "test_speakers", "val_speakers")
FOLDER_OPTIONS = (*FRONTEND_OPTIONS, "snr", *CLIP_OPTIONS, "val", "test")
SHD_OPTIONS = ("dt", "duration", "downsample", "val", "seed", "set")
DEFAULT_SNR = {"synth-kws": (5.0, 20.0), "speech-commands": None, "folder": None}
DEFAULT_DURATION = {"fsdd": 0.8}
"""Clip length in seconds where a kind's default is not 1 s. FSDD clips last 0.14-2.28 s (median 0.40 s, 95th
percentile 0.62 s, 99th 0.78 s; measured on the 2,500 clips of five speakers): 0.8 s keeps 99.2% of them whole."""


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
class FsddOptions:
    """Typed options of an ``fsdd`` spec: the clip options, the val fraction and the held-out speakers."""

    clips: KeywordOptions
    val: float
    test_speakers: tuple[str, ...]
    val_speakers: tuple[str, ...]


@dataclass(frozen=True)
class FolderOptions:
    """Typed options of a ``folder`` spec: the clip options and the val and test fractions (used where the folder
    has no list file for that split)."""

    clips: KeywordOptions
    val: float
    test: float


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


def _clip_options(spec: DataSpec, plan: ClassPlan) -> KeywordOptions:
    augment = _choice(spec, "augment", "0", ("0", "1")) == "1"
    snr = _snr(spec) if spec.kind in DEFAULT_SNR else None
    return KeywordOptions(plan, _frontend(spec), snr, augment, _number(spec, "shift", 0.1, strict=False),
                          _number(spec, "duration", DEFAULT_DURATION.get(spec.kind, 1.0)), _integer(spec, "seed", 0))


def keyword_options(spec: DataSpec) -> KeywordOptions:
    """Typed options of a ``synth-kws`` or ``speech-commands`` spec."""
    _check_names(spec, KEYWORD_OPTIONS)
    plan = class_plan(spec.option("classes") or "paper", _ratio(spec, "unknown"), _ratio(spec, "silence"))
    return _clip_options(spec, plan)


def _fraction(spec: DataSpec, name: str, default: float) -> float:
    value = _number(spec, name, default, strict=False)
    if value >= 1:
        raise DataError(f"option {name} must be a fraction below 1, got {spec.option(name)!r}")
    return value


def _names(spec: DataSpec, name: str) -> tuple[str, ...]:
    text = spec.option(name)
    if text is None:
        return ()
    names = tuple(n.strip() for n in text.split(","))
    if not all(names) or len(set(names)) != len(names):
        raise DataError(f"option {name} must be distinct names separated by commas, got {text!r}")
    return names


def fsdd_options(spec: DataSpec) -> FsddOptions:
    """Typed options of an ``fsdd`` spec (speaker names are checked against the folder when it is read)."""
    _check_names(spec, FSDD_OPTIONS)
    test_speakers, val_speakers = _names(spec, "test_speakers"), _names(spec, "val_speakers")
    if val_speakers and not test_speakers:
        raise DataError("option val_speakers needs test_speakers (the official split draws val from its train takes)")
    both = [s for s in val_speakers if s in test_speakers]
    if both:
        raise DataError(f"speaker {both[0]!r} is in both test_speakers and val_speakers")
    return FsddOptions(_clip_options(spec, ClassPlan(DIGITS, None, None)), _fraction(spec, "val", 0.1),
                       test_speakers, val_speakers)


def folder_options(spec: DataSpec, classes: tuple[str, ...] = ()) -> FolderOptions:
    """Typed options of a ``folder`` spec whose class sub-folders are ``classes`` (sorted)."""
    _check_names(spec, FOLDER_OPTIONS)
    val, test = _fraction(spec, "val", 0.1), _fraction(spec, "test", 0.1)
    if val + test >= 1:
        raise DataError(f"options val ({val:g}) and test ({test:g}) leave nothing to train on")
    return FolderOptions(_clip_options(spec, ClassPlan(classes, None, None)), val, test)


def shd_options(spec: DataSpec) -> ShdOptions:
    """Typed options of an ``shd`` spec."""
    _check_names(spec, SHD_OPTIONS)
    k = _integer(spec, "downsample", 1, low=1)
    if 700 % k:
        raise DataError(f"option downsample must divide the 700 channels, got {k}")
    val = _fraction(spec, "val", 0.1)
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
    elif spec.kind == "fsdd":
        fsdd_options(spec)
    elif spec.kind == "folder":
        folder_options(spec)
    else:
        keyword_options(spec)


def parse_spec(spec: str) -> DataSpec:
    """``"shd:/data/shd?dt=0.005"`` -> ``DataSpec("shd", Path("/data/shd"), (("dt", "0.005"),))``.

    Checks that the kind exists, that the folder (or, for ``synth-kws:FILE.npz``, the packed corpus file)
    exists (:func:`~robust_snn.data.spec.read_spec`), and that every option is known to the kind and has a
    valid value.
    """
    parsed = read_spec(spec)
    check_options(parsed)
    return parsed
