"""Keyword data sets: clips of one split -> ``(x (time, channels) float32, label int)`` items.

Each item is made by one recipe (:meth:`KeywordDataset.waveform`): the clip padded or cut to ``duration``
seconds (or, for ``_silence_``, a cut of background noise at a random level); when augmenting, a random time
shift; background noise at a random SNR; then the front end and the encoding. The random draws of item ``i``
come from a generator seeded by ``(seed, split, i)`` (and, when augmenting, the item's access count), so an item
is the same whatever order it is read in, and the eager (:func:`materialize`) and lazy paths agree.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from ..errors import DataError
from ..seeding import generator as seeded
from .augment import active_power, mix_at_snr, noise_segment, random_uniform, silence_clip, time_shift
from .audio import fit_length
from .encoding import encode
from .frontend import FrontEndConfig, features
from .keywords import SILENCE, Selection
from .options import KeywordOptions

SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


@dataclass
class SplitClips:
    """The clips of one split of a keyword corpus, before labelling.

    ``load(i)`` returns clip i's waveform ``(samples,)`` float32 at ``sample_rate`` Hz (any length); ``noise``
    holds the background recordings this split may use (float32 tensors).
    """

    words: Sequence[str]
    speakers: Sequence[str]
    load: Callable[[int], np.ndarray]
    sample_rate: int
    noise: Sequence[torch.Tensor]


def item_generator(seed: int, split: str, index: int, access: int = 0) -> torch.Generator:
    """The generator of one draw of one item: independent per ``(seed, split, index, access)``
    (:mod:`robust_snn.seeding`)."""
    if split not in SPLIT_CODES:
        raise KeyError(split)
    return seeded("data", int(seed), split, int(index), int(access))


class KeywordDataset(Dataset):
    """Lazy keyword items (see the module docstring); attributes describe the data for model files.

    ``classes``: class names in label order; ``labels``: every item's label (read without loading audio);
    ``frontend``: the :class:`FrontEndConfig`; ``dt``: seconds per time step; ``speakers``: per item, the
    voice/speaker id (``_silence_`` for silence items).
    """

    def __init__(self, clips: SplitClips, selection: Selection, options: KeywordOptions, split: str,
                 spec: str) -> None:
        self.clips, self.selection, self.options, self.split, self.spec = clips, selection, options, split, spec
        self.classes = options.plan.classes
        self.frontend: FrontEndConfig = options.frontend
        self.dt = options.frontend.stride
        self.n_samples = round(options.duration * clips.sample_rate)
        self.augment = options.augment and split == "train"
        self.speakers = tuple(SILENCE if c < 0 else clips.speakers[c] for c in selection.clips)
        self.labels = selection.labels
        self._accesses: dict[int, int] = {}
        needs_noise = options.snr is not None or -1 in selection.clips
        if needs_noise and not any(len(rec) >= self.n_samples for rec in clips.noise):
            raise DataError(f"{spec}: the {split} split needs background noise recordings of at least "
                            f"{options.duration} s (for _silence_ or snr); none found")

    def __len__(self) -> int:
        return len(self.selection.clips)

    def waveform(self, index: int, generator: torch.Generator) -> torch.Tensor:
        """Item ``index``'s waveform ``(samples,)`` float32, before the front end."""
        clip = self.selection.clips[index]
        if clip < 0:
            return silence_clip(self.clips.noise, self.n_samples, generator)
        wave = torch.from_numpy(fit_length(self.clips.load(clip), self.n_samples))
        if self.augment:
            wave = time_shift(wave, round(self.options.shift * self.clips.sample_rate), generator)
        if self.options.snr is not None:
            power = active_power(wave, max(1, self.clips.sample_rate // 100))
            snr = random_uniform(*self.options.snr, generator)
            wave = mix_at_snr(wave, noise_segment(self.clips.noise, self.n_samples, generator), snr, power)
        return wave

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        access = 0
        if self.augment:
            access = self._accesses.get(index, 0)
            self._accesses[index] = access + 1
        with one_thread():
            wave = self.waveform(index, item_generator(self.options.seed, self.split, index, access))
            x = encode(features(wave, self.clips.sample_rate, self.frontend), self.frontend)
        return x, int(self.labels[index])


class FeatureDataset(TensorDataset):
    """Precomputed items: ``tensors = (x (n, time, channels) float32, labels (n,) int64)``, with the same
    descriptive attributes as :class:`KeywordDataset` (the trainer slices a ``TensorDataset`` directly)."""

    def __init__(self, x: torch.Tensor, labels: torch.Tensor, *, classes: tuple[str, ...],
                 frontend: FrontEndConfig | None, dt: float, spec: str, speakers: tuple[str, ...] = ()) -> None:
        super().__init__(x, labels)
        self.classes, self.frontend, self.dt, self.spec, self.speakers = classes, frontend, dt, spec, speakers

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:  # type: ignore[override]
        x, y = self.tensors
        return x[index], int(y[index])

    @property
    def labels(self) -> tuple[int, ...]:
        """Every item's label, without touching the inputs."""
        return tuple(self.tensors[1].tolist())


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block (restored after).

    The front end is many small and mid-sized ops; on a busy 2-core machine a parallel region per op waits for
    the other core: loading synth-kws took 2.5 s instead of 0.8 s, and one lazy item 7 ms instead of 0.4 ms.
    """
    from ..runtime.threads import use_threads

    with use_threads(1):
        yield


def materialize(data: KeywordDataset, chunk: int = 256) -> FeatureDataset:
    """Compute every item of a (non-augmenting) :class:`KeywordDataset` once, in batches."""
    if data.augment:
        raise ValueError("an augmenting data set draws new items on every access; keep it lazy")
    parts = []
    with one_thread():
        for start in range(0, len(data), chunk):
            stop = min(len(data), start + chunk)
            waves = torch.stack([data.waveform(i, item_generator(data.options.seed, data.split, i))
                                 for i in range(start, stop)])
            parts.append(encode(features(waves, data.clips.sample_rate, data.frontend), data.frontend))
    if parts:
        x = torch.cat(parts)
    else:
        x = torch.zeros(0, 0, data.frontend.n_out)
    labels = torch.as_tensor(data.labels, dtype=torch.int64)
    return FeatureDataset(x, labels, classes=data.classes, frontend=data.frontend, dt=data.dt, spec=data.spec,
                          speakers=data.speakers)
