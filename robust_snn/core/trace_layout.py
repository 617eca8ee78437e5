"""How the LIF scan stores its ``(batch, time, n)`` traces: time-major, returned as a transposed view.

Why one place: the eager loop writes each step's ``(batch, n)`` state into one contiguous block of a time-major
buffer (a plain copy, cheaper than interleaving rows), the custom operators' shape functions must declare the
same strides as the tensors the operators return (compiled code indexes by them), and the GPU kernels index
every trace by those strides. All three take their buffers from :func:`time_major_like`; the kernels bring
a trace that came from elsewhere into that layout with :func:`in_trace_layout`.
"""

from __future__ import annotations

import torch


def time_major_like(drive: torch.Tensor) -> torch.Tensor:
    """An empty trace shaped like ``drive`` ``(batch, time, n)``, stored as ``(time, batch, n)``."""
    return drive.new_empty(drive.shape[1], drive.shape[0], drive.shape[2]).transpose(0, 1)


def in_trace_layout(trace: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``trace`` with ``ref``'s strides (a copy only where they differ): kernels index every trace alike."""
    if trace.stride() == ref.stride():
        return trace
    return torch.empty_strided(ref.shape, ref.stride(), dtype=trace.dtype, device=trace.device).copy_(trace)


__all__ = ["in_trace_layout", "time_major_like"]
