"""Training-step speed of our CuBa-LIF core against Rockpool and snntorch, side by side in one process.

Benchmark (issue "Foundation", item 6): 16 inputs -> 64 LIF -> 10 LIF, T = 100 steps, batch 128, one
training step = forward + cross-entropy on the output spike counts + backward + Adam step, 2 threads.
Every contender runs the same network shape and the same loss and trains the same parameters: weights and
biases (our default and the paper's; snntorch's default; Rockpool would also train its time constants and
thresholds, which we freeze for it so that all do the same work). ``ours_eager_all_trainable`` shows our cost
when time constants and thresholds are trained too. The median over ``--repeats`` steps is reported after
``--warmup`` steps, all contenders measured round-robin in blocks of ``--block`` steps (each block after one
unmeasured step) so that noise from other load on the machine falls on all of them alike. Ratios are ours divided by theirs (lower is better):

- ``eager_vs_rockpool``: ours eager / Rockpool ``LinearTorch`` + ``LIFTorch``
- ``eager_vs_snntorch_synaptic``: ours eager / snntorch ``Synaptic``
- ``compiled_vs_rockpool``: ours under ``compile_model`` (its default since 2026-12-01, ``unroll=False``: the
  fused scan as the custom op ``robust_snn::lif_scan``, no graph break, its loop as in eager mode, Inductor
  fusing what lies around it) / Rockpool eager (target <= 1/28 = 0.036)
- ``compiled_vs_snntorch_synaptic_compiled``: ours compiled / snntorch ``Synaptic`` under ``torch.compile``
  (like for like; target <= 1/3)
- ``compiled_vs_eager``: ours compiled / ours eager
- ``compiled_unrolled_vs_rockpool``, ``compiled_vs_unrolled``: ours under ``compile_model(unroll=True)``
  (``ours_compiled_unrolled``: the op-by-op time loop unrolled into the graph and fused by Inductor; compiles
  for 30 s to minutes), the former default
- ``eager_cpu_kernels_vs_loop``: ours eager (the scan's compiled C loops, :mod:`robust_snn.core.lif_scan_cpu`)
  / the same with them switched off (``ours_eager_loop``: the per-step Python loop)

Memory: by default the process first calls :func:`robust_snn.retain_freed_memory` (glibc keeps freed blocks for
reuse, as the command line does), which every contender in the process then shares; ``--malloc default`` keeps
glibc's defaults.

Compiled contenders print their compile time (first two steps) to stderr. ``--inductor-options JSON`` passes
the same Inductor options (``torch.compile(options=...)``, e.g. ``'{"cpp_wrapper": true}'``) to every compiled
contender, ours and snntorch's alike.

Usage: ``python benchmarks/bench_core.py [--json FILE|-] [--repeats N] [--threads N] [--no-compile]
[--inductor-options JSON] [--malloc retain|default]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from typing import Any, Callable

import torch
from torch import nn

N_IN, N_HID, N_OUT, T, BATCH = 16, 64, 10, 100, 128


class Ours(nn.Module):
    def __init__(self, all_trainable: bool = False) -> None:
        super().__init__()
        from robust_snn.core import LIFLayer, set_trainable

        g = torch.Generator().manual_seed(0)
        self.l1 = LIFLayer(N_IN, N_HID, dt=1e-3, tau_mem=0.02, tau_syn=0.01, generator=g)
        self.l2 = LIFLayer(N_HID, N_OUT, dt=1e-3, tau_mem=0.02, tau_syn=0.01, generator=g)
        if not all_trainable:
            set_trainable(self, ("weights", "biases"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(self.l1(x))


class Rockpool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        from rockpool.nn.combinators import Sequential
        from rockpool.nn.modules import LIFTorch, LinearTorch

        self.net = Sequential(
            LinearTorch((N_IN, N_HID)), LIFTorch((N_HID,), dt=1e-3),
            LinearTorch((N_HID, N_OUT)), LIFTorch((N_OUT,), dt=1e-3),
        )
        for name, param in self.net.named_parameters():
            param.requires_grad_(name.endswith(("weight", "bias")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.net.reset_state()
        out, _, _ = self.net(x)
        return out


class SnnTorch(nn.Module):
    def __init__(self, synaptic: bool) -> None:
        super().__init__()
        import snntorch as snn

        self.synaptic = synaptic
        self.fc1, self.fc2 = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_OUT)
        make = (lambda: snn.Synaptic(alpha=0.9, beta=0.95)) if synaptic else (lambda: snn.Leaky(beta=0.95))
        self.lif1, self.lif2 = make(), make()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.synaptic:
            s1, m1 = self.lif1.init_synaptic()
            s2, m2 = self.lif2.init_synaptic()
        else:
            m1, m2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        cur1 = self.fc1(x)  # one matmul for all time steps
        out = []
        for c in cur1.unbind(1):
            if self.synaptic:
                spk1, s1, m1 = self.lif1(c, s1, m1)
                spk2, s2, m2 = self.lif2(self.fc2(spk1), s2, m2)
            else:
                spk1, m1 = self.lif1(c, m1)
                spk2, m2 = self.lif2(self.fc2(spk1), m2)
            out.append(spk2)
        return torch.stack(out, 1)


def make_step(model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, T, N_IN, generator=g) * 2
    y = torch.randint(0, N_OUT, (BATCH,), generator=g)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(forward(x).mean(1) * 10, y)
        loss.backward()
        opt.step()

    return step


def without_cpu_kernels(step: Callable[[], None]) -> Callable[[], None]:
    """``step`` with the scan's compiled CPU loops switched off (its per-step Python loop instead)."""
    from robust_snn.core import lif_scan

    def run() -> None:
        lif_scan.use_cpu_kernels = False
        try:
            step()
        finally:
            lif_scan.use_cpu_kernels = True

    return run


def method_step(model: nn.Module, method: Any, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """One optimiser step of a robust-snn training ``method`` (loss, backward, Adam), as ``fit`` takes it: the
    method's state (a warm-started attack's start) is threaded from step to step."""
    from robust_snn.core import physical_parameters
    from robust_snn.training.methods import Batch

    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    gen = torch.Generator().manual_seed(2)
    state = method.init(model)

    def step() -> None:
        nonlocal state
        result, state = method.update(model, physical_parameters(model), Batch(x, y, gen), state)
        opt.zero_grad(set_to_none=True)
        result.loss.backward()
        opt.step()

    return step


def write_results(dest: str | None, ms: dict[str, float], ratios: dict[str, float]) -> None:
    """The benchmark JSON of shared/CLI.md, ``{"ms": {...}, "ratios": {...}}``, to FILE or ``-`` (stdout)."""
    if not dest:
        return
    doc = json.dumps({"ms": ms, "ratios": ratios}, indent=2)
    if dest == "-":
        print(doc)
    else:
        with open(dest, "w") as fh:
            fh.write(doc + "\n")


def time_interleaved(
    steps: dict[str, Callable[[], None]], warmup: int, repeats: int, block: int = 1
) -> dict[str, float]:
    """Median ms per step of each contender, measured round-robin so machine noise hits all alike.

    Each turn runs ``block`` measured steps of one contender; with ``block > 1`` one unmeasured step
    precedes them, so a contender does not pay for the previous one's threads (XLA's pool keeps spinning
    for a while after a JAX step) or cache state.
    """
    for name, step in steps.items():
        start = time.perf_counter()
        for _ in range(warmup):
            step()
        print(f"  warm-up {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    times: dict[str, list[float]] = {name: [] for name in steps}
    rounds = -(-repeats // block)
    for _ in range(rounds):
        for name, step in steps.items():
            if block > 1:
                step()
            for _ in range(block):
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write {ms, ratios} JSON to FILE ('-' for stdout)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile contender")
    parser.add_argument("--block", type=int, default=3, help="consecutive measured steps per contender turn")
    parser.add_argument("--inductor-options", type=json.loads, default=None, metavar="JSON",
                        help="Inductor options for every compiled contender (torch.compile(options=...))")
    parser.add_argument("--malloc", choices=("retain", "default"), default="retain",
                        help="retain: robust_snn.retain_freed_memory() first (as the CLI); default: glibc's")
    args = parser.parse_args(argv)
    if args.malloc == "retain":
        from robust_snn import retain_freed_memory

        retain_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    options = {"options": args.inductor_options} if args.inductor_options else {}

    contenders: dict[str, Callable[[], None]] = {}
    ours = Ours()
    contenders["ours_eager"] = make_step(ours, ours)
    looped = Ours()
    contenders["ours_eager_loop"] = without_cpu_kernels(make_step(looped, looped))
    ours_all = Ours(all_trainable=True)
    contenders["ours_eager_all_trainable"] = make_step(ours_all, ours_all)
    if not args.no_compile:
        from robust_snn.core import compile_model

        compiled_model = Ours()
        contenders["ours_compiled"] = make_step(compiled_model, compile_model(compiled_model, **options))
        unrolled_model = Ours()
        contenders["ours_compiled_unrolled"] = make_step(
            unrolled_model, compile_model(unrolled_model, unroll=True, **options))
    rockpool = Rockpool()
    contenders["rockpool_LIFTorch"] = make_step(rockpool, rockpool)
    syn = SnnTorch(synaptic=True)
    contenders["snntorch_Synaptic"] = make_step(syn, syn)
    if not args.no_compile:
        syn_c = SnnTorch(synaptic=True)
        contenders["snntorch_Synaptic_compiled"] = make_step(syn_c, torch.compile(syn_c, dynamic=False, **options))
    leaky = SnnTorch(synaptic=False)
    contenders["snntorch_Leaky"] = make_step(leaky, leaky)

    print("warming up (torch.compile takes about a minute) ...", file=sys.stderr)
    ms = time_interleaved(contenders, args.warmup, args.repeats, block=args.block)
    ratios = {
        "eager_vs_rockpool": ms["ours_eager"] / ms["rockpool_LIFTorch"],
        "eager_vs_snntorch_synaptic": ms["ours_eager"] / ms["snntorch_Synaptic"],
        "eager_cpu_kernels_vs_loop": ms["ours_eager"] / ms["ours_eager_loop"],
    }
    if "ours_compiled" in ms:
        ratios["compiled_vs_rockpool"] = ms["ours_compiled"] / ms["rockpool_LIFTorch"]
        ratios["compiled_vs_snntorch_synaptic_compiled"] = ms["ours_compiled"] / ms["snntorch_Synaptic_compiled"]
        ratios["compiled_vs_eager"] = ms["ours_compiled"] / ms["ours_eager"]
        ratios["compiled_unrolled_vs_rockpool"] = ms["ours_compiled_unrolled"] / ms["rockpool_LIFTorch"]
        ratios["compiled_vs_unrolled"] = ms["ours_compiled"] / ms["ours_compiled_unrolled"]

    print(f"\n16 -> {N_HID} LIF -> {N_OUT} LIF, T={T}, batch {BATCH}, {args.threads} threads, "
          f"median of {args.repeats} training steps, malloc {args.malloc}")
    print(f"{'contender':<26} {'ms/step':>9}")
    for name, value in ms.items():
        print(f"{name:<26} {value:9.2f}")
    print("ratios (ours / theirs, lower is better):")
    for name, value in ratios.items():
        print(f"  {name:<28} {value:.3f}")
    write_results(args.json, ms, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
