"""The generic ensemble path (modules that are not our classifier) against a by-hand reference.

Per-chip accuracies from :func:`robust_snn.devices.evaluate_ensemble` on one and two threads and with
``vectorise=False`` must equal those of an independent reference: each chip's parameters written by hand into a
copy of the module, which is then simply called. Two modules: a subclass of our classifier (our chip-batched path
refuses subclasses, so it takes the generic path, under ``vmap`` or chip by chip) and a real foreign module,
the same network converted to Rockpool ``LinearTorch``/``LIFTorch`` (``vmap`` cannot trace it: chip by chip);
and an snntorch network (chip by chip too).
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch.utils.data import TensorDataset

import robust_snn.devices.ensemble as ensemble
from robust_snn.core import NetworkConfig, SNNClassifier, parameter_families, physical_parameters
from robust_snn.devices import evaluate_ensemble, sample_chips
from robust_snn.devices.ensemble import model_dt

PROFILE, CHIPS, CHUNK, SEED = "gaussian-20", 6, 4, 2  # chunks of 4 and 2 chips


class Subclassed(SNNClassifier):
    """Our network as a subclass: not chip-batched (the chip-batched path reproduces unsubclassed modules)."""


def network() -> SNNClassifier:
    return SNNClassifier(NetworkConfig(n_in=6, hidden=(12,), n_classes=3, recurrent=True, seed=3)).eval()


def subclassed() -> Subclassed:
    other = Subclassed(network().config).eval()
    other.load_state_dict(network().state_dict())
    return other


def rockpool() -> torch.nn.Module:
    pytest.importorskip("rockpool")
    from robust_snn.interop.rockpool import to_rockpool

    return to_rockpool(network()).eval()


def rockpool_leaky() -> torch.nn.Module:
    """A Rockpool network with a leaky readout: its last ``LIFTorch`` must never spike on the twin's chips."""
    pytest.importorskip("rockpool")
    from robust_snn.interop.rockpool import to_rockpool

    config = NetworkConfig(n_in=6, hidden=(12,), n_classes=3, recurrent=True, seed=3, readout="leaky")
    return to_rockpool(SNNClassifier(config)).eval()


def rockpool_self_connected() -> torch.nn.Module:
    """A Rockpool network with self-connections (a non-zero ``w_rec`` diagonal), which our layers mask: its
    twin must refuse every chip and leave them to the module itself."""
    model = rockpool()
    with torch.no_grad():
        w_rec = model.net[1].w_rec
        w_rec.copy_(w_rec + 0.3 * torch.eye(w_rec.shape[0]))
    return model


def snntorch_net() -> torch.nn.Module:
    """A foreign module whose neurons keep hidden state in attributes (snntorch's ``Leaky``)."""
    snn = pytest.importorskip("snntorch")

    class SnnTorchNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.fc1, self.fc2 = torch.nn.Linear(6, 10), torch.nn.Linear(10, 3)
            self.lif = snn.Leaky(beta=0.9, learn_beta=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mem, out = self.lif.init_leaky(), []
            for t in range(x.shape[1]):
                spk, mem = self.lif(self.fc1(x[:, t]), mem)
                out.append(spk)
            return self.fc2(torch.stack(out, 1).mean(1))

    return SnnTorchNet().eval()


def data(n: int = 40) -> TensorDataset:
    g = torch.Generator().manual_seed(5)
    return TensorDataset(torch.randn(n, 15, 6, generator=g) * 3, torch.randint(0, 3, (n,), generator=g))


def by_hand(model: torch.nn.Module, dataset: TensorDataset) -> tuple[float, ...]:
    """Per-chip accuracy with each chip's parameters written into a copy of ``model`` (no functional_call).

    Our layers store ``log`` of their time constants and thresholds (``layers.0.log_tau_mem`` for the
    physical ``layers.0.tau_mem``); Rockpool stores the physical values under the physical names.
    """
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    chips = sample_chips(params, parameter_families(model), PROFILE, CHIPS, SEED, dt=model_dt(model))
    x, y = dataset.tensors
    accuracies = []
    for k in range(CHIPS):
        chip = copy.deepcopy(model)
        stored = dict(chip.named_parameters())
        with torch.no_grad():
            for name, value in chips.items():
                prefix, leaf = name.rsplit(".", 1)
                if name in stored:
                    stored[name].copy_(value[k])
                else:
                    stored[f"{prefix}.log_{leaf}"].copy_(torch.log(value[k]))
            accuracies.append(int((chip(x).argmax(-1) == y).sum()) / len(y))
    return tuple(accuracies)


def run(model: torch.nn.Module, dataset: TensorDataset, threads: int, batch_size: int, **kw) -> tuple[float, ...]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Rockpool, snntorch: "vmap cannot run this model"
            result = evaluate_ensemble(model, PROFILE, dataset, n_chips=CHIPS, seed=SEED, chunk_size=CHUNK,
                                       batch_size=batch_size, progress=False, **kw)
        assert torch.get_num_threads() == threads  # the caller's count is restored
    finally:
        torch.set_num_threads(before)
    return result.per_chip_accuracy


@pytest.mark.parametrize("make,batch_size,vmap_max_batch", [
    (subclassed, 8, 96),  # under vmap
    (subclassed, 8, 4),   # chip by chip (batches above VMAP_MAX_BATCH)
    (rockpool, 8, 96),    # chip-batched on its twin
    (rockpool_leaky, 8, 96),  # the same with a leaky readout
    (rockpool_self_connected, 8, 96),  # the twin refuses: vmap cannot trace LIFTorch, so chip by chip
    (snntorch_net, 8, 96),  # vmap cannot trace snntorch's neurons: chip by chip
], ids=["subclass-vmap", "subclass-chip-by-chip", "rockpool", "rockpool-leaky", "rockpool-self-connected",
        "snntorch"])
def test_generic_path_gives_the_same_per_chip_accuracies_on_one_and_two_threads(
        make, batch_size, vmap_max_batch, monkeypatch):
    monkeypatch.setattr(ensemble, "VMAP_MAX_BATCH", vmap_max_batch)
    model, dataset = make(), data()
    reference = by_hand(model, dataset)
    assert len(set(reference)) > 1, "the chips must differ for the comparison to mean something"
    loop = run(model, dataset, 1, batch_size, vectorise=False)
    one = run(model, dataset, 1, batch_size)
    two = run(model, dataset, 2, batch_size)
    assert reference == loop == one == two


@pytest.mark.parametrize("make", [subclassed, rockpool], ids=["subclass", "rockpool"])
def test_an_ensemble_leaves_the_callers_parameters_and_state_unchanged(make):
    """``functional_call`` swaps parameters in place for a call and must swap them back after every chip; a
    stateful module's buffers (Rockpool's ``vmem``/``isyn``, written by every forward pass) come back too."""
    model = make()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    buffers = {k: v.detach().clone() for k, v in model.named_buffers()}
    run(model, data(), 2, 8)
    after = dict(model.named_parameters())
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert torch.equal(after[name], value), name
    after_buffers = dict(model.named_buffers())
    assert after_buffers.keys() == buffers.keys()
    for name, value in buffers.items():
        assert after_buffers[name].shape == value.shape and torch.equal(after_buffers[name], value), name
    assert not model.training  # left in the mode it came in


@pytest.mark.parametrize("make,on_twin", [(rockpool, True), (rockpool_leaky, True), (rockpool_self_connected, False)],
                         ids=["rockpool", "rockpool-leaky", "rockpool-self-connected"])
def test_a_rockpool_network_runs_its_chips_on_its_chip_batched_twin_where_the_twin_reproduces_them(
        make, on_twin, monkeypatch):
    """Which path ran: the chip-batched pass on an SNNClassifier twin for every chunk, or never."""
    from robust_snn.core import SNNClassifier as Ours

    seen = []
    original = ensemble.chip_batched_forward

    def spy(net, params, x, **kw):  # noqa: ANN001, ANN003, ANN202
        seen.append((type(net), next(iter(params.values())).shape[0]))
        return original(net, params, x, **kw)

    monkeypatch.setattr(ensemble, "chip_batched_forward", spy)
    run(make(), data(), 1, 8)
    chunk_passes = [chips for kind, chips in seen if kind is Ours and chips > 1]
    # gaussian-20 has no read noise, so each chunk's five batches run as one pass (MERGED_ROWS); the nominal chip
    # is one more chip of the first
    assert (chunk_passes == [5, 2]) if on_twin else not chunk_passes


def test_the_twin_says_why_it_cannot_reproduce_a_chip():
    from robust_snn.interop.rockpool import ChipBatchedTwin

    model = rockpool_leaky()
    twin = ChipBatchedTwin(model)
    params = {k: v.detach().unsqueeze(0).repeat(2, *([1] * v.dim())) for k, v in physical_parameters(model).items()}
    assert twin.refusal(params) is None and twin.parameters_for(params) is not None
    names = {leaf: [k for k in params if k.endswith(leaf)] for leaf in (".w_rec", ".tau_syn", ".threshold")}
    bad = dict(params, **{names[".w_rec"][0]: params[names[".w_rec"][0]].clone()})
    bad[names[".w_rec"][0]][1, 2, 2] = 0.1  # chip 1 connects neuron 2 to itself
    assert "diagonal" in twin.refusal(bad) and twin.parameters_for(bad) is None
    bad = dict(params, **{names[".tau_syn"][0]: params[names[".tau_syn"][0]].clone()})
    bad[names[".tau_syn"][0]][0, 3] = -1e-3
    assert "non-positive time constant" in twin.refusal(bad)
    readout = names[".threshold"][-1]  # the readout LIFTorch's, last in Rockpool's order
    bad = dict(params, **{readout: params[readout].clone()})
    bad[readout][1, 0] = 5.0
    assert "readout could spike" in twin.refusal(bad)


def test_a_twin_that_disagrees_with_its_module_is_not_used(monkeypatch):
    """A twin is checked on the first batch before it is trusted: a wrong one warns and the module runs."""
    from robust_snn.interop.rockpool import ChipBatchedTwin

    original = ChipBatchedTwin.parameters_for

    def wrong(self, params):  # noqa: ANN001, ANN202
        mapped = original(self, params)
        return None if mapped is None else {k: v * 1.5 if k.endswith("weight") else v for k, v in mapped.items()}

    monkeypatch.setattr(ChipBatchedTwin, "parameters_for", wrong)
    model, dataset = rockpool(), data()
    with pytest.warns(UserWarning, match="twin of RockpoolClassifier disagrees"):
        result = evaluate_ensemble(model, PROFILE, dataset, n_chips=CHIPS, seed=SEED, chunk_size=CHUNK,
                                   batch_size=8, progress=False)
    assert result.per_chip_accuracy == by_hand(model, dataset)
