"""The reduction family: sums, extremes, pooling, arg-extremes; bit rules and costs.

An extreme (``reduce_max``, max-pooling) picks one of its inputs, so the
levels stay where the set is the same along what it reduces. A sum over
many values has no level structure; for integers only the range an
accumulator holds is kept (:func:`sum_range`, which a contraction's output
uses too, in :mod:`acecost.engine.rules.contractions`). Reductions cost one
operation per input element, pooling one per window tap.
"""
from __future__ import annotations

import math

import numpy as np

from acecost.engine.values.axes import axis_map
from acecost.engine.values.groups import shape_groups
from acecost.engine.values.levels import Levels, integer_range, is_integer_dtype, unknown
from acecost.report.model import FallbackCause
from acecost.engine.rules.counts import in_elements, window_taps
from acecost.engine.rules.registry import count_as, rule


@rule("reduce_max", "reduce_min")
def _reduce_extreme(eqn, ins, scope):
    lv = ins[0].levels
    reduced = set(eqn.params["axes"])
    if lv.known and not (lv.axes & reduced):
        return lv.with_(axes=axis_map(eqn)(lv.axes), const=False,
                        groups=shape_groups(eqn, ins[0].shape, lv.axes, lv.groups))
    return unknown(lv.why or f"reduction at {scope}", lo=lv.lo, hi=lv.hi, integral=lv.integral, cause=lv.cause)


@rule("reduce_sum", "reduce_prod", "cumsum", "cumprod", "cumlogsumexp", "reduce_window_sum")
def _accumulation(eqn, ins, scope):
    """A sum (or product) over many elements: no level structure, whatever its inputs."""
    name = eqn.primitive.name
    why = f"output of `{name}` at {scope or 'top level'} (a sum over many values has no level structure)"
    x = ins[0]
    if name == "reduce_sum" and is_integer_dtype(eqn.outvars[0].aval.dtype) and x.levels.integral:
        n = x.size // max(1, math.prod(eqn.outvars[0].aval.shape))
        return unknown(**{"why": why, "cause": FallbackCause.SUM,
                          **sum_range(x.levels.lo, x.levels.hi, n, eqn.outvars[0].aval.dtype)})
    return unknown(why, cause=FallbackCause.SUM)


def sum_range(lo, hi, n: int, dtype) -> dict:
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
            "why": f"integer sum of at most {n} terms in [{lo:g}, {hi:g}]", "cause": None}


@rule("reduce_window_max", "reduce_window_min", "cummax", "cummin")
def _window_extreme(eqn, ins, scope):
    """Max-pooling picks one of its inputs: the levels stay, if the set is the same in the window."""
    lv = ins[0].levels
    dims = eqn.params.get("window_dimensions")
    pooled = {i for i, d in enumerate(dims) if d > 1} if dims is not None else {eqn.params.get("axis", 0)}
    if lv.known and not (lv.axes & pooled):
        return lv.with_(const=False)
    return unknown(lv.why or f"pooling at {scope}", lo=lv.lo, hi=lv.hi, integral=lv.integral, cause=lv.cause)


@rule("argmax", "argmin")
def _arg_extreme(eqn, ins, scope):
    (axis,) = eqn.params["axes"]
    n = ins[0].shape[axis]
    return Levels(count=n, lo=0, hi=n - 1, integral=True, why=f"index among {n}")


# ---------------------------------------------------------------- costs

count_as("reduction", in_elements,
         "reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or argmax argmin "
         "cumsum cumprod cummax cummin cumlogsumexp")
count_as("pooling", window_taps, "reduce_window_sum reduce_window_max reduce_window_min reduce_window")


def _select_and_scatter_taps(eqn) -> int:
    """Max-pool's gradient: each window's taps compared again, then one add per source element."""
    source = math.prod(eqn.invars[0].aval.shape)
    return source * math.prod(eqn.params["window_dimensions"]) + source


count_as("pooling", _select_and_scatter_taps, "select_and_scatter_add")
