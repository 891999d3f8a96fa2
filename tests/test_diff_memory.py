"""A layer whose widths only change what it moves (same MACs, ACE and bits) is a changed layer in
``acecost diff``, with the bits it moves before and after."""
from __future__ import annotations

import jax
import jax.numpy as jnp

import acecost
from acecost.ci.diff import diff_reports

S = jax.ShapeDtypeStruct


def test_a_layer_that_only_moves_fewer_bits_is_changed():
    def f(p, x):
        return x @ p["fc"]

    args = ({"fc": S((64, 32), jnp.float32)}, S((8, 64), jnp.float32))
    base = acecost.analyze(f, *args)  # float32 operands: priced 16x16, held at 32 bits
    new = acecost.analyze(f, *args, overrides=["fc=16,16"])  # the same 16x16, now held at 16
    d = diff_reports(base.to_dict(), new.to_dict())
    assert d.unchanged == 0 and [c.name for c in d.changed] == ["fc"]
    (c,) = d.changed
    assert (c.base_ace, c.new_ace, c.base_bits, c.new_bits) == (8 * 64 * 32 * 256,) * 2 + ("16x16",) * 2
    out = 8 * 32 * 32  # the float32 output, at its own width either way
    assert (c.base_memory_bits, c.new_memory_bits) == ((8 * 64 + 64 * 32) * 32 + out, (8 * 64 + 64 * 32) * 16 + out)
    assert c.base_time_s is None and c.new_time_s is None  # no --hardware
