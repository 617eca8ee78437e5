"""A model shipped to a worker is a model file's bytes and gets every check a model file gets (one serialisation:
robust_snn.io), and a profile travels as the TOML text it was read from."""

import pytest
import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import load_profile
from robust_snn.distributed.payload import pack_model, pack_profile, unpack_model, unpack_profile
from robust_snn.io.model_file import model_metadata, save_model
from robust_snn.io.tensors import FileFormatError, tensors_to_bytes


@pytest.fixture
def net():
    return SNNClassifier(NetworkConfig(n_in=6, hidden=(8,), n_classes=3, recurrent=True, seed=2))


def shipped(net, tensors=None, **architecture):
    """Bytes as pack_model writes them, with some tensors or architecture fields replaced (checksum recomputed,
    so only the checks after it can refuse them)."""
    meta = model_metadata(net)
    meta["architecture"] = {**meta["architecture"], **architecture}
    return tensors_to_bytes({**net.state_dict(), **(tensors or {})}, meta)


def test_the_shipped_bytes_are_the_model_files_bytes(net, tmp_path):
    save_model(tmp_path / "m.rsnn", net)
    assert pack_model(net) == (tmp_path / "m.rsnn").read_bytes()


def test_a_shipped_tensor_of_the_wrong_shape_is_refused_naming_it(net):
    bad = shipped(net, {"layers.0.weight": torch.zeros(8, 7)})
    with pytest.raises(FileFormatError, match=r"the shipped model: tensor 'layers.0.weight' has shape \(8, 7\)"):
        unpack_model(bad)


def test_a_shipped_architecture_over_the_size_limit_is_refused_before_it_is_built(net, monkeypatch):
    monkeypatch.setenv("ROBUST_SNN_MAX_ELEMENTS", "10000")
    refused = r"the shipped model \(architecture\): array 'layers.0.weight' claims shape \(100000, 6\)"
    with pytest.raises(FileFormatError, match=refused):  # before: built, 10^10 recurrent weights allocated
        unpack_model(shipped(net, hidden=[100_000]))


def test_non_finite_shipped_weights_and_bytes_that_are_no_model_are_named(net):
    weight = net.state_dict()["readout.weight"].clone()
    weight[0, 0] = float("nan")
    with pytest.raises(FileFormatError, match="the shipped model: non-finite values .* in readout.weight"):
        unpack_model(shipped(net, {"readout.weight": weight}))
    with pytest.raises(FileFormatError, match="the shipped model is not a valid robust-snn file"):
        unpack_model(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    damaged = bytearray(pack_model(net))
    damaged[-1] ^= 0x01  # one bit of the last tensor's data
    with pytest.raises(FileFormatError, match="the shipped model is damaged"):
        unpack_model(bytes(damaged))


def test_a_profile_travels_as_the_text_it_was_read_from_even_after_its_file_is_gone(tmp_path):
    path = tmp_path / "mine.toml"
    text = load_profile("gaussian-10").text.replace('name = "gaussian-10"', 'name = "mine"')
    path.write_text(text)
    profile = load_profile(path)
    path.unlink()
    packed = pack_profile(profile)
    assert packed.text == text
    assert unpack_profile(packed) == profile
