"""The facts about a model that the advice needs beyond the score card's numbers.

:mod:`robust_snn.readiness.advice` is a pure function of a card; this module measures and reads what it
adds to the card, as plain JSON:

- ``resources``: ``{"used": ..., "limits": ...}``: the network's neurons, fan-in, inputs, outputs and
  recurrence (:func:`robust_snn.devices.limits.model_resources`) beside the profile's limits, so that a wider
  network can be sized within the chip's fan-in;
- ``training``: from the model file's metadata: method, its perturbed families, the device it was trained for
  (if any), epochs run and the best-validation epoch (was it still improving?);
- ``sensitivity``: the attribution of :func:`robust_snn.readiness.sensitivity.sensitivity` on the card's
  device, measured only for a card that is not ``ready`` (a ready card gets no advice).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from torch import nn
from torch.utils.data import Dataset

from ..devices import model_resources
from .advice import with_advice
from .card import CARD_KEYS, ScoreCard
from .sensitivity import sensitivity


def training_facts(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{method, families, device, seed, epochs, best_epoch}`` from a model file's metadata (empty if unknown).

    ``seed`` is the training seed, so that advice to retrain (wider, longer, for the device) keeps the model's own
    seed rather than the card's chip-sampling seed."""
    if not metadata:
        return {}
    method = metadata.get("method") or {}
    history = metadata.get("history") or []
    facts: dict[str, Any] = {"method": method.get("name")}
    hyper = method.get("hyperparameters", method)
    if isinstance(hyper, Mapping) and hyper.get("families") is not None:
        facts["families"] = list(hyper["families"])
    trained = metadata.get("training") or {}
    device = (hyper.get("device") if isinstance(hyper, Mapping) else None) or trained.get("device")
    if device is not None:
        facts["device"] = device
    seed = trained.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        facts["seed"] = seed
    if history:
        facts["epochs"] = len(history)
        scored = [(row.get("val_accuracy"), i + 1) for i, row in enumerate(history) if row.get("val_accuracy") is not None]
        if scored:
            best = max(scored, key=lambda t: (t[0], -t[1]))  # first epoch with the best value, as the trainer keeps
            facts["best_epoch"] = best[1]
    return facts


def card_context(model: nn.Module, card: ScoreCard, data: Dataset | None = None, *,
                 metadata: Mapping[str, Any] | None = None, seed: int = 0, sensitivity_chips: int = 8,
                 status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The keys :mod:`~robust_snn.readiness.advice` reads, measured for ``model`` on the card's profile
    (``sensitivity_chips`` chips per group for the attribution)."""
    profile = card.profile
    limits = {k: v for k, v in dataclasses.asdict(profile.limits).items() if k != "notes"}
    context: dict[str, Any] = {"resources": {"used": model_resources(model), "limits": limits},
                               "training": training_facts(metadata)}
    if profile.path is not None and not profile.path.startswith("<builtin>"):
        context["device_file"] = profile.path  # a user-written profile: advice commands must name its file
    if card.grade != "ready" and data is not None:
        if status is not None:
            status(f"sensitivity attribution of {card.model or 'the model'} on {profile.name} "
                   f"({sensitivity_chips} chips per layer x family)")
        context["sensitivity"] = sensitivity(model, profile, data, n_chips=sensitivity_chips, seed=seed)
    return context


def advised_card(model: nn.Module, card: ScoreCard, data: Dataset | None = None, **kwargs: Any) -> ScoreCard:
    """``card`` plus its context, ``diagnosis`` and ``advice`` (as extra keys; the advice reads the card's
    JSON, plus ``data`` and ``model_path`` when the card carries them)."""
    advised = with_advice({**card.to_dict(), **card_context(model, card, data, **kwargs)})
    return card.with_extra(**{k: v for k, v in advised.items() if k not in CARD_KEYS})


__all__ = ["advised_card", "card_context", "training_facts"]
