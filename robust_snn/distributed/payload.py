"""What a distributed task is given: the model, the device profile and the data, each in a portable form.

Workers may be other machines with their own copy of the package but none of this process's memory or files,
so each part travels in the smallest form that rebuilds it exactly:

- **model**: our networks (:class:`~robust_snn.core.network.SNNClassifier`) as the bytes of their model file
  (:func:`robust_snn.io.model_file.model_to_bytes`: no pickle, bit-exact tensors, a few kB to a few MB), read
  back with every check a model file gets (SHA-256 content checksum, size limits, architecture, each tensor's
  name, shape and dtype); any other ``nn.Module`` (Rockpool, snntorch) as the pickled module.
- **profile**: a profile read from TOML (built-in or a file) as its TOML text, so a worker does not need the
  file; a profile built in memory, or a bare :class:`~robust_snn.devices.MismatchModel`, pickled.
- **data**: a data spec and split (``("synth-kws", "test")``); each worker process loads it once and keeps
  it for later tasks. A data set without a spec (tensors in memory) travels itself, once per node via Ray's
  object store.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from torch import nn
from torch.utils.data import Dataset

from ..core.network import SNNClassifier
from ..devices import DeviceProfile, MismatchModel, load_profile
from ..devices.profiles import profile_from_text
from ..io.model_file import model_from_bytes, model_to_bytes


def pack_model(model: nn.Module) -> bytes | nn.Module:
    """The model file bytes of our networks; any other module as itself."""
    return model_to_bytes(model) if isinstance(model, SNNClassifier) else model


def unpack_model(packed: bytes | nn.Module) -> nn.Module:
    """The model :func:`pack_model` packed, in eval mode; damaged or inconsistent bytes raise
    :class:`~robust_snn.io.tensors.FileFormatError` naming the shipped model and what is wrong."""
    if isinstance(packed, nn.Module):
        return packed.eval()
    return model_from_bytes(packed, "the shipped model")[0]


@dataclass(frozen=True)
class ProfileText:
    """A profile as its TOML text plus where it came from (kept for messages and the profile's ``path``)."""

    text: str
    path: str | None


def pack_profile(profile: DeviceProfile | MismatchModel | str | Path) -> ProfileText | DeviceProfile | MismatchModel:
    """A portable form of ``profile`` (name, path, profile or mismatch model); see the module docstring."""
    if isinstance(profile, (str, Path)):
        profile = load_profile(profile)
    if isinstance(profile, DeviceProfile):
        return ProfileText(profile.text, profile.path) if profile.text is not None else profile
    return profile


def unpack_profile(packed: ProfileText | DeviceProfile | MismatchModel) -> DeviceProfile | MismatchModel:
    if isinstance(packed, ProfileText):
        return _profile_from_text(packed.text, packed.path)
    return packed


@functools.lru_cache(maxsize=8)
def _profile_from_text(text: str, path: str | None) -> DeviceProfile:
    return profile_from_text(text, Path(path).stem if path else "profile", path=path)


@dataclass(frozen=True)
class DataRef:
    """A data set named by its spec (``KIND[:PATH][?...]``, the text that :class:`robust_snn.data.DataSpec`
    parses) and split, loaded where the task runs."""

    spec: str
    split: str = "test"


def unpack_data(data: DataRef | Dataset) -> Dataset:
    """The data set: loaded once per worker process for a :class:`DataRef`, else ``data`` itself."""
    return _load(data.spec, data.split) if isinstance(data, DataRef) else data


@functools.lru_cache(maxsize=4)
def _load(spec: str, split: str) -> Dataset:
    from ..data import load_dataset

    return load_dataset(spec, split)


__all__ = ["DataRef", "ProfileText", "pack_model", "pack_profile", "unpack_data", "unpack_model",
           "unpack_profile"]
