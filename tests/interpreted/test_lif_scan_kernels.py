"""The GPU kernels of the feed-forward scan, run in Triton's CPU interpreter, must equal plain autograd through
the LIF step: spikes, traces and every gradient, through the layer and the scan's dispatch.

Why the interpreter: CI has no GPU, and the kernels' arithmetic (the adjoint recursion, the strides, the
masking of the last block) is what can be wrong; ``TRITON_INTERPRET=1`` runs the same kernel source on CPU
tensors. Triton reads that variable when it is first imported, so these tests run in their own process:
``tests/test_lif_scan_triton.py`` starts it (``tests/conftest.py`` leaves this folder out of the main run).
``benchmarks/bench_gpu.py`` checks the compiled kernels on CUDA against the CPU.
"""

import copy
import importlib
import os
import sys

import pytest
import torch

if os.environ.get("TRITON_INTERPRET") != "1":
    pytest.fail("run with TRITON_INTERPRET=1 set before Triton is imported (tests/test_lif_scan_triton.py does)",
                pytrace=False)

import robust_snn.core.lif_scan as scan_module  # noqa: E402
from robust_snn.core import LIFLayer, Surrogate, set_trainable  # noqa: E402

MODULE = "robust_snn.core.lif_scan_triton"


@pytest.fixture
def kernels(monkeypatch):
    """The kernel module loaded under the interpreter, and the scan routed to it for CPU tensors; counts calls."""
    sys.modules.pop(MODULE, None)
    module = importlib.import_module(MODULE)
    calls = {"forward": 0, "backward": 0}

    def counted(name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(module, "forward", counted("forward"))
    monkeypatch.setattr(module, "backward", counted("backward"))

    def route(drive, w_rec, rho, *per_neuron):  # the dispatch's rule, without its "on CUDA"
        return module if module.fits(drive, w_rec, rho, *per_neuron) else None

    monkeypatch.setattr(scan_module, "_kernels_for", route)
    yield module, calls


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def pair(n_out=37, **kw):
    torch.manual_seed(0)
    layer = LIFLayer(6, n_out, dt=1e-3, tau_mem=0.02, tau_syn=0.008, threshold=0.7, bias=0.02, **kw)
    with torch.no_grad():
        layer.bias.uniform_(-0.05, 0.1)
        layer.log_tau_mem.add_(0.3 * torch.randn(n_out))
        layer.log_tau_syn.add_(0.2 * torch.randn(n_out))
        layer.log_threshold.add_(0.2 * torch.randn(n_out))
    set_trainable(layer, ("weights", "biases", "taus", "thresholds", "adaptation"))
    reference = copy.deepcopy(layer)
    reference.use_scan = False
    return layer, reference


CASES = {
    "ffwd": {},
    "ffwd-atan": {"surrogate": Surrogate("atan")},
    "rec": {"recurrent": True},
    "adaptive": {"adaptive": True, "adapt_strength": 0.3, "tau_adapt": 0.05},
    "rec-adaptive": {"recurrent": True, "adaptive": True, "adapt_strength": 0.3, "tau_adapt": 0.05},
}


# Every kind of layer at 4 rows (one program, partly masked); at 20 rows (a full program of 16 and a partly masked
# one) the plainest and the fullest kind, whose kernels take every branch the others take (the interpreter runs
# about 8 s per case at 20 rows, so the three in between are left at one program).
BATCHED_CASES = [(case, 4) for case in CASES] + [("ffwd", 20), ("rec-adaptive", 20)]


@pytest.mark.parametrize(("case", "batch"), BATCHED_CASES)
def test_kernels_match_autograd_through_the_step(kernels, case, batch):
    _, calls = kernels
    # 37 neurons: not a power of two, so every tile has masked lanes; recurrent tiles read the spikes back in
    # four chunks of 16; 20 rows: two programs of 16 rows, the second partly masked.
    layer, reference = pair(**CASES[case])
    x = torch.randn(batch, 60, 6, generator=torch.Generator().manual_seed(1)) * 2
    weights = torch.randn(batch, 60, 37, generator=torch.Generator().manual_seed(2))
    results = []
    for net in (layer, reference):
        xi = x.clone().requires_grad_(True)
        spikes, state = net(xi, record=True)
        loss = (spikes * weights).sum() + 0.1 * (state.vmem * weights).sum() + 0.05 * state.isyn.pow(2).sum()
        loss.backward()
        results.append((spikes, state, xi.grad, {n: p.grad.clone() for n, p in net.named_parameters()
                                                 if p.grad is not None}))
    assert calls == {"forward": 1, "backward": 1}
    (s1, st1, gx1, g1), (s2, st2, gx2, g2) = results
    assert s1.sum() > 10 * batch
    assert torch.equal(s1, s2)
    # The kernels round differently from torch's fused multiply-adds (membrane within ~4e-7), and the surrogate's
    # slope near threshold amplifies that in the gradients (~5e-5 relative over 60 steps); a wrong term would be
    # off by far more. test_kernel_backward_equals_the_loop_on_the_same_traces checks the recursion tightly.
    assert torch.allclose(st1.vmem, st2.vmem, atol=1e-5)
    assert torch.allclose(st1.isyn, st2.isyn, atol=1e-5)
    assert relative_error(gx1, gx2) < 1e-4
    expected = {"weight", "bias", "log_tau_mem", "log_tau_syn", "log_threshold"}
    expected |= {"w_rec"} if "rec" in case else set()
    assert set(g1) == set(g2) and expected <= set(g1)
    for name in g1:
        assert relative_error(g1[name], g2[name]) < 1e-4, name


@pytest.mark.parametrize("recurrent", [False, True], ids=["ffwd", "rec"])
@pytest.mark.parametrize("adaptive", [False, True], ids=["plain", "adaptive"])
def test_kernel_backward_equals_the_loop_on_the_same_traces(kernels, recurrent, adaptive):
    """Given the same forward traces and incoming gradients, the backward kernel and the eager scan's loop
    (:func:`robust_snn.core.lif_scan._backward`) must agree to float32 rounding, term by term."""
    module, _ = kernels
    g = torch.Generator().manual_seed(4)
    batch, steps, n = 18, 40, 29
    drive = torch.randn(batch, steps, n, generator=g) * 0.6
    bias, thr = torch.rand(n, generator=g) * 0.1, torch.rand(n, generator=g) + 0.5
    alpha, beta = torch.rand(n, generator=g) * 0.5 + 0.4, torch.rand(n, generator=g) * 0.5 + 0.4
    w_rec = torch.randn(n, n, generator=g) * 0.2 if recurrent else None
    rho, kappa = (torch.rand(n, generator=g) * 0.5 + 0.4, torch.rand(n, generator=g) * 0.3) if adaptive \
        else (None, None)
    scan_module._kernels_for = lambda *args: None  # the loop's forward, so both backward passes see one set of traces
    spikes, vmem, u, adapt = scan_module._run(drive, bias, alpha, beta, thr, w_rec, rho, kappa, keep_traces=True)
    adapt = adapt if adapt is not None else drive.new_zeros(0)
    assert spikes.sum() > 100
    incoming = [torch.randn(batch, steps, n, generator=g) for _ in range(3)]
    need = [True, True, True, True, True, recurrent, adaptive, adaptive]
    shape = Surrogate("fast_sigmoid").shape
    args = (*incoming, bias, alpha, beta, thr, w_rec, rho, kappa, spikes, vmem, u, adapt, need, shape, 10.0)
    loop = scan_module._backward(*args)
    scan_module._kernels_for = lambda *a: module  # the kernels (monkeypatch restores the routing afterwards)
    ours = scan_module._backward(*args)
    names = ("drive", "bias", "alpha", "beta", "threshold", "w_rec", "rho", "kappa")
    for name, a, b, wanted in zip(names, ours, loop, need):
        assert (a is None) == (b is None) == (not wanted), name
        if wanted:
            assert relative_error(a, b) < 1e-5, name


def test_kernels_take_a_broadcast_incoming_gradient(kernels):
    # loss = spikes.sum(): the incoming gradient is an expanded scalar (stride 0 on every axis).
    layer, reference = pair()
    x = torch.randn(3, 40, 6, generator=torch.Generator().manual_seed(3)) * 2
    grads = []
    for net in (layer, reference):
        net(x).sum().backward()
        grads.append(net.weight.grad.clone())
    assert relative_error(grads[0], grads[1]) < 1e-4
    assert grads[0].abs().sum() > 0


def test_inference_kernel_gives_the_training_spikes(kernels):
    _, calls = kernels
    layer, reference = pair()
    x = torch.randn(3, 50, 6) * 2
    with torch.no_grad():
        fast = layer(x)
        slow = reference(x)
    assert calls["forward"] == 1
    assert torch.equal(fast, slow)


def test_kernels_are_taken_only_for_cuda_scans_they_fit(kernels):
    module, _ = kernels
    drive, p = torch.zeros(2, 5, 4), torch.ones(4)
    assert module.fits(drive, None, None, p, p, p, p) and module.fits(drive, torch.zeros(4, 4), p, p, p, p, p, p, p)
    assert not module.applies(drive, None, None, p, p, p, p)  # a CPU tensor: the loop
    # Chip-batched recurrent weights, other per-neuron shapes, or a population too wide for one program: the loop.
    assert not module.fits(drive, torch.zeros(3, 4, 4), None, p, p, p, p)
    assert not module.fits(drive, None, None, torch.ones(1), p, p, p)
    # Inside torch.func transforms the drive is a wrapper without storage: the loop (which supports them).
    seen = []
    torch.func.vmap(lambda d: (seen.append(module.fits(d, None, None, p, p, p, p)), d)[1])(torch.zeros(3, 2, 5, 4))
    torch.func.grad(lambda d: (seen.append(module.fits(d, None, None, p, p, p, p)), d.sum())[1])(drive)
    assert seen == [False, False]
    wide = torch.zeros(1, 2, module.MAX_RECURRENT + 1)
    q = torch.ones(module.MAX_RECURRENT + 1)
    assert module.fits(wide, None, None, q, q, q, q)
    assert not module.fits(wide, torch.zeros(wide.shape[2], wide.shape[2]), None, q, q, q, q)
