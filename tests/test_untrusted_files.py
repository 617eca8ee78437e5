"""Files from other people: loading never executes code, and absurd declared shapes are refused, not allocated.

Each test fails if its protection is removed: the pickle payloads would create their marker file, and the
absurd shapes would reach numpy/torch, which raise MemoryError/RuntimeError instead of our named refusal.
"""

import json
import pickle
import struct

import h5py
import numpy as np
import pytest
import torch

import robust_snn
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.data import DataError, load_dataset
from robust_snn.io.model_file import save_model
from robust_snn.io.tensors import FileFormatError, load_tensors, save_tensors
from robust_snn.training.checkpoint import load_checkpoint


class Payload:
    """Unpickling this creates ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pickle_file(path, marker):
    with path.open("wb") as fh:
        pickle.dump({"weights": Payload(marker)}, fh)


def _torch_save_file(path, marker):
    torch.save({"weights": Payload(marker)}, path)


def _npz_with_object_array(path, marker):
    np.savez(path, audio=np.array([Payload(marker)], dtype=object))


def _load_nir(path):
    from robust_snn.export.nir import from_nir

    return from_nir(path)


LOADERS = {
    "model": (robust_snn.load_model, FileFormatError, ".rsnn"),
    "bundle": (robust_snn.load_model, FileFormatError, ".bundle.rsnn"),
    "checkpoint": (load_checkpoint, FileFormatError, ".ckpt"),
    "nir": (_load_nir, FileFormatError, ".nir"),
    "corpus": (lambda p: load_dataset(f"synth-kws:{p}", "test"), DataError, ".npz"),
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
@pytest.mark.parametrize("make", [_pickle_file, _torch_save_file, _npz_with_object_array])
def test_pickle_based_files_are_refused_without_running_their_payload(tmp_path, kind, make):
    pytest.importorskip("nir") if kind == "nir" else None
    load, error, suffix = LOADERS[kind]
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{suffix}"
    make(path, marker)
    if not path.exists():  # np.savez appends .npz
        path = path.with_name(path.name + ".npz")
    with pytest.raises(error):
        load(path)
    assert not marker.exists(), f"loading a {kind} file ran the pickle payload"


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "m.rsnn"
    save_model(path, SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3, recurrent=True)))
    return path


def test_a_safetensors_header_claiming_a_huge_tensor_is_refused(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2**31, 2**31], "data_offsets": [0, 16]},
                         "__metadata__": {"robust_snn": json.dumps({"format": "model"})}}).encode()
    path = tmp_path / "huge.rsnn"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(FileFormatError, match="huge.rsnn"):
        load_tensors(path)


def test_arrays_over_the_configured_limit_are_refused_by_name(model_file, monkeypatch):
    monkeypatch.setenv("ROBUST_SNN_MAX_ELEMENTS", "20")
    with pytest.raises(FileFormatError, match="over the limit of 20"):
        robust_snn.load_model(model_file)
    monkeypatch.setenv("ROBUST_SNN_MAX_ELEMENTS", str(10**6))
    robust_snn.load_model(model_file)


def test_an_architecture_claiming_absurd_sizes_is_refused_before_it_is_built(model_file):
    tensors, meta = load_tensors(model_file)
    meta["architecture"]["hidden"] = [2**24]  # a 2**48-element recurrent matrix
    save_tensors(model_file, tensors, meta)
    with pytest.raises(FileFormatError, match=r"architecture.*w_rec.*over the limit"):
        robust_snn.load_model(model_file)


def _huge_dataset(fh, name, dtype="f4", shape=(2**20, 2**20)):
    """A compressed, never-written data set: the file is a few KB, the claim is 4 TB."""
    chunks = (1,) * (len(shape) - 1) + (1024,)
    fh.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks, compression="gzip")


def test_a_nir_file_claiming_a_huge_array_is_refused(tmp_path):
    pytest.importorskip("nir")
    from robust_snn.export.nir import from_nir, write_nir

    path = tmp_path / "g.nir"
    write_nir(path, SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3)))
    with h5py.File(path, "a") as fh:
        weight = next(n for n in _dataset_names(fh) if n.endswith("weight"))
        del fh[weight]
        _huge_dataset(fh, weight)
    assert path.stat().st_size < 100_000
    with pytest.raises(FileFormatError, match="claims shape"):
        from_nir(path)


def _dataset_names(fh):
    names = []
    fh.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return names


def test_an_shd_file_claiming_a_huge_label_array_is_refused(tmp_path):
    for split in ("train", "test"):
        with h5py.File(tmp_path / f"shd_{split}.h5", "w") as fh:
            vlen = h5py.vlen_dtype(np.float32)
            fh.create_dataset("spikes/times", (1,), dtype=vlen)
            fh.create_dataset("spikes/units", (1,), dtype=h5py.vlen_dtype(np.uint16))
            _huge_dataset(fh, "labels", dtype="u2", shape=(2**40,))
    with pytest.raises(DataError, match="labels.*claims shape"):
        load_dataset(f"shd:{tmp_path}", "test")


def test_a_packed_corpus_member_claiming_a_huge_shape_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "corpus.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.int8))
    header["shape"] = (2**40,)
    with zipfile.ZipFile(path, "w") as archive, archive.open("audio.npy", "w") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)
    with pytest.raises(DataError, match="'audio' claims shape"):
        load_dataset(f"synth-kws:{path}", "test")


def test_a_safetensors_file_whose_header_length_ends_in_0x80_is_not_taken_for_a_pickle(tmp_path):
    """Regression: the pickle test once looked at the first byte only, which is the header length's low byte."""
    path = tmp_path / "m.rsnn"
    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(6,), n_classes=3))
    for pad in range(0, 4096, 1):
        save_model(path, model, note="x" * pad)
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("could not make a header length ending in 0x80")
    robust_snn.load_model(path)
