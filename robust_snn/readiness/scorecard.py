"""The deployment-readiness score card of (model, device profile, data set, N chips, seed).

- **Nominal accuracy** is measured *after the device's programming stages* (quantisation, shared weight levels,
  bit-shift decays): the best any chip of this kind can do.
- **Per-chip accuracy**: an ensemble of simulated chips (:func:`robust_snn.devices.evaluate_ensemble`).
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
  scale: per family, the root-mean-square relative deviation of sampled chips from the programmed values
  (:func:`profile_attack_scale`), so a profile that only quantises is attacked with size 0 and a noisy analog
  one with its own spread.
- **Resource fit** against the profile's limits, each violation named.
- **Grade** from the yield interval, the fit and the chance test (:func:`robust_snn.readiness.statistics.grade`).
- **NeuroBench** (``neurobench``): footprint (also at the device's bit widths), connection and activation
  sparsity, synaptic operations per inference, of the trained (``float``) and the ``programmed`` network
  (:mod:`robust_snn.readiness.efficiency`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from ..attack import AttackConfig, evaluate_attack
from ..config import ConfigError
from ..core.parameters import parameter_families, physical_parameters
from ..devices import DeviceProfile, evaluate_ensemble, load_profile, model_dt, resource_violations, sample_chips
from ..runtime.accelerator import place
from ..core.evaluation import evaluate
from .efficiency import efficiency_card
from .statistics import chip_yield, chips_needed, clearly_above_chance, cvar, grade, majority_rate

MAX_ATTACK_EPS = 0.95


def programmed_parameters(model: nn.Module, profile: DeviceProfile) -> dict[str, torch.Tensor]:
    """The parameters every chip of ``profile`` is programmed with (deterministic stages only)."""
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    state = profile.mismatch_model().program(params, parameter_families(model), dt=model_dt(model))
    return state.materialise()


def dataset_labels(data: Dataset) -> list[int]:
    """Every item's label, in order: the data set's ``labels`` (read without computing inputs), a
    ``TensorDataset``'s label tensor, or else item by item."""
    labels = getattr(data, "labels", None)
    if labels is None and isinstance(data, TensorDataset):
        labels = data.tensors[1]
    if labels is None:
        labels = [data[i][1] for i in range(len(data))]  # type: ignore[arg-type]
    return [int(label) for label in labels]


def profile_attack_scale(model: nn.Module, profile: DeviceProfile, n_chips: int = 16, seed: int = 0
                         ) -> dict[str, float]:
    """Relative size of the profile's variation per family: a robust standard deviation (1.4826 x the median
    absolute value) of ``(chip - programmed) / |programmed|`` over sampled chips.

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


def check_options(n_chips: int, spec: float | None, spec_relative: float, target_yield: float) -> None:
    """The score card's options, checked before any work (a command checks them before it loads anything)."""
    if n_chips < 1:
        raise ConfigError(f"n_chips must be >= 1, got {n_chips!r}")
    if spec is not None and not 0 <= spec <= 1:
        raise ConfigError(f"spec must be an accuracy in [0, 1], got {spec!r}")
    if not 0 < spec_relative <= 1:
        raise ConfigError(f"spec_relative must be in (0, 1], got {spec_relative!r}")
    if not 0 < target_yield <= 1:
        raise ConfigError(f"target_yield must be in (0, 1], got {target_yield!r}")


def score_card(
    model: nn.Module,
    profile: DeviceProfile | str,
    data: Dataset,
    *,
    n_chips: int = 100,
    seed: int = 0,
    spec: float | None = None,
    spec_relative: float = 0.95,
    target_yield: float = 0.95,
    attack_steps: int = 10,
    attack_repeats: int = 2,
    batch_size: int = 256,
    chunk_size: int = 16,
    progress: bool = False,
    model_name: str = "",
    backend: str = "local",
    address: str | None = None,
    data_spec: str | None = None,
    data_split: str = "test",
    accelerator: str | torch.device | None = None,
) -> dict[str, Any]:
    """The readiness JSON of ``shared/CLI.md`` plus CVaR, the attack scale and the sample-size advice.

    ``backend="ray"`` (``address``: an existing cluster) evaluates the chip ensemble as Ray tasks
    (:mod:`robust_snn.distributed`); the card is identical to the local one. ``data_spec``/``data_split`` name
    where ``data`` came from, so that workers load it themselves instead of receiving its tensors.
    ``accelerator``: compute on a moved copy of the model (``None``: where the model is); Ray workers resolve
    it on their own node (Ray hides GPUs from tasks that do not reserve one, so ``auto`` is their CPU).
    """
    check_options(n_chips, spec, spec_relative, target_yield)
    profile = load_profile(profile) if isinstance(profile, str) else profile
    model = place(model, accelerator, in_place=False)
    model.eval()
    programmed = programmed_parameters(model, profile)
    nominal_eval = evaluate(model, data, batch_size, params=programmed)
    nominal = nominal_eval.accuracy
    chance = majority_rate(dataset_labels(data))
    above_chance, nominal_ci = clearly_above_chance(nominal, nominal_eval.n, chance)
    float_accuracy = evaluate(model, data, batch_size).accuracy
    if backend == "local" and address is None:
        ensemble = evaluate_ensemble(model, profile, data, n_chips=n_chips, seed=seed, chunk_size=chunk_size,
                                     batch_size=batch_size, progress=progress)
    else:
        from ..distributed.ensemble import distributed_ensemble
        from ..distributed.payload import DataRef

        shipped = DataRef(data_spec, data_split) if data_spec is not None else data
        ensemble = distributed_ensemble(model, profile, shipped, n_chips=n_chips, seed=seed, chunk_size=chunk_size,
                                        batch_size=batch_size, progress=progress, backend=backend, address=address,
                                        accelerator=None if isinstance(accelerator, torch.device) else accelerator)
    accuracies = list(ensemble.per_chip_accuracy)
    threshold = spec if spec is not None else spec_relative * nominal
    estimate = chip_yield(accuracies, threshold)
    scale = {f: e for f, e in profile_attack_scale(model, profile, seed=seed).items() if e > 0}
    if scale:
        attack = AttackConfig(eps=0.0, steps=attack_steps, divergence="ce", families=tuple(scale), family_eps=scale)
        worst = evaluate_attack(model, data, attack, repeats=attack_repeats, seed=seed, batch_size=batch_size,
                                params=programmed)["attacked_accuracy"]
    else:
        worst = nominal
    violations = resource_violations(model, profile.limits)
    fits = not violations
    return {
        "model": model_name,
        "device": profile.name,
        "device_family": profile.family,
        "n_chips": n_chips,
        "seed": seed,
        "n_samples": ensemble.n_samples,
        "float_accuracy": float_accuracy,
        "nominal_accuracy": nominal,
        "mean_accuracy": ensemble.mean_accuracy,
        "std_accuracy": ensemble.std_accuracy,
        "p5_accuracy": ensemble.percentile(5),
        "min_accuracy": ensemble.min_accuracy,
        "cvar5_accuracy": cvar(accuracies, 0.05),
        "per_chip_accuracy": accuracies,
        "spec": threshold,
        "spec_rule": "absolute" if spec is not None else f"{spec_relative} x nominal_accuracy",
        "spec_reference": "absolute" if spec is not None else "programmed_nominal",
        "spec_reference_accuracy": None if spec is not None else nominal,
        "chance_accuracy": chance,
        "chance_rule": "majority-class rate of the evaluated split",
        "nominal_accuracy_ci95": list(nominal_ci),
        "above_chance": above_chance,
        "yield": estimate.value,
        "yield_ci95": list(estimate.ci),
        "target_yield": target_yield,
        "chips_for_ci_width_0.05": chips_needed(estimate.value, 0.05),
        "worst_case_accuracy": worst,
        "worst_case_eps": scale,
        "fits_device": fits,
        "violations": violations,
        "grade": grade(estimate.ci, target_yield, fits, above_chance),
        # NeuroBench's footprint, sparsities and synaptic operations per inference, trained and programmed.
        "neurobench": efficiency_card(model, data, programmed, profile, batch_size),
    }
