"""Rules for equations that carry sub-jaxprs: calls, loops, branches.

Each rule walks the body into a child :class:`Tally` and merges it into the
parent with the number of times the body runs: ``scan`` by its length, a
``while`` by the trip count read from a counter loop (or the user's
``while_trips``), ``shard_map`` by the number of devices; ``cond`` keeps the
branch that runs (a constant index), else its most expensive branch or, with
``cond="quantized"``, its most quantized one, and lists them all. A primitive
carrying a jaxpr that no rule names is walked once, with a warning, and leaves
the totals incomplete: how often it runs its body is unknown.
"""
from __future__ import annotations

import math
import operator
from fractions import Fraction
from typing import Callable

from jax.extend.core import ClosedJaxpr, Jaxpr, Literal

from acecost.bits.levels import (Levels, flat_count, integer_range, is_integer_dtype, normalize, range_count,
                                 unknown)
from acecost.bits.value import Value, make_value
from acecost.cost.elementwise import COUNTED_PRIMITIVES
from acecost.cost.macs import MAC_RULES
from acecost.tally import Tally

HigherOrderRule = Callable[..., list[Value]]
HIGHER_ORDER: dict[str, HigherOrderRule] = {}

#: How many times a loop body is re-walked looking for stable carry levels.
MAX_FIXPOINT_STEPS = 4


def higher_order(*names: str):
    def register(fn):
        for name in names:
            HIGHER_ORDER[name] = fn
        return fn

    return register


#: Primitives the cost tables count whole; they carry no sub-jaxpr to walk...
_COUNTED = frozenset(COUNTED_PRIMITIVES) | frozenset(MAC_RULES)
#: ...except a combiner, which the count takes to be one operation (a
#: scatter-add's add, a window's max) or none (a plain scatter's set): the
#: most equations it may have. A larger one (``x.at[i].apply(f)``, a custom
#: ``lax.reduce_window``) makes the primitive unsupported, not mispriced.
_COMBINER_EQNS = {**{name: 1 for name in COUNTED_PRIMITIVES if name.startswith("scatter")},
                  "scatter": 0, "reduce_window": 1}


def call_rule(eqn) -> HigherOrderRule | None:
    name = eqn.primitive.name
    rule = HIGHER_ORDER.get(name)
    if rule is not None:
        return rule
    if name in _COUNTED:
        limit = _COMBINER_EQNS.get(name)
        if limit is not None and any(len(_unpack(j)[0].eqns) > limit for j in _subjaxprs(eqn)):
            return _unsupported
        return None
    return _unknown_call if _subjaxprs(eqn) else None


def _subjaxprs(eqn) -> list:
    found = []
    for value in eqn.params.values():
        items = value if isinstance(value, (tuple, list)) else (value,)
        found.extend(v for v in items if isinstance(v, (ClosedJaxpr, Jaxpr)))
    return found


def _unpack(j) -> tuple[Jaxpr, list]:
    return (j.jaxpr, list(j.consts)) if isinstance(j, ClosedJaxpr) else (j, [])


def _outs(interp, eqn, values: list[Value]) -> list[Value]:
    return [interp.rebind(v, var.aval) for v, var in zip(values, eqn.outvars)]


# ---------------------------------------------------------------- calls

@higher_order("jit", "pjit", "closed_call", "core_call", "remat2", "checkpoint",
              "custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr", "custom_lin",
              "xla_call", "named_call")
def _call(interp, eqn, ins, scope, tally, masks=()):
    """Walk a called jaxpr; a call seen before with the same abstract inputs is reused.

    Like jax's own tracing cache: the same jitted function applied to values
    with the same level structure costs and yields the same, so its walk is
    replayed instead of repeated.
    """
    sub = eqn.params.get("jaxpr") or eqn.params.get("call_jaxpr") or eqn.params.get("fun_jaxpr")
    jaxpr, consts = _unpack(sub)
    args = ins[len(ins) - len(jaxpr.invars):]
    # Linear forms matter only where inputs share atoms (a straight-through
    # estimator split across arguments); an input whose atoms are its own is
    # keyed as such, so a residual stream's growing form does not defeat reuse.
    first_owner: dict = {}
    shared = set()
    for i, v in enumerate(args):
        for atom, _ in v.form:
            if first_owner.setdefault(atom, i) != i:
                shared.add(atom)
    canon: dict = {}
    forms = []
    for v in args:
        if not shared or not any(a in shared for a, _ in v.form):
            forms.append(None)
        else:
            forms.append(tuple((canon.setdefault(a, len(canon)), c) for a, c in v.form))
    used = masks[0] if masks else None
    key = (id(jaxpr), scope, used, tuple((v.shape, v.dtype, v.levels, v.vary, v.origins, v.name, f)
                                   for v, f in zip(args, forms)))
    # an override may pick one call of several by its ordinal: with overrides, walk each call
    cached = None if interp.options.overrides else interp.call_cache.get(key)
    if cached is None or cached is _NOT_REPLAYABLE:
        child = Tally()
        outs = interp.run(jaxpr, consts, args, scope, child, used)
        specs = [_canonical(o, args, canon) for o in outs]
        # an output that is a sum over atoms the replay cannot rebuild (half of a
        # straight-through estimator, ``q(y) - y``) is walked anew every time
        replayable = all(how is not None or len(value.form) <= 1 for value, how in specs)
        interp.call_cache[key] = (jaxpr, child, specs) if replayable else _NOT_REPLAYABLE
        tally.merge(child)
        return _outs(interp, eqn, outs)
    _, child, specs = cached
    tally.merge(child, sites=interp.site)
    by_index = {i: a for a, i in canon.items()}
    return _outs(interp, eqn, [_replay(interp, spec, args, by_index) for spec in specs])


_NOT_REPLAYABLE = object()


def _canonical(value: Value, args, canon: dict):
    """How to rebuild an output on replay: an input passed through, a form over shared atoms, or new."""
    for i, arg in enumerate(args):
        if value.form and value.form == arg.form and value.shape == arg.shape:
            return value, ("arg", i)
    if value.form and all(a in canon for a, _ in value.form):
        return value, ("canon", tuple((canon[a], c) for a, c in value.form))
    return value, None


def _replay(interp, spec, args, by_index) -> Value:
    value, how = spec
    if how is None:
        return interp.register(value)  # its atom is taken: it gets a fresh one
    if how[0] == "arg":
        return args[how[1]]
    new = tuple((by_index[i], c) for i, c in how[1])
    if len(new) == 1 and new[0][1] == 1.0 and new[0][0] in interp.atoms:
        return interp.atoms[new[0][0]].with_(form=new)
    return value.with_(form=new)


def _unknown_call(interp, eqn, ins, scope, tally, masks=()):
    """A primitive with a sub-jaxpr and no rule: walked once as a call when it looks like one."""
    subs = _subjaxprs(eqn)
    jaxpr, consts = _unpack(subs[0])
    if len(subs) == 1 and len(jaxpr.invars) == len(ins) and len(jaxpr.outvars) == len(eqn.outvars):
        where = scope or "top level"
        tally.warnings.append(f"{where}: `{eqn.primitive.name}` has no rule; its body "
                              "was counted once, as a plain call.")
        # it may run its body many times (a custom ``lax.reduce`` once per element): a lower bound
        tally.incomplete.append(f"`{eqn.primitive.name}` at {where} has no rule; its body was counted once")
        return _outs(interp, eqn, interp.run(jaxpr, consts, ins, scope, tally))
    return _unsupported(interp, eqn, ins, scope, tally)


def _unsupported(interp, eqn, ins, scope, tally, masks=()):
    """Listed in ``report.unsupported``; its outputs carry no level structure."""
    tally.add_unsupported(eqn.primitive.name, scope or "top level")
    return [interp.register(make_value(v.aval.shape, v.aval.dtype, normalize(
        unknown(f"output of unsupported `{eqn.primitive.name}`"), v.aval.dtype))) for v in eqn.outvars]


# ---------------------------------------------------------------- loops

def _same(a: Value, b: Value) -> bool:
    la, lb = a.levels, b.levels
    return (la.count, la.axes, la.lo, la.hi, la.integral, la.tag, la.flat) == \
        (lb.count, lb.axes, lb.lo, lb.hi, lb.integral, lb.tag, lb.flat) and a.vary == b.vary and a.origins == b.origins


def _join(a: Value, b: Value, scope: str) -> Value:
    """What a loop carry can be on any iteration (widening: a growing bound is dropped)."""
    if _same(a, b):
        return a
    la, lb = a.levels, b.levels
    where = scope or "top level"
    if la.integral and lb.integral and la.lo is not None and la.lo == la.hi and \
            range_count(lb.lo, lb.hi) is not None and lb.lo <= la.lo <= lb.hi:
        # a carry that starts as one value (a zero-filled cache) and is then written within a
        # range: take that range once; the next walk checks that it holds
        lv = Levels(lo=lb.lo, hi=lb.hi, integral=True, why=lb.why or f"loop carry at {where}")
    elif la.integral and lb.integral:
        lo = la.lo if la.lo is not None and lb.lo is not None and lb.lo >= la.lo else None
        hi = la.hi if la.hi is not None and lb.hi is not None and lb.hi <= la.hi else None
        lv = Levels(lo=lo, hi=hi, integral=True, why=f"loop carry at {where}")
    elif la.known and lb.known and la.count >= lb.count and lb.axes <= la.axes:
        fa, fb = flat_count(la), flat_count(lb)
        lv = la.with_(const=False, flat=la.flat if fa is not None and fb is not None and fb <= fa else None)
    else:
        lv = unknown(lb.why if not lb.known else f"loop carry at {where} changes across iterations")
    return a.with_(levels=normalize(lv, a.dtype), vary=a.vary | b.vary, origins=a.origins | b.origins)


def _slice_leading(interp, v: Value) -> Value:
    lv = v.levels.with_(axes=frozenset(a - 1 for a in v.levels.axes if a > 0))
    return interp.register(make_value(v.shape[1:], v.dtype, lv,
                                      frozenset(a - 1 for a in v.vary if a > 0), v.origins, v.name))


def _stack_leading(interp, v: Value, length: int) -> Value:
    axes = frozenset(a + 1 for a in v.levels.axes) | ({0} if v.levels.known and not v.levels.const else set())
    vary = frozenset(a + 1 for a in v.vary) | {0}
    # each iteration's level set may differ: a whole-tensor bound of one iteration is not the stack's
    return interp.register(make_value((length, *v.shape), v.dtype, v.levels.with_(axes=frozenset(axes), flat=None),
                                      vary, v.origins, v.name))


def _walk_to_fixpoint(interp, jaxpr, consts, fixed, carry, rest, scope, used=None):
    """Walk a loop body until its carries' levels stop changing.

    Each walk numbers the body's contractions as the first did: only the
    last walk's records are kept, and their names must not depend on how
    many walks the carries took to settle.
    """
    names = interp.naming_state()
    for step in range(MAX_FIXPOINT_STEPS + 1):
        interp.restore_naming(names)
        child = Tally()
        body_in = fixed + [interp.register(c) for c in carry] + rest
        outs = interp.run(jaxpr, consts, body_in, scope, child, used)
        joined = [_join(a, b, scope) for a, b in zip(carry, outs[:len(carry)])]
        settled = [_same(a, j) for a, j in zip(carry, joined)]
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
    jaxpr, consts = _unpack(p["jaxpr"])
    n_consts, n_carry, length = p["num_consts"], p["num_carry"], int(p["length"])
    fixed, carry, xs = ins[:n_consts], ins[n_consts:n_consts + n_carry], ins[n_consts + n_carry:]
    xs = [_slice_leading(interp, x) for x in xs]
    child, outs, carry = _walk_to_fixpoint(interp, jaxpr, consts, fixed, carry, xs, scope,
                                           masks[0] if masks else None)
    tally.merge(child, length)
    tally.loops.append({"scope": scope or "top level", "kind": "scan", "trips": length, "exact": True})
    ys = [_stack_leading(interp, y, length) for y in outs[n_carry:]]
    return _outs(interp, eqn, carry + ys)


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
    body, body_consts = _unpack(p["body_jaxpr"])
    cond, cond_consts = _unpack(p["cond_jaxpr"])
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
    return _outs(interp, eqn, carry)


# ------------------------------------------------------------- sharding

@higher_order("shard_map")
def _shard_map(interp, eqn, ins, scope, tally, masks=()):
    jaxpr, consts = _unpack(eqn.params["jaxpr"])
    mesh = eqn.params["mesh"]
    devices = int(getattr(mesh, "size", 0) or 1)
    child = Tally()
    outs = interp.run(jaxpr, consts, ins, scope, child, masks[0] if masks else None)
    tally.merge(child, devices)
    axes = dict(getattr(mesh, "shape", {}) or {})
    tally.loops.append({"scope": scope or "top level", "kind": "shard_map", "trips": devices,
                        "exact": True, "mesh": {str(k): int(v) for k, v in axes.items()}})
    tally.warnings.append(f"{scope or 'top level'}: shard_map body counted once per device: "
                          f"x{devices} (mesh {axes}).")
    return _outs(interp, eqn, outs)


# branches live in their own module; importing it registers the `cond` rule
from acecost import branches as _branches  # noqa: E402,F401
