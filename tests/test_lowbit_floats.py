"""Narrow floats (issue #20, part 3): every float of at most 8 bits that jax exposes
is priced at its width in ACE and in size.

A ``b``-bit float takes at most ``2**b`` bit patterns, so it costs ``b`` bits
(metrics.md: ``ceil(log2 n)``). Expected values are closed forms from the
shapes: MACs = M * K * N, ACE = MACs * bits_a * bits_w, size = elements * bits.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from jax import lax

import acecost
from acecost.engine.values.levels import dtype_bits

S = jax.ShapeDtypeStruct
M, K, N = 8, 256, 64
MACS = M * K * N  # 131,072

#: every float of at most 8 bits this jax accepts, with its width from the format's definition
NARROW = {name: bits for name, bits in {
    "float8_e4m3fn": 8, "float8_e4m3fnuz": 8, "float8_e4m3b11fnuz": 8, "float8_e5m2": 8,
    "float8_e5m2fnuz": 8, "float8_e8m0fnu": 8, "float8_e3m4": 8, "float8_e4m3": 8,
    "float6_e2m3fn": 6, "float6_e3m2fn": 6, "float4_e2m1fn": 4,
}.items() if hasattr(jnp, name)}


def matmul(w, x, dtype):
    """x [M, K] float32 cast to ``dtype``, times w [K, N] stored in ``dtype``, float32 result."""
    return lax.dot_general(x.astype(dtype), w, (((1,), (0,)), ((), ())),
                           preferred_element_type=jnp.float32)


def test_every_narrow_float_ml_dtypes_defines_is_covered():
    """A new narrow float in jax fails here until its width is checked below."""
    exposed = {n for n in dir(jnp) if n.startswith(("float8_", "float6_", "float4_"))}
    assert exposed <= set(NARROW), exposed - set(NARROW)
    for name, bits in NARROW.items():
        assert ml_dtypes.finfo(getattr(ml_dtypes, name)).bits == bits
        assert dtype_bits(getattr(jnp, name)) == bits


@pytest.mark.parametrize("name", sorted(NARROW))
def test_narrow_float_matmul_costs_its_width(name):
    dtype, bits = getattr(jnp, name), NARROW[name]
    rep = acecost.analyze(lambda w, x: matmul(w, x, dtype), S((K, N), dtype), S((M, K), jnp.float32))
    (rec,) = rep.layers
    assert (rec.bits_a, rec.bits_w) == (bits, bits)
    assert rep.totals.ace == MACS * bits * bits
    assert rep.totals.size_bits == K * N * bits


def test_issue_example_fp4():
    """x [8, 256] cast to float4_e2m1fn times w [256, 64] float4: 8*256*64 * 4 * 4 (it was * 8 * 8)."""
    rep = acecost.analyze(lambda w, x: matmul(w, x, jnp.float4_e2m1fn),
                          S((K, N), jnp.float4_e2m1fn), S((M, K), jnp.float32))
    assert rep.totals.ace == 8 * 256 * 64 * 4 * 4 == 2_097_152
    assert rep.totals.size_bits == 256 * 64 * 4 == 65_536


def test_issue_example_e5m2():
    """The same with float8_e5m2: 8 x 8 (the cast was taken for the float32 input, 16 bits)."""
    rep = acecost.analyze(lambda w, x: matmul(w, x, jnp.float8_e5m2),
                          S((K, N), jnp.float8_e5m2), S((M, K), jnp.float32))
    assert rep.totals.ace == 8 * 256 * 64 * 8 * 8 == 8_388_608
    assert not rep.fallbacks


def test_e5m2_gradient_format_in_a_training_step():
    """fp8 training: the forward in e4m3, the incoming gradient cast to e5m2 before its dots."""

    @jax.custom_vjp
    def cast_grad(x):
        return x

    def fwd(x):
        return x, None

    def bwd(_, g):
        return (g.astype(jnp.float8_e5m2).astype(jnp.float32),)

    cast_grad.defvjp(fwd, bwd)

    def loss(w, x):
        y = matmul(w.astype(jnp.float8_e4m3fn), x, jnp.float8_e4m3fn)
        return jnp.sum(cast_grad(y) ** 2)

    rep = acecost.analyze(lambda w, x: jax.grad(loss)(w, x), S((K, N), jnp.float32), S((M, K), jnp.float32))
    # forward [8,256]x[256,64] at 8x8, weight gradient x^T [256,8] x g [8,64] at 8x8 (e4m3 x e5m2)
    assert [(r.bits_a, r.bits_w) for r in rep.layers] == [(8, 8), (8, 8)]
    assert rep.totals.ace == 2 * MACS * 64


def test_narrowing_float_cast_is_not_the_identity():
    """A cast to a narrower float rounds: it is a new value, priced by its own dtype."""
    rep = acecost.analyze(lambda w, x: x.astype(jnp.float8_e5m2).astype(jnp.float32) @ w,
                          S((K, N), jnp.float32), S((M, K), jnp.float32))
    assert rep.layers[0].bits_a == 8


def test_float6_parameter_outside_a_contraction_counts_six_bits():
    rep = acecost.analyze(lambda p, x: x @ p["w"] + p["b"].astype(jnp.float32),
                          {"w": S((K, N), jnp.float32), "b": S((N,), jnp.float6_e3m2fn)},
                          S((M, K), jnp.float32))
    (b,) = [p for p in rep.params if p.path.endswith("b")]
    assert (b.bits, b.size_bits) == (6, 6 * N)


@pytest.mark.parametrize("name, expected", [
    ("float4_e2m1fn", 3),   # [0, 15] -> [0, 6], integers: at most 7 levels
    ("float8_e5m2", 4),     # [0, 15] -> [0, 16]: 17 integers, but only 16 inputs
    ("float8_e4m3fn", 4),   # exact: [0, 15]
    ("float8_e8m0fnu", 4),  # 0 has no e8m0 code (NaN): no range, 16 inputs
])
def test_cast_of_an_integer_range_to_a_narrow_float_rounds_its_bounds(name, expected):
    """round(clip(x, 0, 15)) cast to a narrow float: the range becomes the cast bounds. Sound:
    at least the bits of the distinct values ml_dtypes gives for the 16 integers."""
    dtype = getattr(jnp, name)
    rep = acecost.analyze(lambda w, x: jnp.round(jnp.clip(x, 0, 15)).astype(dtype).astype(jnp.float32) @ w,
                          S((K, N), jnp.float32), S((M, K), jnp.float32))
    cast = np.arange(16, dtype=np.float64).astype(getattr(ml_dtypes, name)).astype(np.float64)
    distinct = len(np.unique(cast[np.isfinite(cast)])) + (not np.isfinite(cast).all())
    assert rep.layers[0].bits_a == expected >= int(np.ceil(np.log2(distinct)))
