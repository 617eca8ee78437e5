"""``synth-kws``: the embedded keyword corpus (synthesised speech, held-out voices), loaded offline.

The corpus ships as ``robust_snn/data/synth_kws.npz`` (8 kHz 7-bit mu-law audio, 15.3 MB; see :mod:`.packed` and
:mod:`.make_synth_kws` for how it is made). ``synth-kws:FILE.npz`` loads another packed corpus, e.g. a larger one
made with the generator. Items are computed once at load time (one batched front-end pass), unless ``augment=1``
asks the train split for fresh draws on every access.

The embedded corpus is made for the default 8 classes (yes, no, up, down, left, right, ``_unknown_``,
``_silence_``): per split about 560/90/180 clips of each keyword, 30/6/10 of each of the other 29 Speech Commands
words; ``classes=12`` or ``35`` work but their extra words have only those few clips. Word clips get background
noise at 5-20 dB SNR by default (``snr=``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from .datasets import KeywordDataset, SplitClips, item_generator, materialize
from .keywords import select
from .options import keyword_options
from .packed import load_packed
from .speech_commands import NOISE_REGIONS
from .spec import DataError, DataSpec

EMBEDDED = Path(__file__).with_name("synth_kws.npz")


def load_synth_kws(spec: DataSpec, split: str) -> Dataset:
    """The ``split`` of the embedded (or given) packed corpus."""
    options = keyword_options(spec)
    path = spec.path or EMBEDDED
    if spec.path is None and not EMBEDDED.is_file():
        raise DataError(f"the embedded corpus {EMBEDDED} is missing from this installation; reinstall robust-snn "
                        "or make one with python -m robust_snn.data.make_synth_kws")
    corpus = load_packed(path)
    index = corpus.indices(split)
    low, high = NOISE_REGIONS[split]
    noise = [torch.from_numpy(rec[round(low * len(rec)) : round(high * len(rec))].copy())
             for rec in corpus.noise.values()]
    words = [corpus.words[w] for w in corpus.word[index]]
    clips = SplitClips(words, [corpus.voices[v] for v in corpus.voice[index]],
                       lambda i: corpus.clip(int(index[i])), corpus.sample_rate, noise)
    selection = select(words, options.plan, item_generator(options.seed, split, -1))
    data = KeywordDataset(clips, selection, options, split, str(spec))
    return data if data.augment else materialize(data)
