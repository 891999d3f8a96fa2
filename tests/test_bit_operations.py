"""Bit rules of integer bit operations (issue #20, part 2), checked by brute force.

Every rule of ``acecost/engine/rules/bitwise.py`` is run on an input whose proven
range is ``[lo, hi]`` (the whole dtype, or a clip of it), and the same
operation is evaluated by jax on *every* integer of that range. A rule is
sound when the proven range holds every result and the proven count is at
least the number of distinct results; where the docs claim a count is exact
(nibble extraction, masks, shifts of a whole int8/uint8), it must equal it.
"""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from acecost.api import _prepare
from acecost.engine.walker import Options
from acecost.engine.tally import Tally

S = jax.ShapeDtypeStruct


def proven(fn, dtype, lo=None, hi=None):
    """The Levels acecost proves for ``fn(x)``, x an integer tensor clipped to ``[lo, hi]``."""
    def g(x):
        if lo is not None:
            x = jnp.clip(x, jnp.asarray(lo, dtype), jnp.asarray(hi, dtype))
        return fn(x)

    closed = jax.make_jaxpr(g)(S((4, 4), dtype))
    interp, inputs = _prepare(closed, [None] * len(closed.jaxpr.invars), Options())
    (out,) = interp.run(closed.jaxpr, closed.consts, inputs, "", Tally())
    return out.levels


def actual(fn, dtype, lo=None, hi=None) -> np.ndarray:
    info = np.iinfo(dtype)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    return np.asarray(fn(jnp.arange(lo, hi + 1, dtype=jnp.int32)
                         .astype(dtype)))


def check(fn, dtype, lo=None, hi=None, exact=False):
    lv = proven(fn, dtype, lo, hi)
    out = actual(fn, dtype, lo, hi).astype(np.int64)
    distinct = len(np.unique(out))
    assert lv.count is not None and lv.count >= distinct, (lv, distinct)
    assert lv.lo is not None and lv.lo <= out.min() and out.max() <= lv.hi, (lv, out.min(), out.max())
    if exact:
        assert (lv.count, lv.lo, lv.hi) == (distinct, out.min(), out.max()), (lv, distinct, out.min(), out.max())
    return lv


DTYPES = [np.int8, np.uint8, np.int16, np.uint16]
RANGES = {
    np.int8: [None, (-3, 100), (0, 77), (-128, -5), (-1, 0)],
    np.uint8: [None, (0, 100), (17, 200), (128, 255)],
    np.int16: [None, (-300, 1000), (-5000, -1)],
    np.uint16: [None, (100, 40000)],
}
CASES = [(dt, r) for dt in DTYPES for r in RANGES[dt]]
AMOUNTS = [0, 1, 3, 4, 7, 8, 9, 15, 16, 17]


def _bounds(r):
    return (None, None) if r is None else r


@pytest.mark.parametrize("dtype, r", CASES)
@pytest.mark.parametrize("op", [lax.shift_right_arithmetic, lax.shift_right_logical, lax.shift_left])
def test_shifts_by_a_constant_are_sound(dtype, r, op):
    for c in AMOUNTS:
        check(lambda x: op(x, jnp.asarray(c, dtype)), dtype, *_bounds(r))


@pytest.mark.parametrize("dtype, r", CASES)
@pytest.mark.parametrize("op", [lax.shift_right_arithmetic, lax.shift_right_logical, lax.shift_left])
def test_shifts_by_a_variable_amount_are_sound(dtype, r, op):
    """The amount is a second input clipped to [0, 3]: every pair is evaluated."""
    lo, hi = _bounds(r)
    info = np.iinfo(dtype)
    lo, hi = (info.min, info.max) if lo is None else (lo, hi)

    closed = jax.make_jaxpr(lambda x, c: op(jnp.clip(x, jnp.asarray(lo, dtype), jnp.asarray(hi, dtype)),
                                            jnp.clip(c, jnp.asarray(0, dtype), jnp.asarray(3, dtype))))(
        S((4,), dtype), S((4,), dtype))
    interp, inputs = _prepare(closed, [None, None], Options())
    (out,) = interp.run(closed.jaxpr, closed.consts, inputs, "", Tally())
    xs = jnp.arange(lo, hi + 1, dtype=jnp.int32).astype(dtype)
    vals = np.concatenate([np.asarray(op(xs, jnp.full_like(xs, c))) for c in range(4)]).astype(np.int64)
    lv = out.levels
    assert lv.count >= len(np.unique(vals))
    if lv.lo is not None:
        assert lv.lo <= vals.min() and vals.max() <= lv.hi


MASKS = [0x0F, 0xF0, 0x03, 0x01, 0x7F, 0x55, 0, -16, -1, -128, 0x3C]


@pytest.mark.parametrize("dtype, r", CASES)
@pytest.mark.parametrize("op", [lax.bitwise_and, lax.bitwise_or, lax.bitwise_xor])
def test_and_or_xor_with_a_constant_mask_are_sound(dtype, r, op):
    bits = np.iinfo(dtype).bits
    for m in MASKS:
        m = np.asarray(m % 2 ** bits, np.uint64).astype(dtype)  # the mask's bit pattern in the dtype
        check(lambda x: op(x, jnp.asarray(m, dtype)), dtype, *_bounds(r))
        check(lambda x: op(jnp.asarray(m, dtype), x), dtype, *_bounds(r))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
@pytest.mark.parametrize("op", [lax.bitwise_and, lax.bitwise_or, lax.bitwise_xor])
def test_and_or_xor_of_two_variables_are_sound(dtype, op):
    """Both operands clipped to ranges; every pair of values evaluated."""
    ranges = [(0, 13), (5, 100), (-7, 20), (-100, -3)] if dtype == np.int8 else [(0, 13), (5, 100), (130, 255)]
    for (alo, ahi), (blo, bhi) in itertools.product(ranges, repeat=2):
        closed = jax.make_jaxpr(lambda a, b: op(jnp.clip(a, jnp.asarray(alo, dtype), jnp.asarray(ahi, dtype)),
                                                jnp.clip(b, jnp.asarray(blo, dtype), jnp.asarray(bhi, dtype))))(
            S((4,), dtype), S((4,), dtype))
        interp, inputs = _prepare(closed, [None, None], Options())
        (out,) = interp.run(closed.jaxpr, closed.consts, inputs, "", Tally())
        a = np.arange(alo, ahi + 1)[:, None]
        b = np.arange(blo, bhi + 1)[None, :]
        vals = np.asarray(op(jnp.asarray(a, dtype), jnp.asarray(b, dtype))).astype(np.int64)
        lv = out.levels
        assert lv.count >= len(np.unique(vals))
        assert lv.lo <= vals.min() and vals.max() <= lv.hi, (alo, ahi, blo, bhi, lv)


@pytest.mark.parametrize("dtype, r", CASES)
@pytest.mark.parametrize("op", [lax.bitwise_not, lax.population_count, lax.clz])
def test_not_popcount_clz_are_sound(dtype, r, op):
    check(op, dtype, *_bounds(r))


# ---------------------------------------------------------- exact claims

def test_nibbles_of_int8_have_exactly_16_values():
    assert check(lambda p: (p << 4) >> 4, np.int8, exact=True)[2:4] == (-8.0, 7.0)
    assert check(lambda p: p >> 4, np.int8, exact=True)[2:4] == (-8.0, 7.0)


def test_crumbs_of_int8_have_exactly_4_values():
    """int2 packed four to a byte: (p << 6) >> 6 and (p << 2) >> 6 hold [-2, 1]."""
    for f in (lambda p: (p << 6) >> 6, lambda p: (p << 4) >> 6, lambda p: (p << 2) >> 6, lambda p: p >> 6):
        lv = check(f, np.int8, exact=True)
        assert (lv.count, lv.lo, lv.hi) == (4, -2, 1)


def test_masks_and_logical_shifts_are_exact():
    lv = check(lambda p: p & 0x0F, np.int8, exact=True)
    assert (lv.count, lv.lo, lv.hi) == (16, 0, 15)
    lv = check(lambda p: lax.shift_right_logical(p, jnp.uint8(4)), np.uint8, exact=True)
    assert (lv.count, lv.lo, lv.hi) == (16, 0, 15)
    lv = check(lambda p: lax.shift_right_logical(p, jnp.int8(4)), np.int8, exact=True)
    assert (lv.count, lv.lo, lv.hi) == (16, 0, 15)
    lv = check(lambda p: (p >> 4) & 0x0F, np.uint8, exact=True)
    assert lv.count == 16
    assert check(lambda p: p << 4, np.int8, exact=True).count == 16
    assert check(lambda p: p << 4, np.uint8, exact=True).count == 16
    assert check(lambda p: p & 0x55, np.uint8).count == 16  # 4 bits: 16 values (range says 86)
    assert check(lambda p: p | 0xF0, np.uint8, exact=True).count == 16


@pytest.mark.parametrize("dtype, n", [(np.int8, 8), (np.uint8, 8), (np.int16, 16), (np.uint16, 16)])
def test_popcount_of_an_n_bit_value_has_n_plus_one_levels(dtype, n):
    lv = check(lax.population_count, dtype, exact=True)
    assert (lv.count, lv.lo, lv.hi) == (n + 1, 0, n)


def test_not_of_int8_is_exact():
    lv = check(lax.bitwise_not, np.int8, -3, 100, exact=True)
    assert (lv.lo, lv.hi) == (-101, 2)
