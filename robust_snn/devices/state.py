"""What one simulated chip holds while the stages of a mismatch model act on it.

A chip is the model's physical parameter dict (see :func:`robust_snn.core.physical_parameters`: seconds, not
logarithms) plus, for tensors programmed into a memristive crossbar, the conductances of their device pairs.
Stages never mutate a state; each returns a new one (``dataclasses.replace``), so the programmed state can be
shared by every chip and a frozen chip can be read many times with fresh read noise.

The stages run in :class:`Phase` order, which is the order of a chip's life:

1. ``PROGRAM`` (deterministic): what is written to the chip -- integer codes, shared weight levels, bit-shift
   decays, target conductances.
2. ``FABRIC`` (random, frozen per chip): device mismatch, programming noise, stuck-at faults.
3. ``AGE`` (random or deterministic, frozen per chip at one deployment age): conductance drift, relaxation,
   drift compensation.
4. ``READ`` (random, fresh per inference): read noise.

Real chips program quantised values and mismatch then acts on them, so quantising after noise is refused
(see :class:`robust_snn.devices.model.MismatchModel`).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

SIDES = ("pos", "neg")  # the two devices of a differential pair, in the order their random draws are made


class Phase(enum.IntEnum):
    PROGRAM = 0
    FABRIC = 1
    AGE = 2
    READ = 3


@dataclass(frozen=True)
class Crossbar:
    """A weight tensor stored as differential conductance pairs, ``w = (g_pos - g_neg) * w_per_uS * gain``.

    All conductances are in microsiemens and have the weight's shape. ``target_*`` are the programmed targets
    (after level quantisation, before any noise); ``g_*`` the present conductances; ``stuck_*`` mark devices
    stuck at ``g_min`` or ``g_max`` (they ignore drift and relaxation). ``reference_*`` are the conductances
    just before the first ``AGE`` stage (what a drift-compensation calibration read compares against), and
    ``time_s`` the time since programming at which the array is read (0 until an ``AGE`` stage sets it).
    ``gain`` is the drift-compensation factor (1 without compensation).
    """

    g_min: float
    g_max: float
    w_per_uS: float
    target_pos: torch.Tensor
    target_neg: torch.Tensor
    g_pos: torch.Tensor
    g_neg: torch.Tensor
    stuck_pos: torch.Tensor
    stuck_neg: torch.Tensor
    reference_pos: torch.Tensor | None = None
    reference_neg: torch.Tensor | None = None
    time_s: float = 0.0
    gain: float | torch.Tensor = 1.0

    def weight(self) -> torch.Tensor:
        """The weight the array realises now (weight units, the weight's shape)."""
        return (self.g_pos - self.g_neg) * (self.w_per_uS * self.gain)

    def replace(self, **changes) -> "Crossbar":  # noqa: ANN003
        return dataclasses.replace(self, **changes)

    def side(self, side: str) -> "Devices":
        """The ``+`` (``"pos"``) or ``-`` (``"neg"``) devices of every synapse."""
        return Devices(getattr(self, f"target_{side}"), getattr(self, f"g_{side}"), getattr(self, f"stuck_{side}"),
                       getattr(self, f"reference_{side}"))


@dataclass(frozen=True)
class Devices:
    """One side of every differential pair of a crossbar: targets, present conductances (uS), stuck flags and
    the calibration reference (``None`` before ageing), each the weight's shape."""

    target: torch.Tensor
    g: torch.Tensor
    stuck: torch.Tensor
    reference: torch.Tensor | None

    def replace(self, **changes) -> "Devices":  # noqa: ANN003
        return dataclasses.replace(self, **changes)


def update_pairs(state: "ChipState", update: Callable[[Crossbar, Devices], Devices], *, keep_stuck: bool,
                 prepare: Callable[[Crossbar], Crossbar] | None = None, **changes: Any) -> "ChipState":
    """Apply ``update`` to both sides of every crossbar: the one loop of the crossbar stages.

    ``update(x, devices)`` returns the side's devices with new conductances ``g`` (and ``stuck`` flags); with
    ``keep_stuck``, stuck devices keep their conductance (they ignore programming noise, drift and
    relaxation). Crossbars are visited in name order and the ``+`` side before the ``-`` side, so the random
    draws inside ``update`` happen in one fixed order (the same seed gives the same chip). ``prepare`` maps
    each crossbar first (e.g. records the calibration reference); ``changes`` are set on every crossbar after
    (e.g. ``time_s``).
    """
    updates = {}
    for name in sorted(state.crossbars):
        x = state.crossbars[name] if prepare is None else prepare(state.crossbars[name])
        new: dict[str, Any] = {}
        for side in SIDES:
            before = x.side(side)
            after = update(x, before)
            g = torch.where(before.stuck, before.g, after.g) if keep_stuck else after.g
            new[f"g_{side}"], new[f"stuck_{side}"] = g, after.stuck
        updates[name] = x.replace(**new, **changes)
    return state.with_crossbars(updates)


@dataclass(frozen=True)
class ChipState:
    """One chip: physical parameters (each with its family) and the crossbars some weights live in.

    ``dt`` is the model's time step in seconds (needed to turn time constants into bit-shift decays); ``None``
    when unknown. For a name in ``crossbars`` the value in ``params`` is stale: :meth:`materialise` decodes it
    from the conductances. ``device``: where :meth:`materialise` puts the parameters (the stages themselves
    work on the CPU, see :meth:`~robust_snn.devices.model.MismatchModel.program`); ``None``: where they are.
    """

    params: Mapping[str, torch.Tensor]
    families: Mapping[str, str]
    dt: float | None = None
    crossbars: Mapping[str, Crossbar] = field(default_factory=dict)
    device: torch.device | None = None

    def names(self, families: tuple[str, ...] | frozenset[str] | None = None, *, exclude_crossbars: bool = True
              ) -> list[str]:
        """Parameter names (sorted, so draws happen in a fixed order), optionally only those of ``families``."""
        return [n for n in sorted(self.params)
                if (families is None or self.families[n] in families)
                and not (exclude_crossbars and n in self.crossbars)]

    def with_params(self, updates: Mapping[str, torch.Tensor]) -> "ChipState":
        return dataclasses.replace(self, params={**self.params, **updates})

    def with_crossbars(self, updates: Mapping[str, Crossbar]) -> "ChipState":
        return dataclasses.replace(self, crossbars={**self.crossbars, **updates})

    def materialise(self) -> dict[str, torch.Tensor]:
        """The physical parameter dict this chip computes with (crossbar weights decoded), on ``device``."""
        out = dict(self.params)
        for name, xbar in self.crossbars.items():
            out[name] = xbar.weight().to(self.params[name].dtype)
        return out if self.device is None else {k: v.to(self.device) for k, v in out.items()}


__all__ = ["SIDES", "ChipState", "Crossbar", "Devices", "Phase", "update_pairs"]
