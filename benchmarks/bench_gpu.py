"""Forward + backward of one Linear + one LIF layer, in the Open Neuromorphic SNN framework benchmark's setting.

The setting (open-neuromorphic.org, "SNN library benchmarks", 2023; the figures below are its published GPU
results): input ``(batch 16, T 500, n)`` of random currents, ``Linear(n, n)`` followed by a layer of ``n``
LIF neurons, loss = sum of the output spikes, one forward and one backward pass timed (no optimiser step), for
``n`` = 4,096 and 16,384 neurons. Published anchors (ms, forward + backward, n = 4k / 16k): Spyx fp16
5.5 / 47, Spyx fp32 11.0 / 76, SpikingJelly CuPy 10.0 / 118, Norse + torch.compile 13.1 / 110, Sinabs EXODUS
25.4 / 179, snntorch 266 / 3078. They were measured on the benchmark authors' GPU, not ours: a ratio to an
anchor says where we stand, not a like-for-like race.

Contenders, measured round-robin in one process (median of ``--repeats``):

- ``ours``: :class:`robust_snn.core.LIFLayer` (its weight is the Linear; the fused scan with its hand-written
  backward), eager;
- ``ours_compiled``: the same through :func:`robust_snn.core.compile_model` (``--compile``; CUDA compiles
  need Triton);
- ``snntorch_Leaky``: ``nn.Linear`` + ``snntorch.Leaky`` stepped over time, as the benchmark wrote it;
- ``rockpool_LIFTorch``: ``LinearTorch`` + ``LIFTorch``.

Agreement: on CUDA, ``ours`` runs on the CPU too, with the same weights and input; ``cuda_cpu_spike_agreement``
is the fraction of equal output spikes, ``cuda_cpu_grad_rel_err`` the relative error of the weight gradient
(BLAS rounds differently on the two, so a spike can flip near threshold; expect agreement > 0.99).

Ratios: ``ours_vs_snntorch``, ``ours_vs_rockpool`` (lower is better) per size; on CUDA also
``ours_vs_spyx_fp32_anchor`` (target at 4k: <= 1). On CPU (``--quick``: n = 512 and 1,024, T = 100) the
anchors are not comparable and are left out.

Usage: ``python benchmarks/bench_gpu.py [--quick] [--device auto|cpu|cuda] [--json FILE|-] [--repeats N]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from typing import Callable

import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_core import write_results  # noqa: E402

BATCH, STEPS, NEURONS = 16, 500, (4096, 16384)
DT, TAU_MEM, TAU_SYN = 1e-3, 0.02, 0.01
#: Published forward + backward ms (GPU) at 4k and 16k neurons.
ANCHORS = {
    "spyx_fp16": (5.5, 47.0), "spyx_fp32": (11.0, 76.0), "spikingjelly_cupy": (10.0, 118.0),
    "norse_compiled": (13.1, 110.0), "sinabs_exodus": (25.4, 179.0), "snntorch": (266.0, 3078.0),
}


def ours(n: int, device: torch.device, compiled: bool = False) -> tuple[nn.Module, Callable]:
    from robust_snn.core import LIFLayer, compile_model, set_trainable

    layer = LIFLayer(n, n, dt=DT, tau_mem=TAU_MEM, tau_syn=TAU_SYN, generator=torch.Generator().manual_seed(0))
    set_trainable(layer, ("weights", "biases"))
    layer = layer.to(device)
    return layer, (compile_model(layer) if compiled else layer)


def snntorch_leaky(n: int, device: torch.device) -> tuple[nn.Module, Callable]:
    import snntorch as snn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.lif = nn.Linear(n, n), snn.Leaky(beta=float(torch.exp(torch.tensor(-DT / TAU_MEM))))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mem = self.lif.init_leaky()
            cur = self.fc(x)
            out = []
            for c in cur.unbind(1):
                spk, mem = self.lif(c, mem)
                out.append(spk)
            return torch.stack(out, 1)

    net = Net().to(device)
    return net, net


def rockpool_lif(n: int, device: torch.device) -> tuple[nn.Module, Callable]:
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch

    class Net(nn.Module):  # a plain torch module around Rockpool's (whose parameters() returns a dict)
        def __init__(self) -> None:
            super().__init__()
            self.net = Sequential(LinearTorch((n, n)), LIFTorch((n,), dt=DT, tau_mem=TAU_MEM, tau_syn=TAU_SYN))
            for name, param in self.net.named_parameters():
                param.requires_grad_(name.endswith(("weight", "bias")))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.net.reset_state()
            return self.net(x)[0]

    net = Net().to(device)
    return net, net


def step_of(forward: Callable, x: torch.Tensor, module: nn.Module) -> Callable[[], None]:
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)

    def step() -> None:
        module.zero_grad(set_to_none=True)
        forward(x).sum().backward()
        sync()

    return step


def agreement(n: int, steps: int, device: torch.device) -> dict[str, float]:
    """Our layer on ``device`` and on the CPU, same weights and input: equal spikes, weight-gradient error."""
    x = torch.randn(BATCH, steps, n, generator=torch.Generator().manual_seed(1)) * 2
    results = []
    for dev in (torch.device("cpu"), device):
        layer, _ = ours(n, dev)
        spikes = layer(x.to(dev))
        spikes.sum().backward()
        results.append((spikes.cpu(), layer.weight.grad.cpu()))
    (s_cpu, g_cpu), (s_dev, g_dev) = results
    return {"cuda_cpu_spike_agreement": float((s_cpu == s_dev).float().mean()),
            "cuda_cpu_grad_rel_err": float((g_cpu - g_dev).norm() / g_cpu.norm().clamp_min(1e-12))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write {ms, ratios} JSON to FILE ('-' for stdout)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--quick", action="store_true", help="CPU-sized: n = 512 and 1,024, T = 100")
    parser.add_argument("--neurons", default=None, help="comma-separated layer sizes (default 4096,16384)")
    parser.add_argument("--steps", type=int, default=None, help=f"time steps (default {STEPS}; --quick 100)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time ours through compile_model")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    device = torch.device("cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu")
    sizes = [int(v) for v in args.neurons.split(",")] if args.neurons else ([512, 1024] if args.quick
                                                                          else list(NEURONS))
    steps = args.steps or (100 if args.quick else STEPS)

    ms: dict[str, float] = {}
    ratios: dict[str, float] = {}
    for n in sizes:
        x = (torch.randn(BATCH, steps, n, generator=torch.Generator().manual_seed(0)) * 2).to(device)
        contenders = {"ours": ours(n, device)}
        if args.compile:
            contenders["ours_compiled"] = ours(n, device, compiled=True)
        contenders["snntorch_Leaky"] = snntorch_leaky(n, device)
        try:
            contenders["rockpool_LIFTorch"] = rockpool_lif(n, device)
        except ImportError as exc:
            print(f"Rockpool skipped ({exc})", file=sys.stderr)
        steps_of = {name: step_of(fwd, x, module) for name, (module, fwd) in contenders.items()}
        for step in steps_of.values():  # warm-up (and compilation)
            step()
        times: dict[str, list[float]] = {name: [] for name in steps_of}
        for _ in range(args.repeats):
            for name, step in steps_of.items():
                start = time.perf_counter()
                step()
                times[name].append((time.perf_counter() - start) * 1e3)
        for name, values in times.items():
            ms[f"{name}_{n}"] = statistics.median(values)
        ratios[f"ours_vs_snntorch_{n}"] = ms[f"ours_{n}"] / ms[f"snntorch_Leaky_{n}"]
        if f"rockpool_LIFTorch_{n}" in ms:
            ratios[f"ours_vs_rockpool_{n}"] = ms[f"ours_{n}"] / ms[f"rockpool_LIFTorch_{n}"]
        if device.type == "cuda" and n in NEURONS and steps == STEPS:
            best = min(ms[f"ours_{n}"], ms.get(f"ours_compiled_{n}", float("inf")))
            ratios[f"ours_vs_spyx_fp32_anchor_{n}"] = best / ANCHORS["spyx_fp32"][NEURONS.index(n)]
        del contenders, steps_of, x
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if device.type == "cuda":
        ratios.update(agreement(min(sizes), min(steps, 100), device))

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"Linear + LIF, batch {BATCH}, T {steps}, forward + backward, {name}, median of {args.repeats}")
    for key, value in ms.items():
        print(f"  {key:<30} {value:10.2f} ms")
    for key, value in ratios.items():
        print(f"  {key:<30} {value:10.4f}")
    write_results(args.json, ms, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
