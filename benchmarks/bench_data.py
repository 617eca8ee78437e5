"""How long the embedded ``synth-kws`` corpus takes to load cold (the figure the unit tests no longer time).

One load = ``load_dataset("synth-kws", "train")`` with the corpus cache cleared: reading the packed file and
building the split, what every ``robust-snn`` command on ``synth-kws`` pays once per process. The median over
``--repeats`` cold loads is reported for the thread policy (one intra-op thread) and, for reference, for
torch's default thread count. Goal (from the data issue): under 2 s; about 1 s on a quiet 2-core machine.

Ratios:

- ``train_load_vs_goal``: median cold load / 2 s (<= 1 meets the goal);
- ``default_threads_vs_policy``: torch's default threads / one thread (> 1: the policy is faster).

Usage: ``python benchmarks/bench_data.py [--json FILE|-] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_contention import default_thread_count  # noqa: E402
from bench_core import write_results  # noqa: E402

GOAL_MS = 2000.0


def cold_load_ms() -> float:
    from robust_snn.data import load_dataset, packed

    packed._load.cache_clear()  # noqa: SLF001 - a cold load is the point
    start = time.perf_counter()
    load_dataset("synth-kws", "train")
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write {'ms': ..., 'ratios': ...} to FILE ('-': stdout)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from robust_snn import set_threads

    default = default_thread_count()
    settings = {"policy_1_thread": 1, f"torch_default_{default}_threads": default}
    times: dict[str, list[float]] = {name: [] for name in settings}
    cold_load_ms()  # imports and first-touch costs out of the measurement
    for _ in range(args.repeats):  # round-robin: background load falls on both settings alike
        for name, threads in settings.items():
            set_threads(threads, interop=None)
            times[name].append(cold_load_ms())
    ms = {f"synth_kws_train_cold_load_{name}": statistics.median(v) for name, v in times.items()}
    policy, reference = (statistics.median(v) for v in times.values())
    ratios = {"train_load_vs_goal": policy / GOAL_MS, "default_threads_vs_policy": reference / policy}
    print(f"synth-kws train split, cold load, median of {args.repeats}; load average {os.getloadavg()}",
          file=sys.stderr)
    for name, value in ms.items():
        print(f"  {name}: {value:.0f} ms", file=sys.stderr)
    write_results(args.json, ms, ratios)
    if not args.json:
        print(ratios)


if __name__ == "__main__":
    main()
