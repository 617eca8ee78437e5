"""Per-chip ensemble evaluation: chips batched into one pass against the fastest Python loop over chips.

Benchmark (issue 5, re-headlined in issue 17): the demo-size network 16 -> 64 recurrent CuBa-LIF -> 8,
T = 100 steps, ``--samples`` random inputs, 64 chips of a device profile (``gaussian-10`` by default: no read
noise, so every path evaluates exactly the same chips). Every path runs through
:func:`robust_snn.devices.evaluate_ensemble` on the same data:

- ``looped``: ``vectorise=False, chunk_size=1``, one batch of all ``--samples`` per chip: a Python loop over
  chips through ``functional_forward`` (a full batch per chip: per-step dispatch is paid once per chip, not
  once per chip and mini-batch);
- ``looped_one_chunk``: the same loop with every chip in one chunk (``chunk_size`` 64), so the data batch is
  taken and the chips are made once, then run one by one (measured 10-20% faster than ``looped``). The best
  loop, the denominator of every ratio, is the faster of the two (median against median);
- ``vectorised``: our classifier chip-batched (:mod:`robust_snn.core.chip_batch`: the chip axis folded into
  the input product, products with spikes by table look-up; on the CPU each step, look-up included, one call
  of the C library :mod:`robust_snn.core.lif_scan_cpu`; no ``torch.compile``), at the score card's own
  setting: ``chunk_size`` 16, ``batch_size`` 256 (:func:`robust_snn.readiness.score_card`'s defaults). On
  ``N`` > 1 threads it runs groups of chips in ``N`` threads of one intra-op thread each, where the loop uses
  torch's ``N`` intra-op threads;
- ``vectorised_lif_step``: ``vectorised`` with the fused C step switched off
  (``chip_batch.use_fused_step = False``): each step as PyTorch operations (:func:`~robust_snn.core.lif_step.
  lif_step`, the look-up's codes and ``embedding_bag``), what chip-batching gains apart from the C step (the
  loop's scan is one C call per layer and chip, :mod:`robust_snn.core.lif_scan_cpu`, recurrent layers
  included since 2026-12-01);
- ``vectorised_chunk32_batch32``: the same at ``evaluate_ensemble``'s defaults (chunk 32, batch 32; frozen
  chips, so the eight batches of a chunk run as one pass of 32 chips x 256 samples, ``MERGED_ROWS``);
- ``vmapped``: the same network as a subclass, which ``evaluate_ensemble`` runs through the generic path for
  foreign modules, chunk 16, batch 256; its loop is ``looped`` (the same ``functional_forward`` a foreign
  module's loop runs). On batches above ``VMAP_MAX_BATCH`` (96) samples the generic path runs the chips one
  by one (measured faster than ``vmap`` there), so at 256 this is that loop plus the ``vmap`` probe, on
  torch's ``N`` intra-op threads like the loop (worker threads for its chips were tried and removed: see
  benchmarks/README.md);
- ``vmapped_batch64``: the generic path at batch 64, where it runs ``torch.func.vmap`` over
  ``functional_forward`` (in slices of ``VMAP_ROWS`` chip-samples), chunk 16 (threads as ``vmapped``);
- ``foreign_rockpool_looped_one_chunk`` and ``foreign_rockpool_generic``: a real foreign module, the same
  network converted to Rockpool (:func:`robust_snn.interop.to_rockpool`: ``LinearTorch`` 16 -> 64,
  ``LIFTorch`` 64 with recurrent weights, ``LinearTorch`` 64 -> 8, mean over time; eager Rockpool, nothing
  compiled). Its best loop is ``vectorise=False`` with every chip in one chunk and the full batch (the
  faster loop form for our network; Rockpool's slower loop is too slow to time on every run);
  ``foreign_rockpool_generic`` is ``evaluate_ensemble``'s default for it (chunk 16, batch 256): the chips are
  drawn on the Rockpool module's parameters and run chip-batched on its twin, our classifier with the same
  dynamics (:class:`robust_snn.interop.rockpool.ChipBatchedTwin`, checked against the module on the first
  batch); before the twin, ``vmap`` could not trace ``LIFTorch`` (it reads tensor storage) and the chips ran
  one by one (1.00-1.04x its loop). Rockpool names and lays out its parameters differently, so its chips are
  other draws than ours: its accuracies are checked against its own loop's.

Each thread count in ``--threads`` (default ``2,1``) is measured in turn; within one, the contenders run
round-robin (one run each in turn, ``--repeats`` times, after a warm-up run) so that load from elsewhere on the
machine falls on all alike; the median is reported. Their per-chip accuracies are checked to be identical.

Ratios, for each thread count ``N`` (suffix ``_Nt``): ``vectorised_vs_best_loop`` = best loop / vectorised (the
target: >= 3), ``vectorised_batch32_vs_best_loop``, ``vectorised_lif_step_vs_best_loop``, ``vmapped_vs_best_loop`` (target >= 1.5),
``vmapped_batch64_vs_best_loop``, ``foreign_rockpool_vs_best_loop`` (Rockpool's loop / Rockpool's generic
path; target >= 1.5), each of wall-clock
medians (the targets) and, with ``_cpu``, of the process's CPU time (``time.process_time``: what each contender
consumed, less sensitive to other processes taking the cores, though not to their use of the caches); and the
activity of the hidden layer on these inputs, ``spike_fraction`` (spikes per neuron and step) and
``silent_rows`` (fraction of (sample, step) rows with no spike), which decide whether event-driven products
could pay. With more than one thread count, ``vectorised_vs_best_loop_any_threads`` and
``vmapped_vs_best_loop_any_threads`` and ``foreign_rockpool_vs_best_loop_any_threads``: the fastest loop at any
measured thread count / the contender's fastest (the honest figure on a busy machine, where the loop's
intra-op threads collapse); with thread counts 1 and 2, ``vmapped_2t_vs_1t`` and ``foreign_rockpool_2t_vs_1t``:
the generic path on one thread / on two (what its second intra-op thread gains).

A contender whose warm-up run takes over ``--max-repeat-s`` seconds (default 20: a loop whose intra-op threads
collapsed on a busy machine takes minutes) is timed once, by its warm-up run, and the script says which.

Memory: by default the process first calls :func:`robust_snn.retain_freed_memory`, as the command line does
(every contender shares it); ``--malloc default`` keeps glibc's defaults.

Usage: ``python benchmarks/bench_ensemble.py [--json FILE|-] [--repeats N] [--threads 2,1] [--samples S]
[--max-repeat-s S] [--malloc retain|default]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from typing import Callable

import torch
from torch.utils.data import TensorDataset

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_core import write_results  # noqa: E402

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import evaluate_ensemble
from robust_snn.interop.rockpool import to_rockpool

N_IN, N_HID, N_OUT, T, CHIPS = 16, 64, 8, 100, 64
SCORECARD_CHUNK, SCORECARD_BATCH = 16, 256


def activity(model: SNNClassifier, x: torch.Tensor) -> dict[str, float]:
    """Spikes per neuron and step, and the fraction of (sample, step) rows without a spike, per hidden layer."""
    with torch.no_grad():
        spikes = model.hidden_spikes(x)
    out = {}
    for i, s in enumerate(spikes):
        out[f"spike_fraction_layer{i}"] = float(s.mean())
        out[f"silent_rows_layer{i}"] = float((s.sum(-1) == 0).float().mean())
    return out


def timed(fn: Callable[[], object], wall: list[float], cpu: list[float]) -> object:
    """``fn()``, appending its wall-clock and process CPU time (ms) to ``wall`` and ``cpu``."""
    start, start_cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():  # Rockpool's fallback from vmap to the chip loop, said on every run
        warnings.simplefilter("ignore")
        result = fn()
    wall.append((time.perf_counter() - start) * 1e3)
    cpu.append((time.process_time() - start_cpu) * 1e3)
    return result


def with_lif_step(run: Callable[[], object]) -> Callable[[], object]:
    """``run`` with the chip-batched path's fused C step off: each step as lif_step's PyTorch operations and
    the look-up's (what the chip-batching itself gains, apart from the C step)."""
    import robust_snn.core.chip_batch as chip_batch

    def wrapped() -> object:
        chip_batch.use_fused_step = False
        try:
            return run()
        finally:
            chip_batch.use_fused_step = True

    return wrapped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="write results as JSON ('-' for stdout)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--profile", default="gaussian-10")
    parser.add_argument("--threads", default="2,1", help="comma-separated torch thread counts to measure")
    parser.add_argument("--max-repeat-s", type=float, default=20.0,
                        help="a contender whose warm-up run takes longer is timed once, by that run")
    parser.add_argument("--malloc", choices=("retain", "default"), default="retain",
                        help="retain: robust_snn.retain_freed_memory() first (as the CLI); default: glibc's")
    args = parser.parse_args(argv)
    if args.malloc == "retain":
        from robust_snn import retain_freed_memory

        retain_freed_memory()
    thread_counts = [int(t) for t in args.threads.split(",")]

    g = torch.Generator().manual_seed(0)
    model = SNNClassifier(NetworkConfig(n_in=N_IN, hidden=(N_HID,), n_classes=N_OUT, recurrent=True, dt=0.01))
    data = TensorDataset(torch.randn(args.samples, T, N_IN, generator=g) * 2,
                         torch.randint(0, N_OUT, (args.samples,), generator=g))

    class Generic(SNNClassifier):
        """The same network as a subclass: evaluate_ensemble's generic vmap path, not the chip-batched one."""

    generic = Generic(model.config)
    generic.load_state_dict(model.state_dict())

    rockpool = to_rockpool(model)  # the same network as Rockpool LinearTorch/LIFTorch modules

    def ensemble(net: torch.nn.Module = model, **kw) -> Callable[[], object]:  # noqa: ANN003
        base = dict(n_chips=CHIPS, seed=0, progress=False)
        return lambda: evaluate_ensemble(net, args.profile, data, **{**base, **kw})

    contenders = {
        "looped": ensemble(chunk_size=1, vectorise=False, batch_size=args.samples),
        "looped_one_chunk": ensemble(chunk_size=CHIPS, vectorise=False, batch_size=args.samples),
        "vectorised": ensemble(chunk_size=SCORECARD_CHUNK, batch_size=SCORECARD_BATCH),
        "vectorised_chunk32_batch32": ensemble(chunk_size=32, batch_size=32),
        "vectorised_lif_step": with_lif_step(ensemble(chunk_size=SCORECARD_CHUNK, batch_size=SCORECARD_BATCH)),
        "vmapped": ensemble(generic, chunk_size=SCORECARD_CHUNK, batch_size=SCORECARD_BATCH),
        "vmapped_batch64": ensemble(generic, chunk_size=SCORECARD_CHUNK, batch_size=64),
        "foreign_rockpool_looped_one_chunk": ensemble(rockpool, chunk_size=CHIPS, vectorise=False,
                                                      batch_size=args.samples),
        "foreign_rockpool_generic": ensemble(rockpool, chunk_size=SCORECARD_CHUNK, batch_size=SCORECARD_BATCH),
    }
    foreign = {"foreign_rockpool_looped_one_chunk", "foreign_rockpool_generic"}
    ms: dict[str, float] = {}
    ratios: dict[str, float] = activity(model.eval(), data.tensors[0])
    for threads in thread_counts:
        torch.set_num_threads(threads)
        # The warm-up run of each contender (timed), and the equality check.
        results, times, cpu = {}, {name: [] for name in contenders}, {name: [] for name in contenders}
        for name, fn in contenders.items():
            results[name] = timed(fn, times[name], cpu[name])
        # A contender whose warm-up took over --max-repeat-s (a loop on intra-op threads that collapsed under
        # load: a minute and more) is timed once, by that run; the others drop the warm-up and repeat.
        slow = {name for name in contenders if times[name][0] > args.max_repeat_s * 1e3}
        for name in contenders:
            if name not in slow:
                times[name].clear()
                cpu[name].clear()
        if slow:
            print(f"timed once ({threads} threads, warm-up over {args.max_repeat_s:g} s): {', '.join(sorted(slow))}")
        for name, result in results.items():
            reference = results["foreign_rockpool_looped_one_chunk" if name in foreign else "looped"]
            if result.per_chip_accuracy != reference.per_chip_accuracy:
                print(f"error: {name} per-chip accuracies differ from the loop's ({threads} threads)", file=sys.stderr)
                return 1
        for _ in range(args.repeats):
            for name, fn in contenders.items():
                if name not in slow:
                    timed(fn, times[name], cpu[name])
        tag = f"_{threads}t"
        for name, values in times.items():
            ms[name + tag] = statistics.median(values)
            ms[name + "_cpu" + tag] = statistics.median(cpu[name])
        loops = ("looped", "looped_one_chunk")
        best, best_cpu = (min(ms[loop + suffix + tag] for loop in loops) for suffix in ("", "_cpu"))
        for ratio, name in (("vectorised_vs_best_loop", "vectorised"),
                            ("vectorised_batch32_vs_best_loop", "vectorised_chunk32_batch32"),
                            ("vectorised_lif_step_vs_best_loop", "vectorised_lif_step"),
                            ("vmapped_vs_best_loop", "vmapped"),
                            ("vmapped_batch64_vs_best_loop", "vmapped_batch64")):
            ratios[ratio + tag] = best / ms[name + tag]
            ratios[ratio + "_cpu" + tag] = best_cpu / ms[name + "_cpu" + tag]
        for suffix in ("", "_cpu"):  # the foreign module against its own loop
            ratios["foreign_rockpool_vs_best_loop" + suffix + tag] = (
                ms["foreign_rockpool_looped_one_chunk" + suffix + tag] / ms["foreign_rockpool_generic" + suffix + tag])

    if len(thread_counts) > 1:
        # Against the fastest loop at any thread count measured: under contention the loop's intra-op threads
        # collapse (barriers wait for descheduled threads) while the chip groups do not, so the per-count ratio
        # above would credit the chip-batched path with the loop's collapse; this one does not.
        loop_any = min(ms[f"{loop}_{t}t"] for loop in ("looped", "looped_one_chunk") for t in thread_counts)
        for ratio, name in (("vectorised_vs_best_loop_any_threads", "vectorised"),
                            ("vmapped_vs_best_loop_any_threads", "vmapped")):
            ratios[ratio] = loop_any / min(ms[f"{name}_{t}t"] for t in thread_counts)
        ratios["foreign_rockpool_vs_best_loop_any_threads"] = (
            min(ms[f"foreign_rockpool_looped_one_chunk_{t}t"] for t in thread_counts)
            / min(ms[f"foreign_rockpool_generic_{t}t"] for t in thread_counts))
    if {1, 2} <= set(thread_counts):  # what the generic path gains from a second thread
        for name in ("vmapped", "foreign_rockpool_generic"):
            ratios[f"{name.removesuffix('_generic')}_2t_vs_1t"] = ms[f"{name}_1t"] / ms[f"{name}_2t"]

    print(f"{CHIPS} chips of {args.profile!r}, {args.samples} samples x {T} steps, {N_IN}->{N_HID} rec->{N_OUT}, "
          f"threads {thread_counts}, median of {args.repeats}, malloc {args.malloc}")
    for name, value in ms.items():
        print(f"  {name:<40} {value:9.1f} ms")
    for name, value in ratios.items():
        print(f"  {name:<40} {value:7.3f}")
    write_results(args.json, ms, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
