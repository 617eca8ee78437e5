"""Batching a data set and measuring a model's loss and accuracy on it.

Next to the core because every stage above it measures a model this way: training (validation), the attack,
the chip ensemble, readiness scoring; it needs only the network's functional forward and the runtime's device
placement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from ..errors import DataError
from ..runtime.accelerator import module_device, place
from .parameters import functional_forward


class Batches:
    """Iterates ``(x, y)`` batches of a data set of ``(x, label)`` items; shuffled when given a generator.

    ``x`` is stacked to ``(batch, time, channels)`` float32, ``y`` to ``(batch,)`` int64. A
    ``TensorDataset`` is sliced directly instead of item by item. The order comes from ``generator`` (a CPU
    generator: the same shuffle on every accelerator); each batch is checked on the CPU and then moved to
    ``device`` (``None``: left where the data set keeps it).

    ``keep_bytes``: without shuffling, the batches are kept as they are gathered (while all of them together
    take at most that many bytes) and later passes yield them again instead of gathering, converting and
    checking them anew; for readers that pass over the same data many times (the chip ensemble: once per chunk
    of chips, after a first look at one batch).
    """

    def __init__(self, data: Dataset, batch_size: int, generator: torch.Generator | None = None,
                 device: torch.device | None = None, keep_bytes: int = 0) -> None:
        self.data, self.batch_size, self.generator, self.device = data, batch_size, generator, device
        self.keep_bytes = keep_bytes if generator is None else 0
        self.n = len(data)  # type: ignore[arg-type]
        if self.n == 0:
            raise DataError("the data set is empty")
        #: The first batches of the (unshuffled) order, kept while they fit keep_bytes; from a pass that was
        #: abandoned too (a first look at one batch), so the next pass gathers only what follows them.
        self._kept: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._kept_bytes = 0

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(self.n, generator=self.generator) if self.generator is not None else None
        for b, start in enumerate(range(0, self.n, self.batch_size)):
            if b < len(self._kept):
                yield self._kept[b]
                continue
            batch = self._gathered(order, start)
            if self.keep_bytes > 0 and b == len(self._kept):
                self._kept_bytes += sum(t.numel() * t.element_size() for t in batch)
                if self._kept_bytes <= self.keep_bytes:
                    self._kept.append(batch)
                else:  # the data set does not fit: keep none of it
                    self._kept, self.keep_bytes = [], 0
            yield batch

    def _gathered(self, order: torch.Tensor | None, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch from item ``start`` of ``order`` (``None``: the data set's own order), checked."""
        tensors = self.data.tensors if isinstance(self.data, TensorDataset) else None
        stop = min(start + self.batch_size, self.n)
        idx = order[start:stop] if order is not None else torch.arange(start, stop)
        if tensors is not None:
            x, y = tensors[0][idx], tensors[1][idx]
        else:
            items = [self.data[int(i)] for i in idx]
            x = torch.stack([torch.as_tensor(item[0]) for item in items])
            y = torch.as_tensor([int(item[1]) for item in items])
        x = x.to(torch.float32)
        # A NaN input does not reach the loss (v >= threshold is False for NaN) and would silently act as
        # "no spike"; name it instead. A sum is finite unless a term is NaN or inf (or it overflowed), so
        # only a batch whose sum is not finite is checked element by element (isfinite over the whole
        # batch: 1.6 ms for 256 x 100 x 16 floats on one core, the sum 0.05).
        if not torch.isfinite(x.sum()):
            bad = ~torch.isfinite(x).flatten(1).all(1)
            if bad.any():
                raise DataError(f"NaN or inf in input sample {int(idx[bad.nonzero()[0, 0]])}")
        y = y.to(torch.int64)
        return (x, y) if self.device is None else (x.to(self.device), y.to(self.device))


def iterate_batches(data: Dataset, batch_size: int, generator: torch.Generator | None = None,
                    device: torch.device | None = None, keep_bytes: int = 0) -> Batches:
    return Batches(data, batch_size, generator, device, keep_bytes)


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float
    n: int


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, batch_size: int = 256,
             params: Mapping[str, torch.Tensor] | None = None, *,
             accelerator: str | torch.device | None = None) -> Evaluation:
    """Mean cross-entropy and accuracy of ``model`` on ``data`` (eval mode, no gradients).

    With ``params`` (a physical parameter dict, see :func:`~robust_snn.core.parameters.functional_forward`)
    the model is evaluated with those parameters instead of its own, e.g. a perturbed or attacked set.
    The batches go to the model's device; ``accelerator`` evaluates on a moved copy of the model (and of
    ``params``) instead (see :mod:`robust_snn.runtime.accelerator`).
    """
    model = place(model, accelerator, in_place=False)
    device = module_device(model)
    if params is not None:
        params = {k: v.to(device) for k, v in params.items()}
    was_training = model.training
    model.eval()
    loss = correct = 0.0
    n = 0
    for x, y in iterate_batches(data, batch_size, device=device):
        logits = model(x) if params is None else functional_forward(model, dict(params), x)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += float((logits.argmax(1) == y).sum())
        n += len(y)
    model.train(was_training)
    return Evaluation(loss / n, correct / n, n)
