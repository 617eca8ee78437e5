"""The one interface every device effect implements, and the registry that builds stages from profile data.

A stage is a frozen dataclass of physically meaningful, documented fields (aihwkit-style presets as data) with
one method, ``apply(state, gen) -> state``. Class attributes declare where it may stand in a pipeline:

- ``phase``: its :class:`~robust_snn.devices.state.Phase` (program -> fabric -> age -> read);
- ``requires``: kinds of which at least one must come earlier (e.g. drift needs a conductance map);
- ``after``: kinds that, when present, must come earlier (e.g. stuck-at faults override programming noise).

Every stage carries ``source`` (where its figures come from) and optional ``sources`` (field -> source), so a
profile file documents each number it sets. Adding a device effect = one dataclass decorated with
:func:`register`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import torch

from ..config import ConfigError, build_dataclass
from ..core.parameters import FAMILIES
from .state import ChipState, Phase

STAGES: dict[str, type["Stage"]] = {}


def register(cls: type["Stage"]) -> type["Stage"]:
    """Class decorator: make ``cls`` buildable from profile data under ``cls.kind``."""
    if cls.kind in STAGES:
        raise ValueError(f"stage kind {cls.kind!r} registered twice")
    STAGES[cls.kind] = cls
    return cls


def check(condition: bool, message: str) -> None:
    """Validation inside ``__post_init__``: the message names the field and the bad value."""
    if not condition:
        raise ValueError(message)


def finite_at_least(value: float, low: float, name: str) -> None:
    check(isinstance(value, (int, float)) and math.isfinite(value) and value >= low,
          f"{name} must be a finite number >= {low}, got {value!r}")


def check_families(keys: Any, name: str, allow_default: bool = True) -> None:
    known = set(FAMILIES) | ({"default"} if allow_default else set())
    unknown = sorted(set(keys) - known)
    check(not unknown, f"{name} has unknown families {unknown}; known: {', '.join(sorted(known))}")


@dataclass(frozen=True)
class Stage:
    """Base class. Subclasses set ``kind``, ``phase`` and implement :meth:`apply`; all fields have defaults."""

    kind: ClassVar[str] = ""
    phase: ClassVar[Phase] = Phase.FABRIC
    requires: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()
    on_crossbar: ClassVar[bool] = False

    source: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = {f.name for f in dataclasses.fields(self)} - {"source", "sources"}
        for key, text in self.sources.items():
            check(key.split(".")[0] in names, f"sources has an entry {key!r} for no field; fields: {sorted(names)}")
            check(isinstance(text, str) and text.strip() != "", f"sources.{key} must be a non-empty string")

    def apply(self, state: ChipState, gen: torch.Generator | None) -> ChipState:
        raise NotImplementedError

    def apply_to_chips(self, programmed: ChipState, values: dict[str, torch.Tensor],
                       gens: Sequence[torch.Generator]) -> dict[str, torch.Tensor] | None:
        """This stage on many chips at once, or ``None`` where it cannot (the caller then goes chip by chip).

        ``values``: each parameter with a leading chip axis ``(chips, *shape)``; ``gens``: chip ``i``'s generator
        for this stage; ``programmed``: the programmed state (names, families, shapes). The result must equal
        :meth:`apply` chip by chip, number for number. Stages whose draws depend only on names and shapes (the
        relative mismatch stages) implement it: the draws stay per chip, the arithmetic runs once.
        """
        return None

    def families(self) -> frozenset[str] | None:
        """Parameter families this stage acts on; ``None`` for every family (a ``default`` entry)."""
        return frozenset()

    def describe(self) -> dict[str, Any]:
        """The stage as profile data: ``{"kind": ..., field: value, ...}``."""
        data = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            elif isinstance(value, Mapping):
                value = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in value.items()}
            elif isinstance(value, tuple):
                value = list(value)
            data[f.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> "Stage":
        return build_dataclass(cls, data, where)


def build_stage(data: Mapping[str, Any], where: str) -> Stage:
    """Build a registered stage from a table with a ``kind`` field; errors name ``where`` and the field."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {data!r}")
    kind = data.get("kind")
    if kind is None:
        raise ConfigError(f"{where}.kind is missing; known kinds: {', '.join(sorted(STAGES))}")
    if not isinstance(kind, str) or kind not in STAGES:
        raise ConfigError(f"{where}.kind {kind!r} is unknown; known kinds: {', '.join(sorted(STAGES))}")
    fields = {k: v for k, v in data.items() if k != "kind"}
    return STAGES[kind].from_dict(fields, where)


__all__ = ["STAGES", "Stage", "build_stage", "check", "check_families", "finite_at_least", "register"]
