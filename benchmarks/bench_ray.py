"""The local Ray backend against one process: what scale-out costs on one machine, and what a second worker buys.

Benchmark (issue 10, "Scale out on Ray"). Two measurements, each checked to give identical results on every
backend (same per-chip accuracies; same trained weights):

- **Ensemble**: the demo-size network 16 -> 48 recurrent CuBa-LIF -> 8, T = 100, ``--samples`` random inputs
  (or ``--data SPEC``, e.g. ``synth-kws``, its test split), ``--chips`` chips of ``--profile``, chunks of
  ``--chunk`` chips, batch ``--batch``. ``single``: :func:`robust_snn.devices.evaluate_ensemble` in this
  process with 1 torch thread (``single_again``: the same, measured next to the 2-worker runs); ``ray_1worker`` /
  ``ray_2workers``: :func:`robust_snn.distributed.ensemble.distributed_ensemble` on a local Ray instance with
  1 or 2 CPUs (one chunk per task, 1 thread per task), warm (worker processes already running). Contenders of
  one Ray configuration are measured round-robin with the single-process run, ``--repeats`` times after a
  warm-up, median reported. ``ray_init`` (starting the local instance) and ``ray_first_call`` (first ensemble
  on a fresh instance: worker processes start and import torch) are one-off costs, reported separately.
- **Sweep**: ``--runs`` independent training runs (seeds 0..runs-1, ``standard``, ``--epochs`` epochs on 512
  random samples, batch 32) mapped with :func:`robust_snn.distributed.run_tasks`: in this process, and on Ray
  with 1 and 2 workers; every contender warm (imports done, workers running), median of ``--sweep-repeats``.

Ratios: ``ray_overhead_1worker`` = ray_1worker / single (pure cost of the backend: same arithmetic, one core);
``ray_2workers_vs_single`` = ray_2workers / single_again (what a user with two cores sees);
``ensemble_speedup_1_to_2_workers``; ``sweep_speedup_1_to_2_workers`` = sweep_ray_1worker / sweep_ray_2workers;
``sweep_ray_1worker_vs_local``; ``sweep_task_slowdown_2_workers``: a training run's own duration with 2 workers
over that with 1 (``sweep_task_*`` ms): about 1 when the second core is free, about 2 when other work on the
machine leaves the two workers one core to share -- read the speed-ups with it. (Two torch threads in one
process are not a contender: on a core shared with other work they stall at every barrier, 10-100x slower.)

Usage: ``python benchmarks/bench_ray.py [--json FILE|-] [--chips 128] [--repeats 5] [--runs 4] [--data SPEC]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable

import torch
from torch.utils.data import TensorDataset

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_core import write_results  # noqa: E402

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import evaluate_ensemble
from robust_snn.distributed import require_ray, run_tasks
from robust_snn.distributed.ensemble import distributed_ensemble
from robust_snn.distributed.payload import DataRef

N_IN, N_HID, N_OUT, T = 16, 48, 8, 100


def train_run(seed: int) -> dict[str, Any]:
    """One sweep unit: a short training run that depends on its seed only; returns a digest of the weights and
    the unit's own duration (``task_ms``: not part of the result compared across backends)."""
    start = time.perf_counter()
    torch.set_num_threads(1)
    from robust_snn.training import TrainConfig, fit, make_method

    g = torch.Generator().manual_seed(1000 + seed)
    x, y = torch.randn(576, T, N_IN, generator=g) * 2, torch.randint(0, N_OUT, (576,), generator=g)
    model = SNNClassifier(NetworkConfig(n_in=N_IN, hidden=(N_HID,), n_classes=N_OUT, recurrent=True, seed=seed))
    result = fit(model, TensorDataset(x[:512], y[:512]), TensorDataset(x[512:], y[512:]), make_method("standard"),
                 TrainConfig(epochs=EPOCHS, batch_size=32, seed=seed), progress=False)
    return {"seed": seed, "weights": [float(p.detach().double().sum()) for p in result.model.parameters()],
            "best_val_accuracy": result.best_val_accuracy, "task_ms": (time.perf_counter() - start) * 1e3}


def digest(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in run.items() if k != "task_ms"} for run in runs]


def mean_task_ms(runs: list[dict[str, Any]]) -> float:
    return statistics.fmean(run["task_ms"] for run in runs)


EPOCHS = 3  # set from --epochs; a global so that Ray ships it with train_run (pickled by value from __main__)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1e3, out


def round_robin(contenders: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Median ms of each contender, measured in turn after one warm-up run each; also each one's last result."""
    results = {name: fn() for name, fn in contenders.items()}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            ms, results[name] = timed(fn)
            times[name].append(ms)
    return {name: statistics.median(v) for name, v in times.items()}, results


def main(argv: list[str] | None = None) -> int:
    global EPOCHS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="write results as JSON ('-' for stdout)")
    parser.add_argument("--chips", type=int, default=128)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--data", default=None, help="data SPEC instead of random samples (its test split)")
    parser.add_argument("--profile", default="gaussian-10")
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=4, help="training runs in the sweep")
    parser.add_argument("--sweep-repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per sweep run")
    args = parser.parse_args(argv)
    EPOCHS = args.epochs
    ray = require_ray()

    model = SNNClassifier(NetworkConfig(n_in=N_IN, hidden=(N_HID,), n_classes=N_OUT, recurrent=True, dt=0.01)).eval()
    if args.data:
        from robust_snn.data import load_dataset

        data: Any = load_dataset(args.data, "test")
        shipped: Any = DataRef(args.data, "test")
    else:
        g = torch.Generator().manual_seed(0)
        data = shipped = TensorDataset(torch.randn(args.samples, T, N_IN, generator=g) * 2,
                                       torch.randint(0, N_OUT, (args.samples,), generator=g))
    kw = dict(n_chips=args.chips, seed=0, chunk_size=args.chunk, batch_size=args.batch)

    def single(threads: int) -> Callable[[], Any]:
        def go() -> Any:
            torch.set_num_threads(threads)
            return evaluate_ensemble(model, args.profile, data, progress=False, **kw)
        return go

    def on_ray() -> Any:
        torch.set_num_threads(1)
        return distributed_ensemble(model, args.profile, shipped, backend="ray", **kw)

    seeds = list(range(args.runs))
    load_before = os.getloadavg()[0]
    ms: dict[str, float] = {}
    torch.set_num_threads(1)
    def sweep(backend: str) -> Callable[[], Any]:
        return lambda: run_tasks(train_run, seeds, backend=backend)

    sweep_ms, sweep_results = round_robin({"sweep_local": sweep("local")}, args.sweep_repeats)
    ms.update(sweep_ms)
    sweep_reference = digest(sweep_results["sweep_local"])
    ms["sweep_task_local"] = mean_task_ms(sweep_results["sweep_local"])
    reference = single(1)()
    for workers in (1, 2):
        name = "ray_1worker" if workers == 1 else "ray_2workers"
        ms[f"ray_init_{workers}"], _ = timed(lambda: ray.init(num_cpus=workers, include_dashboard=False,
                                                              log_to_driver=False, configure_logging=False))
        ms[f"ray_first_call_{workers}"], first = timed(on_ray)
        # Each Ray configuration against the single-process run, measured in turn.
        contenders = {name: on_ray, "single" if workers == 1 else "single_again": single(1)}
        medians, results = round_robin(contenders, args.repeats)
        ms.update(medians)
        if not all(r.per_chip_accuracy == reference.per_chip_accuracy for r in [first, *results.values()]):
            raise SystemExit(f"{name}: per-chip accuracies differ from the single-process run")
        sweep_ms, sweep_results = round_robin({f"sweep_{name}": sweep("ray")}, args.sweep_repeats)
        ms.update(sweep_ms)
        if digest(sweep_results[f"sweep_{name}"]) != sweep_reference:
            raise SystemExit(f"sweep on {name}: trained weights differ from the local run")
        ms[f"sweep_task_{name}"] = mean_task_ms(sweep_results[f"sweep_{name}"])
        ray.shutdown()

    ratios = {
        "ray_overhead_1worker": ms["ray_1worker"] / ms["single"],
        "ray_2workers_vs_single": ms["ray_2workers"] / ms["single_again"],
        "ensemble_speedup_1_to_2_workers": ms["ray_1worker"] / ms["ray_2workers"],
        "sweep_speedup_1_to_2_workers": ms["sweep_ray_1worker"] / ms["sweep_ray_2workers"],
        "sweep_ray_1worker_vs_local": ms["sweep_ray_1worker"] / ms["sweep_local"],
        # ~1 when the second core was free; ~2 when both workers had to share one (other work on the machine).
        "sweep_task_slowdown_2_workers": ms["sweep_task_ray_2workers"] / ms["sweep_task_ray_1worker"],
    }
    ms = {k: round(v, 1) for k, v in ms.items()}
    ratios = {k: round(v, 3) for k, v in ratios.items()}
    source = f"{args.data} (test split)" if args.data else f"{args.samples} random samples, T={T}"
    print(f"load average at the start and the end (other work on this machine): {load_before:.2f}, "
          f"{os.getloadavg()[0]:.2f}")
    print(f"ensemble: {args.chips} chips of {args.profile}, {N_IN}->{N_HID} rec->{N_OUT}, {source}, "
          f"chunk {args.chunk}, batch {args.batch}; sweep: {args.runs} runs x {args.epochs} epochs")
    for key, value in ms.items():
        print(f"  {key:<26} {value:10.1f} ms")
    for key, value in ratios.items():
        print(f"  {key:<34} {value:.3f}")
    print("results identical on every backend: yes")
    write_results(args.json, ms, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
