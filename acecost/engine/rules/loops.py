"""Loops: ``scan`` and ``while`` bodies walked once, priced times their trip count.

A body is walked until its carries' levels settle (a fixpoint, with
widening), and its cost is merged with the number of iterations: ``scan``'s
length, a ``while`` loop's count read from its counter
(:func:`counter_trip_count`), or the user's ``while_trips``; a loop whose
count is unknown is priced per iteration and marks the totals incomplete.
"""
from __future__ import annotations

import math
import operator
from fractions import Fraction

from jax.extend.core import Literal

from acecost.engine.values.levels import (Levels, flat_count, integer_range, is_integer_dtype, normalize, range_count,
                                 unknown)
from acecost.engine.values.value import Value, make_value
from acecost.engine.rules.jaxprs import out_values, unpack_jaxpr
from acecost.engine.rules.registry import higher_order, used_rule
from acecost.engine.tally import Tally

#: How many times a loop body is re-walked looking for stable carry levels.
MAX_FIXPOINT_STEPS = 4


def same_value(a: Value, b: Value) -> bool:
    la, lb = a.levels, b.levels
    return (la.count, la.axes, la.lo, la.hi, la.integral, la.tag, la.flat, la.scaled, la.groups) == \
        (lb.count, lb.axes, lb.lo, lb.hi, lb.integral, lb.tag, lb.flat, lb.scaled, lb.groups) \
        and a.vary == b.vary and a.origins == b.origins and a.groups == b.groups and a.prep == b.prep


def join_values(a: Value, b: Value, scope: str) -> Value:
    """What a loop carry can be on any iteration (widening: a growing bound is dropped)."""
    if same_value(a, b):
        return a
    la, lb = a.levels, b.levels
    where = scope or "top level"
    if la.integral and lb.integral and la.lo is not None and la.lo == la.hi and \
            range_count(lb.lo, lb.hi) is not None and lb.lo <= la.lo <= lb.hi:
        # a carry that starts as one value (a zero-filled cache) and is then written within a
        # range: take that range once; the next walk checks that it holds
        lv = Levels(lo=lb.lo, hi=lb.hi, integral=True, why=lb.why or f"loop carry at {where}", cause=lb.cause)
    elif la.integral and lb.integral:
        lo = la.lo if la.lo is not None and lb.lo is not None and lb.lo >= la.lo else None
        hi = la.hi if la.hi is not None and lb.hi is not None and lb.hi <= la.hi else None
        lv = Levels(lo=lo, hi=hi, integral=True, why=f"loop carry at {where}")
    elif la.known and lb.known and la.count >= lb.count and lb.axes <= la.axes:
        fa, fb = flat_count(la), flat_count(lb)
        # a factor along the axes only if it is one on every iteration (not an offset added later)
        lv = la.with_(const=False, flat=la.flat if fa is not None and fb is not None and fb <= fa else None,
                      scaled=la.scaled and lb.scaled, groups=la.groups if la.groups == lb.groups else ())
    else:
        lv = unknown(lb.why if not lb.known else f"loop carry at {where} changes across iterations",
                     cause=None if lb.known else lb.cause)
    return a.with_(levels=normalize(lv, a.dtype), vary=a.vary | b.vary, origins=a.origins | b.origins,
                   groups=a.groups if a.groups == b.groups else (), prep=a.prep and b.prep)


def _slice_leading(interp, v: Value) -> Value:
    lv = v.levels.with_(axes=frozenset(a - 1 for a in v.levels.axes if a > 0), groups=())
    return interp.register(make_value(v.shape[1:], v.dtype, lv,
                                      frozenset(a - 1 for a in v.vary if a > 0), v.origins, v.name, prep=v.prep))


def _stack_leading(interp, v: Value, length: int) -> Value:
    axes = frozenset(a + 1 for a in v.levels.axes) | ({0} if v.levels.known and not v.levels.const else set())
    vary = frozenset(a + 1 for a in v.vary) | {0}
    # each iteration's level set may differ: a whole-tensor bound of one iteration is not the stack's
    return interp.register(make_value((length, *v.shape), v.dtype,
                                      v.levels.with_(axes=frozenset(axes), flat=None, groups=()),
                                      vary, v.origins, v.name, prep=v.prep))


def numbered_walks(interp):
    """The steps of a walk to a fixpoint: ``MAX_FIXPOINT_STEPS`` walks and one more.

    Each step starts from the layer-name numbering the first started from, so
    that the last walk, the one kept, names its contractions as a single walk
    would, however many walks it took to settle. A loop body and a Pallas
    kernel (:mod:`acecost.engine.rules.kernels`) are walked this way.
    """
    names = interp.naming_state()
    for step in range(MAX_FIXPOINT_STEPS + 1):
        interp.restore_naming(names)
        yield step


def _walk_to_fixpoint(interp, jaxpr, consts, fixed, carry, rest, scope, used=None):
    """Walk a loop body until its carries' levels stop changing.

    Each walk numbers the body's contractions as the first did: only the
    last walk's records are kept, and their names must not depend on how
    many walks the carries took to settle.
    """
    for step in numbered_walks(interp):
        child = Tally()
        body_in = fixed + [interp.register(c) for c in carry] + rest
        outs = interp.run(jaxpr, consts, body_in, scope, child, used)
        joined = [join_values(a, b, scope) for a, b in zip(carry, outs[:len(carry)])]
        settled = [same_value(a, j) for a, j in zip(carry, joined)]
        if all(settled):
            return child, outs, carry
        carry = joined
        if step == MAX_FIXPOINT_STEPS - 1:
            carry = [c if ok else c.with_(levels=normalize(
                unknown(f"loop carry at {scope or 'top level'} does not settle"), c.dtype))
                for c, ok in zip(carry, settled)]
    return child, outs, carry


@higher_order("scan")
def _scan(interp, eqn, ins, scope, tally, masks=()):
    p = eqn.params
    jaxpr, consts = unpack_jaxpr(p["jaxpr"])
    n_consts, n_carry, length = p["num_consts"], p["num_carry"], int(p["length"])
    fixed, carry, xs = ins[:n_consts], ins[n_consts:n_consts + n_carry], ins[n_consts + n_carry:]
    xs = [_slice_leading(interp, x) for x in xs]
    child, outs, carry = _walk_to_fixpoint(interp, jaxpr, consts, fixed, carry, xs, scope,
                                           masks[0] if masks else None)
    tally.merge(child, length)
    tally.loops.append({"scope": scope or "top level", "kind": "scan", "trips": length, "exact": True})
    ys = [_stack_leading(interp, y, length) for y in outs[n_carry:]]
    return out_values(interp, eqn, carry + ys)


#: A comparison read with its operands swapped: ``n > i`` is ``i < n``.
_SWAPPED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "ne": "ne"}
_HOLDS = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge, "ne": operator.ne}


def counter_trip_count(eqn, cond_consts: list[Value], carry: list[Value]) -> int | None:
    """Trip count of a counter loop, ``while i OP n: i += step``, else None.

    ``OP`` is any of < <= > >= != with the counter on either side, ``step``
    a non-zero constant of either sign, the counter an integer that never
    wraps around, and the start and bound static (literals, or carries and
    constants the loop never changes). ``lax.fori_loop`` with non-Python
    bounds is the common case: ``i < n``, step 1. (A float counter is not
    read: its rounding decides the last trip.)
    """
    p = eqn.params
    cond, body = p["cond_jaxpr"].jaxpr, p["body_jaxpr"].jaxpr
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    if len(cond.eqns) != 1 or cond.eqns[0].primitive.name not in _SWAPPED:
        return None
    op = cond.eqns[0].primitive.name
    cvars = list(cond.invars[cn:])
    bvars, bouts = list(body.invars[bn:]), list(body.outvars)
    left, right = cond.eqns[0].invars
    for counter, bound, how in ((left, right, op), (right, left, _SWAPPED[op])):
        if counter not in cvars or not is_integer_dtype(counter.aval.dtype):
            continue
        k = cvars.index(counter)
        step = _step(body, bvars[k], bouts[k])
        limit = _loop_invariant(bound, cond, cn, cvars, bvars, bouts, cond_consts, carry)
        start = _static(carry[k])
        if step is None or limit is None or start is None:
            continue
        if max(abs(start), abs(limit), abs(step)) >= _EXACT_FLOAT_INTS:
            return None  # the values went through floats: too large to be read exactly
        trips = _trips(how, start, limit, step)
        lowest, highest = integer_range(counter.aval.dtype)
        if trips is not None and not lowest <= start + trips * step <= highest:
            return None  # the counter would wrap around first (e.g. an unsigned one counting below 0)
        return trips
    return None


def _loop_invariant(var, cond, cn, cvars, bvars, bouts, cond_consts, carry) -> float | None:
    """The static value of a comparison operand the loop never changes, else None."""
    if isinstance(var, Literal):
        return float(var.val)
    if var in cvars:
        m = cvars.index(var)
        return _static(carry[m]) if bouts[m] is bvars[m] else None
    consts = list(cond.invars[:cn])
    if var in consts:
        return _static(cond_consts[consts.index(var)])
    return None


#: Integers up to this are exact as floats (the level ranges and literals are read as floats).
_EXACT_FLOAT_INTS = 2 ** 53


def _trips(op: str, start: float, limit: float, step: float) -> int | None:
    """Iterations of ``i = start; while i OP limit: i += step``; None if it never ends."""
    if not _HOLDS[op](start, limit):
        return 0
    if step == 0:
        return None
    steps_to_limit = Fraction(limit - start) / Fraction(step)  # exact: the values are integers
    if op == "ne":
        hits = steps_to_limit.denominator == 1 and steps_to_limit > 0
        return int(steps_to_limit) if hits else None
    if (step > 0) != (op in ("lt", "le")):  # moving away from the limit: endless
        return None
    return math.ceil(steps_to_limit) if op in ("lt", "gt") else math.floor(steps_to_limit) + 1


def _static(v: Value) -> float | None:
    lv = v.levels
    return lv.lo if lv.lo is not None and lv.lo == lv.hi else None


def _step(body, i_in, i_out) -> float | None:
    """``c`` when the body computes ``i_out = i_in + c`` (or ``i_in - c``) with a literal ``c``."""
    for e in body.eqns:
        if i_out in e.outvars:
            name = e.primitive.name
            if name not in ("add", "sub"):
                return None
            a, b = e.invars
            if a is i_in and isinstance(b, Literal):
                return float(b.val) if name == "add" else -float(b.val)
            if name == "add" and b is i_in and isinstance(a, Literal):
                return float(a.val)
            return None
    return None


@higher_order("while")
def _while(interp, eqn, ins, scope, tally, masks=()):
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, carry = ins[:cn], ins[cn:cn + bn], ins[cn + bn:]
    trips = counter_trip_count(eqn, cconsts, carry)
    body, body_consts = unpack_jaxpr(p["body_jaxpr"])
    cond, cond_consts = unpack_jaxpr(p["cond_jaxpr"])
    child, outs, carry = _walk_to_fixpoint(interp, body, body_consts, bconsts, carry, [], scope,
                                           masks[1] if masks else None)
    cond_tally = Tally()
    interp.run(cond, cond_consts, cconsts + carry, scope, cond_tally)
    where = scope or "top level"
    exact = trips is not None
    if trips is None and interp.options.while_trips is not None:
        trips = int(interp.options.while_trips)
        tally.warnings.append(f"{where}: while loop trip count is not static; counted "
                              f"{trips} iterations as given by --while-trips.")
    per_iteration = trips is None
    if per_iteration:
        trips = 1
        tally.warnings.append(
            f"{where}: while loop trip count is data-dependent; its cost is PER ITERATION "
            "(counted once). Give the count with --while-trips N (while_trips=N).")
        tally.incomplete.append(f"while loop at {where} has an unknown trip count")
    tally.merge(child, trips, per_iteration=per_iteration)
    tally.merge(cond_tally, trips + (0 if per_iteration else 1), per_iteration=per_iteration)
    tally.loops.append({"scope": where, "kind": "while", "trips": None if per_iteration else trips,
                        "exact": exact})
    # the liveness of the condition: its walk above already computed it
    read = interp.liveness.of(cond).used_inputs
    if not all(v.prep for v, r in zip(cconsts + carry, read) if r):
        # how many times the body ran depends on a model input: so does every carry it leaves
        carry = [c.with_(prep=False) if c.prep else c for c in carry]
    return out_values(interp, eqn, carry)


@used_rule("scan")
def _scan_reads(lv, eqn, outs: tuple):
    """consts, carry, xs -> carry, ys; a carry is used if any iteration's use of it is."""
    p = eqn.params
    body = unpack_jaxpr(p["jaxpr"])[0]
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
def _while_reads(lv, eqn, outs: tuple):
    """cond consts, body consts, carry -> carry; every carry the condition reads is used."""
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cond, body = unpack_jaxpr(p["cond_jaxpr"])[0], unpack_jaxpr(p["body_jaxpr"])[0]
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
