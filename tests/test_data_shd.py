"""``shd:PATH`` on tiny HDF5 files in the real SHD/SSC layout (ragged spike arrays written with h5py)."""

from collections import Counter

import numpy as np
import pytest
import torch

from robust_snn.data import DataError, load_dataset

h5py = pytest.importorskip("h5py", reason="h5py is needed to write the SHD fixture files")


def write_h5(path, samples, labels, keys=None):
    """``samples``: list of (times in seconds, units) pairs."""
    with h5py.File(path, "w") as fh:
        times = fh.create_dataset("spikes/times", (len(samples),), dtype=h5py.special_dtype(vlen=np.float32))
        units = fh.create_dataset("spikes/units", (len(samples),), dtype=h5py.special_dtype(vlen=np.uint16))
        for k, (t, u) in enumerate(samples):
            times[k], units[k] = np.asarray(t, np.float32), np.asarray(u, np.uint16)
        fh.create_dataset("labels", data=np.asarray(labels, np.uint16))
        if keys is not None:
            fh.create_dataset("extra/keys", data=np.asarray(keys, dtype="S"))


@pytest.fixture
def shd(tmp_path):
    # 20 train samples, 2 classes; sample k has one spike on unit k at t = 0.0175 s and one on unit 699 at 0.5025 s.
    samples = [([0.0175, 0.5025, 1.5], [k, 699, 3]) for k in range(20)]
    write_h5(tmp_path / "shd_train.h5", samples, [k % 2 for k in range(20)], keys=["zero", "one"])
    write_h5(tmp_path / "shd_test.h5", samples[:4], [0, 1, 0, 1], keys=["zero", "one"])
    return tmp_path


def test_spikes_are_counted_in_dt_bins_up_to_the_duration(shd):
    data = load_dataset(f"shd:{shd}", "test")
    x, y = data[1]
    assert x.shape == (100, 700) and x.dtype == torch.float32 and y == 1
    assert x[1, 1] == 1 and x[50, 699] == 1 and x.sum() == 2  # the spike at 1.5 s is past the 1 s duration


def test_dt_and_duration_set_the_number_of_steps(shd):
    x, _ = load_dataset(f"shd:{shd}?dt=0.005&duration=2", "test")[0]
    assert x.shape == (400, 700) and x[3, 0] == 1 and x[100, 699] == 1 and x[300, 3] == 1


def test_downsampling_sums_groups_of_channels(shd):
    x, _ = load_dataset(f"shd:{shd}?downsample=7", "test")[3]
    assert x.shape == (100, 100) and x[1, 0] == 1 and x[50, 99] == 1


def test_val_is_a_seeded_stratified_share_of_train(shd):
    train, val = load_dataset(f"shd:{shd}?val=0.2", "train"), load_dataset(f"shd:{shd}?val=0.2", "val")
    assert Counter(int(v) for v in val.labels) == {0: 2, 1: 2} and len(train) == 16
    first = {int(train[i][0][1].argmax()) for i in range(len(train))}
    second = {int(val[i][0][1].argmax()) for i in range(len(val))}
    assert not first & second
    again = load_dataset(f"shd:{shd}?val=0.2", "val")
    assert [int(a[0][1].argmax()) for a in again] == [int(v[0][1].argmax()) for v in val]


def test_class_names_come_from_the_file(shd):
    data = load_dataset(f"shd:{shd}", "train")
    assert data.classes == ("zero", "one") and data.dt == 0.01 and data.frontend is None


def test_ssc_uses_its_own_validation_file(tmp_path):
    sample = [([0.1], [5])]
    for name in ("ssc_train.h5", "ssc_valid.h5", "ssc_test.h5"):
        write_h5(tmp_path / name, sample * 3, [0, 1, 2])
    assert len(load_dataset(f"shd:{tmp_path}", "val")) == 3
    assert load_dataset(f"shd:{tmp_path}", "val").classes == ("0", "1", "2")


def test_a_gzipped_download_gets_a_hint(tmp_path):
    (tmp_path / "shd_train.h5.gz").write_bytes(b"")
    with pytest.raises(DataError, match="gunzip them first"):
        load_dataset(f"shd:{tmp_path}", "train")


def test_a_file_without_spikes_is_named(tmp_path):
    with h5py.File(tmp_path / "shd_train.h5", "w") as fh:
        fh.create_dataset("labels", data=np.zeros(2))
    with pytest.raises(DataError, match="shd_train.h5 lacks the dataset"):
        load_dataset(f"shd:{tmp_path}", "train")
