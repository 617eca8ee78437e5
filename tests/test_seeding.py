"""One seed formula (robust_snn.seeding) for every random stream: kinds of draw never share a stream."""

import numpy as np
import torch

from robust_snn.data.datasets import item_generator
from robust_snn.seeding import derive_seed
from robust_snn.training.trainer import derived_generator


def first_draws(gen):
    return torch.rand(8, generator=gen)


def test_the_training_and_data_streams_of_one_seed_never_coincide():
    """With the former linear formulas (seed * 1_000_003 + epoch * 7_919 + ...), training item i's draw and
    epoch i's shuffling were one stream, for every i."""
    for seed in (0, 5):
        for i in range(4):
            shuffle = first_draws(derived_generator(seed, i, 0))
            assert not torch.equal(shuffle, first_draws(item_generator(seed, "train", i, 0))), (seed, i)
            assert not torch.equal(shuffle, first_draws(derived_generator(seed, i, 1)))


def test_a_stream_does_not_depend_on_the_integer_type_of_its_coordinates():
    assert torch.equal(first_draws(item_generator(np.int64(2), "val", np.int64(3), np.int32(1))),
                       first_draws(item_generator(2, "val", 3, 1)))
    assert torch.equal(first_draws(derived_generator(torch.tensor(1).item(), 2, 0)),
                       first_draws(derived_generator(1, 2, 0)))


def test_derived_seeds_are_63_bit_and_differ_by_coordinate_and_by_its_kind():
    seeds = {derive_seed("train", 0, 0, 0), derive_seed("data", 0, "train", 0, 0), derive_seed("attack", 0, 0),
             derive_seed(0, 0, 0, "relative_gaussian"), derive_seed("train", 0, 0, 1), derive_seed("train", "0", 0, 0)}
    assert len(seeds) == 6 and all(0 <= s < 2**63 for s in seeds)
