"""Batching a data set: the batches a pass yields, and keeping them for passes over the same data."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from robust_snn.core.evaluation import iterate_batches


class CountingData(Dataset):
    """Ten ``(x (3, 2), label)`` items that count how often they are read."""

    def __init__(self) -> None:
        self.reads = 0
        self.x = torch.arange(60, dtype=torch.float32).view(10, 3, 2)

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        self.reads += 1
        return self.x[i], i % 3


def _same(a: list[tuple[torch.Tensor, torch.Tensor]], b: list[tuple[torch.Tensor, torch.Tensor]]) -> bool:
    return len(a) == len(b) and all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))


def test_kept_batches_are_yielded_again_without_reading_the_data():
    data = CountingData()
    batches = iterate_batches(data, 4, keep_bytes=2**20)
    first = list(batches)
    assert [len(y) for _, y in first] == [4, 4, 2] and data.reads == 10
    assert torch.equal(torch.cat([x for x, _ in first]), data.x)
    second = list(batches)
    assert data.reads == 10 and _same(first, second)


def test_batches_over_the_limit_are_read_again():
    data = CountingData()
    batches = iterate_batches(data, 4, keep_bytes=100)  # one batch of x takes 96 bytes, with its labels 128
    first = list(batches)
    assert _same(first, list(batches)) and data.reads == 20


def test_a_probe_of_the_first_batch_is_kept_and_the_next_pass_reads_only_the_rest():
    data = CountingData()
    batches = iterate_batches(data, 4, keep_bytes=2**20)
    probe = next(iter(batches))  # a first look at one batch (the chip ensemble's probe), then an abandoned pass
    assert data.reads == 4
    whole = list(batches)
    assert data.reads == 10 and _same(whole[:1], [probe])
    assert torch.equal(torch.cat([x for x, _ in whole]), data.x)
    assert _same(list(batches), whole) and data.reads == 10


def test_over_the_limit_nothing_stays_kept_even_of_the_first_batches():
    data = CountingData()
    batches = iterate_batches(data, 4, keep_bytes=300)  # two batches fit (256 bytes), three do not
    list(batches)
    assert data.reads == 10
    list(batches)
    assert data.reads == 20


def test_shuffled_batches_are_never_kept():
    data = CountingData()
    batches = iterate_batches(data, 4, torch.Generator().manual_seed(0), keep_bytes=2**20)
    orders = [torch.cat([x for x, _ in batches])[:, 0, 0].tolist() for _ in range(3)]
    assert data.reads == 30 and len({tuple(o) for o in orders}) > 1


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_the_batch_check_names_every_non_finite_value_and_passes_large_finite_ones(bad):
    """The batches' input check first sums each batch: large finite values whose sum overflows must pass, and
    an inf of either sign (or a NaN) beside values that would cancel it must still be named."""
    x = torch.zeros(6, 4, 3)
    x[:, 0, 0] = 3e38  # finite; their sum is inf
    list(iterate_batches(TensorDataset(x, torch.zeros(6, dtype=torch.long)), batch_size=6))
    x[2, 1, 1], x[4, 2, 2] = bad, -bad if bad == bad else bad  # +inf with -inf: a NaN sum, not an inf one
    with pytest.raises(ValueError, match="NaN or inf in input sample 2"):
        list(iterate_batches(TensorDataset(x, torch.zeros(6, dtype=torch.long)), batch_size=6))
