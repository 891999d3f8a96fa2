"""Bit rules of integer bit operations: shifts, and/or/xor/not, population_count, clz.

Packed int4/int2 weights are unpacked with these (``(p << 4) >> 4`` and
``p >> 4`` are the two sign-extended nibbles of an int8 ``p``, 16 values
each), so each rule states the output's integer range and, where the range
says too little, a global level count. Each output is a function of its
inputs, so :func:`acecost.engine.rules.elementwise.combine`'s count (the product of the
inputs' counts) always holds; the rules only add facts about the result's
bit pattern, for operands in an ``n``-bit integer dtype:

* ``x >> c`` (arithmetic, ``0 <= c < n``) is ``floor(x / 2**c)``:
  ``[lo >> c, hi >> c]``. Logical on non-negative values the same; on
  negative ones the bit pattern ``x + 2**n`` is shifted. A shift by ``c``
  outside ``[0, n)`` gives 0 (logical, left) or the sign (arithmetic).
* ``x << c`` keeps its range when it does not wrap; otherwise it is a
  multiple of ``2**c`` in the dtype: at most ``2**(n-c)`` values.
* ``x & m`` for a constant ``m`` sets only bits of ``m``: at most
  ``2**popcount(m)`` values; ``x | m`` sets the bits of ``m``: at most
  ``2**(n - popcount(m))``. With non-negative operands ``x & y`` lies in
  ``[0, min(hi)]`` and ``x | y``, ``x ^ y`` below the next power of two.
  ``x ^ m`` stays in the aligned block of ``2**bitlength(m)`` values that
  holds ``x``.
* ``~x`` is ``-x - 1`` (unsigned: ``2**n - 1 - x``).
* ``population_count`` of an ``n``-bit value is in ``[0, n]`` (``n + 1``
  levels; ``[0, bitlength(hi)]`` when non-negative); ``clz`` likewise.

Only integer dtypes are handled here; bool ``and``/``or``/``not`` keep
``combine`` and their dtype's two levels. ``tests/test_bit_operations.py``
checks every rule by brute force over all int8, uint8 and int16 inputs.
"""
from __future__ import annotations

import numpy as np

from acecost.engine.values.levels import Levels, dtype_bits, integer_range, is_integer_dtype, np_dtype
from acecost.engine.rules.common import combine, const_scalar
from acecost.engine.rules.counts import out_elements
from acecost.engine.rules.registry import count_as, rule


def _int_facts(eqn):
    """(n bits, dtype min, dtype max, signed) of the output, or None for a non-integer / bool."""
    dt = np_dtype(eqn.outvars[0].aval.dtype)
    if dt == np.bool_ or not is_integer_dtype(dt):
        return None
    lo, hi = integer_range(dt)
    return dtype_bits(dt), lo, hi, lo < 0


def _range(v):
    lv = v.levels
    if lv.lo is None or lv.hi is None:
        return None
    return int(np.floor(lv.lo)), int(np.ceil(lv.hi))


def _shift_amount(v):
    c = const_scalar(v)
    return None if c is None or not float(c).is_integer() else int(c)


def _result(eqn, ins, scope, lo, hi, cap=None, why=None) -> Levels:
    """``combine``'s levels with the range ``[lo, hi]`` and at most ``cap`` values in the whole tensor."""
    lv = combine(ins, eqn.primitive.name, scope)
    if lo is not None:
        lv = lv.with_(lo=float(lo), hi=float(hi), integral=True,
                      why=f"`{eqn.primitive.name}` at {scope or 'top level'}: integers in [{lo}, {hi}]")
    if cap is not None and (lv.count is None or cap <= lv.count):
        return lv.with_(count=cap, axes=frozenset(), flat=None,
                        why=why or f"`{eqn.primitive.name}` at {scope or 'top level'}: at most {cap} values")
    if cap is not None and lv.axes and (lv.flat is None or cap < lv.flat):
        return lv.with_(flat=cap)
    return lv


def _bitlen(x: int) -> int:
    return int(x).bit_length()


@rule("shift_right_arithmetic", "shift_right_logical", "shift_left")
def _shift(eqn, ins, scope):
    facts = _int_facts(eqn)
    if facts is None:
        return combine(ins, eqn.primitive.name, scope)
    n, dlo, dhi, signed = facts
    r, c = _range(ins[0]), _shift_amount(ins[1])
    name = eqn.primitive.name
    if r is None:
        return _result(eqn, ins, scope, None, None)
    lo, hi = r
    if name == "shift_right_arithmetic":
        if lo < 0 and not signed:
            return _result(eqn, ins, scope, None, None)
        if not signed and hi > dhi // 2:  # the top bit shifts in: a pattern of the signed type
            return _result(eqn, ins, scope, None, None)
        if c is None:  # moves toward 0 (non-negative) or -1 (negative), whatever the amount
            return _result(eqn, ins, scope, lo if lo < 0 else 0, hi if hi >= 0 else -1)
        if not 0 <= c < n:
            return _result(eqn, ins, scope, -1 if lo < 0 else 0, -1 if hi < 0 else 0)
        return _result(eqn, ins, scope, lo >> c, hi >> c)
    if name == "shift_right_logical":
        if c is None:
            return _result(eqn, ins, scope, *((0, hi) if lo >= 0 else (None, None)))
        if not 0 <= c < n:
            return _result(eqn, ins, scope, 0, 0)
        if lo >= 0 or c == 0:
            return _result(eqn, ins, scope, lo >> c, hi >> c)
        if hi < 0:  # only negative values: their n-bit patterns, shifted
            return _result(eqn, ins, scope, (lo + 2 ** n) >> c, (hi + 2 ** n) >> c)
        return _result(eqn, ins, scope, 0, (2 ** n - 1) >> c)
    # shift_left
    if c is None:
        return _result(eqn, ins, scope, None, None)
    if not 0 <= c < n:
        return _result(eqn, ins, scope, 0, 0)
    if dlo <= lo << c and hi << c <= dhi:
        return _result(eqn, ins, scope, lo << c, hi << c)
    # wraps: a multiple of 2**c in the dtype
    top = dhi - (2 ** c - 1)
    return _result(eqn, ins, scope, dlo, top, cap=2 ** (n - c),
                   why=f"`shift_left` by {c} of a {n}-bit integer: a multiple of {2 ** c}, "
                       f"at most {2 ** (n - c)} values")


def _popcount_n(m: int, n: int) -> int:
    return bin(m % (2 ** n)).count("1")


def _mask_operand(ins):
    """(the non-constant operand's index, the constant mask) when one operand is a constant integer."""
    for i in (0, 1):
        m = _shift_amount(ins[1 - i])
        if m is not None and _shift_amount(ins[i]) is None:
            return i, m
    return None, None


@rule("and", "or", "xor")
def _bitwise(eqn, ins, scope):
    facts = _int_facts(eqn)
    if facts is None or len(ins) != 2:
        return combine(ins, eqn.primitive.name, scope)
    n, dlo, dhi, signed = facts
    ra, rb = _range(ins[0]), _range(ins[1])
    if ra is None or rb is None:
        return combine(ins, eqn.primitive.name, scope)
    name = eqn.primitive.name
    i, m = _mask_operand(ins)
    (alo, ahi), (blo, bhi) = ra, rb
    cap = why = None
    if name == "and":
        if alo >= 0 and blo >= 0:
            lo, hi = 0, min(ahi, bhi)
        elif alo >= 0 or blo >= 0:  # a non-negative operand bounds the result: its bits only
            lo, hi = 0, (ahi if alo >= 0 else bhi)
        else:
            lo, hi = dlo, max(ahi, bhi)
        if m is not None:
            cap = 2 ** _popcount_n(m, n)
            why = f"`and` with {m:#x}: only its {_popcount_n(m, n)} bits, at most {cap} values"
    elif name == "or":
        if alo >= 0 and blo >= 0:
            lo, hi = max(alo, blo), min(ahi + bhi, 2 ** _bitlen(max(ahi, bhi)) - 1)
        else:  # setting bits of a negative number keeps it negative and does not lower it
            lo = min(alo, blo)
            hi = -1 if ahi < 0 and bhi < 0 else 2 ** _bitlen(max(ahi, bhi, 0)) - 1
            hi = max(hi, -1)
        if m is not None:
            cap = 2 ** (n - _popcount_n(m, n))
            why = f"`or` with {m:#x}: its {_popcount_n(m, n)} bits set, at most {cap} values"
    else:  # xor
        if alo >= 0 and blo >= 0:
            lo, hi = 0, 2 ** _bitlen(max(ahi, bhi)) - 1
        elif m is not None:
            lo, hi = _xor_const_range(*(ra, rb)[i], m)
        else:
            lo, hi = dlo, dhi
    return _result(eqn, ins, scope, max(lo, dlo), min(hi, dhi), cap=cap, why=why)


def _xor_const_range(lo: int, hi: int, m: int) -> tuple[int, int]:
    """``x ^ m`` changes only the bits below ``bitlength(m)`` (m >= 0): x stays in its aligned block;
    ``x ^ m`` for m < 0 is ``~(x ^ ~m)``."""
    if m < 0:
        ylo, yhi = _xor_const_range(lo, hi, ~m)
        return -yhi - 1, -ylo - 1
    block = 2 ** _bitlen(m)
    return (lo // block) * block, (hi // block) * block + block - 1


@rule("not")
def _not(eqn, ins, scope):
    facts, r = _int_facts(eqn), _range(ins[0])
    if facts is None or r is None:
        return combine(ins, "not", scope)
    n, dlo, dhi, signed = facts
    lo, hi = r
    return _result(eqn, ins, scope, *((-hi - 1, -lo - 1) if signed else (dhi - hi, dhi - lo)))


@rule("population_count", "clz")
def _count_bits(eqn, ins, scope):
    facts, r = _int_facts(eqn), _range(ins[0])
    if facts is None:
        return combine(ins, eqn.primitive.name, scope)
    n = facts[0]
    lo, hi = r if r is not None else (facts[1], facts[2])
    if eqn.primitive.name == "population_count":
        if lo >= 0:
            out = (0, _bitlen(hi))
        elif hi < 0:  # the sign bit is set
            out = (1, n)
        else:
            out = (0, n)
    else:  # clz
        if lo > 0:
            out = (n - _bitlen(hi), n - _bitlen(lo))
        elif lo >= 0:
            out = (n - _bitlen(hi), n)
        elif hi < 0:
            out = (0, 0)
        else:
            out = (0, n)
    return _result(eqn, ins, scope, *out)


# ---------------------------------------------------------------- costs

count_as("compare_select", out_elements, "and or xor not")
count_as("integer", out_elements, "shift_left shift_right_logical shift_right_arithmetic population_count clz")
