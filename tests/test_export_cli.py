import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import robust_snn
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import load_profile
from robust_snn.io.model_file import read_model

from xylo_levels import xylo_levels


def run(*args):
    return subprocess.run([sys.executable, "-m", "robust_snn", *args], capture_output=True, text=True)


def model_file(tmp_path, n_classes=8):
    path = tmp_path / f"m{n_classes}.rsnn"
    robust_snn.save_model(path, SNNClassifier(NetworkConfig(n_in=16, hidden=(12,), n_classes=n_classes,
                                                            readout="leaky", seed=1)),
                          method={"name": "standard", "hyperparameters": {}})
    return path


def test_bundle_holds_the_devices_programmed_weights_and_loads_back(tmp_path):
    src = model_file(tmp_path)
    proc = run("export", str(src), "--format", "bundle", "--device", "xylo-audio2", "--out", str(tmp_path / "b.rsnn"))
    assert proc.returncode == 0, proc.stderr
    bundle, meta = read_model(tmp_path / "b.rsnn")
    assert meta["bundle"]["device"]["name"] == "xylo-audio2" and "[limits]" in meta["bundle"]["device"]["profile_toml"]
    assert meta["method"]["name"] == "standard"
    original = robust_snn.load_model(src)
    expected = xylo_levels(original)  # by hand: integer codes over one scale per neuron, exact bit shifts
    held = robust_snn.physical_parameters(bundle)
    assert set(held) == set(expected)
    for name, value in expected.items():
        assert np.allclose(held[name].detach().double().numpy(), value, rtol=1e-5, atol=1e-7), name
    assert not torch.equal(held["layers.0.weight"], original.layers[0].weight)  # programming moved them


def test_write_bundle_refuses_a_model_the_device_cannot_hold(tmp_path):
    """Through the API too (the demo and scripts do not pass through the CLI's checks)."""
    from robust_snn.config import ConfigError
    from robust_snn.export.bundle import write_bundle

    src = tmp_path / "big.rsnn"
    robust_snn.save_model(src, SNNClassifier(NetworkConfig(n_in=20, hidden=(100,), n_classes=9, recurrent=True)))
    with pytest.raises(ConfigError) as info:
        write_bundle(tmp_path / "b.rsnn", src, load_profile("xylo-audio2"))
    assert str(info.value) == (f"{src} does not fit xylo-audio2: fan_in: 119 > 63; input_channels: 20 > 16; "
                               "output_channels: 9 > 8")
    assert not (tmp_path / "b.rsnn").exists()


def test_nir_export_from_the_cli(tmp_path):
    proc = run("export", str(model_file(tmp_path)), "--format", "nir", "--out", str(tmp_path / "m.nir"))
    assert proc.returncode == 0, proc.stderr
    from robust_snn.export.nir import from_nir

    assert from_nir(tmp_path / "m.nir").config.hidden == (12,)


def test_a_model_too_big_for_xylo_gets_the_named_violation_not_a_crash(tmp_path):
    proc = run("export", str(model_file(tmp_path, n_classes=10)), "--format", "xylo", "--out", str(tmp_path / "x.json"))
    assert proc.returncode == 2
    assert "output channels: 10 > 8" in proc.stderr and "Traceback" not in proc.stderr


def test_xylo_spec_export_writes_integer_json(tmp_path):
    proc = run("export", str(model_file(tmp_path)), "--format", "xylo", "--out", str(tmp_path / "x.json"))
    assert proc.returncode == 0, proc.stderr
    spec = json.loads((tmp_path / "x.json").read_text())
    assert all(isinstance(v, int) for v in spec["weights_in"][0])
