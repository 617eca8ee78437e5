"""What a distributed task is given: the model, the device profile and the data, each in a portable form.

Workers may be other machines with their own copy of the package but none of this process's memory or files,
so each part travels in the smallest form that rebuilds it exactly:

- **model**: our networks (:class:`~robust_snn.core.network.SNNClassifier`) as safetensors bytes of the state
  dict with the architecture JSON in the header, the format of model files (no pickle, bit-exact tensors, a
  few kB to a few MB, with the model files' SHA-256 content checksum, verified on arrival); any other
  ``nn.Module`` (Rockpool, snntorch) as the pickled module.
- **profile**: a profile read from TOML (built-in or a file) as its TOML text, so a worker does not need the
  file; a profile built in memory, or a bare :class:`~robust_snn.devices.MismatchModel`, pickled.
- **data**: a data spec and split (``("synth-kws", "test")``); each worker process loads it once and keeps
  it for later tasks. A data set without a spec (tensors in memory) travels itself, once per node via Ray's
  object store.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from ..core.network import NetworkConfig, SNNClassifier
from ..devices import DeviceProfile, MismatchModel, build_profile, load_profile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_ARCH_KEY = "architecture"


def pack_model(model: nn.Module) -> bytes | nn.Module:
    """Safetensors bytes (state dict + architecture) of our networks; any other module as itself."""
    if not isinstance(model, SNNClassifier):
        return model
    from safetensors.torch import save

    from ..io.tensors import DIGEST_KEY, content_digest

    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    arch = model.config.to_dict()
    digest = content_digest(tensors, json.dumps(arch, sort_keys=True))
    return save(tensors, metadata={_ARCH_KEY: json.dumps({**arch, DIGEST_KEY: digest}, sort_keys=True)})


def unpack_model(packed: bytes | nn.Module) -> nn.Module:
    """The model :func:`pack_model` packed, in eval mode."""
    if isinstance(packed, nn.Module):
        return packed.eval()
    from safetensors.torch import load

    from ..io.model_file import load_state_strict
    from ..io.tensors import DIGEST_KEY, FileFormatError, content_digest

    # safetensors layout: 8-byte little-endian header length, then the JSON header with our metadata.
    header_len = int.from_bytes(packed[:8], "little")
    meta = json.loads(packed[8:8 + header_len]).get("__metadata__", {})
    tensors, arch = load(packed), json.loads(meta[_ARCH_KEY])
    digest = arch.pop(DIGEST_KEY, None)  # the model files' checksum (one metadata key: deterministic bytes)
    if digest != content_digest(tensors, json.dumps(arch, sort_keys=True)):
        raise FileFormatError("the shipped model arrived damaged: its content does not match its SHA-256 checksum")
    model = SNNClassifier(NetworkConfig.from_dict(arch, _ARCH_KEY))
    load_state_strict(model, tensors, "shipped model")
    return model.eval()


def profile_toml(profile: DeviceProfile) -> str | None:
    """The TOML text ``profile`` was read from (built-in or a file), ``None`` when it was built in memory."""
    path = profile.path or ""
    if path.startswith("<builtin>/"):
        return resources.files("robust_snn.devices").joinpath("profiles", path.split("/", 1)[1]).read_text()
    return Path(path).read_text() if path and Path(path).is_file() else None


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
        text = profile_toml(profile)
        return ProfileText(text, profile.path) if text is not None else profile
    return profile


def unpack_profile(packed: ProfileText | DeviceProfile | MismatchModel) -> DeviceProfile | MismatchModel:
    if isinstance(packed, ProfileText):
        return _profile_from_text(packed.text, packed.path)
    return packed


@functools.lru_cache(maxsize=8)
def _profile_from_text(text: str, path: str | None) -> DeviceProfile:
    where = Path(path).stem if path else "profile"
    return build_profile(tomllib.loads(text), where, path=path)


@dataclass(frozen=True)
class DataSpec:
    """A data set named by its spec (``KIND[:PATH][?...]``) and split, loaded where the task runs."""

    spec: str
    split: str = "test"


def unpack_data(data: DataSpec | Dataset) -> Dataset:
    """The data set: loaded once per worker process for a :class:`DataSpec`, else ``data`` itself."""
    return _load(data.spec, data.split) if isinstance(data, DataSpec) else data


@functools.lru_cache(maxsize=4)
def _load(spec: str, split: str) -> Dataset:
    from ..data import load_dataset

    return load_dataset(spec, split)


__all__ = ["DataSpec", "ProfileText", "pack_model", "pack_profile", "profile_toml", "unpack_data", "unpack_model",
           "unpack_profile"]
