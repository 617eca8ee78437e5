"""Compiled gradient passes (``compile_for_training``, ``fit(compile=True)``) against the same passes run eagerly.

The reference is eager autograd through the same network (the fused scan with its hand-written backward, itself
tested against autograd of the one LIF step): the compiled graph (by default the scan as custom ops inside an
Inductor graph; with ``unroll=True`` the loop unrolled and fused by Inductor) must give the same loss and
gradients. Float64, so that float reassociation inside the compiled kernels cannot tip a
membrane over its threshold or flip the sign of an attack gradient. Tiny networks and few steps: compiling the
unrolled loop takes seconds here.
"""

import copy

import pytest
import torch
from torch.utils.data import TensorDataset

from robust_snn.core import NetworkConfig, SNNClassifier, compile_for_training, physical_parameters
from robust_snn.training import TrainConfig, fit, make_method

METHODS = {
    "standard": ("standard", {}),
    "adversarial": ("adversarial", {"eps": 0.1, "steps": 3, "beta": 0.5}),
    "dropout": ("dropout", {}),  # forward hooks, added per batch: the compiled graph must not skip them
    "device-noise": ("noise", {"device": "gaussian-10"}),
}


def network(**kw):
    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(7,), n_classes=3, seed=3, init_gain=2.0, **kw)).double()
    return model, copy.deepcopy(model)


def data(n=6, steps=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, steps, 4, generator=g, dtype=torch.float64) * 2, torch.randint(0, 3, (n,), generator=g)


CASES = [(name, False) for name in METHODS] + [("standard", True), ("adversarial", True)]


@pytest.mark.parametrize(("name", "unroll"), CASES, ids=[f"{n}-{'unrolled' if u else 'scan-op'}" for n, u in CASES])
def test_a_compiled_method_step_gives_the_eager_loss_and_gradients(name, unroll):
    method_name, hyper = METHODS[name]
    compiled, eager = network(recurrent=True)
    undo = compile_for_training(compiled, unroll=unroll)
    x, y = data()
    results = []
    for model in (compiled, eager):
        method = make_method(method_name, hyper)
        result = method.loss(model, physical_parameters(model), x, y, torch.Generator().manual_seed(5))
        result.loss.backward()
        results.append((result, {n: p.grad for n, p in model.named_parameters() if p.requires_grad}))
    (r1, g1), (r2, g2) = results
    assert r1.logits.abs().sum() > 0 and any(g.abs().sum() > 0 for g in g2.values())
    torch.testing.assert_close(r1.loss, r2.loss, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(r1.logits, r2.logits, rtol=1e-9, atol=1e-12)
    assert set(g1) == set(g2)
    for key in g1:
        torch.testing.assert_close(g1[key], g2[key], rtol=1e-7, atol=1e-10, msg=key)
    if name == "adversarial":  # the attack ran through the compiled graph and landed where the eager one did
        for key, value in r2.points["attacked"].items():
            torch.testing.assert_close(r1.points["attacked"][key], value, rtol=1e-9, atol=1e-12, msg=key)
    undo()
    assert "forward" not in vars(compiled)


def test_no_grad_passes_stay_eager_and_names_are_kept():
    model, _ = network()
    names = [n for n, _ in model.named_parameters()]
    undo = compile_for_training(model)
    torch._dynamo.utils.counters.clear()
    x, _ = data()
    with torch.no_grad():
        model(x)
    assert torch._dynamo.utils.counters["frames"]["total"] == 0  # nothing was traced: validation needs no compile
    assert [n for n, _ in model.named_parameters()] == names and set(model.state_dict()) == set(
        SNNClassifier(model.config).state_dict())
    with pytest.raises(ValueError, match="already replaced"):
        compile_for_training(model)
    undo()


@pytest.mark.slow
def test_fit_with_compile_trains_as_eager_fit_does():
    # fit's batches are float32 (core.evaluation), so this one runs in float32 with float32 tolerances.
    x, y = data(n=10, steps=6, seed=1)
    train, val = TensorDataset(x.float(), y), TensorDataset(*data(n=4, steps=6, seed=2))
    config = TrainConfig(epochs=2, batch_size=4, lr=1e-2)  # batches of 4, 4 and 2: two batch shapes
    runs = []
    for compile_ in (True, False):
        model = SNNClassifier(NetworkConfig(n_in=4, hidden=(7,), n_classes=3, seed=3, init_gain=2.0, recurrent=True))
        result = fit(model, train, val, make_method("standard"), config, progress=False, compile=compile_)
        assert "forward" not in vars(result.model)
        runs.append(result)
    compiled, eager = runs
    for a, b in zip(compiled.history, eager.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    assert compiled.history[0]["train_loss"] != compiled.history[1]["train_loss"]  # it did train
    for key, value in eager.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)


def test_a_fit_that_stops_with_an_error_returns_the_model_uncompiled():
    """The error comes from the method before any forward pass, so nothing is compiled (fast); what is checked
    is that fit puts the caller's forward back, so the model runs eagerly and can be compiled again."""

    class Broken:
        def describe(self):
            return {"name": "broken"}

        def init(self, model):
            return {}

        def update(self, model, params, batch, state):
            raise RuntimeError("a method that fails on its first batch")

    model = SNNClassifier(NetworkConfig(n_in=4, hidden=(7,), n_classes=3, seed=3))
    x, y = data(n=4, steps=6, seed=1)
    with pytest.raises(RuntimeError, match="first batch"):
        fit(model, TensorDataset(x.float(), y), None, Broken(), TrainConfig(epochs=1, batch_size=4),
            progress=False, compile=True)
    assert "forward" not in vars(model)
    compile_for_training(model)()  # a second compile is accepted (it refuses a model compiled twice)


def test_train_compile_flag_reaches_fit(tmp_path, monkeypatch):
    import robust_snn.training as training
    from robust_snn.cli import main

    seen, real_fit = [], training.fit

    def recording_fit(*args, compile=False, **kw):
        seen.append(compile)
        return real_fit(*args, **kw)  # eagerly: what is tested here is the plumbing, not the compiler

    monkeypatch.setattr(training, "fit", recording_fit)
    config = tmp_path / "c.toml"
    config.write_text("[network]\nhidden = [8]\n\n[train]\nbatch_size = 256\n")
    for flags in ((), ("--compile",)):
        out = tmp_path / f"m{len(flags)}.rsnn"
        code = main(["train", "--data", "synth-kws", "--epochs", "1", "--out", str(out), "--config", str(config),
                     "--quiet", *flags])
        assert code == 0 and out.exists()
    # the saved configuration keeps the choice: a rerun from it compiles again
    rerun = tmp_path / "rerun.rsnn"
    assert main(["train", "--config", str(tmp_path / "m1.rsnn.config.toml"), "--out", str(rerun), "--quiet"]) == 0
    assert seen == [False, True, True]
