"""Bit rules of data movement and selection: primitives each of whose output
elements is one of their input elements (slices, splits, updates, scatters,
concatenations, selects, sorts, lookups).

Such an output takes no value its inputs do not, so it keeps their levels:
a quantized fused QKV that is split, or an int8 KV cache written with
``dynamic_update_slice``, keeps its bits. What can change is *where* a level
set applies (the axes it varies along), which each rule states.
"""
from __future__ import annotations

from typing import Sequence

from math import prod

import numpy as np

from acecost.engine.values.axes import axis_map
from acecost.engine.values.groups import shape_groups
from acecost.engine.values.levels import (MAX_TABLE_LEVELS, Levels, flat_count, integer_range, is_float8,
                                 is_integer_dtype, unknown, with_flat)
from acecost.engine.rules.common import (all_integral, combine, const_scalar, is_neutral, max_known, max_or_none,
                                         min_known, min_or_none)
from acecost.engine.rules.counts import in_elements, out_elements
from acecost.engine.rules.registry import count_as, free, rule
from acecost.engine.values.value import Value, nontrivial_axes


def union(cases: Sequence[Value], what: str, out_shape: tuple | None = None) -> Levels:
    """Levels of a value whose every element is an element of one of ``cases``.

    Sound for any selection or data movement that puts each case's elements
    at positions with the same coordinates along the case's level axes
    (select, concatenate, dynamic_update_slice). At most the sum of the
    cases' counts; a case that is one value per tensor, or has no proven
    structure (one value at each position), adds one level, and the second
    makes the set vary along its own ``vary``.
    ``out_shape`` is given when every case after the first may move along
    its level axes (an update at a dynamic offset, a scatter's updates):
    their level set may then differ anywhere.
    """
    spread = [v for v in cases if not is_neutral(v)]
    if spread and not any(v.levels.known for v in spread):
        return combine(cases, what, "")  # no evidence of quantization among the cases
    count, axes, flat = 0, set(), 0
    for i, v in enumerate(cases):
        lv = v.levels
        if is_neutral(v) or not lv.known:  # one value at each position; unproven, it varies along `vary`
            count += 1
            if not lv.known:
                axes |= v.vary
            flat = None if flat is None or v.vary else flat + 1
            continue
        count += lv.count
        axes |= lv.axes if out_shape is None or not lv.axes or i == 0 else nontrivial_axes(out_shape)
        f = flat_count(lv)
        flat = None if flat is None or f is None else flat + f
    lo = min_or_none([v.levels.lo for v in cases])
    hi = max_or_none([v.levels.hi for v in cases])
    told = [v.levels for v in cases if not is_neutral(v) and v.levels.why]  # one account goes on, with its cause
    lv = Levels(count=count, axes=frozenset(axes), lo=lo, hi=hi, integral=all_integral(cases),
                why=f"{what} of {len(cases)} values" + (f" ({told[0].why})" if len(told) == 1 else ""),
                cause=told[0].cause if len(told) == 1 else None)
    return with_flat(lv, flat)


@rule("select_n")
def _select_n(eqn, ins, scope):
    return union(ins[1:], "selection")


@rule("dynamic_update_slice")
def _dynamic_update_slice(eqn, ins, scope):
    """The operand with a window overwritten: elements of either; the update moves by an offset."""
    operand, update = ins[0], ins[1]
    return union([operand, update], "update", operand.shape)


@rule("scatter")
def _scatter(eqn, ins, scope):
    """``x.at[i].set(u)``: elements of the operand or of the updates, placed anywhere."""
    operand, updates = ins[0], ins[2]
    return union([operand, updates], "scatter", operand.shape)


# ----------------------------------------------------------- shape rules

PASS_THROUGH = (
    "reshape broadcast_in_dim transpose squeeze expand_dims slice dynamic_slice rev copy copy_p tile "
    "stop_gradient reduce_precision sharding_constraint device_put mesh_cast reshard "
    "optimization_barrier bitcast_convert_type split pvary"
).split()


@rule(*PASS_THROUGH)
def _pass_through(eqn, ins, scope):
    lv = ins[0].levels
    if eqn.primitive.name == "bitcast_convert_type":
        return unknown(f"bitcast at {scope or 'top level'}")
    if not lv.axes:
        return lv
    return lv.with_(axes=axis_map(eqn)(lv.axes), groups=shape_groups(eqn, ins[0].shape, lv.axes, lv.groups))


@rule("convert_element_type")
def _convert(eqn, ins, scope):
    """Keeps the levels; an integer cast that wraps keeps them distinct but not their range."""
    lv = ins[0].levels
    new = np.dtype(eqn.params["new_dtype"])
    if is_integer_dtype(new) and ins[0].dtype.kind in "iub" and lv.lo is not None and lv.hi is not None:
        lo, hi = integer_range(new)
        if lv.lo < lo or lv.hi > hi:
            return lv.with_(lo=None, hi=None)
    if is_float8(new) and new != ins[0].dtype and (lv.lo is not None or lv.hi is not None):
        return _narrow_float_range(lv, new)
    return lv


def _narrow_float_range(lv: Levels, new) -> Levels:
    """A cast to a float of <= 8 bits rounds: the range becomes the rounded bounds (rounding is
    monotone), and integers stay integers only if the bounds round to finite integers and 0,
    if inside, stays 0 (``float8_e8m0fnu`` has no zero)."""
    if lv.lo is None or lv.hi is None:
        return lv.with_(lo=None, hi=None, integral=False)
    lo, hi = (float(np.asarray(b, np.float64).astype(new).astype(np.float64)) for b in (lv.lo, lv.hi))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return lv.with_(lo=None, hi=None, integral=False)
    zero_kept = not (lv.lo <= 0 <= lv.hi) or float(np.asarray(0.0).astype(new).astype(np.float64)) == 0.0
    integral = lv.integral and lo.is_integer() and hi.is_integer() and zero_kept
    return lv.with_(lo=lo, hi=hi, integral=integral)


@rule("pad")
def _pad(eqn, ins, scope):
    x, pad_value = ins[0], ins[1]
    lv = x.levels
    if not lv.known:
        return lv
    c = const_scalar(pad_value)
    inside = c is not None and lv.integral and lv.lo is not None and lv.lo <= c <= lv.hi
    count = lv.count if inside else lv.count + 1
    flat = lv.flat if inside or lv.flat is None else lv.flat + 1
    return lv.with_(count=count, flat=flat, groups=(), lo=min_known([lv.lo, c]) if lv.lo is not None else None,
                    hi=max_known([lv.hi, c]) if lv.hi is not None else None,
                    integral=lv.integral and c is not None and float(c).is_integer())


@rule("concatenate", "stack")
def _concatenate(eqn, ins, scope):
    return union(ins, "concatenation")


@rule("gather", "dynamic_index_in_dim")
def _gather(eqn, ins, scope):
    """A lookup returns entries of its table: at most the table's distinct values.

    (Along an axis its indices alone vary along, it is also one value per group of
    that axis: the output's own group bound, :func:`acecost.engine.values.groups.gather_groups`.)
    """
    table = ins[0]
    lv = table.levels
    if lv.known and not lv.axes:
        return lv.with_(const=False, why=lv.why if not lv.const else "lookup in a constant table")
    if lv.flat is not None:  # the table's whole-tensor set: every entry is one of its values
        return Levels(count=lv.flat, lo=lv.lo, hi=lv.hi, integral=lv.integral, why=lv.why, cause=lv.cause)
    if lv.known or table.size <= MAX_TABLE_LEVELS:
        count = min(lv.count * table.size if lv.known else table.size, table.size)
        return Levels(count=count, lo=lv.lo, hi=lv.hi, integral=lv.integral,
                      why=f"lookup in a table of {table.size} entries")
    return unknown(lv.why or f"gather from a large table at {scope}", lo=lv.lo, hi=lv.hi,
                   integral=lv.integral, cause=lv.cause)


@rule("sort")
def _sort(eqn, ins, scope):
    """Each output is a permutation of its operand along one dimension: it keeps the
    operand's levels unless their set varies along that dimension."""
    dim = eqn.params["dimension"]
    return [_permuted(v.levels, dim, scope) for v in ins]


@rule("top_k")
def _top_k(eqn, ins, scope):
    x = ins[0]
    n = x.shape[-1]
    return [_permuted(x.levels, len(x.shape) - 1, scope),
            Levels(count=n, lo=0, hi=n - 1, integral=True, why=f"index among {n}")]


def _permuted(lv: Levels, dim: int, scope: str) -> Levels:
    if not lv.known or dim not in lv.axes:
        return lv.with_(const=False) if lv.const else lv
    f = flat_count(lv)
    if f is not None:
        return Levels(count=f, lo=lv.lo, hi=lv.hi, integral=lv.integral, why=lv.why, cause=lv.cause)
    return unknown(f"sort along a dimension its levels vary along at {scope or 'top level'}",
                   lo=lv.lo, hi=lv.hi, integral=lv.integral)


# ---------------------------------------------------------------- costs

free("reshape broadcast_in_dim transpose squeeze expand_dims slice dynamic_slice "
     "dynamic_update_slice concatenate pad rev gather scatter copy copy_p stop_gradient tile stack "
     "split sharding_constraint device_put mesh_cast reshard optimization_barrier pvary")
count_as("compare_select", out_elements, "select_n")
count_as("convert", out_elements, "convert_element_type reduce_precision bitcast_convert_type")
count_as("sort", in_elements, "sort top_k")
count_as("scatter", lambda eqn: prod(eqn.invars[2].aval.shape),  # one combine per update element
         "scatter-add scatter_add scatter-mul scatter_mul scatter-min scatter-max scatter_min scatter_max")
