"""Device profiles: a chip described as data -- a TOML file with its figures, their sources and its limits.

A user adds a chip by writing a profile, not code. Layout (every figure has a source)::

    name = "pcm"                                  # how the CLI and API refer to it
    family = "memristive"                         # kind of device: gaussian | subthreshold-mixed-signal |
                                                  #   digital | memristive (free text for user profiles)
    description = "one line"
    source = "where the figures come from, in one line"

    [limits]                                      # omit a limit that does not apply or is unknown
    neurons = 1000                                # hidden neurons
    fan_in = 63                                   # inputs (input + recurrent) per neuron
    input_channels = 16
    output_channels = 8
    weight_bits = 8
    recurrent = true
    fan_out = 64                                  # hidden-to-hidden targets per hidden neuron
    recurrent_synapses = 32000                    # hidden-to-hidden synapses in all (weight memory)
    notes = "how sure we are"

    [[stages]]                                    # the mismatch model, in the order a chip lives it
    kind = "programming_noise"                    # see robust_snn.devices.STAGES
    coeffs_uS = [0.26348, 1.9650, -1.1731]
    source = "..."
    [stages.sources]                              # optional: field -> source of that figure
    coeffs_uS = "..."

Profiles are validated when loaded: a missing, negative or wrongly typed field raises
:class:`~robust_snn.config.ConfigError` naming the profile and the field (``pcm.stages[1].g_ref_uS must be
...``). Built-in profiles ship in ``robust_snn/devices/profiles/*.toml``.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ..config import ConfigError, build_dataclass, load_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib
from .model import MismatchModel
from .stage import Stage, build_stage

_REQUIRED = ("name", "family", "description", "source")
_KNOWN = set(_REQUIRED) | {"limits", "stages"}


@dataclass(frozen=True)
class ResourceLimits:
    """What a chip can hold; ``None`` where a limit does not apply or is not known.

    ``fan_out`` and ``recurrent_synapses`` (hidden-to-hidden connections per neuron and in all) are checked by
    the Xylo exporter (:func:`robust_snn.export.xylo.xylo_violations`), not yet by
    :func:`~robust_snn.devices.limits.resource_violations`.
    """

    neurons: int | None = None
    fan_in: int | None = None
    input_channels: int | None = None
    output_channels: int | None = None
    weight_bits: int | None = None
    recurrent: bool = True
    fan_out: int | None = None
    recurrent_synapses: int | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        for name in ("neurons", "fan_in", "input_channels", "output_channels", "weight_bits", "fan_out",
                     "recurrent_synapses"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True)
class DeviceProfile:
    """A validated device profile; :meth:`mismatch_model` builds its pipeline."""

    name: str
    family: str
    description: str
    source: str
    limits: ResourceLimits = field(default_factory=ResourceLimits)
    stages: tuple[Stage, ...] = ()
    path: str | None = None
    text: str | None = field(default=None, compare=False, repr=False)
    """The TOML text the profile was read from (``None``: built in memory): what a deployment bundle records
    and a distributed task ships (:func:`profile_from_text` rebuilds the profile from it)."""

    def mismatch_model(self) -> MismatchModel:
        return MismatchModel(self.stages, name=self.name)

    def to_dict(self) -> dict[str, Any]:
        limits = {k: v for k, v in dataclasses.asdict(self.limits).items() if v is not None}
        return {"name": self.name, "family": self.family, "description": self.description,
                "source": self.source, "limits": limits, "stages": [s.describe() for s in self.stages]}


def build_profile(data: Mapping[str, Any], where: str = "profile", path: str | None = None,
                  text: str | None = None) -> DeviceProfile:
    """Validate a profile mapping (as read from TOML, ``text``) and build it; errors name the field."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {data!r}")
    where = str(data.get("name", where)) if isinstance(data.get("name"), str) else where
    unknown = sorted(set(data) - _KNOWN)
    if unknown:
        raise ConfigError(f"{where} has unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN))}")
    for key in _REQUIRED:
        if key not in data:
            raise ConfigError(f"{where}.{key} is missing")
        if not isinstance(data[key], str) or not data[key].strip():
            raise ConfigError(f"{where}.{key} must be a non-empty string, got {data[key]!r}")
    limits = build_dataclass(ResourceLimits, data.get("limits", {}), f"{where}.limits")
    raw_stages = data.get("stages", [])
    if not isinstance(raw_stages, list):
        raise ConfigError(f"{where}.stages must be a list of tables ([[stages]]), got {raw_stages!r}")
    stages = tuple(build_stage(s, f"{where}.stages[{i}]") for i, s in enumerate(raw_stages))
    profile = DeviceProfile(data["name"], data["family"], data["description"], data["source"], limits, stages, path,
                            text)
    profile.mismatch_model()  # checks the stage order now, not at first use
    return profile


def profile_from_text(text: str, where: str = "profile", path: str | None = None) -> DeviceProfile:
    """A profile from its TOML text (:attr:`DeviceProfile.text`); errors name ``where``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from None
    return build_profile(data, where, path=path, text=text)


def _builtin_dir():  # noqa: ANN202
    return resources.files(__package__).joinpath("profiles")


def list_profiles() -> list[str]:
    """Names of the built-in profiles, sorted."""
    return sorted(p.name[: -len(".toml")] for p in _builtin_dir().iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """A built-in profile by name (``"pcm"``) or a profile TOML file by path."""
    text = str(name_or_path)
    if text in list_profiles():
        resource = _builtin_dir().joinpath(f"{text}.toml")
        profile = profile_from_text(resource.read_text(), text, path=f"<builtin>/{text}.toml")
        if profile.name != text:
            raise ConfigError(f"built-in profile file {text}.toml names itself {profile.name!r}")
        return profile
    path = Path(text)
    if path.suffix == ".toml" or path.exists():
        data = load_toml(path)  # errors name the file
        return build_profile(data, path.stem, path=str(path), text=path.read_text())
    raise ConfigError(f"unknown device profile {text!r}; built-in: {', '.join(list_profiles())} (or a path to a .toml)")


def describe_profiles() -> list[dict[str, str]]:
    """One row per built-in profile: ``name``, ``family``, ``description``, ``source`` (for ``robust-snn devices``)."""
    rows = []
    for name in list_profiles():
        p = load_profile(name)
        rows.append({"name": p.name, "family": p.family, "description": p.description, "source": p.source})
    return rows


__all__ = ["DeviceProfile", "ResourceLimits", "build_profile", "describe_profiles", "list_profiles", "load_profile",
           "profile_from_text"]
