"""Train a robust keyword spotter on Google Speech Commands v2 from a local folder, then score it.

    python examples/train_speech_commands.py ~/data/speech_commands_v0.02 [--epochs 20] [--method adversarial]

Uses the paper's task (yes, no, up, down, left, right + unknown + silence = 8 classes) with the paper's input
(40 MFCC, 30 ms windows, 10 ms stride, fed as current) and a recurrent adaptive LIF layer, then prints the
DYNAP-SE2 readiness score card of the trained network.
"""

from __future__ import annotations

import argparse

import robust_snn
from robust_snn import NetworkConfig, SNNClassifier, TrainConfig, fit, make_method
from robust_snn.readiness.scorecard import EnsembleSettings, Scored, score_card


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="Speech Commands v2 folder (with validation_list.txt, testing_list.txt)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--method", default="adversarial")
    parser.add_argument("--chips", type=int, default=100)
    parser.add_argument("--out", default="speech_commands.rsnn")
    parser.add_argument("--classes", default="paper", help="paper (8 classes), 12, 35, or a comma-separated word list")
    args = parser.parse_args(argv)

    spec = f"speech-commands:{args.folder}?classes={args.classes}&features=mfcc40"
    train, val, test = (robust_snn.load_dataset(spec, split) for split in ("train", "val", "test"))
    model = SNNClassifier(NetworkConfig(n_in=40, hidden=(args.hidden,), n_classes=len(train.classes),
                                        recurrent=True, adaptive=True, dt=train.dt))
    method = make_method(args.method)
    fit(model, train, val, method, TrainConfig(epochs=args.epochs, batch_size=100, lr=1e-3))
    robust_snn.save_model(args.out, model, method=method.describe(), data=spec, classes=list(train.classes),
                          front_end=train.frontend.to_dict())
    card = score_card(Scored(model, test, args.out), "dynapse2", EnsembleSettings(n_chips=args.chips))
    row = card.to_dict()  # the readiness JSON
    print(f"test accuracy {row['float_accuracy']:.3f}; on DYNAP-SE2: mean {row['mean_accuracy']:.3f}, "
          f"yield {row['yield']:.2f} {row['yield_ci95']}, grade {row['grade']}")
    return card


if __name__ == "__main__":
    from robust_snn.cli_guards import run_as_command

    run_as_command(main)  # a missing path or bad spec: one line on stderr, exit status 2, as the CLI
