"""Data sets by ``SPEC`` string (see ``shared/CLI.md``): ``synth-kws``, ``speech-commands:PATH``, ``shd:PATH``.

Every data set yields ``(x, label)`` with ``x`` shaped ``(time, channels)`` float32 and ``label`` an int.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

SPLITS = ("train", "val", "test")
KINDS = ("synth-kws", "speech-commands", "shd")


class DataError(ValueError):
    """A data spec, folder or file is unusable; the message names it."""


@dataclass(frozen=True)
class DataSpec:
    kind: str
    path: Path | None

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def parse_spec(spec: str) -> DataSpec:
    """``"shd:/data/shd"`` -> ``DataSpec("shd", Path("/data/shd"))``, with errors naming the bad part."""
    if not isinstance(spec, str) or not spec:
        raise DataError(f"data spec must be a non-empty string, got {spec!r}")
    kind, sep, path = spec.partition(":")
    if kind not in KINDS:
        raise DataError(f"unknown data spec {spec!r}; use one of: synth-kws, speech-commands:PATH, shd:PATH")
    if kind == "synth-kws":
        if sep:
            raise DataError(f"synth-kws takes no path, got {spec!r}")
        return DataSpec(kind, None)
    if not path:
        raise DataError(f"data spec {kind!r} needs a folder: {kind}:PATH")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"{kind} folder not found: {folder}")
    return DataSpec(kind, folder)


def load_dataset(spec: str, split: str = "test") -> Dataset:
    """The ``split`` (train, val, test) of the data set named by ``spec``."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    parsed = parse_spec(spec)
    raise DataError(
        f"the {parsed.kind} loader is not available in robust-snn {_version()} yet "
        "(it lands with the keyword-spotting data issue)"
    )


def _version() -> str:
    from .. import __version__

    return __version__
