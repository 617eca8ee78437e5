"""Chip ensembles split into ranges (no Ray needed): same result as one run, payloads rebuild exactly."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import ChipCounts, count_correct, evaluate_ensemble, load_profile, merge_counts
from robust_snn.distributed.ensemble import chip_ranges, distributed_ensemble
from robust_snn.distributed.payload import (
    DataRef, ProfileText, pack_model, pack_profile, unpack_data, unpack_model, unpack_profile,
)


@pytest.fixture(scope="module")
def net() -> SNNClassifier:
    return SNNClassifier(NetworkConfig(n_in=6, hidden=(12,), n_classes=3, recurrent=True, seed=3)).eval()


@pytest.fixture(scope="module")
def data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(40, 15, 6, generator=g) * 3, torch.randint(0, 3, (40,), generator=g))


@pytest.mark.parametrize("profile", ["gaussian-20", "rram", "xylo-audio2"])
@pytest.mark.parametrize("chips_per_task", [None, 3, 100])
def test_split_ensemble_equals_the_single_run(net, data, profile, chips_per_task):
    kw = dict(n_chips=7, seed=2, chunk_size=2, batch_size=16)
    single = evaluate_ensemble(net, profile, data, progress=False, **kw)
    assert distributed_ensemble(net, profile, data, chips_per_task=chips_per_task, **kw) == single


def test_a_chip_range_counts_what_the_whole_run_counts_for_those_chips(net, data):
    whole = count_correct(net, "rram", data, range(0, 8), seed=4, chunk_size=4, batch_size=16)
    part = count_correct(net, "rram", data, range(4, 8), seed=4, chunk_size=4, batch_size=16)
    assert part.correct == whole.correct[4:] and part.first_chip == 4


def test_chip_ranges_tile_the_chips_in_whole_chunks_with_nominal_once():
    assert chip_ranges(10, 4, 5) == [(0, 8, True), (8, 10, False)]
    assert chip_ranges(5, 2) == [(0, 2, True), (2, 4, False), (4, 5, False)]


def test_merging_refuses_gaps_and_a_missing_nominal_count():
    with pytest.raises(ValueError, match="do not tile"):
        merge_counts("p", 0, [ChipCounts(0, (1, 2), 4, 3), ChipCounts(3, (1,), 4)])
    with pytest.raises(ValueError, match="nominal"):
        merge_counts("p", 0, [ChipCounts(0, (1, 2), 4)])


def test_shipped_model_is_bit_identical_and_carries_no_pickle(net):
    packed = pack_model(net)
    assert isinstance(packed, bytes)
    rebuilt = unpack_model(packed)
    assert rebuilt.config == net.config
    for (name, a), (_, b) in zip(net.state_dict().items(), rebuilt.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_profile_file_travels_as_its_toml_text(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(pack_profile("gaussian-10").text.replace('name = "gaussian-10"', 'name = "mine"'))
    packed = pack_profile(str(path))
    assert isinstance(packed, ProfileText) and 'name = "mine"' in packed.text
    path.unlink()  # the worker does not need the file
    assert unpack_profile(packed).to_dict() == {**load_profile("gaussian-10").to_dict(), "name": "mine"}


def test_a_data_spec_is_loaded_where_the_task_runs():
    a = unpack_data(DataRef("synth-kws", "val"))
    assert unpack_data(DataRef("synth-kws", "val")) is a  # loaded once per process
    x, label = a[0]
    assert x.shape[-1] == 16 and 0 <= int(label) < 8
