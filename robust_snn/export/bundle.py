"""The deployment bundle: one self-describing file with the weights a chip of the target device is programmed
with, and everything needed to trust and use them.

Format: a robust-snn model file (safetensors + JSON, no pickle; :func:`robust_snn.load_model` loads it) whose
tensors are the device's *programmed* values (after its quantisation / shared levels / bit-shift decays /
conductance mapping, stored as the physical values they decode to) and whose metadata adds a ``bundle``
section: the device profile (name, family, source and the full TOML text), the readiness score card when one
was measured, and the programmed-vs-float accuracy bookkeeping. The architecture, front end, classes,
training method and its hyperparameters are carried over from the source model file.

A bundle is only written for a device the model fits (:func:`require_fit`): programmed weights for a chip that
cannot hold the network would be a file nobody can deploy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import ConfigError
from ..core.parameters import stored_parameters
from ..devices import DeviceProfile, programmed_parameters, resource_violations
from ..io.model_file import read_model, save_model

BUNDLE_KEY = "bundle"


def require_fit(model: nn.Module, profile: DeviceProfile, name: str) -> None:
    """A ``ConfigError`` naming every limit of ``profile`` the model ``name`` exceeds, e.g. ``"big.rsnn does not
    fit dynapse2: fan_in: 100 > 64"``; nothing when it fits."""
    violations = resource_violations(model, profile.limits)
    if violations:
        raise ConfigError(f"{name} does not fit {profile.name}: {'; '.join(violations)}")


def write_bundle(path: str | Path, model_path: str | Path, profile: DeviceProfile,
                 score_card: Any = None) -> dict[str, Any]:
    """Write the bundle of the model file ``model_path`` for ``profile``; returns its ``bundle`` section.

    ``score_card``: the model's card on ``profile`` (a :class:`~robust_snn.readiness.card.ScoreCard` or its
    JSON dict), stored in the bundle's metadata. Refuses (``ConfigError``, nothing written) a model that does
    not fit the device, naming each violation.
    """
    if score_card is not None and not isinstance(score_card, dict):
        score_card = score_card.to_dict()
    model, meta = read_model(model_path)
    require_fit(model, profile, str(model_path))
    programmed = programmed_parameters(model, profile)
    leaves = stored_parameters(model, programmed)
    with torch.no_grad():
        for name, value in model.named_parameters():
            value.copy_(leaves[name].to(value.dtype))
    section = {
        "device": {"name": profile.name, "family": profile.family, "description": profile.description,
                   "source": profile.source, "profile_toml": profile.text or ""},
        "weights": "programmed values of the device (quantised / mapped), in physical units",
        "source_model": Path(model_path).name,  # the file name only: the same bundle wherever it is built
        "score_card": score_card,
    }
    info = {k: v for k, v in meta.items() if k not in {"format", "format_version", "package_version", "kind",
                                                       "architecture"}}
    info[BUNDLE_KEY] = section
    save_model(path, model, **info)
    return section
