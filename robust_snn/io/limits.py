"""Size limits on arrays read from files: a file that claims absurd shapes is refused before anything is allocated.

Why: model files, bundles, NIR graphs, HDF5 data sets and packed corpora are passed between people. A shape is
a few bytes in a header, and compressed HDF5 / npz members can claim terabytes while the file holds kilobytes,
so a reader that trusts the header can be made to exhaust memory (or swap a shared machine to a halt). Every
reader checks the declared shapes against one limit first, and names the array and its claim when refusing.

The limit is ``ROBUST_SNN_MAX_ELEMENTS`` elements per array and per file (default 2**28: 1 GiB of float32,
about 500x the largest network in the paper); raise it in the environment for bigger honest files.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

DEFAULT_MAX_ELEMENTS = 2**28


def max_elements() -> int:
    """The current limit (read from the environment on each call, so tests and users can change it)."""
    raw = os.environ.get("ROBUST_SNN_MAX_ELEMENTS")
    if raw is None:
        return DEFAULT_MAX_ELEMENTS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"ROBUST_SNN_MAX_ELEMENTS must be an integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"ROBUST_SNN_MAX_ELEMENTS must be >= 1, got {value}")
    return value


def check_shapes(shapes: Iterable[tuple[str, tuple[int, ...]]], source: str,
                 error: Callable[[str], Exception]) -> None:
    """Refuse (raising ``error(message)``) any array, or all together, over :func:`max_elements`."""
    limit, total = max_elements(), 0
    for name, shape in shapes:
        if any(int(d) < 0 for d in shape):
            raise error(f"{source}: array {name!r} claims a negative shape {tuple(shape)}")
        n = math.prod(int(d) for d in shape)
        total += n
        if n > limit:
            raise error(f"{source}: array {name!r} claims shape {tuple(shape)} ({n:,} elements), over the limit of "
                        f"{limit:,}; refusing to allocate it (raise ROBUST_SNN_MAX_ELEMENTS if the file is trusted)")
    if total > limit:
        raise error(f"{source}: arrays claim {total:,} elements in all, over the limit of {limit:,}; refusing to "
                    f"allocate them (raise ROBUST_SNN_MAX_ELEMENTS if the file is trusted)")


def safetensors_shapes(path: str | Path) -> list[tuple[str, tuple[int, ...]]]:
    """Declared shapes from a safetensors header (reads the header only)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as fh:
        return [(name, tuple(fh.get_slice(name).get_shape())) for name in fh.keys()]


def hdf5_shapes(path: str | Path) -> list[tuple[str, tuple[int, ...]]]:
    """Declared shapes of every data set in an HDF5 file (no data read; variable-length items count as one)."""
    import h5py

    shapes: list[tuple[str, tuple[int, ...]]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            shapes.append((name, tuple(obj.shape or ())))

    with h5py.File(path, "r") as fh:
        fh.visititems(visit)
    return shapes


def npz_shapes(path: str | Path) -> list[tuple[str, tuple[int, ...]]]:
    """Declared shapes of every member of an ``.npz`` archive, from the ``.npy`` headers only."""
    shapes = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                    else np.lib.format.read_array_header_2_0
                shape, _, _ = reader(fh)
            shapes.append((info.filename.removesuffix(".npy"), tuple(shape)))
    return shapes


__all__ = ["DEFAULT_MAX_ELEMENTS", "check_shapes", "hdf5_shapes", "max_elements", "npz_shapes",
           "safetensors_shapes"]
