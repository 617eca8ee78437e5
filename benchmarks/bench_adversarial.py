"""Cost of one adversarial training step, against our standard step and Rockpool's JAX ``adversarial_loss``.

Benchmark (issue "Robust training", item 4): 16 inputs -> 64 LIF -> 10 LIF, T = 100, batch 128, 2 threads,
one training step = loss + gradient + Adam update; attack of 10 steps at eps 0.1 on weights and biases.
Contenders, measured round-robin in blocks of ``--block`` steps (one unmeasured step first, so that a
contender does not pay for the previous one's spinning threads) in one process, median of ``--repeats``:

- ``standard``: our cross-entropy step;
- ``adversarial``: our 10-step adversarial step (the paper's method);
- ``adversarial_warm``: our cheaper schedule (3 steps, warm-started from the previous batch);
- ``standard_compiled`` / ``adversarial_compiled``: the same two steps with the model compiled for gradient
  passes (``robust_snn.core.compile_for_training``, its default: the LIF layers' fused scan as custom ops,
  Inductor fusing what lies around them; every attack gradient and the loss run through it), as
  ``fit(..., compile=True)`` trains. JAX's contenders are jit-compiled, so this is the like-for-like pair; the
  eager rows stay for users who do not compile. Compile times (first two steps) go to stderr;
  ``--no-compile`` skips these contenders; ``--unrolled`` adds ``standard_compiled_unrolled`` /
  ``adversarial_compiled_unrolled`` (``unroll=True``: the LIF loops unrolled into the graph and fused by
  Inductor, forward and backward; compiles for minutes);
- ``rockpool_jax_standard`` / ``rockpool_jax_adversarial``: Rockpool's ``LinearJax``/``LIFJax`` network,
  a jitted plain step and a jitted ``rockpool.training.adversarial_jax.adversarial_loss`` step
  (``attack_steps=10``). Needs ``pip install jax jaxlib`` (an optional benchmark dependency); skipped if absent.

Equal work: both attack and train the same families (weights and biases; Rockpool's ``LinearJax`` gets
``has_bias=True``), same network, batch, steps and attack length. Rockpool runs one network pass more
(13 against our 12), so ``adversarial_vs_rockpool_jax_per_pass`` divides each by its passes.

Ratios (ours / theirs): ``adversarial_vs_standard`` (target <= steps + 3 = 13), ``adversarial_vs_rockpool_jax``
(issue 17 target: <= 0.5 with equal work), ``adversarial_vs_rockpool_jax_per_pass``, plus ``warm_vs_standard``;
compiled: ``adversarial_compiled_vs_rockpool_jax`` (compiled against jit), its ``_per_pass`` form,
``adversarial_compiled_vs_standard_compiled``, ``adversarial_compiled_vs_eager`` and, with ``--unrolled``,
``adversarial_compiled_vs_unrolled``.

Memory: by default the process first calls :func:`robust_snn.retain_freed_memory`, as the command line does
(every contender shares it); ``--malloc default`` keeps glibc's defaults.

Usage: ``python benchmarks/bench_adversarial.py [--json FILE|-] [--repeats N] [--threads N] [--no-compile]
[--unrolled] [--malloc retain|default]``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Callable

import torch
from torch import nn

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_core import BATCH, N_HID, N_IN, N_OUT, T, Ours, method_step, time_interleaved, write_results  # noqa: E402


#: Network passes (forward or backward through the whole network over all steps) per adversarial step with a
#: 10-step attack: ours 12 (clean and attacked forward, 10 attack gradients, as the method's docstring counts);
#: Rockpool's ``adversarial_loss`` 13 (it also runs a nominal forward for the KL reference).
OUR_PASSES, ROCKPOOL_PASSES = 12, 13


class OursClassifier(nn.Module):
    """The core benchmark network with logits = 10 x output spike rate (the same loss for every contender)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = Ours()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean(1) * 10


def our_step(method_name: str, hyper: dict, compiled: bool = False, unroll: bool = False) -> Callable[[], None]:
    from robust_snn.core import compile_for_training
    from robust_snn.training import make_method

    model = OursClassifier()
    if compiled:
        compile_for_training(model, unroll=unroll)
    method = make_method(method_name, hyper)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, T, N_IN, generator=g) * 2
    y = torch.randint(0, N_OUT, (BATCH,), generator=g)
    return method_step(model, method, x, y)


def rockpool_jax_steps() -> dict[str, Callable[[], None]]:
    import jax
    import jax.numpy as jnp
    from jax.example_libraries import optimizers
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFJax, LinearJax
    from rockpool.training.adversarial_jax import adversarial_loss

    # Weights and biases (LinearJax has no bias unless asked), trained and attacked, as ours: equal work.
    # Time constants and thresholds stay fixed.
    net = Sequential(LinearJax((N_IN, N_HID), has_bias=True), LIFJax((N_HID,), dt=1e-3),
                     LinearJax((N_HID, N_OUT), has_bias=True), LIFJax((N_OUT,), dt=1e-3))
    params = {k: v for k, v in net.parameters().items() if "LinearJax" in k}
    rng = jax.random.PRNGKey(0)
    x = jnp.asarray(jax.random.normal(rng, (BATCH, T, N_IN)) * 2)
    y = jax.nn.one_hot(jax.random.randint(rng, (BATCH,), 0, N_OUT), N_OUT)

    def logits_of(p):  # noqa: ANN001, ANN202
        out, _, _ = net.reset_state().set_attributes(p)(x)
        return out.mean(1) * 10

    # Rockpool calls ``loss(target, output)``.
    def task_loss(target, output):  # noqa: ANN001, ANN202
        return -jnp.mean(jnp.sum(target * jax.nn.log_softmax(output.mean(1) * 10), axis=-1))

    def kl(nominal, attacked):  # noqa: ANN001, ANN202
        p = jax.nn.softmax(nominal.mean(1) * 10)
        q = jax.nn.softmax(attacked.mean(1) * 10)
        return jnp.mean(jnp.sum(p * (jnp.log(jnp.maximum(p, 1e-6)) - jnp.log(jnp.maximum(q, 1e-6))), axis=-1))

    def plain(p):  # noqa: ANN001, ANN202
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits_of(p)), axis=-1))

    def adversarial(p, key):  # noqa: ANN001, ANN202
        return adversarial_loss(p, net, x, y, task_loss, kl, key, mismatch_level=0.1, beta_robustness=0.5,
                                attack_steps=10)

    init, update, get = optimizers.adam(1e-3)
    states = {"plain": init(params), "adv": init(params)}

    @jax.jit
    def plain_step(state, i):  # noqa: ANN001, ANN202
        grads = jax.grad(plain)(get(state))
        return update(i, grads, state)

    @jax.jit
    def adv_step(state, i, key):  # noqa: ANN001, ANN202
        grads = jax.grad(adversarial)(get(state), key)
        return update(i, grads, state)

    def run_plain() -> None:
        states["plain"] = plain_step(states["plain"], 0)
        jax.block_until_ready(states["plain"])

    def run_adv() -> None:
        states["adv"] = adv_step(states["adv"], 0, rng)
        jax.block_until_ready(states["adv"])

    return {"rockpool_jax_standard": run_plain, "rockpool_jax_adversarial": run_adv}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="write {ms, ratios} JSON to FILE ('-' for stdout)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--block", type=int, default=3, help="consecutive measured steps per contender turn")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled contenders")
    parser.add_argument("--unrolled", action="store_true",
                        help="also time compile_for_training(unroll=True) (compiles for minutes)")
    parser.add_argument("--malloc", choices=("retain", "default"), default="retain",
                        help="retain: robust_snn.retain_freed_memory() first (as the CLI); default: glibc's")
    args = parser.parse_args(argv)
    if args.malloc == "retain":
        from robust_snn import retain_freed_memory

        retain_freed_memory()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    adversarial = {"eps": 0.1, "steps": 10, "beta": 0.5}
    steps: dict[str, Callable[[], None]] = {
        "standard": our_step("standard", {}),
        "adversarial": our_step("adversarial", adversarial),
        "adversarial_warm": our_step("adversarial-warm", {"eps": 0.1, "beta": 0.5}),
    }
    if not args.no_compile:
        compiled = [("standard_compiled", "standard", {}, False),
                    ("adversarial_compiled", "adversarial", adversarial, False)]
        if args.unrolled:
            compiled += [("standard_compiled_unrolled", "standard", {}, True),
                         ("adversarial_compiled_unrolled", "adversarial", adversarial, True)]
        for name, method, hyper, unroll in compiled:
            start = time.perf_counter()
            steps[name] = our_step(method, hyper, compiled=True, unroll=unroll)
            steps[name]()
            steps[name]()
            print(f"  compile {name} (first two steps): {time.perf_counter() - start:.1f} s", file=sys.stderr,
                  flush=True)
    try:
        steps.update(rockpool_jax_steps())
    except ImportError as exc:
        print(f"Rockpool JAX contenders skipped ({exc}); pip install jax jaxlib to include them", file=sys.stderr)
    print("warming up (jax.jit compiles the Rockpool steps first) ...", file=sys.stderr)
    ms = time_interleaved(steps, args.warmup, args.repeats, block=args.block)
    ratios = {
        "adversarial_vs_standard": ms["adversarial"] / ms["standard"],
        "warm_vs_standard": ms["adversarial_warm"] / ms["standard"],
    }
    if "rockpool_jax_adversarial" in ms:
        ratios["adversarial_vs_rockpool_jax"] = ms["adversarial"] / ms["rockpool_jax_adversarial"]
        ratios["adversarial_vs_rockpool_jax_per_pass"] = (
            (ms["adversarial"] / OUR_PASSES) / (ms["rockpool_jax_adversarial"] / ROCKPOOL_PASSES))
        ratios["rockpool_jax_adversarial_vs_standard"] = ms["rockpool_jax_adversarial"] / ms["rockpool_jax_standard"]
    if "adversarial_compiled" in ms:
        ratios["adversarial_compiled_vs_standard_compiled"] = ms["adversarial_compiled"] / ms["standard_compiled"]
        ratios["adversarial_compiled_vs_eager"] = ms["adversarial_compiled"] / ms["adversarial"]
        if "adversarial_compiled_unrolled" in ms:
            ratios["adversarial_compiled_vs_unrolled"] = ms["adversarial_compiled"] / ms["adversarial_compiled_unrolled"]
        if "rockpool_jax_adversarial" in ms:
            ratios["adversarial_compiled_vs_rockpool_jax"] = ms["adversarial_compiled"] / ms["rockpool_jax_adversarial"]
            ratios["adversarial_compiled_vs_rockpool_jax_per_pass"] = (
                (ms["adversarial_compiled"] / OUR_PASSES) / (ms["rockpool_jax_adversarial"] / ROCKPOOL_PASSES))

    print(f"\n16 -> {N_HID} LIF -> {N_OUT} LIF, T={T}, batch {BATCH}, {args.threads} threads, "
          f"median of {args.repeats} training steps")
    for name, value in ms.items():
        print(f"{name:<28} {value:9.2f} ms")
    print("ratios:")
    for name, value in ratios.items():
        print(f"  {name:<38} {value:.3f}")
    write_results(args.json, ms, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
