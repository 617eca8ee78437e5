"""Data sets by ``SPEC`` string (see ``shared/CLI.md``): ``synth-kws``, ``speech-commands:PATH``, ``shd:PATH``,
``fsdd:PATH`` (Free Spoken Digit Dataset), ``folder:PATH`` (class sub-folders of WAV files).

Every data set yields ``(x, label)`` with ``x`` shaped ``(time, channels)`` float32 and ``label`` an int, and
carries ``classes`` (names in label order), ``labels`` (every item's label, read without computing inputs),
``dt`` (seconds per time step), ``frontend`` (the :class:`FrontEndConfig` that made ``x``, or ``None`` for spike
data), ``speakers`` (per item) and ``spec``. Options follow the path:
``KIND[:PATH]?NAME=VALUE&...`` (see :mod:`robust_snn.data.options`).
"""

from __future__ import annotations

from torch.utils.data import Dataset

from .frontend import FrontEndConfig, features
from .options import parse_spec
from .spec import KINDS, DataError, DataSpec

SPLITS = ("train", "val", "test")

__all__ = ["KINDS", "SPLITS", "DataError", "DataSpec", "FrontEndConfig", "features", "load_dataset", "parse_spec"]


def load_dataset(spec: str, split: str = "test") -> Dataset:
    """The ``split`` (train, val, test) of the data set named by ``spec``."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    parsed = parse_spec(spec)
    if parsed.kind == "synth-kws":
        from .synth_kws import load_synth_kws

        return load_synth_kws(parsed, split)
    if parsed.kind == "speech-commands":
        from .speech_commands import load_speech_commands

        return load_speech_commands(parsed, split)
    if parsed.kind == "fsdd":
        from .fsdd import load_fsdd

        return load_fsdd(parsed, split)
    if parsed.kind == "folder":
        from .folder import load_folder

        return load_folder(parsed, split)
    from .shd import load_shd

    return load_shd(parsed, split)
