"""Export: the last stage of the pipeline -- NIR graphs (:mod:`.nir`), the Xylo Audio 2 specification
(:mod:`.xylo`) and deployment bundles (:mod:`.bundle`).

The Xylo names are importable from here too (``from robust_snn.export import map_to_xylo``); Rockpool and
XyloSim are imported only when a mapping or a simulation is asked for.
"""

from .xylo import (
    CHIP, HW_KEYS, XyloChip, XyloMapping, XyloMappingError, compare_with_xylosim, dash_to_tau, exact_dash,
    map_to_xylo, quantised_twin, to_xylo_spec, twin_on_chip_clock, write_xylo_spec, xylo_sim, xylo_violations,
)

__all__ = [
    "CHIP", "HW_KEYS", "XyloChip", "XyloMapping", "XyloMappingError", "compare_with_xylosim", "dash_to_tau",
    "exact_dash", "map_to_xylo", "quantised_twin", "to_xylo_spec", "twin_on_chip_clock", "write_xylo_spec",
    "xylo_sim", "xylo_violations",
]
