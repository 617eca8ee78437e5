"""Per-chip ensemble evaluation: 64 chips at once (chip-batched) against a Python loop over chips.

Benchmark (issue 5, "device mismatch models and vectorised per-chip ensembles"): the demo-size network
16 -> 64 recurrent CuBa-LIF -> 8, T = 100 steps, ``--samples`` random inputs, 64 chips of a device profile
(``gaussian-10`` by default: no read noise, so every path evaluates exactly the same chips). Every path runs
through :func:`robust_snn.devices.evaluate_ensemble` on the same data with the same ``--batch`` size:

- ``vectorised``: ``chunk_size = --chunk`` chips per call; our classifier goes through the chip-batched
  forward pass (:mod:`robust_snn.core.chip_batch`: the chip axis folded into the matrix products);
- ``looped``: ``vectorise=False, chunk_size=1``: one chip at a time, every batch through
  ``functional_forward``, what a user would write;
- ``vmapped`` (context): the same network as a subclass, which ``evaluate_ensemble`` runs through the generic
  path for foreign modules, ``torch.func.vmap`` over ``functional_forward``, ``--chunk`` chips per call;
- ``looped_batch256`` (context): the loop with one 256-sample batch per chip, its most efficient setting.

They are measured round-robin (one run each in turn, ``--repeats`` times, after a warm-up run) so that load
from elsewhere on the machine falls on all alike; the median is reported. Their per-chip accuracies are checked
to be identical.

Ratios: ``vectorised_speedup`` = looped / vectorised (the target: >= 4); ``vmapped_speedup`` = looped /
vmapped; ``vectorised_vs_loop_batch256`` = looped_batch256 / vectorised.

Measured (2-core AMD EPYC VM shared with other jobs, torch 2.13 CPU, 2 threads, ``--repeats 15``):
vectorised 253.5 ms, looped 1091.9 ms, vmapped 461.4 ms, looped_batch256 428.7 ms; vectorised_speedup 4.31x
(4.3-4.6x in quiet runs of 7 repeats, 3.45x in one under load; 4.57x with ``--chunk 64``; 2.87x with
``--threads 1``), vmapped_speedup 2.37x. Where the time goes: the docstring of
:mod:`robust_snn.devices.ensemble`.

Usage: ``python benchmarks/bench_ensemble.py [--json FILE|-] [--repeats N] [--batch B] [--chunk C]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable

import torch
from torch.utils.data import TensorDataset

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_core import write_results  # noqa: E402

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import evaluate_ensemble

N_IN, N_HID, N_OUT, T, CHIPS = 16, 64, 8, 100, 64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="write results as JSON ('-' for stdout)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--chunk", type=int, default=32)
    parser.add_argument("--profile", default="gaussian-10")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    g = torch.Generator().manual_seed(0)
    model = SNNClassifier(NetworkConfig(n_in=N_IN, hidden=(N_HID,), n_classes=N_OUT, recurrent=True, dt=0.01))
    data = TensorDataset(torch.randn(args.samples, T, N_IN, generator=g) * 2,
                         torch.randint(0, N_OUT, (args.samples,), generator=g))

    class Generic(SNNClassifier):
        """The same network as a subclass: evaluate_ensemble's generic vmap path, not the chip-batched one."""

    generic = Generic(model.config)
    generic.load_state_dict(model.state_dict())

    def ensemble(net: SNNClassifier = model, **kw) -> Callable[[], object]:  # noqa: ANN003
        base = dict(n_chips=CHIPS, seed=0, batch_size=args.batch, progress=False)
        return lambda: evaluate_ensemble(net, args.profile, data, **{**base, **kw})

    contenders = {
        "vectorised": ensemble(chunk_size=args.chunk),
        "looped": ensemble(chunk_size=1, vectorise=False),
        "vmapped": ensemble(generic, chunk_size=args.chunk),
        "looped_batch256": ensemble(chunk_size=1, vectorise=False, batch_size=256),
    }
    results = {name: fn() for name, fn in contenders.items()}  # warm-up, and the equality check
    reference = results["looped"].per_chip_accuracy
    for name, result in results.items():
        if result.per_chip_accuracy != reference:
            print(f"error: {name} per-chip accuracies differ from the loop's", file=sys.stderr)
            return 1
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    ms = {name: statistics.median(v) for name, v in times.items()}
    ratios = {"vectorised_speedup": ms["looped"] / ms["vectorised"],
              "vmapped_speedup": ms["looped"] / ms["vmapped"],
              "vectorised_vs_loop_batch256": ms["looped_batch256"] / ms["vectorised"]}

    print(f"{CHIPS} chips of {args.profile!r}, {args.samples} samples x {T} steps, {N_IN}->{N_HID} rec->{N_OUT}, "
          f"batch {args.batch}, chunk {args.chunk}, {torch.get_num_threads()} threads, median of {args.repeats}")
    for name, value in ms.items():
        print(f"  {name:<18} {value:9.1f} ms")
    for name, value in ratios.items():
        print(f"  {name:<28} {value:6.2f}x")
    write_results(args.json, ms, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
