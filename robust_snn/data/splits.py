"""Seeded, stratified hold-outs: which items of a labelled pool go to a validation or test split.

Used wherever a data set has no split of its own for a part (SHD's val, FSDD's val, a user's folder without
list files). Stratified per class, so every split keeps the class balance of the pool.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int | Sequence[int]) -> np.ndarray:
    """Boolean mask of a seeded ``fraction`` of each class (rounded; at least one when a class has two or more,
    and never the whole class). ``seed`` is anything ``numpy.random.default_rng`` takes."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = round(fraction * len(members))
        if fraction > 0 and len(members) > 1:
            k = min(max(k, 1), len(members) - 1)
        mask[rng.permutation(members)[:k]] = True
    return mask


def strided_subset(data: Any, n: int | None) -> Any:
    """Every ``len(data) // n``-th item, ``n`` of them (all of ``data`` when ``n`` is ``None`` or not smaller):
    a cheap, deterministic, roughly class-balanced subset of a shuffled corpus, for smaller training budgets."""
    if n is None or n >= len(data):
        return data
    from torch.utils.data import Subset

    return Subset(data, list(range(0, len(data), max(1, len(data) // n)))[:n])
