"""``eq_to`` / ``le_to`` / ``lt_to``: jax's total-order comparisons (sort and
``searchsorted`` comparators, megablox's group metadata) are comparisons, one
operation per output element, boolean; not unsupported markers."""
from __future__ import annotations

import jax
import jax.numpy as jnp

import acecost

S = jax.ShapeDtypeStruct


def test_searchsorted_is_counted_and_complete():
    rep = acecost.analyze(lambda p, v: jnp.searchsorted(p["edges"], v), {"edges": S((16,), jnp.float32)},
                          S((4,), jnp.float32))
    assert rep.totals.complete
    assert not rep.unsupported
    # the comparator's total-order compares are counted as comparisons of the scan's elements
    assert rep.totals.elementwise_ops > 0


def test_total_order_compare_counts_one_per_element():
    from jax._src.lax.lax import lt_to_p

    def fn(p, x):
        return lt_to_p.bind(x, p["t"])

    rep = acecost.analyze(fn, {"t": S((8, 32), jnp.float32)}, S((8, 32), jnp.float32))
    assert rep.totals.complete and not rep.unsupported
    assert rep.totals.elementwise_ops == 8 * 32
