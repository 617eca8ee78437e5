"""Sensitivity attribution: which layer and which parameter family costs the most accuracy under mismatch.

For each group (a layer prefix such as ``layers.0`` or ``readout`` crossed with a family such as ``weights``),
chips are drawn from the profile as usual, but only that group takes the chip's values; every other parameter
keeps its programmed (nominal-after-quantisation) value. The mean accuracy drop from the nominal accuracy,
ranked, tells a chip designer where better matching (larger devices, more area) buys the most accuracy.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..core.parameters import parameter_families, physical_parameters
from ..devices import DeviceProfile, load_profile, model_dt, programmed_parameters, sample_chips
from ..core.evaluation import evaluate


def _layer_of(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else "(model)"


def sensitivity(model: nn.Module, profile: DeviceProfile | str, data: Dataset, n_chips: int = 8, seed: int = 0,
                batch_size: int = 256) -> list[dict[str, Any]]:
    """Rows ``{group, layer, family, accuracy_drop, mean_accuracy}``, largest drop first."""
    profile = load_profile(profile) if isinstance(profile, str) else profile
    model.eval()
    families = parameter_families(model)
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    programmed = programmed_parameters(model, profile)
    chips = sample_chips(params, families, profile, n_chips, seed, dt=model_dt(model))
    nominal = evaluate(model, data, batch_size, params=programmed).accuracy
    groups: dict[tuple[str, str], list[str]] = {}
    for name in params:
        groups.setdefault((_layer_of(name), families[name]), []).append(name)
    rows = []
    for (layer, family), names in groups.items():
        if all(torch.equal(chips[n], programmed[n].expand_as(chips[n])) for n in names):
            continue  # the profile does not vary this group
        accs = []
        for k in range(n_chips):
            mixed = dict(programmed)
            mixed.update({n: chips[n][k] for n in names})
            accs.append(evaluate(model, data, batch_size, params=mixed).accuracy)
        mean = sum(accs) / len(accs)
        rows.append({"group": f"{layer} {family}", "layer": layer, "family": family,
                     "accuracy_drop": nominal - mean, "mean_accuracy": mean})
    return sorted(rows, key=lambda r: -r["accuracy_drop"])
