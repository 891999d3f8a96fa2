"""The walker: one pass over a closed jaxpr, in program order.

For every equation it asks the bit rules (:mod:`acecost.engine.rules.elementwise`) what
the output's level structure is, and the cost tables (:mod:`acecost.cost`)
what the equation costs. Equations that carry sub-jaxprs (calls, loops,
branches) are handled by :mod:`acecost.engine.rules.calls`, which calls back into
:meth:`Interpreter.run` with a child tally and a multiplier. The values'
bookkeeping (atoms, linear forms, constants) is in :mod:`acecost.engine.bindings`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import repeat
from typing import Sequence

import numpy as np
from jax.extend.core import Literal

from acecost.engine import affine as _affine
from acecost.engine.values.axes import AXIS_MAPS, COVERING, axis_map, product_axes
from acecost.engine.values.groups import gather_groups, product as groups_product, shape_groups
from acecost.engine.values.levels import dtype_bits, normalize, unknown
from acecost.engine.rules.movement import PASS_THROUGH
from acecost.engine.rules.registry import CONTRACTION_OPERANDS, levels_of
from acecost.engine.values.value import Value, combine_forms, make_value, nontrivial_axes
from acecost.engine.rules.counts import elementwise_cost
from acecost.engine.rules.contractions import MAC_RULES
from acecost.engine.contraction import ContractionPricing
from acecost.engine.liveness import Liveness
from acecost.engine.measured import VIEW_PRIMITIVES
from acecost.engine.tally import Tally
from acecost.engine.bindings import CONSTANT_ORIGINS, MAX_FORM_ATOMS, ValueBook  # noqa: F401 (MAX_FORM_ATOMS: re-exported)


@dataclass
class Options:
    float_bits: int | str = 16
    #: (pattern, activation bits, weight bits); None keeps the inferred width
    overrides: list[tuple[re.Pattern, int | None, int | None]] = field(default_factory=list)
    while_trips: int | None = None
    #: at a ``cond`` whose index is not known: "max" (costliest branch) or
    #: "quantized" (the branch whose outputs carry the fewest levels)
    cond: str = "max"
    #: "strict" (a scale varying along the contraction makes the operand
    #: float) or "codes" (the operand is priced by the levels of its codes)
    scales: str = "strict"
    #: "measured": a weight operand's bits at most what its concrete values need; None (not
    #: given) or "inferred": as inferred
    levels: str | None = None
    #: "discount": count only multiplications by a nonzero concrete weight; None or "dense": all
    sparsity: str | None = None

_LINEAR_SIGN = {"add": 1.0, "add_any": 1.0, "sub": -1.0}
_SAME_VALUE = {"stop_gradient", "copy", "copy_p", "optimization_barrier", "reduce_precision"}

#: Identities over several operands at once: output i is input i.
_IDENTITY_EACH = frozenset(("optimization_barrier", "pvary", "device_put"))

_AFFINE_PRIMS = frozenset(("add", "sub", "neg", "mul"))
_LINEAR_PRIMS = frozenset(_LINEAR_SIGN) | _SAME_VALUE | {"neg", "convert_element_type"}

# How an equation's output varies and what it is derived from, by primitive kind.
_SHAPE, _CONTRACTION, _OTHER = "shape", "contraction", "other"
_KIND = {**{n: _SHAPE for n in (*AXIS_MAPS, *PASS_THROUGH)}, **{n: _CONTRACTION for n in MAC_RULES}}
_WRAPPER = re.compile(r"[A-Za-z_][\w.]*\((.*)\)")


def clean_scope(name_stack) -> str:
    """``jvp(Net)/fc`` -> ``Net/fc``: drop transformation wrappers."""
    parts = []
    for part in str(name_stack).split("/"):
        while (m := _WRAPPER.fullmatch(part)) is not None:
            part = m.group(1)
        if part:
            parts.append(part)
    return "/".join(parts)


def join_scope(outer: str, inner: str) -> str:
    return "/".join(p for p in (outer, inner) if p)


def _param_derived(ins: Sequence[Value]) -> frozenset[str]:
    """Parameters a value is computed from, if it is computed from parameters alone.

    A weight times a scale made from it is still that weight; an activation
    times a batch-norm scale is not the batch-norm parameter.
    """
    for v in ins:  # runs for most equations: plain loops, no generators
        if not v.origins and not v.levels.const:
            return _NO_ORIGINS
    if len(ins) == 1:
        return ins[0].origins
    return frozenset().union(*[v.origins for v in ins])


_NO_ORIGINS: frozenset[str] = frozenset()

#: Primitives whose result is a fresh draw or comes from outside the program: never
#: weight preparation, whatever their inputs (a key made from a constant still draws
#: noise the model means to be new on every call).
_NOT_PREP = frozenset((
    "random_bits", "random_seed", "random_wrap", "random_unwrap", "random_fold_in", "random_split",
    "threefry2x32", "rng_uniform", "rng_bit_generator", "pure_callback", "io_callback", "callback",
    "debug_callback"))


def is_prep(name: str, ins: Sequence[Value]) -> bool:
    """Whether an equation only prepares weights: every input is computed from parameters
    and constants alone (see docs/design.md, "Weight preparation")."""
    for v in ins:  # runs for every equation: a plain loop
        if not v.prep:
            return False
    return name not in _NOT_PREP


def _elementwise(ins: Sequence[Value], out_shape: tuple) -> bool:
    """Every input is the output's shape or a scalar, and one is the output's shape (an
    elementwise op, after jax's broadcasting). A tensor made from scalars alone (``iota``,
    ``random_bits`` of a key) is not: it varies along every axis unless proven otherwise."""
    full = not out_shape
    for v in ins:
        if v.shape:
            if v.shape != out_shape:
                return False
            full = True
    return full


class Interpreter(ValueBook, ContractionPricing):
    def __init__(self, options: Options, param_sizes: dict[str, int]):
        self.options = options
        self.param_sizes = param_sizes
        #: storage bits of integer parameters, which may hold several packed values per element
        self.packed_widths: dict[str, int] = {}
        self.atoms: dict[int, Value] = {}
        self._unnamed = 0
        #: (jaxpr, scope, abstract inputs) -> its walk, for repeated calls (see higher_order._call)
        self.call_cache: dict = {}
        self._literals: dict = {}
        self._folds: dict = {}  # long linear form (first coefficient 1) -> the atom it folds into
        self._sums: dict = {}  # linear form of two or more atoms -> the value it is
        self._scopes: dict = {}
        self.liveness = Liveness()
        self.phase = "forward"
        self._ordinals: dict = {}
        #: id(eqn) of a weight-gradient contraction -> its parameter (see acecost.engine.grad_names)
        self.grad_params: dict[int, str] = {}
        #: id(eqn) of a top-level backward contraction -> the gradient it makes (grad_names.gradient_kinds)
        self.grad_kinds: dict[int, str] = {}
        #: atom of a Pallas kernel's reference -> what it may hold (see acecost.engine.rules.kernels)
        self.ref_cells: dict = {}
        #: grid sizes of the kernels being walked, innermost last (None: not static)
        self.grids: list[tuple] = []
        #: whether values made from parameters and constants alone are marked as weight
        #: preparation (off for a function with no model input: all of it is inference)
        self.separate_prep = True
        #: form of an integer scalar -> its exact affine form (see acecost.engine.affine)
        self.affine: dict = {}

    # -------------------------------------------------------------- walk
    def run(self, jaxpr, consts: Sequence, args: Sequence[Value], scope: str, tally: Tally,
            used: tuple[bool, ...] | None = None) -> list[Value]:
        """Walk ``jaxpr``'s live equations; ``used`` says which outputs are needed (default all).

        Dead equations (:mod:`acecost.engine.liveness`) are skipped: they are neither
        priced nor given values. An output that is not used, and an input of a
        live equation that the equation does not read, get a placeholder.
        """
        from acecost.engine.rules.calls import PLAIN, call_rule

        live = self.liveness.of(jaxpr, used)
        env: dict = {}
        for var, val in zip(jaxpr.constvars, consts):
            env[var] = self.constant(val, var.aval)
        for var, val in zip(jaxpr.invars, args):
            env[var] = self.rebind(val, var.aval)
        scopes = self._scopes.get(scope)
        if scopes is None:
            scopes = self._scopes[scope] = {}
        literal = self.literal
        for eqn, masks in zip(jaxpr.eqns, live.eqns):
            if masks is None:
                continue
            try:
                ins = [literal(v) if type(v) is Literal else env[v] for v in eqn.invars]
            except KeyError:  # an input the equation does not read was computed by dead code
                ins = [self.read(env, v) for v in eqn.invars]
            stack = eqn.source_info.name_stack
            escope = scopes.get(id(stack))
            if escope is None:  # name stacks are shared objects of the (live) jaxpr
                escope = scopes[id(stack)] = join_scope(scope, clean_scope(stack))
            if eqn.primitive.name in PLAIN:  # the common case: no sub-jaxpr to look for
                outs = self.first_order(eqn, ins, escope, tally)
            elif (handler := call_rule(eqn)) is not None:
                outs = handler(self, eqn, ins, escope, tally, masks)
            else:
                outs = self.first_order(eqn, ins, escope, tally)
            env.update(zip(eqn.outvars, outs))  # a dropped output is simply never read
        return [self.read(env, v) for v in jaxpr.outvars]

    def read(self, env: dict, var) -> Value:
        if isinstance(var, Literal):
            return self.literal(var)
        value = env.get(var)
        return value if value is not None else self.unused(var.aval)

    # ---------------------------------------------------- plain primitives
    def first_order(self, eqn, ins: list[Value], scope: str, tally: Tally) -> list[Value]:
        name = eqn.primitive.name
        rule = MAC_RULES.get(name)
        c = rule(eqn) if rule is not None else None
        prep = is_prep(name, ins)
        if c is not None:
            pair = CONTRACTION_OPERANDS.get(name)  # a registered primitive's operands (acecost.register_primitive)
            self.contraction(eqn, ins if pair is None else [ins[pair[0]], ins[pair[1]]], scope, tally, c, prep)
        else:  # not a contracting primitive, or one without a contraction (products only)
            cost = elementwise_cost(eqn)
            if cost is None:
                tally.add_unsupported(name, scope or "top level")
            elif cost[1]:
                counts, key = tally.prep_elementwise if prep else tally.elementwise, (scope, cost[0])
                counts[key] = counts.get(key, 0) + cost[1]  # get: no Counter.__missing__ call
        return self.outputs(eqn, ins, scope, prep)

    def outputs(self, eqn, ins: list[Value], scope: str, prep: bool | None = None) -> list[Value]:
        name = eqn.primitive.name
        outvars = eqn.outvars
        n_out = len(outvars)
        if not n_out:  # jax.debug.print / callback: an effect, no value
            return []
        if n_out > 1 and name in _IDENTITY_EACH and len(ins) == n_out:
            return [self.rebind(v, var.aval) for v, var in zip(ins, outvars)]  # each output is its input
        out_shape = getattr(outvars[0].aval, "shape", ())  # a tuple; tokens have none
        if prep is None:
            prep = is_prep(name, ins)
        linear = self._linear_form(eqn, ins, out_shape) if name in _LINEAR_PRIMS else None
        if linear is not None:
            # the result is a value seen before (a straight-through estimator's forward value)
            if len(linear) == 1 and linear[0][1] == 1.0:
                target = self.atoms.get(linear[0][0])
            else:
                target = self._sums.get(linear)
            if target is not None and target.shape == out_shape:
                return [target.with_(form=linear)]
        base = levels_of(eqn, ins, scope)
        kind = _KIND.get(name) or (_CONTRACTION if name in MAC_RULES else _OTHER)
        groups = ()
        if kind == _SHAPE and ins:
            first = ins[0]
            same = [v for v in ins if v.shape == first.shape]
            vary_in = first.vary if len(same) == 1 else frozenset().union(*(v.vary for v in same))
            if name in COVERING and vary_in == nontrivial_axes(first.shape):
                vary = None  # varies everywhere, before and after
            else:
                vary = axis_map(eqn)(vary_in)
                if name == "stack" and any(v.form != first.form for v in ins):
                    vary |= {eqn.params["axis"]}  # different parts side by side: the new axis varies
            if len(same) == 1 and (first.groups or (name in ("reshape", "tile") and vary is not None)):
                groups = shape_groups(eqn, first.shape, vary_in, first.groups)
            origins = _param_derived(same)
        elif kind == _OTHER and _elementwise(ins, out_shape):
            n_in = len(ins)
            vary = ins[0].vary if n_in == 1 else (ins[0].vary | ins[1].vary if n_in == 2 else
                                                  frozenset().union(*[v.vary for v in ins]))
            origins = _param_derived(ins)
            if any(v.groups for v in ins):  # a function of per-group values is one per group of all
                groups = groups_product([(v.vary, v.groups) for v in ins], vary, out_shape)
        elif kind == _CONTRACTION and (maps := product_axes(eqn)) is not None:
            # a dot_general with nothing to contract: products, like ``mul``
            vary = frozenset().union(*(frozenset(m[a] for a in v.vary) for m, v in zip(maps, ins)))
            origins = _param_derived(ins)
        elif name == "gather" and ins[0].origins <= CONSTANT_ORIGINS:
            # a lookup in a constant codebook (Qwix nf4) is its indices' weight
            vary = None
            origins = _param_derived(ins[1:])
        else:
            vary = None
            origins = frozenset() if kind == _CONTRACTION else _param_derived(ins)
        if name == "gather" and len(ins) > 1:
            groups = gather_groups(eqn, ins[0], ins[1])
        outs = []
        # a rule may state each output's levels (a list), or one for all
        for var, lv in zip(outvars, base if type(base) is list else
                           ((base,) if n_out == 1 else repeat(base))):
            aval = var.aval
            if not hasattr(aval, "shape"):
                outs.append(self.register(make_value((), np.float32, unknown("token"))))
                continue
            value = make_value(aval.shape, aval.dtype, normalize(lv, aval.dtype), vary, origins, None, groups,
                               prep)
            if linear is not None:
                value = value._replace(form=linear)
                if len(linear) > 1:
                    self._sums[linear] = value
                outs.append(value)
            else:
                outs.append(self.register(value))
        if self.weight_facts is not None and name in VIEW_PRIMITIVES and n_out == 1:
            self.weight_facts.note_view(eqn, ins[0], outs[0])  # measuring follows a weight's views
        if n_out == 1 and out_shape == () and name in _AFFINE_PRIMS and outs[0].dtype.kind in "iu":
            outs[0] = self._affine_scalar(eqn, ins, outs[0])
        return outs

    def _affine_scalar(self, eqn, ins, out: Value) -> Value:
        """Record an integer scalar's exact affine form; one whose atoms cancel is that constant."""
        form = _affine.step(self, eqn, ins)
        if form is None:
            return out
        if not form[1]:
            c = _affine.wrapped(form[0], out.dtype)
            if not (out.levels.lo == out.levels.hi == c):
                out = self.constant(np.asarray(c, out.dtype), eqn.outvars[0].aval)
            form = (c, ())
        self.affine[out.form] = form
        return out

    def _linear_form(self, eqn, ins, out_shape):
        """The linear form of add/sub/neg/identity results, else None."""
        name = eqn.primitive.name
        if name in _LINEAR_SIGN:
            if len(ins) == 2 and ins[0].shape == out_shape and ins[1].shape == out_shape:
                return self._sum_form(ins[0], ins[1], _LINEAR_SIGN[name])
            return None
        if name == "neg":
            return combine_forms([(ins[0].form, -1.0)])
        if name in _SAME_VALUE and len(eqn.outvars) == 1:
            return ins[0].form
        if name == "convert_element_type" and ins[0].dtype.kind == "f" and \
                np.dtype(eqn.params["new_dtype"]).kind == "f" and \
                dtype_bits(eqn.params["new_dtype"]) >= dtype_bits(ins[0].dtype):
            return ins[0].form  # a widening cast is exact; a narrowing one rounds (f32 -> float8_e5m2)
        return None
