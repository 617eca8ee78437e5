"""What robustness does a cheaper attack schedule keep per unit of training cost?

Trains the same network on ``synth-kws`` with ``standard``, ``adversarial`` (10-step attack from a random start,
the paper's schedule) and ``adversarial-warm`` (3 steps, warm-started from the previous batch), same epochs and
seed, then measures on the test split:

- the worst-case accuracy under the cross-entropy parameter attack (eps 0.1, min over repeats);
- the mean accuracy under random relative Gaussian mismatch ``theta (1 + zeta N)`` of weights and biases
  (zeta 0.3, seeded draws);
- the training wall time (all runs in one process, one after another; compare ratios, not seconds).

Usage: ``python benchmarks/attack_schedule.py [--epochs 8] [--json FILE|-]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from robust_snn import NetworkConfig, SNNClassifier, TrainConfig, fit, load_dataset, make_method
from robust_snn.attack import AttackConfig, evaluate_attack
from robust_snn.core import parameter_families, physical_parameters
from robust_snn.training import evaluate


def random_mismatch_accuracy(model: SNNClassifier, data, zeta: float, draws: int, seed: int) -> float:
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    families = parameter_families(model)
    gen = torch.Generator().manual_seed(seed)
    accuracies = []
    for _ in range(draws):
        noisy = {k: (v * (1 + zeta * torch.randn(v.shape, generator=gen)) if families[k] in ("weights", "biases")
                     else v) for k, v in params.items()}
        accuracies.append(evaluate(model, data, params=noisy).accuracy)
    return sum(accuracies) / len(accuracies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--json", default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids oversubscription on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train, val, test = (load_dataset("synth-kws", s) for s in ("train", "val", "test"))
    rows = {}
    for name in ("standard", "adversarial", "adversarial-warm"):
        model = SNNClassifier(NetworkConfig(n_in=16, hidden=(64,), n_classes=8, recurrent=True, seed=args.seed))
        start = time.perf_counter()
        fit(model, train, val, make_method(name), TrainConfig(epochs=args.epochs, lr=2e-3, seed=args.seed),
            progress=False)
        seconds = time.perf_counter() - start
        attack = evaluate_attack(model, test, AttackConfig(eps=0.1, divergence="ce"), repeats=2, seed=args.seed)
        rows[name] = {
            "train_seconds": seconds,
            "test_accuracy": attack["nominal_accuracy"],
            "attacked_accuracy_eps0.1": attack["attacked_accuracy"],
            "random_accuracy_zeta0.3": random_mismatch_accuracy(model, test, 0.3, args.draws, args.seed),
        }
        print(name, {k: round(v, 4) for k, v in rows[name].items()}, file=sys.stderr, flush=True)
    base = rows["standard"]
    for name, row in rows.items():
        row["cost_vs_standard"] = row["train_seconds"] / base["train_seconds"]
        row["attack_gain_vs_standard"] = row["attacked_accuracy_eps0.1"] - base["attacked_accuracy_eps0.1"]
    full, warm = rows["adversarial"], rows["adversarial-warm"]
    summary = {
        "warm_cost_fraction": warm["train_seconds"] / full["train_seconds"],
        "warm_attack_gain_fraction": (warm["attack_gain_vs_standard"] / full["attack_gain_vs_standard"]
                                      if full["attack_gain_vs_standard"] else float("nan")),
    }
    print(f"{'method':<18} {'cost':>6} {'test':>6} {'attacked':>9} {'random 0.3':>11}")
    for name, row in rows.items():
        print(f"{name:<18} {row['cost_vs_standard']:6.2f} {row['test_accuracy']:6.3f} "
              f"{row['attacked_accuracy_eps0.1']:9.3f} {row['random_accuracy_zeta0.3']:11.3f}")
    print(f"adversarial-warm: {summary['warm_cost_fraction']:.2f} of the full attack's cost, "
          f"{summary['warm_attack_gain_fraction']:.2f} of its attacked-accuracy gain over standard")
    if args.json:
        doc = json.dumps({"epochs": args.epochs, "seed": args.seed, "rows": rows, "summary": summary}, indent=2)
        print(doc) if args.json == "-" else open(args.json, "w").write(doc + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
