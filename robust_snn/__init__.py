"""robust-snn: spiking networks that work on every chip off the line.

The pipeline, one subpackage per stage: ``data`` -> ``core`` (the network) -> ``training`` (methods and the
loop) -> device simulation -> readiness scoring -> export. ``io`` holds the file formats.
"""

from ._version import __version__
from .core import (
    FAMILIES,
    LIFLayer,
    NetworkConfig,
    SNNClassifier,
    functional_forward,
    parameter_families,
    physical_parameters,
)
from .data import load_dataset
from .io.model_file import load_model, save_model
from .runtime import resolve_accelerator, retain_freed_memory, set_threads, use_threads
from .training import METHODS, TrainConfig, evaluate, fit, make_method

__all__ = [
    "FAMILIES", "METHODS", "LIFLayer", "NetworkConfig", "SNNClassifier", "TrainConfig", "__version__",
    "evaluate", "fit", "functional_forward", "load_dataset", "load_model", "make_method",
    "parameter_families", "physical_parameters", "resolve_accelerator", "retain_freed_memory", "save_model",
    "set_threads", "use_threads",
]
