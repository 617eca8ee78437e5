"""Measuring the deployment-readiness score card of (model, device profile, data set, N chips, seed).

:func:`score_card` takes what to score (:class:`Scored`), the device profile, the ensemble's settings
(:class:`~robust_snn.distributed.ensemble.EnsembleSettings`), the pass mark
(:class:`~robust_snn.readiness.card.SpecRule`) and the attack's (:class:`AttackSettings`), and returns a
:class:`~robust_snn.readiness.card.ScoreCard` (its JSON: :meth:`~robust_snn.readiness.card.ScoreCard.to_dict`).

- **Nominal accuracy** is measured *after the device's programming stages* (quantisation, shared weight levels,
  bit-shift decays): the best any chip of this kind can do.
- **Per-chip accuracy**: an ensemble of simulated chips, in this process or on Ray
  (:func:`robust_snn.distributed.ensemble.run_ensemble`, the one entry point).
- **Yield** = fraction of chips with accuracy >= spec, with its exact (Clopper-Pearson) 95% interval; the spec
  is absolute (``spec``) or relative to the programmed nominal accuracy (``spec_relative``, default 0.95); the
  card states which (``spec_reference``: ``"absolute"`` or ``"programmed_nominal"``, and
  ``spec_reference_accuracy``).
- **Chance level** (``chance_accuracy``): the majority-class rate of the evaluated split, the accuracy of
  always answering its most frequent class (>= 1 / classes; the honest floor on an unbalanced split). A relative
  spec follows the model down: a damaged or untrained network at chance meets "0.95 x its own nominal" on every
  chip. So the card gives the nominal accuracy's exact 95% interval over the evaluated samples
  (``nominal_accuracy_ci95``) and ``above_chance`` (its low end above chance); a network not clearly above
  chance is ``not-ready`` whatever its yield.
- **Worst case**: the cross-entropy parameter attack around the programmed parameters, at the profile's own
  scale: per family, a robust standard deviation of the relative deviation of sampled chips from the
  programmed values (:func:`robust_snn.devices.profile_attack_scale`), so a profile that only quantises is
  attacked with size 0 and a noisy analog one with its own spread.
- **Resource fit** against the profile's limits, each violation named.
- **Grade** from the yield interval, the fit and the chance test (:func:`robust_snn.readiness.statistics.grade`);
  every derived number is computed by the card itself (:mod:`robust_snn.readiness.card`).
- **NeuroBench** (``neurobench``): footprint (also at the device's bit widths), connection and activation
  sparsity, synaptic operations per inference, of the trained (``float``) and the ``programmed`` network
  (:mod:`robust_snn.readiness.efficiency`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.utils.data import Dataset, TensorDataset

from ..attack import AttackConfig, evaluate_attack
from ..config import ConfigError
from ..devices import DeviceProfile, load_profile, profile_attack_scale, programmed_parameters, resource_violations
from ..distributed.ensemble import EnsembleSettings, run_ensemble
from ..runtime.accelerator import place
from ..core.evaluation import evaluate
from .card import ScoreCard, SpecRule
from .efficiency import efficiency_card
from .statistics import majority_rate


@dataclass(frozen=True)
class Scored:
    """What a card scores: ``model`` on ``data``, named ``name`` on the card.

    ``source`` (``(data spec, split)``, e.g. ``("synth-kws", "test")``) says where ``data`` came from, so that
    Ray workers load it themselves instead of receiving its tensors.
    """

    model: nn.Module
    data: Dataset
    name: str = ""
    source: tuple[str, str] | None = None


@dataclass(frozen=True)
class AttackSettings:
    """The worst-case attack: ``steps`` projected-gradient steps, the worst of ``repeats`` random starts."""

    steps: int = 10
    repeats: int = 2

    def __post_init__(self) -> None:
        for name in ("steps", "repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"attack {name} must be an integer >= 1, got {value!r}")


def dataset_labels(data: Dataset) -> list[int]:
    """Every item's label, in order: the data set's ``labels`` (read without computing inputs), a
    ``TensorDataset``'s label tensor, or else item by item."""
    labels = getattr(data, "labels", None)
    if labels is None and isinstance(data, TensorDataset):
        labels = data.tensors[1]
    if labels is None:
        labels = [data[i][1] for i in range(len(data))]  # type: ignore[arg-type]
    return [int(label) for label in labels]


def score_card(
    subject: Scored,
    profile: DeviceProfile | str,
    ensemble: EnsembleSettings = EnsembleSettings(),
    spec: SpecRule = SpecRule(),
    attack: AttackSettings = AttackSettings(),
) -> ScoreCard:
    """The readiness card of ``subject`` on ``profile`` (module docstring): nominal chip, chip ensemble,
    yield against ``spec``, worst case under ``attack`` at the profile's own scale, fit, NeuroBench.

    The chips run through :func:`~robust_snn.distributed.ensemble.run_ensemble` on ``ensemble.backend``; the
    card is identical on every backend. ``ensemble.accelerator``: compute on a moved copy of the model
    (``None``: where the model is); Ray workers resolve it on their own node (Ray hides GPUs from tasks that
    do not reserve one, so ``auto`` is their CPU). ``ensemble.seed`` also seeds the attack.
    """
    profile = load_profile(profile) if isinstance(profile, str) else profile
    data, seed, batch_size = subject.data, ensemble.seed, ensemble.batch_size
    model = place(subject.model, ensemble.accelerator, in_place=False)
    model.eval()
    programmed = programmed_parameters(model, profile)
    chips = run_ensemble(model, profile, data, ensemble, source=subject.source)
    scale = {f: e for f, e in profile_attack_scale(model, profile, seed=seed).items() if e > 0}
    if scale:
        config = AttackConfig(eps=0.0, steps=attack.steps, divergence="ce", families=tuple(scale), family_eps=scale)
        worst = evaluate_attack(model, data, config, repeats=attack.repeats, seed=seed, batch_size=batch_size,
                                params=programmed)["attacked_accuracy"]
    else:
        worst = chips.nominal_accuracy
    return ScoreCard(
        model=subject.name,
        profile=profile,
        ensemble=chips,
        rule=spec,
        float_accuracy=evaluate(model, data, batch_size).accuracy,
        chance_accuracy=majority_rate(dataset_labels(data)),
        worst_case_accuracy=worst,
        worst_case_eps=scale,
        violations=tuple(resource_violations(model, profile.limits)),
        neurobench=efficiency_card(model, data, programmed, profile, batch_size),
    )


__all__ = ["AttackSettings", "EnsembleSettings", "ScoreCard", "Scored", "SpecRule", "dataset_labels", "score_card"]
