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

from typing import Callable, NamedTuple

from jax.extend.core import Jaxpr, Literal

from acecost import higher_order
from acecost.registry import registrar

Mask = tuple[bool, ...]
_ONE: Mask = (True,)


class Live(NamedTuple):
    #: per equation: None if dead, else the masks of its sub-jaxprs' used outputs
    #: (in the order of ``sub_jaxprs``), or () for a first-order equation
    eqns: list
    #: per input variable: whether the jaxpr reads it
    used_inputs: Mask


def _unpack(j) -> Jaxpr:
    return higher_order._unpack(j)[0]


# A rule: (liveness, eqn, used outputs) -> (used inputs, sub-jaxpr masks)
UsedRule = Callable[["Liveness", object, Mask], tuple[Mask, tuple]]
USED_INPUTS: dict[str, UsedRule] = {}


used_rule = registrar(USED_INPUTS)


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


@used_rule(*higher_order.CALL_PRIMITIVES, "shard_map")
def _call(lv: Liveness, eqn, outs: Mask):
    """A call reads what its body reads; inputs ahead of the body's (none usually) are kept."""
    body = _unpack(higher_order.called_jaxpr(eqn))
    if len(body.outvars) != len(outs):
        return (True,) * len(eqn.invars), ((True,) * len(body.outvars),)
    inner = lv.of(body, outs).used_inputs
    lead = len(eqn.invars) - len(inner)
    return (True,) * lead + inner, (outs,)


@used_rule("scan")
def _scan(lv: Liveness, eqn, outs: Mask):
    """consts, carry, xs -> carry, ys; a carry is used if any iteration's use of it is."""
    p = eqn.params
    body = _unpack(p["jaxpr"])
    n_consts, n_carry = p["num_consts"], p["num_carry"]
    carry = list(outs[:n_carry])
    ys = tuple(outs[n_carry:])
    while True:
        mask = tuple(carry) + ys
        used_in = lv.of(body, mask).used_inputs
        grown = [c or u for c, u in zip(carry, used_in[n_consts:n_consts + n_carry])]
        if grown == carry:
            break
        carry = grown
    used = used_in[:n_consts] + tuple(carry) + used_in[n_consts + n_carry:]
    return used, (mask,)


@used_rule("while")
def _while(lv: Liveness, eqn, outs: Mask):
    """cond consts, body consts, carry -> carry; every carry the condition reads is used."""
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cond, body = _unpack(p["cond_jaxpr"]), _unpack(p["body_jaxpr"])
    cond_used = lv.of(cond).used_inputs
    carry = [o or c for o, c in zip(outs, cond_used[cn:])]
    while True:
        mask = tuple(carry)
        used_in = lv.of(body, mask).used_inputs
        grown = [c or u for c, u in zip(carry, used_in[bn:])]
        if grown == carry:
            break
        carry = grown
    used = cond_used[:cn] + used_in[:bn] + tuple(carry)
    return used, ((True,) * len(cond.outvars), mask)


@used_rule("cond")
def _cond(lv: Liveness, eqn, outs: Mask):
    """index, operands; an operand is read if any branch reads it."""
    branches = [_unpack(b) for b in eqn.params["branches"]]
    reads = [False] * (len(eqn.invars) - 1)
    for b in branches:
        for k, u in enumerate(lv.of(b, outs).used_inputs):
            reads[k] = reads[k] or u
    return (True, *reads), tuple(outs for _ in branches)
