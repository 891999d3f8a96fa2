"""Dead code: which equations' results the function's outputs depend on.

A jaxpr keeps work whose result nothing uses (a discarded ``init_cache``
forward in Hugging Face ``generate()``, an AQT SERVE layer quantizing the
float kernel it then ignores). XLA removes it, so it costs nothing on
hardware, and acecost does not price it.

:func:`Liveness.of` answers, for a jaxpr and which of its outputs are used,
which equations are live, which outputs of each are used, and which inputs
the jaxpr reads. It never builds new jaxprs: the walker skips dead
equations, and each higher-order rule walks its bodies with the output
masks computed here (``Live.masks``), so a loop body is pruned the same way
however often it runs. Results are kept per (jaxpr, mask): an unrolled
model's repeated blocks are analysed once.

Equations with effects (``jax.debug.print``, callbacks, state) are always
live. A primitive with no rule below reads all its inputs.
"""
from __future__ import annotations

from typing import NamedTuple

from jax.extend.core import Jaxpr, Literal

from acecost.engine.rules.registry import USED_INPUTS

Mask = tuple[bool, ...]
_ONE: Mask = (True,)


class Live(NamedTuple):
    #: per equation: None if dead, else the masks of its sub-jaxprs' used outputs
    #: (in the order of ``sub_jaxprs``), or () for a first-order equation
    eqns: list
    #: per input variable: whether the jaxpr reads it
    used_inputs: Mask





class Liveness:
    """Liveness of the jaxprs of one analysis, cached per (jaxpr, used outputs)."""

    def __init__(self):
        self._cache: dict = {}

    def of(self, jaxpr: Jaxpr, used: Mask | None = None) -> Live:
        if used is None:
            used = (True,) * len(jaxpr.outvars)
        key = (id(jaxpr), used)
        hit = self._cache.get(key)
        if hit is not None:
            return hit[1]
        live = self._compute(jaxpr, used)
        self._cache[key] = (jaxpr, live)  # the jaxpr is kept so its id stays its own
        return live

    def _compute(self, jaxpr: Jaxpr, used: Mask) -> Live:
        needed = {v for v, u in zip(jaxpr.outvars, used) if u and type(v) is not Literal}
        eqns = jaxpr.eqns
        eqn_masks: list = []  # built backwards, reversed at the end
        push, add, rules = eqn_masks.append, needed.add, USED_INPUTS
        for eqn in reversed(eqns):
            outvars = eqn.outvars
            if len(outvars) == 1:  # most equations: no tuple to build unless live
                if outvars[0] not in needed and not eqn.effects:
                    push(None)
                    continue
                outs = _ONE
            else:
                outs = tuple([v in needed for v in outvars])
                if True not in outs and not eqn.effects:
                    push(None)
                    continue
            rule = rules.get(eqn.primitive.name)
            if rule is None:
                push(())
                for v in eqn.invars:
                    if type(v) is not Literal:
                        add(v)
            else:
                used_in, masks = rule(self, eqn, outs)
                push(masks)
                for v, u in zip(eqn.invars, used_in):
                    if u and type(v) is not Literal:
                        add(v)
        eqn_masks.reverse()
        return Live(eqn_masks, tuple(v in needed for v in jaxpr.invars))
