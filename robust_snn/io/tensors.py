"""Tensor files: safetensors with a JSON metadata document. Loading never executes code.

safetensors stores raw little-endian arrays plus a JSON header; it checks that every tensor's declared shape
and byte range fit inside the file, so a file that claims absurd shapes is refused, not allocated. Our JSON
metadata travels in the header under the key ``robust_snn``.

Integrity: safetensors checks the layout, not the values, so a file with flipped bits in its tensor data
still loads (a damaged model then scores chance and can be graded on that). Every file we write carries, in
its metadata document under ``sha256``, a SHA-256 over the tensors (name, dtype, shape and raw little-endian
bytes, in name order) and the rest of the metadata document (:func:`content_digest`); :func:`load_tensors`
recomputes it and refuses a file that does not match, naming it. The digest depends only on the content, so
the same tensors give the same file bytes (runs stay byte-identical; it lives inside our one metadata string
because safetensors writes several metadata keys in no fixed order). Files written before the checksum
existed (no ``sha256``) still load, unchecked: refusing them would strand every model trained so far, and a
missing key is not what random damage produces (it needs the header rewritten).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, load_file, save, save_file

from ..errors import FileFormatError  # re-exported: defined with the other user errors
from .atomic import atomic_path
from .limits import check_shapes, safetensors_shapes

META_KEY = "robust_snn"
DIGEST_KEY = "sha256"  # inside the metadata document


def content_digest(tensors: dict[str, torch.Tensor], meta_text: str) -> str:
    """Hex SHA-256 of ``tensors`` (in name order: name, dtype, shape, raw bytes) and the metadata text."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        value = tensors[name].detach().contiguous().cpu()
        digest.update(json.dumps([name, str(value.dtype), list(value.shape)]).encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    digest.update(meta_text.encode())
    return digest.hexdigest()


def _prepared(tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> tuple[dict[str, torch.Tensor],
                                                                                     dict[str, str]]:
    """Contiguous CPU copies of ``tensors`` and the safetensors metadata: our document with its checksum."""
    payload = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {k: v for k, v in metadata.items() if k != DIGEST_KEY}
    digest = content_digest(payload, json.dumps(metadata, sort_keys=True))
    return payload, {META_KEY: json.dumps({**metadata, DIGEST_KEY: digest}, sort_keys=True)}


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Atomically write ``tensors`` (contiguous, detached copies) and JSON ``metadata`` to ``path``, with the
    content checksum (see the module docstring)."""
    payload, header = _prepared(tensors, metadata)
    with atomic_path(path) as tmp:
        save_file(payload, str(tmp), metadata=header)


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> bytes:
    """The bytes :func:`save_tensors` would write (for sending to another process; :func:`tensors_from_bytes`)."""
    payload, header = _prepared(tensors, metadata)
    return save(payload, metadata=header)


def _check_start(head: bytes, size: int, source: str) -> None:
    """A safetensors file starts with its JSON header's length (8 bytes, little endian) and then "{". Anything
    else is refused before a parser sees it; pickle (b"\\x80" + protocol) and torch.save zips get a clear word.
    (Testing the first byte alone for pickle's b"\\x80" would refuse the 1 in 256 safetensors files whose
    header length ends in 0x80.)"""
    header_length = int.from_bytes(head[:8], "little")
    if not (len(head) >= 9 and head[8:9] == b"{" and header_length <= size - 8):
        if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":
            raise FileFormatError(f"{source} is a pickle/torch.save file; refusing to load it (it could run code)")
        raise FileFormatError(f"{source} is not a valid robust-snn file (no safetensors header)")


def _metadata(tensors: dict[str, torch.Tensor], raw_meta: str | None, source: str,
              expected_format: str | None) -> dict[str, Any]:
    """Our metadata document, checked: present, a JSON object, the checksum matching, the expected format."""
    if raw_meta is None:
        raise FileFormatError(f"{source} has no robust-snn metadata; it was not written by robust-snn")
    try:
        metadata = json.loads(raw_meta)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{source} has corrupt metadata: {exc}") from None
    if not isinstance(metadata, dict):
        raise FileFormatError(f"{source} has corrupt metadata: not a JSON object")
    stored_digest = metadata.pop(DIGEST_KEY, None)
    if stored_digest is not None and stored_digest != content_digest(tensors, json.dumps(metadata, sort_keys=True)):
        raise FileFormatError(f"{source} is damaged: its content does not match the SHA-256 checksum stored in it "
                              "(copy it again from the original)")
    if expected_format is not None and metadata.get("format") != expected_format:
        raise FileFormatError(
            f"{source} is a {metadata.get('format')!r} file, expected {expected_format!r}"
        )
    return metadata


def load_tensors(path: str | Path, expected_format: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by :func:`save_tensors`: ``(tensors, metadata)``.

    Refuses (with :class:`FileFormatError`) anything that is not a safetensors file with our metadata,
    including pickle-based ``torch.save`` files, whose payload is never unpickled, and a file whose content
    does not match its stored checksum (damaged); a file without a checksum (written before it existed) loads.
    """
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"file not found: {path}")
    with path.open("rb") as fh:
        head = fh.read(9)
    _check_start(head, path.stat().st_size, str(path))
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
    return tensors, _metadata(tensors, raw_meta, str(path), expected_format)


def tensors_from_bytes(data: bytes, source: str, expected_format: str | None = None
                       ) -> tuple[dict[str, torch.Tensor], dict]:
    """:func:`load_tensors` for the bytes of a file (:func:`tensors_to_bytes`), with the same checks; ``source``
    names the bytes in errors.

    safetensors reads metadata from files only, so the header is read here: its length (8 bytes, little
    endian), then its JSON (tensor name -> dtype, shape, byte range; ``__metadata__``), per the format's spec.
    The declared shapes are checked against the size limits before safetensors allocates the tensors.
    """
    _check_start(bytes(data[:9]), len(data), source)
    try:
        header = json.loads(bytes(data[8:8 + int.from_bytes(data[:8], "little")]))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        shapes = [(name, tuple(int(d) for d in entry["shape"])) for name, entry in header.items()
                  if name != "__metadata__"]
        check_shapes(shapes, source, FileFormatError)
        tensors = load(bytes(data))
        raw_meta = (header.get("__metadata__") or {}).get(META_KEY)
    except FileFormatError:
        raise
    except (SafetensorError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise FileFormatError(f"{source} is not a valid robust-snn file: {exc}") from None
    return tensors, _metadata(tensors, raw_meta, source, expected_format)
