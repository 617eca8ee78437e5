"""The score card as a value: a frozen :class:`ScoreCard` and its pass mark, the :class:`SpecRule`.

A card holds what was measured -- the chip ensemble (:class:`~robust_snn.devices.EnsembleResult`: per-chip
accuracies and the nominal chip's), the float model's accuracy, the chance level, the worst case under attack,
the resource violations, the NeuroBench section -- together with the :class:`~robust_snn.devices.DeviceProfile`
it was measured on and the :class:`SpecRule` it is judged by. Everything else on the card is *derived* from
those, in one place (the properties below): the spread statistics, the spec threshold, the yield and its
interval, the chance test, the fit and the grade.

JSON is the card's serialisation, with the keys of ``shared/CLI.md`` (:data:`CARD_KEYS`, in that order):
:meth:`ScoreCard.to_dict` / :meth:`ScoreCard.to_json` write them, :meth:`ScoreCard.from_dict` reads them back
(and checks that every derived number in the file agrees with what its measurements give). Keys a caller adds
beside them (``data``, ``split``, ``model_path``, the advice's ``diagnosis`` and ``advice``, ...) travel in
``extra`` and are written after them.

``nominal_accuracy`` means one thing everywhere: the accuracy of the *nominal chip*, the model programmed for
the device (its deterministic stages: quantisation, shared levels, bit-shift decays;
:func:`robust_snn.devices.programmed_parameters`). The trained float model's accuracy is ``float_accuracy``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..config import ConfigError
from ..devices import DeviceProfile, EnsembleResult, load_profile
from .statistics import chip_yield, chips_needed, clearly_above_chance, cvar, grade

CHANCE_RULE = "majority-class rate of the evaluated split"
_RELATIVE_SUFFIX = " x nominal_accuracy"

#: The card's keys, in the order they are written (``shared/CLI.md`` lists the required ones).
CARD_KEYS = (
    "model", "device", "device_family", "n_chips", "seed", "n_samples", "float_accuracy", "nominal_accuracy",
    "mean_accuracy", "std_accuracy", "p5_accuracy", "min_accuracy", "cvar5_accuracy", "per_chip_accuracy",
    "spec", "spec_rule", "spec_reference", "spec_reference_accuracy", "chance_accuracy", "chance_rule",
    "nominal_accuracy_ci95", "above_chance", "yield", "yield_ci95", "target_yield", "chips_for_ci_width_0.05",
    "worst_case_accuracy", "worst_case_eps", "fits_device", "violations", "grade", "neurobench",
)


@dataclass(frozen=True)
class SpecRule:
    """The pass mark: a chip passes when its accuracy is >= the spec, and the card asks ``target_yield`` of
    the chips to pass.

    The spec is ``absolute`` (an accuracy in [0, 1]) when given, else ``relative`` x the nominal chip's
    accuracy (default 0.95). With an absolute spec, ``relative`` is ``None`` (it plays no part).
    """

    absolute: float | None = None
    relative: float | None = 0.95
    target_yield: float = 0.95

    def __post_init__(self) -> None:
        if self.absolute is not None:
            if not 0 <= self.absolute <= 1:
                raise ConfigError(f"spec must be an accuracy in [0, 1], got {self.absolute!r}")
            object.__setattr__(self, "relative", None)
        elif self.relative is None or not 0 < self.relative <= 1:
            raise ConfigError(f"spec_relative must be in (0, 1], got {self.relative!r}")
        if not 0 < self.target_yield <= 1:
            raise ConfigError(f"target_yield must be in (0, 1], got {self.target_yield!r}")

    def threshold(self, nominal_accuracy: float) -> float:
        """The spec (an accuracy) for a model whose nominal chip reaches ``nominal_accuracy``."""
        return self.absolute if self.absolute is not None else self.relative * nominal_accuracy  # type: ignore[operator]

    @property
    def text(self) -> str:
        """The card's ``spec_rule``: ``"absolute"`` or ``"0.95 x nominal_accuracy"``."""
        return "absolute" if self.absolute is not None else f"{self.relative}{_RELATIVE_SUFFIX}"

    @property
    def reference(self) -> str:
        """The card's ``spec_reference``: ``"absolute"`` or ``"programmed_nominal"``."""
        return "absolute" if self.absolute is not None else "programmed_nominal"

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> SpecRule:
        """The rule a card's ``spec``, ``spec_rule`` and ``target_yield`` state."""
        text = str(card["spec_rule"])
        if text == "absolute":
            return cls(absolute=float(card["spec"]), target_yield=float(card["target_yield"]))
        if not text.endswith(_RELATIVE_SUFFIX):
            raise ConfigError(f"spec_rule must be 'absolute' or 'R x nominal_accuracy', got {text!r}")
        try:
            relative = float(text[: -len(_RELATIVE_SUFFIX)])
        except ValueError:
            raise ConfigError(f"spec_rule must be 'absolute' or 'R x nominal_accuracy', got {text!r}") from None
        return cls(relative=relative, target_yield=float(card["target_yield"]))


@dataclass(frozen=True)
class ScoreCard:
    """One model's deployment readiness on one device profile (module docstring); build it with
    :func:`robust_snn.readiness.scorecard.score_card` or read it with :meth:`from_dict`."""

    model: str
    profile: DeviceProfile
    ensemble: EnsembleResult
    rule: SpecRule
    float_accuracy: float
    chance_accuracy: float
    worst_case_accuracy: float
    worst_case_eps: Mapping[str, float]
    violations: tuple[str, ...]
    neurobench: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    # -- what the ensemble measured
    @property
    def device(self) -> str:
        return self.profile.name

    @property
    def n_chips(self) -> int:
        return self.ensemble.n_chips

    @property
    def seed(self) -> int:
        return self.ensemble.seed

    @property
    def n_samples(self) -> int:
        return self.ensemble.n_samples

    @property
    def nominal_accuracy(self) -> float:
        """The nominal (programmed, unvaried) chip's accuracy."""
        return self.ensemble.nominal_accuracy

    @property
    def per_chip_accuracy(self) -> tuple[float, ...]:
        return self.ensemble.per_chip_accuracy

    # -- judged by the rule
    @property
    def spec(self) -> float:
        return self.rule.threshold(self.nominal_accuracy)

    @property
    def yield_estimate(self) -> Any:
        """The fraction of chips at or above the spec, with its exact 95% interval
        (:func:`~robust_snn.readiness.statistics.chip_yield`)."""
        return chip_yield(list(self.per_chip_accuracy), self.spec)

    @property
    def nominal_accuracy_ci95(self) -> tuple[float, float]:
        return clearly_above_chance(self.nominal_accuracy, self.n_samples, self.chance_accuracy)[1]

    @property
    def above_chance(self) -> bool:
        """Whether the nominal accuracy's 95% interval lies above the chance level."""
        return clearly_above_chance(self.nominal_accuracy, self.n_samples, self.chance_accuracy)[0]

    @property
    def fits_device(self) -> bool:
        return not self.violations

    @property
    def grade(self) -> str:
        return grade(self.yield_estimate.ci, self.rule.target_yield, self.fits_device, self.above_chance)

    def with_extra(self, **keys: Any) -> ScoreCard:
        """This card with ``keys`` added to (or replacing) its extra keys."""
        clash = sorted(set(keys) & set(CARD_KEYS))
        if clash:
            raise ValueError(f"extra keys may not replace the card's own: {', '.join(clash)}")
        return dataclasses.replace(self, extra={**self.extra, **keys})

    def to_dict(self) -> dict[str, Any]:
        """The readiness JSON of ``shared/CLI.md``: :data:`CARD_KEYS` in order, then the extra keys."""
        estimate = self.yield_estimate
        relative = self.rule.absolute is None
        core = {
            "model": self.model,
            "device": self.device,
            "device_family": self.profile.family,
            "n_chips": self.n_chips,
            "seed": self.seed,
            "n_samples": self.n_samples,
            "float_accuracy": self.float_accuracy,
            "nominal_accuracy": self.nominal_accuracy,
            "mean_accuracy": self.ensemble.mean_accuracy,
            "std_accuracy": self.ensemble.std_accuracy,
            "p5_accuracy": self.ensemble.percentile(5),
            "min_accuracy": self.ensemble.min_accuracy,
            "cvar5_accuracy": cvar(list(self.per_chip_accuracy), 0.05),
            "per_chip_accuracy": list(self.per_chip_accuracy),
            "spec": self.spec,
            "spec_rule": self.rule.text,
            "spec_reference": self.rule.reference,
            "spec_reference_accuracy": self.nominal_accuracy if relative else None,
            "chance_accuracy": self.chance_accuracy,
            "chance_rule": CHANCE_RULE,
            "nominal_accuracy_ci95": list(self.nominal_accuracy_ci95),
            "above_chance": self.above_chance,
            "yield": estimate.value,
            "yield_ci95": list(estimate.ci),
            "target_yield": self.rule.target_yield,
            "chips_for_ci_width_0.05": chips_needed(estimate.value, 0.05),
            "worst_case_accuracy": self.worst_case_accuracy,
            "worst_case_eps": dict(self.worst_case_eps),
            "fits_device": self.fits_device,
            "violations": list(self.violations),
            "grade": self.grade,
            # NeuroBench's footprint, sparsities and synaptic operations per inference, trained and programmed.
            "neurobench": self.neurobench,
        }
        return {**core, **self.extra}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, card: Mapping[str, Any], profile: DeviceProfile | None = None) -> ScoreCard:
        """The card a readiness JSON object describes.

        ``profile``: the device profile it was measured on; by default the card's ``device_file`` (a
        user-written profile, as the advice records it) or else the built-in profile named ``device``.
        Raises ``ConfigError`` naming the key when a key is missing, or when a derived number in the file
        (mean, yield, grade, ...) is not what the file's measurements give.
        """
        missing = [key for key in CARD_KEYS if key not in card]
        if missing:
            raise ConfigError(f"score card is missing key(s) {', '.join(missing)}")
        if profile is None:
            profile = load_profile(card.get("device_file") or card["device"])
        if profile.name != card["device"]:
            raise ConfigError(f"score card device is {card['device']!r} but the profile given is {profile.name!r}")
        per_chip = tuple(float(a) for a in card["per_chip_accuracy"])
        ensemble = EnsembleResult(profile.name, len(per_chip), int(card["seed"]), int(card["n_samples"]),
                                  float(card["nominal_accuracy"]), per_chip)
        built = cls(model=str(card["model"]), profile=profile, ensemble=ensemble, rule=SpecRule.from_card(card),
                    float_accuracy=float(card["float_accuracy"]), chance_accuracy=float(card["chance_accuracy"]),
                    worst_case_accuracy=float(card["worst_case_accuracy"]),
                    worst_case_eps={str(k): float(v) for k, v in dict(card["worst_case_eps"]).items()},
                    violations=tuple(str(v) for v in card["violations"]), neurobench=card["neurobench"],
                    extra={k: v for k, v in card.items() if k not in CARD_KEYS})
        derived = built.to_dict()
        for key in CARD_KEYS:
            if not _same(derived[key], card[key]):
                raise ConfigError(f"score card key {key!r} is {card[key]!r}, but its measurements give "
                                  f"{derived[key]!r}")
        return built

    @classmethod
    def from_json(cls, text: str, profile: DeviceProfile | None = None) -> ScoreCard:
        return cls.from_dict(json.loads(text), profile)


def _same(a: Any, b: Any) -> bool:
    """Equal, numbers to within rounding (a card written on another machine may differ in the last bit)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None or isinstance(a, str):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def card_dict(card: ScoreCard | Mapping[str, Any]) -> dict[str, Any]:
    """A card as its JSON dict, whether it is a :class:`ScoreCard` or already a dict (read from a file)."""
    return card.to_dict() if isinstance(card, ScoreCard) else dict(card)


__all__ = ["CARD_KEYS", "CHANCE_RULE", "ScoreCard", "SpecRule", "card_dict"]
