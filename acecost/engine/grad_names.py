"""Which parameter a backward-pass contraction is the weight gradient of.

A weight gradient ``x^T @ dy`` contracts two activations, so neither its
operands (no parameter) nor, for models without linen scopes (NNX,
Equinox), its name stack name a layer. Its result, though, becomes one
output of the backward jaxpr: the gradient of one parameter leaf. Walking
back from that output through equations whose input has the gradient's
size (transposes, reshapes, the elementwise chain rule of a quantizer)
reaches the contraction that made it; the contraction takes that
parameter's layer name.
"""
from __future__ import annotations

import math
from typing import Sequence

from jax.extend.core import Literal

from acecost.engine.rules.contractions import MAC_RULES


def gradient_layers(jaxpr, params: Sequence[str | None]) -> dict[int, str]:
    """``id(eqn)`` of each top-level contraction -> the parameter path whose gradient it makes.

    ``params[i]`` is the path of the parameter whose gradient is the jaxpr's
    ``i``-th output (None for outputs that are not parameter gradients). A
    contraction reached from two parameters is left out: its name would be
    a guess.
    """
    producer = {v: e for e in jaxpr.eqns for v in e.outvars}
    found: dict[int, set[str]] = {}
    for out, path in zip(jaxpr.outvars, params):
        if path is None or isinstance(out, Literal):
            continue
        size = math.prod(out.aval.shape)
        seen, stack = set(), [out]
        while stack:
            eqn = producer.get(stack.pop())
            if eqn is None or id(eqn) in seen:
                continue
            seen.add(id(eqn))
            if eqn.primitive.name in MAC_RULES:
                found.setdefault(id(eqn), set()).add(path)
                continue
            stack.extend(v for v in eqn.invars if not isinstance(v, Literal)
                         and math.prod(getattr(v.aval, "shape", ())) == size)
    return {key: next(iter(paths)) for key, paths in found.items() if len(paths) == 1}
