"""Quick start: train a small CuBa-LIF network, save it, reload it, and run it in Rockpool.

    python examples/quickstart.py --out /tmp/quickstart.rsnn [--epochs 5]

The data here is a made-up pattern task (class c raises input channel group c) so the script runs anywhere in
seconds; swap in ``robust_snn.load_dataset(...)`` for real data.
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.data import TensorDataset

import robust_snn
from robust_snn import NetworkConfig, SNNClassifier, TrainConfig, fit, make_method
from robust_snn.interop.rockpool import to_rockpool


def pattern_data(n: int, seed: int, n_in: int = 16, n_classes: int = 4, time: int = 50) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_classes, (n,), generator=g)
    x = 0.5 * torch.randn(n, time, n_in, generator=g)
    width = n_in // n_classes
    for c in range(n_classes):
        x[y == c, :, c * width:(c + 1) * width] += 1.0
    return TensorDataset(x, y)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="quickstart.rsnn")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=512)
    args = parser.parse_args(argv)

    train, val = pattern_data(args.samples, 0), pattern_data(args.samples // 4, 1)
    model = SNNClassifier(NetworkConfig(n_in=16, hidden=(32,), n_classes=4, recurrent=True))
    method = make_method("standard")
    result = fit(model, train, val, method, TrainConfig(epochs=args.epochs, batch_size=32, lr=3e-3))
    print(f"best validation accuracy {result.best_val_accuracy:.3f} at epoch {result.best_epoch}")

    robust_snn.save_model(args.out, model, method=method.describe(), data="pattern (examples/quickstart.py)")
    loaded = robust_snn.load_model(args.out)
    x = val.tensors[0][:8]
    rockpool_net = to_rockpool(loaded)
    agree = torch.allclose(loaded(x), rockpool_net(x), atol=1e-4)
    print(f"wrote {args.out}; Rockpool conversion gives the same logits: {agree}")
    return float(result.best_val_accuracy)


if __name__ == "__main__":
    from robust_snn.cli_guards import run_as_command

    run_as_command(main)  # a missing path or bad spec: one line on stderr, exit status 2, as the CLI
