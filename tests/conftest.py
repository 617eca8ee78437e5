"""Fixtures: tiny networks and tiny data, built in milliseconds."""

from __future__ import annotations

import os

import pytest
import torch
from torch.utils.data import TensorDataset

from robust_snn.core import NetworkConfig, SNNClassifier

torch.set_num_threads(1)

# The Triton kernels' checks need the interpreter switched on before Triton's first import: they run in a
# process of their own (tests/test_lif_scan_triton.py), not in the main run.
collect_ignore = [] if os.environ.get("TRITON_INTERPRET") == "1" else ["interpreted"]


def make_pattern_data(n: int, n_in: int = 8, n_classes: int = 3, time: int = 30, seed: int = 0) -> TensorDataset:
    """Class c drives input channel group c harder; a net can learn it in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_classes, (n,), generator=g)
    x = 0.5 * torch.randn(n, time, n_in, generator=g)
    group = n_in // n_classes
    for c in range(n_classes):
        x[y == c, :, c * group:(c + 1) * group] += 1.5
    return TensorDataset(x, y)


@pytest.fixture
def tiny_config() -> NetworkConfig:
    return NetworkConfig(n_in=8, hidden=(16,), n_classes=3, seed=1)


@pytest.fixture
def tiny_model(tiny_config: NetworkConfig) -> SNNClassifier:
    return SNNClassifier(tiny_config)


@pytest.fixture
def tiny_data() -> tuple[TensorDataset, TensorDataset]:
    return make_pattern_data(96, seed=0), make_pattern_data(48, seed=1)


@pytest.fixture
def cpu_runs_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU's LIF scan as the per-step loop, not the compiled C loops: what the emulated accelerator
    (tests/emulated_accelerator.py, whose tensors are not CPU tensors) runs, so that a CPU reference run and an
    accelerator run compute the same operations and agree bit for bit (the C loops sum recurrent currents in
    another order: equal to rounding, tests/test_lif_scan_cpu.py)."""
    import robust_snn.core.lif_scan as lif_scan

    monkeypatch.setattr(lif_scan, "use_cpu_kernels", False)
