"""What the bit rules of several families share: ``combine`` and interval helpers.

``combine`` gives the levels of any elementwise function of its inputs (the
product of the structured operands' level counts); the helpers read and
combine the proven ranges of values, ``None`` standing for unbounded.
"""
from __future__ import annotations

import math
from functools import reduce
from typing import Sequence

from acecost.engine.values.groups import level_groups
from acecost.engine.values.levels import Levels, flat_count, unknown, with_flat
from acecost.engine.values.value import Value

def is_neutral(v: Value) -> bool:
    """A constant, or a value that is the same at every position (a per-tensor
    scale or zero point): one value everywhere, so no evidence either way."""
    return v.levels.const or not v.vary


def case_count(v: Value) -> int:
    return 1 if is_neutral(v) else v.levels.count


def combine(ins: Sequence[Value], prim: str, scope: str) -> Levels:
    """Levels of any elementwise function of ``ins``.

    At a fixed position every unstructured operand is one value, so the
    output takes at most the product of the structured operands' level
    counts; its level set varies along their axes and along every axis an
    unstructured operand (a scale, an offset) varies along.
    """
    evidence, all_const, all_neutral, account, widest = [], True, True, None, -1
    for v in ins:  # one pass: this runs for most equations of a model
        lv = v.levels
        neutral = lv.const or not v.vary  # is_neutral(v), inlined
        if lv.count is None:
            # the account that goes on: the operand varying along the most axes, the first of them (a
            # bias, a gain, a per-token norm or a class token concatenated before the patches is
            # constant along some axis: the data it meets explains the result)
            if len(v.vary) > widest:
                account, widest = lv, len(v.vary)
        elif not neutral:
            evidence.append(v)
        all_const = all_const and lv.const
        all_neutral = all_neutral and neutral
    if not evidence:
        if all_const:
            return Levels(count=1, const=True, why="constant")
        if all_neutral:
            return Levels(count=1, why="one value per tensor")
        lv = account
        if lv.lo is None and lv.hi is None and not lv.integral and lv.tag is None \
                and not lv.const and not lv.axes:
            return lv  # the same as unknown(lv.why, cause=lv.cause), without a copy
        return unknown(lv.why, cause=lv.cause)
    factors = [v for v in ins if not v.levels.known]
    lv = _product(evidence, factors, prim, scope)
    # a value that varies along an axis only by groups (``z[k // G]``, ``s[g_idx]``) may be read as a
    # per-group offset or scale instead of by its levels; so may a factor constant along an axis
    # another operand varies along (one group there: an e8m0 block scale broadcast over its block)
    # where the product's set varies nowhere, so that its count, kept as ``flat``, loses nothing
    spread = frozenset().union(*(v.vary for v in ins)) if prim in SCALING and not lv.axes else None
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
    cause = None
    if len(evidence) == 1:
        why, cause = evidence[0].levels.why, evidence[0].levels.cause  # its account, and its cause, go on
        if factors and prim in ("mul", "div", "add", "sub"):
            why = f"{why}, {'scaled' if prim in ('mul', 'div') else 'offset'} at {scope or 'top level'}"
    else:
        why = f"{prim} of {len(evidence)} quantized values at {scope or 'top level'}"
    tag = evidence[0].levels.tag if len(evidence) == 1 and not evidence[0].levels.axes else None
    # a product keeps the scale form: (s1 * c1) * (s2 * c2) = (s1 * s2) * (c1 * c2)
    scaled = prim in SCALING and all(v.levels.scaled or not v.levels.axes for v in evidence)
    lv = Levels(count=count, axes=axes, why=why, tag=tag if prim in TAG_KEEPING else None,
                scaled=scaled, groups=level_groups(evidence, factors, axes), cause=cause)
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


TAG_KEEPING = {"mul", "div", "convert_element_type"}
SCALING = {"mul", "div", "neg"}


def all_integral(ins: Sequence[Value]) -> bool:
    return all(v.levels.integral for v in ins)


def bounds_of(v: Value):
    return v.levels.lo, v.levels.hi


def interval_of(op, a, b):
    (alo, ahi), (blo, bhi) = a, b
    if None in (alo, ahi, blo, bhi):
        return None, None
    corners = [op(x, y) for x in (alo, ahi) for y in (blo, bhi)]
    if any(isinstance(c, float) and math.isnan(c) for c in corners):
        return None, None
    return min(corners), max(corners)


def const_scalar(v: Value):
    lv = v.levels
    if lv.const and lv.lo is not None and lv.lo == lv.hi:
        return lv.lo
    return None



ADD, SUB, MUL = (lambda x, y: x + y), (lambda x, y: x - y), (lambda x, y: x * y)

def max_or_none(vals):
    return None if any(v is None for v in vals) else max(vals)


def min_or_none(vals):
    return None if any(v is None for v in vals) else min(vals)


def max_known(vals):
    known = [v for v in vals if v is not None]
    return max(known) if known else None


def min_known(vals):
    known = [v for v in vals if v is not None]
    return min(known) if known else None
