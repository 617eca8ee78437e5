"""The spiking core: CuBa-LIF layers, readouts, the classifier network and parameter families."""

from .lif import LIFLayer, LIFState, decay
from .network import READOUTS, NetworkConfig, SNNClassifier, compile_for_training, compile_model, set_trainable
from .parameters import (
    FAMILIES,
    Parameter,
    check_declared,
    declared,
    describe_parameters,
    functional_forward,
    parameter_families,
    physical_parameters,
    stored_parameters,
    trainable_mask,
)
from .readout import LeakyReadout, SpikeMeanReadout
from .surrogates import SURROGATES, Surrogate

__all__ = [
    "FAMILIES", "READOUTS", "SURROGATES", "LIFLayer", "LIFState", "LeakyReadout", "NetworkConfig",
    "Parameter", "SNNClassifier", "check_declared", "declared", "describe_parameters", "compile_for_training",
    "compile_model",
    "SpikeMeanReadout", "Surrogate", "decay", "functional_forward",
    "parameter_families", "physical_parameters", "set_trainable", "stored_parameters", "trainable_mask",
]
