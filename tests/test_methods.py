import copy
import math

import numpy as np
import pytest
import scipy.stats
import torch

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.training import METHODS, TrainConfig, fit, make_method
from robust_snn.training.methods.dropout import hidden_dropout

from conftest import make_pattern_data

EXPECTED = {"standard", "noise", "dropout", "awp", "adversarial", "adversarial-warm", "fn-adversarial", "rwp", "asam"}


def small_model(**kw):
    return SNNClassifier(NetworkConfig(n_in=8, hidden=(12,), n_classes=3, recurrent=True, seed=5, **kw))


def one_epoch(method, model=None, **train_kw):
    model = model or small_model()
    data = make_pattern_data(48, seed=0)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=5e-3, seed=1, **train_kw)
    return fit(model, data, None, method, cfg, progress=False), model


def test_every_method_of_the_paper_and_the_sharpness_baselines_is_registered():
    assert EXPECTED <= set(METHODS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_method_trains_the_same_model_through_the_same_trainer(name):
    model = small_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result, model = one_epoch(make_method(name), model)
    assert math.isfinite(result.history[0]["train_loss"])
    assert not torch.equal(model.state_dict()["layers.0.weight"], before["layers.0.weight"])


def test_beta_zero_reproduces_standard_exactly():
    standard, a = one_epoch(make_method("standard"))
    adversarial, b = one_epoch(make_method("adversarial", {"beta": 0.0, "steps": 2}))
    for name, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[name], value), name


@pytest.mark.parametrize("name", ["adversarial", "fn-adversarial"])
def test_adversarial_gradients_are_finite_and_reach_every_trainable_parameter(name):
    model = small_model(trainable=("weights", "biases", "taus", "thresholds"))
    data = make_pattern_data(16, seed=0)
    method = make_method(name, {"families": ["weights", "biases", "taus", "thresholds"], "steps": 3})
    from robust_snn.core import physical_parameters

    x, y = data.tensors
    result = method.loss(model, physical_parameters(model), x, y, torch.Generator().manual_seed(0))
    result.loss.backward()
    for leaf, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), leaf
        assert p.grad.abs().sum() > 0, leaf


def with_biases(model):
    """Non-zero biases, so that a relative perturbation moves them."""
    with torch.no_grad():
        model.layers[0].bias.copy_(0.05 + 0.1 * torch.rand(12, generator=torch.Generator().manual_seed(1)))
        model.readout.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    return model


def with_values(model, values):
    """A copy of ``model`` whose weights and biases hold ``values`` (stored == physical for these families)."""
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for name, value in values.items():
            if name.endswith(("weight", "w_rec", "bias")):
                twin.get_parameter(name).copy_(value.detach())
    return twin


def kl_scipy(nominal_logits, attacked_logits):
    """Batch mean of KL(softmax(nominal) || softmax(attacked)), by scipy."""
    p = torch.softmax(nominal_logits.double(), -1).numpy()
    q = torch.softmax(attacked_logits.double(), -1).numpy()
    return float(np.mean([scipy.stats.entropy(pi, qi) for pi, qi in zip(p, q)]))


def test_adversarial_robustness_term_is_beta_times_the_kl_at_its_attacked_parameters_and_is_logged():
    """The logged ``kl`` is KL(f(X, theta) || f(X, theta*)) at the attacked parameters the method produced
    (computed here with scipy on a copy of the network holding theta*), theta* lies in the relative box, and
    loss = CE + beta * KL; ``fit`` records the batches' kl as ``train_kl`` (their sample-weighted mean)."""
    model = with_biases(small_model())
    x, y = make_pattern_data(16, seed=0).tensors
    method = make_method("adversarial", {"steps": 3, "beta": 0.5, "eps": 0.1})
    from robust_snn.core import physical_parameters

    theta = {k: v.detach() for k, v in physical_parameters(model).items()}
    result = method.loss(model, physical_parameters(model), x, y, torch.Generator().manual_seed(0))
    attacked = result.points["attacked"]
    for name in ("layers.0.weight", "layers.0.w_rec", "layers.0.bias", "readout.weight", "readout.bias"):
        moved = (attacked[name].detach() - theta[name]).abs()
        assert (moved <= 0.1 * theta[name].abs() + 1e-7).all(), name
        assert moved.max() > 0, name
    assert torch.equal(attacked["layers.0.tau_mem"], theta["layers.0.tau_mem"])  # not an attacked family
    with torch.no_grad():
        nominal_logits, attacked_logits = model(x), with_values(model, attacked)(x)
        ce = float(torch.nn.functional.cross_entropy(nominal_logits, y))
    kl = kl_scipy(nominal_logits, attacked_logits)
    assert kl > 1e-4
    assert result.metrics["kl"] == pytest.approx(kl, rel=1e-4)
    assert float(result.loss.detach()) == pytest.approx(ce + 0.5 * kl, rel=1e-5)

    seen = []
    real_update = method.update

    def spy(model, params, batch, state):
        out = real_update(model, params, batch, state)
        seen.append((len(batch.y), out[0].metrics["kl"]))
        return out

    method.update = spy
    history = one_epoch(method)[0].history
    expected = sum(n * v for n, v in seen) / sum(n for n, _ in seen)
    assert len(seen) == 3 and history[0]["train_kl"] == pytest.approx(expected, rel=1e-12)
    assert history[0]["train_kl"] > 0 and "train_attack_kl" in history[0]


def test_fn_adversarial_is_forward_noise_plus_the_attack_term():
    """fn-adversarial's loss, rebuilt by hand: CE at theta + |theta| eta N (the batch generator's first draws,
    weights and biases in parameter order) plus beta * KL at the attacked parameters it reports."""
    from robust_snn.core import parameter_families, physical_parameters

    model = with_biases(small_model())
    x, y = make_pattern_data(16, seed=0).tensors
    method = make_method("fn-adversarial", {"steps": 2, "beta": 0.25, "eta": 0.3})
    result = method.loss(model, physical_parameters(model), x, y, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    noisy = {}
    for name, theta in physical_parameters(model).items():
        if parameter_families(model)[name] in ("weights", "biases"):
            noisy[name] = theta.detach() + theta.detach().abs() * 0.3 * torch.randn(theta.shape, generator=gen)
    with torch.no_grad():
        ce_noisy = float(torch.nn.functional.cross_entropy(with_values(model, noisy)(x), y))
        kl = kl_scipy(model(x), with_values(model, result.points["attacked"])(x))
    assert result.metrics["ce_noisy"] == pytest.approx(ce_noisy, rel=1e-5)
    assert float(result.loss.detach()) == pytest.approx(ce_noisy + 0.25 * kl, rel=1e-5)


def test_a_new_method_is_a_few_lines_composed_of_existing_parts_and_fit_records_its_metrics(capsys):
    """Dropout on the hidden units plus the adversarial attack term: trains through ``fit``, whose history and
    per-epoch progress line carry each part's metric."""
    from robust_snn.attack import AttackConfig
    from robust_snn.training.methods import Composed, CrossEntropy
    from robust_snn.training.methods.adversarial import AttackKL
    from robust_snn.training.methods.dropout import HiddenDropout

    class DropoutAdversarial(Composed):
        name = "dropout-adversarial"
        summary = "test composition"

        def terms(self):
            return [CrossEntropy("ce", perturb=HiddenDropout(0.3)), AttackKL(0.5, AttackConfig(steps=2), False)]

    model = small_model()
    before = model.readout.weight.detach().clone()
    data = make_pattern_data(48, seed=0)
    result = fit(model, data, None, DropoutAdversarial(), TrainConfig(epochs=1, batch_size=16, seed=1),
                 progress=True)
    row = result.history[0]
    assert {"train_ce", "train_kl", "train_attack_kl"} <= set(row) and row["train_kl"] > 0
    assert not torch.equal(model.readout.weight, before)
    line = next(ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("epoch 1/1"))
    assert "train_ce=" in line and "train_kl=" in line


def test_device_aware_is_the_device_sampler_under_any_objective(monkeypatch):
    """A method whose config names a device gets the device sampler whatever its terms: here an rwp-like mix,
    whose anchor term sees the chip's programmed values and whose sample term sees the chip itself."""
    from dataclasses import dataclass

    import robust_snn.training.methods.compose as compose
    from robust_snn.core import physical_parameters
    from robust_snn.training.methods import Composed, CrossEntropy, RelativeNoise

    seen = []

    def spy(model, params, *args, **kwargs):
        seen.append({k: v.detach().clone() for k, v in params.items()})
        return compose.functional_forward.__wrapped__(model, params, *args, **kwargs)

    spy.__wrapped__ = compose.functional_forward
    monkeypatch.setattr(compose, "functional_forward", spy)

    @dataclass(frozen=True)
    class MixConfig:
        device: str = "dynapse2"

    class DeviceMix(Composed):
        name = "device-mix"
        summary = "test composition"
        Config = MixConfig

        def terms(self):
            return [CrossEntropy("ce", at="anchor", weight=0.5),
                    CrossEntropy("ce_chip", at="sample", perturb=RelativeNoise(0.0), weight=0.5)]

    model = with_biases(small_model())
    x, y = make_pattern_data(8, seed=0).tensors
    result = DeviceMix().loss(model, physical_parameters(model), x, y, torch.Generator(), seed=2, step=4)
    draw = result.draw
    assert len(seen) == 2
    for name in ("layers.0.weight", "layers.0.tau_mem", "readout.bias"):
        assert torch.allclose(seen[0][name], draw.programmed[name], atol=1e-6), name
        assert torch.allclose(seen[1][name], draw.chip[name], atol=1e-6), name
        assert not torch.allclose(draw.chip[name], draw.programmed[name]), name  # the chip varies every family


@pytest.mark.parametrize("name,parts", [("standard", {"ce": 1.0}), ("rwp", {"ce": 0.5, "ce_perturbed": 0.5}),
                                        ("adversarial", {"ce": 1.0, "kl": 0.5})])
def test_the_recorded_metrics_add_up_to_the_recorded_loss(name, parts):
    """Each epoch's train_loss is the weighted sum of its recorded terms (standard: loss = CE; rwp: the mix;
    adversarial: CE + beta KL), so the history records the parts the method minimised."""
    history = one_epoch(make_method(name, {"steps": 2} if name == "adversarial" else {}))[0].history
    row = history[0]
    assert row["train_loss"] == pytest.approx(sum(w * row[f"train_{k}"] for k, w in parts.items()), rel=1e-6)


def test_update_is_a_pure_function_of_its_state():
    """The warm start lives in the state, not in the method: the same state and draws give the same loss, the
    given state is not changed, and a different start gives a different loss."""
    from robust_snn.core import physical_parameters
    from robust_snn.training.methods import Batch

    model = small_model()
    x, y = make_pattern_data(16, seed=0).tensors
    method = make_method("adversarial-warm", {"eps": 0.1})
    params = physical_parameters(model)
    s0 = method.init(model)
    _, s1 = method.update(model, params, Batch(x, y, torch.Generator().manual_seed(0)), s0)
    assert s0 == {"ce": {}, "kl": {}}
    starts = {k: v for k, v in s1["kl"].items() if k.startswith("start.")}
    assert set(starts) == {"start.layers.0.weight", "start.layers.0.w_rec", "start.layers.0.bias",
                           "start.readout.weight", "start.readout.bias"}
    assert all(v.abs().max() <= 0.1 for v in starts.values())
    snapshot = {k: v.clone() for k, v in s1["kl"].items()}
    a, _ = method.update(model, params, Batch(x, y, torch.Generator().manual_seed(5)), s1)
    b, _ = method.update(model, params, Batch(x, y, torch.Generator().manual_seed(5)), s1)
    c, _ = method.update(model, params, Batch(x, y, torch.Generator().manual_seed(5)), s0)
    assert torch.equal(a.loss, b.loss) and not torch.equal(a.loss, c.loss)
    assert all(torch.equal(s1["kl"][k], v) for k, v in snapshot.items())


def test_the_checkpoint_holds_the_warm_start(tmp_path):
    from robust_snn.training.checkpoint import load_checkpoint

    ckpt = tmp_path / "w.ckpt"
    fit(small_model(), make_pattern_data(48, seed=0), None, make_method("adversarial-warm"),
        TrainConfig(epochs=2, batch_size=16, lr=5e-3, seed=1), checkpoint=ckpt, progress=False, stop_after=1)
    state = load_checkpoint(ckpt).method_state
    assert state["kl"]["start.layers.0.w_rec"].shape == (12, 12)
    assert 0 < state["kl"]["start.layers.0.weight"].abs().max() <= 0.1


def test_warm_started_attack_resumes_bit_for_bit(tmp_path):
    """The warm start crosses the epoch boundary in the method's state, which the checkpoint carries."""
    data = make_pattern_data(48, seed=0)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=5e-3, seed=1)
    full = fit(small_model(), data, None, make_method("adversarial-warm"), cfg, progress=False)
    ckpt = tmp_path / "w.ckpt"
    fit(small_model(), data, None, make_method("adversarial-warm"), cfg, checkpoint=ckpt, progress=False, stop_after=1)
    resumed = fit(small_model(), data, None, make_method("adversarial-warm"), cfg, checkpoint=ckpt, resume=True,
                  progress=False)
    for name, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name


def test_dropout_masks_are_held_over_time_and_rescaled():
    model = small_model()
    x = torch.ones(200, 30, 8) * 2
    layer = model.layers[0]
    with torch.no_grad():
        plain = layer(x)
        with hidden_dropout(model, 0.3, torch.Generator().manual_seed(0)):
            dropped = layer(x)
    active = plain > 0
    ratio = dropped[active] / plain[active]
    assert torch.all((ratio == 0) | torch.isclose(ratio, torch.tensor(1 / 0.7)))
    # One mask per sample and unit: a unit that spikes is silenced at every step or at none.
    silenced_somewhere = ((dropped == 0) & active).any(1)
    kept_somewhere = (dropped > 0).any(1)
    assert not (silenced_somewhere & kept_somewhere).any()
    assert 0.6 < (ratio > 0).float().mean() < 0.8


def test_method_hyperparameter_errors_name_the_field():
    with pytest.raises(ValueError, match="method.dropout.p must be in"):
        make_method("dropout", {"p": 1.5})
    with pytest.raises(ValueError, match="unknown field"):
        make_method("adversarial", {"gamma": 1})
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        make_method("magic")


def test_qat_runs_forward_at_the_programmed_values_with_a_straight_through_gradient():
    from robust_snn.core import functional_forward, physical_parameters
    from xylo_levels import xylo_levels

    model = small_model()
    data = make_pattern_data(16, seed=0)
    x, y = data.tensors
    method = make_method("qat", {"device": "xylo-audio2"})
    result = method.loss(model, physical_parameters(model), x, y, torch.Generator())
    levels = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in xylo_levels(model).items()}  # by hand
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(functional_forward(model, levels, x), y)
        float_loss = torch.nn.functional.cross_entropy(model(x), y)
    assert torch.allclose(result.loss, expected, atol=1e-5)
    assert not torch.allclose(result.loss, float_loss, atol=1e-4)  # the programmed values differ from the float
    result.loss.backward()
    assert model.layers[0].weight.grad.abs().sum() > 0


def test_qat_with_an_unknown_device_names_it():
    with pytest.raises(ValueError, match="nosuchchip"):
        make_method("qat", {"device": "nosuchchip"})


def test_relative_noise_holds_positive_families_above_the_floor_and_leaves_the_rest_as_drawn():
    """``theta + |theta| sigma N`` drawn by hand from the same generator; where that crosses 1% of a time
    constant it is held there (sigma 0.5 over 20000 values crosses surely), weights may change sign."""
    from robust_snn.training.methods.base import relative_noise

    theta = {"tau": torch.full((20000,), 0.05), "w": torch.linspace(-1, 1, 20000)}
    out = relative_noise(theta, ["tau", "w"], 0.5, torch.Generator().manual_seed(0), {"tau": "taus", "w": "weights"})
    gen = torch.Generator().manual_seed(0)
    drawn = {k: v + v.abs() * 0.5 * torch.randn(v.shape, generator=gen) for k, v in theta.items()}
    low = drawn["tau"] < 0.01 * 0.05
    assert low.sum() > 10
    assert torch.equal(out["tau"][~low], drawn["tau"][~low])
    assert torch.allclose(out["tau"][low], torch.full((int(low.sum()),), 0.0005))
    assert torch.equal(out["w"], drawn["w"]) and (out["w"] * theta["w"] < 0).any()


@pytest.mark.filterwarnings("ignore:for .* copying from a non-meta parameter")  # the emulation's meta tensors
def test_a_run_resumed_on_an_accelerator_continues_the_cpu_run_from_its_saved_method_state(tmp_path, cpu_runs_the_loop):
    """The checkpointed state (warm start, the device's attack scales) is moved to the accelerator on resume and
    the run continues bit for bit (tests/emulated_accelerator.py: a second device with the CPU's numbers; torch
    warns that loading into its meta tensors is a no-op, but the emulation copies the values)."""
    from emulated_accelerator import emulated_accelerator

    data = make_pattern_data(32, seed=0)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=5e-3, seed=1)

    def method():
        return make_method("adversarial-warm", {"device": "dynapse2", "steps": 2})

    full = fit(small_model(), data, None, method(), cfg, progress=False)
    ckpt = tmp_path / "r.ckpt"
    fit(small_model(), data, None, method(), cfg, checkpoint=ckpt, progress=False, stop_after=1)
    with emulated_accelerator() as dev:
        resumed = fit(small_model(), data, None, method(), cfg, checkpoint=ckpt, resume=True, progress=False,
                      accelerator=dev)
        state = {k: v.cpu() for k, v in resumed.model.state_dict().items()}
    assert resumed.history == full.history
    for key, value in full.model.state_dict().items():
        assert torch.equal(state[key], value), key
