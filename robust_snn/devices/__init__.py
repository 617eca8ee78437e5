"""Device simulation: mismatch models, device profiles as data, and per-chip ensembles.

The pipeline stage between training and readiness scoring. A trained model's physical parameters
(:func:`robust_snn.core.physical_parameters`) go through a device profile's mismatch model -- an ordered list
of stages, program -> fabric -> age -> read -- to give the parameters of each simulated chip, stacked along a
leading chip axis; :func:`evaluate_ensemble` runs the model on all of them with ``torch.func.vmap``.

Modules, one job each:

- :mod:`.state`: what a chip holds (parameters, crossbar conductances) and the phases of its life;
- :mod:`.stage`: the stage interface and registry; :mod:`.model`: the checked pipeline;
- :mod:`.variation`: relative-Gaussian and log-normal mismatch (chip / core / neuron / synapse components),
  per-inference relative noise;
- :mod:`.quantise`: integer weights and thresholds, bit-shift decays, shared weight levels; :mod:`.digital`:
  their arithmetic (exact shifts, per-neuron scales), the one model of a digital chip such as Xylo Audio 2;
- :mod:`.crossbar`, :mod:`.drift`: memristive conductance pairs, programming noise, stuck-at faults, drift,
  relaxation, drift compensation, read noise;
- :mod:`.profiles`: profiles as TOML data (built-ins in ``profiles/``); :mod:`.limits`: does a model fit;
- :mod:`.programming`: the nominal chip (programmed parameters) and the relative size of the chips' variation;
- :mod:`.ensemble`: per-chip accuracies; :mod:`robust_snn.seeding`: one random stream per (seed, chip, stage, draw).

Example::

    from robust_snn.devices import load_profile, evaluate_ensemble
    result = evaluate_ensemble(model, load_profile("dynapse2"), test_set, n_chips=100, seed=0)
    result.mean_accuracy, result.per_chip_accuracy
"""

from .crossbar import ConductanceMap, ProgrammingNoise, StuckAtFaults
from .drift import ConstantReadNoise, DriftCompensation, PowerLawDrift, ReadNoise1f, Relaxation
from .ensemble import (
    ChipCounts, EnsembleResult, count_correct, evaluate_ensemble, merge_counts, model_dt, sample_chips,
)
from .limits import model_resources, resource_violations
from .model import MismatchModel, stack
from .profiles import DeviceProfile, ResourceLimits, build_profile, describe_profiles, list_profiles, load_profile
from .programming import MAX_ATTACK_EPS, profile_attack_scale, programmed_parameters
from .quantise import BitShiftDecay, IntegerQuantiser, SharedLevels
from ..seeding import derive_seed, generator
from .stage import STAGES, Stage, build_stage, register
from .state import ChipState, Crossbar, Phase
from .variation import LogNormal, RelativeGaussian, RelativeReadNoise, Variation


__all__ = [
    "MAX_ATTACK_EPS", "STAGES", "BitShiftDecay", "ChipCounts", "ChipState", "ConductanceMap", "ConstantReadNoise",
    "Crossbar",
    "DeviceProfile", "DriftCompensation", "EnsembleResult", "IntegerQuantiser", "LogNormal", "MismatchModel",
    "Phase", "PowerLawDrift", "ProgrammingNoise", "ReadNoise1f", "RelativeGaussian", "RelativeReadNoise",
    "Relaxation", "ResourceLimits", "SharedLevels", "Stage", "StuckAtFaults", "Variation", "build_profile",
    "build_stage", "count_correct", "derive_seed", "describe_profiles", "evaluate_ensemble", "generator",
    "list_profiles", "load_profile", "merge_counts", "model_dt", "model_resources", "profile_attack_scale",
    "programmed_parameters", "register",
    "resource_violations", "sample_chips", "stack",
]
