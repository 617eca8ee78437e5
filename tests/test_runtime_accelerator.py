"""Accelerator plumbing: model, batches, chips, attacks and draws follow the chosen device, and nothing in the
package creates a tensor on the CPU where the model's device was meant.

There is no GPU in CI, so the device is emulated (``tests/emulated_accelerator.py``): tensors on the ``meta``
device that carry real numbers, with CUDA's rule that accelerator and CPU tensors do not mix. A tensor made
with ``torch.zeros(n)`` instead of ``torch.zeros(n, device=x.device)`` meets an accelerator tensor and raises,
as on a GPU; the numbers are computed by the CPU kernels, so every result must equal the CPU run bit for bit
(the draws are made on CPU generators on every device). What this cannot catch: see the emulator's docstring.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emulated_accelerator import ACCELERATOR, MixedDevices, OnAccelerator, emulated_accelerator, values

#: Every test here compares a run on the emulated accelerator with one on the CPU (see the fixture).
pytestmark = pytest.mark.usefixtures("cpu_runs_the_loop")
from robust_snn.attack import AttackConfig, evaluate_attack
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.core.parameters import parameter_families, physical_parameters
from robust_snn.devices import evaluate_ensemble, sample_chips
from robust_snn.readiness.scorecard import AttackSettings, EnsembleSettings, Scored, score_card
from robust_snn.runtime import AcceleratorError, module_device, resolve_accelerator
from robust_snn.training import TrainConfig, evaluate, fit, make_method

from conftest import make_pattern_data

CONFIG = NetworkConfig(n_in=8, hidden=(12,), n_classes=3, seed=1, recurrent=True)


@pytest.fixture(scope="module")
def data():
    return make_pattern_data(40, seed=0), make_pattern_data(24, seed=1)


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: values(v).clone() for k, v in model.state_dict().items()}


def test_the_emulator_refuses_what_cuda_refuses():
    """The test harness itself: mixing devices and drawing on the accelerator with a CPU generator raise."""
    with emulated_accelerator() as dev:
        a = torch.ones(3, device=dev)
        assert isinstance(a, OnAccelerator) and a.device == ACCELERATOR
        with pytest.raises(MixedDevices):
            a + torch.ones(3)
        assert float((a + torch.tensor(2.0)).sum()) == 9.0  # 0-dim CPU tensors are allowed, as on CUDA
        with pytest.raises(MixedDevices):
            torch.randn(3, generator=torch.Generator(), device=dev)
        assert torch.equal(a.cpu(), torch.ones(3)) and type(a.cpu()) is torch.Tensor


@pytest.mark.parametrize("method", ["standard", "noise", "dropout", "rwp", "asam", "awp", "adversarial",
                                    "fn-adversarial", "qat"])
def test_training_on_the_accelerator_equals_training_on_the_cpu(data, method):
    train, val = data
    hp = {"steps": 2} if method in ("awp", "adversarial", "fn-adversarial") else {}
    config = TrainConfig(epochs=1, batch_size=16, seed=3)
    cpu = fit(SNNClassifier(CONFIG), train, val, make_method(method, hp), config, progress=False)
    with emulated_accelerator() as dev:
        result = fit(SNNClassifier(CONFIG), train, val, make_method(method, hp), config, progress=False,
                     accelerator=dev)
        assert module_device(result.model) == dev
        state = _state(result.model)
    assert result.history == cpu.history
    assert all(torch.equal(state[k], v) for k, v in cpu.model.state_dict().items())


@pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter")  # the emulator's meta: it copies
def test_resuming_on_the_accelerator_continues_the_cpu_run(data, tmp_path):
    train, val = data
    config = TrainConfig(epochs=2, batch_size=16, seed=3)
    cpu = fit(SNNClassifier(CONFIG), train, val, make_method("standard"), config, progress=False)
    ckpt = tmp_path / "run.ckpt"
    fit(SNNClassifier(CONFIG), train, val, make_method("standard"), config, progress=False, checkpoint=ckpt,
        stop_after=1)
    with emulated_accelerator() as dev:
        resumed = fit(SNNClassifier(CONFIG), train, val, make_method("standard"), config, progress=False,
                      checkpoint=ckpt, resume=True, accelerator=dev)
        state = _state(resumed.model)
    assert resumed.history == cpu.history
    assert all(torch.equal(state[k], v) for k, v in cpu.model.state_dict().items())


def test_evaluation_ensemble_and_attack_follow_the_accelerator(data):
    _, test = data
    model = SNNClassifier(CONFIG).eval()
    attack = AttackConfig(eps=0.2, steps=2, divergence="ce")
    cpu = (evaluate(model, test), evaluate_ensemble(model, "gaussian-20", test, n_chips=5, chunk_size=2,
                                                    progress=False),
           evaluate_attack(model, test, attack, repeats=2, seed=1))
    with emulated_accelerator() as dev:
        on_acc = (evaluate(model, test, accelerator=dev),
                  evaluate_ensemble(model, "gaussian-20", test, n_chips=5, chunk_size=2, progress=False,
                                    accelerator=dev),
                  evaluate_attack(model, test, attack, repeats=2, seed=1, accelerator=dev))
    assert on_acc == cpu
    assert module_device(model).type == "cpu"  # evaluation moved a copy, never the caller's model


def test_read_noise_crossbars_and_the_vmap_path_follow_the_accelerator(data):
    """Profiles with crossbar and read stages, and a module that is not ours (the generic vmap path)."""
    _, test = data
    model = SNNClassifier(CONFIG).eval()

    class Wrapped(torch.nn.Module):  # not an SNNClassifier: the ensemble takes the vmap path
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

    cpu = [evaluate_ensemble(m, p, test, n_chips=3, chunk_size=2, progress=False)
           for m, p in ((model, "pcm"), (model, "xylo-audio2"), (Wrapped(), "gaussian-10"))]
    with emulated_accelerator() as dev:
        on_acc = [evaluate_ensemble(m, p, test, n_chips=3, chunk_size=2, progress=False, accelerator=dev)
                  for m, p in ((model, "pcm"), (model, "xylo-audio2"), (Wrapped(), "gaussian-10"))]
    assert on_acc == cpu


def test_chips_are_the_same_chips_on_every_accelerator():
    model = SNNClassifier(CONFIG)
    params = {k: v.detach() for k, v in physical_parameters(model).items()}
    cpu = sample_chips(params, parameter_families(model), "dynapse2", 4, seed=7)
    with emulated_accelerator() as dev:
        moved = {k: v.to(dev) for k, v in params.items()}
        chips = sample_chips(moved, parameter_families(model), "dynapse2", 4, seed=7)
        assert all(v.device == dev for v in chips.values())
        chips = {k: values(v) for k, v in chips.items()}
    assert all(torch.equal(chips[k], v) for k, v in cpu.items())


def test_the_score_card_follows_the_accelerator(data):
    _, test = data
    model = SNNClassifier(CONFIG).eval()
    attack = AttackSettings(steps=2, repeats=1)
    cpu = score_card(Scored(model, test), "dynapse2", EnsembleSettings(n_chips=4), attack=attack)
    with emulated_accelerator() as dev:
        on_acc = score_card(Scored(model, test), "dynapse2", EnsembleSettings(n_chips=4, accelerator=dev),
                            attack=attack)
    assert on_acc.to_dict() == cpu.to_dict()


def test_a_hard_coded_cpu_tensor_is_caught():
    """The point of the emulator: the mistake this file guards against fails here, without a GPU."""
    model = SNNClassifier(CONFIG)
    x = torch.randn(4, 10, 8)
    with emulated_accelerator() as dev:
        model = model.to(dev)
        logits = model(x.to(dev))  # right: the batch follows the model
        assert logits.device == dev
        with pytest.raises(MixedDevices):
            model(x)  # wrong: a CPU batch for an accelerator model
        with pytest.raises(MixedDevices):
            F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))  # wrong: CPU labels


def test_auto_is_the_cpu_without_cuda_and_cuda_without_one_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_accelerator("auto") == torch.device("cpu")
    assert resolve_accelerator("cpu") == torch.device("cpu")
    assert resolve_accelerator(None) is None
    with pytest.raises(AcceleratorError, match="cuda is not available"):
        resolve_accelerator("cuda")
    with pytest.raises(AcceleratorError, match="accelerator must be one of"):
        resolve_accelerator("gpu")


def test_cli_accelerator_cuda_without_cuda_exits_2_in_one_line(tmp_path, capsys, monkeypatch):
    from robust_snn.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["attack", str(tmp_path / "missing.rsnn"), "--data", "synth-kws", "--accelerator", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "accelerator cuda is not available" in err
