"""A mismatch model: an ordered, checked pipeline of stages that turns one parameter dict into many chips.

.. math::

    \\theta^{(k)} = R_k \\circ A_k \\circ F_k \\circ P\\,(\\theta)

``P`` (program) is deterministic and shared by every chip; the fabric (``F``) and age (``A``) stages draw from
generators derived from ``(seed, k, stage index, stage kind)`` only, so chip ``k`` is identical whether drawn
alone or among 1,000; read stages (``R``) are redrawn per inference from ``(seed, k, stage, "read", draw)``.

The order is explicit and checked: phases must not go backwards (quantise-then-noise is what a chip does;
noise-then-quantise is refused unless ``check_order=False``), each stage's ``requires``/``after`` must be met,
and once a family lives in a crossbar only crossbar stages may act on it.

Shapes: :meth:`MismatchModel.sample` returns every parameter with a leading chip axis, ``(n_chips, *shape)``,
ready for ``torch.func.vmap`` over :func:`~robust_snn.core.parameters.functional_forward`.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch

from ..config import ConfigError
from ..seeding import generator
from .stage import Stage
from .state import ChipState, Phase


class MismatchModel:
    """An ordered pipeline of :class:`~robust_snn.devices.stage.Stage` s (see module docstring)."""

    def __init__(self, stages: Sequence[Stage], *, check_order: bool = True, name: str = "") -> None:
        self.stages: tuple[Stage, ...] = tuple(stages)
        self.name = name
        if check_order:
            self._check_order()

    def _check_order(self) -> None:
        where = f"{self.name}.stages" if self.name else "stages"
        kinds = [s.kind for s in self.stages]
        mapped: set[str] = set()
        for i, stage in enumerate(self.stages):
            label = f"{where}[{i}] ({stage.kind!r}, phase {stage.phase.name.lower()})"
            for j, earlier in enumerate(self.stages[:i]):
                if earlier.phase > stage.phase:
                    raise ConfigError(
                        f"{label} comes after {where}[{j}] ({earlier.kind!r}, phase {earlier.phase.name.lower()}): "
                        "phases run program -> fabric -> age -> read (a chip is programmed with quantised values, "
                        "then mismatch acts on them)"
                    )
            if stage.requires and not set(stage.requires) & set(kinds[:i]):
                raise ConfigError(f"{label} needs one of {list(stage.requires)} earlier in the pipeline")
            late = [k for k in stage.after if k in kinds[i + 1:]]
            if late:
                raise ConfigError(f"{label} must come after {late} in the pipeline")
            touched = stage.families()
            if not stage.on_crossbar and touched is not None and touched & mapped:
                raise ConfigError(
                    f"{label} acts on {sorted(touched & mapped)}, which a conductance_map stage already placed in a "
                    "crossbar; only crossbar stages may follow"
                )
            if stage.kind == "conductance_map":
                mapped |= stage.families() or set()

    @property
    def has_read_stages(self) -> bool:
        """Whether inference draws fresh noise (then each read of a chip differs)."""
        return any(s.phase == Phase.READ for s in self.stages)

    def describe(self) -> list[dict[str, Any]]:
        return [s.describe() for s in self.stages]

    # -- chips ---------------------------------------------------------------------------------------------

    def program(self, params: Mapping[str, torch.Tensor], families: Mapping[str, str], *, dt: float | None = None
                ) -> ChipState:
        """The programmed (not yet fabricated) state: the deterministic stages, shared by every chip.

        The stages run on CPU copies of ``params`` (their random draws come from CPU generators, so chip ``k``
        is the same chip on every accelerator); the chips' parameters are materialised on the device of
        ``params``.
        """
        missing = sorted(set(params) - set(families))
        if missing:
            raise KeyError(f"no family for parameter(s) {missing}")
        devices = {v.device for v in params.values()}
        device = devices.pop() if len(devices) == 1 else None
        state = ChipState({k: v.detach().cpu() for k, v in params.items()}, dict(families), dt,
                          device=device if device is not None and device.type != "cpu" else None)
        for stage in self.stages:
            if stage.phase == Phase.PROGRAM:
                state = stage.apply(state, None)
        return state

    def fabricate(self, programmed: ChipState, chip: int, seed: int) -> ChipState:
        """Chip ``chip`` of ``seed``: the fabric and age stages applied to the programmed state."""
        state = programmed
        for index, stage in enumerate(self.stages):
            if stage.phase in (Phase.FABRIC, Phase.AGE):
                state = stage.apply(state, generator(seed, chip, index, stage.kind))
        return state

    def fabricate_chips(self, programmed: ChipState, chips: Sequence[int], seed: int) -> dict[str, torch.Tensor]:
        """The listed chips' parameters before read noise, stacked ``{name: (len(chips), *shape)}``: the same
        numbers as :func:`stack` of each chip's :meth:`fabricate` ``(...).materialise()``.

        All chips at once where every fabric and age stage can (:meth:`~robust_snn.devices.stage.Stage.
        apply_to_chips`: each chip's draws from its own generator, the arithmetic once on the stacked values;
        the relative mismatch stages) and no parameter lives in a crossbar; else chip by chip. Why: a chip is a
        few dozen small tensor operations, which cost more in dispatch than in arithmetic (64 chips of
        ``benchmarks/bench_ensemble.py``'s network: 11 ms chip by chip, a tenth of the whole ensemble).
        """
        if not programmed.crossbars:
            values: dict[str, torch.Tensor] | None = {
                name: value.expand(len(chips), *value.shape) for name, value in programmed.params.items()}
            for index, stage in enumerate(self.stages):
                if values is not None and stage.phase in (Phase.FABRIC, Phase.AGE):
                    values = stage.apply_to_chips(programmed, values,
                                                  [generator(seed, chip, index, stage.kind) for chip in chips])
            if values is not None:
                # (parameters no stage touched are still expanded views: made whole, as stack would)
                placed = programmed.with_params(values).materialise()  # on the model's device, as each chip
                return {name: value.contiguous() for name, value in placed.items()}
        return stack([self.fabricate(programmed, int(chip), seed).materialise() for chip in chips])

    def read(self, state: ChipState, chip: int, seed: int, draw: int) -> dict[str, torch.Tensor]:
        """The parameters chip ``chip`` computes with on inference number ``draw`` (fresh read noise)."""
        for index, stage in enumerate(self.stages):
            if stage.phase == Phase.READ:
                state = stage.apply(state, generator(seed, chip, index, stage.kind, "read", draw))
        return state.materialise()

    def chips(self, params: Mapping[str, torch.Tensor], families: Mapping[str, str], chips: Iterable[int],
              seed: int, *, dt: float | None = None) -> list[ChipState]:
        """Frozen states of the listed chips (before read noise)."""
        programmed = self.program(params, families, dt=dt)
        return [self.fabricate(programmed, int(k), seed) for k in chips]

    def sample(self, params: Mapping[str, torch.Tensor], families: Mapping[str, str], n_chips: int, seed: int,
               *, dt: float | None = None, first_chip: int = 0) -> dict[str, torch.Tensor]:
        """Chips ``first_chip .. first_chip + n_chips - 1`` stacked: ``{name: (n_chips, *shape)}``.

        Read noise is not included (see :meth:`read`); for a model without read stages this is exactly what
        each chip computes with.
        """
        if n_chips < 1:
            raise ValueError(f"n_chips must be >= 1, got {n_chips}")
        programmed = self.program(params, families, dt=dt)
        return self.fabricate_chips(programmed, range(first_chip, first_chip + n_chips), seed)


def stack(chips: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """``[{name: shape}] * n -> {name: (n, *shape)}``."""
    return {name: torch.stack([c[name] for c in chips]) for name in chips[0]}


__all__ = ["MismatchModel", "stack"]
