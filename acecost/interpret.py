"""The walker: one pass over a closed jaxpr, in program order.

For every equation it asks the bit rules (:mod:`acecost.bits.rules`) what
the output's level structure is, and the cost tables (:mod:`acecost.cost`)
what the equation costs. Equations that carry sub-jaxprs (calls, loops,
branches) are handled by :mod:`acecost.higher_order`, which calls back into
:meth:`Interpreter.run` with a child tally and a multiplier.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from jax.extend.core import Literal

from acecost.bits.axes import AXIS_MAPS, COVERING, axis_map
from acecost.bits.levels import (STORAGE_WIDTH, ceil_log2, dtype_bits, from_constant,
                                 normalize, np_dtype, unknown)
from acecost.bits.rules import _PASS_THROUGH, levels_of
from acecost.bits.value import Value, combine_forms, make_value, new_atom_form, nontrivial_axes
from acecost.cost.elementwise import elementwise_cost
from acecost.cost.macs import MAC_RULES
from acecost.names import user_layer_name
from acecost.report import OpRecord
from acecost.tally import Tally


@dataclass
class Options:
    float_bits: int | str = 16
    #: (pattern, activation bits, weight bits); None keeps the inferred width
    overrides: list[tuple[re.Pattern, int | None, int | None]] = field(default_factory=list)
    while_trips: int | None = None


_LINEAR_SIGN = {"add": 1.0, "add_any": 1.0, "sub": -1.0}
_SAME_VALUE = {"stop_gradient", "copy", "copy_p", "optimization_barrier", "reduce_precision"}
#: Atoms a linear form may hold before it is folded into one atom where it is
#: used. Without a bound, an unrolled residual stream's form would grow by one
#: atom per layer and the walk would be quadratic in depth.
MAX_FORM_ATOMS = 64

_LINEAR_PRIMS = frozenset(_LINEAR_SIGN) | _SAME_VALUE | {"neg", "convert_element_type"}

# How an equation's output varies and what it is derived from, by primitive kind.
_SHAPE, _CONTRACTION, _OTHER = "shape", "contraction", "other"
_KIND = {**{n: _SHAPE for n in (*AXIS_MAPS, *_PASS_THROUGH)}, **{n: _CONTRACTION for n in MAC_RULES}}
_WRAPPER = re.compile(r"[A-Za-z_][\w.]*\((.*)\)")


#: Source of an operand that is one value per row of the contraction.
ZERO_POINT_SOURCE = ("1 level: constant along the contracting dimensions once its per-row "
                     "value is factored out (an asymmetric zero-point correction)")


def per_row_constant(value: Value, contracting: frozenset[int]) -> bool:
    """Whether ``value`` does not vary along any (non-trivial) contracting dim.

    Such an operand is a per-row scale times a tensor of ones: one level. It
    is what an asymmetric quantizer's zero-point correction
    ``dot(broadcast(zp), w)`` contracts against (Qwix ``minmax`` activations).
    """
    spread = contracting & nontrivial_axes(value.shape)
    return bool(spread) and not (value.vary & contracting)


#: Path parts that wrap a quantized weight's codes rather than name a layer
#: (Qwix ``WithAux.array`` / ``QArray.qvalue``, AQT ``Freezer`` ``frozen``).
_CONTAINER_PARTS = {"array", "qvalue", "frozen"}


def layer_of_param(path: str) -> str:
    """``fc1/kernel`` -> ``fc1``; ``fc1/kernel/array/qvalue`` -> ``fc1`` too."""
    parts = path.split("/")
    while len(parts) > 1 and parts[-1] in _CONTAINER_PARTS:
        parts.pop()
    return "/".join(parts[:-1]) if len(parts) > 1 else parts[0]


def clean_scope(name_stack) -> str:
    """``jvp(Net)/fc`` -> ``Net/fc``: drop transformation wrappers."""
    parts = []
    for part in str(name_stack).split("/"):
        while (m := _WRAPPER.fullmatch(part)) is not None:
            part = m.group(1)
        if part:
            parts.append(part)
    return "/".join(parts)


_REGEX_SAFE = re.compile(r"[\w/.,>-]*")  # outside brackets these match themselves ('.' any char)


def exact_pattern(layer: str) -> str:
    """A ``--bits`` pattern that picks this layer and no other (``fc`` alone would match ``fc1``)."""
    return f"^{layer}$" if _REGEX_SAFE.fullmatch(layer) else f"^{re.escape(layer)}$"


def join_scope(outer: str, inner: str) -> str:
    return "/".join(p for p in (outer, inner) if p)


def _param_derived(ins: Sequence[Value]) -> frozenset[str]:
    """Parameters a value is computed from, if it is computed from parameters alone.

    A weight times a scale made from it is still that weight; an activation
    times a batch-norm scale is not the batch-norm parameter.
    """
    if any(not v.origins and not v.levels.const for v in ins):
        return frozenset()
    return frozenset().union(*(v.origins for v in ins))


def _elementwise(ins: Sequence[Value], out_shape: tuple) -> bool:
    """Every input is the output's shape or a scalar (an elementwise op, after jax's broadcasting)."""
    for v in ins:
        if v.shape and v.shape != out_shape:
            return False
    return True


class Interpreter:
    def __init__(self, options: Options, param_sizes: dict[str, int]):
        self.options = options
        self.param_sizes = param_sizes
        self.atoms: dict[int, Value] = {}
        self._unnamed = 0
        #: (jaxpr, scope, abstract inputs) -> its walk, for repeated calls (see higher_order._call)
        self.call_cache: dict = {}
        self._literals: dict = {}
        self._folds: dict = {}  # long linear form (first coefficient 1) -> the atom it folds into
        self._sums: dict = {}  # linear form of two or more atoms -> the value it is
        self._scopes: dict = {}

    # ------------------------------------------------------------ values
    def register(self, value: Value) -> Value:
        """Give a newly computed value its own atom for linear-form tracking."""
        form = value.form
        if len(form) != 1 or form[0][0] in self.atoms:  # not a fresh atom of its own yet
            form = new_atom_form()
            value = value.with_(form=form)
        self.atoms[form[0][0]] = value
        return value

    def _sum_form(self, a: Value, b: Value, sign: float):
        """The form of ``a + sign * b``, kept to at most MAX_FORM_ATOMS atoms.

        A sum that would be longer folds its longer operand (then, if still
        too long, the other) into one atom. The same form always folds to
        the same atom, so ``x + sg(q - x)`` over a long residual sum ``x``
        still cancels: both ``q - x`` and the outer sum fold ``x`` alike.
        """
        fa, fb = a.form, b.form
        form = combine_forms([(fa, 1.0), (fb, sign)])
        for longer in ((a, b) if len(fa) >= len(fb) else (b, a)):
            if len(form) <= MAX_FORM_ATOMS:
                break
            if longer is a:
                fa = self._fold(a)
            else:
                fb = self._fold(b)
            form = combine_forms([(fa, 1.0), (fb, sign)])
        return form

    def _fold(self, value: Value):
        """One atom standing for ``value``'s whole form, up to sign and scale.

        ``r`` and ``-r`` fold to the same atom (with coefficients 1 and -1),
        so a sum and its negation still cancel once folded.
        """
        form = value.form
        if len(form) == 1:
            return form
        scale = form[0][1]
        key = form if scale == 1.0 else tuple((a, c / scale) for a, c in form)
        atom = self._folds.get(key)
        if atom is None:
            atom = self._folds[key] = new_atom_form()[0][0]
            if scale == 1.0:  # the value is the folded sum itself: it is what the atom stands for
                self.atoms[atom] = value._replace(form=((atom, 1.0),))
        return ((atom, scale),)

    def constant(self, val, aval) -> Value:
        lv = normalize(from_constant(val), aval.dtype)
        shape = tuple(getattr(aval, "shape", ()))
        arr = np.asarray(val)
        vary = frozenset() if arr.size <= 1 else None
        return self.register(make_value(shape, aval.dtype, lv, vary))

    def read(self, env: dict, var) -> Value:
        if isinstance(var, Literal):
            return self.literal(var)
        return env[var]

    def literal(self, var) -> Value:
        """A literal's value is the same wherever it appears: made once per (value, dtype)."""
        val = var.val
        if isinstance(val, (int, float, bool)):
            key = (val, var.aval.dtype)
        elif getattr(val, "shape", None) == ():  # a 0-d array (jax's typed scalar literals)
            key = (val.item(), var.aval.dtype)
        else:
            key = id(var)
        value = self._literals.get(key)
        if value is None:
            value = self._literals[key] = self.constant(val, var.aval)
        return value

    def rebind(self, value: Value, aval) -> Value:
        """The same value seen through another variable (a sub-jaxpr's input)."""
        shape = tuple(getattr(aval, "shape", ()))
        dtype = np_dtype(getattr(aval, "dtype", value.dtype))
        if shape == value.shape and dtype == value.dtype:
            return value
        lv = value.levels
        if len(shape) != len(value.shape):
            lv = lv.with_(axes=nontrivial_axes(shape) if lv.axes else frozenset())
            vary = None
        else:
            vary = value.vary
        lv = normalize(lv, dtype)
        return self.register(make_value(shape, dtype, lv, vary, value.origins, value.name))

    # -------------------------------------------------------------- walk
    def run(self, jaxpr, consts: Sequence, args: Sequence[Value], scope: str, tally: Tally) -> list[Value]:
        from acecost.higher_order import call_rule

        env: dict = {}
        for var, val in zip(jaxpr.constvars, consts):
            env[var] = self.constant(val, var.aval)
        for var, val in zip(jaxpr.invars, args):
            env[var] = self.rebind(val, var.aval)
        scopes = self._scopes
        literal = self.literal
        for eqn in jaxpr.eqns:
            ins = [literal(v) if type(v) is Literal else env[v] for v in eqn.invars]
            stack = eqn.source_info.name_stack
            escope = scopes.get((scope, id(stack)))
            if escope is None:  # name stacks are shared objects of the (live) jaxpr
                escope = scopes[(scope, id(stack))] = join_scope(scope, clean_scope(stack))
            handler = call_rule(eqn)
            if handler is not None:
                outs = handler(self, eqn, ins, escope, tally)
            else:
                outs = self.first_order(eqn, ins, escope, tally)
            env.update(zip(eqn.outvars, outs))  # a dropped output is simply never read
        return [self.read(env, v) for v in jaxpr.outvars]

    # ---------------------------------------------------- plain primitives
    def first_order(self, eqn, ins: list[Value], scope: str, tally: Tally) -> list[Value]:
        name = eqn.primitive.name
        if name in MAC_RULES:
            self.contraction(eqn, ins, scope, tally)
        else:
            cost = elementwise_cost(eqn)
            if cost is None:
                tally.add_unsupported(name, scope or "top level")
            elif cost[1]:
                counts, key = tally.elementwise, (scope, cost[0])
                counts[key] = counts.get(key, 0) + cost[1]  # get: no Counter.__missing__ call
        return self.outputs(eqn, ins, scope)

    def outputs(self, eqn, ins: list[Value], scope: str) -> list[Value]:
        name = eqn.primitive.name
        outvars = eqn.outvars
        if not outvars:  # jax.debug.print / callback: an effect, no value
            return []
        out_shape = tuple(outvars[0].aval.shape) if hasattr(outvars[0].aval, "shape") else ()
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
        kind = _KIND.get(name, _OTHER)
        if kind == _SHAPE and ins:
            first = ins[0]
            same = [v for v in ins if v.shape == first.shape]
            vary_in = first.vary if len(same) == 1 else frozenset().union(*(v.vary for v in same))
            if name in COVERING and vary_in == nontrivial_axes(first.shape):
                vary = None  # varies everywhere, before and after
            else:
                vary = axis_map(eqn)(vary_in)
            origins = _param_derived(same)
        elif kind == _OTHER and _elementwise(ins, out_shape):
            vary = ins[0].vary if len(ins) == 1 else frozenset().union(*(v.vary for v in ins))
            origins = _param_derived(ins)
        elif name == "gather" and not ins[0].origins:
            # a lookup in a constant codebook (Qwix nf4) is its indices' weight
            vary = None
            origins = _param_derived(ins[1:])
        else:
            vary = None
            origins = frozenset() if kind == _CONTRACTION else _param_derived(ins)
        outs = []
        for var in outvars:
            aval = var.aval
            if not hasattr(aval, "shape"):
                outs.append(self.register(make_value((), np.float32, unknown("token"))))
                continue
            value = make_value(aval.shape, aval.dtype, normalize(base, aval.dtype), vary, origins)
            if linear is not None:
                value = value._replace(form=linear)
                if len(linear) > 1:
                    self._sums[linear] = value
                outs.append(value)
            else:
                outs.append(self.register(value))
        return outs

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
                np.dtype(eqn.params["new_dtype"]).kind == "f":
            return ins[0].form
        return None

    # -------------------------------------------------------- contractions
    def contraction(self, eqn, ins: list[Value], scope: str, tally: Tally) -> None:
        prim = eqn.primitive.name
        c = MAC_RULES[prim](eqn)
        lhs, rhs = ins[0], ins[1]
        origin_l, origin_r = self._param_origin(lhs), self._param_origin(rhs)
        weight_is_lhs = bool(origin_l) and not origin_r
        param = origin_r or origin_l
        layer = scope or (param and layer_of_param(param)) or self._unnamed_layer(prim)
        lhs_bits = self.operand_bits(lhs, c.lhs_contracting)
        rhs_bits = self.operand_bits(rhs, c.rhs_contracting)
        if ZERO_POINT_SOURCE in (lhs_bits[1], rhs_bits[1]):
            layer = f"{layer}/zero_point"
        if weight_is_lhs:
            (w_side, w), (act_side, a) = ("lhs", lhs_bits), ("rhs", rhs_bits)
        else:
            (act_side, a), (w_side, w) = ("lhs", lhs_bits), ("rhs", rhs_bits)
        short = user_layer_name(layer)
        for pattern, a_bits, w_bits in self.options.overrides:
            if pattern.search(layer) or pattern.search(short):
                why = f"override --bits {pattern.pattern}"
                a = (a_bits, why, None) if a_bits is not None else a
                w = (w_bits, why, None) if w_bits is not None else w
        by_side = {act_side: a, w_side: w}
        for side, value, origin in (("lhs", lhs, origin_l), ("rhs", rhs, origin_r)):
            b, src, reason = by_side[side]
            if STORAGE_WIDTH in src:
                tally.warnings.append(
                    f"{layer}: {side} operand of {prim} is an integer parameter {STORAGE_WIDTH} "
                    f"({b} bits); nothing declares fewer. If it holds fewer levels (e.g. AQT "
                    f"2- or 3-bit weights frozen in int8), pass --bits '{exact_pattern(layer)}=,N'.")
            if reason:
                tally.warnings.append(
                    f"{layer}: {side} operand of {prim} {list(value.shape)} counted as {b}-bit float: "
                    f"{reason}. Tag it with acecost.tag(x, bits=N) or pass --bits '{exact_pattern(layer)}=A,W'.")
            if origin:
                tally.use_param(origin, b)
        tally.records.append(OpRecord(
            name=layer, primitive=prim,
            lhs_shape=list(lhs.shape), rhs_shape=list(rhs.shape),
            out_shape=list(eqn.outvars[0].aval.shape),
            bits_a=a[0], bits_w=w[0], bits_a_source=a[1], bits_w_source=w[1],
            multiplier=1, macs=c.macs, ace=c.macs * a[0] * w[0],
            binary=a[0] == 1 and w[0] == 1, weight_operand=w_side))

    def operand_bits(self, value: Value, contracting: frozenset[int]) -> tuple[int, str, str | None]:
        """(bits, where they came from, why it fell back to float or None)."""
        lv = value.levels
        if lv.tag is not None:
            return lv.tag, f"acecost.tag(bits={lv.tag})", None
        if per_row_constant(value, contracting):
            return 1, ZERO_POINT_SOURCE, None
        if lv.known and not (lv.axes & contracting):
            return ceil_log2(lv.count), f"{lv.count} levels: {lv.why}", None
        if lv.known:
            reason = (f"its scale varies along contracting dimension(s) "
                      f"{sorted(lv.axes & contracting)} ({lv.why})")
        else:
            reason = lv.why or "no proven level structure"
        fb = self.options.float_bits
        width = dtype_bits(value.dtype) if fb == "dtype" else int(fb)
        return width, f"float, no level structure ({reason})", reason

    def _param_origin(self, value: Value) -> str | None:
        """The parameter this operand essentially is (largest origin, not a scale)."""
        origins = value.origins
        if not origins:
            return None
        if len(origins) == 1:
            (best,) = origins
        else:
            best = max(sorted(origins), key=lambda p: self.param_sizes.get(p, 0))
        return best if self.param_sizes.get(best, 0) >= value.size else None

    def _unnamed_layer(self, prim: str) -> str:
        self._unnamed += 1
        return f"{prim}_{self._unnamed}"
