"""Keep freed memory in the process: large tensors allocated again and again cost page faults, not arithmetic.

Why: a training step allocates and frees the same large tensors every step (a layer's traces, its drive, the
surrogate derivative: 3.2 MB each at batch 128 x 100 steps x 64 neurons). glibc serves blocks of 128 kB and
more with ``mmap`` and gives them back to the operating system when they are freed (and trims the top of its
heap likewise), so the next step's allocation of the same size starts from fresh pages, and the first write to
each 4 kB page is a page fault the kernel must zero and map. In a virtual machine that is expensive. Measured on
the 2-core development machine (``benchmarks/bench_core.py``'s training step, one thread, same process, the
fused scan with its compiled CPU loops): 11.5-15.1 ms per step with glibc's defaults, 7.0-8.2 ms after
:func:`retain_freed_memory`; the page faults fell into the first write of each fresh trace.

:func:`retain_freed_memory` raises glibc's ``M_MMAP_THRESHOLD`` to 32 MB (its maximum: blocks up to that size
come from the heap and are reused) and ``M_TRIM_THRESHOLD`` to 1 GB (the heap's free top is kept), with
``mallopt``. The cost: freed memory stays with the process (up to about the largest set of tensors alive at
once), which a long training or evaluation run needs again anyway. It changes no numbers. The command line
applies it at start (like the thread policy); Python users call it themselves. Elsewhere than glibc (macOS,
musl, Windows) it does nothing and says so by returning False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``mallopt`` parameters (glibc's ``malloc.h``).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Blocks up to this size come from the heap (glibc refuses more: ``HEAP_MAX_SIZE / 2`` on 64-bit systems).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the top of the heap kept rather than returned to the operating system.
TRIM_THRESHOLD = 1 << 30

_applied: list[bool] = []


def retain_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse (module docstring); True if it did (now or before), False where
    the C library is not glibc. Idempotent; process-wide."""
    if _applied:
        return _applied[0]
    ok = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):  # not glibc (musl has no mallopt)
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _applied.append(ok)
    return ok


__all__ = ["retain_freed_memory"]
