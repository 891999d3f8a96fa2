"""Operations on known numbers are folded, so a switch decided at build time prices one branch.

Each expected figure is a closed form: an (m, k) @ (k, n) product is m*k*n
MACs, at bits_a x bits_w each.
"""
import jax
import jax.numpy as jnp
from jax import lax

import acecost

S, F32 = jax.ShapeDtypeStruct, jnp.float32


def test_aqt_legacy_switch_not_all_false_is_the_quantized_branch():
    # AQT's legacy activation quantizer: cond(not all(False), quantized, identity)
    def f(w, x):
        q = jnp.clip(jnp.round(x), -7, 7)  # 15 levels: 4 bits
        a = lax.cond(~jnp.all(False), lambda: q, lambda: x)
        return a @ jnp.sign(w)

    rep = acecost.analyze(f, S((16, 8), F32), S((4, 16), F32))
    assert [(r.bits_a, r.bits_w) for r in rep.layers] == [(4, 1)]
    assert rep.totals.ace == 4 * 16 * 8 * 4 * 1
    assert rep.branches[0]["mode"] == "constant" and rep.branches[0]["chosen"] == 1


def test_bound_compared_with_a_literal():
    # cond(bounds != -1, quantize, identity) with the bound a constant of the program
    def f(w, x):
        bound = jnp.float32(3.0)
        return lax.cond(bound != -1, lambda: jnp.clip(jnp.round(x), -bound, bound), lambda: x) @ w

    rep = acecost.analyze(f, S((16, 8), F32), S((4, 16), F32))
    assert rep.layers[0].bits_a == 3  # 7 levels: [-3, 3]


def test_out_of_range_switch_index_is_clamped_like_jax():
    # lax.switch clamps its index to [0, n-1]: 5 runs the last branch
    def f(w, x):
        return lax.switch(jnp.int32(5), [lambda: x @ w, lambda: ((x @ w) @ w.T) @ w])

    rep = acecost.analyze(f, S((16, 16), F32), S((4, 16), F32))
    assert rep.totals.macs == 3 * 4 * 16 * 16
    assert rep.branches[0]["mode"] == "constant"


def test_clip_outside_the_index_range_still_bounds_it():
    # clip(i, 5, 9) is at least 5: clamped to [0, 2] it is always 2
    def f(w, x, i):
        return lax.switch(jnp.clip(i, 5, 9), [lambda: x @ w, lambda: ((x @ w) @ w.T) @ w, lambda: x @ w])

    rep = acecost.analyze(f, S((16, 16), F32), S((4, 16), F32), S((), jnp.int32))
    assert rep.totals.macs == 4 * 16 * 16
    assert rep.branches[0]["reason"] == "the index is always 2"


def test_a_runtime_predicate_is_not_folded():
    def f(w, x, flag):
        return lax.cond(flag, lambda: x @ w, lambda: ((x @ w) @ w.T) @ w)

    rep = acecost.analyze(f, S((16, 16), F32), S((4, 16), F32), S((), jnp.bool_))
    assert rep.totals.macs == 3 * 4 * 16 * 16  # --cond max: the costlier branch
    assert rep.branches[0]["mode"] == "max"
