"""How shape primitives move axes.

Both a value's own varying axes and the axes its level set varies along
must follow reshapes, transposes and broadcasts, so that a per-channel scale
is still known to be per-channel when it reaches the dot.
"""
from __future__ import annotations

import functools
from typing import Callable

AxisMap = Callable[[frozenset[int]], frozenset[int]]


def identity(eqn) -> AxisMap:
    return lambda axes: axes


def _broadcast_in_dim(eqn) -> AxisMap:
    dims = eqn.params["broadcast_dimensions"]
    return lambda axes: frozenset(dims[a] for a in axes if a < len(dims))


def _transpose(eqn) -> AxisMap:
    perm = eqn.params["permutation"]
    inverse = {src: dst for dst, src in enumerate(perm)}
    return lambda axes: frozenset(inverse[a] for a in axes)


def _drop(dropped) -> AxisMap:
    dropped = sorted(set(int(d) for d in dropped))

    def move(axes):
        return frozenset(a - sum(d < a for d in dropped) for a in axes if a not in dropped)

    return move


def _squeeze(eqn) -> AxisMap:
    return _drop(eqn.params["dimensions"])


def _reduce(eqn) -> AxisMap:
    return _drop(eqn.params["axes"])


def _reshape(eqn) -> AxisMap:
    return reshape_map(tuple(eqn.invars[0].aval.shape), tuple(eqn.outvars[0].aval.shape))


def spans(shape) -> dict[int, tuple[int, int]]:
    """Each non-trivial axis's range of place values in the row-major flat index, innermost first."""
    out, stride = {}, 1
    for i in reversed(range(len(shape))):
        if shape[i] != 1:
            out[i] = (stride, stride * shape[i])
        stride *= shape[i]
    return out


@functools.lru_cache(maxsize=4096)
def reshape_map(in_shape: tuple, out_shape: tuple) -> AxisMap:
    """An input axis moves to every output axis its flat-index digits overlap."""
    ins, outs = spans(in_shape), spans(out_shape)
    table = {
        a: frozenset(b for b, (t0, t1) in outs.items() if s0 < t1 and t0 < s1)
        for a, (s0, s1) in ins.items()
    }
    return lambda axes: frozenset().union(*(table.get(a, frozenset()) for a in axes))


def _expand_dims(eqn) -> AxisMap:
    return _expand_dims_at(eqn.params["dimensions"])


def _expand_dims_at(dims) -> AxisMap:
    dims = sorted(dims)

    def move(axes):
        out = sorted(axes)
        for d in dims:
            out = [a + 1 if a >= d else a for a in out]
        return frozenset(out)

    return move


AXIS_MAPS: dict[str, Callable[[object], AxisMap]] = {
    "broadcast_in_dim": _broadcast_in_dim,
    "transpose": _transpose,
    "squeeze": _squeeze,
    "reshape": _reshape,
    "expand_dims": _expand_dims,
    "reduce_sum": _reduce,
    "reduce_max": _reduce,
    "reduce_min": _reduce,
    "reduce_prod": _reduce,
    "reduce_and": _reduce,
    "reduce_or": _reduce,
    "stack": lambda eqn: _expand_dims_at([eqn.params["axis"]]),
    "argmax": lambda eqn: _drop(eqn.params["axes"]),
    "argmin": lambda eqn: _drop(eqn.params["axes"]),
}


#: Shape primitives under which a value that varies along every non-trivial
#: input axis varies along every non-trivial output axis. (Not broadcast:
#: the axes it adds do not vary.)
COVERING = frozenset(("reshape", "transpose", "squeeze", "expand_dims", "reduce_sum", "reduce_max",
                      "reduce_min", "reduce_prod", "reduce_and", "reduce_or", "argmax", "argmin"))


def axis_map(eqn) -> AxisMap:
    maker = AXIS_MAPS.get(eqn.primitive.name)
    return maker(eqn) if maker else (lambda axes: axes)


def product_axes(eqn) -> tuple[dict, dict] | None:
    """For a ``dot_general`` with no contracting dimension, where each operand axis lands in the output.

    Such a dot is elementwise products (batch axes first, then the lhs's and
    the rhs's free axes); for anything else None.
    """
    if eqn.primitive.name != "dot_general":
        return None
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    if lc:
        return None
    lhs_free = [a for a in range(len(eqn.invars[0].aval.shape)) if a not in lb]
    rhs_free = [a for a in range(len(eqn.invars[1].aval.shape)) if a not in rb]
    lhs_map = {a: i for i, a in enumerate(lb)} | {a: len(lb) + j for j, a in enumerate(lhs_free)}
    rhs_map = {a: i for i, a in enumerate(rb)} | {a: len(lb) + len(lhs_free) + j for j, a in enumerate(rhs_free)}
    return lhs_map, rhs_map
