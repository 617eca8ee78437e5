"""The LIF scan as torch.library custom ops: same outputs and gradients as plain autograd, a valid operator
(opcheck), and a compiled forward + backward without a graph break."""

import copy

import pytest
import torch

import robust_snn.core.lif_scan as lif_scan
from robust_snn.core import LIFLayer, NetworkConfig, SNNClassifier, Surrogate

CASES = {
    "ffwd": {},
    "rec": {"recurrent": True},
    "adaptive": {"adaptive": True, "adapt_strength": 0.3, "tau_adapt": 0.05},
    "rec-adaptive": {"recurrent": True, "adaptive": True, "adapt_strength": 0.3, "tau_adapt": 0.05},
    "atan": {"recurrent": True, "surrogate": Surrogate("atan")},
}


def pair(**kw):
    torch.manual_seed(0)
    layer = LIFLayer(6, 9, dt=1e-3, tau_mem=0.02, tau_syn=0.008, threshold=0.7, bias=0.02, **kw)
    with torch.no_grad():
        layer.bias.uniform_(-0.05, 0.1)
        layer.log_tau_mem.add_(0.3 * torch.randn(9))
        layer.log_threshold.add_(0.2 * torch.randn(9))
    reference = copy.deepcopy(layer)
    reference.use_scan = False  # op by op under autograd: the reference
    return layer, reference


@pytest.mark.parametrize("kw", CASES.values(), ids=CASES.keys())
def test_custom_op_outputs_and_all_gradients_match_autograd(kw, monkeypatch):
    layer, reference = pair(**kw)
    x = torch.randn(4, 40, 6, generator=torch.Generator().manual_seed(1)) * 2
    weights = torch.randn(4, 40, 9, generator=torch.Generator().manual_seed(2))
    results = []
    for module, compiling in ((layer, True), (reference, False)):
        # lif_scan takes the custom op exactly when Dynamo is tracing; here it is called eagerly.
        monkeypatch.setattr(lif_scan, "_compiling", lambda c=compiling: c)
        xi = x.clone().requires_grad_(True)
        spikes, state = module(xi, record=True)
        loss = (spikes * weights).sum() + 0.1 * (state.vmem * weights).sum() + 0.05 * state.isyn.pow(2).sum()
        loss.backward()
        results.append((spikes, state, xi.grad, {n: p.grad.clone() for n, p in module.named_parameters()}))
    monkeypatch.undo()
    (s1, st1, gx1, g1), (s2, st2, gx2, g2) = results
    assert s1.sum() > 10 and torch.equal(s1, s2)
    torch.testing.assert_close(st1.vmem, st2.vmem, atol=1e-5, rtol=0)
    torch.testing.assert_close(gx1, gx2, rtol=1e-4, atol=1e-5)
    assert set(g1) == set(g2)
    for name in g1:
        # Float32 sums in other orders (the C loops' recurrent products): an error relative to the gradient's
        # scale, which cancellation leaves on its small entries (w_rec's reach 300 here, its smallest 0.08).
        scale = float(g2[name].abs().max())
        torch.testing.assert_close(g1[name], g2[name], rtol=1e-4, atol=1e-5 + 2e-6 * scale, msg=name)


def op_inputs(recurrent, adaptive, grad=True):
    g = torch.Generator().manual_seed(0)
    n = 5

    def leaf(t):
        return t.requires_grad_(grad)

    return (
        leaf(torch.randn(3, 7, n, generator=g)), leaf(torch.randn(n, generator=g) * 0.1),
        leaf(torch.full((n,), 0.9)), leaf(torch.full((n,), 0.8)), leaf(torch.full((n,), 0.5)),
        leaf(torch.randn(n, n, generator=g) * 0.3) if recurrent else None,
        leaf(torch.full((n,), 0.95)) if adaptive else None, leaf(torch.full((n,), 0.2)) if adaptive else None,
    )


@pytest.mark.parametrize("projected", [False, True], ids=["drive", "projection"])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("adaptive", [False, True])
def test_the_ops_pass_opcheck(recurrent, adaptive, projected):
    # Schema, autograd registration, fake (meta) functions and AOT dispatch, as torch.library checks them;
    # projected: the first input is the projection, from which the op forms the drive itself.
    torch.library.opcheck(lif_scan.lif_scan_op,
                          (*op_inputs(recurrent, adaptive), "fast_sigmoid", 25.0, projected))
    torch.library.opcheck(lif_scan.lif_spikes_op, (*op_inputs(recurrent, adaptive, grad=False), projected))


def classifier():
    return SNNClassifier(NetworkConfig(n_in=6, hidden=(10, 8), n_classes=3, recurrent=True, adaptive=True,
                                       adapt_strength=0.3, seed=2))


def test_a_compiled_training_step_has_no_graph_break_and_the_eager_gradients():
    model = classifier()
    x = torch.randn(4, 30, 6, generator=torch.Generator().manual_seed(1)) * 3
    y = torch.tensor([0, 1, 2, 1])

    def step(m):
        loss = torch.nn.functional.cross_entropy(m(x), y)
        loss.backward()
        return loss

    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    compiled_model = copy.deepcopy(model)
    # fullgraph=True raises on any graph break; aot_eager traces forward and backward without Inductor's C++.
    loss_c = step(torch.compile(compiled_model, backend="aot_eager", fullgraph=True))
    loss_e = step(model)
    torch.testing.assert_close(loss_c, loss_e)
    grads = dict(model.named_parameters())
    for name, p in compiled_model.named_parameters():
        if p.grad is not None or grads[name].grad is not None:
            torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-4, atol=1e-6, msg=name)


def test_compiled_inference_has_no_graph_break_and_the_eager_logits():
    model = classifier().eval()
    x = torch.randn(4, 30, 6, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad():
        assert torch._dynamo.explain(model)(x).graph_break_count == 0
        compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
        assert torch.equal(compiled(x), model(x))


@pytest.mark.parametrize("recurrent", [False, True])
def test_the_scan_op_without_its_u_trace_passes_opcheck(recurrent):
    # keep_u=False: U comes back empty (beta needs no gradient, and U is its only reader in the backward pass)
    inputs = list(op_inputs(recurrent, adaptive=False))
    inputs[3] = inputs[3].detach()
    out = lif_scan.lif_scan_op(*inputs, "fast_sigmoid", 25.0, True, False)
    assert out[2].numel() == 0 and out[0].shape == inputs[0].shape
    torch.library.opcheck(lif_scan.lif_scan_op, (*inputs, "fast_sigmoid", 25.0, True, False))
