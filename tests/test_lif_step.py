"""The one LIF step (robust_snn.core.lif_step): its equations, its broadcasting over a chip axis, its in-place
mode, and the fused scan's hand-written backward against autograd through that step."""

import math

import pytest
import torch

from robust_snn.core import Surrogate
from robust_snn.core.lif_scan import LIFScan, lif_scan_op
from robust_snn.core.lif_step import (
    LIFParams, StepBuffers, decay, initial_state, lif_drive, lif_step, project, recurrent_matrix,
)

DT = 1e-3


def reference(x, w, b, tau_mem, tau_syn, thr, w_rec=None, tau_adapt=None, kappa=None, threshold=True):
    """The textbook CuBa-LIF in float64, one step at a time, in the currents (not in ``U = I_syn + b``):
    ``I = beta (I + W x + W_rec S)``, ``V = alpha V + I + b``, ``theta = thr + kappa A``, spike if
    ``V >= theta``, ``V -= S theta``, ``A = rho A + S``. Returns spikes and membranes ``(batch, time, n)``."""
    x, w, b = x.double(), w.double(), b.double()
    alpha, beta = torch.exp(-DT / tau_mem.double()), torch.exp(-DT / tau_syn.double())
    batch, steps, _ = x.shape
    n = w.shape[0]
    i_syn, v, s, a = (torch.zeros(batch, n, dtype=torch.float64) for _ in range(4))
    spikes, vs = [], []
    for t in range(steps):
        inp = x[:, t] @ w.T
        if w_rec is not None:
            inp = inp + s @ (w_rec.double() * (1 - torch.eye(n, dtype=torch.float64))).T
        i_syn = beta * (i_syn + inp)
        v = alpha * v + i_syn + b
        if threshold:
            theta = thr.double() + (kappa.double() * a if tau_adapt is not None else 0.0)
            s = (v >= theta).double()
            v = v - s * theta
            if tau_adapt is not None:
                a = torch.exp(-DT / tau_adapt.double()) * a + s
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes, 1), torch.stack(vs, 1)


def random_population(n_in=5, n=7, adaptive=False, recurrent=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = {
        "w": torch.randn(n, n_in, generator=g) * 0.25,
        "b": torch.rand(n, generator=g) * 0.1 - 0.02,
        "tau_mem": 0.004 + 0.016 * torch.rand(n, generator=g),
        "tau_syn": 0.002 + 0.01 * torch.rand(n, generator=g),
        "thr": 0.5 + torch.rand(n, generator=g),
    }
    if recurrent:
        p["w_rec"] = torch.randn(n, n, generator=g) * 0.3
    if adaptive:
        p["tau_adapt"] = 0.01 + 0.05 * torch.rand(n, generator=g)
        p["kappa"] = 0.1 + 0.4 * torch.rand(n, generator=g)
    return p


def constants(x, p, threshold=True):
    """The drive of every step and the :class:`LIFParams` of a population ``p`` (physical values)."""
    beta = decay(DT, p["tau_syn"])
    params = LIFParams(
        decay(DT, p["tau_mem"]), beta, p["thr"] if threshold else None,
        recurrent_matrix(p["w_rec"], beta, 1 - torch.eye(len(beta))) if "w_rec" in p else None,
        decay(DT, p["tau_adapt"]) if "tau_adapt" in p else None, p.get("kappa"),
    )
    return lif_drive(x @ p["w"].T, p["b"], beta), params


def run_steps(x, p, spike=None, threshold=True):
    """Drive + initial state + lif_step over time, as every caller in the package composes them."""
    drive, params = constants(x, p, threshold)
    state = initial_state(p["b"], x.shape[:1], "tau_adapt" in p)
    spikes, vs = [], []
    for d in drive.unbind(1):
        state = lif_step(d, state, params, spike)
        spikes.append(state.s if threshold else torch.zeros_like(state.v))
        vs.append(state.v)
    return torch.stack(spikes, 1), torch.stack(vs, 1)


KINDS = [{}, {"recurrent": True}, {"adaptive": True}, {"recurrent": True, "adaptive": True}]
IDS = ["ffwd", "rec", "adaptive", "rec-adaptive"]


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_the_step_follows_the_textbook_equations(kind):
    p = random_population(**kind)
    x = torch.randn(3, 50, 5, generator=torch.Generator().manual_seed(1)) * 2
    spikes, v = run_steps(x, p)
    ref_s, ref_v = reference(x, p["w"], p["b"], p["tau_mem"], p["tau_syn"], p["thr"], p.get("w_rec"),
                             p.get("tau_adapt"), p.get("kappa"))
    assert spikes.sum() > 30 and spikes.mean() < 0.5
    assert torch.equal(spikes.double(), ref_s)
    assert torch.allclose(v.double(), ref_v, rtol=1e-5, atol=1e-5)  # float32 against float64


def test_without_threshold_the_step_is_a_leaky_integrator():
    p = random_population()
    x = torch.randn(2, 40, 5, generator=torch.Generator().manual_seed(2))
    _, v = run_steps(x, p, threshold=False)
    _, ref_v = reference(x, p["w"], p["b"], p["tau_mem"], p["tau_syn"], p["thr"], threshold=False)
    assert torch.allclose(v.double(), ref_v, rtol=1e-5, atol=1e-5)  # float32 against float64


def test_the_step_broadcasts_over_a_chip_axis():
    """Per-chip constants ``(chips, 1, n)`` and recurrent matrices ``(chips, n, n)`` against states
    ``(chips, batch, n)`` give each chip's own run."""
    chips = [random_population(recurrent=True, adaptive=True, seed=s) for s in range(3)]
    x = torch.randn(4, 30, 5, generator=torch.Generator().manual_seed(3)) * 2
    stacked = {k: torch.stack([c[k] for c in chips]) for k in chips[0]}
    beta = decay(DT, stacked["tau_syn"])
    params = LIFParams(decay(DT, stacked["tau_mem"])[:, None], beta[:, None], stacked["thr"][:, None],
                       recurrent_matrix(stacked["w_rec"], beta, 1 - torch.eye(7)),
                       decay(DT, stacked["tau_adapt"])[:, None], stacked["kappa"][:, None])
    projection = torch.einsum("bti,cni->ctbn", x, stacked["w"])  # (chips, time, batch, n)
    drive = lif_drive(projection, stacked["b"][:, None, None], beta[:, None, None])
    state = initial_state(stacked["b"][:, None], (3, 4), adaptive=True)
    spikes = []
    for d in drive.unbind(1):
        state = lif_step(d, state, params)
        spikes.append(state.s)
    spikes = torch.stack(spikes, 2)  # (chips, batch, time, n)
    for c, p in enumerate(chips):
        assert torch.equal(spikes[c], run_steps(x, p)[0])
    assert spikes.sum() > 30


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_out_buffers_give_the_pure_steps_numbers_in_place(kind):
    p = random_population(**kind)
    x = torch.randn(3, 40, 5, generator=torch.Generator().manual_seed(4)) * 2
    pure_s, pure_v = run_steps(x, p)
    drive, params = constants(x, p)
    u, v, _, a = initial_state(p["b"], (3,), "tau_adapt" in p)
    state = initial_state(p["b"], (3,), "tau_adapt" in p)._replace(u=u.clone())
    spikes, theta = torch.empty(40, 3, 7), torch.empty(3, 7)
    vs = []
    for t, d in enumerate(drive.clone().unbind(1)):
        state = lif_step(d, state, params, None, StepBuffers(d, state.u, state.v, theta, spikes[t], state.a))
        assert state.s.data_ptr() == spikes[t].data_ptr()
        vs.append(state.v.clone())
    assert torch.equal(spikes.transpose(0, 1), pure_s)
    assert torch.equal(torch.stack(vs, 1), pure_v)


def autograd_reference(leaves, x, spike):
    """Spikes, membranes and ``U`` through ``lif_step`` op by op under autograd (a surrogate spike function)."""
    p = dict(leaves)
    drive, params = constants(x, p)
    state = initial_state(p["b"], x.shape[:1], "tau_adapt" in p)
    out = []
    for d in drive.unbind(1):
        state = lif_step(d, state, params, spike)
        out.append((state.s, state.v, state.u))
    return [torch.stack(trace, 1) for trace in zip(*out)]


def scan_outputs(leaves, x, surrogate, op):
    p = dict(leaves)
    drive, (alpha, beta, thr, w_rec, rho, kappa) = constants(x, p)
    args = (drive, p["b"], alpha, beta, thr, w_rec, rho, kappa)
    if op:
        return lif_scan_op(*args, surrogate.name, surrogate.effective_scale)[:3]
    return LIFScan.apply(*args, surrogate.shape, surrogate.effective_scale)[:3]


@pytest.mark.parametrize("op", [False, True], ids=["autograd-function", "custom-op"])
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan", "triangular"])
@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_hand_written_backward_equals_autograd_through_the_step(kind, surrogate, op):
    """Every gradient of the fused scan (input, weights, bias, time constants, thresholds, adaptation) equals
    autograd through ``lif_step`` on random inputs and random per-neuron parameters. In float64, so that the
    comparison is tight: the two differ only in summation order (in float32 a recurrent network's exploding
    gradients amplify that rounding past any useful tolerance)."""
    sur = Surrogate(surrogate)
    p = random_population(**kind, seed=5)
    g = torch.Generator().manual_seed(6)
    x = torch.randn(3, 40, 5, generator=g) * 2
    weights = [torch.randn(3, 40, 7, generator=g, dtype=torch.float64) for _ in range(3)]
    results = []
    for run in (lambda lv, xi: scan_outputs(lv, xi, sur, op), lambda lv, xi: autograd_reference(lv, xi, sur.function())):
        leaves = {k: v.double().requires_grad_(True) for k, v in p.items()}
        xi = x.double().requires_grad_(True)
        spikes, v, u = run(leaves, xi)
        # A loss reading every trace, so that every output's gradient path is exercised.
        loss = (spikes * weights[0]).sum() + 0.1 * (v * weights[1]).sum() + 0.05 * (u * weights[2]).pow(2).sum()
        loss.backward()
        results.append((spikes.detach(), v.detach(), xi.grad, {k: t.grad for k, t in leaves.items()}))
    (s1, v1, gx1, g1), (s2, v2, gx2, g2) = results
    assert s1.sum() > 30
    assert torch.equal(s1, s2)
    assert torch.allclose(v1, v2, rtol=1e-12, atol=1e-12)
    for name, a, b in [("x", gx1, gx2), *((k, g1[k], g2[k]) for k in p)]:
        assert b.abs().sum() > 0, name
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12 * b.abs().max().item()), name


def test_decay_is_the_exponential_of_minus_dt_over_tau():
    tau = torch.tensor([0.001, 0.02, 1.0])
    assert torch.allclose(decay(DT, tau), torch.tensor([math.exp(-1), math.exp(-0.05), math.exp(-0.001)]))


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_the_scan_under_vmap_gives_each_chips_traces(kind):
    """Under ``vmap`` the scan keeps its traces in lists instead of buffers: same spikes, membranes and ``U``."""
    sur = Surrogate()
    chips = [random_population(**kind, seed=s) for s in range(2)]
    stacked = {k: torch.stack([c[k] for c in chips]) for k in chips[0]}
    x = torch.randn(3, 30, 5, generator=torch.Generator().manual_seed(7)) * 2
    vmapped = torch.func.vmap(lambda p: torch.stack(scan_outputs(p, x, sur, False)))(stacked)
    for c, p in enumerate(chips):
        assert torch.equal(vmapped[c], torch.stack(scan_outputs(p, x, sur, False)))


@pytest.mark.parametrize("n_in, n, layout", [(6, 9, "batch-major"), (12, 5, "batch-major"), (6, 9, "time-major")])
def test_project_gives_the_product_and_its_gradients_time_major_where_that_is_cheap(n_in, n, layout):
    """``project`` folds time and batch, copying a batch-major input with no more channels than outputs to
    time-major first; whatever it picks, values and gradients are those of ``x @ W^T`` in float64."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 7, n_in, generator=g)
    if layout == "time-major":
        x = x.transpose(0, 1).contiguous().transpose(0, 1)
    x.requires_grad_(True)
    weight = torch.randn(n, n_in, generator=g, requires_grad=True)
    out = project(x, weight)
    expected = x.detach().double() @ weight.detach().double().t()
    assert out.shape == (4, 7, n) and torch.allclose(out.double(), expected, atol=1e-5)
    time_major = out.transpose(0, 1).is_contiguous()
    assert time_major == (layout == "time-major" or n_in <= n)
    upstream = torch.randn(4, 7, n, generator=g)
    out.backward(upstream)
    assert torch.allclose(x.grad.double(), upstream.double() @ weight.detach().double(), atol=1e-5)
    grad_w = upstream.double().reshape(-1, n).t() @ x.detach().double().reshape(-1, n_in)
    assert torch.allclose(weight.grad.double(), grad_w, atol=1e-4)
