"""Per-chip ensembles: vectorised equals a Python loop, for our networks and for foreign modules."""

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from robust_snn.core import NetworkConfig, SNNClassifier, functional_forward, parameter_families, physical_parameters
from robust_snn.devices import (
    ConductanceMap,
    EnsembleResult,
    MismatchModel,
    ReadNoise1f,
    PowerLawDrift,
    evaluate_ensemble,
    load_profile,
    model_dt,
    model_resources,
    resource_violations,
    sample_chips,
)
from robust_snn.core.evaluation import evaluate


@pytest.fixture
def net():
    return SNNClassifier(NetworkConfig(n_in=6, hidden=(12,), n_classes=3, recurrent=True, seed=3))


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(40, 15, 6, generator=g) * 3, torch.randint(0, 3, (40,), generator=g))


def run(model, data, profile="gaussian-20", **kw):
    base = dict(n_chips=6, seed=1, chunk_size=4, batch_size=16, progress=False)
    return evaluate_ensemble(model, profile, data, **{**base, **kw})


@pytest.mark.parametrize("profile", ["gaussian-20", "dynapse2", "xylo-audio2", "rram"])
def test_vectorised_ensemble_equals_a_python_loop(net, data, profile):
    assert run(net, data, profile).per_chip_accuracy == run(net, data, profile, vectorise=False).per_chip_accuracy


def test_vmapped_logits_equal_looped_logits(net, data):
    params = {k: v.detach() for k, v in physical_parameters(net).items()}
    chips = sample_chips(params, parameter_families(net), "dynapse2", 5, seed=0)
    x = data.tensors[0][:8]
    vmapped = torch.func.vmap(lambda p: functional_forward(net, p, x))(chips)
    looped = torch.stack([functional_forward(net, {k: v[i] for k, v in chips.items()}, x) for i in range(5)])
    assert torch.allclose(vmapped, looped, atol=1e-5)


def test_results_do_not_depend_on_chunk_or_batch_size(net, data):
    a = run(net, data)
    assert run(net, data, chunk_size=1, batch_size=40).per_chip_accuracy == a.per_chip_accuracy


def test_nominal_accuracy_is_the_models_own_when_the_profile_programs_nothing(net, data):
    # gaussian-20 has no program stage; a profile that quantises: test_readiness_scorecard.py's nominal test
    assert run(net, data).nominal_accuracy == pytest.approx(evaluate(net, data).accuracy)


def test_same_seed_same_accuracies_and_read_noise_is_reproducible(net, data):
    noisy = MismatchModel([ConductanceMap(), PowerLawDrift(), ReadNoise1f(q0=0.05)], name="noisy")
    assert run(net, data, noisy).per_chip_accuracy == run(net, data, noisy).per_chip_accuracy


def test_the_model_is_not_modified_and_keeps_its_mode(net, data):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    run(net, data, "pcm")
    assert net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_summary_statistics_come_from_the_per_chip_accuracies():
    result = EnsembleResult("p", 4, 0, 10, 0.9, (0.5, 0.7, 0.8, 1.0))
    d = result.to_dict()
    assert d["mean_accuracy"] == pytest.approx(0.75) and d["min_accuracy"] == 0.5
    assert d["p5_accuracy"] == pytest.approx(0.53) and d["per_chip_accuracy"] == [0.5, 0.7, 0.8, 1.0]


class MeanMLP(nn.Module):
    """A plain torch module: families inferred from names (weight, bias)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(6, 10), nn.Linear(10, 3)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)).mean(1))


def test_a_plain_torch_module_runs_vectorised(data):
    model = MeanMLP()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vec = run(model, data, "gaussian-30")
    assert vec.per_chip_accuracy == run(model, data, "gaussian-30", vectorise=False).per_chip_accuracy


def test_a_module_vmap_cannot_trace_falls_back_to_the_loop_with_a_warning(data):
    snn = pytest.importorskip("snntorch")

    class SnnTorchNet(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.fc1, self.fc2 = nn.Linear(6, 10), nn.Linear(10, 3)
            self.lif = snn.Leaky(beta=0.9, learn_beta=True)

        def forward(self, x):
            mem, out = self.lif.init_leaky(), []
            for t in range(x.shape[1]):
                spk, mem = self.lif(self.fc1(x[:, t]), mem)
                out.append(spk)
            return self.fc2(torch.stack(out, 1).mean(1))

    model = SnnTorchNet()
    assert parameter_families(model)["lif.beta"] == "decays"
    with pytest.warns(UserWarning, match="evaluating chips one by one"):
        vec = run(model, data)
    assert vec.per_chip_accuracy == run(model, data, vectorise=False).per_chip_accuracy


def test_the_time_step_is_found_on_our_models_and_foreign_ones(net):
    assert model_dt(net) == net.config.dt
    assert model_dt(MeanMLP()) is None


def test_a_model_too_big_for_the_chip_is_reported(net):
    big = SNNClassifier(NetworkConfig(n_in=20, hidden=(64,), n_classes=9, recurrent=True))
    assert resource_violations(big, load_profile("xylo-audio2").limits) == [
        "fan_in: 83 > 63", "input_channels: 20 > 16", "output_channels: 9 > 8"]
    assert resource_violations(net, load_profile("gaussian-10").limits) == []


def test_resources_are_read_alike_from_our_model_and_its_rockpool_conversion():
    rockpool = pytest.importorskip("robust_snn.interop.rockpool")
    ours = SNNClassifier(NetworkConfig(n_in=6, hidden=(12, 7), n_classes=3, recurrent=True))
    assert model_resources(ours) == {"neurons": 19, "fan_in": 18, "input_channels": 6, "output_channels": 3,
                                     "recurrent": True}
    assert model_resources(rockpool.to_rockpool(ours)) == model_resources(ours)
