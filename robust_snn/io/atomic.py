"""Atomic file writes: a reader (or a run killed mid-write) sees the old file or the new one, never half of one.

Write to a temporary file in the destination folder, flush and fsync, then ``os.replace`` (atomic on POSIX
and Windows within one file system). A writer killed mid-write (SIGKILL, power cut) leaves its temporary file
behind, with no chance to clean up; the next successful write of the same output removes such leftovers (the
temporaries of that output last touched before it began), so a run that is killed and resumed leaves a clean
folder. One writer per output path is assumed, as it is everywhere in the package.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from ..errors import OutputError  # re-exported: defined with the other user errors


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write in {folder}: {exc.strerror}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    started = tmp_path.stat().st_mtime_ns
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
    _remove_leftovers(folder, path.name, started)


def _remove_leftovers(folder: Path, name: str, before_ns: int) -> None:
    """Delete ``name``'s temporary files in ``folder`` last modified before ``before_ns``: what writers killed
    mid-write left (see the module docstring)."""
    for leftover in folder.glob(f".{glob.escape(name)}.*.tmp"):
        with contextlib.suppress(OSError):  # gone already, or not ours to delete: leave it
            if leftover.stat().st_mtime_ns < before_ns:
                leftover.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Pretty JSON with sorted keys (stable bytes for the same content)."""
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
