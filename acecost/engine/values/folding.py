"""Constant folding: an operation on values that are one known number everywhere.

A switch written ``cond(not all(False), quantized, identity)`` (AQT's legacy
activation quantizer) or ``cond(bounds != -1, ...)`` with a literal bound is
decided when the program is built; XLA folds it, and so does acecost, so the
``cond`` rule sees a constant index and prices the branch that runs. Only
inputs proven to be one number at every position (``const`` with ``lo ==
hi``) are folded, and only by the operations below, evaluated on those
numbers; everything else keeps its rule.
"""
from __future__ import annotations

import math
import operator
from typing import Callable, Sequence

import numpy as np

from acecost.engine.values.levels import Levels
from acecost.engine.values.value import Value


def _not(eqn, x):
    return float(not x) if np.dtype(eqn.outvars[0].aval.dtype) == np.bool_ else float(~int(x))


def _binary(op):
    return lambda eqn, a, b: float(op(a, b))


def _bitwise(op):
    return lambda eqn, a, b: float(op(int(a), int(b)))


def _same(eqn, x):
    """A reduction, cast or copy of one number everywhere is that number."""
    return x


def _select(eqn, which, *cases):
    return cases[int(which)] if 0 <= int(which) < len(cases) else math.nan


FOLD: dict[str, Callable[..., float]] = {
    "not": _not,
    "and": _bitwise(operator.and_), "or": _bitwise(operator.or_), "xor": _bitwise(operator.xor),
    "eq": _binary(operator.eq), "ne": _binary(operator.ne), "lt": _binary(operator.lt),
    "le": _binary(operator.le), "gt": _binary(operator.gt), "ge": _binary(operator.ge),
    "add": _binary(operator.add), "sub": _binary(operator.sub), "mul": _binary(operator.mul),
    "max": _binary(max), "min": _binary(min), "neg": lambda eqn, x: -x,
    "reduce_and": _same, "reduce_or": _same, "reduce_max": _same, "reduce_min": _same,
    "convert_element_type": _same, "copy": _same, "copy_p": _same, "broadcast_in_dim": _same,
    "reshape": _same, "squeeze": _same, "expand_dims": _same, "transpose": _same,
    "select_n": _select,
    "clamp": lambda eqn, lo, x, hi: min(max(x, lo), hi),
}


def fold(eqn, ins: Sequence[Value]) -> Levels | None:
    """The folded levels of ``eqn``, or None when it is not an operation on known numbers."""
    fn = FOLD.get(eqn.primitive.name)
    if fn is None or not ins or len(eqn.outvars) != 1:
        return None
    numbers = []
    for v in ins:  # runs for most equations: leave at the first input that is not a known number
        lv = v.levels
        if not lv.const or lv.lo is None or lv.lo != lv.hi:
            return None
        numbers.append(lv.lo)
    dtype = np.dtype(eqn.outvars[0].aval.dtype)
    if dtype.kind not in "biuf":
        return None
    try:
        value = fn(eqn, *numbers)
    except (ArithmeticError, ValueError, TypeError):
        return None
    if not math.isfinite(value) or (dtype.kind in "iu" and not value.is_integer()):
        return None
    return Levels(count=1, lo=value, hi=value, integral=value.is_integer(), const=True,
                  why="constant (folded)")
