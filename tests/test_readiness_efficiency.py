"""NeuroBench's efficiency metrics: hand-computed values on a hand-built network, and the neurobench package itself
on a small snntorch model (skipped, naming the install, where neurobench is absent)."""

import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from robust_snn.core import NetworkConfig, SNNClassifier
from robust_snn.devices import load_profile, programmed_parameters
from robust_snn.readiness.efficiency import (activation_sparsity, connection_ops, connection_sparsity,
                                             device_bit_widths, efficiency_metrics, footprint_bytes)

T = 6  # time steps of the hand-built example


def hand_built() -> tuple[SNNClassifier, TensorDataset]:
    """2 inputs -> 2 recurrent neurons -> 2 classes. Neuron 0 has bias 5 > threshold 1 and spikes at every step;
    neuron 1 has threshold 1e6 and never spikes. Input channel 0 is 0.5 (real-valued) at every step, channel 1
    is silent."""
    model = SNNClassifier(NetworkConfig(n_in=2, hidden=(2,), n_classes=2, recurrent=True, seed=0))
    layer = model.layers[0]
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0], [0.5, 0.3]]))
        layer.w_rec.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
        layer.bias.copy_(torch.tensor([5.0, 0.0]))
        layer.threshold = torch.tensor([1.0, 1e6])
        model.readout.weight.copy_(torch.eye(2))
        model.readout.bias.zero_()
    x = torch.zeros(3, T, 2)
    x[:, :, 0] = 0.5
    return model.eval(), TensorDataset(x, torch.tensor([0, 1, 0]))


# The hand-built network's metrics, worked out below.
FLOAT_BY_HAND = {
    # 22 stored values (weight 4, w_rec 4, bias 2, tau_mem 2, tau_syn 2, threshold 2, readout 4 + 2) x 4 bytes.
    "footprint_bytes": 88,
    # zeros: 1 in W, 2 (the diagonal) in W_rec, 2 in the identity readout; 12 weights.
    "connection_sparsity": 5 / 12,
    # spikes: neuron 0 at every step, neuron 1 never.
    "activation_sparsity": 0.5,
    # Input layer, real-valued input: channel 0 (2 non-zero weights) active every step -> 2T MACs.
    # Spiking inputs: readout sees neuron 0 (1 non-zero weight) every step -> T; recurrent sees S[t-1] of neuron 0
    # (1 non-zero weight leaving it) for t >= 1 -> T - 1. Dense: three 2x2 connection layers, every step.
    "synaptic_operations": {"effective_macs": 2 * T, "effective_acs": T + T - 1, "dense": 3 * 4 * T},
    "n_samples": 3,
}

# The same network programmed on Xylo Audio 2 (8-bit weights, 16-bit biases and thresholds, one scale per neuron,
# s_j = min(127 / max |incoming w_j|, 32767 / |b_j|, 32767 / theta_j); value round(s_j x) / s_j):
# - neuron 0: s = min(127 / 1, 32767 / 5, 32767 / 1) = 127; its codes 127, 0 (W), 0, 127 (W_rec), bias 635 and
#   threshold 127 are exact: neuron 0 is unchanged and still spikes at every step (bias 5 > threshold 1 whatever
#   the programmed decays);
# - neuron 1: s = min(127 / 1 (W_rec[1, 0]), 32767 / 1e6) = 0.032767; W 0.5 s = 0.016 -> 0, 0.3 s -> 0, W_rec
#   1.0 s = 0.033 -> 0: every weight into neuron 1 is rounded to zero, and it still never spikes;
# - identity readout with bias 0: s = min(127 / 1, 32767 / 1) = 127, exact.
# So: zeros 3 in W, 3 in W_rec, 2 in the readout -> 8 / 12; MACs: channel 0 now has 1 non-zero weight -> T;
# ACs: readout T, recurrent 0 (neuron 0's only outgoing recurrent weight is now 0) -> T; device footprint: 12
# weights x 8 bits + 4 biases x 16 + 2 thresholds x 16 + 4 taus x 4 bits = 26 bytes.
XYLO_BITS = {"weights": 8, "biases": 16, "thresholds": 16, "taus": 4}
PROGRAMMED_ON_XYLO_BY_HAND = {
    **FLOAT_BY_HAND, "connection_sparsity": 8 / 12,
    "synaptic_operations": {"effective_macs": T, "effective_acs": T, "dense": 3 * 4 * T},
    "footprint_device_bytes": 26, "device_bit_widths": XYLO_BITS,
}


def assert_metrics(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, value in expected.items():
        if key == "synaptic_operations":
            assert got[key] == pytest.approx(value), key
        else:
            assert got[key] == (value if isinstance(value, dict) else pytest.approx(value)), key


def test_hand_built_network_metrics_equal_the_hand_computed_values():
    model, data = hand_built()
    assert_metrics(efficiency_metrics(model, data), FLOAT_BY_HAND)


def test_the_network_programmed_on_xylo_is_measured_at_its_hand_computed_levels():
    model, data = hand_built()
    profile = load_profile("xylo-audio2")
    assert_metrics(efficiency_metrics(model, data, params=programmed_parameters(model, profile), profile=profile),
                   PROGRAMMED_ON_XYLO_BY_HAND)


def test_footprint_at_the_device_bit_widths_by_hand():
    model, _ = hand_built()
    profile = load_profile("xylo-audio2")
    assert device_bit_widths(profile) == XYLO_BITS
    m = efficiency_metrics(model, hand_built()[1], profile=profile)
    # 12 weights x 8 bits + 4 biases x 16 + 2 thresholds x 16 + 4 taus x 4 bits = 12 + 8 + 4 + 2 bytes.
    assert m["footprint_device_bytes"] == 26
    assert device_bit_widths(load_profile("dynapse2"))["weights"] == 5  # 4-bit shared magnitude + sign
    assert efficiency_metrics(model, hand_built()[1], profile=load_profile("gaussian-10"))[
        "footprint_device_bytes"] is None  # analog: no bit widths to count at


def test_programmed_parameters_are_what_is_measured():
    model, data = hand_built()
    from robust_snn.core.parameters import physical_parameters

    params = {k: v.clone() for k, v in physical_parameters(model).items()}
    params["layers.0.weight"] = torch.zeros(2, 2)
    m = efficiency_metrics(model, data, params=params)
    assert m["synaptic_operations"]["effective_macs"] == 0
    assert m["connection_sparsity"] == pytest.approx(8 / 12)  # 4 zeros in W now, 2 in W_rec, 2 in the readout


def test_pure_functions_by_hand():
    x = torch.tensor([[[1.0, 0.0, 2.0]], [[0.0, 0.0, 1.0]]])  # (batch 2, time 1, 3 inputs)
    w = torch.tensor([[1.0, 0.0, 1.0], [0.0, 3.0, 1.0]])  # non-zero weights leaving inputs: 1, 1, 2
    assert connection_ops(x, w) == (1 * 1 + 2 * 2, 2 * 6)
    assert connection_sparsity([w]) == pytest.approx(2 / 6)
    assert activation_sparsity([torch.tensor([1.0, 0.0, 0.0, 1.0])]) == 0.5
    assert footprint_bytes({"a": torch.zeros(3), "b": torch.zeros(2, 2)}, {"a": "weights"}, {"weights": 4}) == (
        3 * 4 / 8 + 4 * 4)


# --- cross-checks against the neurobench package ------------------------------------------------------------------

def _neurobench():
    return pytest.importorskip("neurobench", reason="neurobench is not installed (pip install --no-deps neurobench)")


def test_our_definitions_match_neurobench_on_a_small_snntorch_model():
    _neurobench()
    snn = pytest.importorskip("snntorch")
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import SNNTorchModel

    torch.manual_seed(0)
    lin1, lin2 = torch.nn.Linear(6, 5), torch.nn.Linear(5, 3)
    with torch.no_grad():
        lin1.weight[lin1.weight.abs() < 0.2] = 0.0  # some pruned connections
        lin2.weight[0, :2] = 0.0
    net = torch.nn.Sequential(lin1, snn.Leaky(beta=0.9, init_hidden=True), lin2,
                              snn.Leaky(beta=0.9, init_hidden=True, output=True))
    x = torch.rand(8, 12, 6) * 2
    x[x < 0.6] = 0.0  # real-valued, partly silent input
    loader = DataLoader(TensorDataset(x, torch.zeros(8, dtype=torch.long)), batch_size=4)
    # Static metrics see the network before it runs (snntorch's state buffers are still empty).
    footprint = footprint_bytes(dict(net.named_parameters()) | dict(net.named_buffers()))
    results = Benchmark(SNNTorchModel(net), loader, [], [], [[Footprint, ConnectionSparsity],
                                                            [ActivationSparsity, SynapticOperations]]).run(quiet=True)

    # Ours, on the same network run step by step (independently of NeuroBench's hooks).
    snn.utils.reset(net)
    s1, s2 = [], []
    with torch.no_grad():
        for t in range(x.shape[1]):
            a = net[1](net[0](x[:, t]))
            b, _ = net[3](net[2](a))
            s1.append(a)
            s2.append(b)
    s1, s2 = torch.stack(s1, 1), torch.stack(s2, 1)
    mac, dense1 = connection_ops(x, lin1.weight)
    ac, dense2 = connection_ops(s1, lin2.weight)
    assert results["Footprint"] == footprint
    assert results["ConnectionSparsity"] == round(connection_sparsity([lin1.weight, lin2.weight]), 4)
    assert results["ActivationSparsity"] == pytest.approx(activation_sparsity([s1, s2]))
    ops = results["SynapticOperations"]
    assert ops["Effective_MACs"] == pytest.approx(mac / 8)
    assert ops["Effective_ACs"] == pytest.approx(ac / 8)
    assert ops["Dense"] == pytest.approx((dense1 + dense2) / 8)


def test_neurobench_footprint_of_our_module_counts_the_recurrent_mask_too():
    _neurobench()
    from neurobench.metrics.static import Footprint
    from neurobench.models import TorchModel

    model, data = hand_built()
    mask_bytes = 2 * 2 * 4
    assert Footprint()(TorchModel(model)) == efficiency_metrics(model, data)["footprint_bytes"] + mask_bytes


def test_mismatch_metric_in_a_neurobench_benchmark_equals_our_ensemble(tiny_model, tiny_data):
    _neurobench()
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import ClassificationAccuracy
    from neurobench.models import TorchModel

    from robust_snn.core.evaluation import evaluate
    from robust_snn.devices import evaluate_ensemble
    from robust_snn.readiness.neurobench_metric import mismatch_metric

    data = tiny_data[1]
    metric = mismatch_metric("gaussian-10", n_chips=8, seed=3)
    loader = DataLoader(data, batch_size=8)
    results = Benchmark(TorchModel(tiny_model), loader, [], [lambda p: p.argmax(-1)],
                        [[], [ClassificationAccuracy, metric]]).run(quiet=True)
    robust = results["MismatchRobustness"]
    # The reference: one ensemble over the whole set (no read noise in gaussian-10: batching does not matter).
    ensemble = evaluate_ensemble(tiny_model, "gaussian-10", data, n_chips=8, seed=3, batch_size=len(data),
                                 progress=False)
    # gaussian-10 programs no levels (mismatch only): its programmed network is the trained one.
    nominal = evaluate(tiny_model, data).accuracy
    assert robust["Mean_Accuracy"] == pytest.approx(ensemble.mean_accuracy)
    assert robust["Min_Accuracy"] == pytest.approx(ensemble.min_accuracy)
    assert robust["Programmed_Accuracy"] == pytest.approx(nominal)
    # Yield: the fraction of chips at or above 95% of the programmed accuracy.
    chips = list(ensemble.per_chip_accuracy)
    assert robust["Yield"] == pytest.approx(sum(a >= 0.95 * nominal for a in chips) / len(chips))
    assert results["ClassificationAccuracy"] == pytest.approx(nominal)
    assert not math.isnan(robust["P5_Accuracy"])


def test_score_card_reports_neurobench_metrics_for_the_trained_and_programmed_network(tmp_path):
    import json

    from robust_snn.readiness.report import write_report
    from robust_snn.readiness.scorecard import AttackSettings, EnsembleSettings, Scored, score_card

    model, data = hand_built()
    profile = load_profile("xylo-audio2")
    card = score_card(Scored(model, data, "hand-built"), profile, EnsembleSettings(n_chips=2),
                      attack=AttackSettings(steps=1, repeats=1)).to_dict()
    section = card["neurobench"]
    assert_metrics(section["float"], FLOAT_BY_HAND)
    assert_metrics(section["programmed"], PROGRAMMED_ON_XYLO_BY_HAND)
    # One line into a table: nested keys become dotted columns.
    card = json.loads(json.dumps(card))
    try:
        import pandas as pd
    except ImportError:
        assert isinstance(card["neurobench"]["programmed"]["synaptic_operations"]["effective_acs"], float)
    else:
        frame = pd.json_normalize([card])
        assert frame.loc[0, "neurobench.programmed.synaptic_operations.effective_acs"] == (
            section["programmed"]["synaptic_operations"]["effective_acs"])
        assert frame.loc[0, "yield"] == card["yield"]
    pytest.importorskip("matplotlib")
    report = write_report(tmp_path / "r", [card])
    assert "## NeuroBench metrics" in report.read_text()
