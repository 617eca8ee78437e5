"""Training methods, looked up by name. Importing this package registers every built-in method."""

from . import adversarial, asam, awp, dropout, noise, qat, rwp, standard  # noqa: F401  (each registers itself)
from .base import METHODS, Method, StepResult, device_methods, make_method, register_method

__all__ = ["METHODS", "Method", "StepResult", "device_methods", "make_method", "register_method"]
