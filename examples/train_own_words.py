"""Your own keywords, no code: train on a folder of WAV files, score on a chip line, compare standard and robust.

    python examples/train_own_words.py my_words [--device dynapse2] [--epochs 10] [--chips 100]

``my_words`` holds one sub-folder of WAV files per word (``my_words/lights_on/*.wav``, ...; any sample rate and
length), read with the ``folder:`` data spec: classes are the sub-folder names, the split is the folder's
``validation_list.txt`` / ``testing_list.txt`` or else a seeded stratified 10% each for val and test. Trains the
default chip-sized network (16 log-mel channels -> 48 recurrent LIF neurons, fan-in 63) with ``standard`` and
with ``adversarial`` training, writes both models, and prints each one's readiness score card on the device.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import robust_snn
from robust_snn import NetworkConfig, SNNClassifier, TrainConfig, fit, make_method
from robust_snn.errors import USER_ERRORS
from robust_snn.readiness.scorecard import EnsembleSettings, Scored, score_card


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="folder of class sub-folders of WAV files")
    parser.add_argument("--device", default="dynapse2", help="device profile to score on (robust-snn devices)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--chips", type=int, default=100)
    parser.add_argument("--methods", default="standard,adversarial")
    parser.add_argument("--out-dir", default="own_words_models")
    args = parser.parse_args(argv)

    spec = f"folder:{args.folder}"
    train, val, test = (robust_snn.load_dataset(spec, split) for split in ("train", "val", "test"))
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cards = {}
    for name in args.methods.split(","):
        model = SNNClassifier(NetworkConfig(n_in=train.frontend.n_out, hidden=(48,), n_classes=len(train.classes),
                                            recurrent=True, dt=train.dt, seed=0))
        method = make_method(name)
        fit(model, train, val, method, TrainConfig(epochs=args.epochs), progress=False)
        path = out_dir / f"{name}.rsnn"
        robust_snn.save_model(path, model, method=method.describe(), data=spec, classes=list(train.classes),
                              front_end=train.frontend.to_dict())
        cards[name] = card = score_card(Scored(model, test, str(path)), args.device,
                                        EnsembleSettings(n_chips=args.chips))
        row = card.to_dict()  # the readiness JSON
        lo, hi = row["yield_ci95"]
        print(f"{name:<12} classes {', '.join(train.classes)}: nominal {row['nominal_accuracy']:.3f}, "
              f"mean chip {row['mean_accuracy']:.3f}, yield {row['yield']:.2f} [{lo:.2f}, {hi:.2f}] on "
              f"{row['device']}: {row['grade']}")
    return cards


if __name__ == "__main__":
    try:
        main()
    except USER_ERRORS as exc:  # the CLI's one-line error and exit status 2, not a traceback
        print(f"{Path(sys.argv[0]).name}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
