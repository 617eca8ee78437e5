import pickle

import pytest
import torch

import robust_snn
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.io.model_file import read_model, save_model
from robust_snn.io.tensors import FileFormatError


def test_saved_model_loads_back_with_identical_outputs_and_describes_itself(tmp_path):
    model = SNNClassifier(NetworkConfig(n_in=6, hidden=(8,), n_classes=3, recurrent=True, readout="leaky"))
    path = tmp_path / "m.rsnn"
    save_model(path, model, method={"name": "standard", "hyperparameters": {}}, data="synth-kws")
    loaded, meta = read_model(path)
    x = torch.randn(2, 10, 6) * 2
    assert torch.equal(loaded(x), model(x))
    assert meta["architecture"]["recurrent"] is True
    assert meta["method"]["name"] == "standard" and meta["data"] == "synth-kws"
    assert meta["package_version"] == robust_snn.__version__
    assert robust_snn.load_model(path).training is False


class Payload:
    """Unpickling it creates the file ``marker`` (a stand-in for any code an attacker would run)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_file_is_refused_without_running_its_payload(tmp_path):
    marker = tmp_path / "pwned"
    payload = Payload(str(marker))
    pickle.loads(pickle.dumps(payload)).close()  # the payload works: unpickling it creates the marker
    assert marker.exists()
    marker.unlink()
    for name, dump in [("evil.rsnn", lambda f: pickle.dump(payload, f)),
                       ("evil_torch.rsnn", lambda f: torch.save({"x": payload}, f))]:
        path = tmp_path / name
        with path.open("wb") as fh:
            dump(fh)
        with pytest.raises(FileFormatError, match="refusing|not a valid"):
            robust_snn.load_model(path)
    assert not marker.exists()


def test_tensors_that_do_not_fit_the_architecture_are_named(tmp_path):
    model = SNNClassifier(NetworkConfig(n_in=6, hidden=(8,), n_classes=3))
    path = tmp_path / "m.rsnn"
    save_model(path, model)
    from robust_snn.io.tensors import load_tensors, save_tensors

    tensors, meta = load_tensors(path)
    tensors["layers.0.weight"] = torch.zeros(8, 7)
    save_tensors(path, tensors, meta)
    with pytest.raises(FileFormatError, match="layers.0.weight"):
        robust_snn.load_model(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileFormatError, match="file not found"):
        robust_snn.load_model(tmp_path / "absent.rsnn")
