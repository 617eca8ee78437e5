"""Training methods, looked up by name. Importing this package registers every built-in method."""

from . import adversarial, asam, awp, dropout, noise, qat, rwp, standard  # noqa: F401  (each registers itself)
from .base import METHODS, Batch, Method, MethodState, StepResult, device_methods, make_method, register_method
from .compose import Composed, CrossEntropy, Perturbation, RelativeNoise, Sampler, Term

__all__ = ["METHODS", "Batch", "Composed", "CrossEntropy", "Method", "MethodState", "Perturbation", "RelativeNoise",
           "Sampler", "StepResult", "Term", "device_methods", "make_method", "register_method"]
