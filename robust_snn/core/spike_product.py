"""Products of binary spike vectors with per-chip weight matrices, by table look-up instead of multiply-adds.

Why: in a chip ensemble the recurrent current ``S_{t-1} W_r`` is one ``(batch, n) x (n, n)`` product per chip
and step, the largest part of the arithmetic (``2 n^2`` FLOPs per sample), and ``S`` holds only 0s and 1s.
Split the ``n`` presynaptic neurons into ``G = ceil(n / 4)`` groups of four; for each chip and group, tabulate
the 16 possible sums of the group's weight rows once per chunk of chips::

    table[c, g, m, :] = sum_{j = 0..3, bit j of m set} W[c, j G + g, :]      (m = 0 .. 15)

Then for each sample ``S W = sum_g table[c, g, code_g, :]`` with ``code_g = sum_j 2^j S[j G + g]``: 16 row
additions of length ``n_out`` (one ``torch.nn.functional.embedding_bag`` over all chips and samples, FBGEMM's
look-up kernel) in place of 64 multiply-add rows. The groups are strided (group ``g`` = neurons ``g, G + g,
2G + g, 3G + g``) so that each code is four contiguous slices of the spike tensor added with weights 1, 2, 4, 8.
Measured on the 2-core CPU of ``benchmarks/bench_ensemble.py`` (16 chips x 256 samples x 64 neurons, one
thread, 10th percentile of 100 calls): codes 0.04 ms + look-up 0.11 ms against 0.33 ms for the dense batched
``baddbmm``. Larger groups (5, 6, 8 bits) made the look-up no faster (0.09-0.10 ms: the cost is per bag, not
per row added) and the codes and tables dearer, so four it is. Activity does not enter: a silent group looks up
its zero row like any other. Gathering only the spiking neurons' rows (variable-length bags) would add fewer
rows at that benchmark's 30% activity (about 19 against 16 look-ups for 64 neurons: no fewer), and finding
them costs a ``nonzero`` per step (that variant measured 6-9x slower than the dense product,
benchmarks/README.md).

Rounding: the table entries and the look-up add the same weights as the dense product, in another order, so a
result can differ from a BLAS product in the last bits (as two BLAS kernels for two matrix shapes can): a spike
flips only where a membrane lands within a few ulp of its threshold. ``tests/test_spike_product.py`` checks the
product against a float64 reference, ``tests/test_chip_batch.py`` spikes and accuracies against ``vmap`` and
the chip-by-chip loop.

Shapes: spikes ``(..., 4 G)`` with a chip axis anywhere but last (columns past ``n_in`` are padding, kept
at zero), weights ``(chips, n_in, n_out)`` (``S W``: row = presynaptic neuron), result ``(..., n_out)``.
"""

from __future__ import annotations

from typing import Callable

import torch

#: Presynaptic neurons per look-up group: 16 table rows per group.
GROUP_BITS = 4

#: Largest table :func:`spike_product` builds (bytes): a table holds ``4 n_in n_out`` floats per chip, four
#: times the weights, so for large layers and chunks :class:`DenseProduct` keeps memory to the weights'. The
#: look-up was faster at every size measured (up to 16 chips x 512 x 512, a 67 MB table: 4.4 against 6.1 ms).
MAX_TABLE_BYTES = 1 << 28


def padded_width(n_in: int) -> int:
    """Columns of a spike tensor that :class:`SpikeProduct` reads: ``n_in`` rounded up to whole groups."""
    return -(-n_in // GROUP_BITS) * GROUP_BITS


class SpikeProduct:
    """``S W`` for binary ``S`` ``(..., padded_width(n_in))`` and per-chip ``W`` ``(chips, n_in, n_out)``.

    Built once per chunk of chips (the tables: ``chips * G * 16 * n_out`` floats, 1 MB for 16 chips of a
    64 x 64 matrix); each call costs one pass to form the codes and one look-up per sample, chip and group.
    """

    def __init__(self, weight: torch.Tensor) -> None:
        chips, n_in, n_out = weight.shape
        width = padded_width(n_in)
        self.groups = groups = width // GROUP_BITS
        self.chips, self.n_in, self.n_out = chips, n_in, n_out
        rows = weight.new_zeros(chips, width, n_out)
        rows[:, :n_in] = weight
        combos = 1 << GROUP_BITS
        codes = torch.arange(combos, device=weight.device)
        bits = ((codes[:, None] >> torch.arange(GROUP_BITS, device=weight.device)) & 1).to(weight.dtype)
        # table[c, g, m] = sum_j bits[m, j] rows[c, j G + g]: (chips, groups, 16, n_out), flattened for look-up.
        table = torch.einsum("mj,cjgn->cgmn", bits, rows.view(chips, GROUP_BITS, groups, n_out))
        self.table = table.reshape(chips * groups * combos, n_out).contiguous()
        # Row of (chip c, group g, code 0) in the flattened table; exact in float32 below 2^24 rows.
        self.offsets = (torch.arange(chips, device=weight.device)[:, None] * (groups * combos)
                        + torch.arange(groups, device=weight.device) * combos).to(weight.dtype)
        self._codes: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
        self._starts: dict[int, torch.Tensor] = {}

    def _buffers(self, shape: tuple[int, ...], like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        buffers = self._codes.get(shape)
        if buffers is None:
            buffers = like.new_empty(shape), torch.empty(shape, dtype=torch.int32, device=like.device)
            self._codes[shape] = buffers
        return buffers

    def __call__(self, spikes: torch.Tensor, chip_dim: int = 0) -> torch.Tensor:
        """0/1 floats ``(..., 4 G)`` with the chip axis at ``chip_dim`` -> ``(..., n_out)``:
        ``spikes[..., :n_in] @ W[c]`` for each chip ``c``.

        The look-up visits samples in memory order; chip-major layouts (chip axis before the samples) keep one
        chip's table in cache at a time (measured: 0.09 against 0.11 ms sample-major at 16 chips, 0.33 against
        0.62 at 64).
        """
        g, dims = self.groups, spikes.dim()
        chip_dim %= dims
        if spikes.shape[-1] != g * GROUP_BITS or chip_dim == dims - 1 or spikes.shape[chip_dim] != self.chips:
            raise ValueError(f"expected spikes with {self.chips} chips on dim {chip_dim} and "
                             f"{g * GROUP_BITS} columns, got {tuple(spikes.shape)}")
        code_f, code_i = self._buffers((*spikes.shape[:-1], g), spikes)
        offsets = self.offsets.view(*(self.chips if d == chip_dim else 1 for d in range(dims - 1)), g)
        torch.add(offsets, spikes[..., :g], out=code_f)  # exact: small integers in float32
        for j in range(1, GROUP_BITS):
            code_f.add_(spikes[..., j * g:(j + 1) * g], alpha=1 << j)
        code_i.copy_(code_f)
        return _bag_sum(self.table, code_i, self._bag_offsets(code_i)).view(*spikes.shape[:-1], self.n_out)

    def _bag_offsets(self, code_i: torch.Tensor) -> torch.Tensor:
        """Start of each bag (``G`` codes per sample) in the flattened codes: ``0, G, 2G, ...``."""
        n = code_i.numel()
        offsets = self._starts.get(n)
        if offsets is None:
            offsets = self._starts[n] = torch.arange(0, n, self.groups, dtype=torch.int32, device=code_i.device)
        return offsets

    def bind(self, spikes: torch.Tensor, out: torch.Tensor) -> Callable[[], None]:
        """A call without arguments that adds ``S W`` to ``out`` for what ``spikes`` holds when it is called.

        ``spikes`` ``(chips, *samples, 4 G)`` (chip axis first), ``out`` ``(chips, *samples, n_out)``: fixed
        buffers of a hot loop. The views, code buffers and bag offsets are made here, once, so each call is
        six tensor operations (the codes: four adds and a conversion; the look-up) and an in-place add.
        """
        g = self.groups
        if spikes.shape[-1] != g * GROUP_BITS or spikes.shape[0] != self.chips:
            raise ValueError(f"expected spikes with {self.chips} chips on dim 0 and {g * GROUP_BITS} columns, "
                             f"got {tuple(spikes.shape)}")
        code_f, code_i = self._buffers((*spikes.shape[:-1], g), spikes)
        offsets = self.offsets.view(self.chips, *(1 for _ in spikes.shape[1:-1]), g)
        parts = [spikes[..., j * g:(j + 1) * g] for j in range(GROUP_BITS)]
        first, rest = parts[0], [(part, float(1 << j)) for j, part in enumerate(parts) if j > 0]
        flat, starts, table = code_i.view(-1), self._bag_offsets(code_i), self.table
        out_flat = out.view(-1, self.n_out)
        add = torch.add

        def add_product() -> None:
            add(offsets, first, out=code_f)  # exact: small integers in float32
            for part, weight in rest:
                code_f.add_(part, alpha=weight)
            code_i.copy_(code_f)
            out_flat.add_(_bag_sum(table, flat, starts))

        return add_product


def _bag_sum(table: torch.Tensor, codes: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """``out[i] = sum of table rows codes[starts[i]:starts[i + 1]]``: ``embedding_bag(mode="sum")`` called
    through the ATen op (``torch.nn.functional.embedding_bag``'s argument checks cost microseconds per call)."""
    return torch.embedding_bag(table, codes.view(-1), starts, False, 0, False, None, False, None)[0]


class DenseProduct:
    """The same product as :class:`SpikeProduct` by batched matrix multiplication (no table)."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight
        self.chips, self.n_in, self.n_out = weight.shape

    def __call__(self, spikes: torch.Tensor, chip_dim: int = 0) -> torch.Tensor:
        s = spikes[..., :self.n_in].movedim(chip_dim, 0)
        out = torch.bmm(s.reshape(self.chips, -1, self.n_in), self.weight)
        return out.view(*s.shape[:-1], self.n_out).movedim(0, chip_dim)

    def bind(self, spikes: torch.Tensor, out: torch.Tensor) -> Callable[[], None]:
        """As :meth:`SpikeProduct.bind`: adds ``S W`` to ``out`` (one in-place batched product per call)."""
        s = spikes[..., :self.n_in].view(self.chips, -1, self.n_in)  # a view: later writes to spikes show
        o, weight = out.view(self.chips, -1, self.n_out), self.weight

        def add_product() -> None:
            o.baddbmm_(s, weight)

        return add_product


def spike_product(weight: torch.Tensor) -> SpikeProduct | DenseProduct:
    """``S W`` for binary spikes and per-chip ``weight`` ``(chips, n_in, n_out)``: a :class:`SpikeProduct`
    unless its table would exceed :data:`MAX_TABLE_BYTES`."""
    chips, n_in, n_out = weight.shape
    table_bytes = chips * padded_width(n_in) * (1 << GROUP_BITS) // GROUP_BITS * n_out * weight.element_size()
    return SpikeProduct(weight) if table_bytes <= MAX_TABLE_BYTES else DenseProduct(weight)


__all__ = ["DenseProduct", "GROUP_BITS", "MAX_TABLE_BYTES", "SpikeProduct", "padded_width", "spike_product"]
