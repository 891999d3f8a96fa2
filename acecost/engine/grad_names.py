"""Which parameter a backward-pass contraction is the weight gradient of.

A weight gradient ``x^T @ dy`` contracts two activations, so neither its
operands (no parameter) nor, for models without linen scopes (NNX,
Equinox), its name stack name a layer. Its result, though, becomes one
output of the backward jaxpr: the gradient of one parameter leaf. Walking
back from that output through equations whose input has the gradient's
size (transposes, reshapes, the elementwise chain rule of a quantizer)
reaches the contraction that made it; the contraction takes that
parameter's layer name, and is a weight gradient (:func:`gradient_kinds`).
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
    return {key: next(iter(paths)) for key, paths in _reached(jaxpr, params).items() if len(paths) == 1}


def _reached(jaxpr, params: Sequence[str | None]) -> dict[int, set[str]]:
    """``id(eqn)`` of each contraction -> the parameters whose gradient it makes.

    The walk goes into the body of a call (``pjit``, ``checkpoint``, a custom
    derivative: one body whose outputs are the call's, one for one) and back
    out through its inputs, so a weight gradient made inside ``jax.checkpoint``
    is found; a scan's stacked outputs are not the size of one step's, so the
    walk stops there.
    """
    producers: dict[int, dict] = {}

    def producer(body, var):
        if id(body) not in producers:
            producers[id(body)] = {v: e for e in body.eqns for v in e.outvars}
        return producers[id(body)].get(var)

    found: dict[int, set[str]] = {}
    for out, path in zip(jaxpr.outvars, params):
        if path is None or isinstance(out, Literal):
            continue
        size = math.prod(out.aval.shape)
        seen, stack = set(), [(out, ())]  # a variable and the calls it is inside, innermost last
        while stack:
            var, frames = stack.pop()
            eqn = producer(frames[-1][1] if frames else jaxpr, var)
            if eqn is None:  # an input of a body: the call's argument outside it
                if frames:
                    call, body = frames[-1]
                    at = [k for k, v in enumerate(body.invars) if v is var]
                    if at and not isinstance(call.invars[at[0]], Literal):
                        stack.append((call.invars[at[0]], frames[:-1]))
                continue
            key = (id(eqn), tuple(id(f[0]) for f in frames))
            if key in seen:
                continue
            seen.add(key)
            if eqn.primitive.name in MAC_RULES:
                found.setdefault(id(eqn), set()).add(path)
                continue
            bodies = [b for b in _bodies(eqn) if len(b.outvars) == len(eqn.outvars)
                      and len(b.invars) == len(eqn.invars)]
            if len(bodies) == 1:
                inner = bodies[0].outvars[eqn.outvars.index(var)]
                if not isinstance(inner, Literal) and math.prod(inner.aval.shape) == size:
                    stack.append((inner, (*frames, (eqn, bodies[0]))))
                continue
            stack.extend((v, frames) for v in eqn.invars if not isinstance(v, Literal)
                         and math.prod(getattr(v.aval, "shape", ())) == size)
    return found


#: What a backward-pass contraction computes (``OpRecord.gradient``), by :func:`gradient_kinds`.
WEIGHT, INPUT, RECOMPUTE = "weight", "input", "recompute"


def gradient_kinds(jaxpr, params: Sequence[str | None]) -> dict[int, str]:
    """``id(eqn)`` of the contractions of a backward jaxpr -> what each computes.

    The jaxpr's last input is the loss cotangent, and every gradient is linear
    in it. A contraction no path from it reaches multiplies saved values only:
    forward work done again (``jax.checkpoint``), :data:`RECOMPUTE`, found in
    nested bodies too. A top-level one whose result becomes a parameter's
    gradient (the walk back of :func:`gradient_layers`, a contraction shared by
    two parameters included) is a :data:`WEIGHT` gradient; every other
    top-level one carries the cotangent towards some layer's input, an
    :data:`INPUT` gradient. A nested one the cotangent reaches and the walk
    back does not (a scan body's) is left out: which gradient it makes is
    not known here.
    """
    weight = _reached(jaxpr, params)
    kinds: dict[int, str] = {}
    _taint(jaxpr, set(jaxpr.invars[-1:]), kinds, weight, top=True)
    return kinds


def _taint(jaxpr, tainted: set, kinds: dict[int, str], weight, top: bool) -> None:
    """Follow the cotangent (``tainted``: the variables it reaches) through ``jaxpr``'s equations
    and into their bodies; record each contraction's kind in ``kinds``."""
    for eqn in jaxpr.eqns:
        reached = any(not isinstance(v, Literal) and v in tainted for v in eqn.invars)
        if reached:
            tainted.update(eqn.outvars)
        if eqn.primitive.name in MAC_RULES:
            if not reached:
                kinds[id(eqn)] = RECOMPUTE
            elif id(eqn) in weight:
                kinds[id(eqn)] = WEIGHT
            elif top:
                kinds[id(eqn)] = INPUT
            continue
        for inner in _bodies(eqn):
            if len(inner.invars) == len(eqn.invars):  # a call, a scan: inputs one for one
                inside = {iv for iv, ov in zip(inner.invars, eqn.invars)
                          if not isinstance(ov, Literal) and ov in tainted}
            else:  # cond, while: the cotangent may reach any input
                inside = set(inner.invars) if reached else set()
            _taint(inner, inside, kinds, weight, top=False)


def _bodies(eqn):
    """The jaxprs an equation's parameters hold (a call's, a scan's body, a cond's branches)."""
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            inner = getattr(item, "jaxpr", item)  # a ClosedJaxpr's Jaxpr
            if hasattr(inner, "eqns") and hasattr(inner, "invars"):
                yield inner
