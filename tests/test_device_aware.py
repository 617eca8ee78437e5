"""Device-aware training (``--device PROFILE``): every batch runs on a fresh chip drawn from the profile's own
mismatch model, straight-through programming, the attack at the profile's scales, chip-sized networks.

What the forward pass sees is recorded by wrapping ``functional_forward`` where the methods call it, and
compared with the profile's figures read from its TOML file and with the quantisers' formulas written out here.
"""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import robust_snn.training.methods.adversarial as adversarial_module
import robust_snn.training.methods.compose as compose_module
from robust_snn.cli import main
from robust_snn.config import ConfigError, load_toml
from robust_snn.core import NetworkConfig, SNNClassifier, functional_forward, parameter_families, physical_parameters
from robust_snn.devices import load_profile, profile_attack_scale, resource_violations
from robust_snn.devices.limits import largest_hidden
from robust_snn.training import TrainConfig, fit, make_method
from robust_snn.training.configure import size_for_device

from conftest import make_pattern_data

PROFILES = Path(__file__).resolve().parent.parent / "robust_snn" / "devices" / "profiles"
DEVICE_METHODS = ["standard", "noise", "adversarial", "adversarial-warm", "fn-adversarial"]


def small_model(**kw):
    model = SNNClassifier(NetworkConfig(n_in=8, hidden=(12,), n_classes=3, recurrent=True, seed=5, **kw))
    with torch.no_grad():  # non-zero biases, so that their relative mismatch is visible
        model.layers[0].bias.copy_(0.05 + 0.1 * torch.rand(12, generator=torch.Generator().manual_seed(1)))
        model.readout.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    return model


def method_for(name, device, **hp):
    if "adversarial" in name:
        hp.setdefault("steps", 2)
    return make_method(name, {"device": device, **hp})


@pytest.fixture
def seen(monkeypatch):
    """Every parameter dict a method's forward pass receives (here: the standard method's), detached, in order."""
    calls = []

    def spy(model, params, *args, **kwargs):
        calls.append({k: v.detach().clone() for k, v in params.items()})
        return functional_forward(model, params, *args, **kwargs)

    monkeypatch.setattr(compose_module, "functional_forward", spy)
    return calls


def forward_on_chips(model, device, steps, seed=0, epoch=0):
    """Run the ``standard`` method's loss for batches ``0 .. steps - 1``; the spy records the chips."""
    method = method_for("standard", device)
    x, y = make_pattern_data(4, seed=0).tensors
    params = physical_parameters(model)
    for step in range(steps):
        method.loss(model, params, x, y, torch.Generator().manual_seed(0), seed=seed, epoch=epoch, step=step)
    return method


def shared_levels(w, bits=4):
    """DYNAP-SE2 programming written out: ``sign(w) round(|w| / step) step``, ``step = max|w| / (2^bits - 1)``
    (one core: every neuron of these small layers shares the core's levels)."""
    step = w.abs().max() / (2**bits - 1)
    return torch.sign(w) * torch.round(w.abs() / step) * step


def test_each_batch_runs_on_a_fresh_chip_and_the_seed_fixes_the_chips(seen):
    model = small_model()
    forward_on_chips(model, "dynapse2", 2, seed=0)
    forward_on_chips(model, "dynapse2", 2, seed=0)
    forward_on_chips(model, "dynapse2", 1, seed=1)
    first, second, again_first, again_second, other_seed = seen
    w = "layers.0.weight"
    assert not torch.equal(first[w], second[w])
    assert torch.equal(first[w], again_first[w]) and torch.equal(second[w], again_second[w])
    assert not torch.equal(first[w], other_seed[w])


def test_training_draws_one_new_chip_per_batch_through_the_trainer(seen):
    data = make_pattern_data(48, seed=0)
    fit(small_model(), data, None, method_for("standard", "dynapse2"),
        TrainConfig(epochs=1, batch_size=16, lr=5e-3, seed=1), progress=False)
    assert len(seen) == 3
    ratios = [s["layers.0.tau_mem"] for s in seen]  # taus do not train: any change is a new chip
    assert not torch.equal(ratios[0], ratios[1]) and not torch.equal(ratios[1], ratios[2])


def stated_sigma(profile_file, family):
    """The spread a profile file states for ``family``: components add in variance."""
    stage = next(s for s in load_toml(profile_file)["stages"] if s["kind"] == "lognormal")
    spread = stage["spread"].get(family, stage["spread"]["default"])
    return math.sqrt(sum(v**2 for v in spread.values()))


def test_chips_vary_every_family_of_dynapse2_with_its_stated_spread(seen):
    """log(c / q) over 60 chips has, per element, the variance the profile states (core + neuron + synapse);
    q: the programmed value (shared weight levels written out above; taus, thresholds, biases as they are)."""
    model = small_model(adaptive=True)
    forward_on_chips(model, "dynapse2", 60)
    nominal = {k: v.detach() for k, v in physical_parameters(model).items()}
    families = parameter_families(model)
    by_family = {}
    for name, theta in nominal.items():
        q = shared_levels(theta) if families[name] == "weights" else theta
        chips = torch.stack([s[name] for s in seen])
        keep = q != 0
        log_ratio = torch.log(chips[:, keep] / q[keep])
        by_family.setdefault(families[name], []).append(log_ratio.var(0, unbiased=True))
    assert set(by_family) == {"weights", "biases", "taus", "thresholds", "adaptation"}
    for family, variances in by_family.items():
        measured = float(torch.cat(variances).mean().sqrt())
        expected = stated_sigma(PROFILES / "dynapse2.toml", family)
        assert measured == pytest.approx(expected, rel=0.15), family


def test_pcm_varies_the_weights_and_leaves_the_families_it_does_not_model_nominal(seen):
    model = small_model()
    forward_on_chips(model, "pcm", 2)
    nominal = {k: v.detach() for k, v in physical_parameters(model).items()}
    families = parameter_families(model)
    for chip in seen:
        for name, theta in nominal.items():
            if families[name] == "weights":
                moved = (chip[name] - theta).abs() > 1e-4 * theta.abs().max()
                assert moved.float().mean() > 0.9, name  # programming noise, drift, read noise on every device
            else:
                assert torch.equal(chip[name], theta), name


def integer_scale(row, bits=8, tol=1e-3):
    """The scale ``s`` that puts every value of ``row`` on a signed ``bits``-bit integer, found by trying each
    code the largest value could have; ``None`` when no code does."""
    peak = float(row.abs().max())
    for code in range(1, 2 ** (bits - 1)):
        scaled = row * (code / peak)
        if torch.allclose(scaled, scaled.round(), atol=tol):
            return code / peak
    return None


def test_xylo_forward_values_sit_on_its_integer_and_bit_shift_levels(seen):
    """Xylo Audio 2 only quantises: each hidden neuron's input and recurrent weights are 8-bit integers over one
    scale (whatever rule picks it), within half a step of the float weights; decays are ``1 - 2^-dash`` with an
    integer dash."""
    model = small_model()
    forward_on_chips(model, "xylo-audio2", 1)
    chip = seen[0]
    nominal = {k: v.detach() for k, v in physical_parameters(model).items()}
    layer = "layers.0."
    for i in range(12):
        row = torch.cat([chip[layer + "weight"][i], chip[layer + "w_rec"][i]])
        scale = integer_scale(row)
        assert scale is not None, f"neuron {i}: {row}"
        float_row = torch.cat([nominal[layer + "weight"][i], nominal[layer + "w_rec"][i]])
        assert (row - float_row).abs().max() <= 0.5 / scale + 1e-6, i
    dash = -torch.log2(1 - torch.exp(-model.config.dt / chip[layer + "tau_mem"].double()))
    assert torch.allclose(dash, dash.round(), atol=1e-4)


def test_dynapse2_programmed_weights_sit_on_shared_levels(seen, tmp_path):
    """A profile of DYNAP-SE2's programming stage alone (written here): the forward sees exactly the levels."""
    text = (PROFILES / "dynapse2.toml").read_text().split("[[stages]]\nkind = \"lognormal\"")[0]
    (tmp_path / "levels.toml").write_text(text.replace('name = "dynapse2"', 'name = "levels"'))
    model = small_model()
    forward_on_chips(model, str(tmp_path / "levels.toml"), 1)
    for name in ("layers.0.weight", "layers.0.w_rec", "readout.weight"):
        theta = physical_parameters(model)[name].detach()
        assert torch.allclose(seen[0][name], shared_levels(theta), atol=1e-6), name


@pytest.mark.parametrize("name", DEVICE_METHODS)
@pytest.mark.parametrize("device", ["dynapse2", "pcm", "xylo-audio2"])
def test_straight_through_gradients_are_finite_and_reach_every_leaf(name, device):
    model = small_model(adaptive=True, trainable=("weights", "biases", "taus", "thresholds", "adaptation"))
    method = method_for(name, device)
    x, y = make_pattern_data(16, seed=0).tensors
    method.loss(model, physical_parameters(model), x, y, torch.Generator().manual_seed(0)).loss.backward()
    for leaf, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), leaf
        assert p.grad.abs().sum() > 0, leaf


@pytest.mark.parametrize("device", ["dynapse2", "pcm"])
def test_the_gradient_is_the_chip_factor_times_the_gradient_at_the_chip(seen, device):
    """dL/dtheta = r * dL/dc with r = c / q (multiplicative mismatch, DYNAP-SE2) or 1 (PCM's crossbar weights):
    the reference gradient is taken at the recorded chip as a plain leaf."""
    model = small_model()
    method = method_for("standard", device)
    x, y = make_pattern_data(16, seed=0).tensors
    method.loss(model, physical_parameters(model), x, y, torch.Generator()).loss.backward()
    chip = {k: v.clone().requires_grad_(True) for k, v in seen[0].items()}
    F.cross_entropy(functional_forward(model, chip, x), y).backward()
    for name in ("layers.0.weight", "readout.weight", "layers.0.bias"):
        theta = physical_parameters(model)[name].detach()
        if device == "dynapse2":
            q = shared_levels(theta) if name.endswith("weight") else theta
            factor = torch.where(q != 0, seen[0][name] / torch.where(q != 0, q, 1.0), 1.0)
        else:
            factor = torch.ones_like(theta)
        leaf = model.get_parameter(name)
        assert torch.allclose(leaf.grad, factor * chip[name].grad, rtol=1e-4, atol=1e-7), name


@pytest.mark.parametrize("name,device", [("standard", "dynapse2"), ("adversarial-warm", "dynapse2"),
                                         ("fn-adversarial", "pcm")])
def test_device_aware_training_resumes_bit_for_bit(tmp_path, name, device):
    data = make_pattern_data(48, seed=0)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=5e-3, seed=1)
    full = fit(small_model(), data, None, method_for(name, device), cfg, progress=False)
    ckpt = tmp_path / "run.ckpt"
    fit(small_model(), data, None, method_for(name, device), cfg, checkpoint=ckpt, progress=False, stop_after=1)
    resumed = fit(small_model(), data, None, method_for(name, device), cfg, checkpoint=ckpt, resume=True,
                  progress=False)
    for key, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert resumed.history == full.history


def test_resuming_for_another_device_is_refused(tmp_path):
    data = make_pattern_data(32, seed=0)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=5e-3, seed=1)
    ckpt = tmp_path / "run.ckpt"
    fit(small_model(), data, None, method_for("standard", "dynapse2"), cfg, checkpoint=ckpt, progress=False,
        stop_after=1)
    with pytest.raises(ConfigError, match="differs in method"):
        fit(small_model(), data, None, method_for("standard", "pcm"), cfg, checkpoint=ckpt, resume=True,
            progress=False)


@pytest.mark.parametrize("device,families", [("dynapse2", {"weights", "biases", "taus", "thresholds"}),
                                             ("pcm", {"weights"})])
def test_the_attack_runs_at_the_profiles_own_scale_on_every_family_it_varies(monkeypatch, device, families):
    captured = {}
    real = adversarial_module.pga_attack

    def spy(grad_fn, params, eps, steps, eps_init, generator=None, start=None):
        captured.update(eps=dict(eps), start={k: v.clone() for k, v in start.items()})
        return real(grad_fn, params, eps, steps, eps_init, generator, start=start)

    monkeypatch.setattr(adversarial_module, "pga_attack", spy)
    model = small_model()
    method = method_for("adversarial", device)
    x, y = make_pattern_data(8, seed=0).tensors
    result = method.loss(model, physical_parameters(model), x, y, torch.Generator(), seed=3)
    scale = profile_attack_scale(model, load_profile(device), seed=3)
    fam = parameter_families(model)
    assert {fam[n] for n in captured["eps"]} == families == {f for f, e in scale.items() if e > 0}
    for name, eps in captured["eps"].items():
        assert eps == scale[fam[name]], name
    # The attack starts at the batch's chip: its relative deviation from the programmed values, in the box.
    draw = result.draw
    for name, eps in captured["eps"].items():
        q, c = draw.programmed[name], draw.chip[name]
        keep = q != 0
        expected = ((c[keep] - q[keep]) / q[keep].abs()).clamp(-eps, eps)
        assert torch.allclose(captured["start"][name][keep], expected, atol=1e-6), name
        assert (captured["start"][name][~keep] == 0).all()


@pytest.mark.parametrize("name", ["dropout", "awp", "rwp", "asam"])
def test_a_method_without_device_support_names_itself_and_the_ones_that_have_it(name):
    with pytest.raises(ConfigError) as info:
        make_method(name, {"device": "dynapse2"})
    message = str(info.value)
    assert f"'{name}'" in message
    for supported in DEVICE_METHODS:
        assert supported in message


def test_the_cli_refuses_device_training_for_an_unsupported_method(capsys, tmp_path):
    code = main(["train", "--data", "synth-kws", "--method", "dropout", "--device", "dynapse2",
                 "--out", str(tmp_path / "m.rsnn")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "'dropout'" in err and "fn-adversarial" in err


def test_methods_lists_what_device_changes():
    import json
    import subprocess
    import sys

    rows = json.loads(subprocess.run([sys.executable, "-m", "robust_snn", "methods", "--json"],
                                     capture_output=True, text=True).stdout)
    device = {r["name"]: r["device"] for r in rows}
    assert all(device[n] for n in DEVICE_METHODS) and device["dropout"] is None


def hand_fan_in(n_in, hidden, recurrent):
    """Inputs per neuron counted by hand: ``n_in`` plus the other ``hidden - 1`` recurrent neurons; the readout
    neurons take ``hidden``."""
    return max(n_in + (hidden - 1 if recurrent else 0), hidden)


@pytest.mark.parametrize("device,n_in,expected", [("dynapse2", 16, 49), ("xylo-audio2", 16, 48), ("pcm", 40, 217)])
def test_the_widest_network_that_fits_is_found_and_one_more_neuron_does_not_fit(device, n_in, expected):
    limits = load_profile(device).limits
    assert largest_hidden(limits, n_in, 8, recurrent=True) == expected
    assert hand_fan_in(n_in, expected, True) <= limits.fan_in < hand_fan_in(n_in, expected + 1, True)
    fits = SNNClassifier(NetworkConfig(n_in=n_in, hidden=(expected,), n_classes=8, recurrent=True))
    too_wide = SNNClassifier(NetworkConfig(n_in=n_in, hidden=(expected + 1,), n_classes=8, recurrent=True))
    assert resource_violations(fits, limits) == []
    assert any(v.startswith("fan_in") for v in resource_violations(too_wide, limits))


def test_a_data_set_no_width_can_fit_names_the_limit():
    with pytest.raises(ConfigError, match="output_channels 8"):
        largest_hidden(load_profile("xylo-audio2").limits, 16, 10)
    with pytest.raises(ConfigError, match="fan_in 64"):
        largest_hidden(load_profile("dynapse2").limits, 70, 8)


def test_the_default_width_shrinks_to_the_chip_and_a_chosen_one_is_kept():
    net = {"n_in": 16, "n_classes": 8, "hidden": [48], "recurrent": True}
    assert size_for_device(net, "dynapse2", 48, explicit_hidden=False)["hidden"] == [48]
    assert size_for_device({**net, "n_in": 40}, "dynapse2", 48, explicit_hidden=False)["hidden"] == [25]
    assert size_for_device({**net, "n_in": 40}, "dynapse2", 48, explicit_hidden=True)["hidden"] == [48]


def test_train_sizes_the_default_network_for_the_chip_and_builds_adaptive_neurons(tmp_path):
    profile = tmp_path / "narrow.toml"
    profile.write_text('name = "narrow"\nfamily = "test"\ndescription = "fan-in 30"\nsource = "this test"\n'
                       "[limits]\nfan_in = 30\n\n[[stages]]\nkind = \"lognormal\"\n"
                       "[stages.spread.default]\nneuron = 0.1\n")
    config = tmp_path / "c.toml"
    config.write_text("[train]\nbatch_size = 512\n")
    out = tmp_path / "m.rsnn"
    code = main(["train", "--data", "synth-kws", "--device", str(profile), "--adaptive", "--epochs", "1",
                 "--config", str(config), "--out", str(out), "--quiet"])
    assert code == 0
    from robust_snn import load_model
    from robust_snn.io.model_file import read_model

    model = load_model(out)
    assert model.config.hidden == (15,) and model.config.adaptive  # 16 inputs + 14 others = fan-in 30
    assert resource_violations(model, load_profile(profile).limits) == []
    assert read_model(out)[1]["method"]["hyperparameters"] == {"device": str(profile)}


def test_train_refuses_a_chosen_network_the_chip_cannot_hold(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[network]\nhidden = [64]\n")
    code = main(["train", "--data", "synth-kws", "--device", "dynapse2", "--config", str(config),
                 "--out", str(tmp_path / "m.rsnn"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "fan_in: 79 > 64" in err and "at most 49 hidden neurons" in err


@pytest.mark.parametrize("name,device", [("standard", "dynapse2"), ("adversarial", "pcm")])
def test_device_aware_training_on_an_accelerator_equals_the_cpu_run(name, device, cpu_runs_the_loop):
    """On an (emulated, tests/emulated_accelerator.py) accelerator the same chips are drawn and the same model
    is trained, bit for bit."""
    from emulated_accelerator import emulated_accelerator

    from robust_snn.runtime.accelerator import module_device

    data = make_pattern_data(32, seed=0)
    config = TrainConfig(epochs=1, batch_size=16, lr=5e-3, seed=2)
    cpu = fit(small_model(), data, None, method_for(name, device), config, progress=False)
    with emulated_accelerator() as dev:
        result = fit(small_model(), data, None, method_for(name, device), config, progress=False, accelerator=dev)
        assert module_device(result.model) == dev
        state = {k: v.cpu() for k, v in result.model.state_dict().items()}
    assert result.history == cpu.history
    for key, value in cpu.model.state_dict().items():
        assert torch.equal(state[key], value), key
