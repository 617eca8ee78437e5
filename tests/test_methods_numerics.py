"""Regression pin: the first training step of every method (and of the device-aware variants) gives the loss and
gradient norm it gave before the methods were rewritten as compositions (captured at commit 145b0fc, where each
method wrote its own loss; the rewrite was compared bit for bit on loss, logits, metrics and every gradient).

Not an independent check of the methods' maths (tests/test_methods.py and tests/test_device_aware.py do that):
it catches any later change of what a fixed seed trains.
"""

import pytest
import torch

from robust_snn.core import NetworkConfig, SNNClassifier, physical_parameters
from robust_snn.training import make_method
from robust_snn.training.methods import Batch

from conftest import make_pattern_data

ALL = ("weights", "biases", "taus", "thresholds", "adaptation")
TAUS = ["weights", "biases", "taus", "thresholds"]

#: case -> (method, hyperparameters, network overrides)
CASES = {name: (name, {}, {}) for name in
         ["standard", "noise", "dropout", "awp", "adversarial", "adversarial-warm", "fn-adversarial", "rwp", "asam",
          "qat"]}
CASES["adv-taus"] = ("adversarial", {"families": TAUS, "steps": 3}, {"trainable": tuple(TAUS)})
CASES["fn-taus"] = ("fn-adversarial", {"families": TAUS, "steps": 3}, {"trainable": tuple(TAUS)})
for _device in ["dynapse2", "pcm", "xylo-audio2"]:
    for _name in ["standard", "noise", "adversarial", "adversarial-warm", "fn-adversarial"]:
        CASES[f"{_name}@{_device}"] = (_name, {"device": _device, **({"steps": 2} if "adv" in _name else {})},
                                       {"adaptive": True, "trainable": ALL})

#: case -> (first-step loss, global gradient norm), measured at 145b0fc
PINNED = {
    "standard": (1.9900588989257812, 1.5775590817728595),
    "noise": (1.8667477369308472, 1.3300761364710567),
    "dropout": (2.139474630355835, 1.5920968120234895),
    "awp": (2.034374713897705, 1.8495756909340766),
    "adversarial": (2.0240116119384766, 1.6301560162008888),
    "adversarial-warm": (2.0226263999938965, 1.6308919150634702),
    "fn-adversarial": (1.9313164949417114, 1.3384408335038152),
    "rwp": (1.9682903289794922, 1.554389440662646),
    "asam": (2.376230239868164, 1.5959098458747645),
    "qat": (1.8888590335845947, 1.3283802680390726),
    "adv-taus": (2.0436408519744873, 1.663892629121982),
    "fn-taus": (2.069736957550049, 1.904543209781576),
    "standard@dynapse2": (1.99254310131073, 1.4039716667609716),
    "noise@dynapse2": (1.7889066934585571, 1.335611772309961),
    "adversarial@dynapse2": (1.9109489917755127, 1.4628612691583855),
    "adversarial-warm@dynapse2": (1.9109489917755127, 1.4628612691583855),
    "fn-adversarial@dynapse2": (1.8744169473648071, 1.4265923889992365),
    "standard@pcm": (1.6701042652130127, 1.171049291983091),
    "noise@pcm": (1.5716478824615479, 1.2852894096443401),
    "adversarial@pcm": (1.867568850517273, 1.4592231204740993),
    "adversarial-warm@pcm": (1.867568850517273, 1.4592231204740993),
    "fn-adversarial@pcm": (1.5958722829818726, 1.2997702043098796),
    "standard@xylo-audio2": (1.6968460083007812, 1.0715813451226077),
    "noise@xylo-audio2": (1.5533931255340576, 1.073676055637592),
    "adversarial@xylo-audio2": (1.6968460083007812, 1.0715813697840435),
    "adversarial-warm@xylo-audio2": (1.6968460083007812, 1.0715813697840435),
    "fn-adversarial@xylo-audio2": (1.5533931255340576, 1.073676055637592),
}

#: the second batch of a warm-started attack starts from the first batch's point (same model, same generator)
PINNED_SECOND = {"adversarial-warm": 2.0266125202178955, "adversarial-warm@dynapse2": 1.9664795398712158}


def model(**kw):
    m = SNNClassifier(NetworkConfig(n_in=8, hidden=(12,), n_classes=3, recurrent=True, seed=5, **kw))
    with torch.no_grad():
        m.layers[0].bias.copy_(0.05 + 0.1 * torch.rand(12, generator=torch.Generator().manual_seed(1)))
        m.readout.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    return m


def run_steps(case, n):
    name, hp, net = CASES[case]
    method, m = make_method(name, hp), model(**net)
    x, y = make_pattern_data(16, seed=0).tensors
    gen, state, out = torch.Generator().manual_seed(7), method.init(m), []
    for step in range(n):
        m.zero_grad(set_to_none=True)
        result, state = method.update(m, physical_parameters(m), Batch(x, y, gen, 1, 0, step), state)
        result.loss.backward()
        grads = [p.grad for p in m.parameters() if p.grad is not None]
        out.append((float(result.loss.detach()), float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))))
    return out


@pytest.mark.parametrize("case", sorted(PINNED))
def test_the_first_step_of_every_method_is_unchanged(case):
    loss, grad_norm = run_steps(case, 1)[0]
    assert loss == pytest.approx(PINNED[case][0], rel=1e-5)
    assert grad_norm == pytest.approx(PINNED[case][1], rel=1e-4)


@pytest.mark.parametrize("case", sorted(PINNED_SECOND))
def test_the_warm_started_second_step_is_unchanged(case):
    assert run_steps(case, 2)[1][0] == pytest.approx(PINNED_SECOND[case], rel=1e-5)


def test_forward_noise_on_time_constants_leaves_every_gradient_finite():
    """The second batch of this case draws a factor below zero for one synaptic time constant (0.3 N < -1):
    the noisy value is held at 1% of the time constant (the chip models' floor) instead of going negative,
    which made every gradient NaN."""
    import math

    assert all(math.isfinite(loss) and math.isfinite(norm) for loss, norm in run_steps("fn-taus", 3))
