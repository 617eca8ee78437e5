"""`robust-snn evaluate --backend ray [--address ADDR]`: same card as one process; clear exit 2 when it cannot run."""

from __future__ import annotations

import json
import sys

import pytest

from robust_snn import save_model
from robust_snn.cli import main
from robust_snn.core import NetworkConfig, SNNClassifier


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "tiny.rsnn"
    save_model(path, SNNClassifier(NetworkConfig(n_in=16, hidden=(8,), n_classes=8, recurrent=True, seed=0)))
    return str(path)


def evaluate(model_file, *extra):
    return main(["evaluate", model_file, "--data", "synth-kws", "--split", "val", "--device", "rram", "--chips", "4",
                 "--quiet", *extra])


def test_backend_ray_without_ray_installed_exits_2_with_the_install_hint(model_file, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    assert evaluate(model_file, "--backend", "ray") == 2
    err = capsys.readouterr().err
    assert 'pip install "robust-snn[ray]"' in err and len(err.strip().splitlines()) == 1


def test_an_address_without_the_ray_backend_exits_2(model_file, capsys):
    assert evaluate(model_file, "--address", "10.0.0.1:6379") == 2
    assert "needs the ray backend" in capsys.readouterr().err


def test_backend_ray_starts_a_local_instance_and_writes_the_same_card(model_file, tmp_path):
    ray = pytest.importorskip("ray")
    started_here = not ray.is_initialized()
    try:
        assert evaluate(model_file, "--json", str(tmp_path / "local.json")) == 0
        assert evaluate(model_file, "--backend", "ray", "--json", str(tmp_path / "ray.json")) == 0
        assert ray.is_initialized()  # the embedded instance was started by the command
    finally:
        if started_here:
            ray.shutdown()
    local = json.loads((tmp_path / "local.json").read_text())
    assert (tmp_path / "ray.json").read_text() == (tmp_path / "local.json").read_text()
    assert local["n_chips"] == 4 and len(local["per_chip_accuracy"]) == 4
