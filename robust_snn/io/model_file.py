"""Self-describing model files (``.rsnn``): safetensors weights + the JSON needed to rebuild the network.

The metadata holds the architecture (:class:`~robust_snn.core.network.NetworkConfig`), the front end, the
training method and its hyperparameters, the data spec and the package version, so a file is understood
without the script that made it. Loading rebuilds the network from the JSON and copies tensors in by name;
nothing in the file is executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..config import ConfigError
from ..core.network import NetworkConfig, SNNClassifier
from .limits import check_shapes
from .tensors import FileFormatError, load_tensors, save_tensors, tensors_from_bytes, tensors_to_bytes

MODEL_FORMAT = "robust-snn-model"
FORMAT_VERSION = 1


def model_metadata(model: SNNClassifier, **info: Any) -> dict[str, Any]:
    """The metadata document of a model file; ``info`` adds method, data, front_end, training, ..."""
    return {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "kind": type(model).__name__,
        "architecture": model.config.to_dict(),
        **{k: v for k, v in info.items() if v is not None},
    }


def save_model(path: str | Path, model: SNNClassifier, **info: Any) -> None:
    """Write ``model`` atomically to ``path`` with its description (see :func:`model_metadata`)."""
    if not isinstance(model, SNNClassifier):
        raise TypeError(f"save_model stores SNNClassifier networks, got {type(model).__name__}")
    save_tensors(path, dict(model.state_dict()), model_metadata(model, **info))


def model_to_bytes(model: SNNClassifier, **info: Any) -> bytes:
    """The bytes of the model file :func:`save_model` would write (to send a model to another process)."""
    if not isinstance(model, SNNClassifier):
        raise TypeError(f"model_to_bytes stores SNNClassifier networks, got {type(model).__name__}")
    return tensors_to_bytes(dict(model.state_dict()), model_metadata(model, **info))


def load_state_strict(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``tensors`` into ``model`` requiring exactly the same names, shapes and dtypes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise FileFormatError(f"{source}: tensors do not match the architecture (missing {missing}, unexpected {extra})")
    for name, value in tensors.items():
        if value.shape != expected[name].shape or value.dtype != expected[name].dtype:
            raise FileFormatError(
                f"{source}: tensor {name!r} has shape {tuple(value.shape)} {value.dtype}, "
                f"expected {tuple(expected[name].shape)} {expected[name].dtype}"
            )
        if not torch.isfinite(value).all():
            raise FileFormatError(f"{source}: tensor {name!r} contains NaN or inf")
    model.load_state_dict(tensors, strict=True)


def architecture_shapes(config: NetworkConfig) -> list[tuple[str, tuple[int, ...]]]:
    """The large arrays an architecture would allocate, checked before building it (the metadata is untrusted)."""
    shapes, n_prev = [], int(config.n_in)
    for i, h in enumerate(config.hidden):
        shapes.append((f"layers.{i}.weight", (int(h), n_prev)))
        if config.recurrent:
            shapes.append((f"layers.{i}.w_rec", (int(h), int(h))))
        shapes.append((f"layers.{i} per-neuron parameters", (8, int(h))))
        n_prev = int(h)
    shapes.append(("readout.weight", (int(config.n_classes), n_prev)))
    return shapes


def _model(tensors: dict[str, torch.Tensor], meta: dict[str, Any], source: str) -> SNNClassifier:
    """The network a model file's tensors and metadata describe, every check passed; in eval mode."""
    if meta.get("format_version") != FORMAT_VERSION:
        raise FileFormatError(f"{source}: unsupported model format version {meta.get('format_version')!r}")
    if meta.get("kind") != "SNNClassifier":
        raise FileFormatError(f"{source}: unknown model kind {meta.get('kind')!r}")
    try:
        config = NetworkConfig.from_dict(meta.get("architecture", {}), "architecture")
    except ConfigError as exc:
        raise FileFormatError(f"{source}: {exc}") from None
    check_shapes(architecture_shapes(config), f"{source} (architecture)", FileFormatError)
    bad = sorted(name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all()))
    if bad:
        raise FileFormatError(f"{source}: non-finite values (NaN or inf) in {', '.join(bad)}")
    model = SNNClassifier(config)
    load_state_strict(model, tensors, source)
    return model.eval()


def read_model(path: str | Path) -> tuple[SNNClassifier, dict[str, Any]]:
    """``(model, metadata)`` from a model file; the model is in eval mode."""
    tensors, meta = load_tensors(path, MODEL_FORMAT)
    return _model(tensors, meta, str(path)), meta


def model_from_bytes(data: bytes, source: str) -> tuple[SNNClassifier, dict[str, Any]]:
    """:func:`read_model` for the bytes of :func:`model_to_bytes`, with the same checks (``source`` names them
    in errors)."""
    tensors, meta = tensors_from_bytes(data, source, MODEL_FORMAT)
    return _model(tensors, meta, source), meta


def load_model(path: str | Path) -> SNNClassifier:
    """Load any robust-snn model file. ``model(x)`` maps ``(batch, time, channels)`` to logits."""
    return read_model(path)[0]
