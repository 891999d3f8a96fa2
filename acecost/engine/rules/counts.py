"""Scalar-operation counts for everything that is not a dot or a conv: the machinery.

Elementwise primitives cost one operation per output element, reductions one
per input element, windowed reductions (pooling) one per window tap. Data
movement (reshapes, slices, gathers...) is free but *known*: a primitive in
none of these tables is reported as unsupported, never silently free.

Each family module files its primitives' counts beside their bit rules
(``count_as`` and ``free`` of :mod:`acecost.engine.rules.registry`, with the
counters below); markers that belong to no family are filed here.
"""
from __future__ import annotations

from math import prod

from acecost.engine.rules.registry import ELEMENTWISE, FREE, Counter, free


def out_elements(eqn) -> int:
    outvars = eqn.outvars
    if len(outvars) == 1:
        aval = outvars[0].aval
        return prod(aval.shape) if hasattr(aval, "shape") else 0
    return sum(prod(v.aval.shape) for v in outvars if hasattr(v.aval, "shape"))


def in_elements(eqn) -> int:
    return prod(eqn.invars[0].aval.shape)


def window_taps(eqn) -> int:
    return out_elements(eqn) * prod(eqn.params["window_dimensions"])


# markers: a user's tag, a named scope, a device index; jax.debug.print/callback: a host-side effect
free("acecost_tag axis_index name_stack debug_callback debug_print")


def __getattr__(name: str):
    if name == "COUNTED_PRIMITIVES":  # every primitive these tables know, once the families have filed theirs
        return frozenset(ELEMENTWISE) | FREE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_category(name: str, entry: tuple[str, Counter] | None) -> None:
    """File (or, with None, remove) a registered primitive's elementwise cost (``acecost.register_primitive``)."""
    if entry is None:
        ELEMENTWISE.pop(name, None)
    else:
        ELEMENTWISE[name] = entry


def elementwise_cost(eqn) -> tuple[str, int] | None:
    """(category, scalar operations) of one execution, or None when unknown."""
    name = eqn.primitive.name
    if name in FREE:
        return ("free", 0)
    entry = ELEMENTWISE.get(name)
    if entry is None:
        return None
    category, counter = entry
    return category, int(counter(eqn))
