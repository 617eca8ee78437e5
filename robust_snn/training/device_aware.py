"""Device-aware training: every batch's forward pass runs on a fresh chip of a device profile.

A method given ``device = PROFILE`` (``robust-snn train --device PROFILE``) trains *for that chip line*
(IBM aihwkit's hardware-aware training, with the whole mismatch model of the profile instead of additive weight
noise). Each batch draws one new chip from the profile's own :class:`~robust_snn.devices.model.MismatchModel`
-- programming (quantisation, shared levels, bit-shift decays, conductance mapping), fabrication (per-family
log-normal or Gaussian mismatch of weights, biases, taus, thresholds; programming noise, stuck devices), ageing
(drift, relaxation, drift compensation) and one read (read noise) -- the same code, stage for stage, that the
score card's chip ensemble runs. Nothing here models a device.

**Seeds.** The chip of step ``s`` (0-based, within epoch ``e``) of a run with training seed ``seed`` is chip 0
of the mismatch model at seed ``derive_seed("device-aware", seed, e, s)`` (:mod:`robust_snn.seeding`),
so a run resumed at an epoch boundary draws the same chips, and the chips never depend on the batch size.

**Gradients.** The device stages run on detached tensors (rounding, level selection and conductance mapping
have no useful derivative), so the sampled chip ``c`` enters the graph as a function of the nominal
parameters ``theta`` (physical units) through the programmed values ``q = P(theta)``:

.. math::

    \\theta_p = \\theta + \\mathrm{sg}(q - \\theta)                           \\quad\\text{(straight-through programming)}

    \\tilde\\theta = \\theta_p \\odot \\mathrm{sg}(r) + \\mathrm{sg}(c - q \\odot r), \\qquad r = c / q

``sg`` is stop-gradient. The value is exactly the chip, ``theta~ = c``; the Jacobian is diagonal,
``d theta~ / d theta = r``: the chip's own multiplicative factor, which is the exact derivative of the
multiplicative mismatch stages (``theta (1 + z)``, ``theta exp(z)``, and the floor ``max(theta (1 + z),
floor theta)`` of positive families, where ``r = floor``), and the identity through quantisation (the
straight-through estimator, as in :mod:`~robust_snn.training.methods.qat`). Where ``q = 0`` and for tensors a
profile places in a crossbar, ``r = 1`` (plain straight-through, ``theta + sg(c - theta)``): crossbar errors
are additive in conductance (programming noise, stuck devices, read noise) and ``c / q`` of a near-zero weight
says nothing about the slope, while drift times its compensation is close to 1.

**Attack scales.** The adversarial methods attack, with a device, every family the profile varies, each at the
profile's own relative scale: :func:`robust_snn.devices.profile_attack_scale`, the estimate the
score card attacks with, recomputed from the model at the first batch of every epoch (seeded with the
training seed), and the attack starts from the batch's chip (its relative deviation from ``q``, projected into
the box) instead of a small random point.

**Sizes.** The network trained for a chip is sized to fit it, and refused when it does not, in
:mod:`robust_snn.training.configure` (:func:`~robust_snn.training.configure.default_network`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..core.parameters import parameter_families
from ..devices.ensemble import model_dt
from ..devices.profiles import DeviceProfile, load_profile
from ..devices.programming import profile_attack_scale
from ..seeding import derive_seed


@dataclass(frozen=True)
class ChipDraw:
    """One batch's chip: programmed values ``q`` and chip values ``c`` (detached, physical units), the
    multiplicative factor ``r`` used in the backward pass, and the names the profile holds in crossbars."""

    programmed: dict[str, torch.Tensor]
    chip: dict[str, torch.Tensor]
    factor: dict[str, torch.Tensor]
    crossbar: frozenset[str]


def _factor(q: torch.Tensor, c: torch.Tensor, multiplicative: bool) -> torch.Tensor:
    """``r = c / q`` where ``q != 0`` (1 elsewhere, and everywhere for additive crossbar errors)."""
    if not multiplicative:
        return torch.ones_like(q)
    nonzero = q != 0
    return torch.where(nonzero, c / torch.where(nonzero, q, torch.ones_like(q)), torch.ones_like(q))


class DeviceChips:
    """Fresh chips of one device profile, one per batch, as differentiable functions of the parameters.

    Stateless: a method's device sampler (:class:`~robust_snn.training.methods.compose.DeviceSampler`) asks for
    the chip of a batch, named by ``(seed, epoch, step)`` (:meth:`draw`), and uses it through :meth:`chip` (the
    forward sees ``c``) and :meth:`programmed` (the forward sees ``q``), both straight-through (module docstring).
    """

    def __init__(self, profile: str | Path | DeviceProfile) -> None:
        self.profile = profile if isinstance(profile, DeviceProfile) else load_profile(profile)
        self.mismatch = self.profile.mismatch_model()

    @staticmethod
    def batch_seed(seed: int, epoch: int, step: int) -> int:
        """The mismatch-model seed of the chip of step ``step`` of ``epoch`` (0-based) of a run with training
        seed ``seed`` (see module docstring)."""
        return derive_seed("device-aware", int(seed), int(epoch), int(step))

    def draw(self, model: nn.Module, params: Mapping[str, torch.Tensor], seed: int, epoch: int, step: int
             ) -> ChipDraw:
        """The batch's chip: program, fabricate and age chip 0 of :meth:`batch_seed`, and read it once."""
        detached = {k: v.detach().cpu() for k, v in params.items()}  # the stages draw on CPU generators
        programmed = self.mismatch.program(detached, parameter_families(model), dt=model_dt(model))
        seed = self.batch_seed(seed, epoch, step)
        state = self.mismatch.fabricate(programmed, 0, seed)
        chip = self.mismatch.read(state, 0, seed, 0)
        q = programmed.materialise()
        crossbar = frozenset(programmed.crossbars)
        chip = {k: v.to(params[k].device, params[k].dtype) for k, v in chip.items()}
        q = {k: v.to(params[k].device, params[k].dtype) for k, v in q.items()}
        factor = {k: _factor(q[k], chip[k], k not in crossbar) for k in q}
        return ChipDraw(q, chip, factor, crossbar)

    @staticmethod
    def programmed(params: Mapping[str, torch.Tensor], draw: ChipDraw) -> dict[str, torch.Tensor]:
        """``theta + sg(q - theta)``: the programmed values forward, the identity backward."""
        return {k: v + (draw.programmed[k] - v).detach() for k, v in params.items()}

    @staticmethod
    def chip(params: Mapping[str, torch.Tensor], draw: ChipDraw) -> dict[str, torch.Tensor]:
        """``theta_p * sg(r) + sg(c - q r)``: the chip forward, ``d/dtheta = r`` backward."""
        out = {}
        for k, v in params.items():
            q, c, r = draw.programmed[k], draw.chip[k], draw.factor[k]
            out[k] = (v + (q - v).detach()) * r + (c - q * r)
        return out

    def attack_scales(self, model: nn.Module, seed: int) -> dict[str, float]:
        """``{family: relative eps}`` of every family the profile varies in ``model`` (the score card's
        :func:`~robust_snn.devices.profile_attack_scale`, seeded with the training seed). The adversarial
        methods keep it in their state and re-estimate it at the first batch of every epoch."""
        on_cpu = all(p.device.type == "cpu" for p in model.parameters())
        probe = model if on_cpu else copy.deepcopy(model).cpu()  # the stages draw on CPU generators
        scale = profile_attack_scale(probe, self.profile, seed=seed)
        return {f: e for f, e in scale.items() if e > 0}

    @staticmethod
    def attack_start(draw: ChipDraw, eps: Mapping[str, float]) -> dict[str, torch.Tensor]:
        """The attack's first point: the chip's relative deviation ``(c - q) / |q|`` (0 where ``q = 0``),
        clipped to each parameter's box ``[-eps, eps]``."""
        start = {}
        for name, e in eps.items():
            q, c = draw.programmed[name], draw.chip[name]
            nonzero = q != 0
            rel = torch.where(nonzero, (c - q) / torch.where(nonzero, q.abs(), torch.ones_like(q)), torch.zeros_like(q))
            start[name] = rel.clamp(-e, e)
        return start


__all__ = ["ChipDraw", "DeviceChips"]
