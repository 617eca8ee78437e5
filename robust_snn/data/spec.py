"""Data ``SPEC`` strings: ``KIND[:PATH][?NAME=VALUE[&NAME=VALUE...]]``.

Examples: ``synth-kws``, ``synth-kws?snr=0,10``, ``speech-commands:~/data/sc?classes=12&features=mfcc40``,
``shd:/data/shd?dt=0.005&downsample=7``, ``fsdd:~/fsdd/recordings?test_speakers=theo``, ``folder:my_words``.
The first ``?`` starts the options (so a folder name cannot contain one); names and values are validated by kind
(see :mod:`robust_snn.data.options`, whose :func:`~robust_snn.data.options.parse_spec` reads a spec here and then
checks its options), and errors name the bad part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError  # re-exported: defined with the other user errors

KINDS = ("synth-kws", "speech-commands", "shd", "fsdd", "folder")


@dataclass(frozen=True)
class DataSpec:
    """A parsed spec: the kind, the folder or file (``None`` for the embedded corpus) and the raw options."""

    kind: str
    path: Path | None
    options: tuple[tuple[str, str], ...] = ()

    def option(self, name: str) -> str | None:
        """The raw text of option ``name``, or ``None`` when the spec does not set it."""
        return dict(self.options).get(name)

    def __str__(self) -> str:
        text = self.kind if self.path is None else f"{self.kind}:{self.path}"
        return text + ("?" + "&".join(f"{k}={v}" for k, v in self.options) if self.options else "")


def _split_options(spec: str, text: str) -> tuple[tuple[str, str], ...]:
    options: list[tuple[str, str]] = []
    for item in text.split("&"):
        name, eq, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not name or not eq or not value:
            raise DataError(f"data spec {spec!r}: option {item!r} must look like NAME=VALUE")
        if any(name == seen for seen, _ in options):
            raise DataError(f"data spec {spec!r}: option {name!r} is given twice")
        options.append((name, value))
    return tuple(options)


def read_spec(spec: str) -> DataSpec:
    """``"shd:/data/shd?dt=0.005"`` -> ``DataSpec("shd", Path("/data/shd"), (("dt", "0.005"),))``.

    Checks the syntax, that the kind exists and that the folder (or, for ``synth-kws:FILE.npz``, the packed
    corpus file) exists; the options' names and values are checked by :func:`robust_snn.data.parse_spec`.
    """
    if not isinstance(spec, str) or not spec:
        raise DataError(f"data spec must be a non-empty string, got {spec!r}")
    head, qmark, query = spec.partition("?")
    kind, sep, path = head.partition(":")
    if kind not in KINDS:
        raise DataError(f"unknown data spec {spec!r}; use one of: synth-kws, speech-commands:PATH, shd:PATH, "
                        "fsdd:PATH, folder:PATH")
    options = _split_options(spec, query) if qmark else ()
    if kind == "synth-kws":
        location = None
        if sep:
            location = Path(path).expanduser()
            if location.suffix != ".npz" or not location.is_file():
                raise DataError(f"synth-kws takes no path, or a packed corpus file FILE.npz; got {spec!r}")
    else:
        if not path:
            raise DataError(f"data spec {kind!r} needs a folder: {kind}:PATH")
        location = Path(path).expanduser()
        if not location.is_dir():
            raise DataError(f"{'' if kind == 'folder' else kind + ' '}folder not found: {location}")
    return DataSpec(kind, location, options)
