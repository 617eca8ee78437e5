"""The fused LIF scan must equal plain autograd through the same equations: outputs and every gradient."""

import copy

import pytest
import torch

from robust_snn.core import LIFLayer, Surrogate


def pair(frozen=(), **kw):
    """The scan and the op-by-op reference, the same layer; ``frozen`` parameters get no gradient (a frozen
    ``w_rec`` lets the CPU loops form the projection's gradients themselves; a frozen ``log_tau_syn`` leaves
    beta without one)."""
    torch.manual_seed(0)
    scan = LIFLayer(6, 9, dt=1e-3, tau_mem=0.02, tau_syn=0.008, threshold=0.7, bias=0.02, **kw)
    with torch.no_grad():
        scan.bias.uniform_(-0.05, 0.1)
        scan.log_tau_mem.add_(0.3 * torch.randn(9))
        scan.log_threshold.add_(0.2 * torch.randn(9))
    for name in frozen:
        getattr(scan, name).requires_grad_(False)
    reference = copy.deepcopy(scan)
    reference.use_scan = False
    return scan, reference


CASES = [
    {},
    {"recurrent": True},
    {"adaptive": True, "adapt_strength": 0.3, "tau_adapt": 0.05},
    {"recurrent": True, "adaptive": True, "adapt_strength": 0.3, "tau_adapt": 0.05},
    {"recurrent": True, "surrogate": Surrogate("atan")},
    {"recurrent": True, "frozen": ("w_rec", "log_tau_syn")},
]
IDS = ["ffwd", "rec", "adaptive", "rec-adaptive", "atan", "rec-frozen"]


@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_scan_outputs_and_all_gradients_match_autograd(kw):
    scan, reference = pair(**kw)
    x = torch.randn(4, 60, 6, generator=torch.Generator().manual_seed(1)) * 2
    weights = torch.randn(4, 60, 9, generator=torch.Generator().manual_seed(2))
    results = []
    for layer in (scan, reference):
        xi = x.clone().requires_grad_(True)
        spikes, state = layer(xi, record=True)
        # A loss that reads spikes, membrane and current, so every output's gradient path is exercised.
        loss = (spikes * weights).sum() + 0.1 * (state.vmem * weights).sum() + 0.05 * state.isyn.pow(2).sum()
        loss.backward()
        grads = {n: p.grad.clone() for n, p in layer.named_parameters() if p.requires_grad}
        results.append((spikes, state, xi.grad, grads))
    (s1, st1, gx1, g1), (s2, st2, gx2, g2) = results
    assert s1.sum() > 20
    assert torch.equal(s1, s2)
    assert torch.allclose(st1.vmem, st2.vmem, atol=1e-5)
    assert torch.allclose(st1.isyn, st2.isyn, atol=1e-5)
    assert torch.allclose(gx1, gx2, rtol=1e-4, atol=1e-5)
    assert set(g1) == set(g2)
    truth = None
    for name in g1:
        if torch.allclose(g1[name], g2[name], rtol=1e-4, atol=1e-5):
            continue
        # A recurrent layer carries float32 rounding through 60 steps of recurrence, so two correct float32
        # computations that round in another order (the product's layout, the C loops' sums) can differ by
        # more (measured: 2e-4 relative, with both 8e-4 from float64). Then the scan must be as close to the
        # float64 gradient as autograd's own float32 loop is.
        truth = truth or float64_gradients(reference, x, weights, s2)
        scan_error = (g1[name].double() - truth[name]).norm()
        loop_error = (g2[name].double() - truth[name]).norm()
        assert scan_error <= 2 * loop_error + 1e-6 * truth[name].norm(), (name, scan_error, loop_error)


def float64_gradients(layer, x, weights, spikes):
    """Parameter gradients of the test's loss through ``layer``'s op-by-op loop in float64 (same spikes)."""
    trained = {n for n, p in layer.named_parameters() if p.requires_grad}
    exact = copy.deepcopy(layer).double().requires_grad_(True)
    out, state = exact(x.double(), record=True)
    assert torch.equal(out.float(), spikes)
    w = weights.double()
    loss = (out * w).sum() + 0.1 * (state.vmem * w).sum() + 0.05 * state.isyn.pow(2).sum()
    loss.backward()
    return {n: p.grad for n, p in exact.named_parameters() if n in trained}


def test_scan_works_under_vmap_and_func_grad():
    scan, _ = pair(recurrent=True, adaptive=True)
    x = torch.randn(2, 20, 6) * 2
    params = {k: v.detach() for k, v in scan.named_parameters()}
    chips = {k: torch.stack([v, v * 1.05, v * 0.95]) for k, v in params.items()}
    vmapped = torch.func.vmap(lambda p: torch.func.functional_call(scan, p, (x,)))(chips)
    looped = torch.stack([torch.func.functional_call(scan, {k: v[i] for k, v in chips.items()}, (x,))
                          for i in range(3)])
    assert torch.equal(vmapped, looped)
    grads = torch.func.grad(lambda p: torch.func.functional_call(scan, p, (x,)).sum())(params)
    assert torch.isfinite(grads["weight"]).all() and grads["weight"].abs().sum() > 0


@pytest.mark.parametrize("kw", CASES[:4], ids=["ffwd", "rec", "adaptive", "rec-adaptive"])
def test_inference_path_gives_the_same_spikes_as_the_training_path(kw):
    scan, _ = pair(**kw)
    x = torch.randn(3, 50, 6) * 2
    with torch.no_grad():
        inference = scan(x)
        chips = torch.func.vmap(lambda p: torch.func.functional_call(scan, p, (x,)))(
            {k: torch.stack([v, v]) for k, v in scan.named_parameters()})
    assert torch.equal(inference, scan(x))
    assert torch.equal(chips[0], inference)
