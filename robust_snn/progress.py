"""Where progress goes: a live bar on a terminal, one compact line per unit of work in a log, JSON for pipelines.

A carriage-return progress bar is right on a terminal and wrong in a log file: piped through ``tee`` or into a
CI log it becomes one line of hundreds of kilobytes. So every long-running loop asks :func:`progress_mode`
what to do with ``sys.stderr``:

- ``"bar"``: stderr is a terminal, draw tqdm's bar (per batch);
- ``"lines"``: stderr is a file or a pipe, draw no bar; the loop prints one compact line per epoch (training)
  or per device profile (evaluation) with :func:`print_line`;
- ``"off"``: ``--quiet``, nothing.

:class:`JsonLines` is the machine-readable side (``robust-snn train --log-json FILE``): one JSON object per
epoch, each appended with a single ``write(2)`` on a file opened ``O_APPEND`` and flushed to the disk, so a
reader (an experiment tracker tailing the file) never sees half a line, and a crash loses at most the epoch in
flight. The layout is the training history's (:func:`format_epoch` lists the keys); ``pandas.read_json(FILE,
lines=True)`` loads it in one line.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import IO, Any, Literal, Mapping

from .errors import OutputError

Mode = Literal["bar", "lines", "off"]


def is_terminal(stream: IO[str] | None = None) -> bool:
    """Whether ``stream`` (default ``sys.stderr``) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced by an object without isatty
        return False


def progress_mode(enabled: bool, stream: IO[str] | None = None) -> Mode:
    """``"off"`` when progress is disabled, ``"bar"`` on a terminal, ``"lines"`` otherwise."""
    if not enabled:
        return "off"
    return "bar" if is_terminal(stream) else "lines"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) and abs(value) < 1e-3 and value != 0 else f"{value:.4f}"
    return str(value)


def format_epoch(row: Mapping[str, Any], total: int | None = None) -> str:
    """One compact, grep-able line: ``epoch 3/10 lr=0.001 train_loss=0.4123 train_accuracy=0.8750 ...``.

    ``row`` is one entry of the training history (keys ``epoch``, ``lr``, ``train_loss``, ``train_accuracy``
    and, with validation data, ``val_loss``, ``val_accuracy``; methods may add their own).
    """
    head = f"epoch {row.get('epoch', '?')}" + (f"/{total}" if total is not None else "")
    rest = " ".join(f"{k}={_short(v)}" for k, v in row.items() if k != "epoch")
    return f"{head} {rest}".rstrip()


def print_line(text: str, stream: IO[str] | None = None) -> None:
    """Print one line and flush, so that a log shows it when it happens (pipes are block-buffered)."""
    stream = sys.stderr if stream is None else stream
    print(text, file=stream, flush=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; null keeps every line parseable
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _jsonable(value.item())
    return value


class JsonLines:
    """Append-only JSON Lines file: :meth:`write` appends one object as one line, atomically, and flushes.

    The file is opened once with ``O_APPEND``: each line goes out in a single ``write`` call (atomic for a
    regular file opened for appending), then ``fsync``. An existing file is appended to (a resumed run adds
    its epochs), never truncated. Non-finite floats are written as ``null``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd = -1
        if self.path.is_dir():
            raise OutputError(f"log file {self.path} is a folder; give a file name")
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputError(f"cannot open log file {self.path}: {exc.strerror}") from None

    def write(self, obj: Mapping[str, Any]) -> None:
        line = json.dumps({k: _jsonable(v) for k, v in obj.items()}, sort_keys=False, allow_nan=False) + "\n"
        data = line.encode("utf-8")
        written = os.write(self._fd, data)
        if written != len(data):  # pragma: no cover - only on a full disk
            raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "JsonLines":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["JsonLines", "Mode", "format_epoch", "is_terminal", "print_line", "progress_mode"]
