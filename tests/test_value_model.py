"""The value model on code written the way other projects write it: tensors made
inside the function, data movement, integer dtypes, masked quantizers, and
constants counted in bounded memory.

Every expected width is ``max(1, ceil(log2 n))`` for the ``n`` distinct
values the operand can take, counted here by hand from the model's
construction (metrics.md); an operand with no level structure costs 16.
"""
from __future__ import annotations

import math
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import acecost
from acecost.engine.values.levels import from_constant

S = jax.ShapeDtypeStruct
F32 = jnp.float32
FLOAT = 16


def bits_for(n_levels: int) -> int:
    return max(1, math.ceil(math.log2(n_levels)))


def q8(x):
    """Symmetric int8 codes as floats: integers in [-127, 127], 255 levels."""
    return jnp.clip(jnp.round(x), -127, 127)


def dot_bits(f, *args) -> tuple[int, int, int]:
    """(lhs bits, rhs bits, ACE) of the last contraction of ``f`` (no parameters)."""
    rep = acecost.analyze(lambda p, *a: f(*a), {}, *args)
    rec = rep.layers[-1]
    lhs, rhs = (rec.bits_a, rec.bits_w) if rec.weight_operand == "rhs" else (rec.bits_w, rec.bits_a)
    return lhs, rhs, rec.ace


# ---------------------------------------------- 1. tensors made in the function

X = S((8, 64), F32)


def test_random_weights_made_in_the_function_are_float():
    lhs, rhs, ace = dot_bits(lambda x: jnp.sign(x) @ jax.random.normal(jax.random.key(0), (64, 32)), X)
    assert (lhs, rhs) == (1, FLOAT)
    assert ace == 8 * 64 * 32 * 1 * FLOAT


def test_eye_made_in_the_function_has_two_levels():
    rep = acecost.analyze(lambda p, h: h @ jnp.eye(10), {}, S((4, 10), F32))
    (rec,) = rep.layers
    assert "zero_point" not in rec.name
    assert sorted((rec.bits_a, rec.bits_w)) == [bits_for(2), FLOAT]
    assert rec.ace == 4 * 10 * 10 * bits_for(2) * FLOAT


def test_arange_made_in_the_function_has_its_256_levels():
    lhs, rhs, _ = dot_bits(lambda h: jnp.sign(h) @ jnp.arange(256.0).reshape(16, 16), S((4, 16), F32))
    assert (lhs, rhs) == (1, bits_for(256))


def test_values_computed_from_iota_keep_its_levels():
    # 64 row indices, scaled and offset per tensor: 64 levels, along the contraction
    w = lambda: (jnp.arange(64.0)[:, None] * jnp.ones((64, 32))) * 0.5 + 1.0
    assert dot_bits(lambda x: jnp.sign(x) @ w(), X)[:2] == (1, bits_for(64))


def test_bernoulli_mask_made_in_the_function_is_binary():
    m = lambda: jax.random.bernoulli(jax.random.key(1), 0.5, (64, 32)).astype(F32)
    assert dot_bits(lambda x: jnp.sign(x) @ m(), X)[:2] == (1, 1)


def test_concrete_constants_are_priced_by_their_levels():
    rng = np.random.default_rng(0)
    eye, table = np.eye(64, dtype=np.float32), np.arange(64 * 32, dtype=np.float32).reshape(64, 32) % 100
    normal = rng.standard_normal((64, 32)).astype(np.float32)
    assert dot_bits(lambda x: jnp.sign(x) @ eye, X)[:2] == (1, 1)
    assert dot_bits(lambda x: jnp.sign(x) @ table, X)[:2] == (1, bits_for(100))
    assert dot_bits(lambda x: jnp.sign(x) @ normal, X)[:2] == (1, FLOAT)


# ------------------------------------------------------- 2. data movement

def test_split_of_a_fused_qkv_keeps_eight_bits():
    def attn(x, w):
        q, k, v = jnp.split(q8(x @ w) * 0.05, 3, axis=1)
        return (q @ k.T) @ v
    rep = acecost.analyze(lambda p, x, w: attn(x, w), {}, X, S((64, 24), F32))
    qk = rep.layers[1]
    assert (qk.bits_a, qk.bits_w) == (bits_for(255), bits_for(255))


def test_kv_cache_written_with_dynamic_update_slice_keeps_its_levels():
    def step(x, pos):
        cache = lax.dynamic_update_slice(jnp.zeros((16, 64)), q8(x), (pos, 0))
        return jnp.sign(x) @ cache.T
    # the cache holds zeros and int8 codes: integers in [-127, 127]
    assert dot_bits(step, X, S((), jnp.int32))[:2] == (1, bits_for(255))


def test_int8_kv_cache_stays_eight_bits():
    def step(x, cache):
        cache = lax.dynamic_update_slice(cache, q8(x).astype(jnp.int8), (4, 0))
        return jnp.sign(x) @ (cache.astype(F32) * 0.1).T
    assert dot_bits(step, X, S((16, 64), jnp.int8))[:2] == (1, 8)


def test_scatter_of_binary_values_into_zeros_has_three_levels():
    # zeros, with +-1 written into half the rows: {-1, 0, 1}
    f = lambda x: jnp.sign(x) @ jnp.zeros((16, 64)).at[0:8].set(jnp.sign(x)).T
    assert dot_bits(f, X)[:2] == (1, bits_for(3))


def test_concatenate_pad_rev_sort_and_select_keep_levels():
    moved = {
        "concatenate": lambda c: jnp.concatenate([c, c[:, :32] * 1.0], axis=1),
        "pad": lambda c: jnp.pad(c, ((0, 0), (0, 32))),
        "rev": lambda c: c[:, ::-1],
        "sort": lambda c: jnp.sort(c, axis=1),
        "select": lambda c: jnp.where(c > 0, c, 0.0),
        "dynamic_slice": lambda c: lax.dynamic_slice_in_dim(c, 3, 32, axis=1),
    }
    for name, move in moved.items():
        f = lambda x: move(q8(x)) @ jnp.sign(move(q8(x))).T
        # each output element is an int8 code or zero: at most 255 levels
        assert dot_bits(f, X)[:2] == (bits_for(255), 1), name


def test_argsort_indices_are_bounded_by_the_length():
    f = lambda h: jnp.sign(h) @ jnp.argsort(h, axis=0).astype(F32)
    assert dot_bits(f, S((16, 16), F32))[:2] == (1, bits_for(16))


# ----------------------------------------------------- 3. integer dtypes

def test_requantized_int4_codes_with_a_per_input_scale_are_eight_bits():
    """int4 codes times a scale that varies along the contraction, re-quantized per
    tensor to int8: the scale makes 16 levels per input channel but 255 overall."""
    def f(x, w, s):
        wf = w.astype(F32) * s
        w8 = q8(wf / (jnp.max(jnp.abs(wf)) / 127)).astype(jnp.int8)
        return jnp.sign(x) @ w8.astype(F32), jnp.sign(x) @ (w8.astype(F32) * 0.02)
    rep = acecost.analyze(lambda p, *a: f(*a), {}, X, S((64, 32), jnp.int4), S((64, 1), F32))
    for rec in rep.layers:
        assert sorted((rec.bits_a, rec.bits_w)) == [1, bits_for(255)]


def test_int32_accumulator_is_priced_by_its_range():
    def f(x, w):
        acc = lax.dot_general(x, w, (((1,), (0,)), ((), ())), preferred_element_type=jnp.int32)
        return acc.astype(F32) @ jnp.sign(jnp.ones((32, 4)))
    args = (S((8, 64), jnp.int8), S((64, 32), jnp.int8))
    rep = acecost.analyze(lambda p, *a: f(*a), {}, *args, float_bits=32)
    # 64 products of two int8 values, each in [-128*127, 128*128]
    lo, hi = 64 * -128 * 127, 64 * 128 * 128
    assert rep.layers[-1].bits_a == bits_for(hi - lo + 1) == 21
    # never wider than a float: with 16-bit floats the 21-bit accumulator is a float operand
    assert dot_bits(f, *args)[0] == FLOAT


def test_integer_sum_that_may_overflow_keeps_its_container_width():
    f = lambda x: jnp.sum(x, axis=1, keepdims=True, dtype=jnp.int8).astype(F32) @ jnp.sign(jnp.ones((1, 4)))
    assert dot_bits(f, S((8, 64), jnp.int8))[0] == 8


# ----------------------------------------------------- 4. masked quantizers

def test_masked_softmax_quantized_to_eight_bits():
    def f(x, mask):
        logits = (x @ x.T) + jnp.where(mask, 0, -1e10)
        p = jax.nn.softmax(logits)
        return jnp.clip(jnp.floor(p * 255), 0, 255) @ x
    rep = acecost.analyze(lambda p, *a: f(*a), {}, X, S((8, 8), bool))
    assert rep.layers[-1].bits_a == bits_for(256)


# ------------------------------------------------ constants: bounded memory

def _peak_extra(fn, *args) -> int:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_counting_a_large_constant_needs_bounded_memory():
    rng = np.random.default_rng(0)
    mask = rng.random((4096, 4096), dtype=np.float32) > 0.5  # 16 MB
    codes = rng.integers(-5, 6, (2048, 4096)).astype(np.float32)  # 32 MB, 11 levels
    normal = rng.standard_normal((2048, 4096), dtype=np.float32)  # 32 MB
    bound = 16 * 2 ** 20  # a few chunks; a float64 copy of each would be 64 MB or more
    for arr in (mask, codes, normal):
        assert _peak_extra(from_constant, arr) < bound
    assert from_constant(mask).count == 2
    assert from_constant(codes).count == 11
    assert from_constant(normal).count is None


def test_constant_levels_counted_exactly():
    ints = np.array([[-3, 7, 7], [0, -3, 2]], np.int16)
    lv = from_constant(ints)
    assert (lv.count, lv.lo, lv.hi, lv.integral) == (4, -3, 7, True)
    floats = np.linspace(0, 1, 300, dtype=np.float32)  # 300 distinct non-integers: no table
    assert from_constant(floats).count is None
    assert from_constant(np.array([True, True])).count == 1


def test_complex_constants_keep_their_imaginary_part():
    c = np.array([1 + 1j, 1 + 2j, 1 + 1j, 2 + 0j], np.complex64)
    lv = from_constant(c)
    assert lv.count == 3  # 1+1j, 1+2j, 2
    assert (lv.lo, lv.hi, lv.integral) == (None, None, False)  # no real range
    assert from_constant(np.complex64(2 + 3j)).lo is None
    real = from_constant(np.array([1 + 0j, 3 + 0j], np.complex64))
    assert (real.count, real.lo, real.hi, real.integral) == (2, 1, 3, True)


def test_kv_cache_in_a_decode_loop_keeps_its_levels():
    """A zero-filled float cache written with int8 codes inside a loop: integers in [-127, 127]."""
    def decode(x):
        def body(i, carry):
            cache, h = carry
            cache = lax.dynamic_update_slice(cache, q8(h)[None], (i, 0))
            return cache, h + (jnp.sign(h)[None] @ cache.T)[0, :1]
        return lax.fori_loop(0, 16, body, (jnp.zeros((16, 64)), x))[1]
    rep = acecost.analyze(lambda p, x: decode(x), {}, S((64,), F32))
    (rec,) = rep.layers
    assert sorted((rec.bits_a, rec.bits_w)) == [1, bits_for(255)]
    assert rec.ace == 16 * 64 * 16 * 1 * bits_for(255)


def test_identity_over_several_operands_keeps_each_ones_levels():
    """optimization_barrier((a, b)): each output is its own input (2 levels, 15 levels)."""
    def f(x, y):
        a, b = lax.optimization_barrier((jnp.sign(x), jnp.round(jnp.clip(y, -7, 7))))
        return a @ b
    assert dot_bits(f, S((4, 8), F32), S((8, 3), F32))[:2] == (1, bits_for(15))


def test_concatenation_of_three_per_tensor_values_has_three_levels():
    """[a, ..., b, ..., c, ...] takes three values, whatever a, b and c are."""
    f = lambda x, a, b, c: jnp.sign(x) @ jnp.concatenate([jnp.full((16, 4), a), jnp.full((16, 4), b),
                                                          jnp.full((32, 4), c)])
    assert dot_bits(f, X, S((), F32), S((), F32), S((), F32))[:2] == (1, bits_for(3))


def test_a_length_one_contraction_folds_a_factor_like_a_per_channel_scale():
    """x.T @ (g * mask) over a batch of 1: g varies only along the output, so the mask's 1 bit is priced.

    ``g`` alone has no code to fold into (float, 16); with a batch of 2, ``g`` varies along the sum
    and the product is float again.
    """
    both = lambda x, g, m: (jnp.einsum("bi,bo->io", x, g * m.astype(F32)), jnp.einsum("bi,bo->io", x, g))
    for batch, masked_bits in ((1, 1), (2, 16)):
        rep = acecost.analyze(both, S((batch, 64), F32), S((batch, 32), F32), S((batch, 32), jnp.bool_))
        masked, plain = rep.layers
        assert masked.macs == plain.macs == batch * 64 * 32
        assert sorted((masked.bits_a, masked.bits_w)) == sorted((masked_bits, 16))
        assert (plain.bits_a, plain.bits_w) == (16, 16)
        assert masked.ace == batch * 64 * 32 * masked_bits * 16
