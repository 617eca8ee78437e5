import json
import subprocess
import sys

import torch

import robust_snn
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import load_profile
from robust_snn.io.model_file import read_model
from robust_snn.readiness.scorecard import programmed_parameters


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
    expected = programmed_parameters(original, load_profile("xylo-audio2"))
    x = torch.randn(2, 20, 16)
    assert torch.allclose(bundle(x), robust_snn.functional_forward(original, expected, x), atol=1e-5)


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
