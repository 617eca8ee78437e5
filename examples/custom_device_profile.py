"""Add your own chip: write a device profile (TOML data, no code) and score a model on it.

    python examples/custom_device_profile.py MODEL.rsnn [--out my-chip.toml]

The profile below describes a fictional 6-bit analog chip: weights quantised to 6 bits, then log-normal
mismatch per neuron and per synapse, time constants with a larger spread, and its resource limits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import robust_snn
from robust_snn.devices import load_profile
from robust_snn.readiness.scorecard import EnsembleSettings, Scored, score_card

PROFILE = '''name = "my-chip"
family = "subthreshold-mixed-signal"
description = "Fictional 6-bit analog chip: quantised weights, then log-normal mismatch"
source = "example figures, not a real device"

[limits]
neurons = 512
fan_in = 128
input_channels = 16
output_channels = 8
weight_bits = 6
recurrent = true

[[stages]]
kind = "integer_quantiser"
weight_bits = 6
bias_bits = 8
threshold_bits = 12
source = "6-bit weight DAC, 8-bit bias and 12-bit threshold registers (example)"

[[stages]]
kind = "lognormal"
source = "example spreads"

[stages.spread.weights]
neuron = 0.10
synapse = 0.05

[stages.spread.taus]
neuron = 0.20

[stages.spread.default]
neuron = 0.10
'''


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model file (.rsnn) trained on 16-channel input, e.g. by robust-snn train")
    parser.add_argument("--out", default="my-chip.toml")
    parser.add_argument("--data", default="synth-kws")
    parser.add_argument("--chips", type=int, default=50)
    args = parser.parse_args(argv)
    Path(args.out).write_text(PROFILE)
    profile = load_profile(args.out)
    scored = Scored(robust_snn.load_model(args.model), robust_snn.load_dataset(args.data, "test"), args.model)
    card = score_card(scored, profile, EnsembleSettings(n_chips=args.chips))
    row = card.to_dict()  # the readiness JSON
    print(f"{profile.name}: nominal {row['nominal_accuracy']:.3f}, mean {row['mean_accuracy']:.3f}, "
          f"yield {row['yield']:.2f}, fits {row['fits_device']} {row['violations']}, grade {row['grade']}")
    print(f"the same from the CLI: robust-snn evaluate {args.model} --data {args.data} --device {args.out}")
    return card


if __name__ == "__main__":
    from robust_snn.cli_guards import run_as_command

    run_as_command(main)  # a missing path or bad spec: one line on stderr, exit status 2, as the CLI
