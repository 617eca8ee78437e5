"""Tensor files: safetensors with a JSON metadata document. Loading never executes code.

safetensors stores raw little-endian arrays plus a JSON header; it checks that every tensor's declared shape
and byte range fit inside the file, so a file that claims absurd shapes is refused, not allocated. Our JSON
metadata travels in the header under the key ``robust_snn``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import atomic_path
from .limits import check_shapes, safetensors_shapes

META_KEY = "robust_snn"


class FileFormatError(ValueError):
    """A file is missing, not in the expected format, or inconsistent; the message names the file."""


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Atomically write ``tensors`` (contiguous, detached copies) and JSON ``metadata`` to ``path``."""
    payload = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path) as tmp:
        save_file(payload, str(tmp), metadata={META_KEY: json.dumps(metadata, sort_keys=True)})


def load_tensors(path: str | Path, expected_format: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by :func:`save_tensors`: ``(tensors, metadata)``.

    Refuses (with :class:`FileFormatError`) anything that is not a safetensors file with our metadata,
    including pickle-based ``torch.save`` files, whose payload is never unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"file not found: {path}")
    with path.open("rb") as fh:
        head = fh.read(9)
    # A safetensors file starts with its JSON header's length (8 bytes, little endian) and then "{". Anything
    # else is refused before a parser sees it; pickle (b"\x80" + protocol) and torch.save zips get a clear word.
    # (Testing the first byte alone for pickle's b"\x80" would refuse the 1 in 256 safetensors files whose
    # header length ends in 0x80.)
    header_length = int.from_bytes(head[:8], "little")
    if not (len(head) == 9 and head[8:] == b"{" and header_length <= path.stat().st_size - 8):
        if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":
            raise FileFormatError(f"{path} is a pickle/torch.save file; refusing to load it (it could run code)")
        raise FileFormatError(f"{path} is not a valid robust-snn file (no safetensors header)")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            raw_meta = (fh.metadata() or {}).get(META_KEY)
        check_shapes(safetensors_shapes(path), str(path), FileFormatError)
        tensors = load_file(str(path))
    except FileFormatError:
        raise
    except (SafetensorError, OSError, ValueError) as exc:
        raise FileFormatError(f"{path} is not a valid robust-snn file: {exc}") from None
    if raw_meta is None:
        raise FileFormatError(f"{path} has no robust-snn metadata; it was not written by robust-snn")
    try:
        metadata = json.loads(raw_meta)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path} has corrupt metadata: {exc}") from None
    if expected_format is not None and metadata.get("format") != expected_format:
        raise FileFormatError(
            f"{path} is a {metadata.get('format')!r} file, expected {expected_format!r}"
        )
    return tensors, metadata
