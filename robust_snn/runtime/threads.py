"""How many threads torch computes with: one intra-op thread by default, parallelism across work items instead.

The rule: **one intra-op thread** (``torch.set_num_threads(1)``) and one inter-op thread, unless the user asks
for more (``--threads N``, ``threads = N`` in a ``--config`` file, :func:`set_threads` / :func:`use_threads`);
the one exception is the chip-batched ensemble, which takes the cores free at each chunk (:class:`LargeWork`)
for groups of chips in Python threads of one intra-op thread each (:func:`map_single_threaded`).
Parallelism comes from coarse, independent work items instead -- chip ranges and training runs as Ray tasks
(``--backend ray``, one single-threaded worker per core), benchmark units, trials -- which share nothing and
never wait for each other.

Why: a step of our networks is a few dozen small tensor operations on ``(batch, neurons)`` tensors (a 64 x 48
state is 3,072 floats, microseconds of work). With ``k`` intra-op threads every one of those operations is a
parallel region that ends at a barrier where all ``k`` threads must arrive. On a machine where another
process is running (a laptop with a browser, a CI box, a Ray node running other tasks) one of the threads is
often descheduled for a time slice (milliseconds), and every barrier waits for it: thousands of barriers per
sequence, each paying a slice. Measured on the 2-core development machine (torch's default there: 2 threads;
the quiet figures with a first draft of ``benchmarks/bench_contention.py``, the shared-machine ones with the
benchmark itself; dates in ``benchmarks/README.md``), for the demo network's training step (16 -> 48
recurrent LIF -> 8, T 100, batch 64):

- quiet machine (load average 0.6-1.0): one thread 5.5-6.7 ms, two 6.3-8.4 ms; beside one busy process, one
  thread 5.5-6.6 ms, two 11.3-11.7 ms. Two threads never helped this step. Since the scan runs as C loops
  (recurrent layers too, 2026-12-01) the step is a few C calls and matrix products: alone, two threads are a
  little faster (2.0 against 2.2-2.3 ms), beside a busy process still 2.4x slower (5.5-6.0 against 2.3-2.4);
- machine shared with other jobs (load average 9-11): one thread 32 ms, two 297 ms; beside one more busy
  process 51 ms against 1,214 ms (issue 17 saw 29-32 against 334-371 ms).

The one workload where a second thread pays is the chip-batched ensemble's large products on a quiet machine
(64 chips: 146-152 ms on two threads, 208-218 ms on one), and it too collapses under contention (486-513 ms on
two beside a busy process, 208-220 ms on one; on the shared machine 16.3 s against 0.98 s). So under the policy
the ensemble takes the cores that are free when each chunk of chips starts (:class:`LargeWork`, measured from
the running-task count of ``/proc/loadavg``), and everything else runs on one thread.

Inter-op threads (``torch.set_num_interop_threads``) serve ``torch.jit.fork`` and a few ops; the package uses
neither, and torch allows setting them once per process, before its inter-op pool starts, so
:func:`set_threads` sets them when it still can and otherwise leaves them (they idle).

Thread counts never change results beyond float rounding: the same operations run, only split differently
(``tests/test_runtime_threads.py`` checks a training step and an ensemble with one and two threads; for the
shapes tested they are bit-identical, since the products split their work by output rows, but BLAS does not
promise that for every shape: pin ``--threads N`` where bit-for-bit repeats across machine load matter).
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Sequence, TypeVar

import torch

from ..config import ConfigError

T = TypeVar("T")
R = TypeVar("R")

#: Intra-op threads when nothing else is asked for (see the module docstring for the measurement).
DEFAULT_THREADS = 1
#: Inter-op threads: the package runs no inter-op parallel work.
DEFAULT_INTEROP_THREADS = 1
#: Upper bound for a thread count, to catch typos (``--threads 40000``) before torch tries to start them.
MAX_THREADS = 1024

#: The most threads :class:`LargeWork` widens to: the widest setting measured (on 2 cores) so far.
LARGE_WORK_MAX_THREADS = 2

# Who set the thread count: "unset" (torch's default, nobody asked), "policy" (set_threads() with no count:
# the rule of this module, which lets large work widen), "explicit" (a count the user chose: never changed).
_mode = "unset"


def check_threads(n: object, where: str = "threads") -> int:
    """``n`` as a thread count (an int in ``1 .. MAX_THREADS``), or a :class:`ConfigError` naming ``where``."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_THREADS:
        raise ConfigError(f"{where} must be a whole number of threads from 1 to {MAX_THREADS}, got {n!r}")
    return n


def get_threads() -> int:
    """The intra-op thread count torch uses now."""
    return torch.get_num_threads()


def _set_interop(n: int) -> bool:
    """Set inter-op threads if torch still allows it (once per process, before its pool starts)."""
    if torch.get_num_interop_threads() == n:
        return True
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # already set, or inter-op work has started: torch keeps its pool
        return False
    return True


def set_threads(n: int | None = None, *, interop: int | None = DEFAULT_INTEROP_THREADS) -> int:
    """Apply the thread policy: ``n`` intra-op threads (``None``: :data:`DEFAULT_THREADS`); returns ``n``.

    ``interop`` inter-op threads are set too when torch still allows it (``None`` leaves them alone).
    Process-wide, as torch's own setting is; :func:`use_threads` restores the previous count after a block.
    """
    global _mode
    _mode = "policy" if n is None else "explicit"
    n = DEFAULT_THREADS if n is None else check_threads(n)
    torch.set_num_threads(n)
    if interop is not None:
        _set_interop(check_threads(interop, "interop threads"))
    return n


@contextlib.contextmanager
def use_threads(n: int | None = None) -> Iterator[int]:
    """Run the block on ``n`` intra-op threads (``None``: :data:`DEFAULT_THREADS`); the count is restored after.

    ``with robust_snn.use_threads(1): ...``. Inter-op threads are not touched (torch cannot change them back).
    """
    global _mode
    before, mode = torch.get_num_threads(), _mode
    try:
        yield set_threads(n, interop=None)
    finally:
        torch.set_num_threads(before)
        _mode = mode


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def other_runnable() -> int | None:
    """Threads of *other* processes ready to run at this instant, or ``None`` where it cannot be read.

    Linux: the running-task count of ``/proc/loadavg`` (all CPUs, this instant) minus this process's threads in
    state ``R`` (``/proc/self/task/*/stat``: our own OpenMP workers may still be spinning). A few hundred
    microseconds; an instantaneous count, unlike the load averages, which lag by a minute.
    """
    try:
        with open("/proc/loadavg") as fh:
            running = int(fh.read().split()[3].split("/")[0])
        own = 0
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as fh:
                stat = fh.read()
            own += stat[stat.rindex(")") + 2] == "R"
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - own)


def free_cores() -> int:
    """Cores no other process wants right now (at least 1; 1 where it cannot be measured)."""
    other = other_runnable()
    return 1 if other is None else max(1, cores() - other)


def map_single_threaded(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]`` in ``workers`` Python threads, each on **one** intra-op thread.

    The one place the package runs work items side by side in threads (groups of chips of an ensemble).
    Why not torch's intra-op threads: each tensor operation would be a parallel region ending at a barrier,
    which under contention waits for a descheduled thread (module docstring); items in threads of their own
    share nothing until their results are joined, and torch releases the GIL inside each operation, so they
    overlap where their operations are long enough (Python's share of each operation is serialised by the
    GIL). OpenMP's thread count is per thread, so each worker sets its own; the caller's count is restored on
    return. Results come back in the order of ``items``; gradients are off in the workers (``no_grad``), as
    torch's grad mode is per thread too and a worker thread does not inherit the caller's.
    """
    before = torch.get_num_threads()

    def run(item: T) -> R:
        torch.set_num_threads(1)
        with torch.no_grad():
            return fn(item)

    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(run, items))
    finally:
        torch.set_num_threads(before)


class LargeWork:
    """Threads for a run of large operations: the chip-batched ensemble, chunk by chunk.

    Its matrix products (``(chips, batch, n) x (chips, n, n)`` per step) are large enough for a second thread
    to pay on a quiet machine (measured, 64-chip ensemble of the demo network, 2 cores: 146-152 ms on two
    threads, 208-218 ms on one) and, like everything else, collapse under contention (486-513 ms on two, 208-220
    on one, beside one busy process). So under the policy each :meth:`update` (before each chunk of chips)
    sets the threads to :func:`free_cores`, measured then (at most :data:`LARGE_WORK_MAX_THREADS`), and
    :meth:`close` restores the count. A count the
    user chose (``--threads N``, :func:`set_threads` with a count, or ``torch.set_num_threads`` directly) is
    left alone, and so is torch's default when the policy was never applied (library use without
    :func:`set_threads`).
    """

    def __init__(self, large: bool = True) -> None:
        """``large=False``: the work is not large after all (e.g. a model that falls back to a chip loop)."""
        self.before = torch.get_num_threads()
        self.active = large and _mode == "policy" and self.before == DEFAULT_THREADS

    def update(self) -> int:
        """Set (and return) the thread count for the next piece of work."""
        if self.active:
            torch.set_num_threads(min(free_cores(), LARGE_WORK_MAX_THREADS))
        return torch.get_num_threads()

    def close(self) -> None:
        if self.active:
            torch.set_num_threads(self.before)

    def __enter__(self) -> "LargeWork":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DEFAULT_INTEROP_THREADS", "DEFAULT_THREADS", "LARGE_WORK_MAX_THREADS", "LargeWork", "MAX_THREADS", "check_threads", "cores",
           "free_cores", "get_threads", "map_single_threaded", "other_runnable", "set_threads", "use_threads"]
