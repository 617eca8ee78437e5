"""The scan's compiled CPU loops (robust_snn.core.lif_scan_cpu) against the per-step loop and plain autograd.

The forward loop must equal the Python loop bit for bit for layers without recurrent weights (the same
operations rounded the same way), and to rounding with them (the recurrent current is summed in another order
than the loop's matrix product); the backward recursion must give every gradient of plain autograd through the
op-by-op LIF step (the layer with ``use_scan = False``), as the Python loop does. Also: which calls take the
compiled loops, and what happens without a C compiler.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

import robust_snn.core.lif_scan as scan_module
from robust_snn.core import LIFLayer, Surrogate, lif_scan_cpu, set_trainable

#: Tests that must see the compiled loops run need them built: a C compiler (CI installs gcc where none is found).
compiled = pytest.mark.skipif(lif_scan_cpu.library() is None, reason="no C compiler: the compiled loops cannot be built")
#: Recurrent layers take the compiled loops only on an AVX-512 or AVX2+FMA build (lif_scan_cpu.wide_vectors).
wide = pytest.mark.skipif(not lif_scan_cpu.wide_vectors(),
                          reason="recurrent layers take the C loops on AVX-512 and AVX2+FMA builds only")

FEED_FORWARD = [{}, {"adaptive": True, "adapt_strength": 0.3, "tau_adapt": 0.05},
                {"surrogate": Surrogate("atan")}, {"surrogate": Surrogate("triangular")}]
IDS = ["ffwd", "adaptive", "atan", "triangular"]
RECURRENT = [{"recurrent": True}, {"recurrent": True, "adaptive": True, "adapt_strength": 0.3, "tau_adapt": 0.05}]
RECURRENT_IDS = ["recurrent", "recurrent-adaptive"]


@pytest.fixture
def calls(monkeypatch):
    """Counts the compiled loops' calls."""
    counted = {"forward": 0, "backward": 0}
    for name in counted:
        original = getattr(lif_scan_cpu, name)

        def wrapper(*args, _name=name, _original=original, **kwargs):
            counted[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(lif_scan_cpu, name, wrapper)
    return counted


def layer(n_out: int = 37, n_in: int = 6, **kw) -> LIFLayer:
    """37 neurons: not a multiple of any vector width, so the loops' remainders are exercised."""
    torch.manual_seed(0)
    lif = LIFLayer(n_in, n_out, dt=1e-3, tau_mem=0.02, tau_syn=0.008, threshold=0.7, bias=0.02, **kw)
    with torch.no_grad():
        lif.bias.uniform_(-0.05, 0.1)
        lif.log_tau_mem.add_(0.3 * torch.randn(n_out))
        lif.log_threshold.add_(0.2 * torch.randn(n_out))
    return lif


def run(lif: LIFLayer, x: torch.Tensor, weights: torch.Tensor, kernels: bool):
    """Spikes, traces, the input's and every parameter's gradient of a loss reading spikes, membrane and current."""
    scan_module.use_cpu_kernels = kernels
    try:
        xi = x.clone().requires_grad_(True)
        spikes, state = lif(xi, record=True)
        loss = (spikes * weights).sum() + 0.1 * (state.vmem * weights).sum() + 0.05 * state.isyn.pow(2).sum()
        loss.backward()
    finally:
        scan_module.use_cpu_kernels = True
    grads = {n: p.grad.clone() for n, p in lif.named_parameters()}
    lif.zero_grad(set_to_none=True)
    return spikes.detach(), state.vmem.detach(), state.isyn.detach(), xi.grad, grads


def data(batch: int = 5, steps: int = 60):
    g = torch.Generator().manual_seed(1)
    return torch.randn(batch, steps, 6, generator=g) * 2, torch.randn(batch, steps, 37, generator=g)


@compiled
@pytest.mark.parametrize("kw", FEED_FORWARD, ids=IDS)
def test_forward_equals_the_per_step_loop_bit_for_bit(kw, calls):
    lif, (x, w) = layer(**kw), data()
    compiled, looped = run(lif, x, w, kernels=True), run(lif, x, w, kernels=False)
    assert calls == {"forward": 1, "backward": 1}  # the first run took the compiled loops, the second did not
    assert compiled[0].sum() > 50
    for a, b in zip(compiled[:3], looped[:3]):
        assert torch.equal(a, b)
    with torch.no_grad():  # inference (spikes only)
        assert torch.equal(lif(x), compiled[0])
    assert calls["forward"] == 2


@wide
@pytest.mark.parametrize("kw", RECURRENT, ids=RECURRENT_IDS)
def test_recurrent_forward_equals_the_per_step_loop_to_rounding(kw, calls):
    """With recurrent weights the C loop adds the rows of the neurons that spiked (in neuron order) where the
    loop has a matrix product (whose summation order depends on the BLAS and its threads): the same spikes,
    traces equal to float32 rounding."""
    lif, (x, w) = layer(**kw), data()
    compiled, looped = run(lif, x, w, kernels=True), run(lif, x, w, kernels=False)
    assert calls == {"forward": 1, "backward": 1}
    assert compiled[0].sum() > 50 and torch.equal(compiled[0], looped[0])
    assert torch.allclose(compiled[1], looped[1], rtol=0, atol=1e-5)
    assert torch.allclose(compiled[2], looped[2], rtol=0, atol=1e-6)
    with torch.no_grad():  # inference (spikes only)
        assert torch.equal(lif(x), compiled[0])
    assert calls["forward"] == 2


@wide
@pytest.mark.parametrize("n", [48, 100, 130], ids=["3-blocks", "6-blocks-and-4", "8-blocks-and-2"])
def test_the_recurrent_current_in_blocks_of_columns_equals_the_loop(n, calls):
    """The recurrent current is summed in groups of four, two and one blocks of 16 columns, then the columns
    left over: each layer width takes other groups (37 neurons, the tests above: two blocks and five columns)."""
    lif = layer(n_out=n, recurrent=True)
    x = data()[0]
    with torch.no_grad():
        compiled = lif(x, record=True)
        scan_module.use_cpu_kernels = False
        try:
            looped = lif(x, record=True)
        finally:
            scan_module.use_cpu_kernels = True
    assert calls["forward"] == 1 and compiled[0].sum() > 50
    assert torch.equal(compiled[0], looped[0])
    assert torch.allclose(compiled[1].vmem, looped[1].vmem, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kernels", [True, False], ids=["compiled-loops", "python-loop"])
@pytest.mark.parametrize("kw", FEED_FORWARD + RECURRENT, ids=IDS + RECURRENT_IDS)
def test_every_gradient_matches_autograd_through_the_lif_step(kw, kernels):
    lif, (x, w) = layer(**kw), data()
    reference = copy.deepcopy(lif)
    reference.use_scan = False  # op by op under autograd, with the surrogate spike function
    got, want = run(lif, x, w, kernels), run(reference, x, w, kernels)
    assert torch.equal(got[0], want[0])
    assert torch.allclose(got[1], want[1], atol=1e-5) and torch.allclose(got[2], want[2], atol=1e-5)
    assert torch.allclose(got[3], want[3], rtol=1e-4, atol=1e-5)
    assert got[4].keys() == want[4].keys()
    for name, value in want[4].items():
        # float32 sums in other orders: an error relative to the gradient's scale (which cancellation leaves on
        # its small entries; recurrent weights' gradients reach a few hundred here)
        atol = 1e-5 + 2e-6 * float(value.abs().max())
        assert torch.allclose(got[4][name], value, rtol=1e-4, atol=atol), name


@compiled
@pytest.mark.parametrize("trained", ["everything", "weights-and-biases"])
@pytest.mark.parametrize("kw", FEED_FORWARD, ids=IDS)
def test_gradients_of_a_loss_on_spikes_alone_match_autograd(kw, trained, calls):
    """A loss that reads only the spikes (the usual one) runs the backward rows without incoming membrane and
    current gradients (each combination of adaptation and surrogate: a variant of its own in the C source), and
    with only weights and biases trained, without the time constants' and thresholds' sums."""
    lif, (x, w) = layer(**kw), data()
    if trained == "weights-and-biases":
        set_trainable(lif, ("weights", "biases"))
    reference = copy.deepcopy(lif)
    reference.use_scan = False
    got, want = [], []
    for module, out in ((lif, got), (reference, want)):
        xi = x.clone().requires_grad_(True)
        (module(xi) * w).sum().backward()
        out.append(xi.grad)
        out.extend(p.grad.clone() for p in module.parameters() if p.requires_grad)
    assert len(got) == (3 if trained == "weights-and-biases" else len(list(lif.parameters())) + 1)
    assert calls["backward"] == 1
    for a, b in zip(got, want):  # float32 sums over 300 steps in other orders: 5e-6 of the scale seen
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 + 1e-5 * float(b.abs().max()))


@compiled
def test_incoming_gradients_in_any_layout(calls):
    """A gradient broadcast over time (from a mean over time: stride 0) and one whose neurons are not adjacent in
    memory (copied first) give the Python loop's gradients."""
    lif, (x, _) = layer(), data()
    results = []
    for kernels in (True, False):
        scan_module.use_cpu_kernels = kernels
        try:
            xi = x.clone().requires_grad_(True)
            spikes, state = lif(xi, record=True)
            weights = torch.randn(37, 5, generator=torch.Generator().manual_seed(3))
            loss = (spikes.mean(1) * weights.t()).sum() + (state.vmem * weights.t()[:, None, :]).sum()
            loss.backward()
        finally:
            scan_module.use_cpu_kernels = True
        results.append((xi.grad, {n: p.grad.clone() for n, p in lif.named_parameters()}))
        lif.zero_grad(set_to_none=True)
    assert calls["backward"] == 1
    (gx1, g1), (gx2, g2) = results
    assert torch.allclose(gx1, gx2, rtol=1e-5, atol=1e-6)
    for name in g1:
        assert torch.allclose(g1[name], g2[name], rtol=1e-5, atol=1e-6), name


@compiled
def test_float64_and_vmapped_calls_keep_the_python_loop(calls):
    x, _ = data(batch=2, steps=10)
    with torch.no_grad():
        layer(recurrent=True).double()(x.double())  # float64: the loop
    lif = layer()
    params = {k: v.detach() for k, v in lif.named_parameters()}
    chips = {k: torch.stack([v, v * 1.05]) for k, v in params.items()}
    torch.func.vmap(lambda p: torch.func.functional_call(lif, p, (x,)))(chips)  # batched tensors: the loop
    assert calls == {"forward": 0, "backward": 0}
    with torch.no_grad():
        lif(x)
    assert calls["forward"] == 1


@compiled
def test_torch_func_grad_gives_the_python_loops_gradients():
    """Under ``torch.func.grad`` the scan's forward sees plain tensors (and may take the compiled loop), its
    backward the transform's wrappers (the Python loop): the gradients must be the loop's."""
    lif, (x, _) = layer(), data(batch=3, steps=20)
    params = {k: v.detach() for k, v in lif.named_parameters()}

    def grads():
        return torch.func.grad(lambda p: torch.func.functional_call(lif, p, (x,)).sum())(params)

    compiled = grads()
    scan_module.use_cpu_kernels = False
    try:
        looped = grads()
    finally:
        scan_module.use_cpu_kernels = True
    for name, value in looped.items():
        assert torch.equal(compiled[name], value), name


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """The library built anew into an empty cache folder."""
    monkeypatch.setenv("ROBUST_SNN_CACHE", str(tmp_path))
    monkeypatch.setattr(lif_scan_cpu, "_library", [])
    return tmp_path


@compiled
def test_the_library_is_compiled_once_into_the_cache_and_then_reused(fresh_build, monkeypatch):
    assert lif_scan_cpu.library() is not None
    built = list((fresh_build / "kernels").glob("lif_scan_*.so"))
    assert len(built) == 1
    monkeypatch.setattr(lif_scan_cpu, "_library", [])

    def no_compiler(*args, **kwargs):
        raise AssertionError("compiled again")

    monkeypatch.setattr(lif_scan_cpu.subprocess, "run", no_compiler)
    assert lif_scan_cpu.library() is not None  # loaded from the cache


def test_without_a_compiler_the_python_loop_runs_with_one_warning(fresh_build, monkeypatch):
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(lif_scan_cpu.shutil, "which", lambda name: None)
    lif, (x, w) = layer(), data(batch=2, steps=10)
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        spikes = run(lif, x, w, kernels=True)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once per process
        run(lif, x, w, kernels=True)
    assert torch.equal(spikes, run(lif, x, w, kernels=False)[0])


def test_a_failing_compiler_says_why_and_the_python_loop_runs(fresh_build, monkeypatch):
    monkeypatch.setenv("CC", "false")  # a "compiler" that fails
    with pytest.warns(RuntimeWarning, match="compiling the CPU LIF scan with false failed"):
        assert lif_scan_cpu.library() is None


def test_the_environment_switch_turns_the_compiled_loops_off(monkeypatch, calls):
    monkeypatch.setenv("ROBUST_SNN_CPU_KERNELS", "0")
    with torch.no_grad():
        layer()(data(batch=2, steps=10)[0])
    assert calls["forward"] == 0


def _projection_by_addcmul(data: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``data @ weight^T`` per chip, summed over the input channels in order with one rounding per term
    (``addcmul`` is a fused multiply-add on the CPU): the summation the C step's own projection promises."""
    out = torch.zeros(weight.shape[0], data.shape[0], weight.shape[1])
    for k in range(data.shape[1]):
        out = torch.addcmul(out, data[:, k][None, :, None], weight[:, None, :, k])
    return out


@compiled
@pytest.mark.parametrize("project", [False, True], ids=["drive-given", "projects-the-data"])
@pytest.mark.parametrize("n", [37, 48, 64], ids=["37-neurons", "48-neurons", "64-neurons"])
@pytest.mark.parametrize("adaptive", [False, True], ids=["plain", "adaptive"])
def test_the_chip_step_equals_lif_step_and_the_look_up_bit_for_bit(adaptive, n, project):
    """The chip-batched C step against the PyTorch operations it replaces, on the same numbers: the drive (given,
    or from the projection by lif_drive), the recurrent current by the look-up table (SpikeProduct), then
    lif_step; every state, spike and spike count equal after each of several steps. The step runs column blocks of 32 and
    16 and the rest one by one (37 neurons: 32 + 5; 48: 32 + 16; 64: 32 + 32), rows four or eight at a time
    and the rest one by one, in slices of 64 rows (70 rows per chip). ``projects-the-data``: given the layer's
    input weights, the step projects rows of data itself, equal to the channel-ordered sum of products."""
    from robust_snn.core.lif_step import LIFParams, LIFStepState, lif_drive, lif_step
    from robust_snn.core.spike_product import SpikeProduct, padded_width

    chips, batch, n_in = 3, 70, 6
    g = torch.Generator().manual_seed(4)
    alpha, beta = (torch.rand(chips, 1, n, generator=g) * 0.5 + 0.4 for _ in range(2))
    threshold = torch.rand(chips, 1, n, generator=g) + 0.3
    bias = torch.randn(chips, 1, n, generator=g) * 0.1
    rho, kappa = (torch.rand(chips, 1, n, generator=g) * 0.5 + 0.3 for _ in range(2)) if adaptive else (None, None)
    product = SpikeProduct(torch.randn(chips, n, n, generator=g) * 0.3)
    width = padded_width(n)
    u0 = bias.expand(chips, batch, n).clone()
    ref = LIFStepState(u0.clone(), torch.zeros_like(u0), None, torch.zeros_like(u0) if adaptive else None)
    u, v = u0.clone(), torch.zeros_like(u0)
    a = torch.zeros_like(u0) if adaptive else None
    weight = torch.randn(chips, n, n_in, generator=g)
    step = lif_scan_cpu.ChipStep(u, v, a, alpha, beta, threshold, rho, kappa, table=product.table,
                                 groups=product.groups, drive_bias=(1 - beta) * bias if project else None,
                                 weight=weight if project else None)
    previous = torch.zeros(chips, batch, width)
    counts, spike_sum = torch.zeros(chips, batch, width), torch.zeros(chips, batch, n)
    for t in range(4):
        data = torch.randn(batch, n_in, generator=g) * 0.6
        given = torch.randn(chips, batch, n, generator=g)
        d = lif_drive(_projection_by_addcmul(data, weight), bias, beta) if project else given.clone()
        if t > 0:
            d.view(-1, n).add_(product(previous, chip_dim=0).view(-1, n))
        ref = lif_step(d, ref, LIFParams(alpha, beta, threshold, None, rho, kappa))
        spikes = torch.zeros(chips, batch, width)
        drive = data if project else given
        call, args = step.bind(drive, spikes[..., :n], counts[..., :n], previous if t > 0 else None)
        call(*args)
        spike_sum += ref.s
        assert ref.s.sum() > 0 and torch.equal(spikes[..., :n], ref.s)
        assert torch.equal(counts[..., :n], spike_sum) and not counts[..., n:].any()
        assert torch.equal(u, ref.u) and torch.equal(v, ref.v)
        if adaptive:
            assert torch.equal(a, ref.a)
        previous = spikes


@compiled
@pytest.mark.parametrize("kw", [{}, RECURRENT[1]], ids=["ffwd", "recurrent-adaptive"])
def test_the_backward_forms_the_fast_sigmoid_surrogate_bit_for_bit(kw):
    """Given the slope instead of the surrogate trace, the C backward forms ``H'(V_t - theta_t)`` itself: the
    same gradients, bit for bit, as from the trace computed by PyTorch operations (as lif_scan's backward
    computes it for every other surrogate)."""
    from robust_snn.core.surrogates import _fast_sigmoid

    n, g = 37, torch.Generator().manual_seed(5)
    alpha, beta = torch.rand(n, generator=g) * 0.5 + 0.4, torch.rand(n, generator=g) * 0.5 + 0.4
    threshold, bias = torch.rand(n, generator=g) + 0.5, torch.randn(n, generator=g) * 0.1
    rho, kappa = ((torch.rand(n, generator=g) * 0.5 + 0.3, torch.rand(n, generator=g) * 0.5)
                  if kw.get("adaptive") else (None, None))
    w_rec = torch.randn(n, n, generator=g) * 0.2 if kw.get("recurrent") else None
    drive = torch.randn(5, 60, n, generator=g) * 1.5
    s, vmem, u, adapt = lif_scan_cpu.forward(drive, bias, alpha, beta, threshold, w_rec, rho, kappa, True)
    assert s.sum() > 50
    # the surrogate trace as robust_snn.core.lif_scan computes it
    if rho is not None:
        a_prev = torch.cat([torch.zeros_like(adapt[:, :1]), adapt[:, :-1]], dim=1)
        theta = threshold + kappa * a_prev
    else:
        theta = threshold.expand_as(s)
    trace = _fast_sigmoid(torch.addcmul(vmem, s, theta).sub_(theta), 25.0)
    g_s = torch.randn(s.shape, generator=g)
    args = (s, vmem, u, adapt, bias, alpha, beta, threshold, w_rec, rho, kappa)
    from_trace = lif_scan_cpu.backward(g_s, None, None, trace, *args)
    formed = lif_scan_cpu.backward(g_s, None, None, 25.0, *args)
    assert torch.equal(from_trace[0], formed[0]) and torch.equal(from_trace[1], formed[1])
    assert from_trace[0].abs().sum() > 0


@compiled
def test_recurrent_layers_keep_the_python_loop_without_wide_vectors(calls, monkeypatch):
    """A build without wide vectors (128-bit only) leaves recurrent layers to the per-step loop."""
    monkeypatch.setattr(lif_scan_cpu, "wide_vectors", lambda: False)
    x, _ = data(batch=2, steps=10)
    with torch.no_grad():
        layer(recurrent=True)(x)
    assert calls == {"forward": 0, "backward": 0}
    with torch.no_grad():
        layer()(x)  # feed-forward layers still take them
    assert calls["forward"] == 1


@compiled
@pytest.mark.parametrize("trained", ["everything", "weights-and-biases"])
@pytest.mark.parametrize("kw", FEED_FORWARD[:2], ids=IDS[:2])
def test_two_layers_with_time_major_gradients_match_the_python_loop(kw, trained, calls):
    """Two stacked narrow layers (20 -> 10 neurons, 13 samples) with every trace and incoming gradient time-major,
    as in a network: the compiled loops run a step's rows side by side in groups (12 rows of 20 and 25 of 10:
    partial last groups), forming the drive from the projection in the forward pass and the projection's
    gradient in the backward pass. Spikes equal the Python loop's bit for bit, gradients to float32 rounding."""
    first, second = layer(n_out=20, **kw), layer(n_out=10, n_in=20, **kw)
    if trained == "weights-and-biases":
        set_trainable(first, ("weights", "biases"))
        set_trainable(second, ("weights", "biases"))
    g = torch.Generator().manual_seed(4)
    x = torch.randn(13, 40, 6, generator=g) * 2
    w = torch.randn(40, 13, 10, generator=g).transpose(0, 1)  # time-major, as a next layer's gradient comes
    results = []
    for kernels in (True, False):
        scan_module.use_cpu_kernels = kernels
        try:
            hidden = first(x)
            out = second(hidden)
            (out * w).sum().backward()
        finally:
            scan_module.use_cpu_kernels = True
        grads = {f"{k}.{n}": p.grad.clone() for k, lif in (("1", first), ("2", second))
                 for n, p in lif.named_parameters() if p.requires_grad}
        results.append((hidden.detach(), out.detach(), grads))
        first.zero_grad(set_to_none=True)
        second.zero_grad(set_to_none=True)
    assert calls == {"forward": 2, "backward": 2}
    (h1, o1, g1), (h2, o2, g2) = results
    assert h1.transpose(0, 1).is_contiguous() and h1.sum() > 100 and o1.sum() > 20
    assert torch.equal(h1, h2) and torch.equal(o1, o2)
    assert g1.keys() == g2.keys()
    for name, value in g2.items():
        assert torch.allclose(g1[name], value, rtol=1e-4, atol=1e-5 + 1e-5 * float(value.abs().max())), name


@compiled
@pytest.mark.parametrize("kw", [{}, {"recurrent": True}], ids=["ffwd", "recurrent"])
def test_a_frozen_beta_leaves_the_u_trace_out_with_autograds_gradients(kw, monkeypatch):
    """beta's gradient is the U trace's only reader in the backward pass: with the synaptic time constant frozen
    the C forward writes no U trace, and every other gradient (the membrane's time constant and the threshold
    too: the backward's per-row sums then run without U) is still autograd's; a recorded layer keeps it."""
    if kw and not lif_scan_cpu.wide_vectors():
        pytest.skip("recurrent layers take the C loops on AVX-512 and AVX2+FMA builds only")
    lif, (x, w) = layer(**kw), data()
    lif.log_tau_syn.requires_grad_(False)
    reference = copy.deepcopy(lif)
    reference.use_scan = False
    kept = []
    original = lif_scan_cpu.forward

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        kept.append(out[2] is not None)
        return out

    monkeypatch.setattr(lif_scan_cpu, "forward", recording)
    results = []
    for module in (lif, reference):
        spikes = module(x)
        (spikes * w).sum().backward()
        results.append((spikes.detach(), {n: p.grad.clone() for n, p in module.named_parameters() if p.requires_grad}))
    assert kept == [False]
    (s1, g1), (s2, g2) = results
    assert s1.sum() > 50 and torch.equal(s1, s2)
    assert set(g1) == set(g2) == {n for n, p in lif.named_parameters() if n != "log_tau_syn"}
    for name, value in g2.items():
        atol = 1e-5 + 2e-6 * float(value.abs().max())
        assert torch.allclose(g1[name], value, rtol=1e-4, atol=atol), name
    spikes, state = lif(x, record=True)  # recorded: U is kept (the current is U - bias)
    assert kept[-1] is True and torch.equal(spikes, s1)


def test_asking_for_betas_gradient_without_the_u_trace_is_an_error():
    g = torch.Generator().manual_seed(0)
    n = 5
    beta = torch.full((n,), 0.8, requires_grad=True)
    spikes, _, u, _ = scan_module.LIFScan.apply(
        torch.randn(3, 7, n, generator=g), torch.zeros(n), torch.full((n,), 0.9), beta, torch.full((n,), 0.5),
        None, None, None, Surrogate("fast_sigmoid").shape, 25.0, False, False)
    if u.numel() > 0:
        pytest.skip("this call did not take the C loops, which alone leave U out")
    with pytest.raises(RuntimeError, match="kept no U trace"):
        spikes.sum().backward()
