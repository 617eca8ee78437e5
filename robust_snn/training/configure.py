"""From a configuration to what :func:`~robust_snn.training.fit` needs: the network, the settings, the method.

The command line (``robust-snn train``), the demo and scripts build a training run the same way, here:

- **The default network for a data set and a chip** (:func:`default_network`): ``n_in`` input channels ->
  one recurrent layer of :data:`DEFAULT_HIDDEN` CuBa-LIF neurons -> ``n_classes`` outputs, the data's time
  step ``dt`` (seconds), and, for a chip, a hidden width the chip can hold (:func:`size_for_device`). With 16
  input channels, 48 recurrent neurons make a fan-in of ``16 + 48 - 1 = 63`` (the neuron's own recurrent
  weight is held at zero): it fits DYNAP-SE2 (64) and Xylo Audio 2 (63), so the default model of the
  embedded corpus can be bundled for both. A network that does not fit the chip is refused
  (:func:`check_fits`), naming the limit.
- **Merging a configuration** (:func:`train_settings`, :func:`method_choice`, :func:`network_settings`): a
  TOML file's ``[train]``, ``[network]`` and ``[method]`` sections, then explicit overrides (the command
  line's flags), which win. A file that contradicts itself (``[train] method = "noise"`` beside ``[method]
  name = "standard"``) is an error naming both places.
- **Fine-tuning a model file** (:func:`check_init`): the model must take the data's input channels and give
  its classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from torch import nn
from torch.utils.data import Dataset

from ..config import ConfigError
from ..core.network import NetworkConfig, SNNClassifier
from ..devices.limits import largest_hidden, resource_violations
from ..devices.profiles import DeviceProfile, load_profile
from .trainer import TrainConfig

DEFAULT_HIDDEN: tuple[int, ...] = (48,)
"""One hidden layer of 48 neurons: with 16 inputs a fan-in of 63, which fits DYNAP-SE2 (64) and Xylo Audio 2 (63)."""

NETWORK_FLAGS = ("hidden", "recurrent", "readout")  # [network] keys that also come as overrides (train's flags)
TRAIN_FLAGS = ("epochs", "seed", "batch_size", "lr")  # TrainConfig fields that also come as overrides


@dataclass(frozen=True)
class DataShape:
    """What a network must match in a data set: input channels, classes (names when known), time step (s)."""

    n_in: int
    n_classes: int
    dt: float | None = None
    classes: tuple[str, ...] | None = None

    @classmethod
    def of(cls, data: Dataset) -> "DataShape":
        """Read from a data set of ``(x, label)``, ``x`` shaped ``(time, channels)``: the channels of the first
        item; the classes from ``data.classes`` when it has them, else ``1 + the largest label``."""
        x0, _ = data[0]
        classes = getattr(data, "classes", None)
        n_classes = len(classes) if classes else 1 + max(int(data[i][1]) for i in range(len(data)))
        dt = getattr(data, "dt", None)
        return cls(int(x0.shape[-1]), n_classes, float(dt) if dt else None, tuple(classes) if classes else None)


def _profile(profile: str | Path | DeviceProfile) -> DeviceProfile:
    return profile if isinstance(profile, DeviceProfile) else load_profile(profile)


def size_for_device(network: Mapping[str, Any], profile: str | Path | DeviceProfile, default_hidden: int,
                    explicit_hidden: bool) -> dict[str, Any]:
    """The ``[network]`` table with, unless the user chose it, a hidden width that fits the chip:
    ``min(default_hidden, largest that fits)`` (:func:`~robust_snn.devices.limits.largest_hidden`)."""
    profile = _profile(profile)
    out = dict(network)
    hidden = list(out.get("hidden", [default_hidden]))
    largest = largest_hidden(profile.limits, int(out["n_in"]), int(out["n_classes"]), bool(out.get("recurrent")))
    if not explicit_hidden and largest is not None and len(hidden) == 1:
        out["hidden"] = [min(hidden[0], largest)]
    return out


def check_fits(model: nn.Module, profile: str | Path | DeviceProfile) -> None:
    """A ``ConfigError`` naming every limit of the chip the model exceeds (training for a chip the network
    cannot be deployed on would waste the run: the bundle export refuses it too)."""
    profile = _profile(profile)
    violations = resource_violations(model, profile.limits)
    if violations:
        config = getattr(model, "config", None)
        hint = ""
        if config is not None and len(getattr(config, "hidden", ())) == 1:
            largest = largest_hidden(profile.limits, config.n_in, config.n_classes, config.recurrent)
            hint = f"; at most {largest} hidden neurons fit" if largest is not None else ""
        raise ConfigError(f"the network does not fit {profile.name}: {'; '.join(violations)}{hint} "
                          f"(or train without --device)")


def default_network(data: Dataset | DataShape, *, seed: int = 0, device: str | Path | DeviceProfile | None = None,
                    network: Mapping[str, Any] | None = None) -> NetworkConfig:
    """The architecture to train on ``data`` (for the chip line ``device`` when given); see the module docstring.

    ``network``: the user's choices (a ``[network]`` table, any :class:`NetworkConfig` field), which win over
    the defaults; a ``hidden`` given there is kept as chosen (checked against the chip, never resized). Raises
    ``ConfigError`` when the result does not fit ``device``.
    """
    shape = data if isinstance(data, DataShape) else DataShape.of(data)
    chosen = dict(network or {})
    table: dict[str, Any] = {"n_in": shape.n_in, "n_classes": shape.n_classes, "seed": seed,
                             "hidden": list(DEFAULT_HIDDEN), "recurrent": True, **chosen}
    if shape.dt and "dt" not in chosen:
        table["dt"] = shape.dt
    if device is not None:
        table = size_for_device(table, device, DEFAULT_HIDDEN[0], explicit_hidden="hidden" in chosen)
    config = NetworkConfig.from_dict(table)
    if device is not None:
        check_fits(SNNClassifier(config), device)  # the resource count reads the weight matrices
    return config


def check_init(model: nn.Module, data: Dataset | DataShape, model_name: str, data_name: str) -> None:
    """A ``ConfigError`` when the model to fine-tune (``model_name``) does not map ``data``'s input channels to
    its classes (both named)."""
    shape = data if isinstance(data, DataShape) else DataShape.of(data)
    config = model.config
    if config.n_in != shape.n_in or config.n_classes != shape.n_classes:
        raise ConfigError(f"{model_name} maps {config.n_in} channels to {config.n_classes} classes, "
                          f"but {data_name} has {shape.n_in} channels and {shape.n_classes} classes")


def _conflict(config: Any, first: str, a: Any, second: str, b: Any) -> ConfigError:
    return ConfigError(f"{config}: {first} = {a!r} conflicts with {second} = {b!r}; keep one of them")


def _given(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (overrides or {}).items() if v is not None}


def train_settings(sections: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The :class:`TrainConfig` fields: ``[train]`` (either key spelling, ``batch-size`` or ``batch_size``), then
    ``overrides`` (``None`` values are not given)."""
    fields = TrainConfig.__dataclass_fields__
    out = {k.replace("-", "_"): v for k, v in sections.get("train", {}).items() if k.replace("-", "_") in fields}
    out.update({k: v for k, v in _given(overrides).items() if k in TRAIN_FLAGS})
    return out


def method_choice(sections: Mapping[str, Any], method: str | None = None, config: Any = None
                  ) -> tuple[str, dict[str, Any], list[str]]:
    """``(method name, its hyperparameters, hyperparameters dropped)``.

    The name comes from ``method`` (an override), else ``[method] name`` or ``[train] method`` (both given and
    different: an error naming both, ``config`` being the file's name), else ``standard``. When ``method``
    replaces the file's method, the file's hyperparameters (they belong to the other method) are dropped and
    listed; its ``device`` is kept.
    """
    section = dict(sections.get("method", {}))
    in_file = section.pop("name", None)
    in_train = sections.get("train", {}).get("method")
    if in_train is not None and in_file is not None and in_train != in_file:
        raise _conflict(config, "[train] method", in_train, "[method] name", in_file)
    dropped: list[str] = []
    if method is not None and in_file is not None and method != in_file:
        dropped = sorted(k for k in section if k != "device")
        section = {k: v for k, v in section.items() if k == "device"}
    return method or in_file or in_train or "standard", section, dropped


def network_settings(sections: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                     config: Any = None) -> dict[str, Any]:
    """``[network]`` with ``overrides`` of :data:`NETWORK_FLAGS` applied (they win); ``[train] hidden`` beside a
    different ``[network] hidden`` is an error naming both (``config``: the file's name)."""
    network = dict(sections.get("network", {}))
    in_train = sections.get("train", {})
    given = _given(overrides)
    for name in NETWORK_FLAGS:
        if name in in_train and name in network and in_train[name] != network[name]:
            raise _conflict(config, f"[train] {name}", in_train[name], f"[network] {name}", network[name])
        if name in given:
            network[name] = given[name]
    return network


__all__ = ["DEFAULT_HIDDEN", "DataShape", "check_fits", "check_init", "default_network", "method_choice",
           "network_settings", "size_for_device", "train_settings"]
