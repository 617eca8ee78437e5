"""The look-up product of binary spikes with per-chip weights equals the matrix product, computed independently
in float64 with einsum; padding, chip-axis placement and thread count do not change it."""

import pytest
import torch

import robust_snn.core.spike_product as spike_product_module
from robust_snn.core.spike_product import GROUP_BITS, DenseProduct, SpikeProduct, padded_width, spike_product


def spikes_and_weights(chips, n_in, n_out, lead=(5,), p=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(chips, n_in, n_out, generator=g)
    spikes = torch.zeros(chips, *lead, padded_width(n_in))
    spikes[..., :n_in] = (torch.rand(chips, *lead, n_in, generator=g) < p).float()
    return spikes, weight


def reference(spikes, weight, n_in):
    """``S W`` per chip in float64: the chip axis leading, any number of sample axes."""
    return torch.einsum("c...i,cio->c...o", spikes[..., :n_in].double(), weight.double())


@pytest.mark.parametrize("n_in", [1, 4, 6, 13, 64])  # whole groups and padded ones
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])  # silent, sparse, every neuron firing
def test_the_product_equals_the_matrix_product(n_in, p):
    spikes, weight = spikes_and_weights(chips=3, n_in=n_in, n_out=7, p=p)
    out = SpikeProduct(weight)(spikes)
    assert out.shape == (3, 5, 7) and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), reference(spikes, weight, n_in), rtol=1e-6, atol=1e-5)
    if p == 0.0:
        assert torch.equal(out, torch.zeros_like(out))  # no spike, no current, exactly


def test_each_chip_uses_its_own_weights():
    spikes, weight = spikes_and_weights(chips=4, n_in=8, n_out=3)
    out = SpikeProduct(weight)(spikes)
    for c in range(4):
        torch.testing.assert_close(out[c], spikes[c, :, :8] @ weight[c], rtol=1e-6, atol=1e-6)


def test_the_chip_axis_may_sit_after_leading_sample_axes():
    spikes, weight = spikes_and_weights(chips=3, n_in=10, n_out=4, lead=(2, 6))  # (chips, steps, batch, width)
    product = SpikeProduct(weight)
    time_major = spikes.transpose(0, 1).contiguous()  # (steps, chips, batch, width)
    out = product(time_major, chip_dim=1)
    assert out.shape == (2, 3, 6, 4)
    assert torch.equal(out.transpose(0, 1), product(spikes))


def test_a_single_spike_selects_one_weight_row_exactly():
    # One presynaptic spike: the product is that neuron's weight row, with no rounding at all.
    _, weight = spikes_and_weights(chips=2, n_in=9, n_out=5)
    product = SpikeProduct(weight)
    for j in range(9):
        spikes = torch.zeros(2, 1, padded_width(9))
        spikes[:, 0, j] = 1.0
        assert torch.equal(product(spikes)[:, 0], weight[:, j])


def test_the_result_does_not_depend_on_the_thread_count():
    spikes, weight = spikes_and_weights(chips=8, n_in=64, n_out=64, lead=(64,))
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(SpikeProduct(weight)(spikes))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(results[0], results[1])


def test_wrong_shapes_are_named():
    spikes, weight = spikes_and_weights(chips=3, n_in=6, n_out=2)
    product = SpikeProduct(weight)
    assert padded_width(6) == 2 * GROUP_BITS
    with pytest.raises(ValueError, match="3 chips on dim 0 and 8 columns"):
        product(spikes[..., :6])  # unpadded
    with pytest.raises(ValueError, match="3 chips"):
        product(spikes[:2])


def test_the_dense_fallback_computes_the_same_product_and_serves_large_tables(monkeypatch):
    spikes, weight = spikes_and_weights(chips=3, n_in=13, n_out=7, lead=(2, 5))
    out = DenseProduct(weight)(spikes.transpose(0, 1), chip_dim=1)  # (steps, chips, batch, width)
    assert out.shape == (2, 3, 5, 7)
    torch.testing.assert_close(out.transpose(0, 1).double(), reference(spikes, weight, 13), rtol=1e-6, atol=1e-5)
    assert isinstance(spike_product(weight), SpikeProduct)  # 3 x 16 x 16 x 7 floats: small
    monkeypatch.setattr(spike_product_module, "MAX_TABLE_BYTES", 3 * 4 * 16 * 7 * 4 - 1)
    assert isinstance(spike_product(weight), DenseProduct)


@pytest.mark.parametrize("kind", [SpikeProduct, DenseProduct])
def test_a_bound_product_adds_what_its_spike_buffer_holds_when_called(kind):
    # bind() fixes the buffers of a hot loop; each call reads the spikes written since and adds S W to `out`.
    spikes, weight = spikes_and_weights(chips=3, n_in=10, n_out=4, lead=(6,))
    buffer, out = torch.zeros_like(spikes), torch.ones(3, 6, 4)
    add = kind(weight).bind(buffer, out)
    buffer.copy_(spikes)
    add()
    torch.testing.assert_close(out.double(), 1 + reference(spikes, weight, 10), rtol=1e-6, atol=1e-5)
    buffer.zero_()
    add()  # no spike: nothing more added
    torch.testing.assert_close(out.double(), 1 + reference(spikes, weight, 10), rtol=1e-6, atol=1e-5)
