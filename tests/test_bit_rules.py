"""One test per bit-width inference rule and quantizer idiom.

Every expected width comes from metrics.md: an operand with at most ``n``
distinct levels (after factoring out a scale that does not vary along a
contracting dimension) costs ``max(1, ceil(log2 n))`` bits; an integer or
float8 dtype bounds it by its width; a float operand with no proven
structure costs ``float_bits`` (16 by default, the storage width with
``float_bits="dtype"``).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import acecost

S = jax.ShapeDtypeStruct
F32 = jnp.float32
X = S((4, 8), F32)
PARAMS = {"fc": {"kernel": S((8, 3), F32), "scale": S((), F32)}}


def bits_for(n_levels: int) -> int:
    """metrics.md: b = max(1, ceil(log2 n))."""
    return max(1, math.ceil(math.log2(n_levels)))


def q7(x):
    """round(clip(x, -7, 7)): 15 levels."""
    return jnp.round(jnp.clip(x, -7, 7))


def act(quantize, x=X, params=PARAMS, **kw) -> acecost.OpRecord:
    """The record of ``quantize(x) @ fc/kernel`` (the activation is the lhs)."""
    rep = acecost.analyze(lambda p, x: quantize(x) @ p["fc"]["kernel"], params, x, **kw)
    assert len(rep.layers) == 1
    return rep.layers[0]


def act_bits(quantize, x=X, **kw) -> int:
    return act(quantize, x, **kw).bits_a


def weight_bits(quantize, params=PARAMS, x=X, **kw) -> int:
    rep = acecost.analyze(lambda p, x: x @ quantize(p), params, x, **kw)
    (rec,) = rep.layers
    return rec.bits_w


def fallback_warnings(rep, layer: str) -> list[str]:
    return [w for w in rep.warnings if w.startswith(f"{layer}:") and "float" in w]


# ------------------------------------------------------------------ dtypes

def int_dot(p, x):
    return lax.dot_general(x, p["w"], (((1,), (0,)), ((), ())), preferred_element_type=jnp.int32)


@pytest.mark.parametrize("dtype, expected", [
    (jnp.int8, 8), (jnp.uint8, 8), (jnp.int4, 4), (jnp.uint4, 4), (jnp.int16, 16),
])
def test_integer_operands_cost_their_width(dtype, expected):
    rep = acecost.analyze(int_dot, {"w": S((8, 3), dtype)}, S((4, 8), dtype))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (expected, expected)
    assert rec.ace == 4 * 8 * 3 * expected * expected


@pytest.mark.skipif(not hasattr(jnp, "int2"), reason="this jax has no int2")
def test_int2_operand_costs_two_bits():
    assert act_bits(lambda x: x.astype(F32), S((4, 8), jnp.int2)) == 2


def test_bool_operand_is_one_bit():
    assert act_bits(lambda x: x.astype(F32), S((4, 8), jnp.bool_)) == 1


@pytest.mark.parametrize("dtype", [jnp.float8_e4m3fn, jnp.float8_e5m2])
def test_float8_operand_is_eight_bits(dtype):
    # at most 256 distinct values, whatever the float_bits setting
    assert act_bits(lambda x: x.astype(F32), S((4, 8), dtype)) == 8


def test_convert_element_type_keeps_the_int8_range():
    rec = act(lambda x: x.astype(F32), S((4, 8), jnp.int8))
    assert rec.bits_a == 8


# ------------------------------------------------- clip/clamp and rounding

@pytest.mark.parametrize("bound, expected", [(127, 8), (7, 4), (1, 2), (3, 3)])
def test_round_of_clip(bound, expected):
    # round(clip(x, -m, m)) has 2m+1 levels
    assert expected == bits_for(2 * bound + 1)
    assert act_bits(lambda x: jnp.round(jnp.clip(x, -bound, bound))) == expected


def test_clip_of_round():
    # clip(round(x), -2, 1): the integers -2..1, 4 levels (metrics.md's example)
    rec = act(lambda x: jnp.clip(jnp.round(x), -2, 1))
    assert rec.bits_a == 2
    # the source names the clip that bounded the integers, not the unbounded round before it
    assert rec.bits_a_source.startswith("4 levels: integers clipped to [-2, 1]")
    assert "unbounded" not in rec.bits_a_source


def test_lax_clamp_of_round_names_the_clip():
    rec = act(lambda x: lax.clamp(-3.0, jnp.round(x), 3.0))
    # -3..3 is 7 levels: ceil(log2 7) = 3 bits; the source names the clamp and its range
    assert rec.bits_a == 3
    assert rec.bits_a_source.startswith("7 levels:")
    assert "[-3, 3]" in rec.bits_a_source and "`clamp`" in rec.bits_a_source


def test_round_of_lax_clamp():
    assert act_bits(lambda x: jnp.round(lax.clamp(-7.0, x, 7.0))) == 4


@pytest.mark.parametrize("form", [
    lambda x: jnp.maximum(jnp.minimum(x, 7.0), -7.0),
    lambda x: jnp.maximum(-7.0, jnp.minimum(7.0, x)),
    lambda x: jnp.minimum(jnp.maximum(x, -7.0), 7.0),
    lambda x: jnp.minimum(7.0, jnp.maximum(-7.0, x)),
], ids=["max(min(x,c),c)", "max(c,min(c,x))", "min(max(x,c),c)", "min(c,max(c,x))"])
def test_round_of_max_min_bounds_in_either_argument(form):
    assert act_bits(lambda x: jnp.round(form(x))) == 4


@pytest.mark.parametrize("rounding", [jnp.floor, jnp.ceil])
def test_floor_and_ceil_of_clip(rounding):
    # floor/ceil of a value in [-4, 3]: the integers -4..3, 8 levels
    assert act_bits(lambda x: rounding(jnp.clip(x, -4.0, 3.0))) == 3


def test_sign_is_one_bit_and_binary():
    rep = acecost.analyze(lambda p, x: jnp.sign(x) @ jnp.sign(p["fc"]["kernel"]), PARAMS, X)
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w, rec.binary) == (1, 1, True)
    assert rep.totals.binary_macs == rep.totals.macs == 4 * 8 * 3
    assert rep.totals.ace == 4 * 8 * 3


# -------------------------------------------------- selects and lookups

def test_where_between_two_constants_is_one_bit():
    assert act_bits(lambda x: jnp.where(x > 0, 0.5, -0.5)) == 1


def test_select_n_among_three_constants_is_two_bits():
    def three_way(x):
        idx = jnp.clip(jnp.round(x), 0, 2).astype(jnp.int32)
        c = [jnp.full(x.shape, v, F32) for v in (-0.3, 0.1, 0.9)]
        return lax.select_n(idx, *c)

    assert act_bits(three_way) == 2


# the NF4 code book of QLoRA: 16 non-uniform float levels
NF4 = np.array([-1.0, -0.6961928, -0.52507305, -0.39491748, -0.28444138, -0.18477343,
                -0.09105003, 0.0, 0.0795803, 0.1609302, 0.2461123, 0.33791524, 0.44070983,
                0.562617, 0.72295684, 1.0], np.float32)


def test_gather_from_a_16_entry_constant_table_is_four_bits():
    # the index itself is unbounded (int32); the table has 16 values
    assert act_bits(lambda x: jnp.asarray(NF4)[jnp.abs(x).astype(jnp.int32)]) == 4


def test_take_from_a_16_entry_constant_table_is_four_bits():
    assert act_bits(lambda x: jnp.take(jnp.asarray(NF4), jnp.abs(x).astype(jnp.int32), mode="clip")) == 4


def test_right_shift_then_clip():
    # int32 >> 4 holds [-2**27, 2**27 - 1]; the clip to [-8, 7] leaves 16 levels
    def shift(x):
        return jnp.clip(lax.shift_right_arithmetic(x, 4), -8, 7).astype(F32)

    assert act_bits(shift, S((4, 8), jnp.int32)) == 4


def test_unclipped_int32_shifted_by_four_is_twenty_eight_bits():
    # without the clip the shift alone bounds it: floor(x / 16) of an int32 is in [-2**27, 2**27 - 1]
    # (with 32-bit floats; with the default 16 it is a float operand, never wider than one)
    shift = lambda x: lax.shift_right_arithmetic(x, 4).astype(F32)
    assert act_bits(shift, S((4, 8), jnp.int32), float_bits=32) == 28
    assert act_bits(shift, S((4, 8), jnp.int32)) == 16
    assert act_bits(lambda x: x.astype(F32), S((4, 8), jnp.int32), float_bits=32) == 32


# ------------------------------------------------- scales and offsets

def test_multiply_by_scale_and_add_offset_keep_levels():
    def f(p, x):
        s = p["fc"]["scale"]
        return (q7(x) * s + 3.0 * s - 1.0) @ p["fc"]["kernel"]

    assert acecost.analyze(f, PARAMS, X).layers[0].bits_a == 4


def test_divide_by_scale_and_subtract_offset_keep_levels():
    rep = acecost.analyze(lambda p, x: ((q7(x) - 0.25) / p["fc"]["scale"]) @ p["fc"]["kernel"], PARAMS, X)
    assert rep.layers[0].bits_a == 4


ZP_PARAMS = {"fc": {"kernel": S((8, 3), F32), "scale": S((), F32), "zp": S((), jnp.int32)}}


def test_subtracting_an_integer_zero_point_keeps_levels():
    # uint8 activations minus their zero point: still 256 levels
    def f(p, x):
        return (x.astype(jnp.int32) - p["fc"]["zp"]).astype(F32) @ p["fc"]["kernel"]

    assert acecost.analyze(f, ZP_PARAMS, S((4, 8), jnp.uint8)).layers[0].bits_a == 8


def test_asymmetric_quantizer_with_zero_point_is_eight_bits():
    # clip(round(x/s) + zp, 0, 255) - zp: 256 integer levels, shifted by an offset
    def f(p, x):
        s, zp = p["fc"]["scale"], p["fc"]["zp"]
        xq = jnp.clip(jnp.round(x / s) + zp, 0, 255) - zp
        return (xq * s) @ p["fc"]["kernel"]

    assert acecost.analyze(f, ZP_PARAMS, X).layers[0].bits_a == 8


def test_subtracting_a_float_offset_from_uint8_keeps_levels():
    def f(p, x):
        return (x.astype(F32) - p["fc"]["scale"]) @ p["fc"]["kernel"]

    assert acecost.analyze(f, PARAMS, S((4, 8), jnp.uint8)).layers[0].bits_a == 8


def test_sum_of_two_quantized_values():
    # q7(a) + q7(b): integers in [-14, 14], 29 levels
    assert act_bits(lambda x: q7(x) + q7(2.0 * x)) == bits_for(29)


def test_one_sided_bounds_combine():
    # relu gives the lower bound, min the upper: round to the integers 0..15
    assert act_bits(lambda x: jnp.round(jnp.minimum(jax.nn.relu(x), 15.0))) == 4


def test_truncating_convert_of_a_clipped_value():
    # clip to [-7, 7] then int8 truncation: the integers -7..7
    assert act_bits(lambda x: jnp.clip(x, -7, 7).astype(jnp.int8).astype(F32)) == 4


def test_where_between_quantized_value_and_zero():
    # zero is already one of the 15 levels of q7
    assert act_bits(lambda x: jnp.where(x > 1.0, q7(x), 0.0)) == 4


def test_relu_is_not_a_quantizer():
    assert act_bits(lambda x: jnp.where(x > 0, x, 0.0)) == 16


def test_weight_as_lhs_is_still_the_weight():
    rep = acecost.analyze(lambda p, x: p["fc"]["kernel"].T @ q7(x).T, PARAMS, X)
    (rec,) = rep.layers
    assert (rec.name, rec.bits_a, rec.bits_w, rec.weight_operand) == ("fc", 4, 16, "lhs")


def fake_quant_weight(p):
    w, s = p["fc"]["kernel"], p["fc"]["scale"]
    return jnp.round(jnp.clip(w / s, -7, 7)) * s


@pytest.mark.parametrize("scale_shape", [(), (1, 3), (3,)], ids=["per-tensor", "per-channel", "per-channel-1d"])
def test_scale_not_along_contracting_dim_factors_out(scale_shape):
    params = {"fc": {"kernel": S((8, 3), F32), "scale": S(scale_shape, F32)}}
    assert weight_bits(fake_quant_weight, params) == 4


def test_scale_along_contracting_dim_falls_back_with_warning():
    # a scale per input feature (the contracting dim of the kernel) does not factor out,
    # and the activation is quantized, so it cannot take the scale either
    params = {"fc": {"kernel": S((8, 3), F32), "scale": S((8, 1), F32)}}
    rep = acecost.analyze(lambda p, x: q7(x) @ fake_quant_weight(p), params, X)
    (rec,) = rep.layers
    assert rec.bits_w == 16
    warns = [w for w in fallback_warnings(rep, "fc") if "rhs" in w]
    assert warns and "contracting" in warns[0]


def test_per_row_activation_scale_factors_out():
    # a scale per batch row (a non-contracting dim of x) factors out
    params = {"fc": {"kernel": S((8, 3), F32), "scale": S((4, 1), F32)}}
    rep = acecost.analyze(lambda p, x: (q7(x / p["fc"]["scale"]) * p["fc"]["scale"]) @ p["fc"]["kernel"],
                          params, X)
    assert rep.layers[0].bits_a == 4


def test_per_column_activation_scale_falls_back():
    params = {"fc": {"kernel": S((8, 3), F32), "scale": S((1, 8), F32)}}
    # a binary kernel: a float one would take the scale (see test_branches_and_scales.py)
    rep = acecost.analyze(lambda p, x: (q7(x / p["fc"]["scale"]) * p["fc"]["scale"]) @ jnp.sign(p["fc"]["kernel"]),
                          params, X)
    assert rep.layers[0].bits_a == 16
    assert any("lhs" in w and "contracting" in w for w in fallback_warnings(rep, "fc"))


def test_per_output_channel_scale_factors_out_of_a_conv():
    params = {"conv": {"kernel": S((3, 3, 4, 6), F32), "scale": S((1, 1, 1, 6), F32)}}

    def f(p, x):
        w, s = p["conv"]["kernel"], p["conv"]["scale"]
        wq = jnp.round(jnp.clip(w / s, -1, 1)) * s  # ternary: 3 levels
        return lax.conv_general_dilated(x, wq, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    rep = acecost.analyze(f, params, S((1, 5, 5, 4), F32))
    assert rep.layers[0].bits_w == 2


def conv(x, w, dn):
    return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn)


@pytest.mark.parametrize("scale_shape, expected", [((6, 1, 1, 1), 2), ((1, 4, 1, 1), 16)],
                         ids=["per-O", "per-I"])
def test_oihw_kernel_scale_axes(scale_shape, expected):
    # OIHW: O is not contracted (factors out), I is (does not)
    params = {"conv": {"kernel": S((6, 4, 3, 3), F32), "scale": S(scale_shape, F32)}}

    def f(p, x):
        w, s = p["conv"]["kernel"], p["conv"]["scale"]
        # a quantized input: a float one would take a per-I scale (see test_branches_and_scales.py)
        return conv(q7(x), jnp.round(jnp.clip(w / s, -1, 1)) * s, ("NCHW", "OIHW", "NCHW"))

    assert acecost.analyze(f, params, S((1, 4, 5, 5), F32)).layers[0].bits_w == expected


def test_per_input_channel_activation_scale_falls_back_in_a_conv():
    params = {"conv": {"kernel": S((3, 3, 4, 6), F32), "a": S((1, 1, 1, 4), F32)}}

    def f(p, x):
        a = p["conv"]["a"]
        return conv(q7(x / a) * a, jnp.sign(p["conv"]["kernel"]), ("NHWC", "HWIO", "NHWC"))

    rep = acecost.analyze(f, params, S((1, 5, 5, 4), F32))
    assert rep.layers[0].bits_a == 16
    assert any("lhs" in w and "contracting" in w for w in fallback_warnings(rep, "conv"))


def test_scale_axes_follow_a_transpose():
    # per-row scale of an (N, K) kernel becomes per-column after .T: still per output channel
    params = {"fc": {"kernel": S((3, 8), F32), "scale": S((3, 1), F32)}}
    assert weight_bits(lambda p: fake_quant_weight(p).T, params) == 4


def test_scale_along_a_dot_batch_dim_factors_out():
    def f(p, x):
        s = p["s"]
        return jnp.einsum("bij,bjk->bik", q7(x / s) * s, p["w"])

    rep = acecost.analyze(f, {"w": S((2, 8, 3), F32), "s": S((2, 1, 1), F32)}, S((2, 4, 8), F32))
    assert rep.layers[0].bits_a == 4


@pytest.mark.parametrize("axis, expected", [(1, 8), (0, 16)], ids=["per-row", "per-column"])
def test_dynamic_absmax_scale(axis, expected):
    # s = max|x| / 127 computed from x itself: per row factors out, per column
    # (the contracting dim of x) does not
    def quant(x):
        s = jnp.max(jnp.abs(x), axis=axis, keepdims=True) / 127
        return jnp.round(jnp.clip(x / s, -127, 127)) * s

    # a binary kernel: a float one would take a per-column scale (test_branches_and_scales.py)
    rep = acecost.analyze(lambda p, x: quant(x) @ jnp.sign(p["fc"]["kernel"]), PARAMS, X)
    assert rep.layers[0].bits_a == expected


def test_xnor_net_weights_with_per_channel_alpha_are_binary():
    # sign(w) * mean|w| per output channel (XNOR-Net)
    def f(p, x):
        w = p["fc"]["kernel"]
        return jnp.sign(x) @ (jnp.sign(w) * jnp.mean(jnp.abs(w), axis=0, keepdims=True))

    rep = acecost.analyze(f, PARAMS, X)
    assert (rep.layers[0].bits_a, rep.layers[0].bits_w) == (1, 1)
    assert rep.totals.binary_macs == 4 * 8 * 3


def test_react_net_rsign_with_learned_threshold_is_binary():
    params = {"fc": {"kernel": S((8, 3), F32), "beta": S((8,), F32)}}
    rep = acecost.analyze(lambda p, x: jnp.sign(x - p["fc"]["beta"]) @ jnp.sign(p["fc"]["kernel"]),
                          params, X)
    assert (rep.layers[0].bits_a, rep.layers[0].bits_w) == (1, 1)


def test_binary_activation_scaled_along_contracting_dim_falls_back():
    params = {"fc": {"kernel": S((8, 3), F32), "beta": S((8,), F32)}}
    rep = acecost.analyze(lambda p, x: (jnp.sign(x) * p["fc"]["beta"]) @ jnp.sign(p["fc"]["kernel"]),
                          params, X)
    assert rep.layers[0].bits_a == 16


def test_two_quantized_activations_in_attention():
    def f(p, x):
        q = jnp.round(jnp.clip(x, -127, 127))
        k = jnp.round(jnp.clip(2.0 * x, -127, 127))
        return jnp.einsum("qd,kd->qk", q, k)

    rep = acecost.analyze(f, {}, X)
    assert (rep.layers[0].bits_a, rep.layers[0].bits_w) == (8, 8)
    assert rep.totals.ace == 4 * 4 * 8 * 64


def test_unbounded_round_falls_back_with_warning():
    rep = acecost.analyze(lambda p, x: jnp.round(x / p["fc"]["scale"]) @ p["fc"]["kernel"], PARAMS, X)
    assert rep.layers[0].bits_a == 16
    warns = [w for w in fallback_warnings(rep, "fc") if "lhs" in w]
    assert warns and "round" in warns[0]


# -------------------------------------------------------- shape ops

SHAPE_OPS = {
    "reshape": (S((4, 2, 4), F32), lambda q: q.reshape(4, 8)),
    "transpose": (S((8, 4), F32), lambda q: q.T),
    "broadcast_in_dim": (S((1, 8), F32), lambda q: jnp.broadcast_to(q, (4, 8))),
    "slice": (S((6, 8), F32), lambda q: q[1:5]),
    "pad": (S((4, 6), F32), lambda q: jnp.pad(q, ((0, 0), (1, 1)))),
    "concatenate": (S((4, 4), F32), lambda q: jnp.concatenate([q, -q], axis=1)),
    "squeeze": (S((4, 1, 8), F32), lambda q: jnp.squeeze(q, 1)),
    "expand_dims": (S((8,), F32), lambda q: jnp.expand_dims(q, 0)),
    "rev": (S((4, 8), F32), lambda q: jnp.flip(q, 1)),
}


@pytest.mark.parametrize("op", sorted(SHAPE_OPS))
def test_shape_ops_preserve_levels(op):
    x, move = SHAPE_OPS[op]
    assert act_bits(lambda x: move(q7(x)), x) == 4


def test_dynamic_slice_preserves_levels():
    def f(p, x, i):
        return lax.dynamic_slice(q7(x), (i, 0), (4, 8)) @ p["fc"]["kernel"]

    rep = acecost.analyze(f, PARAMS, S((6, 8), F32), S((), jnp.int32))
    assert rep.layers[0].bits_a == 4


def test_stop_gradient_is_identity():
    assert act_bits(lambda x: lax.stop_gradient(q7(x))) == 4


# ---------------------------------------------- straight-through idioms

def test_ste_add_stop_gradient_difference():
    assert act_bits(lambda x: x + lax.stop_gradient(q7(x) - x)) == 4


def test_ste_stop_gradient_pair():
    def ste(x):
        p = x * 3.0
        return lax.stop_gradient(q7(p)) - lax.stop_gradient(p) + p

    assert act_bits(ste) == 4


_FOLD = __import__("acecost.engine.walker", fromlist=["MAX_FORM_ATOMS"]).MAX_FORM_ATOMS


@pytest.mark.parametrize("depth", sorted({0, 1, 2, 3, 7, 8, 9} | {k * _FOLD + d for k in (1, 2) for d in (-2, -1, 0, 1)}))
def test_ste_after_a_residual_sum_of_any_depth(depth):
    # an unrolled residual stream is a sum of depth+1 terms; the straight-through
    # estimator applied to it must forward q7(x) at every depth, including around
    # the lengths at which the engine folds long sums (MAX_FORM_ATOMS and twice it)
    def residual_then_ste(x):
        for k in range(depth):
            x = x + jnp.tanh(x * (k + 1.0))
        return x + lax.stop_gradient(q7(x) - x)

    assert act_bits(residual_then_ste) == 4


@pytest.mark.parametrize("depth", [7, 14, 63, 64, 65, 130])
def test_ste_over_a_negated_residual_sum(depth):
    # -r and r must cancel whatever the length of r, folded or not
    def residual_then_ste(x):
        for k in range(depth):
            x = x + jnp.tanh(x * (k + 1.0))
        return x + lax.stop_gradient(-x + q7(x))

    assert act_bits(residual_then_ste) == 4


@pytest.mark.parametrize("depth", [6, 7, 13])
def test_ste_over_the_sum_of_two_residual_streams(depth):
    def two_streams_then_ste(x):
        a, b = x, 2.0 * x
        for k in range(depth):
            a, b = a + jnp.tanh(a * (k + 1.0)), b + jnp.sin(b * (k + 1.0))
        return a + b + lax.stop_gradient(q7(a + b) - a - b)

    assert act_bits(two_streams_then_ste) == 4


@pytest.mark.parametrize("terms", [2, 9, 70])
def test_ste_whose_forward_value_is_a_sum_of_quantized_values(terms):
    # qs = sum of `terms` integers in [-7, 7]: 14 * terms + 1 levels; the STE
    # r + sg(qs - r) forwards qs, whose width is that of the sum itself
    def ste(x):
        qs = sum(q7(x * (k + 1.0)) for k in range(terms))
        r = x + jnp.tanh(x)
        return r + lax.stop_gradient(qs - r)

    assert act_bits(ste) == bits_for(14 * terms + 1)


@pytest.mark.parametrize("depth", [6, 7, 8, 9, 16])
def test_ste_stop_gradient_pair_after_a_residual_sum(depth):
    def residual_then_ste(x):
        for k in range(depth):
            x = x + jnp.sin(x * (k + 1.0))
        return lax.stop_gradient(q7(x)) - lax.stop_gradient(x) + x

    assert act_bits(residual_then_ste) == 4


def test_ste_split_across_a_jitted_helper_called_twice():
    # the jitted helper returns q(y) - y; its second call (same abstract input)
    # must still let x + sg(helper(x)) cancel to q(x)
    helper = jax.jit(lambda y: q7(y) - y)

    def two_layers(p, x):
        a, b = jnp.tanh(x), jnp.sin(x)
        return (a + lax.stop_gradient(helper(a))) @ p["fc"]["kernel"], \
            (b + lax.stop_gradient(helper(b))) @ p["fc"]["kernel"]

    rep = acecost.analyze(two_layers, PARAMS, X)
    assert [r.bits_a for r in rep.layers] == [4, 4]


def test_custom_vjp_quantizer():
    @jax.custom_vjp
    def quant(x):
        return q7(x)

    quant.defvjp(lambda x: (quant(x), None), lambda _, g: (g,))
    assert act_bits(quant) == 4


def test_custom_jvp_quantizer():
    @jax.custom_jvp
    def quant(x):
        return jnp.sign(x)

    quant.defjvp(lambda primals, tangents: (quant(primals[0]), tangents[0]))
    assert act_bits(quant) == 1


def test_ste_is_still_seen_under_grad():
    # the forward value inside a value_and_grad trace is the quantized one
    def loss(p, x):
        y = (x + lax.stop_gradient(q7(x) - x)) @ p["fc"]["kernel"]
        return jnp.sum(y)

    rep = acecost.analyze(lambda p, x: jax.value_and_grad(loss)(p, x), PARAMS, X)
    fwd = [r for r in rep.layers if r.lhs_shape == [4, 8] and r.rhs_shape == [8, 3]]
    assert fwd and fwd[0].bits_a == 4

    # jax.grad discards the loss: the forward dot is dead code and is not priced,
    # while the weight gradient g^T @ x still sees the quantized x
    rep = acecost.analyze(lambda p, x: jax.grad(loss)(p, x), PARAMS, X)
    assert not [r for r in rep.layers if r.lhs_shape == [4, 8] and r.rhs_shape == [8, 3]]
    (wgrad,) = [r for r in rep.layers if [4, 8] in (r.lhs_shape, r.rhs_shape)]
    x_side = "lhs" if wgrad.lhs_shape == [4, 8] else "rhs"
    assert (wgrad.bits_w if wgrad.weight_operand == x_side else wgrad.bits_a) == 4


# --------------------------------------------------------- AQT and Qwix

@pytest.mark.parametrize("b", [2, 3, 4, 8])
def test_aqt_like_int8_container_gives_b_bits(b):
    """AQT v2: x * (1/s) -> clip to +-(2^(b-1)-1) -> round -> int8, dot in int32."""
    m = 2 ** (b - 1) - 1

    def quant(x, s):
        return jnp.round(jnp.clip(x * (1.0 / s), -m, m)).astype(jnp.int8)

    def f(p, x):
        w = p["fc"]["kernel"]
        sx = jnp.max(jnp.abs(x), axis=1, keepdims=True) / m
        sw = jnp.max(jnp.abs(w), axis=0, keepdims=True) / m
        y = lax.dot_general(quant(x, sx), quant(w, sw), (((1,), (0,)), ((), ())),
                            preferred_element_type=jnp.int32)
        return y.astype(F32) * sx * sw

    rep = acecost.analyze(f, PARAMS, X)
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (bits_for(2 * m + 1), bits_for(2 * m + 1)) == (b, b)
    assert rep.totals.ace == 4 * 8 * 3 * b * b


def test_qwix_like_round_without_clip_in_int8_is_eight_bits():
    assert act_bits(lambda x: jnp.round(x / 0.05).astype(jnp.int8)) == 8


def test_qwix_like_int4_container_is_four_bits():
    assert act_bits(lambda x: jnp.round(x / 0.05).astype(jnp.int4).astype(F32)) == 4


def test_int4_converted_to_int8_before_the_dot_stays_four_bits():
    def f(p, x):
        w8 = p["w"].astype(jnp.int8)
        xq = jnp.round(x / 0.05).astype(jnp.int4).astype(jnp.int8)
        return lax.dot_general(xq, w8, (((1,), (0,)), ((), ())), preferred_element_type=jnp.int32)

    rep = acecost.analyze(f, {"w": S((8, 3), jnp.int4)}, X)
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (4, 4)


# ----------------------------------------------------- tags and overrides

def test_tag_wins_over_inference():
    # inference alone would say 4 (15 levels) and 8 (int8)
    def f(p, x):
        return acecost.tag(q7(x), bits=2) @ acecost.tag(p["w"].astype(F32), bits=3)

    rep = acecost.analyze(f, {"w": S((8, 3), jnp.int8)}, X)
    assert (rep.layers[0].bits_a, rep.layers[0].bits_w) == (2, 3)


def test_tag_marks_a_float_operand():
    assert act_bits(lambda x: acecost.tag(x, bits=6)) == 6


def test_tag_rejects_bad_widths():
    with pytest.raises(ValueError):
        acecost.tag(jnp.ones(2), bits=0)


def test_override_mapping_wins():
    rec = act(lambda x: x, overrides={"fc": (8, 4)})
    assert (rec.bits_a, rec.bits_w) == (8, 4)
    assert rec.ace == 4 * 8 * 3 * 8 * 4


def test_override_string_wins_over_tag():
    rec = act(lambda x: acecost.tag(x, bits=3), overrides=["^f.$=5,6"])
    assert (rec.bits_a, rec.bits_w) == (5, 6)


def test_override_with_an_empty_side_keeps_inference():
    rec = act(q7, overrides=["fc=,2"])
    assert (rec.bits_a, rec.bits_w) == (4, 2)


def test_override_that_does_not_match_changes_nothing():
    rec = act(q7, overrides=["conv=1,1"])
    assert (rec.bits_a, rec.bits_w) == (4, 16)


@pytest.mark.parametrize("spec", ["fc", "fc=8", "fc=a,4", "(=4,4", "fc=0,4"])
def test_bad_override_strings_are_user_errors(spec):
    with pytest.raises(acecost.AcecostError):
        acecost.parse_override(spec)


# ----------------------------------------------------------- float_bits

def test_float_default_is_sixteen_bits():
    rec = act(lambda x: x)
    assert (rec.bits_a, rec.bits_w) == (16, 16)


def test_float_bits_dtype_uses_f32_storage_width():
    rec = act(lambda x: x, float_bits="dtype")
    assert (rec.bits_a, rec.bits_w) == (32, 32)


def test_float_bits_integer_option():
    rec = act(lambda x: x, float_bits=32)
    assert (rec.bits_a, rec.bits_w) == (32, 32)


def test_float_bits_dtype_uses_bf16_storage_width():
    params = {"fc": {"kernel": S((8, 3), jnp.bfloat16)}}
    rec = act(lambda x: x, S((4, 8), jnp.bfloat16), params, float_bits="dtype")
    assert (rec.bits_a, rec.bits_w) == (16, 16)


def test_bf16_operand_is_sixteen_bits_by_default():
    params = {"fc": {"kernel": S((8, 3), jnp.bfloat16)}}
    rec = act(lambda x: x, S((4, 8), jnp.bfloat16), params)
    assert (rec.bits_a, rec.bits_w) == (16, 16)


def test_float8_with_dtype_mode_is_eight_bits():
    rec = act(lambda x: x.astype(F32), S((4, 8), jnp.float8_e4m3fn), float_bits="dtype")
    assert rec.bits_a == 8


@pytest.mark.parametrize("bad", [0, -1, "fp16", 2.5])
def test_bad_float_bits_is_a_user_error(bad):
    with pytest.raises(acecost.AcecostError):
        act(lambda x: x, float_bits=bad)


def test_fallback_warning_names_layer_and_where_evidence_broke():
    # the second layer's input is the first layer's sum of products
    def f(p, x):
        h = jnp.sign(x) @ jnp.sign(p["fc1"]["kernel"])
        return h @ jnp.sign(p["fc2"]["kernel"])

    params = {"fc1": {"kernel": S((8, 8), F32)}, "fc2": {"kernel": S((8, 3), F32)}}
    rep = acecost.analyze(f, params, X)
    assert [(r.name, r.bits_a, r.bits_w) for r in rep.layers] == [("fc1", 1, 1), ("fc2", 16, 1)]
    (warn,) = fallback_warnings(rep, "fc2")
    assert "dot_general" in warn and "lhs" in warn
    assert fallback_warnings(rep, "fc1") == []


def test_max_pool_keeps_levels():
    """max over a window returns one of its inputs, so a 4-bit input stays 4-bit."""
    import flax.linen as nn

    def f(w, x):
        q = jnp.round(jnp.clip(x, -7, 7))
        pooled = nn.max_pool(q, (2, 2), strides=(2, 2))
        return jax.lax.conv_general_dilated(pooled, w, (1, 1), "VALID",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    w = jax.ShapeDtypeStruct((3, 3, 4, 8), jnp.float32)
    x = jax.ShapeDtypeStruct((1, 8, 8, 4), jnp.float32)
    rep = acecost.analyze(f, w, x)
    assert rep.layers[0].bits_a == 4
    assert rep.layers[0].macs == 1 * 2 * 2 * 8 * 3 * 3 * 4
