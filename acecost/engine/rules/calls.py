"""Rules for equations that carry sub-jaxprs: calls, loops, branches.

Calls and ``shard_map`` are here; loops are in :mod:`acecost.engine.rules.loops`, ``cond``
in :mod:`acecost.engine.rules.branches`, ``pallas_call`` (and the reference reads and writes
of its kernel) in :mod:`acecost.engine.rules.kernels`. Each rule walks the body into a child
:class:`Tally` and merges it into the parent with the number of times the body
runs: ``scan`` by its length, a ``while`` by the trip count read from a counter
loop (or the user's ``while_trips``), ``shard_map`` by the number of devices, a
``pallas_call`` by its number of grid points; ``cond`` keeps the
branch that runs (a constant index), else its most expensive branch or, with
``cond="quantized"``, its most quantized one, and lists them all. A primitive
carrying a jaxpr that no rule names is walked once, with a warning, and leaves
the totals incomplete: how often it runs its body is unknown.
"""
from __future__ import annotations



try:
    from jax.ref import AbstractRef
except ImportError:  # a jax before the public ``jax.ref``
    from jax._src.state.types import AbstractRef

from acecost.engine.values.levels import normalize, unknown
from acecost.engine.values.value import Value, make_value
from acecost.engine.rules.counts import COUNTED_PRIMITIVES
from acecost.engine.rules.contractions import MAC_RULES
from acecost.engine.tally import Tally
from acecost.engine.rules.jaxprs import CALL_PRIMITIVES, called_jaxpr, out_values, subjaxprs, unpack_jaxpr
from acecost.engine.rules.registry import HIGHER_ORDER, HigherOrderRule, higher_order, used_rule


#: Primitives the cost tables count whole; they carry no sub-jaxpr to walk...
_COUNTED = frozenset(COUNTED_PRIMITIVES) | frozenset(MAC_RULES)
#: ...except a combiner, which the count takes to be one operation (a
#: scatter-add's add, a window's max) or none (a plain scatter's set): the
#: most equations it may have. A larger one (``x.at[i].apply(f)``, a custom
#: ``lax.reduce_window``) makes the primitive unsupported, not mispriced.
_COMBINER_EQNS = {**{name: 1 for name in COUNTED_PRIMITIVES if name.startswith("scatter")},
                  "scatter": 0, "reduce_window": 1}


#: Primitives that never carry a sub-jaxpr to walk: the walker prices them directly.
PLAIN = _COUNTED - frozenset(_COMBINER_EQNS)


def call_rule(eqn) -> HigherOrderRule | None:
    name = eqn.primitive.name
    rule = HIGHER_ORDER.get(name)
    if rule is not None:
        return rule
    if name in _COUNTED:
        limit = _COMBINER_EQNS.get(name)
        if limit is not None and any(len(unpack_jaxpr(j)[0].eqns) > limit for j in subjaxprs(eqn)):
            return unsupported_rule
        return None
    return _unknown_call if subjaxprs(eqn) else None



# ---------------------------------------------------------------- calls

@higher_order(*CALL_PRIMITIVES)
def _call(interp, eqn, ins, scope, tally, masks=()):
    """Walk a called jaxpr; a call seen before with the same abstract inputs is reused.

    Like jax's own tracing cache: the same jitted function applied to values
    with the same level structure costs and yields the same, so its walk is
    replayed instead of repeated.
    """
    jaxpr, consts = unpack_jaxpr(called_jaxpr(eqn))
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
    key = (id(jaxpr), scope, used, tuple((v.shape, v.dtype, v.levels, v.vary, v.origins, v.name, v.groups,
                                          v.prep, f)
                                   for v, f in zip(args, forms)))
    # an override may pick one call of several by its ordinal: with overrides, walk each call;
    # a call given references stores into them, which a replay would not do
    refs = any(isinstance(v.aval, AbstractRef) for v in eqn.invars)
    walk_anew = interp.options.overrides or refs
    seen = interp.call_cache.get(key)
    cached = None if walk_anew else seen
    if cached is None or cached is _NOT_REPLAYABLE:
        ordinals, unnamed = interp.naming_state()
        # walked anew for the overrides alone, a call a replay would serve names its unnamed
        # contractions as the replay does (those of its first walk), so that names do not
        # depend on whether overrides are given (docs/design.md, "Re-pricing a walk")
        renamed = not refs and seen is not None and seen is not _NOT_REPLAYABLE
        if renamed:
            interp.restore_naming((ordinals, seen[3]))
        child = Tally()
        outs = interp.run(jaxpr, consts, args, scope, child, used)
        if renamed:
            interp.restore_naming((interp.naming_state()[0], unnamed))
        specs = [_canonical(o, args, canon) for o in outs]
        # an output that is a sum over atoms the replay cannot rebuild (half of a
        # straight-through estimator, ``q(y) - y``) is walked anew every time
        replayable = all(how is not None or len(value.form) <= 1 for value, how in specs)
        # the unnamed-layer count where the first walk began (what a replay's names come from)
        first = seen[3] if renamed else unnamed
        interp.call_cache[key] = (jaxpr, child, specs, first) if replayable else _NOT_REPLAYABLE
        tally.merge(child)
        return out_values(interp, eqn, outs)
    _, child, specs, _ = cached
    tally.merge(child, sites=interp.site)
    by_index = {i: a for a, i in canon.items()}
    return out_values(interp, eqn, [_replay(interp, spec, args, by_index) for spec in specs])


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
    subs = subjaxprs(eqn)
    jaxpr, consts = unpack_jaxpr(subs[0])
    if len(subs) == 1 and len(jaxpr.invars) == len(ins) and len(jaxpr.outvars) == len(eqn.outvars):
        where = scope or "top level"
        tally.warnings.append(f"{where}: `{eqn.primitive.name}` has no rule; its body "
                              "was counted once, as a plain call.")
        # it may run its body many times (a custom ``lax.reduce`` once per element): a lower bound
        tally.incomplete.append(f"`{eqn.primitive.name}` at {where} has no rule; its body was counted once")
        return out_values(interp, eqn, interp.run(jaxpr, consts, ins, scope, tally))
    return unsupported_rule(interp, eqn, ins, scope, tally)


def unsupported_rule(interp, eqn, ins, scope, tally, masks=()):
    """Listed in ``report.unsupported``; its outputs carry no level structure."""
    tally.add_unsupported(eqn.primitive.name, scope or "top level")
    return [interp.register(make_value(v.aval.shape, v.aval.dtype, normalize(
        unknown(f"output of unsupported `{eqn.primitive.name}`"), v.aval.dtype))) for v in eqn.outvars]


# ------------------------------------------------------------- sharding

@higher_order("shard_map")
def _shard_map(interp, eqn, ins, scope, tally, masks=()):
    jaxpr, consts = unpack_jaxpr(eqn.params["jaxpr"])
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
    return out_values(interp, eqn, outs)


@used_rule(*CALL_PRIMITIVES, "shard_map")
def _call_reads(lv, eqn, outs: tuple):
    """A call reads what its body reads; inputs ahead of the body's (none usually) are kept."""
    body = unpack_jaxpr(called_jaxpr(eqn))[0]
    if len(body.outvars) != len(outs):
        return (True,) * len(eqn.invars), ((True,) * len(body.outvars),)
    inner = lv.of(body, outs).used_inputs
    lead = len(eqn.invars) - len(inner)
    return (True,) * lead + inner, (outs,)
