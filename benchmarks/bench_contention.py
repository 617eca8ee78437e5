"""Speed beside another busy process: torch's default threads against the thread policy (issue 17, item 1).

Two workloads, each measured alone (``solo``) and while one competing CPU-bound process runs (``busy``: a
subprocess spinning a pure-Python loop, i.e. one core's worth of other work, as a browser, a CI neighbour or
another Ray task would be), each with two thread settings:

- ``default``: torch's default intra-op thread count on this machine (what every run used before the policy;
  found by asking a fresh interpreter with no ``OMP_NUM_THREADS`` set);
- ``policy``: :func:`robust_snn.set_threads` with no argument (one thread, ``robust_snn.runtime.threads``).

Workloads: ``train_step``, one training step of the demo network (16 -> 48 recurrent LIF -> 8, T 100, batch
64: forward, cross-entropy, backward, Adam); ``ensemble``, a 64-chip ``gaussian-10`` ensemble of the same
network on 256 samples (batch 32, chunks of 32: :func:`robust_snn.devices.evaluate_ensemble`'s defaults).

One competing process lives through the whole run and is paused (SIGSTOP) for the solo blocks and resumed
(SIGCONT) for the busy ones; for each setting and workload a solo block is directly followed by a busy block,
round after round (``--rounds``), so drift in the machine's background load falls on both conditions alike;
``ms`` are medians over all calls. The thread counts the policy's ensemble picked per chunk are printed.
Ratios (lower is better):

- ``train_step_contention_slowdown``, ``ensemble_contention_slowdown``: policy busy / policy solo (target
  <= 2.2);
- ``..._contention_slowdown_default``: the same for torch's default threads (the problem: 11x in issue 17);
- ``train_step_solo_vs_best_setting``, ``ensemble_solo_vs_best_setting``: policy solo / the fastest solo of
  the two settings (target: not worse than today's best, i.e. <= 1);
- ``..._busy_default_vs_policy``: default busy / policy busy (what the policy saves under contention).

The machine's load average is printed (stderr) before and after: on a shared machine other work adds to the
"solo" condition too. Usage: ``python benchmarks/bench_contention.py [--json FILE|-] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

SPIN = "while True:\n    pass\n"


def default_thread_count() -> int:
    """torch's default intra-op threads here: a fresh interpreter without the thread environment variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@contextlib.contextmanager
def competing_process() -> Iterator[Callable[[bool], None]]:
    """One CPU-bound process for the block, paused (SIGSTOP) and resumed (SIGCONT) by the function it yields:
    ``busy(True)`` lets it spin, ``busy(False)`` stops it. Toggling one process, block by block, pairs the solo
    and busy measurements closely in time, so the other load on a shared machine falls on both alike."""
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])

    def busy(on: bool) -> None:
        spinner.send_signal(signal.SIGCONT if on else signal.SIGSTOP)
        time.sleep(0.2)  # let the scheduler settle it on (or off) a core

    try:
        yield busy
    finally:
        spinner.kill()
        spinner.wait()


def demo_network() -> torch.nn.Module:
    from robust_snn.core import NetworkConfig, SNNClassifier

    return SNNClassifier(NetworkConfig(n_in=16, hidden=(48,), n_classes=8, recurrent=True, seed=0))


def train_step_fn() -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    model = demo_network()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    x, y = torch.randn(64, 100, 16, generator=g), torch.randint(0, 8, (64,), generator=g)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def ensemble_fn() -> Callable[[], None]:
    from torch.utils.data import TensorDataset

    from robust_snn.devices import evaluate_ensemble

    g = torch.Generator().manual_seed(1)
    model = demo_network().eval()
    data = TensorDataset(torch.randn(256, 100, 16, generator=g), torch.randint(0, 8, (256,), generator=g))
    return lambda: evaluate_ensemble(model, "gaussian-10", data, n_chips=64, chunk_size=32, batch_size=32,
                                     progress=False)


def count_widening() -> collections.Counter:
    """Record the thread count :class:`robust_snn.runtime.threads.LargeWork` picks for each ensemble chunk."""
    from robust_snn.runtime import threads

    picked: collections.Counter = collections.Counter()
    update = threads.LargeWork.update

    def recording(self: threads.LargeWork) -> int:
        n = update(self)
        if self.active:
            picked[n] += 1
        return n

    threads.LargeWork.update = recording  # type: ignore[method-assign]
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write {'ms': ..., 'ratios': ...} to FILE ('-': stdout)")
    parser.add_argument("--rounds", type=int, default=3, help="solo/busy alternations")
    parser.add_argument("--steps", type=int, default=15, help="training steps per setting per round")
    parser.add_argument("--ensembles", type=int, default=2, help="ensembles per setting per round")
    args = parser.parse_args()
    from bench_core import write_results
    from robust_snn import set_threads

    default = default_thread_count()
    settings = {"default": default, "policy": set_threads()}
    workloads = {"train_step": (train_step_fn(), args.steps), "ensemble": (ensemble_fn(), args.ensembles)}
    times = {(w, s, c): [] for w in workloads for s in settings for c in ("solo", "busy")}
    picked = count_widening()
    widening = {"solo": collections.Counter(), "busy": collections.Counter()}
    load_before = os.getloadavg()
    with competing_process() as busy:
        for _ in range(args.rounds):
            for setting, threads in settings.items():
                # The policy is set_threads() without a count (which lets the ensemble widen), not "1".
                set_threads(None if setting == "policy" else threads, interop=None)
                for workload, (fn, calls) in workloads.items():
                    for condition in ("solo", "busy"):
                        busy(condition == "busy")
                        fn()  # one unmeasured call: the previous setting's threads and caches
                        picked.clear()
                        for _ in range(calls):
                            start = time.perf_counter()
                            fn()
                            times[(workload, setting, condition)].append((time.perf_counter() - start) * 1e3)
                        widening[condition] += picked
    load_after = os.getloadavg()
    ms = {f"{w}_{s}_{c}": statistics.median(v) for (w, s, c), v in times.items()}
    ratios = {}
    for w in workloads:
        ratios[f"{w}_contention_slowdown"] = ms[f"{w}_policy_busy"] / ms[f"{w}_policy_solo"]
        ratios[f"{w}_contention_slowdown_default"] = ms[f"{w}_default_busy"] / ms[f"{w}_default_solo"]
        ratios[f"{w}_solo_vs_best_setting"] = ms[f"{w}_policy_solo"] / min(ms[f"{w}_{s}_solo"] for s in settings)
        ratios[f"{w}_busy_default_vs_policy"] = ms[f"{w}_default_busy"] / ms[f"{w}_policy_busy"]
    print(f"torch default threads {default}, policy {settings['policy']}; {args.rounds} rounds; load average "
          f"before {tuple(round(v, 2) for v in load_before)}, after {tuple(round(v, 2) for v in load_after)}",
          file=sys.stderr)
    for condition, counts in widening.items():
        print(f"  policy ensemble, {condition}: chunks per thread count {dict(sorted(counts.items()))}",
              file=sys.stderr)
    for name, value in ms.items():
        print(f"  {name}: {value:.1f} ms", file=sys.stderr)
    for name, value in ratios.items():
        print(f"  {name}: {value:.2f}", file=sys.stderr)
    write_results(args.json, ms, ratios)


if __name__ == "__main__":
    main()
