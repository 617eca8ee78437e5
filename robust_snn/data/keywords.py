"""Keyword-spotting label conventions, and which clips of a split make up each class.

Conventions (the ``classes`` option of a data spec):

- ``35``: the 35 words of Speech Commands v2, one class each; no unknown, no silence.
- ``12``: the 10 commands yes, no, up, down, left, right, on, off, stop, go + ``_unknown_`` + ``_silence_``.
- ``paper`` (the default): yes, no, up, down, left, right + ``_unknown_`` + ``_silence_`` = 8 classes (Buechel et
  al. 2022; Xylo Audio 2 has at most 8 outputs).
- ``w1,w2,...``: those words + ``_unknown_`` + ``_silence_``.

``_unknown_`` holds clips of every other word, subsampled (seeded) to ``unknown`` times the mean keyword class
size of the split (``all`` keeps every one); ``_silence_`` holds ``silence`` times that many clips cut from
background noise. A ratio of 0 drops the class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from ..errors import DataError

SC35_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go", "happy",
    "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six", "stop",
    "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)
COMMANDS10 = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
PAPER_WORDS = ("yes", "no", "up", "down", "left", "right")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
"""Spoken-digit classes in label order (FSDD's file names carry the digit 0-9: label = the digit)."""
UNKNOWN = "_unknown_"
SILENCE = "_silence_"


@dataclass(frozen=True)
class ClassPlan:
    """Keyword classes in label order, then ``_unknown_`` and ``_silence_`` if their ratio is not None/0.

    ``unknown``/``silence``: clips per class as a multiple of the mean keyword class size; ``math.inf`` for
    ``unknown`` keeps all; ``None`` means the convention has no such class.
    """

    words: tuple[str, ...]
    unknown: float | None = 1.0
    silence: float | None = 1.0

    @property
    def has_unknown(self) -> bool:
        return bool(self.unknown)

    @property
    def has_silence(self) -> bool:
        return bool(self.silence)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.words + ((UNKNOWN,) if self.has_unknown else ()) + ((SILENCE,) if self.has_silence else ())


def class_plan(classes: str, unknown: float | None, silence: float | None) -> ClassPlan:
    """The plan for a ``classes`` option value (see the module docstring); errors name the bad word."""
    if classes == "35":
        if unknown is not None or silence is not None:
            raise DataError("options unknown and silence do not apply to classes=35 (it has no such classes)")
        return ClassPlan(SC35_WORDS, None, None)
    words = {"12": COMMANDS10, "paper": PAPER_WORDS}.get(classes)
    if words is None:
        words = tuple(w.strip() for w in classes.split(","))
        bad = [w for w in words if not w or w.startswith("_")]
        if bad:
            raise DataError(f"option classes: {bad[0]!r} is not a word; use 35, 12, paper or a list like yes,no,up")
        if len(set(words)) != len(words):
            raise DataError(f"option classes lists a word twice: {classes!r}")
    return ClassPlan(words, 1.0 if unknown is None else unknown, 1.0 if silence is None else silence)


@dataclass(frozen=True)
class Selection:
    """The items of one split: ``clips[i]`` is a clip index of the source, or -1 for a silence clip."""

    clips: tuple[int, ...]
    labels: tuple[int, ...]


def select(words: Sequence[str], plan: ClassPlan, generator: torch.Generator) -> Selection:
    """Assign labels to the clips of a split (``words[i]`` is clip i's word) and add the silence items.

    Clips of other words go to ``_unknown_`` (subsampled, seeded by ``generator``), or are dropped when the plan
    has no unknown class. Order: keyword and unknown clips in source order, then the silence items.
    """
    index = {w: k for k, w in enumerate(plan.words)}
    keyword = [(i, index[w]) for i, w in enumerate(words) if w in index]
    found = {label for _, label in keyword}
    missing = [w for k, w in enumerate(plan.words) if k not in found]
    if missing and len(words):
        raise DataError(f"no clips of the word(s) {', '.join(missing)} in this split")
    mean_size = len(keyword) / max(len(plan.words), 1)
    items = list(keyword)
    if plan.has_unknown:
        others = [i for i, w in enumerate(words) if w not in index]
        target = len(others) if math.isinf(plan.unknown) else min(len(others), round(plan.unknown * mean_size))
        if target < len(others):
            keep = torch.randperm(len(others), generator=generator)[:target].sort().values.tolist()
            others = [others[k] for k in keep]
        items += [(i, len(plan.words)) for i in others]
        items.sort()
    if plan.has_silence:
        items += [(-1, len(plan.classes) - 1)] * round(plan.silence * mean_size)
    return Selection(tuple(i for i, _ in items), tuple(label for _, label in items))
