"""Parameters are created from their declarations (``core.parameters.initialise``): the same numbers as the
constructors wrote by hand before (checksums saved from commit 0f674c4), the documented draws, and errors that
name the parameter."""

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from robust_snn.core import NetworkConfig, Parameter, SNNClassifier
from robust_snn.core.lif import LIFLayer
from robust_snn.core.parameters import initialise
from robust_snn.core.readout import LeakyReadout, SpikeMeanReadout

FIXTURE = Path(__file__).parent / "fixtures" / "parameter_init_0f674c4.json"


def checksums(t: torch.Tensor) -> list[float]:
    """Sum and index-weighted sum in float64: a changed draw, order or scale changes both."""
    x = t.detach().double().flatten()
    return [float(x.sum()), float((x * torch.arange(1, x.numel() + 1, dtype=torch.float64)).sum())]


@pytest.mark.parametrize("case", ["default", "two_layers", "recurrent_adaptive_leaky", "recurrent_two_layers"])
def test_seeded_networks_have_the_parameters_the_hand_written_constructors_gave(case):
    saved = json.loads(FIXTURE.read_text())
    model = SNNClassifier(NetworkConfig(**{k: tuple(v) if isinstance(v, list) else v
                                           for k, v in saved["cases"][case].items()}))
    got = {name: checksums(p) for name, p in model.named_parameters()}
    assert list(got) == list(saved["checksums"][case])  # same leaves in the same order
    for name, expected in saved["checksums"][case].items():
        assert got[name] == pytest.approx(expected, rel=1e-6, abs=1e-6), name


def test_lif_weights_are_the_documented_normal_draws_in_declaration_order():
    """weight ~ N(0, 1) 3 init_gain sqrt((1 - e^(-dt/tau_mem))(1 - e^(-dt/tau_syn))) / sqrt(n_in), then w_rec the
    next draw times sqrt(n_in / n_out) with a zero diagonal, from the one generator."""
    n_in, n_out, dt, tau_mem, tau_syn, init_gain = 5, 4, 1e-3, 0.02, 0.008, 1.5
    layer = LIFLayer(n_in, n_out, dt=dt, tau_mem=tau_mem, tau_syn=tau_syn, init_gain=init_gain, recurrent=True,
                     generator=torch.Generator().manual_seed(4))
    scale = 3 * init_gain * math.sqrt((1 - math.exp(-dt / tau_mem)) * (1 - math.exp(-dt / tau_syn))) / math.sqrt(n_in)
    g = torch.Generator().manual_seed(4)
    weight = scale * torch.randn(n_out, n_in, generator=g).double()
    w_rec = scale * torch.randn(n_out, n_out, generator=g).double() * math.sqrt(n_in / n_out)
    w_rec.fill_diagonal_(0.0)
    assert torch.allclose(layer.weight.double(), weight, rtol=1e-5, atol=1e-7)
    assert torch.allclose(layer.w_rec.double(), w_rec, rtol=1e-5, atol=1e-7)
    assert torch.equal(layer.bias, torch.zeros(n_out)) and torch.allclose(layer.tau_mem, torch.full((n_out,), 0.02))


def test_readout_weights_are_the_documented_uniform_draws():
    """Spike-mean readout: U(-4, 4) / sqrt(n_in); leaky readout: the same bound times the filter gains
    (1 - e^(-dt/tau_mem))(1 - e^(-dt/tau_syn)); biases zero."""
    n_in, n_classes, dt = 9, 3, 1e-2
    u = torch.rand(n_classes, n_in, generator=torch.Generator().manual_seed(2)).double() * 2 - 1
    spike = SpikeMeanReadout(n_in, n_classes, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(spike.weight.double(), u * 4 / math.sqrt(n_in), rtol=1e-5, atol=1e-7)
    leaky = LeakyReadout(n_in, n_classes, dt=dt, tau_mem=0.1, tau_syn=0.05, generator=torch.Generator().manual_seed(2))
    gain = (1 - math.exp(-dt / 0.1)) * (1 - math.exp(-dt / 0.05))
    assert torch.allclose(leaky.weight.double(), u * 4 * gain / math.sqrt(n_in), rtol=1e-5, atol=1e-9)
    assert torch.equal(spike.bias, torch.zeros(n_classes)) and torch.equal(leaky.bias, torch.zeros(n_classes))


def test_a_given_value_of_the_wrong_shape_is_refused_naming_the_parameter():
    with pytest.raises(ValueError, match=r"tau_syn must be a scalar or have shape \(4,\), got \(3,\)"):
        LIFLayer(2, 4, tau_syn=torch.full((3,), 0.05))


def test_a_non_positive_given_value_of_a_positive_parameter_is_refused():
    with pytest.raises(ValueError, match="threshold must be finite and > 0"):
        LIFLayer(2, 4, threshold=-1.0)


class Mixer(nn.Module):
    w = Parameter("weights", ("n", "n"), "1", "mixing matrix", constraint="zero_diagonal",
                  init=lambda module, shape, generator, given: torch.ones(shape) * module.fill)
    gain = Parameter("other", ("n",), "1", "output gain", constraint="positive")

    def __init__(self, n, fill, **given):
        super().__init__()
        self.n, self.fill = n, fill
        initialise(self, **given)


def test_an_init_rule_that_breaks_its_constraint_or_a_missing_value_is_named():
    with pytest.raises(ValueError, match="w must have a zero diagonal"):
        Mixer(2, 1.0, gain=1.0)
    with pytest.raises(TypeError, match=r"Mixer: initialise needs the values of \['gain'\], got \[\]"):
        Mixer(2, 0.0)
    with pytest.raises(TypeError, match=r"got \['gain', 'offset'\]"):
        Mixer(2, 0.0, gain=1.0, offset=2.0)
    assert torch.equal(Mixer(2, 0.0, gain=3.0).gain, torch.full((2,), 3.0))
