"""Scalar-operation counts for everything that is not a dot or a conv.

Elementwise primitives cost one operation per output element, reductions one
per input element, windowed reductions (pooling) one per window tap. Data
movement (reshapes, slices, gathers...) is free but *known*: a primitive in
none of these tables is reported as unsupported, never silently free.
"""
from __future__ import annotations

from math import prod
from typing import Callable

Counter = Callable[[object], int]


def _out_elements(eqn) -> int:
    outvars = eqn.outvars
    if len(outvars) == 1:
        aval = outvars[0].aval
        return prod(aval.shape) if hasattr(aval, "shape") else 0
    return sum(prod(v.aval.shape) for v in outvars if hasattr(v.aval, "shape"))


def _in_elements(eqn) -> int:
    return prod(eqn.invars[0].aval.shape)


def _window_taps(eqn) -> int:
    return _out_elements(eqn) * prod(eqn.params["window_dimensions"])


_CATEGORIES: dict[str, tuple[str, Counter]] = {}


def _register(category: str, counter: Counter, names: str) -> None:
    for name in names.split():
        _CATEGORIES[name] = (category, counter)


_register("arithmetic", _out_elements,
          "add add_any sub mul div neg abs max min rem square integer_pow pow sqrt rsqrt cbrt "
          "reciprocal nextafter")
# reached only by a dot_general that contracts nothing (cost.macs): one multiply per output element
_register("arithmetic", _out_elements, "dot_general")
_register("transcendental", _out_elements,
          "exp exp2 log log1p expm1 tanh logistic sin cos tan asin acos atan sinh cosh asinh "
          "acosh atanh atan2 erf erfc erf_inv lgamma digamma")
_register("compare_select", _out_elements,
          "eq ne lt le gt ge eq_to le_to lt_to select_n and or xor not is_finite clamp")
_register("quantize", _out_elements, "round floor ceil sign")
_register("convert", _out_elements, "convert_element_type reduce_precision bitcast_convert_type")
_register("integer", _out_elements,
          "shift_left shift_right_logical shift_right_arithmetic population_count clz")
_register("reduction", _in_elements,
          "reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or argmax argmin "
          "cumsum cumprod cummax cummin cumlogsumexp")
_register("pooling", _window_taps, "reduce_window_sum reduce_window_max reduce_window_min reduce_window")


def _select_and_scatter_taps(eqn) -> int:
    """Max-pool's gradient: each window's taps compared again, then one add per source element."""
    source = prod(eqn.invars[0].aval.shape)
    return source * prod(eqn.params["window_dimensions"]) + source


_register("pooling", _select_and_scatter_taps, "select_and_scatter_add")
_register("rng", _out_elements,
          "random_bits random_seed random_wrap random_unwrap random_fold_in random_split threefry2x32 "
          "erf_inv")
_register("sort", _in_elements, "sort top_k")
_register("scatter", lambda eqn: prod(eqn.invars[2].aval.shape),
          "scatter-add scatter_add scatter-mul scatter_mul scatter-min scatter-max scatter_min scatter_max")

#: Free but known: data movement and markers.
FREE = set((
    "reshape broadcast_in_dim transpose squeeze expand_dims slice dynamic_slice "
    "dynamic_update_slice concatenate pad rev gather scatter copy copy_p stop_gradient iota tile stack "
    "split sharding_constraint device_put mesh_cast reshard optimization_barrier "
    "acecost_tag axis_index name_stack pvary"
).split())
FREE |= {"debug_callback", "debug_print"}  # jax.debug.print/callback: a host-side effect, no arithmetic


#: Every primitive these tables know.
COUNTED_PRIMITIVES = frozenset(_CATEGORIES) | FREE


def elementwise_cost(eqn) -> tuple[str, int] | None:
    """(category, scalar operations) of one execution, or None when unknown."""
    name = eqn.primitive.name
    if name in FREE:
        return ("free", 0)
    entry = _CATEGORIES.get(name)
    if entry is None:
        return None
    category, counter = entry
    return category, int(counter(eqn))
