"""The LIF scan's forward loop and backward recursion, and the chip-batched step, as compiled CPU loops (C, ctypes).

Why: the fused scan (:mod:`robust_snn.core.lif_scan`) runs its time loop in Python, one handful of tensor ops
per step. At the sizes of a keyword-spotting layer (a batch of 128 x 64 neurons: 8k numbers per step) each op
costs a few microseconds of dispatch for well under a microsecond of arithmetic. Here each loop is one call
into C that carries every neuron through all steps, with the equations of
:func:`~robust_snn.core.lif_step.lif_step` and the adjoints of :mod:`robust_snn.core.lif_scan`'s docstring, as
the GPU kernels (:mod:`robust_snn.core.lif_scan_triton`) do on CUDA; and :class:`ChipStep` is one step of the
chip-batched ensemble (:mod:`robust_snn.core.chip_batch`) as one call. Measured with
``benchmarks/bench_core.py`` (16 -> 64 -> 10 LIF, T 100, batch 128, one thread, quiet, 2026-12-01): a training
step 5.9 ms against 11.4 with the Python loop. Both loops go step by step over all rows: the traces are
time-major, so each step reads and writes one contiguous block (row by row over all steps, with a 32 KB stride
between steps, the same step took 8.5 ms).

The forward loop can take the input projection ``P = W x`` instead of the drive and form each row's drive
itself, as :func:`~robust_snn.core.lif_step.lif_drive` does (``fmaf(P, beta, (1 - beta) bias)``: its
``addcmul``'s one rounding, so the same numbers); the backward loop then returns ``P``'s gradient ``beta gU``
and the per-row sums of ``gU`` and ``gU P`` that the bias and ``beta`` need. That saves a pass that writes the
drive and one that reads it, and in the backward pass autograd's product ``beta gU`` and its sums over all
rows: on this step, which moves 3.3 MB per pass over a 64-neuron trace and is bound by memory traffic on the
2-core AMD EPYC, 10.33 against 9.21 ms (medians of 200 interleaved steps, one thread, 2026-12-01 session 13,
together with the time-major projection of :func:`~robust_snn.core.lif_step.project`). Where the recurrent
weights need a gradient (``S_{t-1}^T gU``, which needs ``gU`` itself) the backward loop returns ``gU`` and
:mod:`robust_snn.core.lif_scan` forms the rest with tensor operations.

Scope: float32 CPU tensors outside ``torch.func`` transforms, adaptive or not, with or without recurrent
weights. The recurrent current ``S_{t-1} W`` is added event-driven (the weight rows of the neurons that
spiked, listed without branches, summed 16 columns at a time in registers), and its adjoint ``gd_{t+1} W^T``
as register-blocked multiply-adds in four partial sums; so with recurrent weights the traces equal the loop's
(a BLAS product per step) to float32 rounding rather than bit for bit. Measured 2026-12-01 (one thread, quiet),
inference of 16 -> n recurrent -> 8 over T 100: 0.62 against 1.87 ms (n 48, batch 64), 4.30 against 6.44 (64,
256), 7.95 against 13.26 (256, 64), 0.92 against 3.72 (128, 32); the demo network's training step (48
recurrent, batch 64) 3.2 against 4.9 ms. (A first C forward for recurrent layers, row by row with a branch per
spiking neuron and the backward left to the loop, had measured no faster, 2026-12-01 morning.)

How it is built: the C source below is compiled once per machine with the system C compiler (``$CC``, else
``cc``) into ``$ROBUST_SNN_CACHE`` or ``~/.cache/robust_snn/kernels``, keyed by a hash of the source, the flags
and the CPU's instruction-set flags (``-march=native``), written atomically; about a second. Same numbers as the
loop: every ``addcmul`` of ``lif_step`` is a fused multiply-add (``fmaf``: one rounding, as PyTorch's
``addcmul`` kernel rounds), ``-ffp-contract=off`` keeps every other multiply and add separately rounded, and
the forward pass computes each value with the same operations in the same order as ``lif_step``, so spikes and
traces equal the loop's bit for bit (``tests/test_lif_scan_cpu.py``); the backward pass sums the
parameter gradients in another order (agreement to float32 rounding). Without a compiler, or with
``ROBUST_SNN_CPU_KERNELS=0``, or :data:`robust_snn.core.lif_scan.use_cpu_kernels` set to False, the loop runs.
The chip-batched step and the recurrent loops are written on values of 16 floats held in the machine's own
vector registers (GCC/Clang vector extensions: one AVX-512 register, two AVX ones), with the fused
multiply-add of AVX-512 or FMA, else ``fmaf`` lane by lane (the same numbers either way); they are taken on
AVX-512 and AVX2+FMA builds only (:func:`wide_vectors`).
The GIL is released during each call (ctypes), so chip groups in threads overlap.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import torch

from .trace_layout import in_trace_layout, time_major_like

_SOURCE = r"""
#include <stdint.h>
#include <stddef.h>
#include <math.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

/* 16 floats as one value, in the machine's own vector registers: one AVX-512 register, or a pair of AVX (8) or
   four 128-bit (4) vectors. (A 16-float generic vector on a narrower machine is kept in memory by GCC, with
   shuffles through general registers on every operation: measured 3-7x slower.) All arithmetic on it goes
   through the helpers below; each works lane by lane, so every lane computes exactly what the scalar code
   does. */
#if defined(__AVX512F__)
#define PART 16
#elif defined(__AVX__)
#define PART 8
#else
#define PART 4
#endif
typedef float vpart __attribute__((vector_size(PART * 4)));
typedef int32_t ipart __attribute__((vector_size(PART * 4)));
typedef struct { vpart p[16 / PART]; } v16;

#ifndef ROW_SLICE
#define ROW_SLICE 64
#endif
/* Rows per call of step_block in the chip step: WIDE_ROWS for a block of 32 columns, NARROW_ROWS for one of 16.
   More rows give more independent chains of adds, but each row's running sums take registers: 2 R Q vectors
   of 16 floats, which on AVX-512 (32 registers of 16) fit at R Q = 8 and on AVX2 (16 registers of 8) spill.
   Measured (16 chips x 256 rows x 100 steps, input projection and look-up, one thread): AVX-512 (Intel, the
   development machine) 4 / 8 fastest; AVX2 (AMD EPYC) 1 / 2: 39-42 against 49-53 ms at 64 neurons, 78-82
   against 85-88 at 96, 166-228 against 220-400 at 128 (40 inputs), equal within noise at 256. */
#ifndef WIDE_ROWS
#define WIDE_ROWS (PART == 16 ? 4 : 1)
#endif
#ifndef NARROW_ROWS
#define NARROW_ROWS (PART == 16 ? 8 : 2)
#endif

#define EACH_PART for (int k_ = 0; k_ < 16 / PART; ++k_)

/* (Part by part: one copy of the whole struct is done by GCC through the stack in 16-byte pieces.) */
static inline __attribute__((always_inline)) v16 load16(const float *p)
{
    v16 x;
    EACH_PART memcpy(&x.p[k_], p + k_ * PART, sizeof x.p[k_]);
    return x;
}
static inline __attribute__((always_inline)) void store16(float *p, v16 x)
{
    EACH_PART memcpy(p + k_ * PART, &x.p[k_], sizeof x.p[k_]);
}
static inline __attribute__((always_inline)) v16 zero16(void)
{
    v16 r;
    EACH_PART r.p[k_] = (vpart){0.0f};
    return r;
}
static inline __attribute__((always_inline)) v16 splat16(float x)
{
    v16 r;
    EACH_PART r.p[k_] = x - (vpart){0.0f};  /* x - 0 = x exactly, -0 included */
    return r;
}
static inline __attribute__((always_inline)) v16 add16(v16 a, v16 b)
{
    EACH_PART a.p[k_] += b.p[k_];
    return a;
}
static inline __attribute__((always_inline)) v16 neg16(v16 a)
{
    EACH_PART a.p[k_] = -a.p[k_];
    return a;
}
/* 1.0 where v >= t, else 0.0 (the Heaviside step of the spike). */
static inline __attribute__((always_inline)) v16 step16(v16 v, v16 t)
{
    const vpart one = 1.0f - (vpart){0.0f};
    v16 r;
    EACH_PART r.p[k_] = (vpart)((ipart)(v.p[k_] >= t.p[k_]) & (ipart)one);
    return r;
}

/* a * b + c rounded once, 16 lanes (fmaf lane by lane where no vector instruction is known). */
static inline __attribute__((always_inline)) v16 fma16(v16 a, v16 b, v16 c)
{
    v16 r;
#if defined(__AVX512F__)
    r.p[0] = (vpart)_mm512_fmadd_ps((__m512)a.p[0], (__m512)b.p[0], (__m512)c.p[0]);
#elif defined(__FMA__)
    EACH_PART r.p[k_] = (vpart)_mm256_fmadd_ps((__m256)a.p[k_], (__m256)b.p[k_], (__m256)c.p[k_]);
#else
    EACH_PART for (int l = 0; l < PART; ++l) r.p[k_][l] = fmaf(a.p[k_][l], b.p[k_][l], c.p[k_][l]);
#endif
    return r;
}

/* PyTorch's addcmul(x, y, z) rounds once, as fmaf(y, z, x): the loop's lif_step is all addcmul.
   Inner loops run over the n neurons of one row with unit stride and no branches, so that they vectorise:
   absent incoming gradients are rows of zeros, and what a kind of layer lacks (adaptation, kept traces, incoming
   membrane and current gradients, parameter sums) is left out by a variant of the row compiled for it. */

/* One step of one row of n neurons, as an inline body that the variants below instantiate: ADAPT, an adaptive
   layer (else theta_t = threshold and no A is kept: what rho = kappa = 0 give exactly); KEEP, the traces are
   written (else only the state and the spikes). Measured against one general row writing unkept traces to a
   scratch row (as with the backward rows below): 64 neurons 1.37 -> 1.13 ms with traces, 0.96 -> 0.61 without. */
static inline __attribute__((always_inline)) void forward_body(
    const int ADAPT, const int KEEP, int64_t n, const float *restrict d, const float *restrict alpha,
    const float *restrict beta, const float *restrict threshold, const float *restrict rho,
    const float *restrict kappa, float *restrict us, float *restrict vs, float *restrict as,
    float *restrict s_row, float *restrict v_row, float *restrict u_row, float *restrict a_row)
{
    for (int64_t j = 0; j < n; ++j) {
        const float u = fmaf(us[j], beta[j], d[j]);                /* U_t = d_t + beta U_{t-1} */
        const float v = fmaf(vs[j], alpha[j], u);                  /* V_t = U_t + alpha V'_{t-1} */
        /* theta_t = threshold + kappa A_{t-1} */
        const float theta = ADAPT ? fmaf(as[j], kappa[j], threshold[j]) : threshold[j] + 0.0f;
        const float s = v >= theta ? 1.0f : 0.0f;                  /* S_t = H(V_t - theta_t) */
        const float v_reset = fmaf(-s, theta, v);                  /* V'_t = V_t - S_t theta_t */
        us[j] = u;
        vs[j] = v_reset;
        s_row[j] = s;
        if (KEEP) {
            v_row[j] = v_reset;
            u_row[j] = u;
        }
        if (ADAPT) {
            const float a = fmaf(as[j], rho[j], s);                /* A_t = S_t + rho A_{t-1} */
            as[j] = a;
            if (KEEP) a_row[j] = a;
        }
    }
}

typedef void (*forward_row_fn)(int64_t, const float *, const float *, const float *, const float *,
                               const float *, const float *, float *, float *, float *, float *, float *, float *,
                               float *);
/* Each variant separate and not inlined, so that its restrict pointers let it vectorise. */
#define FORWARD_ROW(ADAPT, KEEP)                                                                               \
static __attribute__((noinline)) void forward_row_##ADAPT##KEEP(                                               \
    int64_t n, const float *restrict d, const float *restrict alpha, const float *restrict beta,               \
    const float *restrict threshold, const float *restrict rho, const float *restrict kappa,                   \
    float *restrict us, float *restrict vs, float *restrict as, float *restrict s_row, float *restrict v_row,  \
    float *restrict u_row, float *restrict a_row)                                                              \
{                                                                                                              \
    forward_body(ADAPT, KEEP, n, d, alpha, beta, threshold, rho, kappa, us, vs, as, s_row, v_row, u_row,       \
                 a_row);                                                                                       \
}
FORWARD_ROW(0, 0) FORWARD_ROW(0, 1) FORWARD_ROW(1, 0) FORWARD_ROW(1, 1)
/* Indexed by 2 ADAPT + KEEP. */
static const forward_row_fn forward_rows[4] = {forward_row_00, forward_row_01, forward_row_10, forward_row_11};

/* Whether this build has the vector units the chip-batched step and the recurrent loops were measured to pay
   on: AVX-512, or AVX2 with FMA (-march=x86-64-v3 on the development machine: the chip step 131 against 181 ms
   for the PyTorch operations, a recurrent forward 0.45 against 0.44 ms native). Elsewhere (128-bit vectors:
   SSE, NEON; not measured) Python leaves them to PyTorch. */
int wide_vectors(void)
{
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    return 1;
#else
    return 0;
#endif
}

/* The recurrent current of one row, S W for binary S (n x n weights W, rows of the presynaptic neuron): the
   rows of the neurons that spiked (listed first, without branches), summed in neuron order from zero, 16
   columns at a time in registers, then added to the drive d, into x. active: n ints of scratch.
   Up to four blocks of 16 columns at once (recurrent_blocks): each block's sum is a chain of dependent adds,
   and four chains side by side keep the adder busy where one waits on each add's latency (each column still
   adds the same rows in the same order: the same numbers). Measured (forward, T 100, one thread, AMD EPYC,
   interleaved with the one-block code): 48 neurons x 64 rows 1.58 -> 1.14 ms, 64 x 256 7.2 -> 5.8, 100 x 64
   4.8 -> 4.4, 256 x 64 15.8 -> 15.1. */
static inline __attribute__((always_inline)) void recurrent_blocks(
    const int Q, int64_t n, int64_t count, const int *restrict active, const float *restrict w,
    const float *restrict d, float *restrict x, int64_t j0)
{
    v16 rec[4];
    _Pragma("GCC unroll 4") for (int q = 0; q < Q; ++q) rec[q] = zero16();
    for (int64_t k = 0; k < count; ++k) {
        const float *row = w + active[k] * n + j0;
        _Pragma("GCC unroll 4") for (int q = 0; q < Q; ++q) rec[q] = add16(rec[q], load16(row + 16 * q));
    }
    _Pragma("GCC unroll 4") for (int q = 0; q < Q; ++q)
        store16(x + j0 + 16 * q, add16(load16(d + j0 + 16 * q), rec[q]));
}
static __attribute__((noinline)) void recurrent_row(int64_t n, const float *restrict s, const float *restrict w,
                                                    const float *restrict d, int *restrict active,
                                                    float *restrict x)
{
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) {
        active[count] = (int)i;
        count += s[i] != 0.0f;
    }
    int64_t j0 = 0;
    for (; j0 + 64 <= n; j0 += 64) recurrent_blocks(4, n, count, active, w, d, x, j0);
    if (j0 + 32 <= n) {  /* two or three blocks left: two at once */
        recurrent_blocks(2, n, count, active, w, d, x, j0);
        j0 += 32;
    }
    if (j0 + 16 <= n) {
        recurrent_blocks(1, n, count, active, w, d, x, j0);
        j0 += 16;
    }
    if (j0 < n) {  /* the last n - j0 < 16 columns: rows outer, so that the columns' sums are independent */
        float rec[16] = {0.0f};
        for (int64_t k = 0; k < count; ++k) {
            const float *row = w + active[k] * n;
            for (int64_t j = j0; j < n; ++j) rec[j - j0] += row[j];
        }
        for (int64_t j = j0; j < n; ++j) x[j] = d[j] + rec[j - j0];
    }
}

/* Rows per call of a row function where a step's rows lie side by side (time-major traces, no recurrent
   weights) and the layer is narrow (n <= GROUP_FLOATS / 8): every update is element by element with per-neuron
   constants, so GROUP_FLOATS / n rows run as one row of that many neurons against constants repeated as often
   (tile). A call per row costs about as much as a 10-neuron row's arithmetic. Measured (batch 128, T 100, one
   thread, AMD EPYC, medians of 60 interleaved calls, 2026-12-01): 10 neurons forward 0.58 -> 0.33 ms, backward
   0.76 -> 0.31; at 64 neurons (4 rows a call) the forward was slower, 1.50 -> 1.72, the backward 1.69 -> 1.54,
   so wider layers keep a call per row. */
#ifndef GROUP_FLOATS
#define GROUP_FLOATS 256
#endif
int64_t row_group(int64_t n) { return 8 * n <= GROUP_FLOATS ? GROUP_FLOATS / n : 1; }
/* group copies of the n values c (or zeros) side by side into out; returns out. */
static float *tile(int64_t group, int64_t n, const float *c, float *out)
{
    for (int64_t g = 0; g < group; ++g)
        for (int64_t j = 0; j < n; ++j) out[g * n + j] = c ? c[j] : 0.0f;
    return out;
}
/* A row function's five per-neuron constants, each replaced by group copies side by side in tiles (5 group n
   floats). */
static void tile_constants(int64_t group, int64_t n, const float **alpha, const float **beta,
                           const float **threshold, const float **rho, const float **kappa, float *tiles)
{
    const float **constants[5] = {alpha, beta, threshold, rho, kappa};
    for (int k = 0; k < 5; ++k) *constants[k] = tile(group, n, *constants[k], tiles + k * group * n);
}

/* A row's drive from its input projection p, as lif_drive forms it: fmaf(p, beta, c), c = (1 - beta) bias. */
static __attribute__((noinline)) void form_drive(int64_t n, const float *restrict p, const float *restrict beta,
                                                 const float *restrict c, float *restrict d)
{
    for (int64_t j = 0; j < n; ++j) d[j] = fmaf(p[j], beta[j], c[j]);
}

/* Forward. drive rows at b * d_sb + t * d_st (unit neuron stride); traces time-major (o_sb, o_st). State before
   step 0: U = bias, V' = 0, A = 0. keep = 0: only spikes are written; u_out NULL: no U trace (beta's gradient,
   its only reader, not wanted). w_rec (n x n, or NULL): recurrent weights,
   the current S_{t-1} w_rec added to the drive from the second step on. drive_bias (n floats, or NULL): the
   rows given are the input projection P, and each row's drive is formed as lif_drive forms it,
   fmaf(P, beta, drive_bias) with drive_bias = (1 - beta) bias (one rounding, as its addcmul). Rows run
   row_group(n) at a time where they lie side by side (unit row stride, no recurrent weights), else one by one.
   scratch: 3 batch n + 10 row_group(n) n floats + n ints. */
void lif_forward(int64_t batch, int64_t steps, int64_t n, const float *drive, int64_t d_sb, int64_t d_st,
                 const float *bias, const float *alpha, const float *beta, const float *threshold,
                 const float *rho, const float *kappa, const float *w_rec,
                 float *spikes, float *vmem, float *u_out, float *a_out, int64_t o_sb, int64_t o_st, int keep,
                 const float *drive_bias, float *scratch)
{
    /* Step by step, every row in turn: the traces are time-major, so each step reads and writes one contiguous
       block (what the hardware prefetches well), and the rows' states (3 batch n floats) stay in the cache. */
    const int64_t group = !w_rec && d_sb == n && o_sb == n ? row_group(n) : 1, w = group * n;
    float *us = scratch, *vs = scratch + batch * n, *as = scratch + 2 * batch * n;
    float *tiles = scratch + 3 * batch * n;  /* 6 w tiled constants, the formed drive (w), unkept traces (3 w) */
    float *formed = tiles + 6 * w, *junk = tiles + 7 * w;
    int *active = (int *)(tiles + 10 * w);
    float *x = tiles;  /* (the recurrent current's row: only where rows run one by one and no tile is used) */
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t j = 0; j < n; ++j) {
            us[b * n + j] = bias[j];
            vs[b * n + j] = 0.0f;
            as[b * n + j] = 0.0f;
        }
    /* Adaptive where the adaptation trace is kept, or rho or kappa is not 0 (with rho = kappa = 0,
       theta_t = threshold and A never matters: exactly the plain step). */
    int adaptive = keep && a_out != NULL;
    for (int64_t j = 0; j < n; ++j) adaptive |= rho[j] != 0.0f || kappa[j] != 0.0f;
    const forward_row_fn row_fn = forward_rows[2 * adaptive + (keep != 0)];
    if (group > 1) {  /* the per-neuron constants repeated for group rows side by side */
        tile_constants(group, n, &alpha, &beta, &threshold, &rho, &kappa, tiles);
        if (drive_bias) drive_bias = tile(group, n, drive_bias, tiles + 5 * w);
    }
    for (int64_t t = 0; t < steps; ++t)
        for (int64_t b = 0; b < batch; b += group) {
            const int64_t m = (b + group <= batch ? group : batch - b) * n, at = b * o_sb + t * o_st;
            const float *d = drive + b * d_sb + t * d_st;
            if (drive_bias) {
                form_drive(m, d, beta, drive_bias, formed);
                d = formed;
            }
            if (w_rec && t > 0) {  /* S_0 = 0: no recurrent current at the first step */
                recurrent_row(n, spikes + at - o_st, w_rec, d, active, x);
                d = x;
            }
            row_fn(m, d, alpha, beta, threshold, rho, kappa, us + b * n, vs + b * n, as + b * n, spikes + at,
                   keep ? vmem + at : junk, keep && u_out ? u_out + at : junk + w, keep && a_out ? a_out + at : junk + 2 * w);
        }
}

/* The chip-batched step (lif_step_chips below), column block by column block: every neuron's update is its
   own, so a chip's rows can be run 16 neurons at a time. Then what a block reads for every row stays in the
   L1 cache: its slice of the recurrent look-up table (groups * 16 rows of 16 floats: 16 KB at 64 neurons,
   where the whole table, 64 KB, does not fit) and of the input weights; and several rows at a time give the
   look-up's sums and the projection's multiply-adds independent chains to overlap. */

/* Columns j0 .. j0 + 16 Q - 1 of R consecutive rows (R Q <= 8; WIDE_ROWS, NARROW_ROWS) of one chip, one step:
   - the drive x: the drive rows as given, or with PROJ beta P + (1 - beta) bias (lif_drive's addcmul) for the
     projection P = x W of rows of data (n_in floats), summed over the channels in order, one rounding per term
     (as a blocked matrix product sums a short inner dimension);
   - LOOK: plus the recurrent current, the table rows of the row's codes summed in group order from zero (as
     embedding_bag's sum), then added;
   - the LIF update (forward_body's operations; without ADAPT theta = threshold and no A is kept: what
     rho = kappa = 0 give exactly), the spikes, and with COUNT the spike counts.
   Rows: drive/data at d + r * d_rs, states at r * n, spikes at r * s_stride, counts at r * c_stride, codes at
   r * groups. */
static inline __attribute__((always_inline)) void step_block(
    const int R, const int Q, const int PROJ, const int LOOK, const int ADAPT, const int COUNT, int64_t j0,
    int64_t n, int64_t n_in, int64_t groups, const float *restrict d, int64_t d_rs, const float *restrict w,
    const float *restrict drive_bias, const int *restrict codes, const float *restrict blocked,
    const float *restrict alpha, const float *restrict beta, const float *restrict threshold,
    const float *restrict rho, const float *restrict kappa, float *restrict u, float *restrict v,
    float *restrict a, float *restrict spikes, int64_t s_stride, float *restrict counts, int64_t c_stride)
{
    /* Vector i = r * Q + q: row r, columns j0 + 16 q .. j0 + 16 q + 15. */
    v16 x[8];
    if (PROJ) {
        _Pragma("GCC unroll 8") for (int i = 0; i < R * Q; ++i) x[i] = zero16();
        for (int64_t k = 0; k < n_in; ++k) {
            v16 wk[2];
            _Pragma("GCC unroll 2") for (int q = 0; q < Q; ++q) wk[q] = load16(w + k * n + j0 + 16 * q);
            _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {
                const v16 xk = splat16(d[r * d_rs + k]);
                _Pragma("GCC unroll 2") for (int q = 0; q < Q; ++q) x[r * Q + q] = fma16(xk, wk[q], x[r * Q + q]);
            }
        }
    } else {
        _Pragma("GCC unroll 8") for (int i = 0; i < R * Q; ++i) x[i] = load16(d + (i / Q) * d_rs + j0 + 16 * (i % Q));
    }
    if (PROJ)
        _Pragma("GCC unroll 8") for (int i = 0; i < R * Q; ++i)
            x[i] = fma16(x[i], load16(beta + j0 + 16 * (i % Q)), load16(drive_bias + j0 + 16 * (i % Q)));
    if (LOOK) {
        v16 acc[8];
        _Pragma("GCC unroll 8") for (int i = 0; i < R * Q; ++i) acc[i] = zero16();
        for (int64_t g = 0; g < groups; ++g)
            _Pragma("GCC unroll 8") for (int r = 0; r < R; ++r) {
                const int64_t row = 16 * codes[r * groups + g];  /* one code, Q blocks' rows */
                _Pragma("GCC unroll 2") for (int q = 0; q < Q; ++q)
                    acc[r * Q + q] = add16(acc[r * Q + q], load16(blocked + q * groups * 256 + row));
            }
        _Pragma("GCC unroll 8") for (int i = 0; i < R * Q; ++i) x[i] = add16(x[i], acc[i]);
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < R * Q; ++i) {
        const int64_t r = i / Q, j = j0 + 16 * (i % Q);
        float *ur = u + r * n + j, *vr = v + r * n + j;
        const v16 ut = fma16(load16(ur), load16(beta + j), x[i]);  /* U_t = d_t + beta U_{t-1} */
        const v16 vt = fma16(load16(vr), load16(alpha + j), ut);   /* V_t = U_t + alpha V'_{t-1} */
        const v16 ap = ADAPT ? load16(a + r * n + j) : zero16();
        const v16 th = load16(threshold + j);
        const v16 theta = ADAPT ? fma16(ap, load16(kappa + j), th) : th;  /* theta_t = threshold + kappa A */
        const v16 s = step16(vt, theta);                           /* S_t = H(V_t - theta_t) */
        store16(ur, ut);
        store16(vr, fma16(neg16(s), theta, vt));                   /* V'_t = V_t - S_t theta_t */
        if (ADAPT) store16(a + r * n + j, fma16(ap, load16(rho + j), s));  /* A_t = S_t + rho A_{t-1} */
        store16(spikes + r * s_stride + j, s);
        if (COUNT) store16(counts + r * c_stride + j, add16(load16(counts + r * c_stride + j), s));
    }
}

/* The same as step_block for one row and the columns j0 .. n - 1 (fewer than 16), one at a time. */
static inline __attribute__((always_inline)) void step_tail(
    const int PROJ, const int LOOK, const int ADAPT, const int COUNT, int64_t j0, int64_t n, int64_t n_in,
    int64_t groups, const float *restrict d, const float *restrict w, const float *restrict drive_bias,
    const int *restrict codes, const float *restrict table, const float *restrict alpha,
    const float *restrict beta, const float *restrict threshold, const float *restrict rho,
    const float *restrict kappa, float *restrict u, float *restrict v, float *restrict a, float *restrict s_row,
    float *restrict c_row)
{
    for (int64_t j = j0; j < n; ++j) {
        float x;
        if (PROJ) {
            x = 0.0f;
            for (int64_t k = 0; k < n_in; ++k) x = fmaf(d[k], w[k * n + j], x);
        } else {
            x = d[j];
        }
        if (PROJ) x = fmaf(x, beta[j], drive_bias[j]);
        if (LOOK) {
            float acc = 0.0f;
            for (int64_t g = 0; g < groups; ++g) acc += table[codes[g] * n + j];
            x += acc;
        }
        const float ut = fmaf(u[j], beta[j], x);
        const float vt = fmaf(v[j], alpha[j], ut);
        const float theta = ADAPT ? fmaf(a[j], kappa[j], threshold[j]) : threshold[j];
        const float s = vt >= theta ? 1.0f : 0.0f;
        u[j] = ut;
        v[j] = fmaf(-s, theta, vt);
        if (ADAPT) a[j] = fmaf(a[j], rho[j], s);
        s_row[j] = s;
        if (COUNT) c_row[j] += s;
    }
}

/* step_block for R rows from row b and Q column blocks from column j0 of CHIP_STEP's chip (its locals). */
#define STEP_ROWS(R, Q, PROJ, LOOK, ADAPT, COUNT)                                                              \
    step_block(R, Q, PROJ, LOOK, ADAPT, COUNT, j0, n, n_in, groups, d + b * d_rs, d_rs, w, drive_bias,        \
               codes + b * groups, slice, alpha, beta, threshold, rho, kappa, u + b * n, v + b * n,           \
               ADAPT ? a + b * n : a, spikes + b * s_stride, s_stride, COUNT ? counts + b * c_stride : counts, \
               c_stride)

/* All rows of one chip, one step (arguments as lif_step_chips, offset to the chip; codes: batch * groups ints of
   scratch). */
#define CHIP_STEP(NAME, PROJ, LOOK, ADAPT, COUNT)                                                                \
static __attribute__((noinline)) void NAME(                                                                    \
    int64_t batch, int64_t n, int64_t n_in, int64_t groups, const float *restrict d, int64_t d_rs,             \
    const float *restrict w, const float *restrict drive_bias, const float *restrict prev, int64_t p_stride,   \
    const float *restrict table, const float *restrict blocked, int *restrict codes,                           \
    const float *restrict alpha, const float *restrict beta, const float *restrict threshold,                  \
    const float *restrict rho, const float *restrict kappa,                                                    \
    float *restrict u, float *restrict v, float *restrict a, float *restrict spikes, int64_t s_stride,         \
    float *restrict counts, int64_t c_stride)                                                                  \
{                                                                                                              \
    if (LOOK)  /* table row g * 16 + code, code = s[g] + 2 s[G + g] + 4 s[2G + g] + 8 s[3G + g] */              \
        for (int64_t b = 0; b < batch; ++b) {                                                                  \
            const float *p = prev + b * p_stride;                                                              \
            for (int64_t g = 0; g < groups; ++g)                                                               \
                codes[b * groups + g] = (int)(g * 16 + (int)p[g] + 2 * (int)p[groups + g]                      \
                                              + 4 * (int)p[2 * groups + g] + 8 * (int)p[3 * groups + g]);      \
        }                                                                                                      \
    /* Rows in slices of ROW_SLICE, each slice through every column block: a block's table slice then stays  \
       in the L1 cache beside the slice's states. */                                                           \
    int64_t j0 = 0;                                                                                            \
    for (int64_t b0 = 0; b0 < batch; b0 += ROW_SLICE) {                                                        \
        const int64_t b1 = b0 + ROW_SLICE < batch ? b0 + ROW_SLICE : batch;                                    \
        for (j0 = 0; j0 + 16 <= n; j0 += 32 <= n - j0 ? 32 : 16) {                                             \
            const float *slice = blocked + j0 * groups * 16;                                                   \
            int64_t b = b0;                                                                                    \
            if (j0 + 32 <= n) {                                                                                \
                for (; b + WIDE_ROWS <= b1; b += WIDE_ROWS) STEP_ROWS(WIDE_ROWS, 2, PROJ, LOOK, ADAPT, COUNT);                         \
                for (; b < b1; ++b) STEP_ROWS(1, 2, PROJ, LOOK, ADAPT, COUNT);                                 \
                continue;                                                                                      \
            }                                                                                                  \
            for (; b + NARROW_ROWS <= b1; b += NARROW_ROWS) STEP_ROWS(NARROW_ROWS, 1, PROJ, LOOK, ADAPT, COUNT);                             \
            for (; b < b1; ++b) STEP_ROWS(1, 1, PROJ, LOOK, ADAPT, COUNT);                                     \
        }                                                                                                      \
    }                                                                                                          \
    if (j0 < n)                                                                                                \
        for (int64_t b = 0; b < batch; ++b)                                                                    \
            step_tail(PROJ, LOOK, ADAPT, COUNT, j0, n, n_in, groups, d + b * d_rs, w, drive_bias,              \
                      codes + b * groups, table, alpha, beta, threshold, rho, kappa, u + b * n, v + b * n,     \
                      ADAPT ? a + b * n : a, spikes + b * s_stride, COUNT ? counts + b * c_stride : counts);   \
}

typedef void (*chip_step_fn)(int64_t, int64_t, int64_t, int64_t, const float *, int64_t, const float *,
                             const float *, const float *, int64_t, const float *, const float *, int *, const float *,
                             const float *, const float *, const float *, const float *, float *, float *,
                             float *, float *, int64_t, float *, int64_t);
#define CHIP_STEPS(PROJ, LOOK)                                                                                 \
    CHIP_STEP(chip_step_##PROJ##LOOK##00, PROJ, LOOK, 0, 0) CHIP_STEP(chip_step_##PROJ##LOOK##10, PROJ, LOOK, 1, 0) \
    CHIP_STEP(chip_step_##PROJ##LOOK##01, PROJ, LOOK, 0, 1) CHIP_STEP(chip_step_##PROJ##LOOK##11, PROJ, LOOK, 1, 1)
CHIP_STEPS(0, 0) CHIP_STEPS(0, 1) CHIP_STEPS(1, 0) CHIP_STEPS(1, 1)
#define CHIP_STEP_NAMES(PROJ, LOOK)                                                                            \
    chip_step_##PROJ##LOOK##00, chip_step_##PROJ##LOOK##10, chip_step_##PROJ##LOOK##01, chip_step_##PROJ##LOOK##11
/* Indexed by 8 PROJ + 4 LOOK + ADAPT + 2 COUNT. */
static const chip_step_fn chip_steps[16] = {CHIP_STEP_NAMES(0, 0), CHIP_STEP_NAMES(0, 1), CHIP_STEP_NAMES(1, 0),
                                            CHIP_STEP_NAMES(1, 1)};

/* One step of a chip-batched layer (robust_snn.core.chip_batch): rows r = c * batch + b of chip c, states
   (chips, batch, n) updated in place (a: only where adaptive), per-chip constants (chips, n), the drive's rows
   at c * d_cs + b * d_rs. Where weight is NULL, the rows are the drive (n floats); where weight (chips, n_in, n)
   is given, they are rows of data (n_in floats, usually d_cs = 0: the same data for every chip) that the step
   projects itself, and the drive is beta P + drive_bias for the projection P, with drive_bias = (1 - beta) bias
   (chips, n) (lif_drive's addcmul). The drive buffer is only read. Spikes into rows of
   s_stride floats; counts (rows of c_stride) += spikes where counts is not NULL; where prev is not NULL, the
   recurrent current from the previous step's spikes (rows of p_stride) and the look-up table (chips * groups *
   16 rows of n) is added to the drive; blocked: its columns in whole blocks of 16, each block's rows together
   (chips, n / 16, groups * 16, 16), so that a block's slice is one contiguous piece of the cache. scratch:
   batch * groups ints. */
void lif_step_chips(int64_t chips, int64_t batch, int64_t n, const float *drive, int64_t d_cs, int64_t d_rs,
                    int64_t n_in, const float *weight, const float *drive_bias, float *u, float *v, float *a,
                    const float *alpha, const float *beta, const float *threshold, const float *rho,
                    const float *kappa, float *spikes, int64_t s_stride, float *counts, int64_t c_stride,
                    const float *prev, int64_t p_stride, const float *table, const float *blocked, int64_t groups,
                    int *scratch, int adaptive)
{
    const int64_t whole = n / 16 * 16;  /* columns in whole blocks of 16 */
    const chip_step_fn step = chip_steps[8 * (weight != NULL) + 4 * (prev != NULL) + (adaptive != 0)
                                         + 2 * (counts != NULL)];
    for (int64_t c = 0; c < chips; ++c) {
        const int64_t k = c * n, r = c * batch;
        step(batch, n, n_in, groups, drive + c * d_cs, d_rs, weight ? weight + c * n_in * n : NULL,
             drive_bias ? drive_bias + k : NULL, prev ? prev + r * p_stride : NULL, p_stride,
             prev ? table + c * groups * 16 * n : NULL, prev ? blocked + c * groups * 16 * whole : NULL, scratch, alpha + k, beta + k, threshold + k, rho + k,
             kappa + k, u + r * n, v + r * n, a ? a + r * n : NULL, spikes + r * s_stride, s_stride,
             counts ? counts + r * c_stride : NULL, c_stride);
    }
}

/* One backward step of one row of n neurons, as an inline body that the variants below instantiate for each
   combination of
   - ADAPT: an adaptive layer (A, rho, kappa and their adjoints); else theta_t = threshold and gA_t = 0;
   - FORM: the surrogate derivative H'(V_t - theta_t) formed here (fast_sigmoid, 1 / (1 + k |x|)^2) with the
     float32 operations of robust_snn.core.lif_scan and .surrogates in their order: V_t = V'_t + S_t theta_t
     (addcmul: one rounding), x = V_t - theta_t, then abs, * k, + 1, square, reciprocal; else read from sur;
   - GVU: incoming gradients on V and U; else they are zero;
   - SUMS: the per-row sums for the gradients of alpha, beta, the threshold, rho and kappa (else none is needed:
     a layer whose time constants and thresholds are not trained, and the sums stay at their zero).
   An absent part is added as the zero it is (x + 0.0f, which the compiler keeps: it turns -0 into +0), so each
   variant computes what the general row computes, bit for bit, without its loads and stores. Measured against the
   one general row (batch 128, T 100, one thread, AMD EPYC AVX2, medians of 20 interleaved calls): 64 neurons
   3.39 -> 1.76 ms, 10 neurons 0.68 -> 0.47, 64 adaptive 3.50 -> 3.28. */
static inline __attribute__((always_inline)) void backward_body(
    const int ADAPT, const int FORM, const int GVU, const int SUMS, int64_t n, float k,
    const float *restrict gs_in, const float *restrict gv_in, const float *restrict gu_in,
    const float *restrict sur, const float *restrict v_t, const float *restrict s_t,
    const float *restrict v_prev, const float *restrict u_prev, const float *restrict a_prev,
    const float *restrict alpha, const float *restrict beta, const float *restrict threshold,
    const float *restrict rho, const float *restrict kappa,
    float *restrict gvn, float *restrict gun, float *restrict gan, float *restrict gthn, float *restrict gd,
    float *restrict s_alpha, float *restrict s_beta, float *restrict s_theta, float *restrict s_rho,
    float *restrict s_kappa)
{
    for (int64_t j = 0; j < n; ++j) {
        const float gvp = alpha[j] * gvn[j] + (GVU ? gv_in[j] : 0.0f);  /* gV'_t = gVout_t + alpha gV_{t+1} */
        const float theta = threshold[j] + (ADAPT ? kappa[j] * a_prev[j] : 0.0f);  /* theta_t */
        float h;                                                   /* H'(V_t - theta_t) */
        if (FORM) {
            float g = fabsf(fmaf(s_t[j], theta, v_t[j]) - theta) * k;
            g = g + 1.0f;
            g = g * g;
            h = 1.0f / g;
        } else {
            h = sur[j];
        }
        const float ga = ADAPT ? fmaf(kappa[j], gthn[j], rho[j] * gan[j]) : 0.0f;  /* gA_t = rho gA_{t+1} + kappa gTheta_{t+1} */
        const float gs = fmaf(-gvp, theta, gs_in[j] + ga);        /* gS_t = gSout_t + gA_t - gV'_t theta_t */
        const float gv = fmaf(gs, h, gvp);                         /* gV_t = gV'_t + gS_t H'(V_t - theta_t) */
        const float gu = fmaf(beta[j], gun[j], gv) + (GVU ? gu_in[j] : 0.0f);  /* gU_t = gUout_t + gV_t + beta gU_{t+1} */
        const float gtheta = -(gvp * s_t[j] + gs * h);             /* gTheta_t */
        gd[j] = gu;
        gvn[j] = gv;
        gun[j] = gu;
        if (SUMS) {
            s_alpha[j] += gv * v_prev[j];
            s_beta[j] += gu * u_prev[j];
            s_theta[j] += gtheta;
        }
        if (ADAPT) {  /* (without adaptation these sums stay at their zero: ga A_{t-1} = gTheta_t A_{t-1} = 0) */
            if (SUMS) {
                s_rho[j] += ga * a_prev[j];
                s_kappa[j] += gtheta * a_prev[j];
            }
            gan[j] = ga;
            gthn[j] = gtheta;
        }
    }
}

typedef void (*backward_row_fn)(int64_t, float, const float *, const float *, const float *, const float *,
                                const float *, const float *, const float *, const float *, const float *,
                                const float *, const float *, const float *, const float *, const float *,
                                float *, float *, float *, float *, float *, float *, float *, float *, float *,
                                float *);
/* Each variant separate and not inlined (as the forward rows), so that its restrict pointers let it vectorise. */
#define BACKWARD_ROW(ADAPT, FORM, GVU, SUMS)                                                                   \
static __attribute__((noinline)) void backward_row_##ADAPT##FORM##GVU##SUMS(                                   \
    int64_t n, float k, const float *restrict gs_in, const float *restrict gv_in, const float *restrict gu_in, \
    const float *restrict sur, const float *restrict v_t, const float *restrict s_t,                           \
    const float *restrict v_prev, const float *restrict u_prev, const float *restrict a_prev,                  \
    const float *restrict alpha, const float *restrict beta, const float *restrict threshold,                  \
    const float *restrict rho, const float *restrict kappa, float *restrict gvn, float *restrict gun,          \
    float *restrict gan, float *restrict gthn, float *restrict gd, float *restrict s_alpha,                    \
    float *restrict s_beta, float *restrict s_theta, float *restrict s_rho, float *restrict s_kappa)           \
{                                                                                                              \
    backward_body(ADAPT, FORM, GVU, SUMS, n, k, gs_in, gv_in, gu_in, sur, v_t, s_t, v_prev, u_prev, a_prev, alpha,   \
                  beta, threshold, rho, kappa, gvn, gun, gan, gthn, gd, s_alpha, s_beta, s_theta, s_rho,       \
                  s_kappa);                                                                                    \
}
#define BACKWARD_ROWS(ADAPT, FORM)                                                                             \
    BACKWARD_ROW(ADAPT, FORM, 0, 0) BACKWARD_ROW(ADAPT, FORM, 0, 1) BACKWARD_ROW(ADAPT, FORM, 1, 0)              \
    BACKWARD_ROW(ADAPT, FORM, 1, 1)
BACKWARD_ROWS(0, 0) BACKWARD_ROWS(0, 1) BACKWARD_ROWS(1, 0) BACKWARD_ROWS(1, 1)
#define BACKWARD_ROW_NAMES(ADAPT, FORM)                                                                        \
    backward_row_##ADAPT##FORM##00, backward_row_##ADAPT##FORM##01, backward_row_##ADAPT##FORM##10,              \
    backward_row_##ADAPT##FORM##11
/* Indexed by 8 ADAPT + 4 FORM + 2 GVU + SUMS. */
static const backward_row_fn backward_rows[16] = {BACKWARD_ROW_NAMES(0, 0), BACKWARD_ROW_NAMES(0, 1),
                                                  BACKWARD_ROW_NAMES(1, 0), BACKWARD_ROW_NAMES(1, 1)};

/* gs_in + gd W^T for one row, into out (the gradient reaching a row's spikes through the next step's recurrent
   current): with w_t = W^T (n x n), the sum over j of gd[j] w_t[j, :], 16 columns at a time in registers, in
   four partial sums (j mod 4, each from zero, one rounding per term, then added pairwise: four independent
   chains of multiply-adds instead of one), then added to gs_in. */
static __attribute__((noinline)) void recurrent_grad_row(int64_t n, const float *restrict gd,
                                                         const float *restrict w_t, const float *restrict gs_in,
                                                         float *restrict out)
{
    int64_t i0 = 0;
    for (; i0 + 16 <= n; i0 += 16) {
        v16 acc[4] = {zero16(), zero16(), zero16(), zero16()};
        int64_t j = 0;
        for (; j + 4 <= n; j += 4)
            for (int q = 0; q < 4; ++q) acc[q] = fma16(splat16(gd[j + q]), load16(w_t + (j + q) * n + i0), acc[q]);
        for (; j < n; ++j) acc[0] = fma16(splat16(gd[j]), load16(w_t + j * n + i0), acc[0]);
        store16(out + i0, add16(load16(gs_in + i0), add16(add16(acc[0], acc[1]), add16(acc[2], acc[3]))));
    }
    for (int64_t i = i0; i < n; ++i) {
        float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        int64_t j = 0;
        for (; j + 4 <= n; j += 4)
            for (int q = 0; q < 4; ++q) acc[q] = fmaf(gd[j + q], w_t[(j + q) * n + i], acc[q]);
        for (; j < n; ++j) acc[0] = fmaf(gd[j], w_t[j * n + i], acc[0]);
        out[i] = gs_in[i] + ((acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
}

/* A row's gradient of its input projection P where the forward pass formed the drive d = fmaf(P, beta, c)
   (lif_forward's drive_bias): dLoss/dP = gU beta (one rounding, as autograd's product through lif_drive's
   addcmul), into gd in place; and the running sums over time of gU (the bias's share through c) and, given p,
   of gU P (beta's). */
static __attribute__((noinline)) void projection_grad_row(int64_t n, const float *restrict beta,
                                                          const float *restrict p, float *restrict gd,
                                                          float *restrict s_gu, float *restrict s_gup)
{
    if (p)
        for (int64_t j = 0; j < n; ++j) s_gup[j] = fmaf(gd[j], p[j], s_gup[j]);
    for (int64_t j = 0; j < n; ++j) {
        s_gu[j] += gd[j];
        gd[j] = gd[j] * beta[j];
    }
}

/* Backward: the adjoint recursion, backwards in time. g_s/g_v/g_u: incoming gradients, rows at b * sb + t * st
   (unit neuron stride; a stride may be 0, a broadcast), or NULL; a_tr NULL when not adaptive. Writes gU
   (= dLoss/d drive) into g_drive (time-major) and the per-row sums
   over time of gV_t V'_{t-1}, gU_t U_{t-1}, gTheta_t, gA_t A_{t-1}, gTheta_t A_{t-1} into sums (5, batch, n)
   (with_sums = 0: left at zero; u_tr NULL: the forward pass kept no U trace, and beta's sum is not wanted).
   w_rec_t: the transposed recurrent weights (n x n), or NULL. surrogate: H'(V_t - theta_t) for every step, or
   NULL: formed row by row as fast_sigmoid with slope surrogate_scale (backward_body). proj_sums (2, batch, n),
   or NULL: the forward pass formed the drive from the input projection P (lif_forward's drive_bias), and
   g_drive receives dLoss/dP = gU beta instead, with the per-row sums over time of gU (for the bias) and, given
   P (proj, rows at b * p_sb + t * p_st; else left at zero), of gU P (for beta) in proj_sums (projection_grad_row).
   Rows run row_group(n) at a time where they lie side by side (unit row strides, no recurrent weights), else
   one by one. scratch: 4 batch n + n + 8 row_group(n) n floats. */
void lif_backward(int64_t batch, int64_t steps, int64_t n, const float *g_s, int64_t gs_sb, int64_t gs_st,
                  const float *g_v, int64_t gv_sb, int64_t gv_st, const float *g_u, int64_t gu_sb, int64_t gu_st,
                  const float *surrogate, const float *spikes, const float *vmem, const float *u_tr,
                  const float *a_tr, int64_t o_sb, int64_t o_st,
                  const float *bias, const float *alpha, const float *beta, const float *threshold,
                  const float *rho, const float *kappa, const float *w_rec_t, float surrogate_scale,
                  float *g_drive, float *sums, int with_sums, const float *proj, int64_t p_sb, int64_t p_st,
                  float *proj_sums, float *scratch)
{
    /* Step by step backwards, every row in turn, as the forward pass: each step's traces are one contiguous
       block; the rows' adjoint states (4 batch n floats) and sums stay in the cache. Each row's sums still add
       its steps in the order T - 1 .. 0. */
    const int64_t plane = batch * n;
    const int side_by_side = !w_rec_t && o_sb == n && (!g_s || gs_sb == n) && (!g_v || gv_sb == n)
                             && (!g_u || gu_sb == n) && (!proj || p_sb == n);
    const int64_t group = side_by_side ? row_group(n) : 1, w = group * n;
    float *gvn = scratch, *gun = scratch + plane, *gan = scratch + 2 * plane, *gthn = scratch + 3 * plane;
    float *gs_rec = scratch + 4 * plane, *tiles = gs_rec + n;  /* 6 w tiled constants, w zeros */
    const float *zeros = tile(group, n, NULL, tiles + 6 * w);
    for (int64_t i = 0; i < 4 * plane; ++i) scratch[i] = 0.0f;
    for (int64_t i = 0; i < 5 * plane; ++i) sums[i] = 0.0f;
    if (proj_sums) for (int64_t i = 0; i < 2 * plane; ++i) proj_sums[i] = 0.0f;
    const backward_row_fn row_fn = backward_rows[8 * (a_tr != NULL) + 4 * (surrogate == NULL)
                                                 + 2 * (g_v != NULL || g_u != NULL) + (with_sums != 0)];
    if (group > 1) {  /* the per-neuron constants repeated for group rows side by side */
        tile_constants(group, n, &alpha, &beta, &threshold, &rho, &kappa, tiles);
        bias = tile(group, n, bias, tiles + 5 * w);
    }
    for (int64_t t = steps - 1; t >= 0; --t)
        for (int64_t b = 0; b < batch; b += group) {
            const int64_t m = (b + group <= batch ? group : batch - b) * n, row = b * n, at = b * o_sb + t * o_st;
            const float *gs_in = g_s ? g_s + b * gs_sb + t * gs_st : zeros;
            if (w_rec_t && t < steps - 1) {  /* gS_t also reaches the next step's drive: + gd_{t+1} W^T */
                /* (gd_{t+1} = gU_{t+1}, which the row's adjoint state gun still holds; g_drive may hold gU beta) */
                recurrent_grad_row(n, gun + row, w_rec_t, gs_in, gs_rec);
                gs_in = gs_rec;
            }
            row_fn(m, surrogate_scale, gs_in, g_v ? g_v + b * gv_sb + t * gv_st : zeros,
                   g_u ? g_u + b * gu_sb + t * gu_st : zeros, surrogate ? surrogate + at : zeros,
                   vmem + at, spikes + at,
                   t > 0 ? vmem + at - o_st : zeros,           /* V'_{t-1}, V'_{-1} = 0 */
                   t == 0 ? bias : u_tr ? u_tr + at - o_st : zeros,  /* U_{t-1}, U_{-1} = bias */
                   t > 0 && a_tr ? a_tr + at - o_st : zeros,   /* A_{t-1}, A_{-1} = 0 */
                   alpha, beta, threshold, rho, kappa, gvn + row, gun + row, gan + row, gthn + row,
                   g_drive + at, sums + row, sums + plane + row, sums + 2 * plane + row,
                   sums + 3 * plane + row, sums + 4 * plane + row);
            if (proj_sums)
                projection_grad_row(m, beta, proj ? proj + b * p_sb + t * p_st : NULL, g_drive + at,
                                    proj_sums + row, proj_sums + plane + row);
        }
}
"""

#: The compiler flags (part of the cache key). ``-ffp-contract=off``: no fused multiply-adds but the explicit
#: ``fmaf`` calls, so each value is rounded as PyTorch's kernels round it (the forward pass equals the loop bit
#: for bit).
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-shared", "-fPIC", "-std=gnu99")

_lock = threading.Lock()
_library: list[ctypes.CDLL | None] = []  # [] until first use, then [the library] or [None] (unavailable)


def _cpu_flags() -> str:
    """The CPU's instruction-set flags (``-march=native`` code must not run on another CPU sharing the cache)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_dir() -> Path:
    root = os.environ.get("ROBUST_SNN_CACHE")
    return Path(root) / "kernels" if root else Path.home() / ".cache" / "robust_snn" / "kernels"


def _build() -> ctypes.CDLL | None:
    """Compile (or find compiled) and load the library; ``None``, with one warning, if that is impossible."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        warnings.warn("robust_snn: no C compiler (cc) found, so the CPU LIF scan runs its per-step Python loop "
                      "(about 3x slower training); install gcc, or set ROBUST_SNN_CPU_KERNELS=0 to silence this",
                      RuntimeWarning, stacklevel=4)
        return None
    key = hashlib.sha256("\n".join((_SOURCE, " ".join(FLAGS), compiler, _cpu_flags())).encode()).hexdigest()[:16]
    target = _cache_dir() / f"lif_scan_{key}.so"
    if not target.exists():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                source = Path(tmp) / "lif_scan.c"
                source.write_text(_SOURCE)
                built = Path(tmp) / "lif_scan.so"
                subprocess.run([compiler, *FLAGS, str(source), "-o", str(built), "-lm"], check=True,
                               capture_output=True, text=True, timeout=120)
                os.replace(built, target)  # atomic: a concurrent process sees the whole library or none
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", None) or str(exc)
            warnings.warn(f"robust_snn: compiling the CPU LIF scan with {compiler} failed ({detail.strip()[:300]}); "
                          "the per-step Python loop runs instead (set ROBUST_SNN_CPU_KERNELS=0 to silence this)",
                          RuntimeWarning, stacklevel=4)
            return None
    lib = ctypes.CDLL(str(target))
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    lib.lif_forward.argtypes = [i64] * 3 + [ptr] + [i64] * 2 + [ptr] * 11 + [i64] * 2 + [ctypes.c_int, ptr, ptr]
    lib.lif_backward.argtypes = ([i64] * 3 + [ptr, i64, i64] * 3 + [ptr] * 5 + [i64] * 2 + [ptr] * 7
                                 + [ctypes.c_float] + [ptr] * 2 + [ctypes.c_int] + [ptr, i64, i64] + [ptr] * 2)
    lib.lif_step_chips.argtypes = ([i64] * 3 + [ptr, i64, i64, i64, ptr, ptr] + [ptr] * 3 + [ptr] * 5
                                   + [ptr, i64, ptr, i64, ptr, i64, ptr, ptr, i64, ptr, ctypes.c_int])
    lib.lif_forward.restype = lib.lif_backward.restype = lib.lif_step_chips.restype = None
    lib.wide_vectors.argtypes, lib.wide_vectors.restype = [], ctypes.c_int
    lib.row_group.argtypes, lib.row_group.restype = [i64], i64
    return lib


def library() -> ctypes.CDLL | None:
    """The compiled loops (built on first use), or ``None`` where they are unavailable or switched off."""
    if os.environ.get("ROBUST_SNN_CPU_KERNELS", "1") == "0":
        return None
    if not _library:
        with _lock:
            if not _library:
                _library.append(_build())
    return _library[0]


def wide_vectors() -> bool:
    """Whether the library is built for AVX-512 or AVX2 with FMA, where the chip-batched step
    (:class:`ChipStep`) and the loops of recurrent layers were measured to pay: elsewhere they are left to
    PyTorch (see ``wide_vectors`` in the C source)."""
    lib = library()
    return lib is not None and bool(lib.wide_vectors())


def applies(drive: torch.Tensor, w_rec: torch.Tensor | None, rho: torch.Tensor | None,
            *per_neuron: torch.Tensor | None) -> bool:
    """Whether a scan call takes the compiled loops: a float32 CPU ``(batch, time, n)`` drive outside
    ``torch.func`` transforms, per-neuron constants of ``n`` float32 values, recurrent weights only on a
    :func:`wide_vectors` build, and the library available."""
    if drive.device.type != "cpu" or drive.dtype != torch.float32 or drive.dim() != 3:
        return False
    if torch._C._functorch.is_functorch_wrapped_tensor(drive):
        return False
    n = drive.shape[2]
    if w_rec is not None and not (w_rec.shape == (n, n) and w_rec.dtype == torch.float32
                                  and w_rec.device.type == "cpu"
                                  and not torch._C._functorch.is_functorch_wrapped_tensor(w_rec)
                                  and wide_vectors()):
        return False
    if not all(p is not None and p.numel() == n and p.dtype == torch.float32 and p.device.type == "cpu"
               and not torch._C._functorch.is_functorch_wrapped_tensor(p) for p in per_neuron):
        return False
    return library() is not None


class ChipStep:
    """One step of a chip-batched LIF layer as one C call, bound to its buffers once (the hot loop of
    :mod:`robust_snn.core.chip_batch`): what :func:`~robust_snn.core.lif_step.lif_step` computes there with
    ``out=`` buffers, bit for bit, and, given a recurrent :class:`~robust_snn.core.spike_product.SpikeProduct`'s
    table, its look-up of the recurrent current (the same codes and rows, summed in the same order), and, given
    the layer's input weights, its input projection. Each chip's rows run 16 or 32 neurons at a time, so that
    the slices of the table and the weights they read stay in the L1 cache, and the only memory written is the
    state, the spikes and the spike counts.

    ``u``, ``v``, ``a``: the states ``(chips, batch, n)`` (``a`` None without adaptation), updated in place;
    ``alpha`` ... ``kappa``: ``(chips, 1, n)`` constants (``rho``, ``kappa`` None without adaptation);
    ``table``, ``groups``: the recurrent look-up table ``(chips * groups * 16, n)`` and its group count, or None;
    ``weight`` ``(chips, n, n_in)`` and ``drive_bias`` ``(1 - beta) bias`` ``(chips, 1, n)``: the call takes rows
    of data ``(batch, n_in)``, projects them itself (summed over the channels in order with one rounding per
    term: equal to a matrix product up to rounding) and forms the drive as
    :func:`~robust_snn.core.lif_step.lif_drive` does; else (both None) it takes the drive. Projecting in the
    step saves writing the projection and reading it back: measured against a batched matrix product plus the
    step, 1.5-1.8x faster for 64-256 neurons and 16-700 input channels (16 chips x 256 rows, one thread).
    """

    def __init__(self, u: torch.Tensor, v: torch.Tensor, a: torch.Tensor | None, alpha: torch.Tensor,
                 beta: torch.Tensor, threshold: torch.Tensor, rho: torch.Tensor | None,
                 kappa: torch.Tensor | None, table: torch.Tensor | None = None, groups: int = 0,
                 drive_bias: torch.Tensor | None = None, weight: torch.Tensor | None = None) -> None:
        self.chips, self.batch, self.n = u.shape
        assert (weight is None) == (drive_bias is None)
        assert weight is None or weight.shape[:2] == (self.chips, self.n)
        self.n_in = 0 if weight is None else weight.shape[2]
        self._weight = None if weight is None else weight.transpose(1, 2).contiguous()  # (chips, n_in, n)
        self._adaptive = a is not None
        self._a = a if a is not None else u.new_empty(0)  # not read or written without adaptation
        self._constants = [torch.zeros_like(alpha).contiguous() if p is None else p.contiguous()
                           for p in (alpha, beta, threshold, rho, kappa)]
        self._scratch = torch.empty(self.batch * max(groups, 1), dtype=torch.int32)  # the look-up's codes
        self._table = table
        self.groups = groups
        whole = self.n // 16 * 16  # the table's columns in whole blocks of 16, each block's rows together
        self._blocked = None if table is None else (
            table.view(self.chips, groups * 16, self.n)[..., :whole]
            .reshape(self.chips, groups * 16, whole // 16, 16).transpose(1, 2).contiguous())
        self._drive_bias = None if drive_bias is None else drive_bias.contiguous()
        self._call = library().lif_step_chips
        self._head = (self.chips, self.batch, self.n)
        self._states = (u.data_ptr(), v.data_ptr(), self._a.data_ptr())
        self._tail = (*(p.data_ptr() for p in self._constants),)
        self._kept = (u, v)  # the buffers the pointers point into stay alive

    @staticmethod
    def fits(u: torch.Tensor, v: torch.Tensor, a: torch.Tensor | None, *constants: torch.Tensor | None) -> bool:
        """Whether the C step can run on these tensors: contiguous float32 CPU states, constants of one value
        per chip and neuron, the library available and built for wide vectors (:func:`wide_vectors`)."""
        tensors = [t for t in (u, v, a) if t is not None]
        if not all(t.device.type == "cpu" and t.dtype == torch.float32 and t.is_contiguous() and t.dim() == 3
                   for t in tensors):
            return False
        chips, _, n = u.shape
        if not all(c is None or (c.dtype == torch.float32 and c.numel() == chips * n) for c in constants):
            return False
        return wide_vectors()

    def bind(self, drive: torch.Tensor, spikes: torch.Tensor, counts: torch.Tensor | None,
             previous: torch.Tensor | None = None) -> tuple[object, tuple]:
        """The call and its arguments for one step: ``drive`` ``(chips, batch, n)`` with rows of unit stride
        (its chip stride may be any), or with ``weight``, the step's data ``(batch, n_in)`` contiguous; ``spikes`` a ``(chips, batch, n)`` view of rows (a padded buffer),
        ``counts`` the same shape or None, ``previous`` the previous step's padded spikes ``(chips, batch,
        4 groups)`` for the recurrent look-up, or None (no recurrent current this step)."""
        for rows in (spikes, counts, previous):
            assert rows is None or (rows.stride(-1) == 1 and rows.stride(0) == self.batch * rows.stride(1))
        assert previous is None or self._table is not None
        if self._weight is not None:
            assert drive.shape == (self.batch, self.n_in) and drive.is_contiguous()
            rows = (0, self.n_in)  # the same data for every chip
        else:
            assert drive.stride(2) == 1 and drive.stride(1) == self.n
            rows = (drive.stride(0), self.n)
        drive_bias = None if self._drive_bias is None else self._drive_bias.data_ptr()
        weight = None if self._weight is None else self._weight.data_ptr()
        args = (*self._head, drive.data_ptr(), *rows, self.n_in, weight, drive_bias, *self._states, *self._tail,
                spikes.data_ptr(), spikes.stride(1),
                None if counts is None else counts.data_ptr(), 0 if counts is None else counts.stride(1),
                None if previous is None else previous.data_ptr(), 0 if previous is None else previous.stride(1),
                None if previous is None else self._table.data_ptr(),
                None if previous is None else self._blocked.data_ptr(), self.groups, self._scratch.data_ptr(),
                int(self._adaptive))
        return self._call, args


def _vectors(drive: torch.Tensor, *params: torch.Tensor | None) -> list[torch.Tensor]:
    """Each per-neuron constant as ``n`` contiguous floats; an absent one (``rho``, ``kappa`` of a layer without
    adaptation) as zeros, which make the C loops compute the plain step exactly."""
    n = drive.shape[2]
    return [drive.new_zeros(n) if p is None else p.detach().reshape(-1).contiguous() for p in params]


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def forward(drive: torch.Tensor, bias: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
            threshold: torch.Tensor, w_rec: torch.Tensor | None, rho: torch.Tensor | None,
            kappa: torch.Tensor | None, keep_traces: bool, projected: bool = False,
            keep_u: bool = True) -> tuple[torch.Tensor | None, ...]:
    """Spikes, membrane after reset, ``U`` and the adaptation trace, as :func:`robust_snn.core.lif_scan._run`
    returns them (time-major; membrane, ``U`` and adaptation ``None`` unless ``keep_traces``, adaptation
    ``None`` when not adaptive). ``projected``: ``drive`` is the input projection ``P``, and each row's drive is
    formed from it as :func:`~robust_snn.core.lif_step.lif_drive` forms it (the same numbers, without writing
    the drive out and reading it back). ``keep_u=False`` (with ``keep_traces``): no ``U`` trace (``None``), one
    write pass less, where nothing will read it (beta's gradient is its only reader in the backward pass)."""
    batch, steps, n = drive.shape
    drive = drive.detach()
    if drive.stride(2) != 1:
        drive = drive.contiguous()
    spikes = time_major_like(drive)
    vmem = time_major_like(drive) if keep_traces else None
    u = time_major_like(drive) if keep_traces and keep_u else None
    adapt = time_major_like(drive) if keep_traces and rho is not None else None
    params = _vectors(drive, bias, alpha, beta, threshold, rho, kappa)
    w = None if w_rec is None else w_rec.detach().contiguous()
    drive_bias = ((1 - beta) * bias).detach().reshape(-1).contiguous() if projected else None
    scratch = drive.new_empty(3 * batch * n + 10 * library().row_group(n) * n + n)
    library().lif_forward(batch, steps, n, drive.data_ptr(), drive.stride(0), drive.stride(1),
                          *(p.data_ptr() for p in params), _ptr(w), spikes.data_ptr(), _ptr(vmem), _ptr(u), _ptr(adapt),
                          *spikes.stride()[:2], int(keep_traces), _ptr(drive_bias), scratch.data_ptr())
    return spikes, vmem, u, adapt


#: Surrogate derivatives (:mod:`robust_snn.core.surrogates` names) that :func:`backward` forms itself, row by
#: row from the membrane trace, instead of reading a precomputed trace (passes over all steps saved); the same
#: float32 operations in the same order, so the same numbers.
SURROGATES_FORMED = frozenset({"fast_sigmoid"})


def backward(g_spikes: torch.Tensor | None, g_vmem: torch.Tensor | None, g_u: torch.Tensor | None,
             surrogate: torch.Tensor | float, spikes: torch.Tensor, vmem: torch.Tensor, u: torch.Tensor,
             adapt: torch.Tensor | None, bias: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
             threshold: torch.Tensor, w_rec: torch.Tensor | None, rho: torch.Tensor | None,
             kappa: torch.Tensor | None, sums: bool = True, projected: bool = False,
             proj: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``dLoss/d drive`` ``(batch, time, n)`` and the ``(5, batch, n)`` per-row parameter-gradient sums, as
    :func:`robust_snn.core.lif_scan_triton.backward` returns them, and ``None``. ``projected`` (the forward pass
    formed the drive from the projection ``P``, :func:`forward`): ``dLoss/dP = beta dLoss/d drive`` instead, and
    the ``(2, batch, n)`` per-row sums over time of ``dLoss/d drive`` (for the bias) and, given ``proj`` (``P``),
    of ``P dLoss/d drive`` (for ``beta``; else zeros) in place of ``None``. ``surrogate``: ``H'(V_t - theta_t)`` for
    every step, or a number: the slope of ``fast_sigmoid``, which the loop then forms itself
    (:data:`SURROGATES_FORMED`). ``sums=False``: no time constant, threshold or adaptation parameter needs a
    gradient, and the sums are left at zero (measured, batch 128, T 100, one thread, AMD EPYC, medians of 25
    interleaved calls: 64 neurons 2.52 -> 2.46 ms, 10 neurons 1.08 -> 0.89, 64 adaptive 3.86 -> 2.52)."""
    batch, steps, n = spikes.shape
    formed = not isinstance(surrogate, torch.Tensor)
    # Every trace in the spikes' layout (a copy only where one differs): the C loops index them by one offset.
    # Incoming gradients are read where they are, in rows of unit neuron stride (else copied).
    traces = [None if t is None or t.numel() == 0 else in_trace_layout(t.detach().float(), spikes)
              for t in (None if formed else surrogate, spikes, vmem, u)]  # (u empty: not kept, beta not trained)
    a_tr = in_trace_layout(adapt.detach().float(), spikes) if rho is not None else None
    grads = [None if g is None else g.detach().float() for g in (g_spikes, g_vmem, g_u)]
    # A narrow layer without recurrent weights runs a step's rows in groups (the C source's row_group), which
    # needs them side by side: its incoming gradients are brought into the traces' layout (a small copy; e.g. a
    # mean over time gives one broadcast over the steps, a loss on batch-major logits a batch-major one).
    grouped = w_rec is None and library().row_group(n) > 1
    grads = [g if g is None or (g.stride(2) == 1 and not grouped) else in_trace_layout(g, spikes) for g in grads]
    incoming = [x for g in grads for x in ((None, 0, 0) if g is None else (g.data_ptr(), *g.stride()[:2]))]
    g_drive = time_major_like(spikes)
    row_sums = spikes.new_empty(5, batch, n)
    params = _vectors(spikes, bias, alpha, beta, threshold, rho, kappa)
    w_t = None if w_rec is None else w_rec.detach().t().contiguous()
    proj_sums = spikes.new_empty(2, batch, n) if projected else None
    p = None if proj is None else proj.detach()
    p = p if p is None or p.stride(2) == 1 else p.contiguous()
    scratch = spikes.new_empty(4 * batch * n + n + 8 * library().row_group(n) * n)
    library().lif_backward(batch, steps, n, *incoming, *(_ptr(t) for t in traces), _ptr(a_tr),
                           *spikes.stride()[:2], *(p_.data_ptr() for p_ in params), _ptr(w_t),
                           float(surrogate) if formed else 0.0, g_drive.data_ptr(), row_sums.data_ptr(), int(sums),
                           _ptr(p), *(p.stride()[:2] if p is not None else (0, 0)), _ptr(proj_sums),
                           scratch.data_ptr())
    return g_drive, row_sums, proj_sums


__all__ = ["ChipStep", "applies", "backward", "forward", "library", "wide_vectors"]
