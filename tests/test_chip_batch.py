"""The chip-batched forward pass computes what vmap over functional_forward computes: spikes, logits, accuracies."""

import threading

import pytest
import torch
from torch.utils.data import TensorDataset

import robust_snn.core.chip_batch as chip_batch
import robust_snn.devices.ensemble as ensemble
from robust_snn.core import NetworkConfig, SNNClassifier, functional_forward, parameter_families, physical_parameters
from robust_snn.core.chip_batch import chip_batch_support, chip_batched_forward
from robust_snn.devices import evaluate_ensemble, sample_chips
from robust_snn.distributed.ensemble import distributed_ensemble

CONFIGS = {
    "ffwd": dict(hidden=(12,)),
    "recurrent": dict(hidden=(12,), recurrent=True),
    "adaptive": dict(hidden=(12,), adaptive=True, adapt_strength=0.3, tau_adapt=0.05),
    "two-layers-rec-adaptive": dict(hidden=(12, 10), recurrent=True, adaptive=True, adapt_strength=0.3),
    "leaky-readout": dict(hidden=(12,), recurrent=True, readout="leaky"),
    "leaky-two-layers": dict(hidden=(12, 9), readout="leaky", adaptive=True),
}


def make(name, **overrides):
    return SNNClassifier(NetworkConfig(n_in=6, n_classes=3, seed=3, **{**CONFIGS[name], **overrides})).eval()


def chips_of(model, profile="dynapse2", n=5):
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    return sample_chips(params, parameter_families(model), profile, n, seed=0)


def inputs(batch=8, steps=23):
    return torch.randn(batch, steps, 6, generator=torch.Generator().manual_seed(1)) * 3


def labelled(n):
    """``n`` seeded 15-step clips with labels, for whole-ensemble runs."""
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 15, 6, generator=g) * 3, torch.randint(0, 3, (n,), generator=g))


class Subclassed(SNNClassifier):
    """Our classifier seen as a foreign module: a subclass takes the generic (vmap or loop) path."""


def as_foreign(model):
    """``model``'s network and weights in a :class:`Subclassed`."""
    other = Subclassed(model.config).eval()
    other.load_state_dict(model.state_dict())
    return other


def vmapped(model, chips, x):
    with torch.no_grad():
        return torch.func.vmap(lambda p: functional_forward(model, p, x))(chips)


def as_rate_readout(model):
    """The same network with a spike-mean readout whose logits are the last layer's spike rates."""
    n = model.config.hidden[-1]
    rates = SNNClassifier(NetworkConfig(**{**model.config.to_dict(), "n_classes": n, "readout": "spike_mean"}))
    rates.load_state_dict({k: v for k, v in model.state_dict().items() if k.startswith("layers.")}, strict=False)
    with torch.no_grad():
        rates.readout.weight.copy_(torch.eye(n))
        rates.readout.bias.zero_()
    return rates.eval()


@pytest.fixture(params=[pytest.param(True, marks=pytest.mark.skipif(
    not chip_batch.lif_scan_cpu.wide_vectors(),
    reason="no C compiler, or a build with 128-bit vectors only: the fused step does not run")), False],
    ids=["fused-step", "lif-step"])
def step_kind(request, monkeypatch):
    """Each step's element-wise updates as one C call (lif_scan_cpu.ChipStep; counted) or lif_step's ops."""
    monkeypatch.setattr(chip_batch, "use_fused_step", request.param)
    calls = []
    original = chip_batch.lif_scan_cpu.ChipStep.bind
    monkeypatch.setattr(chip_batch.lif_scan_cpu.ChipStep, "bind",
                        lambda self, *a: calls.append(1) or original(self, *a))
    yield request.param
    assert bool(calls) == request.param  # the fused step ran where it was on, and only there


@pytest.mark.parametrize("name", CONFIGS)
def test_spike_counts_equal_the_vmapped_networks(name, step_kind):
    # Identity readout, zero bias: the logits are spike counts / time, exact whatever the summation order.
    model = as_rate_readout(make(name))
    chips, x = chips_of(model), inputs()
    rates = chip_batched_forward(model, chips, x)
    assert rates.sum() > 0 and torch.equal(rates, vmapped(model, chips, x))


@pytest.mark.parametrize("name", CONFIGS)
def test_logits_equal_the_vmapped_networks(name, step_kind):
    model = make(name)
    chips, x = chips_of(model), inputs()
    batched, reference = chip_batched_forward(model, chips, x), vmapped(model, chips, x)
    assert batched.shape == (5, 8, 3)
    torch.testing.assert_close(batched, reference, rtol=0, atol=1e-6)
    assert torch.equal(batched.argmax(-1), reference.argmax(-1))
    if model.config.readout == "spike_mean":
        assert torch.equal(batched, reference)


@pytest.mark.parametrize("name", ["two-layers-rec-adaptive", "leaky-two-layers"])
def test_the_dense_products_give_the_same_spikes_as_the_look_ups(name, monkeypatch):
    import robust_snn.core.spike_product as spike_product

    model = as_rate_readout(make(name)) if make(name).config.readout == "spike_mean" else make(name)
    chips, x = chips_of(model), inputs()
    looked_up = chip_batched_forward(model, chips, x)
    monkeypatch.setattr(spike_product, "MAX_TABLE_BYTES", 0)  # every product by batched matrix multiplication
    dense = chip_batched_forward(model, chips, x)
    torch.testing.assert_close(dense, looked_up, rtol=0, atol=1e-6)
    torch.testing.assert_close(dense, vmapped(model, chips, x), rtol=0, atol=1e-6)


@pytest.mark.parametrize("time_block", [1, 3, 7, 100])
def test_results_do_not_depend_on_the_time_block(time_block):
    model = as_rate_readout(make("two-layers-rec-adaptive"))
    chips, x = chips_of(model), inputs(steps=20)
    assert torch.equal(chip_batched_forward(model, chips, x, time_block=time_block), vmapped(model, chips, x))


@pytest.mark.parametrize("name", ["two-layers-rec-adaptive", "leaky-two-layers"])
def test_results_do_not_depend_on_the_thread_count(name):
    # Large enough (8 chips x 128 samples x 40 neurons) for torch to split the elementwise ops over threads.
    model = make(name, hidden=(40, 36))
    chips, x = chips_of(model, n=8), inputs(batch=128, steps=12)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(chip_batched_forward(model, chips, x))
    finally:
        torch.set_num_threads(before)
    one, two = results
    torch.testing.assert_close(two, one, rtol=0, atol=1e-6)
    assert torch.equal(one.argmax(-1), two.argmax(-1))


def small_groups(monkeypatch):
    """Groups of at most 16 chip-samples, threads from 8: tiny networks take the path of large ensembles."""
    monkeypatch.setattr(chip_batch, "GROUP_ROWS", 16)
    monkeypatch.setattr(chip_batch, "MIN_THREAD_ROWS", 8)


@pytest.mark.parametrize("name", ["two-layers-rec-adaptive", "leaky-two-layers"])
def test_groups_of_chips_in_threads_compute_what_vmap_computes(name, monkeypatch):
    model = as_rate_readout(make(name)) if make(name).config.readout == "spike_mean" else make(name)
    chips, x = chips_of(model), inputs()  # 5 chips x 8 samples: 3 groups of 1-2 chips
    small_groups(monkeypatch)
    runners = []
    real = chip_batch._forward
    monkeypatch.setattr(chip_batch, "_forward", lambda *a: runners.append(threading.get_ident()) or real(*a))
    before = torch.get_num_threads()
    grouped = chip_batched_forward(model, chips, x, threads=2)
    assert len(runners) == 3 and threading.get_ident() not in runners  # three groups, run in worker threads
    assert torch.get_num_threads() == before
    if model.config.readout == "spike_mean":  # spike rates: exact
        assert torch.equal(grouped, vmapped(model, chips, x))
    torch.testing.assert_close(grouped, vmapped(model, chips, x), rtol=0, atol=1e-6)
    runners.clear()
    assert torch.equal(chip_batched_forward(model, chips, x, threads=1), grouped)  # the same groups, in turn
    assert len(runners) == 3 and set(runners) == {threading.get_ident()}


def test_ensembles_in_threads_give_the_loops_accuracies_and_keep_the_thread_count(monkeypatch):
    model = make("two-layers-rec-adaptive")
    data = labelled(40)
    kw = dict(n_chips=6, seed=1, batch_size=8, progress=False)
    loop = evaluate_ensemble(model, "gaussian-20", data, chunk_size=1, vectorise=False, **kw)
    small_groups(monkeypatch)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        threaded = evaluate_ensemble(model, "gaussian-20", data, chunk_size=4, **kw)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert threaded == loop


@pytest.mark.parametrize("name", ["recurrent", "adaptive", "leaky-readout"])
@pytest.mark.parametrize("profile", ["gaussian-20", "rram"])  # rram: per-inference read noise
def test_ensemble_accuracies_equal_the_chip_by_chip_loop(name, profile):
    model = make(name)
    data = labelled(40)
    kw = dict(n_chips=6, seed=1, batch_size=16, progress=False)
    batched = evaluate_ensemble(model, profile, data, chunk_size=4, **kw)
    assert batched.per_chip_accuracy == evaluate_ensemble(model, profile, data, chunk_size=1, vectorise=False,
                                                          **kw).per_chip_accuracy


def test_the_ensemble_runs_our_classifier_chip_batched_and_other_modules_through_vmap(monkeypatch):
    calls = []
    def counted(net, params, x, **kwargs):
        calls.append(next(iter(params.values())).shape[0])  # chips in the pass
        return chip_batched_forward(net, params, x, **kwargs)

    monkeypatch.setattr(ensemble, "chip_batched_forward", counted)
    model = make("recurrent")

    other = as_foreign(model)
    data = labelled(20)
    kw = dict(n_chips=3, seed=1, batch_size=10, progress=False)
    ours = evaluate_ensemble(model, "dynapse2", data, **kw)
    # One pass per chunk (frozen chips take both batches of 10 in one pass), the nominal chip one more chip of it
    assert calls == [4]
    theirs = evaluate_ensemble(other, "dynapse2", data, **kw)
    assert theirs.per_chip_accuracy == ours.per_chip_accuracy
    assert theirs.nominal_accuracy == ours.nominal_accuracy  # the nominal chip through functional_forward there
    assert calls == [4]


def test_the_generic_path_runs_chips_one_by_one_on_batches_above_vmap_max_batch(monkeypatch):
    calls = []
    real = ensemble.functional_forward
    monkeypatch.setattr(ensemble, "functional_forward", lambda *a, **k: calls.append(1) or real(*a, **k))

    model = Subclassed(make("recurrent").config).eval()
    data = labelled(20)
    kw = dict(n_chips=3, chunk_size=3, seed=1, batch_size=10, progress=False)
    vmapped_result = evaluate_ensemble(model, "dynapse2", data, **kw)
    under_vmap = len(calls)  # one traced call per batch, plus the probe and the nominal model
    calls.clear()
    monkeypatch.setattr(ensemble, "VMAP_MAX_BATCH", 9)
    assert evaluate_ensemble(model, "dynapse2", data, **kw) == vmapped_result
    assert len(calls) - under_vmap == 2 * (3 - 1)  # 2 batches: 3 calls each instead of 1


def test_only_our_own_unmodified_classifier_is_supported():
    assert chip_batch_support(make("ffwd")) is None
    assert "not an SNNClassifier" in chip_batch_support(Subclassed(make("ffwd").config))
    assert "not an SNNClassifier" in chip_batch_support(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="SNNClassifier only"):
        chip_batched_forward(torch.nn.Linear(2, 2), {}, inputs())


def test_a_wrong_input_shape_is_named():
    model = make("ffwd")
    with pytest.raises(ValueError, match=r"\(batch, time, 6\)"):
        chip_batched_forward(model, chips_of(model), torch.zeros(2, 5, 4))


@pytest.mark.parametrize("profile", ["gaussian-20", "rram"])  # rram: per-inference read noise
def test_every_ensemble_path_gives_the_same_per_chip_accuracies(profile, monkeypatch):
    # Chip-batched (our classifier), vmap (the generic path: a subclass), and the chip-by-chip loop, each at
    # a small and a whole-data-set batch and two chunk sizes: one answer per chip whatever the path.
    model = make("two-layers-rec-adaptive")

    generic = as_foreign(model)
    data = labelled(40)
    accuracies = {}
    for batch_size in (8, 40):  # read noise is drawn per batch index, so compare at equal batch sizes
        kw = dict(n_chips=6, seed=1, batch_size=batch_size, progress=False)
        paths = {
            "loop": evaluate_ensemble(model, profile, data, chunk_size=1, vectorise=False, **kw),
            "chip-batched": evaluate_ensemble(model, profile, data, chunk_size=4, **kw),
            "chip-batched, one chunk": evaluate_ensemble(model, profile, data, chunk_size=6, **kw),
            "vmap": evaluate_ensemble(generic, profile, data, chunk_size=4, **kw),
            "vmap, one chunk": evaluate_ensemble(generic, profile, data, chunk_size=6, **kw),
        }
        monkeypatch.setattr(ensemble, "VMAP_ROWS", 12)  # vmap over slices of 3 samples (chunks of 4 chips)
        paths["vmap, batch in slices"] = evaluate_ensemble(generic, profile, data, chunk_size=4, **kw)
        monkeypatch.undo()
        monkeypatch.setattr(ensemble, "VMAP_MAX_BATCH", 4)  # the generic path, chip by chip on large batches
        paths["generic, chip by chip"] = evaluate_ensemble(generic, profile, data, chunk_size=4, **kw)
        monkeypatch.undo()
        # The distributed entry point, chips in tasks of 2 (the local backend: what Ray workers run).
        paths["tasks of 2 chips"] = distributed_ensemble(model, profile, data, chunk_size=4, chips_per_task=2, **kw)
        reference = paths["loop"].per_chip_accuracy
        assert len(set(reference)) > 1  # the chips differ, so equality is informative
        for name, result in paths.items():
            assert result.per_chip_accuracy == reference, (name, batch_size)
        accuracies[batch_size] = reference
    if profile == "gaussian-20":  # no read noise: the batch size cannot matter either
        assert accuracies[8] == accuracies[40]
