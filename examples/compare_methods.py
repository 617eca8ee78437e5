"""Compare training methods on the embedded corpus: clean accuracy, targeted attack, random mismatch.

    python examples/compare_methods.py [--methods standard,noise,dropout,awp,adversarial] [--epochs 8]
"""

from __future__ import annotations

import argparse

import robust_snn
from robust_snn import NetworkConfig, SNNClassifier, TrainConfig, fit, make_method
from robust_snn.attack import AttackConfig, evaluate_attack
from robust_snn.devices import evaluate_ensemble


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="standard,noise,dropout,awp,adversarial")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--data", default="synth-kws")
    parser.add_argument("--chips", type=int, default=32)
    args = parser.parse_args(argv)

    train, val, test = (robust_snn.load_dataset(args.data, s) for s in ("train", "val", "test"))
    rows = {}
    for name in args.methods.split(","):
        model = SNNClassifier(NetworkConfig(n_in=train[0][0].shape[-1], hidden=(args.hidden,),
                                            n_classes=len(train.classes), recurrent=True))
        fit(model, train, val, make_method(name), TrainConfig(epochs=args.epochs, lr=2e-3), progress=False)
        attack = evaluate_attack(model, test, AttackConfig(eps=0.1, divergence="ce"), repeats=1)
        chips = evaluate_ensemble(model, "gaussian-30", test, n_chips=args.chips, progress=False)
        rows[name] = {"clean": attack["nominal_accuracy"], "attacked_eps0.1": attack["attacked_accuracy"],
                      "gaussian30_mean": chips.mean_accuracy, "gaussian30_min": chips.min_accuracy}
    print(f"{'method':<14} {'clean':>6} {'attacked':>9} {'zeta .3 mean':>13} {'zeta .3 min':>12}")
    for name, r in rows.items():
        print(f"{name:<14} {r['clean']:6.3f} {r['attacked_eps0.1']:9.3f} {r['gaussian30_mean']:13.3f} "
              f"{r['gaussian30_min']:12.3f}")
    return rows


if __name__ == "__main__":
    from robust_snn.cli_guards import run_as_command

    run_as_command(main)  # a missing path or bad spec: one line on stderr, exit status 2, as the CLI
