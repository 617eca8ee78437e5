"""Training: the shared loop (:func:`fit`) and the methods it composes."""

from ..core.evaluation import Evaluation, evaluate, iterate_batches
from .methods import METHODS, Method, StepResult, make_method, register_method
from .trainer import FitResult, TrainConfig, TrainingDiverged, fit

__all__ = [
    "METHODS", "Evaluation", "FitResult", "Method", "StepResult", "TrainConfig", "TrainingDiverged",
    "evaluate", "fit", "iterate_batches", "make_method", "register_method",
]
