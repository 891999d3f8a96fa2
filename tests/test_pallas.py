"""Pallas kernels: a ``pallas_call`` is priced as its kernel body once per grid point.

Every expected count is a closed form over the shapes (a tiled matmul is
``M x K x N`` MACs however it is tiled; attention is ``2 x B x H x Sq x Sk x D``).
The kernels are only traced (``interpret=True`` matters only when lowering).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import pytest
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import tpu as pltpu

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
M, K, N = 128, 256, 128
BM = BN = 64
MATMUL_MACS = M * K * N  # 4,194,304


def _matmul_kernel(x_ref, w_ref, o_ref):
    o_ref[...] = jnp.dot(x_ref[...], w_ref[...], preferred_element_type=F32)


def binary_matmul(w, x, kernel=_matmul_kernel):
    """sign(x) @ sign(w) as a Pallas kernel (``kernel``, by default one dot per block):
    64x64 output blocks, the whole K in one block."""
    return pl.pallas_call(
        kernel, grid=(M // BM, N // BN),
        in_specs=[pl.BlockSpec((BM, K), lambda i, j: (i, 0)), pl.BlockSpec((K, BN), lambda i, j: (0, j))],
        out_specs=pl.BlockSpec((BM, BN), lambda i, j: (i, j)),
        out_shape=S((M, N), F32), interpret=True)(jnp.sign(x), jnp.sign(w))


W = S((K, N), F32)
X = S((M, K), F32)


def test_binarized_matmul_kernel_is_its_matmul():
    rep = acecost.analyze(binary_matmul, W, X)
    assert rep.totals.complete, rep.unsupported
    assert (rep.totals.macs, rep.totals.ace, rep.totals.binary_macs) == (MATMUL_MACS,) * 3
    (rec,) = rep.layers
    assert rec.multiplier == (M // BM) * (N // BN) == 4
    assert rec.macs == BM * K * BN * 4
    assert (rec.bits_a, rec.bits_w) == (1, 1)
    assert rep.totals.size_bits == K * N  # the weight is read through its blocks: 1 bit each
    # the same matmul outside a kernel
    plain = acecost.analyze(lambda w, x: jnp.sign(x) @ jnp.sign(w), W, X)
    assert (plain.totals.macs, plain.totals.ace) == (rep.totals.macs, rep.totals.ace)
    assert rep.loops[-1]["kind"] == "pallas_call" and rep.loops[-1]["trips"] == 4


BK = 64


def _k_grid_kernel(x_ref, w_ref, o_ref, acc_ref):
    """The classic tiled matmul: K is the last grid axis, an f32 scratch accumulates."""
    @pl.when(pl.program_id(2) == 0)
    def _():
        acc_ref[...] = jnp.zeros_like(acc_ref)

    acc_ref[...] += jnp.dot(x_ref[...], w_ref[...], preferred_element_type=F32)

    @pl.when(pl.program_id(2) == pl.num_programs(2) - 1)
    def _():
        o_ref[...] = acc_ref[...].astype(o_ref.dtype)


def k_grid_matmul(w, x):
    spec = pltpu.PrefetchScalarGridSpec(
        num_scalar_prefetch=0, grid=(M // BM, N // BN, K // BK),
        in_specs=[pl.BlockSpec((BM, BK), lambda i, j, k: (i, k)),
                  pl.BlockSpec((BK, BN), lambda i, j, k: (k, j))],
        out_specs=pl.BlockSpec((BM, BN), lambda i, j, k: (i, j)),
        scratch_shapes=[pltpu.VMEM((BM, BN), F32)])
    return pl.pallas_call(_k_grid_kernel, grid_spec=spec, out_shape=S((M, N), F32),
                          interpret=True)(jnp.sign(x), jnp.sign(w))


def _k_loop_kernel(x_ref, w_ref, o_ref, acc_ref):
    """K in one block, walked by a ``fori_loop`` over 64-wide slices into a scratch accumulator."""
    acc_ref[...] = jnp.zeros_like(acc_ref)

    def step(k, carry):
        start = pl.multiple_of(k * BK, BK)
        acc_ref[...] += jnp.dot(x_ref[:, pl.ds(start, BK)], w_ref[pl.ds(start, BK), :],
                                preferred_element_type=F32)
        return carry

    lax.fori_loop(0, K // BK, step, 0)
    o_ref[...] = acc_ref[...]


def with_scratch(kernel, scratch, x, w):
    """``kernel`` on 64x64 output blocks, the whole K in one block, with one f32 VMEM
    scratch of shape ``scratch``."""
    spec = pltpu.PrefetchScalarGridSpec(
        num_scalar_prefetch=0, grid=(M // BM, N // BN),
        in_specs=[pl.BlockSpec((BM, K), lambda i, j: (i, 0)), pl.BlockSpec((K, BN), lambda i, j: (0, j))],
        out_specs=pl.BlockSpec((BM, BN), lambda i, j: (i, j)),
        scratch_shapes=[pltpu.VMEM(scratch, F32)])
    return pl.pallas_call(kernel, grid_spec=spec, out_shape=S((M, N), F32), interpret=True)(x, w)


def k_loop_matmul(w, x):
    return with_scratch(_k_loop_kernel, (BM, BN), jnp.sign(x), jnp.sign(w))


def _k_while_kernel(x_ref, w_ref, o_ref):
    """The same loop as a ``while`` whose bound is a traced value, accumulating into the output."""
    o_ref[...] = jnp.zeros_like(o_ref)

    def body(k):
        start = pl.multiple_of(k * BK, BK)
        o_ref[...] += jnp.dot(x_ref[:, pl.ds(start, BK)], w_ref[pl.ds(start, BK), :],
                              preferred_element_type=F32)
        return k + 1

    lax.while_loop(lambda k: k < jnp.int32(K // BK), body, jnp.int32(0))


def k_while_matmul(w, x):
    return binary_matmul(w, x, _k_while_kernel)


@pytest.mark.parametrize("fn, points, trips", [(k_grid_matmul, 4 * (K // BK), 1),
                                               (k_loop_matmul, 4, K // BK),
                                               (k_while_matmul, 4, K // BK)])
def test_tiled_k_accumulation_is_exact(fn, points, trips):
    rep = acecost.analyze(fn, W, X)
    assert rep.totals.complete, (rep.unsupported, rep.warnings)
    assert (rep.totals.macs, rep.totals.ace) == (MATMUL_MACS, MATMUL_MACS)
    (rec,) = rep.layers
    assert rec.macs == BM * BK * BN * points * trips
    assert rec.multiplier == points * trips
    assert (rec.bits_a, rec.bits_w) == (1, 1)  # slices at a dynamic offset keep their levels


# ------------------------------------------------ scalar prefetch, squeezed dims

G, GM, GK, GN = 4, 32, 64, 48


def _grouped_kernel(ids_ref, x_ref, w_ref, o_ref):
    """One group per grid point; the weight block is picked by the prefetched group id."""
    scale = ids_ref[pl.program_id(0)].astype(F32) + 1.0
    o_ref[...] = jnp.dot(x_ref[...], w_ref[...], preferred_element_type=jnp.int32).astype(F32) * scale


def grouped_matmul(w, x, ids):
    """int8 tokens [G*GM, GK] against int8 expert weights [E, GK, GN] (a MoE's grouped matmul)."""
    spec = pltpu.PrefetchScalarGridSpec(
        num_scalar_prefetch=1, grid=(G,),
        in_specs=[pl.BlockSpec((GM, GK), lambda g, ids: (g, 0)),
                  pl.BlockSpec((None, GK, GN), lambda g, ids: (ids[g], 0, 0))],
        out_specs=pl.BlockSpec((GM, GN), lambda g, ids: (g, 0)))
    return pl.pallas_call(_grouped_kernel, grid_spec=spec, out_shape=S((G * GM, GN), F32),
                          interpret=True)(ids, x, w)


def test_grouped_matmul_with_scalar_prefetch_and_squeezed_block():
    E = 3
    rep = acecost.analyze(grouped_matmul, S((E, GK, GN), jnp.int8), S((G * GM, GK), jnp.int8),
                          S((G,), jnp.int32))
    assert rep.totals.complete, rep.unsupported
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (8, 8)
    assert rec.multiplier == G
    assert rep.totals.macs == G * GM * GK * GN
    assert rep.totals.ace == G * GM * GK * GN * 8 * 8


# --------------------------------------------------------------- attention

def test_flash_attention_gpu_kernel_by_closed_form():
    attention = pytest.importorskip("jax.experimental.pallas.ops.gpu.attention")
    B, H, L, D = 1, 2, 256, 64
    q = S((B, L, H, D), F32)
    rep = acecost.analyze(lambda p, q, k, v: attention.mha(q, k, v, segment_ids=None, interpret=True),
                          {}, q, q, q)
    assert rep.totals.complete, rep.unsupported
    assert rep.totals.macs == 2 * B * H * L * L * D  # QK^T and PV, each B*H*L*L*D
    assert {r.primitive for r in rep.layers} == {"dot_general"}
    assert rep.totals.ace == rep.totals.macs * 16 * 16  # float operands


def test_flash_attention_tpu_kernel_by_closed_form():
    fa = pytest.importorskip("jax.experimental.pallas.ops.tpu.flash_attention")
    B, H, L, D = 2, 2, 256, 64
    q = S((B, H, L, D), F32)
    sizes = fa.BlockSizes(block_q=128, block_k_major=128, block_k=128, block_b=1)
    rep = acecost.analyze(lambda p, q, k, v: fa.flash_attention(q, k, v, block_sizes=sizes), {}, q, q, q)
    assert rep.totals.complete, rep.unsupported
    assert rep.totals.macs == 2 * B * H * L * L * D


def test_splash_attention_by_closed_form():
    """Splash attention (scalar-prefetched block masks, squeezed head dimension), full mask."""
    sk = pytest.importorskip("jax.experimental.pallas.ops.tpu.splash_attention.splash_attention_kernel")
    sm = pytest.importorskip("jax.experimental.pallas.ops.tpu.splash_attention.splash_attention_mask")
    H, L, D = 2, 512, 128
    mask = sm.MultiHeadMask([sm.FullMask((L, L)) for _ in range(H)])
    kernel = sk.make_splash_mha(mask, head_shards=1, q_seq_shards=1, interpret=True)
    q = S((H, L, D), F32)
    rep = acecost.analyze(lambda p, q, k, v: kernel(q, k, v), {}, q, q, q)
    assert rep.totals.complete, rep.unsupported
    assert rep.totals.macs == 2 * H * L * L * D


def _attention_kernel(q_ref, k_ref, v_ref, o_ref):
    """A small flash attention: one query block, a loop over key blocks with online softmax."""
    q = q_ref[...]
    bq, d = q.shape

    def body(i, carry):
        m, l, acc = carry
        k = k_ref[pl.ds(i * BKV, BKV), :]
        v = v_ref[pl.ds(i * BKV, BKV), :]
        s = jnp.dot(q, k.T, preferred_element_type=F32)
        m_new = jnp.maximum(m, s.max(axis=1))
        p = jnp.exp(s - m_new[:, None])
        alpha = jnp.exp(m - m_new)
        return m_new, alpha * l + p.sum(axis=1), alpha[:, None] * acc + jnp.dot(p, v, preferred_element_type=F32)

    init = (jnp.full((bq,), -jnp.inf, F32), jnp.zeros((bq,), F32), jnp.zeros((bq, d), F32))
    m, l, acc = lax.fori_loop(0, k_ref.shape[0] // BKV, body, init)
    o_ref[...] = acc / l[:, None]


BKV = 32


def hand_attention(p, q, k, v):
    B, H, L, D = q.shape
    bq = 64
    return pl.pallas_call(
        _attention_kernel, grid=(B, H, L // bq),
        in_specs=[pl.BlockSpec((None, None, bq, D), lambda b, h, i: (b, h, i, 0)),
                  pl.BlockSpec((None, None, L, D), lambda b, h, i: (b, h, 0, 0)),
                  pl.BlockSpec((None, None, L, D), lambda b, h, i: (b, h, 0, 0))],
        out_specs=pl.BlockSpec((None, None, bq, D), lambda b, h, i: (b, h, i, 0)),
        out_shape=S(q.shape, F32), interpret=True)(q, k, v)


def test_hand_written_flash_attention_by_closed_form():
    B, H, L, D = 2, 3, 128, 32
    q = S((B, H, L, D), F32)
    rep = acecost.analyze(hand_attention, {}, q, q, q)
    assert rep.totals.complete, rep.unsupported
    assert rep.totals.macs == 2 * B * H * L * L * D
    points = B * H * (L // 64)
    assert sorted(r.multiplier for r in rep.layers) == [points * (L // BKV)] * 2
    # per grid point: exp of the 64x32 scores and of the 64 rescales, in each of L/BKV iterations
    assert rep.elementwise_by_category["transcendental"] == points * (L // BKV) * (64 * BKV + 64)


# ------------------------------------------------ levels through references

def _quantize_kernel(x_ref, o_ref):
    o_ref[...] = jnp.sign(x_ref[...])


def kernel_then_dot(w, x):
    """A kernel binarizes x block by block; its output feeds a matmul outside the kernel."""
    xs = pl.pallas_call(_quantize_kernel, grid=(M // BM,), in_specs=[pl.BlockSpec((BM, K), lambda i: (i, 0))],
                        out_specs=pl.BlockSpec((BM, K), lambda i: (i, 0)), out_shape=S((M, K), F32),
                        interpret=True)(x)
    return xs @ jnp.sign(w)


def test_levels_stored_into_an_output_flow_out_of_the_kernel():
    rep = acecost.analyze(kernel_then_dot, W, X)
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (1, 1)
    assert rep.totals.ace == MATMUL_MACS
    # the kernel's work: one sign per element of x, once per grid point's block; sign(w) reads
    # a parameter alone, so it is weight preparation, apart from the inference totals
    assert rep.elementwise_by_category["quantize"] == M * K
    assert rep.totals.weight_prep.elementwise_ops == K * N


def _scratch_kernel(x_ref, w_ref, o_ref, s_ref):
    s_ref[...] = jnp.round(jnp.clip(x_ref[...], -7, 7))  # 15 levels: 4 bits
    o_ref[...] = jnp.dot(s_ref[...], w_ref[...], preferred_element_type=F32)


def scratch_matmul(w, x, kernel=_scratch_kernel):
    """``x @ sign(w)`` tiled over the grid, ``kernel`` given an x-block-sized VMEM scratch."""
    return with_scratch(kernel, (BM, K), x, jnp.sign(w))


def test_levels_stored_into_a_scratch_reach_the_dot_that_reads_it():
    rep = acecost.analyze(scratch_matmul, W, X)
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (4, 1)
    assert rep.totals.ace == MATMUL_MACS * 4


def _float_scratch_kernel(x_ref, w_ref, o_ref, s_ref):
    s_ref[...] = jnp.round(jnp.clip(x_ref[...], -7, 7))
    s_ref[:, :8] = x_ref[:, :8]  # part of the scratch overwritten with float values
    o_ref[...] = jnp.dot(s_ref[...], w_ref[...], preferred_element_type=F32)


def test_a_float_store_into_part_of_a_reference_makes_its_reads_float():
    def fn(w, x):
        return scratch_matmul(w, x, _float_scratch_kernel)

    (rec,) = acecost.analyze(fn, W, X).layers
    assert (rec.bits_a, rec.bits_w) == (16, 1)


def test_aliased_output_starts_as_its_input():
    """An output aliased to an input holds the input where the kernel does not write."""
    def kernel(x_ref, o_ref):
        o_ref[:, :8] = jnp.sign(x_ref[:, :8])

    def fn(w, x):
        q = jnp.round(jnp.clip(x, -7, 7))  # 15 levels
        y = pl.pallas_call(kernel, grid=(M // BM,), in_specs=[pl.BlockSpec((BM, K), lambda i: (i, 0))],
                           out_specs=pl.BlockSpec((BM, K), lambda i: (i, 0)), out_shape=S((M, K), F32),
                           input_output_aliases={0: 0}, interpret=True)(q)
        return y @ jnp.sign(w)

    (rec,) = acecost.analyze(fn, W, X).layers
    # elements of q (15 levels) or of a sign (2): integers within [-7, 7], 4 bits; the sign
    # stores alone would be 2 bits (3 integers in [-1, 1])
    assert (rec.bits_a, rec.bits_w) == (4, 1)


def test_an_output_the_kernel_never_writes_has_no_levels():
    def kernel(x_ref, o_ref):
        del x_ref, o_ref

    def fn(w, x):
        y = pl.pallas_call(kernel, grid=(2,), in_specs=[pl.BlockSpec((BM, K), lambda i: (i, 0))],
                           out_specs=pl.BlockSpec((BM, K), lambda i: (i, 0)), out_shape=S((M, K), F32),
                           interpret=True)(jnp.sign(x))
        return y @ jnp.sign(w)

    (rec,) = acecost.analyze(fn, W, X).layers
    assert rec.bits_a == 16


# ------------------------------------------------------ what is not priced

def test_unpriceable_primitive_inside_a_kernel_keeps_totals_incomplete():
    def kernel(x_ref, w_ref, o_ref):
        a = lax.igamma(jnp.abs(x_ref[...]) + 1.0, jnp.abs(x_ref[...]) + 1.0)
        o_ref[...] = jnp.dot(jnp.sign(a), w_ref[...], preferred_element_type=F32)

    def fn(w, x):
        return pl.pallas_call(
            kernel, grid=(M // BM, N // BN),
            in_specs=[pl.BlockSpec((BM, K), lambda i, j: (i, 0)), pl.BlockSpec((K, BN), lambda i, j: (0, j))],
            out_specs=pl.BlockSpec((BM, BN), lambda i, j: (i, j)),
            out_shape=S((M, N), F32), interpret=True)(x, jnp.sign(w))

    rep = acecost.analyze(fn, W, X)
    assert not rep.totals.complete
    (entry,) = rep.unsupported
    assert entry["primitive"] == "igamma"
    assert entry["count"] == 4  # once per grid point
    assert rep.totals.macs == MATMUL_MACS  # what can be priced still is


def test_dynamic_grid_is_counted_once_and_reported():
    def fn(w, x, n):
        def kernel(x_ref, o_ref):
            o_ref[...] = jnp.sign(x_ref[...])
        return pl.pallas_call(kernel, grid=(n,), in_specs=[pl.BlockSpec((BM, K), lambda i: (i, 0))],
                              out_specs=pl.BlockSpec((BM, K), lambda i: (i, 0)), out_shape=S((M, K), F32),
                              interpret=True)(x)

    try:
        rep = acecost.analyze(fn, {}, X, S((), jnp.int32))
    except acecost.AcecostError as e:  # a jax that cannot trace a dynamic grid
        pytest.skip(str(e))
    assert not rep.totals.complete
    assert rep.elementwise_by_category["quantize"] == BM * K  # one grid point
    assert any("not static" in w for w in rep.warnings)


def test_grid_points_multiply_everything_in_the_kernel():
    """Elementwise work and MACs alike: per-block counts times prod(grid)."""
    rep = acecost.analyze(binary_matmul, W, X)
    grid = (M // BM, N // BN)
    assert rep.totals.macs == math.prod(grid) * BM * K * BN


def test_a_reference_whose_values_keep_growing_becomes_unknown():
    """``o += 1`` into an aliased output: its range grows on every walk and never settles."""
    def kernel(x_ref, o_ref):
        o_ref[...] = o_ref[...] + 1.0

    def fn(w, x):
        q = jnp.round(jnp.clip(x, 0, 3))  # 4 levels: without the cut-off its range would keep growing
        y = pl.pallas_call(kernel, grid=(M // BM,), in_specs=[pl.BlockSpec((BM, K), lambda i: (i, 0))],
                           out_specs=pl.BlockSpec((BM, K), lambda i: (i, 0)), out_shape=S((M, K), F32),
                           input_output_aliases={0: 0}, interpret=True)(q)
        return y @ jnp.sign(w)

    rep = acecost.analyze(fn, W, X)
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (16, 1)
    # the kernel's add, once per element (each block once), and the clip's max and min
    assert rep.elementwise_by_category["arithmetic"] == M * K + 2 * M * K


def test_vmapped_kernel_gets_a_grid_axis_per_batch_element():
    rep = acecost.analyze(lambda w, x: jax.vmap(binary_matmul, in_axes=(None, 0))(w, x), W, S((3, M, K), F32))
    assert rep.totals.complete
    assert (rep.totals.macs, rep.totals.ace) == (3 * MATMUL_MACS, 3 * MATMUL_MACS)
    assert rep.loops[-1]["grid"] == [3, M // BM, N // BN]
    assert rep.elementwise_by_category["quantize"] == 3 * M * K  # sign(x); sign(w) is weight preparation
    assert rep.totals.weight_prep.elementwise_ops == K * N
