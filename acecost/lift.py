"""Shapes a target's function closes over, made arguments so they can be traced.

``params, static = eqx.partition(model, eqx.is_array)`` on a model built with
``eqx.filter_eval_shape`` puts every weight in ``static``: a
``jax.ShapeDtypeStruct`` is not an array. The function
``lambda p, x: eqx.combine(p, static)(x)`` then computes with the structs
themselves and tracing fails. Those structs are the parameters; passed as an
extra argument (their tree paths as names) they are traced, named and sized
like any other. Only a function that fails to trace as given is changed, so
a struct closed over for its shape alone is never counted as a weight.
"""
from __future__ import annotations

import types
from dataclasses import dataclass

import jax

from acecost.trace import abstractify

#: what is never searched for structs: code, not data
_NOT_DATA = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)


@dataclass
class Captured:
    """One closure cell or global of the function holding structs among its leaves."""

    name: str
    holder: object  # a cell, or the function's globals dict
    value: object

    def get(self):
        return self.holder.cell_contents if isinstance(self.holder, types.CellType) else self.holder[self.name]

    def set(self, value) -> None:
        if isinstance(self.holder, types.CellType):
            self.holder.cell_contents = value
        else:
            self.holder[self.name] = value


def _has_struct(value) -> bool:
    if isinstance(value, _NOT_DATA):
        return False
    try:
        leaves = jax.tree_util.tree_leaves(value)
    except Exception:  # an object jax cannot flatten holds no structs it could trace
        return False
    return any(_is_struct(leaf) for leaf in leaves)


def captured_structs(fn) -> list[Captured]:
    """Closure cells and globals ``fn`` reads whose pytree leaves include a ShapeDtypeStruct."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    found = []
    for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not yet filled
            continue
        if _has_struct(value):
            found.append(Captured(name, cell, value))
    scope = getattr(fn, "__globals__", {})
    for name in code.co_names:
        if name in scope and _has_struct(scope[name]):
            found.append(Captured(name, scope, scope[name]))
    return found


def _is_struct(leaf) -> bool:
    return isinstance(leaf, jax.ShapeDtypeStruct)


def _structs_only(value):
    """``value`` with every leaf but the structs made None: the tree ``eqx.partition`` by
    struct would give, so the weights keep their paths (``layers/0/weight``) and order."""
    return jax.tree_util.tree_map(lambda leaf: leaf if _is_struct(leaf) else None, value)


def _traces(fn, args) -> bool:
    try:
        jax.eval_shape(fn, *abstractify(args))
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:
        return False
    return True


def lift(target):
    """``target`` unchanged, or, if it fails to trace because it computes with
    structs it closes over, a Target taking them as one more parameter argument."""
    from acecost.target import Target

    captured = captured_structs(target.fn)
    if not captured or _traces(target.fn, target.args):
        return target
    lifted = _structs_only(captured[0].value) if len(captured) == 1 else \
        {c.name: _structs_only(c.value) for c in captured}
    n, fn = len(target.args), target.fn

    def with_captured(*args):
        given = [args[n]] if len(captured) == 1 else [args[n][c.name] for c in captured]
        saved = [c.get() for c in captured]
        try:
            for c, tree in zip(captured, given):
                leaves, treedef = jax.tree_util.tree_flatten(c.value)
                traced = jax.tree_util.tree_leaves(tree, is_leaf=lambda x: x is None)
                c.set(treedef.unflatten([t if _is_struct(x) else x for x, t in zip(leaves, traced)]))
            return fn(*args[:n])
        finally:
            for c, value in zip(captured, saved):
                c.set(value)

    return Target(with_captured, (*target.args, lifted), (*target.params_argnums, n), name=target.name,
                  description=target.description, loss=target.loss, extras=dict(target.extras))


def hint(fn) -> str:
    """Why ``fn`` may have failed to trace, if it closes over structs (for the error line)."""
    captured = captured_structs(fn)
    if not captured:
        return ""
    names = ", ".join(c.name for c in captured)
    return (f" (the function closes over jax.ShapeDtypeStruct leaves in {names}: pass them as an argument; "
            "from a model file they are lifted for you, e.g. after eqx.partition(model, eqx.is_array))")
