"""NIR export: write, read, and run with our importer and with Rockpool's from_nir (nirtorch)."""

import warnings

import pytest
import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.export.nir import from_nir, rockpool_from_nir, to_nir, write_nir

nir = pytest.importorskip("nir")


def model(readout="spike_mean", recurrent=False):
    return SNNClassifier(NetworkConfig(n_in=16, hidden=(20, 12), n_classes=5, readout=readout,
                                       recurrent=recurrent, seed=3))


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("readout", ["spike_mean", "leaky"])
def test_nir_file_round_trip_through_our_importer_is_exact(tmp_path, readout, recurrent):
    original = model(readout, recurrent)
    write_nir(tmp_path / "m.nir", original)
    loaded = from_nir(tmp_path / "m.nir")
    x = torch.randn(3, 40, 16) * 2
    assert torch.equal(loaded(x), original(x))


def test_graphs_without_our_metadata_are_parsed_node_by_node(tmp_path):
    original = model("spike_mean", recurrent=True)
    graph = to_nir(original)
    graph.metadata = {}
    loaded = from_nir(graph)
    assert loaded.config.hidden == (20, 12) and loaded.config.recurrent
    x = torch.randn(2, 30, 16) * 2
    assert torch.allclose(loaded(x), original(x), atol=1e-5)


@pytest.mark.parametrize("recurrent", [False, True])
def test_rockpool_from_nir_reproduces_our_outputs(tmp_path, recurrent):
    original = model("spike_mean", recurrent)
    write_nir(tmp_path / "m.nir", original)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor = rockpool_from_nir(tmp_path / "m.nir")
    x = torch.randn(3, 40, 16) * 2
    out, _ = executor(x)
    assert torch.allclose(out.mean(1), original(x), atol=1e-4)
