"""Bit rules of reductions and contractions: what a primitive that combines many
elements into one proves.

An extreme (``reduce_max``, max-pooling) picks one of its inputs, so the
levels stay where the set is the same along what it reduces. A sum over
many values has no level structure; for integers only the range an
accumulator holds is kept (:func:`_sum_range`). A contraction of products
only (no summed dimension) is a ``mul`` with the operands' axes moved.
"""
from __future__ import annotations

import math

import numpy as np

from acecost.bits.axes import axis_map, product_axes
from acecost.bits.groups import moved as moved_groups, shape_groups
from acecost.bits.levels import Levels, integer_range, is_integer_dtype, unknown
from acecost.bits.rules import _MUL, _bounds, _interval, _mul, rule
from acecost.cost.macs import MAC_RULES


@rule("reduce_max", "reduce_min")
def _reduce_extreme(eqn, ins, scope):
    lv = ins[0].levels
    reduced = set(eqn.params["axes"])
    if lv.known and not (lv.axes & reduced):
        return lv.with_(axes=axis_map(eqn)(lv.axes), const=False,
                        groups=shape_groups(eqn, ins[0].shape, lv.axes, lv.groups))
    return unknown(lv.why or f"reduction at {scope}", lo=lv.lo, hi=lv.hi, integral=lv.integral)


@rule("reduce_sum", "reduce_prod", "cumsum", "cumprod", "cumlogsumexp", "reduce_window_sum")
def _accumulation(eqn, ins, scope):
    """A sum (or product) over many elements: no level structure, whatever its inputs."""
    name = eqn.primitive.name
    why = f"output of `{name}` at {scope or 'top level'} (a sum over many values has no level structure)"
    x = ins[0]
    if name == "reduce_sum" and is_integer_dtype(eqn.outvars[0].aval.dtype) and x.levels.integral:
        n = x.size // max(1, math.prod(eqn.outvars[0].aval.shape))
        return unknown(**{"why": why, **_sum_range(x.levels.lo, x.levels.hi, n, eqn.outvars[0].aval.dtype)})
    return unknown(why)


def _sum_range(lo, hi, n: int, dtype) -> dict:
    """An integer sum of at most ``n`` terms in [lo, hi] lies in [n min(lo, 0), n max(hi, 0)]
    (what an accumulator holds), unless that overflows its dtype: then it wraps and only
    integrality is left."""
    if lo is None or hi is None:
        return {"integral": True}
    lo, hi = min(lo, 0), max(hi, 0)
    dlo, dhi = integer_range(np.dtype(dtype))
    if n * lo < dlo or n * hi > dhi:
        return {"integral": True}
    return {"lo": n * lo, "hi": n * hi, "integral": True,
            "why": f"integer sum of at most {n} terms in [{lo:g}, {hi:g}]"}


@rule("reduce_window_max", "reduce_window_min", "cummax", "cummin")
def _window_extreme(eqn, ins, scope):
    """Max-pooling picks one of its inputs: the levels stay, if the set is the same in the window."""
    lv = ins[0].levels
    dims = eqn.params.get("window_dimensions")
    pooled = {i for i, d in enumerate(dims) if d > 1} if dims is not None else {eqn.params.get("axis", 0)}
    if lv.known and not (lv.axes & pooled):
        return lv.with_(const=False)
    return unknown(lv.why or f"pooling at {scope}", lo=lv.lo, hi=lv.hi, integral=lv.integral)


@rule("argmax", "argmin")
def _arg_extreme(eqn, ins, scope):
    (axis,) = eqn.params["axes"]
    n = ins[0].shape[axis]
    return Levels(count=n, lo=0, hi=n - 1, integral=True, why=f"index among {n}")


@rule("dot_general", "conv_general_dilated", "ragged_dot_general", "ragged_dot")
def _contraction(eqn, ins, scope):
    maps = product_axes(eqn)
    if maps is not None:  # products only: combined like ``mul``, each operand's axes moved to the output's
        moved = [v.with_(levels=v.levels.with_(axes=frozenset(m[a] for a in v.levels.axes),
                                               groups=moved_groups(v.levels.groups, m)),
                         vary=frozenset(m[a] for a in v.vary), groups=moved_groups(v.groups, m))
                 for m, v in zip(maps, ins)]
        return _mul(eqn, moved, scope)
    why = (f"output of `{eqn.primitive.name}` at {scope or 'top level'} "
           "(a sum of products has no level structure)")
    lhs, rhs = ins[0], ins[1]
    if not (is_integer_dtype(eqn.outvars[0].aval.dtype) and lhs.levels.integral and rhs.levels.integral):
        return unknown(why)
    lo, hi = _interval(_MUL, _bounds(lhs), _bounds(rhs))
    out = eqn.outvars[0].aval
    if eqn.primitive.name == "dot_general":
        terms = MAC_RULES["dot_general"](eqn).macs // max(1, math.prod(out.shape))
    else:  # at most the kernel's taps x input features of a group per output
        terms = rhs.size // rhs.shape[eqn.params["dimension_numbers"].rhs_spec[0]]
    return unknown(**{"why": why, **_sum_range(lo, hi, terms, out.dtype)})
