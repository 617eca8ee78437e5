"""``robust-snn tune``: search a method's hyperparameters (Ray Tune) for a model that meets the spec on a chip.

:mod:`.space` (what is searched, sampled with a seed), :mod:`.trial` (one trial: train, score, report),
:mod:`.search` (the Ray Tune experiment, resumable) and :mod:`.report` (trials table, Pareto plot).
"""

from .search import TuneResult, tune_model
from .space import TUNABLE_METHODS, widths_that_fit

__all__ = ["TUNABLE_METHODS", "TuneResult", "tune_model", "widths_that_fit"]
