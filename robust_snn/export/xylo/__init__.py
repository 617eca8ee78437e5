"""Map an :class:`SNNClassifier` onto SynSense Xylo Audio 2 (SYNS61201) and check it in XyloSim.

One model of the chip: its programming (8-bit weights, 16-bit thresholds and biases with one scale per neuron,
exact bit-shift decays) and its limits live in the ``xylo-audio2`` device profile
(``robust_snn/devices/profiles/xylo-audio2.toml``, arithmetic in :mod:`robust_snn.devices.digital`). ``evaluate``
and ``qat`` apply that profile; this exporter writes the same codes into the chip's specification, so the twin
it decodes is exactly the profile's programmed network.

Modules, one job each:

- :mod:`.limits`: the chip as its profile describes it (:class:`XyloChip`) and every named violation;
- :mod:`.quantise`: the profile's codes and shifts laid out as Xylo's matrices and registers;
- :mod:`.mapping`: Rockpool's mapper (design rules, hidden-neuron allocation) -> :class:`XyloMapping`;
- :mod:`.twin`: our float model holding the chip's values, and run on the chip's clock;
- :mod:`.simulator`: XyloSim (extra ``xylo``) and :func:`compare_with_xylosim`;
- :mod:`.spec_file`: the specification as JSON.

The chip, per step (integers; ``decay(v) = v >> dash``, an arithmetic shift, or ``sign(v)`` if that is 0)::

    I += W_in x[t] + W_rec S[t-1];   I -= decay(I, dash_syn)
    V += I + b - decay(V, dash_mem); while V >= threshold (at most 31 times; outputs once): spike, V -= threshold

which is our LIF step (:func:`robust_snn.core.lif_step.lif_step`) with ``alpha, beta = 1 - 2**-dash``. All hidden layers
share one recurrent "reservoir": layer ``k`` reaches layer ``k+1`` through ``weights_rec`` and the last one
reaches the outputs through ``weights_out``, each hop one step late (the spikes of step ``t-1``), so a net
with ``L`` hidden layers answers ``L`` steps later on the chip (:attr:`XyloMapping.delay_steps`).

Readouts (Xylo's outputs are neurons: at most 8, non-recurrent; the mapper drops biases on weights):

- ``readout="leaky"`` maps exactly: output neurons with the readout's weights, decays and bias and a threshold
  they never reach (the largest 16-bit code); logits = mean over time of the output membrane, read with
  ``output_mode="Vmem"``. Xylo-native: train this readout for deployment.
- ``readout="spike_mean"`` (``logits = W mean_t S + b``) maps approximately, as integrate-and-fire output
  neurons whose **spike counts are the logits**: ``count_c * theta / T`` approximates ``logit_c``, rectified
  (negative logits do not fire; all logits <= 0 give no spike: a tie), in steps of ``theta / T``, at most one
  spike per step (:mod:`.quantise`).

Rockpool pitfalls handled here (Rockpool 3.1):

- ``rockpool.devices.xylo`` imports ``samna`` at module level; :mod:`robust_snn.export.samna_shim` stubs it.
- ``config_from_specification`` builds a ``samna`` object, so it is unusable without ``samna``;
  ``XyloSim.from_specification(**spec)`` is the samna-free path to the same simulator.
- ``mapper`` converts ``dash = round(log2(tau / dt))`` (first order; one shift off for short ``tau``) and
  refuses any ``tau <= dt``, which Xylo can represent (``dash`` 0 or 1): the shifts come from the profile.
- ``channel_quantize`` never scales hidden biases when each neuron has one synapse, scales them in the
  caller's array when it has two, and rescales output biases in place; it also sizes output weights for
  precision only, so a leaky readout's membrane would saturate 16 bits. The profile's quantiser does all of it.
"""

from .limits import CHIP, XyloChip, XyloMappingError
from .mapping import HW_KEYS, XyloMapping, map_to_xylo, to_xylo_spec, xylo_violations
from .simulator import compare_with_xylosim, xylo_sim
from .spec_file import write_xylo_spec
from .twin import dash_to_tau, exact_dash, quantised_twin, twin_on_chip_clock

__all__ = [
    "CHIP", "HW_KEYS", "XyloChip", "XyloMapping", "XyloMappingError", "compare_with_xylosim", "dash_to_tau",
    "exact_dash", "map_to_xylo", "quantised_twin", "to_xylo_spec", "twin_on_chip_clock", "write_xylo_spec",
    "xylo_sim", "xylo_violations",
]
