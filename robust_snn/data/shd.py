"""``shd:PATH``: Spiking Heidelberg Digits (``shd_train.h5``, ``shd_test.h5``) or Spiking Speech Commands
(``ssc_train.h5``, ``ssc_valid.h5``, ``ssc_test.h5``) from a local folder (Cramer et al. 2020).

Each file holds ``spikes/times`` (per sample a float array of spike times, seconds), ``spikes/units`` (per sample
the matching channel indices 0..699 of the cochlea model) and ``labels``; ``extra/keys`` (class names) and
``extra/speaker`` are used when present. An item is the spike count of every channel in every ``dt``-second bin
of the first ``duration`` seconds: ``(round(duration / dt), 700 / downsample)`` float32, channels summed in
groups of ``downsample``. SHD has no validation file: val is a seeded, stratified ``val`` fraction of train (and
train the rest). Needs ``h5py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..io.limits import check_shapes, hdf5_shapes
from .options import ShdOptions, shd_options
from .splits import stratified_holdout
from .spec import DataError, DataSpec

CHANNELS = 700
FILES = {"shd": {"train": "shd_train.h5", "test": "shd_test.h5"},
         "ssc": {"train": "ssc_train.h5", "val": "ssc_valid.h5", "test": "ssc_test.h5"}}


class SpikeBinDataset(Dataset):
    """Binned spike trains; spikes are kept sparse (one flat ``bin * channels + channel`` index per spike) and
    made dense per item. ``classes``, ``dt`` (seconds per step), ``spec``, ``speakers`` describe the data."""

    def __init__(self, flat: list[np.ndarray], labels: np.ndarray, steps: int, channels: int, *,
                 classes: tuple[str, ...], dt: float, spec: str, speakers: tuple[str, ...] = ()) -> None:
        self.flat, self.labels, self.steps, self.channels = flat, labels, steps, channels
        self.classes, self.dt, self.spec, self.speakers, self.frontend = classes, dt, spec, speakers, None

    def __len__(self) -> int:
        return len(self.flat)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        counts = np.bincount(self.flat[index], minlength=self.steps * self.channels)
        x = torch.from_numpy(counts.astype(np.float32).reshape(self.steps, self.channels))
        return x, int(self.labels[index])


def _h5py():
    try:
        import h5py
    except ImportError:
        raise DataError("reading SHD/SSC files needs h5py: pip install h5py") from None
    return h5py


def _pick_set(folder: Path, options: ShdOptions) -> str:
    present = [name for name, files in FILES.items() if (folder / files["train"]).is_file()]
    if options.set is not None:
        if options.set not in present:
            raise DataError(f"shd folder {folder} has no {FILES[options.set]['train']}")
        return options.set
    if len(present) == 1:
        return present[0]
    if present:
        raise DataError(f"shd folder {folder} holds both SHD and SSC files; add ?set=shd or ?set=ssc")
    gz = sorted(p.name for p in folder.glob("*.h5.gz"))
    hint = f" (found {', '.join(gz)}: gunzip them first)" if gz else ""
    raise DataError(f"shd folder {folder} has neither shd_train.h5 nor ssc_train.h5{hint}")


def _read(path: Path, options: ShdOptions, steps: int) -> tuple[list[np.ndarray], np.ndarray, tuple, tuple]:
    h5py = _h5py()
    if not path.is_file():
        raise DataError(f"SHD/SSC file not found: {path}")
    channels = CHANNELS // options.downsample
    try:
        check_shapes(hdf5_shapes(path), str(path), DataError)
        with h5py.File(path, "r") as fh:
            times, units, labels = fh["spikes/times"][:], fh["spikes/units"][:], np.asarray(fh["labels"][:])
            keys = tuple(k.decode() if isinstance(k, bytes) else str(k) for k in fh["extra/keys"][:]) \
                if "extra/keys" in fh else ()
            speakers = tuple(str(s) for s in fh["extra/speaker"][:]) if "extra/speaker" in fh else ()
    except KeyError as exc:
        raise DataError(f"{path} lacks the dataset {exc} (expected spikes/times, spikes/units, labels)") from None
    except OSError as exc:
        raise DataError(f"{path} is not a readable HDF5 file: {exc}") from None
    if not len(times) == len(units) == len(labels):
        raise DataError(f"{path}: spikes/times, spikes/units and labels differ in length")
    flat = []
    for k, (t, u) in enumerate(zip(times, units)):
        t, u = np.asarray(t, np.float64), np.asarray(u, np.int64)
        if len(t) != len(u):
            raise DataError(f"{path}: sample {k} has {len(t)} spike times but {len(u)} units")
        if len(u) and (u.min() < 0 or u.max() >= CHANNELS):
            raise DataError(f"{path}: sample {k} has a unit outside 0..{CHANNELS - 1}")
        bins = np.floor(t / options.dt).astype(np.int64)
        keep = (t >= 0) & (bins < steps)
        flat.append((bins[keep] * channels + u[keep] // options.downsample).astype(np.int32))
    return flat, labels.astype(np.int64), keys, speakers


def load_shd(spec: DataSpec, split: str) -> SpikeBinDataset:
    """The ``split`` of the SHD or SSC folder ``spec.path``."""
    options = shd_options(spec)
    folder = spec.path
    assert folder is not None
    which = _pick_set(folder, options)
    steps = max(1, round(options.duration / options.dt))
    source = FILES[which].get(split, FILES[which]["train"])
    flat, labels, keys, speakers = _read(folder / source, options, steps)
    if which == "shd" and split in ("train", "val"):
        held = stratified_holdout(labels, options.val, options.seed)
        chosen = np.flatnonzero(held if split == "val" else ~held)
        flat, labels = [flat[i] for i in chosen], labels[chosen]
        speakers = tuple(speakers[i] for i in chosen) if speakers else ()
    n_classes = max(len(keys), int(labels.max()) + 1 if len(labels) else 0)
    classes = keys if len(keys) == n_classes else tuple(str(c) for c in range(n_classes))
    return SpikeBinDataset(flat, labels, steps, CHANNELS // options.downsample, classes=classes, dt=options.dt,
                           spec=str(spec), speakers=speakers)
