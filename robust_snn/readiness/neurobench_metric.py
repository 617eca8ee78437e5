"""Mismatch robustness as a NeuroBench workload metric, so NeuroBench users report it the way they report accuracy.

NeuroBench has no robustness metric. :func:`mismatch_metric` builds one with its workload-metric interface
(``AccumulatedMetric``: ``__call__(model, preds, data)`` per batch, ``compute()``, ``reset()``; the class is
instantiated without arguments by ``neurobench.benchmarks.Benchmark``, so the device profile and the ensemble
settings are bound into the class it returns)::

    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import ClassificationAccuracy
    from neurobench.models import TorchModel
    Mismatch = mismatch_metric("dynapse2", n_chips=100)
    Benchmark(TorchModel(model), loader, [], [], [[], [ClassificationAccuracy, Mismatch]]).run()
    # {'ClassificationAccuracy': ..., 'MismatchRobustness': {'Yield': ..., 'Mean_Accuracy': ..., ...}}

Per batch it counts the correct answers of chips ``0 .. n_chips - 1`` of the profile (each fabricated from
``(seed, chip)``, as ``robust-snn evaluate`` does) and of the programmed nominal network; ``compute()`` gives the
score card's quantities over all batches seen: ``Yield`` (fraction of chips with accuracy >= the spec),
``Yield_CI95``, ``Mean_Accuracy``, ``P5_Accuracy``, ``Min_Accuracy``, ``Programmed_Accuracy`` and the ``Spec``
(absolute, or ``spec_relative`` x the programmed accuracy). With the same data in one batch of the same size it
equals ``robust-snn evaluate``'s card; profiles with read noise draw it per batch index, so their numbers
depend on the batching, as in ``evaluate``. Needs ``neurobench`` (``pip install --no-deps neurobench``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import TensorDataset

from ..core.parameters import functional_forward
from ..devices import DeviceProfile, count_correct, load_profile, programmed_parameters
from .statistics import chip_yield


def _abstract() -> Any:
    try:
        from neurobench.metrics.abstract.workload_metric import AccumulatedMetric
    except ImportError as exc:
        raise ImportError("the NeuroBench metric needs neurobench: pip install --no-deps neurobench") from exc
    return AccumulatedMetric


def mismatch_metric(profile: DeviceProfile | str | Path, n_chips: int = 100, seed: int = 0,
                    spec: float | None = None, spec_relative: float = 0.95, chunk_size: int = 16) -> type:
    """A NeuroBench ``AccumulatedMetric`` class named ``MismatchRobustness`` for ``profile`` (module docstring)."""
    base = _abstract()
    device = profile if isinstance(profile, DeviceProfile) else load_profile(str(profile))

    class MismatchRobustness(base):  # type: ignore[misc, valid-type]
        __doc__ = f"Per-chip accuracy and yield on {n_chips} simulated {device.name} chips (seed {seed})."

        def __init__(self) -> None:
            super().__init__(requires_hooks=False)
            self.reset()

        def reset(self) -> None:
            self.correct = torch.zeros(n_chips, dtype=torch.int64)
            self.nominal = 0
            self.samples = 0

        def __call__(self, model: Any, preds: Any, data: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
            net = model.__net__() if hasattr(model, "__net__") else model
            x, y = data[0], data[1]
            counts = count_correct(net, device.mismatch_model(), TensorDataset(x, y), range(n_chips), seed,
                                   chunk_size=chunk_size, batch_size=len(y))
            self.correct += torch.tensor(counts.correct)
            with torch.no_grad():  # the nominal network as every chip is programmed (the score card's nominal)
                logits = functional_forward(net.eval(), programmed_parameters(net, device), x)
            self.nominal += int((logits.argmax(-1) == y).sum())
            self.samples += counts.n_samples
            return self.compute()

        def compute(self) -> dict[str, Any]:
            if self.samples == 0:
                return {"Yield": 0.0, "Yield_CI95": [0.0, 1.0], "Mean_Accuracy": 0.0, "P5_Accuracy": 0.0,
                        "Min_Accuracy": 0.0, "Programmed_Accuracy": 0.0, "Spec": spec, "Chips": n_chips}
            accuracy = self.correct.to(torch.float64) / self.samples
            programmed = self.nominal / self.samples
            threshold = spec if spec is not None else spec_relative * programmed
            estimate = chip_yield(accuracy.tolist(), threshold)
            return {"Yield": estimate.value, "Yield_CI95": list(estimate.ci), "Mean_Accuracy": float(accuracy.mean()),
                    "P5_Accuracy": float(torch.quantile(accuracy, 0.05)), "Min_Accuracy": float(accuracy.min()),
                    "Programmed_Accuracy": programmed, "Spec": threshold, "Chips": n_chips}

    return MismatchRobustness


__all__ = ["mismatch_metric"]
