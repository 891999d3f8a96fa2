"""Bit-width rules: one small function per primitive.

Each rule takes the equation and the abstract :class:`Value` of every input
and returns the :class:`Levels` of the output. The interpreter then folds in
what the output dtype proves (:func:`levels.normalize`) and moves varying
axes for shape primitives, so rules only state what the primitive itself
does. A primitive with no rule here and no structure from its dtype is
conservatively "no level structure": its consumers fall back to float bits
with a warning naming it.

To support a new primitive, add one function and register it with
``@rule("name")``.
"""
from __future__ import annotations

import math
from functools import reduce
from typing import Callable, Sequence

import numpy as np

from acecost.bits.folding import fold
from acecost.bits.groups import level_groups
from acecost.bits.levels import Levels, describe_range, flat_count, range_count, unknown, with_flat
from acecost.bits.value import Value
from acecost.registry import registrar

Rule = Callable[[object, Sequence[Value], str], Levels]
BIT_RULES: dict[str, Rule] = {}


rule = registrar(BIT_RULES)


def levels_of(eqn, ins: Sequence[Value], scope: str) -> Levels:
    if ins and ins[0].levels.const:  # every input of a foldable equation is a known number
        folded = fold(eqn, ins)
        if folded is not None:
            return folded
    fn = BIT_RULES.get(eqn.primitive.name)
    if fn is None:
        return unknown(f"no bit rule for `{eqn.primitive.name}` at {scope or 'top level'}")
    return fn(eqn, ins, scope)


# --------------------------------------------------------------- helpers

def _neutral(v: Value) -> bool:
    """A constant, or a value that is the same at every position (a per-tensor
    scale or zero point): one value everywhere, so no evidence either way."""
    return v.levels.const or not v.vary


def _case_count(v: Value) -> int:
    return 1 if _neutral(v) else v.levels.count


def combine(ins: Sequence[Value], prim: str, scope: str) -> Levels:
    """Levels of any elementwise function of ``ins``.

    At a fixed position every unstructured operand is one value, so the
    output takes at most the product of the structured operands' level
    counts; its level set varies along their axes and along every axis an
    unstructured operand (a scale, an offset) varies along.
    """
    evidence, all_const, all_neutral, first_unknown = [], True, True, None
    for v in ins:  # one pass: this runs for most equations of a model
        lv = v.levels
        neutral = lv.const or not v.vary  # _neutral(v), inlined
        if lv.count is None:
            if first_unknown is None:
                first_unknown = lv
        elif not neutral:
            evidence.append(v)
        all_const = all_const and lv.const
        all_neutral = all_neutral and neutral
    if not evidence:
        if all_const:
            return Levels(count=1, const=True, why="constant")
        if all_neutral:
            return Levels(count=1, why="one value per tensor")
        lv = first_unknown
        if lv.lo is None and lv.hi is None and not lv.integral and lv.tag is None \
                and not lv.const and not lv.axes:
            return lv  # the same as unknown(lv.why), without a copy
        return unknown(lv.why)
    factors = [v for v in ins if not v.levels.known]
    lv = _product(evidence, factors, prim, scope)
    # a value that varies along an axis only by groups (``z[k // G]``, ``s[g_idx]``) may be read as a
    # per-group offset or scale instead of by its levels; so may a factor constant along an axis
    # another operand varies along (one group there: an e8m0 block scale broadcast over its block)
    # where the product's set varies nowhere, so that its count, kept as ``flat``, loses nothing
    spread = frozenset().union(*(v.vary for v in ins)) if prim in _SCALING and not lv.axes else None
    grouped = [bool(v.groups) or (spread is not None and v.vary != spread) for v in evidence]
    if any(grouped) and not all(grouped):
        alt = _product([v for v, g in zip(evidence, grouped) if not g],
                       factors + [v for v, g in zip(evidence, grouped) if g], prim, scope)
        if alt.count < lv.count:
            lv = with_flat(alt, flat_count(lv))
    if factors and lv.axes and any(v.levels.flat is not None for v in evidence):
        lv = _coarser(lv, evidence, factors, prim, scope)
    return lv


def _coarser(lv: Levels, evidence, factors, prim: str, scope: str) -> Levels:
    """A third proof: operands counted by their whole-tensor bounds (int8 codes of a value
    that also has a finer per-position set, ``round(p / s)`` of a masked ``p``) times the
    factors. It counts more levels, but varies only where the factors do; kept when that
    leaves fewer axes along which the set varies freely, since a contraction can price a set
    only along axes where it is constant or varies by groups."""
    whole = [v.with_(levels=v.levels.with_(count=v.levels.flat, axes=frozenset(), flat=None, groups=()))
             if v.levels.flat is not None else v for v in evidence]
    alt = _product(whole, factors, prim, scope)
    return alt if _free_axes(alt) < _free_axes(lv) else lv


def _free_axes(lv: Levels) -> frozenset[int]:
    return lv.axes - {g[0] for g in lv.groups}


def _product(evidence: Sequence[Value], factors: Sequence[Value], prim: str, scope: str) -> Levels:
    """The levels ``combine`` proves counting ``evidence`` by their levels and reading
    ``factors`` as one value at each position."""
    count = reduce(lambda a, b: a * b, (v.levels.count for v in evidence), 1)
    axes = frozenset().union(*(v.levels.axes for v in evidence))
    axes |= frozenset().union(*(v.vary for v in factors))
    if len(evidence) == 1:
        why = evidence[0].levels.why
        if factors and prim in ("mul", "div", "add", "sub"):
            why = f"{why}, {'scaled' if prim in ('mul', 'div') else 'offset'} at {scope or 'top level'}"
    else:
        why = f"{prim} of {len(evidence)} quantized values at {scope or 'top level'}"
    tag = evidence[0].levels.tag if len(evidence) == 1 and not evidence[0].levels.axes else None
    # a product keeps the scale form: (s1 * c1) * (s2 * c2) = (s1 * s2) * (c1 * c2)
    scaled = prim in _SCALING and all(v.levels.scaled or not v.levels.axes for v in evidence)
    lv = Levels(count=count, axes=axes, why=why, tag=tag if prim in _TAG_KEEPING else None,
                scaled=scaled, groups=level_groups(evidence, factors, axes))
    if axes and any(v.levels.flat is not None for v in evidence):
        lv = with_flat(lv, _flat_product(factors, evidence))
    return lv


def _flat_product(factors: Sequence[Value], evidence: Sequence[Value]) -> int | None:
    """The whole-tensor bound of an elementwise function: the product of the
    operands' whole-tensor bounds, when every other operand is one value for
    the whole tensor (a per-tensor scale)."""
    if any(v.vary for v in factors):
        return None
    count = 1
    for v in evidence:
        f = flat_count(v.levels)
        if f is None:
            return None
        count *= f
    return count


_TAG_KEEPING = {"mul", "div", "convert_element_type"}
_SCALING = {"mul", "div", "neg"}


def _all_integral(ins: Sequence[Value]) -> bool:
    return all(v.levels.integral for v in ins)


def _bounds(v: Value):
    return v.levels.lo, v.levels.hi


def _interval(op, a, b):
    (alo, ahi), (blo, bhi) = a, b
    if None in (alo, ahi, blo, bhi):
        return None, None
    corners = [op(x, y) for x in (alo, ahi) for y in (blo, bhi)]
    if any(isinstance(c, float) and math.isnan(c) for c in corners):
        return None, None
    return min(corners), max(corners)


def _const_scalar(v: Value):
    lv = v.levels
    if lv.const and lv.lo is not None and lv.lo == lv.hi:
        return lv.lo
    return None


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
    op = _SUB if eqn.primitive.name == "sub" else _ADD
    return _with_range(lv, *_interval(op, _bounds(ins[0]), _bounds(ins[1])), _all_integral(ins))


@rule("mul")
def _mul(eqn, ins, scope):
    lv = combine(ins, "mul", scope)
    return _with_range(lv, *_interval(_MUL, _bounds(ins[0]), _bounds(ins[1])), _all_integral(ins))


_ADD, _SUB, _MUL = (lambda x, y: x + y), (lambda x, y: x - y), (lambda x, y: x * y)


def _with_range(lv: Levels, lo, hi, integral: bool) -> Levels:
    if (lo, hi, integral) == (lv.lo, lv.hi, lv.integral):
        return lv
    return lv.with_(lo=lo, hi=hi, integral=integral)


@rule("div")
def _div(eqn, ins, scope):
    lv = combine(ins, "div", scope)
    c = _const_scalar(ins[1])
    if c:
        lo, hi = _interval(lambda x, y: x / y, _bounds(ins[0]), (c, c))
        return lv.with_(lo=lo, hi=hi, integral=ins[0].levels.integral and abs(c) == 1)
    return lv


@rule("neg")
def _neg(eqn, ins, scope):
    lv = combine(ins, "neg", scope)
    lo, hi = _bounds(ins[0])
    return lv.with_(lo=None if hi is None else -hi, hi=None if lo is None else -lo,
                    integral=ins[0].levels.integral)


@rule("abs")
def _abs(eqn, ins, scope):
    lv = combine(ins, "abs", scope)
    lo, hi = _bounds(ins[0])
    if lo is not None and hi is not None:
        m = max(abs(lo), abs(hi))
        lo, hi = (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))), m
    elif lo is None or hi is None:
        lo, hi = 0.0, None
    return lv.with_(lo=lo, hi=hi, integral=ins[0].levels.integral)


def _max_of(vals):
    return None if any(v is None for v in vals) else max(vals)


def _min_of(vals):
    return None if any(v is None for v in vals) else min(vals)


def _known_max(vals):
    known = [v for v in vals if v is not None]
    return max(known) if known else None


def _known_min(vals):
    known = [v for v in vals if v is not None]
    return min(known) if known else None


@rule("max")
def _max(eqn, ins, scope):
    lv = combine(ins, "max", scope)
    return _clipped(lv.with_(lo=_known_max([v.levels.lo for v in ins]),
                             hi=_max_of([v.levels.hi for v in ins]), integral=_all_integral(ins)), "max", scope)


@rule("min")
def _min(eqn, ins, scope):
    lv = combine(ins, "min", scope)
    return _clipped(lv.with_(lo=_min_of([v.levels.lo for v in ins]),
                             hi=_known_min([v.levels.hi for v in ins]), integral=_all_integral(ins)), "min", scope)


@rule("clamp")
def _clamp(eqn, ins, scope):
    """clamp(lo, x, hi); bounds given in either order are read as an interval."""
    low, x, high = ins
    lv = combine(ins, "clamp", scope)
    a, b = low.levels.lo, high.levels.hi
    if a is not None and b is not None and a > b:
        a, b = b, a
    # the result is in [a, b] however far outside it x lies: x = 5 clamped to [0, 1] is 1
    lo = _known_max([x.levels.lo, a])
    hi = _known_min([x.levels.hi, b])
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
                              f"unbounded (no clip to a range before or after it)")
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


# Data movement, bit-operation and reduction rules live in their own modules; importing them registers them.
from acecost.bits import bitwise as _bitwise  # noqa: E402,F401
from acecost.bits import movement as _movement  # noqa: E402,F401
from acecost.bits import reductions as _reductions  # noqa: E402,F401
