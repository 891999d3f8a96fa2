"""The elementwise family: arithmetic, comparisons, rounding, transcendentals.

Each bit rule takes the equation and the abstract :class:`Value` of every
input and returns the :class:`Levels` of the output. The walker then folds
in what the output dtype proves (:func:`levels.normalize`) and moves varying
axes for shape primitives, so rules only state what the primitive itself
does. A primitive with no rule in any family and no structure from its dtype
is conservatively "no level structure": its consumers fall back to float
bits with a warning naming it. Their costs (one operation per output
element, by category) are filed at the end, beside the rules.

To support a new elementwise primitive, add one function here with
``@rule("name")`` and its name to a ``count_as`` line.
"""
from __future__ import annotations

import math

import numpy as np

from acecost.engine.rules.common import (ADD, MUL, SUB, all_integral, bounds_of, combine,
                                         const_scalar, interval_of, max_known, max_or_none, min_known,
                                         min_or_none)
from acecost.engine.rules.counts import out_elements
from acecost.engine.rules.registry import count_as, free, rule
from acecost.engine.values.levels import Levels, describe_range, range_count
from acecost.report.model import FallbackCause

# ------------------------------------------------------ elementwise rules

_GENERIC = (
    "exp exp2 reciprocal log log1p expm1 tanh logistic sin cos tan asin acos atan sinh cosh asinh acosh "
    "atanh atan2 sqrt rsqrt cbrt pow integer_pow square erf erfc erf_inv lgamma digamma "
    "is_finite nextafter rem eq ne lt le gt ge eq_to le_to lt_to imag real conj complex "
).split()


@rule(*_GENERIC)
def _generic(eqn, ins, scope):
    return combine(ins, eqn.primitive.name, scope)


@rule("add", "add_any", "sub")
def _add_sub(eqn, ins, scope):
    lv = combine(ins, eqn.primitive.name, scope)
    if len(ins) != 2:
        return lv
    op = SUB if eqn.primitive.name == "sub" else ADD
    return _with_range(lv, *interval_of(op, bounds_of(ins[0]), bounds_of(ins[1])), all_integral(ins))


@rule("mul")
def mul_rule(eqn, ins, scope):
    lv = combine(ins, "mul", scope)
    return _with_range(lv, *interval_of(MUL, bounds_of(ins[0]), bounds_of(ins[1])), all_integral(ins))




def _with_range(lv: Levels, lo, hi, integral: bool) -> Levels:
    if (lo, hi, integral) == (lv.lo, lv.hi, lv.integral):
        return lv
    return lv.with_(lo=lo, hi=hi, integral=integral)


@rule("div")
def _div(eqn, ins, scope):
    lv = combine(ins, "div", scope)
    c = const_scalar(ins[1])
    if c:
        lo, hi = interval_of(lambda x, y: x / y, bounds_of(ins[0]), (c, c))
        return lv.with_(lo=lo, hi=hi, integral=ins[0].levels.integral and abs(c) == 1)
    return lv


@rule("neg")
def _neg(eqn, ins, scope):
    lv = combine(ins, "neg", scope)
    lo, hi = bounds_of(ins[0])
    return lv.with_(lo=None if hi is None else -hi, hi=None if lo is None else -lo,
                    integral=ins[0].levels.integral)


@rule("abs")
def _abs(eqn, ins, scope):
    lv = combine(ins, "abs", scope)
    lo, hi = bounds_of(ins[0])
    if lo is not None and hi is not None:
        m = max(abs(lo), abs(hi))
        lo, hi = (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))), m
    elif lo is None or hi is None:
        lo, hi = 0.0, None
    return lv.with_(lo=lo, hi=hi, integral=ins[0].levels.integral)


@rule("max")
def _max(eqn, ins, scope):
    lv = combine(ins, "max", scope)
    return _clipped(lv.with_(lo=max_known([v.levels.lo for v in ins]),
                             hi=max_or_none([v.levels.hi for v in ins]), integral=all_integral(ins)), "max", scope)


@rule("min")
def _min(eqn, ins, scope):
    lv = combine(ins, "min", scope)
    return _clipped(lv.with_(lo=min_or_none([v.levels.lo for v in ins]),
                             hi=min_known([v.levels.hi for v in ins]), integral=all_integral(ins)), "min", scope)


@rule("clamp")
def _clamp(eqn, ins, scope):
    """clamp(lo, x, hi); bounds given in either order are read as an interval."""
    low, x, high = ins
    lv = combine(ins, "clamp", scope)
    a, b = low.levels.lo, high.levels.hi
    if a is not None and b is not None and a > b:
        a, b = b, a
    # the result is in [a, b] however far outside it x lies: x = 5 clamped to [0, 1] is 1
    lo = max_known([x.levels.lo, a])
    hi = min_known([x.levels.hi, b])
    lo = lo if lo is None or b is None else min(lo, b)
    hi = hi if hi is None or a is None else max(hi, a)
    integral = x.levels.integral and low.levels.integral and high.levels.integral
    return _clipped(lv.with_(lo=lo, hi=hi, integral=integral, why=lv.why or f"clip to [{a}, {b}]"),
                    "clamp", scope)


def _clipped(lv: Levels, prim: str, scope: str) -> Levels:
    """Integers that a clip has just bounded: say so, rather than keep the why of the unbounded input."""
    if lv.known or not lv.integral or range_count(lv.lo, lv.hi) is None:
        return lv
    return lv.with_(why=f"integers clipped to {describe_range(lv)} by `{prim}` at {scope or 'top level'}")


def _rounding(name):
    fn = {"round": lambda v: float(np.round(v)), "floor": math.floor, "ceil": math.ceil}[name]

    def rounding(eqn, ins, scope):
        x = ins[0]
        lv = combine(ins, name, scope)
        lo = None if x.levels.lo is None else fn(x.levels.lo)
        hi = None if x.levels.hi is None else fn(x.levels.hi)
        if lo is None or hi is None:
            if not lv.known:
                lv = lv.with_(why=f"`{name}` at {scope or 'top level'} makes integers but they are "
                              f"unbounded (no clip to a range before or after it)",
                              cause=FallbackCause.UNBOUNDED_ROUNDING)
        else:
            lv = lv.with_(why=f"{name} of a value clipped to {describe_range(x.levels)}")
        return lv.with_(lo=lo, hi=hi, integral=True, tag=None)

    return rounding


for _name in ("round", "floor", "ceil"):
    rule(_name)(_rounding(_name))


@rule("sign")
def _sign(eqn, ins, scope):
    return Levels(count=2, lo=-1.0, hi=1.0, integral=True,
                  why="sign (0 counted as +1, the binary-kernel convention)")


@rule("iota")
def _iota(eqn, ins, scope):
    """0 .. n-1 along one dimension: n levels, a set the same everywhere (its varying is ``vary``'s)."""
    n = eqn.params["shape"][eqn.params["dimension"]]
    return Levels(count=n, lo=0, hi=n - 1, integral=True, why=f"iota of {n} values")


# ---------------------------------------------------------------- costs

count_as("arithmetic", out_elements,
         "add add_any sub mul div neg abs max min rem square integer_pow pow sqrt rsqrt cbrt reciprocal nextafter")
count_as("transcendental", out_elements,
         "exp exp2 log log1p expm1 tanh logistic sin cos tan asin acos atan sinh cosh asinh "
         "acosh atanh atan2 erf erfc lgamma digamma")
count_as("compare_select", out_elements, "eq ne lt le gt ge eq_to le_to lt_to is_finite clamp")
count_as("quantize", out_elements, "round floor ceil sign")
count_as("rng", out_elements,
         "random_bits random_seed random_wrap random_unwrap random_fold_in random_split threefry2x32 erf_inv")
free("iota")
