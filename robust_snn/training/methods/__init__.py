"""Training methods, looked up by name. Importing this package registers every built-in method."""

from . import standard  # noqa: F401  (registers itself)
from .base import METHODS, Method, StepResult, make_method, register_method

__all__ = ["METHODS", "Method", "StepResult", "make_method", "register_method"]
