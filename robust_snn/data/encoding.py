"""Spike encodings of front-end features ``(..., time, channels)`` for the network input.

- ``current``: the features themselves, injected as an analog input current (the paper's speech setup).
- ``delta``: threshold-crossing (send-on-delta) events, as an event-driven front end makes them. Each channel
  keeps a reference level ``r`` (starting at its first frame); at every frame ``n = floor(|x - r| / theta)``
  events are emitted on the channel's *up* copy if ``x > r`` or its *down* copy if ``x < r``, and ``r`` moves by
  ``n theta`` towards ``x``. Output ``(..., time, 2 channels)``: all up channels, then all down channels; values
  are event counts per frame (non-negative integers stored as float32).
"""

from __future__ import annotations

import torch

from .frontend import FrontEndConfig


def delta_encode(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Up/down threshold-crossing counts ``(..., time, 2 channels)`` of ``x`` ``(..., time, channels)``."""
    if not threshold > 0:
        raise ValueError(f"delta threshold must be > 0, got {threshold!r}")
    x = torch.as_tensor(x, dtype=torch.float32)
    ref = x[..., 0, :].clone()
    up = torch.zeros_like(x)
    down = torch.zeros_like(x)
    for t in range(1, x.shape[-2]):
        diff = x[..., t, :] - ref
        n = torch.floor(diff.abs() / threshold)
        up[..., t, :] = torch.where(diff > 0, n, 0.0)
        down[..., t, :] = torch.where(diff < 0, n, 0.0)
        ref = ref + torch.sign(diff) * n * threshold
    return torch.cat([up, down], dim=-1)


def encode(x: torch.Tensor, config: FrontEndConfig) -> torch.Tensor:
    """Apply ``config.encoding`` to features ``(..., time, channels)``; see the module docstring."""
    if config.encoding == "delta":
        return delta_encode(x, config.delta_threshold)
    return torch.as_tensor(x, dtype=torch.float32)
