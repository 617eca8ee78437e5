"""Xylo Audio 2's programmed values of a 2-2-2 network whose weights are set by hand, worked out by hand here
(the arithmetic is in the comments), and checked three ways: the shared test reference ``xylo_levels`` (which the
qat and bundle tests of other files use), the package's ``programmed_parameters`` on the ``xylo-audio2`` profile
(what ``qat`` and ``evaluate`` run), and a bundle written by ``robust-snn export --format bundle``.

The rules (Xylo Audio 2: 8-bit signed weights, 16-bit biases and thresholds, decays as bit shifts):

- neuron ``j``'s scale ``s_j = min(127 / max_i |W_ji|, 32767 / |b_j|, 32767 / theta_j)``; a value ``x`` is
  programmed as ``round(s_j x) / s_j`` (codes rounded to the nearest integer; none of the codes below is a tie);
- a linear (spike-mean) readout row ``c`` also has ``s_c <= 32767 / theta_r`` with
  ``theta_r = max_c (sum_j max(W_cj, 0) + max(b_c, 0))``;
- a time constant ``tau`` at step ``dt`` becomes the bit shift ``dash = round(-log2(1 - exp(-dt / tau)))``,
  i.e. the time constant ``-dt / ln(1 - 2^-dash)``.
"""

import math
import subprocess
import sys

import numpy as np
import torch

import robust_snn
from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import load_profile, programmed_parameters

from xylo_levels import xylo_levels


def hand_set_network() -> SNNClassifier:
    """n_in 2, one hidden layer of 2, 2 classes, spike-mean readout; dt 10 ms, tau_mem 100 ms, tau_syn 50 ms,
    thresholds 1 (the config's defaults), weights and biases as below."""
    model = SNNClassifier(NetworkConfig(n_in=2, hidden=(2,), n_classes=2, seed=0))
    with torch.no_grad():
        model.layers[0].weight.copy_(torch.tensor([[0.5, -0.3], [0.9, 0.2]]))
        model.layers[0].bias.copy_(torch.tensor([0.0, 0.05]))
        model.readout.weight.copy_(torch.tensor([[1.0, -0.4], [0.25, 0.75]]))
        model.readout.bias.copy_(torch.tensor([0.1, -0.2]))
    return model.eval()


S1 = 127 / 0.9  # hidden neuron 1's scale (below): 141.11
TAU_MEM = -0.01 / math.log(1 - 2.0 ** -3)  # 0.07489 s
TAU_SYN = -0.01 / math.log(1 - 2.0 ** -2)  # 0.03476 s

BY_HAND = {
    # neuron 0: s = min(127 / 0.5, bias 0: no bound, 32767 / 1) = 254; codes 0.5 * 254 = 127, -0.3 * 254 = -76.2
    # -> -76; threshold 254 -> 254 / 254 = 1.
    # neuron 1: s = min(127 / 0.9 = 141.1, 32767 / 0.05, 32767 / 1) = 127 / 0.9; codes 127, 0.2 s = 28.2 -> 28,
    # bias 0.05 s = 7.06 -> 7, threshold s = 141.1 -> 141.
    "layers.0.weight": [[127 / 254, -76 / 254], [127 / S1, 28 / S1]],  # [[0.5, -0.2992126], [0.9, 0.1984252]]
    "layers.0.bias": [0.0, 7 / S1],
    "layers.0.threshold": [254 / 254, 141 / S1],
    # exp(-0.01 / 0.1) = 0.9048: -log2(1 - 0.9048) = 3.39 -> dash 3; exp(-0.01 / 0.05) = 0.8187: -log2(0.1813) =
    # 2.46 -> dash 2.
    "layers.0.tau_mem": [TAU_MEM, TAU_MEM],
    "layers.0.tau_syn": [TAU_SYN, TAU_SYN],
    # readout: theta_r = max(1.0 + 0.1, 0.25 + 0.75 + 0) = 1.1, bound 32767 / 1.1 = 29788 (never the smallest).
    # row 0: s = min(127 / 1.0, 32767 / 0.1) = 127; codes 127, -0.4 * 127 = -50.8 -> -51, bias 12.7 -> 13.
    # row 1: s = min(127 / 0.75 = 169.3, 32767 / 0.2) = 169.3; codes 0.25 s = 42.3 -> 42, 127, bias -33.9 -> -34.
    "readout.weight": [[127 / 127, -51 / 127], [42 / (127 / 0.75), 127 / (127 / 0.75)]],
    "readout.bias": [13 / 127, -34 / (127 / 0.75)],  # [0.1023622, -0.2007874]
}


def assert_by_hand(values, where):
    assert set(values) == set(BY_HAND), where
    for name, expected in BY_HAND.items():
        got = np.asarray(values[name].detach().double() if torch.is_tensor(values[name]) else values[name])
        assert np.allclose(got, expected, rtol=2e-7, atol=1e-8), f"{where}: {name} = {got.tolist()}"


def test_the_hand_set_network_is_not_already_on_the_levels():
    """The case means something: programming moves most of these values."""
    floats = robust_snn.physical_parameters(hand_set_network())
    moved = [n for n, v in BY_HAND.items() if not np.allclose(floats[n].detach().double().numpy(), v, atol=1e-6)]
    assert set(moved) == {"layers.0.weight", "layers.0.bias", "layers.0.threshold", "layers.0.tau_mem",
                          "layers.0.tau_syn", "readout.weight", "readout.bias"}


def test_the_shared_xylo_reference_gives_the_levels_worked_out_by_hand():
    assert_by_hand(xylo_levels(hand_set_network()), "tests/xylo_levels.py")


def test_the_xylo_audio2_profile_programs_the_levels_worked_out_by_hand():
    model = hand_set_network()
    assert_by_hand(programmed_parameters(model, load_profile("xylo-audio2")), "programmed_parameters")


def test_a_xylo_audio2_bundle_holds_the_levels_worked_out_by_hand(tmp_path):
    robust_snn.save_model(tmp_path / "m.rsnn", hand_set_network())
    proc = subprocess.run([sys.executable, "-m", "robust_snn", "export", str(tmp_path / "m.rsnn"), "--format",
                           "bundle", "--device", "xylo-audio2", "--out", str(tmp_path / "b.rsnn")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert_by_hand(robust_snn.physical_parameters(robust_snn.load_model(tmp_path / "b.rsnn")), "bundle")

