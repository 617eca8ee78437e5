"""Training: the shared loop (:func:`fit`), the methods it composes, and the default network for a data set and a
chip (:func:`default_network`, :mod:`.configure`)."""

from ..core.evaluation import Evaluation, evaluate, iterate_batches
from .configure import DataShape, default_network
from .methods import METHODS, Batch, Composed, Method, StepResult, make_method, register_method
from .trainer import FitResult, TrainConfig, TrainingDiverged, fit

__all__ = [
    "METHODS", "Batch", "Composed", "DataShape", "Evaluation", "FitResult", "Method", "StepResult", "TrainConfig",
    "TrainingDiverged",
    "default_network", "evaluate", "fit", "iterate_batches", "make_method", "register_method",
]
