"""How the cost of the core training step, the adversarial step and the chip ensemble grows with problem size.

The other benchmarks time one size against other libraries; this one answers the planning question "what will
my size cost?". From a base point (the demo-like network 16 -> H recurrent CuBa-LIF -> 8, spike-mean readout,
T = 100 steps, H = 64, batch ``--batch``, 64 chips) one size is varied at a time:

- time steps T in 50, 100, 200 (``core``, ``adversarial``, ``ensemble``);
- hidden neurons H in 32, 64, 128, 256 (``core``, ``adversarial``, ``ensemble``);
- chips in 16, 64, 256 (``ensemble`` only).

``core``: one standard training step (forward, cross-entropy, backward, Adam). ``adversarial``: one step of the
paper's method (10-step attack at eps 0.1, then the loss and its gradient, no stop-gradient). ``ensemble``:
:func:`robust_snn.devices.evaluate_ensemble` of ``gaussian-10`` chips on ``--samples`` inputs (vectorised,
chunks of 32 chips). Core and adversarial steps of one size are timed round-robin (median of ``--repeats``),
the ensemble as the median of ``--ensemble-repeats`` runs.

Ratios (JSON ``ratios``): ``{kind}_{axis}_exponent``, the log-log slope of cost against the varied size between
its smallest and largest value (1.0 = linear; T should give about 1, H between 1 and 2 as the recurrent
matrix grows as H^2, chips about 1), and ``adversarial_vs_core_H{H}`` (the attack's overhead, about 12 passes).

Usage: ``python benchmarks/bench_scaling.py [--json FILE|-] [--threads 1] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from typing import Callable

import torch
from torch.utils.data import TensorDataset

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_core import method_step, time_interleaved, write_results  # noqa: E402

from robust_snn.core import NetworkConfig, SNNClassifier  # noqa: E402
from robust_snn.devices import evaluate_ensemble  # noqa: E402
from robust_snn.training import make_method  # noqa: E402

N_IN, N_OUT = 16, 8
BASE = {"T": 100, "H": 64, "chips": 64}
AXES = {"T": (50, 100, 200), "H": (32, 64, 128, 256), "chips": (16, 64, 256)}


def network(hidden: int) -> SNNClassifier:
    return SNNClassifier(NetworkConfig(n_in=N_IN, hidden=(hidden,), n_classes=N_OUT, recurrent=True, dt=0.01, seed=0))


def inputs(n: int, steps: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, steps, N_IN, generator=g) * 2, torch.randint(0, N_OUT, (n,), generator=g)


def train_step(method_name: str, hidden: int, steps: int, batch: int) -> Callable[[], None]:
    """One training step of ``method_name`` on a fixed batch (loss, backward, Adam)."""
    model = network(hidden)
    method = make_method(method_name)
    x, y = inputs(batch, steps)
    return method_step(model, method, x, y)


def ensemble_ms(hidden: int, steps: int, chips: int, samples: int, repeats: int) -> float:
    """Median wall time (ms) of one ``evaluate_ensemble`` call, after one warm-up call."""
    model = network(hidden)
    data = TensorDataset(*inputs(samples, steps, seed=3))

    def run() -> None:
        evaluate_ensemble(model, "gaussian-10", data, n_chips=chips, seed=0, chunk_size=32, batch_size=samples,
                          progress=False)

    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(args: argparse.Namespace) -> dict[str, float]:
    """``{"{kind}_{axis}{value}": ms}`` for every point of every axis (the base point is measured once per axis,
    so each axis's figures come from one stretch of time)."""
    ms: dict[str, float] = {}
    for axis, values in AXES.items():
        for value in values:
            size = {**BASE, axis: value}
            label = f"{axis}{value}"
            if axis != "chips":
                steps = {"core": train_step("standard", size["H"], size["T"], args.batch),
                         "adversarial": train_step("adversarial", size["H"], size["T"], args.batch)}
                timed = time_interleaved(steps, warmup=1, repeats=args.repeats)
                ms[f"core_{label}"], ms[f"adversarial_{label}"] = timed["core"], timed["adversarial"]
            ms[f"ensemble_{label}"] = ensemble_ms(size["H"], size["T"], size["chips"], args.samples,
                                                  args.ensemble_repeats)
            print(f"  {label:<10} " + "  ".join(f"{k.split('_')[0]} {v:8.1f} ms" for k, v in ms.items()
                                                if k.endswith(f"_{label}")), file=sys.stderr, flush=True)
    return ms


def ratios_of(ms: dict[str, float]) -> dict[str, float]:
    out = {}
    for axis, values in AXES.items():
        low, high = values[0], values[-1]
        for kind in ("core", "adversarial", "ensemble"):
            a, b = ms.get(f"{kind}_{axis}{low}"), ms.get(f"{kind}_{axis}{high}")
            if a and b:
                out[f"{kind}_{axis}_exponent"] = math.log(b / a) / math.log(high / low)
    for h in AXES["H"]:
        out[f"adversarial_vs_core_H{h}"] = ms[f"adversarial_H{h}"] / ms[f"core_H{h}"]
    return out


def table(ms: dict[str, float]) -> str:
    """Markdown: one row per size, ms per step / per ensemble call ("-" where a kind does not vary that axis)."""
    rows = ["| varied | T | H | chips | core step (ms) | adversarial step (ms) | adv / core | ensemble (ms) |",
            "|---|---|---|---|---|---|---|---|"]
    for axis, values in AXES.items():
        for value in values:
            size, label = {**BASE, axis: value}, f"{axis}{value}"
            core, adv = ms.get(f"core_{label}"), ms.get(f"adversarial_{label}")
            rows.append(f"| {axis} | {size['T']} | {size['H']} | {size['chips']} | "
                        f"{f'{core:.1f}' if core else '-'} | {f'{adv:.1f}' if adv else '-'} | "
                        f"{f'{adv / core:.1f}' if core and adv else '-'} | {ms[f'ensemble_{label}']:.0f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write {ms, ratios} JSON to FILE ('-' for stdout)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: a shared machine)")
    parser.add_argument("--batch", type=int, default=64, help="training batch size")
    parser.add_argument("--samples", type=int, default=128, help="inputs per chip in the ensemble (one batch)")
    parser.add_argument("--repeats", type=int, default=5, help="timed training steps per size and kind")
    parser.add_argument("--ensemble-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    print(f"16 -> H recurrent LIF -> 8, batch {args.batch}, {args.samples} ensemble inputs, {args.threads} thread(s)",
          file=sys.stderr)
    ms = measure(args)
    ratios = ratios_of(ms)
    print(table(ms))
    print("growth exponents (cost ~ size^a) and the attack's overhead:")
    for name, value in ratios.items():
        print(f"  {name:<28} {value:.2f}")
    write_results(args.json, ms, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
