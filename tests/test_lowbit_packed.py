"""Packed int4 and block-scaled fp4 (issue #20, parts 2 and 3, and two corpus layers).

Each expected figure is a closed form from the shapes: MACs = M * K * N,
ACE = MACs * bits_a * bits_w, size = elements * bits. A float activation is
16 bits (metrics.md); an int4 nibble 4; an fp4 element 4.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from jax import lax

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
F4, E8, E4 = jnp.float4_e2m1fn, jnp.float8_e8m0fnu, jnp.float8_e4m3fn
M, K, N = 8, 256, 64


# ------------------------------------------------- int4 packed two to an int8

def unpack_nibbles(p):
    """int8 [K, N/2] -> [K, N]: the low nibble, sign-extended, then the high one."""
    return jnp.concatenate([(p << 4) >> 4, p >> 4], axis=1)


def packed_layer(params, x):
    w = unpack_nibbles(params["p"]).astype(F32) * params["scale"]  # per output channel
    return x @ w


PACKED = {"p": S((K, N // 2), jnp.int8), "scale": S((N,), F32)}


def test_int4_packed_in_int8_is_16x4():
    rep = acecost.analyze(packed_layer, PACKED, S((M, K), F32))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (16, 4)
    assert rep.totals.ace == M * K * N * 16 * 4 == 8_388_608  # the int8 container gave 16 x 8
    assert not any("storage width" in w for w in rep.warnings)


def test_packed_parameter_counts_4_bits_per_value_it_holds():
    """p [256, 32] holds 256 * 64 nibbles: 65,536 bits, whatever its int8 container says."""
    rep = acecost.analyze(packed_layer, PACKED, S((M, K), F32))
    (p,) = [q for q in rep.params if q.path == "p"]
    assert p.size_bits == K * N * 4 == 65_536
    assert p.used_in == "dot/conv"


def test_one_nibble_alone():
    """Only the high nibbles enter the dot: [256, 32] at 4 bits, and p stores 4 bits per element."""
    rep = acecost.analyze(lambda prm, x: x @ ((prm["p"] >> 4).astype(F32) * prm["scale"][: N // 2]),
                          PACKED, S((M, K), F32))
    assert rep.totals.ace == M * K * (N // 2) * 16 * 4 == 4_194_304
    (p,) = [q for q in rep.params if q.path == "p"]
    assert p.size_bits == K * (N // 2) * 4


def test_int2_packed_four_to_a_byte():
    """(p << 6) >> 6, (p << 4) >> 6, (p << 2) >> 6, p >> 6: four 2-bit fields, [-2, 1] each."""
    def layer(prm, x):
        p = prm["p"]
        w = jnp.concatenate([(p << 6) >> 6, (p << 4) >> 6, (p << 2) >> 6, p >> 6], axis=1)
        return x @ w.astype(F32)

    rep = acecost.analyze(layer, {"p": S((K, N // 4), jnp.int8)}, S((M, K), F32))
    (rec,) = rep.layers
    assert rec.bits_w == 2
    assert rep.totals.ace == M * K * N * 16 * 2
    assert rep.params[0].size_bits == K * N * 2


def test_unsigned_nibbles_by_mask_and_logical_shift():
    """uint8 codes: p & 0x0F and p >> 4 (logical) are [0, 15], 4 bits, minus a zero point of 8."""
    def layer(prm, x):
        p = prm["p"]
        w = jnp.concatenate([p & 0x0F, p >> 4], axis=1).astype(F32) - 8.0
        return x @ w

    rep = acecost.analyze(layer, {"p": S((K, N // 2), jnp.uint8)}, S((M, K), F32))
    assert rep.layers[0].bits_w == 4
    assert rep.totals.ace == M * K * N * 16 * 4


# ------------------------------------------------------------ block scales

def dequantize(q, s, block):
    """q [..., K] times one scale per block of ``block`` along K, the way jax's own
    scaled-matmul reference writes it: reshape to [..., K/block, block], multiply by
    the scale broadcast over the block, reshape back."""
    shape = q.shape
    x = q.astype(F32).reshape(*shape[:-1], shape[-1] // block, block)
    return (x * s.astype(F32)[..., None]).reshape(shape)


def mx_matmul(xq, xs, wq, ws, block=32):
    """x [M, K] and w stored [N, K], both fp4 with block scales along K."""
    return lax.dot_general(dequantize(xq, xs, block), dequantize(wq, ws, block),
                           (((1,), (1,)), ((), ())), preferred_element_type=F32)


@pytest.mark.parametrize("block, scale", [(32, E8), (16, E4)])  # MX, NVFP4
def test_block_scaled_fp4_is_4x4(block, scale):
    rep = acecost.analyze(lambda p, xq, xs: mx_matmul(xq, xs, p["wq"], p["ws"], block),
                          {"wq": S((N, K), F4), "ws": S((N, K // block), scale)},
                          S((M, K), F4), S((M, K // block), scale))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (4, 4)
    assert rep.totals.ace == M * K * N * 4 * 4 == 2_097_152
    sizes = {q.path: q.size_bits for q in rep.params}
    assert sizes == {"wq": N * K * 4, "ws": N * (K // block) * 8}


def test_block_scale_on_a_weight_laid_out_k_first():
    """w [K, N] with scales [K/32, N]: the block axis is the first one."""
    def w_deq(q, s):
        x = q.astype(F32).reshape(K // 32, 32, N)
        return (x * s.astype(F32)[:, None, :]).reshape(K, N)

    rep = acecost.analyze(lambda p, xq, xs: dequantize(xq, xs, 32) @ w_deq(p["wq"], p["ws"]),
                          {"wq": S((K, N), F4), "ws": S((K // 32, N), E8)}, S((M, K), F4), S((M, K // 32), E8))
    assert (rep.layers[0].bits_a, rep.layers[0].bits_w) == (4, 4)


def test_a_scale_per_element_is_not_a_block_scale():
    """A scale that changes at every k: 16 fp4 codes x 256 e8m0 scales, 12 bits (no block)."""
    rep = acecost.analyze(lambda p, xq, xs: (xq.astype(F32) * xs.astype(F32)) @ p["w"].astype(F32),
                          {"w": S((K, N), F4)}, S((M, K), F4), S((M, K), E8))
    assert rep.layers[0].bits_a == 12


def test_a_scale_indexed_inside_the_block_is_a_scale_per_group():
    """Scale indexed by the position inside the block: s[k mod 32]. It changes at every
    consecutive k, but takes 32 values along K whatever the row: grouping the terms of the
    sum by k mod 32 gives 32 partial sums of 8 codes each (2 * 32 <= 256), each with one scale
    applied after its sum. So the codes' 16 levels, 4 bits, hold (a group bound, not a block)."""
    def wrong(xq, s):
        x = xq.astype(F32).reshape(M, K // 32, 32) * s.astype(F32)[None, None, :]
        return x.reshape(M, K)

    rep = acecost.analyze(lambda p, xq, xs: wrong(xq, xs) @ p["w"].astype(F32),
                          {"w": S((K, N), F4)}, S((M, K), F4), S((32,), E8))
    assert rep.layers[0].bits_a == 4
    assert rep.totals.ace == M * K * N * 4 * 4


def test_a_block_split_by_a_transpose_before_the_merge_is_a_scale_per_group():
    """[M, K/32, 32] transposed to [M, 32, K/32] and merged: consecutive k now cross blocks, but
    the scale at k is s[m, k mod 8], 8 values along K for each row: 8 partial sums of 32 codes
    each (2 * 8 <= 256), each scaled once after its sum, so the codes' 4 bits hold."""
    def shuffled(xq, s):
        x = xq.astype(F32).reshape(M, K // 32, 32) * s.astype(F32)[..., None]
        return x.transpose(0, 2, 1).reshape(M, K)

    rep = acecost.analyze(lambda p, xq, xs: shuffled(xq, xs) @ p["w"].astype(F32),
                          {"w": S((K, N), F4)}, S((M, K), F4), S((M, K // 32), E8))
    assert rep.layers[0].bits_a == 4
    assert rep.totals.ace == M * K * N * 4 * 4


def test_float_scale_per_block_of_a_float_weight():
    """fp4 activations with f32 block scales against a bf16 weight: 4 x 16."""
    rep = acecost.analyze(lambda p, xq, xs: dequantize(xq, xs, 32) @ p["w"].astype(F32),
                          {"w": S((K, N), jnp.bfloat16)}, S((M, K), F4), S((M, K // 32), F32))
    assert (rep.layers[0].bits_a, rep.layers[0].bits_w) == (4, 16)
    assert rep.totals.ace == M * K * N * 4 * 16


# ------------------------------------------------------------------ corpus
# Two layers written the way low-bit JAX code writes them; totals computed from the shapes.

def test_corpus_flax_int4_packed_mlp():
    """A Flax MLP whose kernels are int8 params holding two int4 per byte (low nibble first),
    unpacked by shifts, with a float per-output-channel scale and a float bias; the hidden
    activation is re-quantized to int8 codes by clip(round(.)) before the second layer."""
    nn = pytest.importorskip("flax.linen")

    class PackedInt4Dense(nn.Module):
        features: int

        @nn.compact
        def __call__(self, x):
            packed = self.param("packed", nn.initializers.zeros, (x.shape[-1], self.features // 2), jnp.int8)
            scale = self.param("scale", nn.initializers.ones, (self.features,), F32)
            bias = self.param("bias", nn.initializers.zeros, (self.features,), F32)
            low, high = (packed << 4) >> 4, packed >> 4
            w = jnp.stack([low, high], axis=-1).reshape(x.shape[-1], self.features)  # interleaved
            return x @ (w.astype(F32) * scale) + bias

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.relu(PackedInt4Dense(128, name="fc1")(x))
            h = jnp.clip(jnp.round(h * 16.0), 0, 255)  # uint8 activation codes: 256 levels
            return PackedInt4Dense(10 + 6, name="fc2")(h)

    net = Net()
    params = jax.eval_shape(net.init, jax.random.key(0), S((M, K), F32))
    rep = acecost.analyze(lambda p, x: net.apply(p, x), params, S((M, K), F32))
    fc1, fc2 = rep.layers
    assert (fc1.bits_a, fc1.bits_w, fc2.bits_a, fc2.bits_w) == (16, 4, 8, 4)
    macs1, macs2 = M * K * 128, M * 128 * 16
    assert rep.totals.macs == macs1 + macs2
    assert rep.totals.ace == macs1 * 16 * 4 + macs2 * 8 * 4
    sizes = {q.path.split("/")[-2] + "/" + q.path.split("/")[-1]: q.size_bits for q in rep.params}
    # packed kernels: 4 bits per value held; scales and biases float32
    assert sizes == {"fc1/packed": K * 128 * 4, "fc1/scale": 128 * 32, "fc1/bias": 128 * 32,
                     "fc2/packed": 128 * 16 * 4, "fc2/scale": 16 * 32, "fc2/bias": 16 * 32}


def test_corpus_mxfp4_linear_quantizing_its_input():
    """An MXFP4 linear layer: the float input is quantized in the graph (one e8m0 power-of-two
    scale per block of 32 along K from the block's max magnitude, elements cast to fp4), the
    weight is stored as fp4 codes [N, K] with e8m0 scales [N, K/32]; both are dequantized by
    reshape-multiply-reshape and contracted in float32."""

    def quantize_mx(x):
        blocks = x.reshape(M, K // 32, 32)
        amax = jnp.max(jnp.abs(blocks), axis=-1)
        scale = jnp.exp2(jnp.floor(jnp.log2(jnp.maximum(amax, 1e-30))) - 2).astype(E8)  # 6.0 = 1.5 * 2**2
        q = (blocks / scale.astype(F32)[..., None]).reshape(M, K).astype(F4)
        return q, scale

    def layer(p, x):
        xq, xs = quantize_mx(x)
        return mx_matmul(xq, xs, p["wq"], p["ws"]) + p["b"]

    rep = acecost.analyze(layer, {"wq": S((N, K), F4), "ws": S((N, K // 32), E8), "b": S((N,), F32)},
                          S((M, K), F32))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (4, 4)
    assert rep.totals.macs == M * K * N
    assert rep.totals.ace == M * K * N * 16 == 2_097_152
    sizes = {q.path: q.size_bits for q in rep.params}
    assert sizes == {"wq": N * K * 4, "ws": N * K // 32 * 8, "b": N * 32}


@pytest.mark.parametrize("scale", [E8, F32])
def test_block_scale_repeated_over_its_block(scale):
    """jnp.repeat(s, 32, axis=-1) times the codes (a broadcast and a merging reshape): 4 bits."""
    rep = acecost.analyze(
        lambda p, xq, xs: (xq.astype(F32) * jnp.repeat(xs.astype(F32), 32, axis=-1)) @ p["w"].astype(F32),
        {"w": S((K, N), F4)}, S((M, K), F4), S((M, K // 32), scale))
    assert rep.layers[0].bits_a == 4
    assert rep.totals.ace == M * K * N * 4 * 4


def test_a_tiled_scale_is_a_scale_per_group():
    """jnp.tile(s, 32) repeats the whole row of 8 scales: the scale changes at every k, but is
    s[m, k mod 8], 8 values along K: 8 partial sums of 32 codes each (2 * 8 <= 256), 4 bits."""
    rep = acecost.analyze(
        lambda p, xq, xs: (xq.astype(F32) * jnp.tile(xs.astype(F32), (1, 32))) @ p["w"].astype(F32),
        {"w": S((K, N), F4)}, S((M, K), F4), S((M, K // 32), E8))
    assert rep.layers[0].bits_a == 4
    assert rep.totals.ace == M * K * N * 4 * 4


def test_two_operands_blocked_differently_share_their_runs():
    """x scaled per 16 and w per 32 along K = 256: their blocks are runs, whose boundaries together
    cut K into 16 intervals (every 32-block boundary is a 16-block boundary), 16 partial sums of 16
    terms: 4 x 4. Blocks of 16 on one side and k mod 16 on the other are not runs both: 16 * 16 =
    256 pairs may each be one term, so only the operand with fewer groups is priced by its codes."""
    def deq_rows(q, s, block):  # scale index k // block
        return dequantize(q, s, block)

    def deq_mod(q, s):  # scale index k mod 16
        return (q.astype(F32).reshape(M, K // 16, 16) * s.astype(F32)[:, None, :]).reshape(M, K)

    blocked = acecost.analyze(lambda p, xq, xs: lax.dot_general(
        deq_rows(xq, xs, 16), deq_rows(p["wq"], p["ws"], 32), (((1,), (1,)), ((), ()))),
        {"wq": S((N, K), F4), "ws": S((N, K // 32), E8)}, S((M, K), F4), S((M, K // 16), E8))
    assert (blocked.layers[0].bits_a, blocked.layers[0].bits_w) == (4, 4)
    crossed = acecost.analyze(lambda p, xq, xs: lax.dot_general(
        deq_mod(xq, xs), deq_rows(p["wq"], p["ws"], 16), (((1,), (1,)), ((), ()))),
        {"wq": S((N, K), F4), "ws": S((N, K // 16), E8)}, S((M, K), F4), S((M, 16), E8))
    # 4096 levels (16 codes x 256 scales) stay 12 bits on one side
    assert sorted((crossed.layers[0].bits_a, crossed.layers[0].bits_w)) == [4, 12]
