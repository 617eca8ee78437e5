"""What every chip of a profile is programmed with, and how far its chips stray from that.

Two properties of a (model, device profile) pair that readiness scoring, device-aware training and export all
use, so they live here, with the device:

- :func:`programmed_parameters`: the physical parameters after the profile's deterministic (program-phase)
  stages -- quantisation, shared weight levels, bit-shift decays -- the same for every chip: the *nominal chip*.
  Its accuracy is the score card's ``nominal_accuracy``.
- :func:`profile_attack_scale`: per parameter family, the relative size of the chip-to-chip variation
  around the programmed values, a robust standard deviation over sampled chips. The score card attacks
  with it (``worst_case_eps``) and device-aware training uses it as its attack radius.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.parameters import parameter_families, physical_parameters
from .ensemble import model_dt, sample_chips
from .profiles import DeviceProfile

#: The largest relative attack size per family: a relative deviation of 1 can flip a parameter's sign.
MAX_ATTACK_EPS = 0.95


def programmed_parameters(model: nn.Module, profile: DeviceProfile) -> dict[str, torch.Tensor]:
    """The parameters every chip of ``profile`` is programmed with (deterministic stages only)."""
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    state = profile.mismatch_model().program(params, parameter_families(model), dt=model_dt(model))
    return state.materialise()


def profile_attack_scale(model: nn.Module, profile: DeviceProfile, n_chips: int = 16, seed: int = 0
                         ) -> dict[str, float]:
    """Relative size of the profile's variation per family: a robust standard deviation (1.4826 x the median
    absolute value) of ``(chip - programmed) / |programmed|`` over sampled chips, capped at
    :data:`MAX_ATTACK_EPS`.

    Robust, because absolute noise (e.g. crossbar programming noise in conductance units) makes the relative
    error of near-zero weights huge; their few outliers should not set the scale of the whole family.
    """
    families = parameter_families(model)
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    programmed = programmed_parameters(model, profile)
    chips = sample_chips(params, families, profile, n_chips, seed, dt=model_dt(model))
    deviations: dict[str, list[torch.Tensor]] = {}
    for name, base in programmed.items():
        nonzero = base.abs() > 1e-12
        if nonzero.any():
            rel = ((chips[name] - base) / base.abs().clamp_min(1e-12))[:, nonzero]
            deviations.setdefault(families[name], []).append(rel.abs().flatten())
    return {f: min(1.4826 * float(torch.cat(v).median()), MAX_ATTACK_EPS) for f, v in deviations.items()}


__all__ = ["MAX_ATTACK_EPS", "profile_attack_scale", "programmed_parameters"]
