"""One training step of the paper's speech network on an accelerator: the scan's Triton kernels against its loop.

The network of ``benchmarks/robustness.py --preset paper-speech``: 40 inputs -> 256 recurrent adaptive LIF
(tau_mem 0.2 s, tau_adapt 0.98 s, dt 10 ms) -> spike-mean readout over 8 classes, batch 100, T 98 (1 s of 40
MFCC at a 10 ms hop), random inputs. One step = the method's loss at the model's physical parameters
(:meth:`robust_snn.training.Method.loss`: for ``adversarial`` the 10-step parameter attack and the KL term, 12
network passes) and its backward pass, as ``fit`` runs it (no optimiser step). Each method is timed with the
scan's GPU kernels (:mod:`robust_snn.core.lif_scan_triton`) and with them switched off (the per-step loop),
round-robin, median of ``--repeats``. ``--profile`` prints ``torch.profiler``'s busiest operators of one
adversarial step with the kernels (self CUDA and self CPU time): where a step's time goes.

Ratios: ``{method}_kernels_vs_loop`` (lower is better). On a CPU both columns run the loop (the kernels are for
CUDA tensors), so the ratio is ~1 there; the figures that matter are CUDA ones.

Usage: ``python benchmarks/bench_gpu_training.py [--device auto|cpu|cuda] [--repeats N] [--profile]
[--json FILE|-]``
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Callable

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_core import time_interleaved, write_results  # noqa: E402

from robust_snn.core import NetworkConfig, SNNClassifier, lif_scan  # noqa: E402
from robust_snn.core.parameters import physical_parameters  # noqa: E402
from robust_snn.training import make_method  # noqa: E402

BATCH, STEPS, N_IN, CLASSES = 100, 98, 40, 8
METHODS = ("standard", "adversarial")


def training_step(method_name: str, device: torch.device) -> Callable[[], None]:
    model = SNNClassifier(NetworkConfig(n_in=N_IN, hidden=(256,), n_classes=CLASSES, recurrent=True,
                                        adaptive=True, tau_mem=0.2, tau_adapt=0.98, dt=0.01, seed=0)).to(device)
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(BATCH, STEPS, N_IN, generator=g) * 2).to(device)
    y = torch.randint(0, CLASSES, (BATCH,), generator=g).to(device)
    method = make_method(method_name)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        result = method.loss(model, physical_parameters(model), x, y, torch.Generator().manual_seed(1))
        result.loss.backward()
        sync()

    return step


def with_kernels(step: Callable[[], None], on: bool) -> Callable[[], None]:
    def run() -> None:
        lif_scan.use_triton_kernels = on
        try:
            step()
        finally:
            lif_scan.use_triton_kernels = True
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the busiest operators of an adversarial step")
    parser.add_argument("--json", default=None, help="write {ms, ratios} JSON to FILE ('-' for stdout)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    device = torch.device("cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")

    contenders = {f"{m}_{mode}": with_kernels(training_step(m, device), mode == "kernels")
                  for m in METHODS for mode in ("kernels", "loop")}
    ms = time_interleaved(contenders, warmup=1, repeats=args.repeats)  # Triton compiles in the warm-up
    ratios = {f"{m}_kernels_vs_loop": ms[f"{m}_kernels"] / ms[f"{m}_loop"] for m in METHODS}

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"paper speech network training step (batch {BATCH}, T {STEPS}), {where}, median of {args.repeats}")
    for key, value in {**ms, **ratios}.items():
        print(f"  {key:<32} {value:10.3f}")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        run = contenders["adversarial_kernels"]
        with profile(activities=activities) as prof:
            run()
        table = prof.key_averages()
        if device.type == "cuda":
            print(table.table(sort_by="self_cuda_time_total", row_limit=12, max_name_column_width=48))
        print(table.table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=48))
    write_results(args.json, ms, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
