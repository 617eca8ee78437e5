"""Is the fused scan's hand-written backward still worth keeping? Its training step against autograd through
the one LIF step, side by side in one process.

Issue 16 keeps the hand-written BPTT of :mod:`robust_snn.core.lif_scan` only where it is proven faster than
autograd through :func:`robust_snn.core.lif_step.lif_step` (what ``LIFLayer.use_scan = False`` runs, op by op).
Both contenders are the same layers with the same parameters, input and loss (``bench_core.py``'s network:
16 -> 64 LIF -> 10 LIF, T = 100, batch 128, cross-entropy on spike counts, Adam), measured round-robin
(``bench_core.time_interleaved``). Ratios are scan / autograd (lower: the hand-written backward is faster):

- ``scan_vs_autograd_step``: weights and biases trained (the default);
- ``scan_vs_autograd_step_all_trainable``: time constants and thresholds trained too;
- ``scan_vs_autograd_step_recurrent_adaptive``: a recurrent adaptive hidden layer, everything trained.

Usage: ``python benchmarks/bench_lif_backward.py [--json FILE|-] [--repeats N] [--threads N]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import N_HID, N_IN, N_OUT, make_step, time_interleaved, write_results  # noqa: E402


class Net(nn.Module):
    def __init__(self, use_scan: bool, all_trainable: bool, recurrent_adaptive: bool = False) -> None:
        super().__init__()
        from robust_snn.core import LIFLayer, set_trainable

        g = torch.Generator().manual_seed(0)
        extra = {"recurrent": True, "adaptive": True, "tau_adapt": 0.05, "adapt_strength": 0.2} \
            if recurrent_adaptive else {}
        self.l1 = LIFLayer(N_IN, N_HID, dt=1e-3, tau_mem=0.02, tau_syn=0.01, generator=g, **extra)
        self.l2 = LIFLayer(N_HID, N_OUT, dt=1e-3, tau_mem=0.02, tau_syn=0.01, generator=g)
        self.l1.use_scan = self.l2.use_scan = use_scan
        if not all_trainable:
            set_trainable(self, ("weights", "biases"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(self.l1(x))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write {ms, ratios} JSON to FILE ('-' for stdout)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--block", type=int, default=3, help="consecutive measured steps per contender turn")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    configs = {"": (False, False), "_all_trainable": (True, False), "_recurrent_adaptive": (True, True)}
    steps = {}
    for suffix, (all_trainable, rec_adapt) in configs.items():
        for name, use_scan in (("scan", True), ("autograd_step", False)):
            model = Net(use_scan, all_trainable, rec_adapt)
            steps[f"{name}{suffix}"] = make_step(model, model)
    ms = time_interleaved(steps, args.warmup, args.repeats, block=args.block)
    ratios = {f"scan_vs_autograd_step{suffix}": ms[f"scan{suffix}"] / ms[f"autograd_step{suffix}"]
              for suffix in configs}
    print(f"{N_IN} -> {N_HID} LIF -> {N_OUT} LIF, training step, {args.threads} thread(s), median of {args.repeats}")
    for name, value in ms.items():
        print(f"{name:<36} {value:9.2f} ms")
    for name, value in ratios.items():
        print(f"  {name:<40} {value:.3f}")
    write_results(args.json, ms, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
