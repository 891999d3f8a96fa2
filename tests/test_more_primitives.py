"""Grouped (MoE) matmuls, dots that contract nothing, complex operands, a custom lax.reduce.

Expected numbers are closed forms from the shapes: M x K rows against E
experts K x N is M*K*N MACs; a complex MAC is four real ones.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from click.testing import CliRunner
from jax import lax

import acecost
from acecost.cli import main

S = jax.ShapeDtypeStruct
F32 = jnp.float32


def quantize(x, levels_max):
    """Signed symmetric fake quantizer with 2 * levels_max + 1 levels and a per-tensor scale."""
    s = jnp.max(jnp.abs(x)) / levels_max
    return jnp.round(jnp.clip(x / s, -levels_max, levels_max)) * s


# ------------------------------------------------------------------ ragged_dot

def test_ragged_dot_moe_grouped_matmul():
    rep = acecost.analyze(lambda w, x, g: lax.ragged_dot(x, w, g),
                          S((8, 512, 1024), F32), S((256, 512), F32), S((8,), jnp.int32))
    assert rep.totals.macs == 256 * 512 * 1024 == 134_217_728
    assert rep.totals.complete and not rep.unsupported
    (layer,) = rep.layers
    assert layer.primitive == "ragged_dot_general" and layer.weight_operand == "rhs"


def test_ragged_dot_operand_bits_follow_the_contracting_dims():
    # int8 activations; experts quantized to 4 bits with a scale per (expert, output column):
    # the scale does not vary along the contracting K, so it factors out
    def moe(w, x, g):
        scale = jnp.max(jnp.abs(w), axis=1, keepdims=True) / 7
        wq = jnp.round(jnp.clip(w / scale, -7, 7)) * scale
        return lax.ragged_dot(x, wq, g, preferred_element_type=F32)

    rep = acecost.analyze(moe, S((4, 64, 32), F32), S((16, 64), jnp.int8), S((4,), jnp.int32))
    (layer,) = rep.layers
    assert (layer.bits_a, layer.bits_w) == (8, 4)
    assert layer.macs == 16 * 64 * 32

    # a scale that varies along K does not factor out: float fallback for the experts
    def per_k(w, x, g):
        scale = jnp.max(jnp.abs(w), axis=2, keepdims=True) / 7
        return lax.ragged_dot(x, jnp.round(jnp.clip(w / scale, -7, 7)) * scale, g,
                              preferred_element_type=F32)

    (layer,) = acecost.analyze(per_k, S((4, 64, 32), F32), S((16, 64), jnp.int8), S((4,), jnp.int32)).layers
    assert layer.bits_w == 16 and "contracting" in layer.bits_w_source


def test_ragged_contracting_dimension():
    # the ragged dim is K: each k belongs to one group's output [G, M, N]; M*K*N products in all
    dn = lax.RaggedDotDimensionNumbers(dot_dimension_numbers=(((1,), (0,)), ((), ())),
                                       lhs_ragged_dimensions=(1,), rhs_group_dimensions=())
    f = lambda w, x, g: lax.ragged_dot_general(x, w, g, dn)  # noqa: E731
    rep = acecost.analyze(f, S((64, 24), F32), S((10, 64), F32), S((3,), jnp.int32))
    assert rep.layers[0].out_shape == [3, 10, 24]
    assert rep.totals.macs == 10 * 64 * 24


def test_ragged_dot_weight_gradient():
    """Training the experts: the weight gradient contracts the ragged rows, M*K*N again."""
    rep = acecost.analyze_train(lambda w, x, g: lax.ragged_dot(x, w, g),
                                S((4, 64, 32), F32), S((16, 64), F32), S((4,), jnp.int32))
    assert rep.phases["forward"]["macs"] == rep.phases["backward"]["macs"] == 16 * 64 * 32
    (grad,) = [r for r in rep.layers if r.phase == "backward"]
    assert grad.out_shape == [4, 64, 32]
    assert rep.totals.complete and not rep.unsupported


# ------------------------------------------------------- nothing to contract

def test_dot_general_without_contraction_is_elementwise():
    f = lambda a, b: jnp.einsum("ij,ij->ij", a, b)  # noqa: E731
    rep = acecost.analyze(f, S((64, 512), F32), S((64, 512), F32), params_argnums=())
    assert rep.totals.macs == 0 and not rep.layers
    assert rep.elementwise_by_category == {"arithmetic": 64 * 512}
    assert rep.totals.complete and not rep.unsupported

    outer = lambda a, b: lax.dot_general(a, b, (((), ()), ((), ())))  # noqa: E731
    rep = acecost.analyze(outer, S((4,), F32), S((8,), F32), params_argnums=())
    assert rep.totals.macs == 0 and rep.totals.elementwise_ops == 4 * 8


def test_products_by_dot_general_keep_levels_like_mul():
    """A 15-level value times a 2-level one (sign) has at most 30 levels: 5 bits, either way it is written."""
    def by_dot(w, x, z):
        p = jnp.einsum("bi,bi->bi", quantize(x, 7), jnp.sign(z))
        return p @ w

    def by_mul(w, x, z):
        return (quantize(x, 7) * jnp.sign(z)) @ w

    args = (S((32, 16), F32), S((8, 32), F32), S((8, 32), F32))
    dot, mul = acecost.analyze(by_dot, *args), acecost.analyze(by_mul, *args)
    assert dot.layers[0].bits_a == mul.layers[0].bits_a == 5
    assert dot.totals.macs == mul.totals.macs == 8 * 32 * 16


def test_products_by_dot_general_move_the_scale_axes():
    """a's scale is per row (its axis 0); the product puts that axis second ([batch 8, a-free 4]).

    After ``.T`` the scale runs along the free axis of the next matmul, so it
    factors out: 3 levels x 2 levels (sign) = 6 levels, 3 bits. Had the axis
    stayed first it would run along the contracted one (a float fallback).
    """
    def f(w, a, b):
        s = jnp.max(jnp.abs(a), axis=1, keepdims=True)
        qa = jnp.round(jnp.clip(a / s, -1, 1)) * s
        p = lax.dot_general(qa, jnp.sign(b), (((), ()), ((1,), (0,))))
        return p.T @ w

    rep = acecost.analyze(f, S((8, 6), F32), S((4, 8), F32), S((8,), F32))
    assert rep.layers[0].bits_a == 3
    assert rep.layers[0].macs == 4 * 8 * 6

    def g(w, a, b):  # the same scale, contracted against a quantized operand: no level structure survives
        s = jnp.max(jnp.abs(a), axis=1, keepdims=True)
        p = lax.dot_general(jnp.round(jnp.clip(a / s, -1, 1)) * s, jnp.sign(b), (((), ()), ((1,), (0,))))
        return p @ jnp.sign(w.T[:4])  # (against a float one the scale would fold into it)

    assert acecost.analyze(g, S((8, 6), F32), S((4, 8), F32), S((8,), F32)).layers[0].bits_a == 16


# ---------------------------------------------------------------- complex

def test_complex_matmul_counts_real_multiplies():
    c64 = jnp.complex64
    rep = acecost.analyze(lambda w, x: x @ w, S((8, 3), c64), S((4, 8), c64))
    assert rep.totals.macs == 4 * 8 * 3 * 4  # 4 real multiplies per complex MAC
    assert rep.totals.ace == rep.totals.macs * 16 * 16
    wide = acecost.analyze(lambda w, x: x @ w, S((8, 3), c64), S((4, 8), c64), float_bits="dtype")
    assert (wide.layers[0].bits_a, wide.layers[0].bits_w) == (32, 32)  # each part is a float32


def test_complex_conv_counts_real_multiplies():
    conv = lambda w, x: lax.conv_general_dilated(  # noqa: E731
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    rep = acecost.analyze(conv, S((3, 3, 2, 5), jnp.complex64), S((1, 6, 6, 2), jnp.complex64))
    assert rep.totals.macs == 6 * 6 * 5 * 9 * 2 * 4


# ------------------------------------------------------- a custom lax.reduce

def argmax_by_reduce(x):
    idx = lax.broadcasted_iota(jnp.int32, x.shape, 1)

    def pick(a, b):
        (av, ai), (bv, bi) = a, b
        first = av >= bv
        return lax.select(first, av, bv), lax.select(first, ai, bi)

    return lax.reduce((x, idx), (jnp.float32(-jnp.inf), jnp.int32(0)), pick, (1,))


def test_custom_reduce_leaves_the_totals_incomplete():
    rep = acecost.analyze(argmax_by_reduce, S((4, 100), F32), params_argnums=())
    assert rep.totals.complete is False
    assert any("`reduce` has no rule" in w for w in rep.warnings)


MODEL = ("import jax, jax.numpy as jnp\n"
         "from tests.test_more_primitives import argmax_by_reduce\n"
         "def acecost_model():\n"
         "    return (lambda w, x: {body}), (None, jax.ShapeDtypeStruct((4, 100), jnp.float32))\n")


def test_strict_fails_on_a_custom_reduce(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parents[1]))
    for body, code in (("argmax_by_reduce(x)", 1), ("jnp.max(x, axis=1)", 0)):
        path = tmp_path / f"m{code}.py"
        path.write_text(MODEL.format(body=body))
        result = CliRunner().invoke(main, ["analyze", str(path), "--strict", "-q"])
        assert result.exit_code == code, result.output


# ------------------------------------------------------ max-pool gradient

def test_max_pool_gradient_is_priced_as_pooling():
    """select_and_scatter_add: each window's taps compared again, then one add per source element."""
    import flax.linen as nn

    def loss(x):
        return nn.max_pool(x, (2, 2), strides=(2, 2)).sum()

    x = S((1, 4, 4, 2), F32)
    jaxpr = jax.make_jaxpr(jax.grad(loss))(x)
    assert "select_and_scatter_add" in {e.primitive.name for e in jaxpr.eqns}
    rep = acecost.analyze(jax.grad(loss), x, params_argnums=())
    windows, taps = 1 * 2 * 2 * 2, 2 * 2  # output positions x channels; a 2x2 window
    assert rep.totals.complete and not rep.unsupported
    # the forward max-pool's result is dead under jax.grad: only the gradient's pass counts
    assert rep.elementwise_by_category["pooling"] == windows * taps + windows
