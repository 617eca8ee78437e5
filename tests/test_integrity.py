"""Integrity of model files, checkpoints and bundles: damaged tensor data is refused by name, not scored.

The damage flips the lowest bit of float32 mantissas inside the tensor data: the values stay finite (so the
NaN/inf check cannot be what catches it) and safetensors' layout checks still pass; only a checksum notices.
"""

import json
import struct
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

import robust_snn
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.distributed.payload import pack_model, unpack_model
from robust_snn.io.model_file import read_model, save_model
from robust_snn.io.tensors import FileFormatError, load_tensors
from robust_snn.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint


def damage_tensor_data(path, n_bytes=300):
    """Flip the least significant bit of ``n_bytes`` float32 values in the file's tensor data region."""
    raw = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", raw[:8])
    start = 8 + header_len
    header = json.loads(raw[8:start])
    spans = [v["data_offsets"] for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32"]
    offsets = [o for begin, end in spans for o in range(begin, end, 4)][:n_bytes]
    assert len(offsets) == n_bytes, "the file has fewer float32 values than bytes to damage"
    for offset in offsets:  # little endian: the first byte of a float32 holds its mantissa's lowest bits
        raw[start + offset] ^= 0x01
    path.write_bytes(bytes(raw))


def tiny_model():
    return SNNClassifier(NetworkConfig(n_in=16, hidden=(12,), n_classes=8, recurrent=True, seed=3))


def test_a_model_file_with_damaged_tensor_data_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "m.rsnn"
    save_model(path, tiny_model())
    robust_snn.load_model(path)  # loads while intact
    damage_tensor_data(path)
    tensors = load_file(str(path))
    assert all(torch.isfinite(t).all() for t in tensors.values())  # the damage is invisible to value checks
    with pytest.raises(FileFormatError, match=r"m\.rsnn is damaged.*checksum"):
        robust_snn.load_model(path)


def test_evaluating_a_damaged_model_exits_2_with_one_line_naming_it(tmp_path):
    path = tmp_path / "m.rsnn"
    save_model(path, tiny_model())
    damage_tensor_data(path)
    proc = subprocess.run([sys.executable, "-m", "robust_snn", "evaluate", str(path), "--data", "synth-kws",
                           "--device", "gaussian-10", "--chips", "2", "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "damaged" in lines[0] and "Traceback" not in proc.stderr


def test_a_damaged_checkpoint_is_refused(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.zeros(1, 5, 16)).sum().backward()
    optimizer.step()
    path = tmp_path / "m.rsnn.ckpt"
    save_checkpoint(path, Checkpoint(0, [], {}, model.state_dict(), optimizer.state_dict(), 0, 0.5, None))
    load_checkpoint(path)
    damage_tensor_data(path, 20)
    with pytest.raises(FileFormatError, match="m.rsnn.ckpt is damaged"):
        load_checkpoint(path)


def test_a_damaged_bundle_is_refused(tmp_path):
    from robust_snn.devices import load_profile
    from robust_snn.export.bundle import write_bundle

    save_model(tmp_path / "m.rsnn", tiny_model())
    bundle = tmp_path / "m.bundle.rsnn"
    write_bundle(bundle, tmp_path / "m.rsnn", load_profile("gaussian-10"))
    robust_snn.load_model(bundle)
    damage_tensor_data(bundle, 5)
    with pytest.raises(FileFormatError, match="m.bundle.rsnn is damaged"):
        robust_snn.load_model(bundle)


def test_damaged_metadata_is_refused_too(tmp_path):
    """The checksum also covers the description: a changed threshold would rebuild a different network."""
    path = tmp_path / "m.rsnn"
    save_model(path, tiny_model())
    raw = path.read_bytes()
    assert raw.count(b'\\"threshold\\": 1.0') == 1
    path.write_bytes(raw.replace(b'\\"threshold\\": 1.0', b'\\"threshold\\": 2.0'))
    with pytest.raises(FileFormatError, match="damaged"):
        robust_snn.load_model(path)


def test_a_file_written_before_checksums_existed_still_loads(tmp_path):
    """Backward compatibility: no checksum key, no check (the module docstring says why)."""
    model = tiny_model()
    meta = json.dumps({"format": "robust-snn-model", "format_version": 1, "kind": "SNNClassifier",
                       "architecture": model.config.to_dict()}, sort_keys=True)
    path = tmp_path / "old.rsnn"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata={"robust_snn": meta})
    loaded, _ = read_model(path)
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value)


def test_the_checksum_is_deterministic_so_files_stay_byte_identical(tmp_path):
    save_model(tmp_path / "a.rsnn", tiny_model(), data="synth-kws")
    save_model(tmp_path / "b.rsnn", tiny_model(), data="synth-kws")
    assert (tmp_path / "a.rsnn").read_bytes() == (tmp_path / "b.rsnn").read_bytes()
    tensors, _ = load_tensors(tmp_path / "a.rsnn")
    assert tensors  # and it verifies


def test_a_model_shipped_to_a_worker_damaged_in_transit_is_refused():
    packed = bytearray(pack_model(tiny_model()))
    unpack_model(bytes(packed))
    packed[-40] ^= 0x01  # inside the last tensor's data
    with pytest.raises(FileFormatError, match="damaged"):
        unpack_model(bytes(packed))
