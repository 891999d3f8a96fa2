"""``acecost.register_primitive``: a primitive acecost does not know, priced as the user says.

Each primitive is made here with ``jax.extend.core.Primitive`` and an
abstract evaluation only (it is traced, never run); expected numbers are
closed forms of the shapes.
"""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import pytest
from jax.extend.core import Primitive

import acecost

_IDS = itertools.count()


def matmul_primitive() -> Primitive:
    """``x [M, K] @ w [K, N]`` as an opaque primitive: a custom kernel's shape."""
    prim = Primitive(f"my_matmul_{next(_IDS)}")
    prim.def_abstract_eval(lambda x, w: jax.core.ShapedArray((x.shape[0], w.shape[1]), x.dtype))
    return prim


def matmul_macs(eqn) -> int:
    (m, k), (_, n) = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
    return m * k * n


X = jax.ShapeDtypeStruct((16, 256), jnp.float32)
W = jax.ShapeDtypeStruct((256, 64), jnp.float32)


def binarized(prim):
    return lambda w, x: prim.bind(jnp.sign(x), jnp.sign(w))


def test_registered_contraction_of_binarized_operands():
    prim = matmul_primitive()
    acecost.register_primitive(prim, operands=(0, 1), macs=matmul_macs)
    rep = acecost.analyze(binarized(prim), W, X)
    assert rep.totals.macs == 16 * 256 * 64 == 262_144
    assert rep.totals.ace == 262_144 * 1 * 1
    assert rep.totals.complete
    (layer,) = rep.layers
    assert (layer.bits_a, layer.bits_w, layer.primitive) == (1, 1, prim.name)
    assert rep.totals.size_bits == 256 * 64 * 1  # the weight is stored at the width it is multiplied at


def test_without_registration_the_totals_are_incomplete_and_the_warning_names_the_registry():
    prim = matmul_primitive()
    rep = acecost.analyze(binarized(prim), W, X)
    assert not rep.totals.complete
    assert rep.totals.macs == 0
    assert [u["primitive"] for u in rep.unsupported] == [prim.name]
    (warning,) = [w for w in rep.warnings if prim.name in w]
    assert "acecost.register_primitive" in warning


def test_operands_pick_the_inputs_that_are_multiplied():
    prim = Primitive(f"scaled_matmul_{next(_IDS)}")  # (scale, x, w) -> scale * (x @ w)
    prim.def_abstract_eval(lambda s, x, w: jax.core.ShapedArray((x.shape[0], w.shape[1]), x.dtype))
    acecost.register_primitive(
        prim, operands=(1, 2),
        macs=lambda eqn: eqn.invars[1].aval.shape[0] * eqn.invars[1].aval.shape[1] * eqn.invars[2].aval.shape[1])
    s = jax.ShapeDtypeStruct((), jnp.float32)
    rep = acecost.analyze(lambda w, s, x: prim.bind(s, jnp.sign(x), jnp.round(jnp.clip(w, -8, 7))), W, s, X)
    (layer,) = rep.layers
    assert (layer.macs, layer.bits_a, layer.bits_w) == (262_144, 1, 4)  # sign: 2 levels; [-8, 7]: 16 levels
    assert layer.lhs_shape == [16, 256] and layer.rhs_shape == [256, 64]


def test_float_operands_of_a_registered_contraction_count_float_bits():
    prim = matmul_primitive()
    acecost.register_primitive(prim.name, macs=matmul_macs)  # by name
    rep = acecost.analyze(lambda w, x: prim.bind(x, w), W, X, float_bits=16)
    assert rep.totals.macs == 262_144 and rep.totals.ace == 262_144 * 16 * 16


def test_registered_elementwise_work():
    prim = Primitive(f"my_gelu_{next(_IDS)}")
    prim.def_abstract_eval(lambda x: jax.core.ShapedArray(x.shape, x.dtype))
    acecost.register_primitive(prim, elementwise=lambda eqn: 3 * eqn.outvars[0].aval.size, category="transcendental")
    rep = acecost.analyze(lambda w, x: prim.bind(x @ w), W, X)
    assert rep.totals.complete
    assert rep.elementwise_by_category.get("transcendental") == 3 * 16 * 64


@pytest.mark.parametrize("kwargs, message", [
    ({}, "exactly one of"),
    ({"macs": matmul_macs, "elementwise": matmul_macs}, "exactly one of"),
    ({"macs": matmul_macs, "operands": (0, 0)}, "two different input positions"),
    ({"elementwise": matmul_macs, "category": "magic"}, "unknown category"),
])
def test_bad_registrations_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        acecost.register_primitive(matmul_primitive(), **kwargs)


def test_a_built_in_primitive_cannot_be_replaced():
    with pytest.raises(ValueError, match="built-in"):
        acecost.register_primitive("dot_general", macs=matmul_macs)
