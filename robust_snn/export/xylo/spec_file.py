"""Write a Xylo specification (or a whole mapping) as JSON, atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...io.atomic import write_json_atomic
from .limits import CHIP
from .mapping import HW_KEYS, XyloMapping


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_xylo_spec(path: str | Path, spec: dict[str, Any] | XyloMapping) -> None:
    """Write a specification as JSON (arrays as nested lists), atomically.

    Given a :class:`XyloMapping`, the file also carries, under ``"robust_snn"``, what decodes the outputs
    (readout kind, scales, hidden-neuron ids, spike-count threshold, architecture); drop that key before
    ``XyloSim.from_specification(**spec)``.
    """
    if isinstance(spec, XyloMapping):
        meta = {"chip": CHIP, "readout": spec.readout, "hidden_ids": spec.hidden_ids,
                "hidden_scale": spec.hidden_scale, "out_scale": spec.out_scale,
                "out_threshold": spec.out_threshold, "delay_steps": spec.delay_steps,
                "architecture": spec.config.to_dict()}
        payload = {**spec.spec, "robust_snn": meta}
    else:
        unknown = sorted(set(spec) - set(HW_KEYS))
        if unknown:
            raise ValueError(f"not a Xylo specification key: {', '.join(unknown)} (expected {', '.join(HW_KEYS)})")
        payload = dict(spec)
    write_json_atomic(path, _jsonable(payload))


__all__ = ["write_xylo_spec"]
