"""``acecost.tag``: declare an operand's bit-width in the model itself.

The tag is a primitive that is the identity on values and on gradients, so
it costs nothing at run time but stays visible in the jaxpr, where the bit
rules read it. A tag wins over inference.
"""
from __future__ import annotations

from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from acecost.engine.values.levels import Levels
from acecost.engine.rules.registry import rule

tag_p = Primitive("acecost_tag")
tag_p.def_impl(lambda x, *, bits: x)
tag_p.def_abstract_eval(lambda x, *, bits: x)
mlir.register_lowering(tag_p, lambda ctx, x, *, bits: [x])
ad.deflinear2(tag_p, lambda ct, x, *, bits: [ct])
batching.primitive_batchers[tag_p] = lambda args, dims, *, bits: (tag_p.bind(args[0], bits=bits), dims[0])


def tag(x, bits: int):
    """Mark ``x`` as a ``bits``-bit operand (identity on values and gradients)."""
    if not isinstance(bits, int) or isinstance(bits, bool) or bits < 1:
        raise ValueError(f"acecost.tag: bits must be a positive integer, got {bits!r}")
    return tag_p.bind(x, bits=bits)


@rule("acecost_tag")
def _tag_rule(eqn, ins, scope):
    bits = eqn.params["bits"]
    return Levels(count=2 ** bits, tag=bits, why=f"acecost.tag(bits={bits})")
